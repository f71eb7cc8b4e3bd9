"""A date known to a year, a month or a day: plans say "(October 2018)", replies say the day.

Progress entries keep the precision their source gave, so an imported "(October 2018)" is never
shown back as "1 October 2018". A month used as a deadline means the end of that month.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from typing import Literal

Precision = Literal["year", "month", "day"]

_ISO = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


@dataclass(frozen=True, order=True)
class PartialDate:
    year: int
    month: int | None = None
    day: int | None = None

    def __post_init__(self) -> None:
        if self.day is not None and self.month is None:
            raise ValueError("a day needs a month")
        if self.month is not None and not 1 <= self.month <= 12:
            raise ValueError(f"month {self.month} is not 1-12")
        # Validates the day against the month (raises ValueError for 31 February).
        date(self.year, self.month or 1, self.day or 1)

    @property
    def precision(self) -> Precision:
        if self.day is not None:
            return "day"
        return "month" if self.month is not None else "year"

    @classmethod
    def parse(cls, text: str | date | PartialDate) -> PartialDate:
        """Reads "2018", "2018-10" or "2018-10-05" (or a date, kept to the day)."""
        if isinstance(text, PartialDate):
            return text
        if isinstance(text, date):
            return cls(text.year, text.month, text.day)
        m = _ISO.match(str(text).strip())
        if not m:
            raise ValueError(f"expected a date like 2018-10 or 2018-10-05, got {text!r}")
        year, month, day = (int(g) if g else None for g in m.groups())
        assert year is not None
        return cls(year, month, day)

    @classmethod
    def of(cls, d: date, precision: Precision) -> PartialDate:
        if precision == "day":
            return cls(d.year, d.month, d.day)
        if precision == "month":
            return cls(d.year, d.month)
        return cls(d.year)

    def first_day(self) -> date:
        return date(self.year, self.month or 1, self.day or 1)

    def last_day(self) -> date:
        """The deadline a plan means: "October 2018" is due by 31 October 2018."""
        if self.day is not None:
            return date(self.year, self.month or 1, self.day)
        month = self.month or 12
        return date(self.year, month, calendar.monthrange(self.year, month)[1])

    def iso(self) -> str:
        if self.month is None:
            return f"{self.year:04d}"
        if self.day is None:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    def human(self) -> str:
        """How a lead reads it: "Oct 2018", "14 Oct 2018", "2018"."""
        if self.month is None:
            return str(self.year)
        mon = calendar.month_abbr[self.month]
        return f"{mon} {self.year}" if self.day is None else f"{self.day} {mon} {self.year}"

    def __str__(self) -> str:
        return self.iso()
