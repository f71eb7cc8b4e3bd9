"""A reply about several actions, cut where each action's ref starts a line, with the RAG, a
"complete" status and a proposed new date read from each part.

A ref counts only at the start of a line ("1.1.1 – Training delivered", "Action 5: done",
"Re PA.2:"), matched as a whole token, so "1.1" never starts the section of "1.1.1". A bare
number needs a clear marker ("Action 5", "5:", "5 -", "5."), since "5 staff were trained"
starts a line of prose, not an action. The text stays as the lead wrote it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.plans.partial_date import PartialDate
from bot.plans.timescale import find_dates

__all__ = ["Section", "split_sections"]


@dataclass(frozen=True)
class Section:
    ref: str | None  # the ref the section starts with, as the caller gave it; None before any
    text: str  # the section as written, ref and "RAG: amber" included
    rag: str | None  # "red" | "amber" | "green"
    completed: bool  # "Complete", "Status: done", "This action is now complete."
    proposed: PartialDate | None  # "new date: March 2019", "revised deadline 31/03/2019"


# What may come before a ref on its line: a bullet, bold markers, "Action", "Re", "Ref".
_BULLET = r"^[ \t]*(?:[*•·\-–][ \t]+)?(?:(?:\*\*|__)[ \t]*)?"
_LEAD_IN = rf"{_BULLET}(?:(?:re|ref|action|item)\b[ \t.:]*)?"
_WORD_LEAD_IN = rf"{_BULLET}(?:re\b[ \t.:]*)?(?:ref|action|item)\b[ \t.:]*"
# After a ref: not more of a longer ref ("1.1" is not "1.1.1", "PA.2" is not "PA.20").
_REF_END = r"(?![^\W_]|[./][^\W_])"
# After a bare number with no "Action" before it: "5:", "5 -", "5 – ", "5. ", "5)".
_NUMBER_END = r"(?=[ \t]*:(?!\d)|[ \t]*[\-–—](?:[ \t]|$)|[ \t]*\)|\.(?:[ \t]|$)|[ \t]*$)"

_RAG = re.compile(
    r"(?<![a-z])rag(?:\s+(?:status|rating))?(?:\s+(?:is|now))*\s*(?:[:\-–—=]\s*)?"
    r"(?:\*\*)?(red|amber|green)(?![a-z])",
    re.I,
)
_STATUS_WORD = re.compile(r"(?<![a-z-])(?:complete|completed|done)(?![a-z-])", re.I)
# Words before "complete" that make it a plan, not a state: "not yet complete", "to be done".
_NEGATED = re.compile(
    r"(?<![a-z])(?:not|yet|be|being|to|will|would|partially|partly|nearly|almost|once|when|if"
    r"|until|never|isn't|aren't|wasn't|hasn't|haven't|won't|cannot|can't)[\s\-]+"
    r"(?:(?:yet|fully|quite|been|be|now|all|the|it|this)\s+)*$",
    re.I,
)
# "status: done", "is now complete", "has been completed", "now complete".
_STATE_BEFORE = re.compile(
    r"(?<![a-z])(?:status(?:\s*(?:is|:|-|–|—|=))?|is|are|was|were|has\s+been|have\s+been|now"
    r"|fully|marked(?:\s+as)?|action)\s*(?:now\s+|fully\s+|all\s+)*$",
    re.I,
)
# A state ends its clause: "This action is now complete." but not "is done by the team".
_STATE_AFTER = re.compile(
    r"\s*(?:$|[.!,;:)\-–—]|\(|\s+(?:and|as\s+of|since|in|on|from|at|with|now)(?![a-z]))", re.I
)
# A line that is nothing but a status: "Complete", "Status - Done", "Completed (March 2019)".
_STATUS_LINE_WORDS = frozenset(
    "complete completed done status action now fully this is in on".split()
)
_LINE_WORD = re.compile(r"[^\W\d_]+")
_PROPOSED = re.compile(
    r"(?<![a-z])(?:new|revised|proposed|amended|updated|extended|changed)\s+"
    r"(?:target\s+|completion\s+|end\s+|due\s+)?(?:date|deadline|timescale|timeframe|target)"
    r"(?![a-z])(?:\s|is|of|to|will\s+be|would\s+be|be|:|-|–|—|=)*",
    re.I,
)
_DATE_LEAD_IN = re.compile(r"^[\s:\-–—=(]*(?:(?:by|the|end|of|early|mid|late|in)\s+)*$", re.I)


def split_sections(
    text: str, refs: Sequence[str], *, default_year: int | None = None
) -> list[Section]:
    """Sections in the order written; text before the first ref (if any) has ref None. With no
    refs, or none found, the whole text is one section. Blank text gives no sections.
    `default_year` reads a proposed date written without one ("new date: 5th March")."""
    if not text.strip():
        return []
    starts = _ref_starts(text, refs)
    cuts = [(0, None, 0)] + starts if not starts or starts[0][0] > 0 else starts
    sections = []
    for i, (start, ref, prefix_end) in enumerate(cuts):
        end = cuts[i + 1][0] if i + 1 < len(cuts) else len(text)
        chunk = text[start:end]
        if ref is None and not chunk.strip() and starts:
            continue
        sections.append(_section(chunk, ref, prefix_end - start, default_year))
    return sections


@functools.lru_cache(maxsize=4096)  # a plan's refs recur; re's own cache holds only 512
def _ref_pattern(ref: str) -> re.Pattern[str]:
    token = re.escape(ref.strip())
    if ref.strip().isdigit():
        return re.compile(
            rf"(?:{_WORD_LEAD_IN}{token}{_REF_END}|{_LEAD_IN}{token}{_NUMBER_END})", re.I | re.M
        )
    return re.compile(rf"{_LEAD_IN}{token}{_REF_END}", re.I | re.M)


def _ref_starts(text: str, refs: Sequence[str]) -> list[tuple[int, str | None, int]]:
    """(start of the line, ref, end of the ref on it) for each line a ref starts."""
    found: dict[int, tuple[int, str | None, int]] = {}
    # Longer refs first, so a line starting "1.1.1" is never claimed by "1.1" as well.
    for ref in sorted({r for r in refs if r.strip()}, key=lambda r: -len(r.strip())):
        for m in _ref_pattern(ref).finditer(text):
            if m.start() not in found:
                found[m.start()] = (m.start(), ref, m.end())
    return sorted(found.values())


def _section(chunk: str, ref: str | None, prefix_end: int, default_year: int | None) -> Section:
    rest = chunk[max(prefix_end, 0) :]
    return Section(
        ref=ref,
        text=chunk.strip(),
        rag=_rag(chunk),
        completed=_completed(rest),
        proposed=_proposed(chunk, default_year),
    )


def _rag(text: str) -> str | None:
    m = _RAG.search(text)
    return m.group(1).lower() if m else None


def _completed(text: str) -> bool:
    """ "complete", "completed" or "done" said as the action's state."""
    for m in _STATUS_WORD.finditer(text):
        line_start = text.rfind("\n", 0, m.start()) + 1
        before = text[line_start : m.start()]
        if _NEGATED.search(before):
            continue
        if _is_status_line(text, line_start):
            return True
        if _STATE_BEFORE.search(before) and _STATE_AFTER.match(text, m.end()):
            return True
    return False


def _is_status_line(text: str, line_start: int) -> bool:
    line_end = text.find("\n", line_start)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    for mention in reversed(find_dates(line)):
        line = line[: mention.start] + " " + line[mention.end :]
    words = [w.lower() for w in _LINE_WORD.findall(line)]
    return bool(words) and all(w in _STATUS_LINE_WORDS for w in words)


def _proposed(text: str, default_year: int | None) -> PartialDate | None:
    for m in _PROPOSED.finditer(text):
        after = text[m.end() : m.end() + 80]
        for mention in find_dates(after, default_year=default_year):
            if _DATE_LEAD_IN.match(after[: mention.start]):
                return mention.date
            break
    return None
