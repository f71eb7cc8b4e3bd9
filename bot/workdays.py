"""Working days, bank holidays and sending hours: when a partnership is at work.

"Five working days before the deadline" skips weekends and bank holidays, and nobody should
get a reminder at 22:00 on Boxing Day. Bank holidays come from the `holidays` package (England
and Wales by default); a plan can follow another nation's. Everything here is pure: the moment
being judged is always passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property, lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

import holidays

BankHolidays = Literal["england-and-wales", "scotland", "northern-ireland", "none"]

# The `holidays` package's subdivisions of the United Kingdom.
_SUBDIVISION = {"england-and-wales": "ENG", "scotland": "SCT", "northern-ireland": "NIR"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class WorkingCalendar:
    timezone: str = "Europe/London"
    working_days: frozenset[int] = frozenset(range(5))  # Monday = 0
    bank_holidays: BankHolidays = "england-and-wales"
    closures: frozenset[date] = field(default_factory=frozenset)  # e.g. office closed 27 Dec
    start: time = time(8, 0)  # sending hours, local time
    end: time = time(18, 0)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_working_day(self, day: date) -> bool:
        if day.weekday() not in self.working_days or day in self.closures:
            return False
        return self.bank_holidays == "none" or day not in bank_holidays(
            self.bank_holidays, day.year
        )

    def local(self, moment: datetime) -> datetime:
        if moment.tzinfo is None:
            raise ValueError(f"{moment!r} has no time zone; pass an aware datetime")
        return moment.astimezone(self.zone)

    def today(self, moment: datetime) -> date:
        return self.local(moment).date()

    def in_sending_window(self, moment: datetime) -> bool:
        """A working day, within sending hours, in the partnership's own time zone."""
        here = self.local(moment)
        return self.is_working_day(here.date()) and self.start <= here.time() < self.end

    def next_sending_time(self, moment: datetime) -> datetime:
        """The first moment at or after `moment` when messages may go out."""
        here = self.local(moment)
        day = here.date()
        if self.is_working_day(day) and here.time() < self.end:
            if here.time() >= self.start:
                return here
            return datetime.combine(day, self.start, self.zone)
        day = self.add_working_days(day, 1)
        return datetime.combine(day, self.start, self.zone)

    @cached_property
    def _shifted(self) -> dict[tuple[date, int], date]:
        """Answers of add_working_days already worked out: a run asks the same few hundred
        deadlines "5 working days before" for every action that has them."""
        return {}

    def add_working_days(self, day: date, count: int) -> date:
        """`count` working days after `day` (before it when negative); 0 gives `day` itself."""
        known = self._shifted.get((day, count))
        if known is None:
            known = self._shifted[(day, count)] = self._step_working_days(day, count)
        return known

    def _step_working_days(self, day: date, count: int) -> date:
        step = 1 if count >= 0 else -1
        remaining = abs(count)
        if not self.working_days:
            raise ValueError("the calendar has no working days")
        while remaining:
            day += timedelta(days=step)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (negative when end < start)."""
        if end < start:
            return -self.working_days_between(end, start)
        days = (start + timedelta(days=i + 1) for i in range((end - start).days))
        return sum(self.is_working_day(day) for day in days)


@lru_cache(maxsize=64)
def bank_holidays(nation: BankHolidays, year: int) -> frozenset[date]:
    """One year's bank holidays as a set: asking the `holidays` package day by day costs a
    lookup each time, and every run asks about thousands of days."""
    return frozenset(holidays.country_holidays("GB", subdiv=_SUBDIVISION[nation], years=year))


def weekday_numbers(names: Iterable[str]) -> frozenset[int]:
    return frozenset(WEEKDAYS.index(n.lower()[:3]) for n in names)
