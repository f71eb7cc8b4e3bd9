"""Reading the timescales and dates people write in plans: "(August 2018)", "Jan – March 2018",
"July 2017 - Complete; July 2018; July 2019", "Quarterly throughout 2017-20", "Ongoing".

The raw text is always kept beside what is read from it; a timescale that cannot be read is
"undated", never dropped. A month means the end of that month as the deadline.

CONTRACT (implemented here; other modules code against exactly this API):

- find_dates(text, default_year=None) -> list[DateMention], in order of appearance, never
  overlapping, text[start:end] == mention.text. Reads "(August 2018)" (parentheses kept in the
  span), "September, 2018", "2 Feb 2018", "29th October 2018", "25/06/2018" (day first),
  ranges "Jan – March 2018" / "December 2017 – May 2018" (date = end, range_start = start),
  year ranges "2017-20" / "2018/19" (year precision), financial quarters "Q4 2018-19"
  (January-March 2019), and a bare year only where it stands as a date ("in 2019", "(2019)",
  "– 2019"). "29th October" counts only with default_year. A month with no year ("staff may
  attend", "March") is never a date.
- parse_timescale(raw) -> Timescale. Kinds, first that applies: "recurring" (quarterly, six
  monthly, monthly, annually... unless the text lists two or more deadlines), "dated" / "range"
  (one occurrence per deadline; "range" when there is a single one with a start), "ongoing"
  ("Ongoing", or only start dates: "Since June 2018"), else "undated". "Complete" after a date
  marks that date done, just before the first date ("Completed March 2018") marks the first;
  "to be completed" does not count.
- split_timescale(text) -> (text_without_timescale, raw_timescale | None): the earliest
  trailing clause after a dash (or a trailing parenthesised clause) made only of dates, markers
  and linking words; else the last date in the text, the text left whole.
- split_dated_paragraphs(text) -> [(paragraph, PartialDate | None)]: a progress cell cut after
  each parenthesised month or day date, "(September 2018)".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Literal

from bot.plans.partial_date import PartialDate

Kind = Literal["dated", "range", "recurring", "ongoing", "undated"]
Recurrence = Literal["monthly", "quarterly", "six-monthly", "annually"]


@dataclass(frozen=True)
class DateMention:
    """One date written in free text, with where it stands in that text."""

    start: int  # index of the first character of the mention in the text
    end: int  # index just past the mention
    text: str  # the mention as written, e.g. "(October 2018)", "2 Feb 2018", "Jan – March 2018"
    date: PartialDate  # the date meant; for a range, its end ("March 2018")
    range_start: PartialDate | None = None  # for a range, its start ("January 2018")


@dataclass(frozen=True)
class Occurrence:
    """One deadline in a timescale; "July 2017 - Complete; July 2018" has two."""

    due: PartialDate
    start: PartialDate | None = None
    done: bool = False


@dataclass(frozen=True)
class Timescale:
    raw: str
    kind: Kind
    occurrences: tuple[Occurrence, ...] = ()
    recurrence: Recurrence | None = None
    since: PartialDate | None = None  # recurring: first period
    until: PartialDate | None = None  # recurring: last period
    complete: bool = False  # marked "Complete" (all occurrences done)
    in_progress: bool = False  # marked "In progress"

    @property
    def due(self) -> date | None:
        """The final deadline: the last occurrence's end, or the end of a recurrence."""
        if self.occurrences:
            return max(o.due.last_day() for o in self.occurrences)
        if self.until is not None:
            return self.until.last_day()
        return None


# --- the pieces dates are written with ----------------------------------------------------------

# Word exports mix hyphens, en and em dashes, minus signs and non-breaking hyphens; the
# "\\-" forms are escaped for use inside a regex character class.
_HYPHEN_CHARS = "-\u2010\u2011"
_LONG_DASH_CHARS = "\u2012\u2013\u2014\u2015\u2212"
_HYPHENS = "\\" + _HYPHEN_CHARS
_DASHES = _HYPHENS + _LONG_DASH_CHARS
# A month written in full or abbreviated ("Sept", "Sep."); not part of a longer word ("Mayor").
_MONTH = (
    r"(?<![a-z])(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)(?![a-z])\.?"
)
# Plans run from the 1990s on; 1900-2199 keeps counts like "218" or "5000" out.
_YEAR = r"(?:19|20|21)[0-9]{2}(?![0-9])"
# A day of the month, "2", "02", "29th".
_DAY = r"(?<![0-9])(?:[0-3]?[0-9])(?:st|nd|rd|th)?"
# A year that goes on as a range or a number ("2017-20", "2018/19", "2019%", "2019.5").
_NOT_A_LONE_YEAR = rf"(?![0-9%])(?!\s*[{_DASHES}/]\s*[0-9])(?!\.[0-9])"

_MONTH_NUMBERS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}

# "2 Feb 2018", "29th October 2018", "15th of May, 2018".
_DAY_MONTH_YEAR = re.compile(
    rf"(?P<day>{_DAY})\s*(?:of\s+)?(?P<month>{_MONTH})\s*,?\s*(?P<year>{_YEAR})", re.I
)
# "29th October" with no year; read only when the caller knows the year.
_DAY_MONTH = re.compile(
    rf"(?<![0-9])(?P<day>[0-3]?[0-9])(?P<suffix>st|nd|rd|th)?\s*(?:of\s+)?(?P<month>{_MONTH})",
    re.I,
)
# "August 2018", "September, 2018", "Sept2018".
_MONTH_YEAR = re.compile(rf"(?P<month>{_MONTH})\s*,?\s*(?P<year>{_YEAR})", re.I)
# "25/06/2018" (UK, day first), "25.06.2018", "25-06-2018"; two-digit years only with slashes.
_NUMERIC = re.compile(
    r"(?<![0-9/.])(?P<day>[0-3]?[0-9])(?P<sep>[/.-])(?P<month>[01]?[0-9])(?P=sep)"
    r"(?P<year>[0-9]{4}|[0-9]{2})(?![0-9])(?![/.-][0-9])"
)
# "Jan – March 2018", "December 2017 – May 2018", "October-December 2018", "May to June 2018".
_RANGE = re.compile(
    rf"(?:(?P<d1>{_DAY})\s*)?(?P<m1>{_MONTH})(?:\s*,?\s*(?P<y1>{_YEAR}))?"
    rf"\s*(?:[{_DASHES}/]|(?<![a-z])to(?![a-z]))\s*"
    rf"(?:(?P<d2>{_DAY})\s*)?(?P<m2>{_MONTH})\s*,?\s*(?P<y2>{_YEAR})",
    re.I,
)
# "2017-20", "2017 – 2020", "2018/19": a span of years (also the financial-year form).
_YEAR_RANGE = re.compile(
    rf"(?<![0-9/])(?P<y1>{_YEAR})\s*[{_DASHES}/]\s*(?P<y2>[0-9]{{4}}|[0-9]{{2}})(?![0-9%])"
)
# "Quarter 4 2018-19", "Q1 2019/20": a quarter of a financial year (April to March).
_QUARTER = re.compile(
    rf"(?<![a-z])(?:q|quarter)\s*(?P<q>[1-4])\s*,?\s*(?:of\s+)?(?P<y1>{_YEAR})"
    rf"\s*[{_DASHES}/]\s*(?P<y2>[0-9]{{4}}|[0-9]{{2}})(?![0-9%])",
    re.I,
)
# "in 2019", "planned for 2019", "mid-2019": a year introduced as a date.
_YEAR_AFTER_WORD = re.compile(
    rf"(?<![a-z])(?:in|by|for|during|throughout|until|till|from|since|before|after|end\s+of"
    rf"|early|mid|late)[\s{_DASHES}]+(?P<year>{_YEAR}){_NOT_A_LONE_YEAR}",
    re.I,
)
# "2019" alone: the whole text, "(2019)", "– 2019", "; 2019", but not "2017-2019" or "– 2019 staff".
_YEAR_ALONE = re.compile(
    rf"(?:^|(?<=[(;:{_DASHES}]))(?<![0-9][{_DASHES}])(?<![0-9]\s[{_DASHES}])"
    rf"\s*(?P<year>{_YEAR}){_NOT_A_LONE_YEAR}(?=\s*(?:$|[).,;:{_DASHES}]))",
    re.I,
)

# --- the words around them ----------------------------------------------------------------------

# "Complete", "completed"; "incomplete" is another word.
_COMPLETE = re.compile(r"(?<![a-z])complete(?:d)?(?![a-z])", re.I)
# "to be completed", "not complete", "partially complete": not done yet.
_NOT_YET = re.compile(
    r"(?<![a-z])(?:be|being|not|yet|to|will|partially|partly|nearly|almost)\s+$", re.I
)
# Between "Completed" and the first date: "Completed – March 2018", "Completed in March 2018".
_MARK_TO_DATE = re.compile(rf"^[\s{_DASHES}:,]*(?:(?:in|on)\s+)?$", re.I)
_IN_PROGRESS = re.compile(r"(?<![a-z])in[\s-]*progress(?![a-z])", re.I)
_ONGOING = re.compile(r"(?<![a-z])on[\s-]*going(?![a-z])", re.I)
# Words that make a date a beginning rather than a deadline: "from April 2018", "Since June".
_START_WORD = re.compile(
    r"(?<![a-z])(?:from|since|starting|commencing|beginning)(?:\s+(?:in|on))?\s*$", re.I
)
# "throughout 2019": a recurrence over the whole of that period.
_THROUGHOUT_WORD = re.compile(r"(?<![a-z])(?:throughout|during|across)\s*$", re.I)
# How often; the longer forms come first so "six monthly" is not read as "monthly".
_RECURRENCE = re.compile(
    r"(?<![a-z0-9])(?:"
    r"(?P<six>(?:six|6)[\s-]*monthly|bi-?annual(?:ly)?|half[\s-]*yearly"
    r"|twice[\s-]+(?:a[\s-]+)?year(?:ly)?|every\s+(?:six|6)\s+months)"
    r"|(?P<quarterly>quarterly|(?:every|each)\s+(?:quarter|three\s+months|3\s+months))"
    r"|(?P<monthly>monthly|(?:every|each)\s+month)"
    r"|(?P<annually>annual(?:ly)?|yearly|(?:every|each)\s+year))(?![a-z])",
    re.I,
)
# "Annual Report", "Monthly MASH audits" name a thing, not a rhythm; a rhythm ends the clause
# or goes on with a linking word ("Quarterly throughout 2017-20", "quarterly reviews").
_RHYTHM_FOLLOWS = re.compile(
    r"\s*(?:$|[^\sa-z]|(?:throughout|during|across|from|since|until|till|to|in|by|on|basis"
    r"|thereafter|and|or|reviews?|meetings?|audits?|updates?|reporting|reports)(?![a-z]))",
    re.I,
)
# Adverbs and "every ..." phrases always describe a rhythm.
_ALWAYS_RHYTHM = re.compile(r"(?:annually|every|each|twice|half)", re.I)

# The dash before a trailing timescale: " – ", "–", " - "; a bare hyphen ("Framework-I") is not.
_SEPARATOR = re.compile(rf"\s*[{_LONG_DASH_CHARS}]\s*|\s+[{_HYPHENS}]\s*|\s*[{_HYPHENS}]\s+")
# A clause in parentheses closing the text, "(October 2018)." .
_TRAILING_PARENS = re.compile(r"\((?P<inner>[^()]*)\)[\s.]*$")
# Words allowed in a timescale clause besides dates and markers ("by", "end of", "throughout").
_LINKING_WORDS = frozenset(
    "by in on at from to until till throughout during across and then end of the before after "
    "early mid late each every year starting commencing beginning since for target due date "
    "deadline thereafter onwards basis a tbc tba".split()
)
_WORD = re.compile(r"[^\W_]+|%")
# What closes a text part once its timescale is cut off.
_TRAILING_JUNK = f" \t\r\n\u00a0.,;:{_HYPHEN_CHARS}{_LONG_DASH_CHARS}"


# --- find_dates ---------------------------------------------------------------------------------

# What a pattern's match means: (date, range start), or None when it is no real date.
_Reading = tuple[PartialDate | None, PartialDate | None] | None


def _month(token: str) -> int | None:
    # casefold, not lower: re's IGNORECASE also matches "ſep" and the Kelvin sign.
    return _MONTH_NUMBERS.get(token.casefold().rstrip(".")[:3])


def _day(token: str) -> int:
    return int(token.rstrip("stndrhSTNDRH"))


def _partial(year: int, month: int | None, day: str | None = None) -> PartialDate | None:
    if month is None:  # a month word _MONTH matched only through Unicode case folding
        return None
    try:
        return PartialDate(year, month, _day(day) if day else None)
    except ValueError:  # 31 February, month 13
        return None


def _second_year(first: int, token: str) -> int:
    return int(token) if len(token) == 4 else first // 100 * 100 + int(token)


def _read_day_month_year(m: re.Match[str], default_year: int | None) -> _Reading:
    return _partial(int(m["year"]), _month(m["month"]), m["day"]), None


def _read_day_month(m: re.Match[str], default_year: int | None) -> _Reading:
    # "3 may apply" is no date; "3 May" or "29th october" is.
    if default_year is None or not (m["suffix"] or m["month"][0].isupper()):
        return None
    return _partial(default_year, _month(m["month"]), m["day"]), None


def _read_month_year(m: re.Match[str], default_year: int | None) -> _Reading:
    return _partial(int(m["year"]), _month(m["month"])), None


def _read_numeric(m: re.Match[str], default_year: int | None) -> _Reading:
    year = m["year"]
    if len(year) == 2 and m["sep"] != "/":
        return None  # "1.2.18" is more likely a version or a paragraph number
    year_number = int(year) if len(year) == 4 else 2000 + int(year)
    if not 1900 <= year_number <= 2199:
        return None
    return _partial(year_number, int(m["month"]), m["day"]), None


def _read_range(m: re.Match[str], default_year: int | None) -> _Reading:
    start_month = _month(m["m1"])
    end = _partial(int(m["y2"]), _month(m["m2"]), m["d2"])
    if end is None or end.month is None or start_month is None:
        return None
    if m["y1"]:
        start_year = int(m["y1"])
    else:  # "November – January 2019" began in 2018
        start_year = end.year if start_month <= end.month else end.year - 1
    start = _partial(start_year, start_month, m["d1"])
    if start is None or start.first_day() > end.last_day():
        return None
    return end, start


def _read_year_range(m: re.Match[str], default_year: int | None) -> _Reading:
    first = int(m["y1"])
    last = _second_year(first, m["y2"])
    if not 0 < last - first <= 10:
        return None
    return PartialDate(last), PartialDate(first)


def _read_quarter(m: re.Match[str], default_year: int | None) -> _Reading:
    first = int(m["y1"])
    if _second_year(first, m["y2"]) != first + 1:
        return None
    start_month = (int(m["q"]) * 3 + 1) % 12  # Q1 is April, Q4 January of the next year
    year = first if start_month >= 4 else first + 1
    return PartialDate(year, start_month + 2), PartialDate(year, start_month)


def _read_year(m: re.Match[str], default_year: int | None) -> _Reading:
    return PartialDate(int(m["year"])), None


_Reader = Callable[[re.Match[str], int | None], _Reading]

# Each way of writing a date, with the group that is the mention (a year after "in" is just the
# year) and how to read it.
_READERS: tuple[tuple[re.Pattern[str], str | int, _Reader], ...] = (
    (_QUARTER, 0, _read_quarter),
    (_RANGE, 0, _read_range),
    (_YEAR_RANGE, 0, _read_year_range),
    (_NUMERIC, 0, _read_numeric),
    (_DAY_MONTH_YEAR, 0, _read_day_month_year),
    (_MONTH_YEAR, 0, _read_month_year),
    (_DAY_MONTH, 0, _read_day_month),
    (_YEAR_AFTER_WORD, "year", _read_year),
    (_YEAR_ALONE, "year", _read_year),
)


def _widen_to_parentheses(text: str, start: int, end: int) -> tuple[int, int]:
    """ "(August 2018)" is one mention, so a caller cutting it out leaves no stray brackets."""
    before, after = start, end
    while before > 0 and text[before - 1].isspace():
        before -= 1
    while after < len(text) and text[after].isspace():
        after += 1
    if before > 0 and text[before - 1] == "(" and after < len(text) and text[after] == ")":
        return before - 1, after + 1
    return start, end


def _candidates(text: str, default_year: int | None) -> Iterator[DateMention]:
    for pattern, group, read in _READERS:
        for m in pattern.finditer(text):
            when, since = read(m, default_year) or (None, None)
            if when is None:
                continue
            start, end = _widen_to_parentheses(text, m.start(group), m.end(group))
            yield DateMention(start, end, text[start:end], when, since)


def find_dates(text: str, default_year: int | None = None) -> list[DateMention]:
    """Where several readings overlap, the one starting first wins, then the longest: "December
    2017 – May 2018" is one range, not two months."""
    found: list[DateMention] = []
    for mention in sorted(_candidates(text, default_year), key=lambda m: (m.start, -m.end)):
        if not found or mention.start >= found[-1].end:
            found.append(mention)
    return found


# --- parse_timescale ----------------------------------------------------------------------------


def _done_marks(raw: str) -> list[int]:
    """Where "Complete" is said as a state, not as a task ("to be completed")."""
    return [
        m.start() for m in _COMPLETE.finditer(raw) if not _NOT_YET.search(raw[: m.start()][-20:])
    ]


def _recurrence(raw: str) -> Recurrence | None:
    for m in _RECURRENCE.finditer(raw):
        if _ALWAYS_RHYTHM.match(m.group()) or _RHYTHM_FOLLOWS.match(raw, m.end()):
            if m["six"]:
                return "six-monthly"
            if m["quarterly"]:
                return "quarterly"
            return "monthly" if m["monthly"] else "annually"
    return None


def _done_flags(raw: str, mentions: list[DateMention]) -> list[bool]:
    """A marker belongs to the date it follows: "July 2017 - Complete; July 2018"."""
    done = [False] * len(mentions)
    for mark in _done_marks(raw):
        before = [i for i, m in enumerate(mentions) if m.end <= mark]
        if before:
            done[before[-1]] = True
        elif mentions and _MARK_TO_DATE.match(_COMPLETE.sub("", raw[mark : mentions[0].start])):
            done[0] = True  # "Completed (March 2018)": the date it was done
    return done


def _is_start(raw: str, mention: DateMention) -> bool:
    return mention.range_start is None and bool(_START_WORD.search(raw[: mention.start][-30:]))


def _occurrences(raw: str, mentions: list[DateMention]) -> list[Occurrence]:
    """One per deadline; a "from" date is the start of the deadline after it, not a deadline."""
    occurrences: list[Occurrence] = []
    pending: PartialDate | None = None
    for mention, done in zip(mentions, _done_flags(raw, mentions), strict=True):
        if _is_start(raw, mention):
            pending = mention.date
            continue
        start = mention.range_start or pending
        if start is not None and start.first_day() > mention.date.last_day():
            start = None
        occurrences.append(Occurrence(mention.date, start, done))
        pending = None
    return occurrences


def _period(raw: str, mentions: list[DateMention]) -> tuple[PartialDate | None, PartialDate | None]:
    """(since, until) of a recurrence: "throughout 2017-20", "from April 2018", "until 2020"."""
    since = until = None
    for m in mentions:
        if m.range_start is not None:
            since, until = m.range_start, m.date
        elif _is_start(raw, m):
            since = m.date
        elif _THROUGHOUT_WORD.search(raw[: m.start][-30:]):
            since = until = m.date
        else:
            until = m.date
    return since, until


def parse_timescale(raw: str) -> Timescale:
    """A list of deadlines wins over a rhythm word ("Quarterly: March 2018; June 2018") because
    the dates say more; a rhythm wins over a single date ("Quarterly until 2020")."""
    mentions = find_dates(raw)
    occurrences = _occurrences(raw, mentions)
    marked_done = bool(_done_marks(raw))
    in_progress = bool(_IN_PROGRESS.search(raw))
    recurrence = _recurrence(raw)
    singles = [o for o in occurrences if o.start is None]
    if recurrence and len(singles) < 2:
        since, until = _period(raw, mentions)
        return Timescale(raw, "recurring", (), recurrence, since, until, marked_done, in_progress)
    if occurrences:
        kind: Kind = "range" if len(occurrences) == 1 and occurrences[0].start else "dated"
        complete = all(o.done for o in occurrences)
        return Timescale(raw, kind, tuple(occurrences), complete=complete, in_progress=in_progress)
    if mentions or _ONGOING.search(raw):  # only start dates: "Since June 2018"
        return Timescale(raw, "ongoing", complete=marked_done, in_progress=in_progress)
    return Timescale(raw, "undated", complete=marked_done, in_progress=in_progress)


# --- split_timescale ----------------------------------------------------------------------------


def _is_timescale_clause(clause: str) -> bool:
    """Only dates, markers and linking words: "by July 2019", "March 2018 - Complete"."""
    rest, found = clause, False
    for mention in reversed(find_dates(clause)):
        rest, found = rest[: mention.start] + " " + rest[mention.end :], True
    for marker in (_COMPLETE, _IN_PROGRESS, _ONGOING, _RECURRENCE):
        rest, count = marker.subn(" ", rest)
        found = found or count > 0
    return found and all(w.casefold() in _LINKING_WORDS for w in _WORD.findall(rest))


def _tidy(timescale: str) -> str:
    timescale = timescale.strip().rstrip(" \t\r\n\u00a0.,;")
    if timescale.startswith("(") and timescale.endswith(")") and "(" not in timescale[1:]:
        timescale = timescale[1:-1].strip()
    return timescale


def split_timescale(text: str) -> tuple[str, str | None]:
    """The timescale is the longest trailing clause that is nothing but a timescale, so
    "X – Jan – March 2018" keeps the whole range and "X – April 2018 – Complete" the marker.

    Choices: "… in February 2019 – complete" gives (text up to "2019", "complete"); the date stays
    in the text, where parse_timescale on the whole bullet still finds it done. A date inside the
    sentence ("… undertaken in September 2019") is returned without cutting the text. A text
    that is nothing but a timescale ("March 2018 - Complete") is kept whole as its own text, so
    the text part is never empty. Returned timescales lose wrapping parentheses and a final stop.
    """
    if _is_timescale_clause(text):
        return text, _tidy(text)
    inside = [(m.start, m.end) for m in find_dates(text)]
    for sep in _SEPARATOR.finditer(text):
        if any(start <= sep.start() < end for start, end in inside):
            continue  # the dash of "Jan – March 2018"
        head = text[: sep.start()].rstrip(_TRAILING_JUNK)
        if head and _is_timescale_clause(text[sep.end() :]):
            return head, _tidy(text[sep.end() :])
    parens = _TRAILING_PARENS.search(text)
    if parens and _is_timescale_clause(parens["inner"]):
        head = text[: parens.start()].rstrip(_TRAILING_JUNK)
        if head:
            return head, _tidy(parens["inner"])
    mentions = find_dates(text)
    if mentions:
        return text, _tidy(mentions[-1].text)
    return text, None


# --- split_dated_paragraphs ---------------------------------------------------------------------


def is_update_date(mention: DateMention) -> bool:
    """ "(September 2018)" closes an update; "(2019)" or "(Jan – March 2018)" is a plan date."""
    return (
        mention.text.startswith("(")
        and mention.text.endswith(")")
        and mention.range_start is None
        and mention.date.precision != "year"
    )


def split_dated_paragraphs(text: str) -> list[tuple[str, PartialDate | None]]:
    """Progress cells run several updates together, each signed off with the month it was
    written; cutting there lets each update keep its own date. Text after the last date is an
    update with no date of its own."""
    entries: list[tuple[str, PartialDate | None]] = []
    position = 0
    for mention in find_dates(text):
        if not is_update_date(mention):
            continue
        chunk = " ".join(text[position : mention.start].split())
        if chunk:
            entries.append((chunk, mention.date))
        position = mention.end + (1 if text.startswith(".", mention.end) else 0)
    tail = " ".join(text[position:].split())
    if tail:
        entries.append((tail, None))
    return entries
