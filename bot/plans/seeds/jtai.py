"""The JTAI Response Action Plan seed (Medway, 2018) as a canonical plan.

The seed is a Word table exported to text: one tab-separated column per table column (Ref, Area
for Improvement, Key risk, Lead (named), Action, Progress (to include update date)). The export
is lossy in ways a reader does not notice on paper but a parser must undo:

- Some rows are *wrapped*: one table row is spread over many lines, each line holding the piece
  of every column that sat at that height on the page. A cell is rebuilt by joining its column's
  pieces in order. Other rows are one line each, sometimes with a continuation line (empty Ref)
  that adds a paragraph to the Action and Progress cells. Both are read the same way: a row goes
  on until the next row starts (a Ref number, a Ref-less row, or a Ref after a blank line).
- The export repeats a line's end on the next line now and then; a piece that repeats the end of
  its cell is dropped, and the plan says so in a note.
- A page footer survives as a line of digits ("1 (6 1) 1 1 ..."); it is dropped with a note.
- Two rows have no Ref cell at all (the line has one column fewer); they are numbered from their
  place between their neighbours, with a note, so every action has a ref a lead can quote.
- The "Priority Action" block holds several sub-rows, each with its own lead, action and
  progress; each becomes its own action (PA.1, PA.2 ...), since each lead is chased separately.
- Timescales sit inside the Action text as "(August 2018)"; every dated clause is a milestone.
  Progress paragraphs end with their update date, "(October 2018)"; each is a progress entry.

Nothing is reworded: names, spellings and run-together words ("MASHIndividual") stay as written.
What had to be decided (a date read as another year, an undated update, a missing ref) is kept as
an action or plan note, which check-data lists for a person to confirm.
"""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass, field

from bot.names import split_written
from bot.plans.canonical import Action, Governance, Milestone, Plan, Progress
from bot.plans.partial_date import PartialDate
from bot.plans.timescale import (
    DateMention,
    find_dates,
    is_update_date,
    split_dated_paragraphs,
    split_timescale,
)

__all__ = ["convert", "COLUMNS"]

PLAN_ID = "jtai-2018"
DEFAULT_TITLE = "JTAI Response Action Plan"  # the seed's first line says so; used if it is gone
LAYOUT = "jtai"
# The escalation ladder named in the plan: leads -> operational group -> strategic board -> chair.
GOVERNANCE = Governance(
    operational_group="MASH Operational Group",
    strategic_board="MASH Strategic Board",
    chair="MSCB Independent Chair",
)
# The inspection the plan answers; no deadline of the plan can sensibly fall before it.
INSPECTED = PartialDate(2018, 6)

COLUMNS = (
    "Ref",
    "Area for Improvement",
    "Key risk",
    "Lead (named)",
    "Action",
    "Progress (to include update date)",
)
REF, AREA, RISK, LEAD, ACTION, PROGRESS = range(len(COLUMNS))

# A Ref that starts a row on any line: "8", "12", "3.1".
_REF_NUMBER = re.compile(r"^\d+(?:\.\d+)*$")
# A piece that is only commas: wrapped lead and action cells carry ",", ", ," and ",," debris.
_COMMAS_ONLY = re.compile(r"^[,\s]+$")
# A word broken at its hyphen by the wrap ("parental self-" / "reporting"); Word wraps there.
_HYPHEN_WRAP = re.compile(r"[^\W\d_]-$")
# A page footer token: a number, possibly bracketed ("(6", "1)"), or a single letter ("a").
_DEBRIS_TOKEN = re.compile(r"^\(?\d+\)?$|^[A-Za-z]$")
# A lead cell piece that begins a person's name ("Tracey Anstis"), not "(Kent Police)" or ",".
_NAME_START = re.compile(r"^[A-Z][a-z]")
# What may follow a closing date in a finished cell: "(November 2018)." or "(October 2018);".
_AFTER_DATE = re.compile(r"^[\s.;,]*$")
# One lead, cut after its closing bracket; commas and spaces between leads are separators.
_LEAD_SPLIT = re.compile(r"(?<=\))[\s,]*")
# Two leads run together by the export: "(Medway Council)Kirstie King".
_RUN_TOGETHER = re.compile(r"\)(?=[A-Z])")
# A clause worth a milestone has at least two words.
_WORDS = re.compile(r"[^\W\d_]{2,}")
# A preposition just before a year-less date, quoted with it: "from 29th October".
_PREPOSITION = re.compile(r"(?:from|by|in|on|until|before|after)\s+$", re.I)
# A status said as the last sentence of an update: "... streamlined. On track (November 2018)".
_STATUS_SENTENCE = re.compile(
    r"(?<=[.!?])\s+(?P<status>on[\s-]?track|on[\s-]?going|in progress|completed?|delayed)$",
    re.I,
)
_COUNT_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
_TITLE_LIMIT = 80


@dataclass
class _Line:
    number: int  # 1-based line number in the source, for notes
    cells: list[str]


@dataclass
class _Row:
    ref: str | None  # as written; None when the line has no Ref column at all
    lines: list[_Line]


@dataclass
class _Draft:
    """One action's cells, rebuilt, before dates are read."""

    ref: str | None
    area: str
    risk: str
    lead: str
    action: str
    progress: str
    first_line: int
    notes: list[str] = field(default_factory=list)


# --- reading the table -----------------------------------------------------------------------


def _find_header(lines: list[str]) -> tuple[str, int]:
    """The title is the text above the header; the header proves the file has this layout."""
    for index, line in enumerate(lines):
        cells = [c.strip() for c in line.split("\t")]
        if cells[0] == COLUMNS[0]:
            if tuple(cells) != COLUMNS:
                raise ValueError(
                    f"line {index + 1}: expected the JTAI columns {COLUMNS}, got {tuple(cells)}"
                )
            title = next((t.strip() for t in lines[:index] if t.strip()), DEFAULT_TITLE)
            return title, index
    raise ValueError(f"no header line starting with {COLUMNS[0]!r}: not a JTAI seed")


def _is_debris(cells: list[str]) -> bool:
    """A page footer: nothing but numbers, brackets and single letters, and no Ref."""
    tokens = " ".join(cells[1:]).split()
    return not cells[0].strip() and len(tokens) >= 3 and all(_DEBRIS_TOKEN.match(t) for t in tokens)


def _shorten(text: str, words: int = 5) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")


def _read_rows(lines: list[str], header: int) -> tuple[list[_Row], list[str]]:
    """Groups the lines below the header into table rows; returns them and plan notes.

    Blank lines do not end a row (page breaks fall inside rows); a row ends where the next one
    starts: a Ref number, a line with no Ref column (one column short), or a Ref after a blank.
    A Ref piece that is not a number right under a row goes on that Ref ("Priority" / "Action").
    """
    rows: list[_Row] = []
    notes: list[str] = []
    after_blank = True
    for number, raw in enumerate(lines[header + 1 :], start=header + 2):
        if not raw.strip():
            after_blank = True
            continue
        cells = raw.split("\t")
        if _is_debris(cells):
            notes.append(
                f"dropped line {number} of the source: page debris "
                f"'{_shorten(' '.join(raw.split()))}'"
            )
            continue
        missing_ref = len(cells) == len(COLUMNS) - 1
        if missing_ref:
            cells = ["", *cells]
        if len(cells) > len(COLUMNS):  # a tab inside the last cell: keep it in Progress
            cells = [*cells[:PROGRESS], " ".join(cells[PROGRESS:])]
        cells += [""] * (len(COLUMNS) - len(cells))
        ref = cells[REF].strip()
        line = _Line(number, cells)
        if missing_ref or _REF_NUMBER.match(ref) or (ref and (after_blank or not rows)):
            rows.append(_Row(None if missing_ref else ref, [line]))
        elif not rows:
            raise ValueError(f"line {number}: table text before the first row")
        else:
            if ref:
                rows[-1].ref = f"{rows[-1].ref} {ref}" if rows[-1].ref else ref
            rows[-1].lines.append(line)
        after_blank = False
    return rows, notes


# --- rebuilding cells ------------------------------------------------------------------------


def _repeats_tail(text: str, piece: str) -> bool:
    """The export sometimes prints a line's end again on the next line. Only pieces of some
    length count: a short one ("MASH.") may well be written twice on purpose."""
    return len(piece) >= 20 and (text == piece or text.endswith(" " + piece))


def _join(lines: list[_Line], column: int, notes: list[str]) -> str:
    """A cell from its column's pieces, joined with spaces (none after a word broken at its
    hyphen); repeats of the cell's end are dropped with a plan note."""
    text = ""
    for line in lines:
        piece = " ".join(line.cells[column].split())
        if not piece or _COMMAS_ONLY.match(piece):
            continue
        if _repeats_tail(text, piece):
            notes.append(
                f"dropped a repeated fragment on line {line.number} of the source: "
                f"'{piece}' repeats the end of its {COLUMNS[column]} cell"
            )
            continue
        if not text or _HYPHEN_WRAP.search(text):
            text += piece
        else:
            text += " " + piece
    return text


def _ends_with_update_date(text: str) -> bool:
    mentions = [m for m in find_dates(text) if is_update_date(m)]
    return bool(mentions) and bool(_AFTER_DATE.match(text[mentions[-1].end :]))


def _starts_subrow(group: list[_Line], previous: _Line, line: _Line) -> bool:
    """A row's lines form a new sub-row (own lead, action and progress) where a new name starts
    in the Lead column beside a new Action paragraph, after the previous action has ended (its
    column left blank) and the progress so far has been signed off with a date. Extra leads of
    one action (row 4) fail the last two tests: their action and progress are mid-sentence."""
    cells = line.cells
    if any(cells[c].strip() for c in (REF, AREA, RISK)):
        return False
    if not _NAME_START.match(cells[LEAD].strip()) or not cells[ACTION].strip():
        return False
    if previous.cells[ACTION].strip() or not any(x.cells[ACTION].strip() for x in group):
        return False
    return _ends_with_update_date(_join(group, PROGRESS, []))


def _split_subrows(row: _Row) -> list[list[_Line]]:
    groups = [[row.lines[0]]]
    for previous, line in zip(row.lines, row.lines[1:], strict=False):
        if _starts_subrow(groups[-1], previous, line):
            groups.append([line])
        else:
            groups[-1].append(line)
    return groups


def _subrow_base(ref: str) -> str:
    """ "Priority Action" -> "PA": sub-row refs stay short enough to quote in a reply."""
    if _REF_NUMBER.match(ref):
        return ref
    return "".join(word[0].upper() for word in ref.split())


def _drafts(rows: list[_Row], plan_notes: list[str]) -> list[_Draft]:
    drafts: list[_Draft] = []
    for row in rows:
        groups = _split_subrows(row)
        # Area and key risk belong to the whole row, sub-rows included.
        area = _join(row.lines, AREA, plan_notes)
        risk = _join(row.lines, RISK, plan_notes)
        for index, group in enumerate(groups, start=1):
            draft = _Draft(
                ref=row.ref,
                area=area,
                risk=risk,
                lead=_join(group, LEAD, plan_notes),
                action=_join(group, ACTION, plan_notes),
                progress=_join(group, PROGRESS, plan_notes),
                first_line=group[0].number,
            )
            if len(groups) > 1:
                assert row.ref is not None
                base = _subrow_base(row.ref)
                count = _COUNT_WORDS.get(len(groups), str(len(groups)))
                draft.ref = f"{base}.{index}"
                draft.notes.append(
                    f"sub-row: the {row.ref} has {count} sub-rows with their own leads; "
                    f"numbered {base}.1–{base}.{len(groups)} here"
                )
            drafts.append(draft)
    return drafts


def _number_missing_refs(drafts: list[_Draft]) -> None:
    """A run of rows with no Ref takes the next numbers after the numbered row before it, if
    they stay below the numbered row after it; otherwise a person has to decide. Notes name the
    neighbours as the source numbers them."""
    written = [int(d.ref) if d.ref is not None and d.ref.isdigit() else None for d in drafts]
    before, run = 0, 0
    for index, (draft, number_written) in enumerate(zip(drafts, written, strict=True)):
        if number_written is not None:
            before, run = number_written, 0
            continue
        if draft.ref is not None:  # a Ref that is not a number ("PA.1"): not in the count
            continue
        run += 1
        number = before + run
        after = next((n for n in written[index + 1 :] if n is not None), None)
        if after is not None and number >= after:
            raise ValueError(
                f"line {draft.first_line}: the row has no Ref and there is no free "
                f"number between {before} and {after}"
            )
        draft.ref = str(number)
        where = (
            f"between actions {before} and {after}"
            if after is not None
            else f"after action {before}"
        )
        draft.notes.append(
            f"missing-ref: no Ref in the source; numbered {number} from its place {where}"
        )


# --- leads -----------------------------------------------------------------------------------


def _one_lead(chunk: str) -> str:
    """ "Name (Organisation)" as written; "Name, Organisation" is brought to that form."""
    name, org = split_written(chunk)
    return f"{name} ({org})" if org else name


def _leads(cell: str, notes: list[str]) -> list[str]:
    """Several leads share a cell; each ends with its bracketed organisation or role. A role
    with commas inside the brackets ("Penny Giles (Safeguarding lead, MCH)") stays one lead."""
    if _RUN_TOGETHER.search(cell):
        notes.append(f"split-lead: lead cell ran two names together: '{cell}'")
    chunks = [c.strip(" ,") for c in _LEAD_SPLIT.split(cell)]
    return [_one_lead(c) for c in chunks if c]


# --- dates -----------------------------------------------------------------------------------


def _month_year(when: PartialDate) -> str:
    if when.month is None:
        return str(when.year)
    return f"{calendar.month_name[when.month]} {when.year}"


def _yearless(clause: str) -> list[str]:
    """Dates written without a year ("from 29th October"), quoted with their preposition."""
    quoted = []
    for mention in find_dates(clause, default_year=INSPECTED.year):
        if find_dates(mention.text):
            continue  # it has a year of its own
        before = _PREPOSITION.search(clause[: mention.start])
        start = before.start() if before else mention.start
        quoted.append(f"'{clause[start : mention.end]}'")
    return quoted


def _suspicious_deadline(mention: DateMention, notes: list[str]) -> PartialDate | None:
    """A deadline before the inspection cannot be meant; the likely slip is the year (January
    2018 for January 2019). The due date is moved a year on, the written timescale is kept."""
    when = mention.date
    if when.last_day() >= INSPECTED.first_day():
        return None
    meant = PartialDate(when.year + 1, when.month, when.day)
    notes.append(
        f"suspicious-date: '{mention.text}' is before this plan was drawn up after the "
        f"{_month_year(INSPECTED)} inspection; read as {_month_year(meant)} "
        "— confirm with the lead"
    )
    return meant


def _milestones(text: str, notes: list[str]) -> list[Milestone]:
    """Every clause closed by a bracketed date is a milestone; a clause after the last date is
    one too if it says something, undated and noted."""
    milestones: list[Milestone] = []
    position = 0
    for mention in find_dates(text):
        if not is_update_date(mention):
            continue
        before = text[position : mention.start].strip(" .;,")
        clause = text[position : mention.end].strip(" .;,")
        position = mention.end
        if not before:
            continue  # a date with no clause before it: nothing to chase
        head, timescale = split_timescale(clause)
        if head == clause:  # not cut off as a trailing timescale: cut at the date itself
            head, timescale = before, _tidy_bracket(mention.text)
        meant = _suspicious_deadline(mention, notes)
        milestones.append(
            Milestone(text=head, timescale=timescale, due=meant.last_day() if meant else None)
        )
    tail = text[position:].strip(" .;,")
    if len(_WORDS.findall(tail)) >= 2:
        milestones.append(Milestone(text=tail))
        note = "undated-timescale: no timescale in brackets"
        if len(milestones) > 1:
            note += f" for milestone {len(milestones)} ('{_title(tail)}')"
        yearless = _yearless(tail)
        if yearless:
            note += f"; the text says {', '.join(yearless)} with no year"
        notes.append(note)
    return milestones


def _tidy_bracket(text: str) -> str:
    return text.strip()[1:-1].strip() if text.strip().startswith("(") else text.strip()


def _title(text: str) -> str:
    """The first sentence, cut on a word boundary: what a lead sees in a list of actions."""
    first = text.strip().split(". ")[0].strip().rstrip(".")
    if len(first) <= _TITLE_LIMIT:
        return first
    return first[:_TITLE_LIMIT].rsplit(" ", 1)[0].rstrip(" ,;:-–") + "…"


def _updates(cell: str) -> list[tuple[str, PartialDate | None]]:
    """The progress cell cut at its update dates; a closing status sentence ("On track") is
    an entry of its own, as the lead's verdict on the update."""
    out: list[tuple[str, PartialDate | None]] = []
    for text, when in split_dated_paragraphs(cell):
        status = _STATUS_SENTENCE.search(text)
        if status:
            out.append((text[: status.start()].strip(), when))
            out.append((status["status"], when))
        else:
            out.append((text, when))
    return out


def _update_round(updates: list[list[tuple[str, PartialDate | None]]]) -> PartialDate | None:
    """The plan's last update: the latest month in which a tenth of the actions (at least two)
    report progress. A later month seen in one or two actions is a date in the future tense
    ("decision to be made at Cabinet (December 2018)"), not an update round."""
    actions_by_month: dict[PartialDate, int] = {}
    for entries in updates:
        for month in {PartialDate(w.year, w.month) for _, w in entries if w is not None}:
            actions_by_month[month] = actions_by_month.get(month, 0) + 1
    enough = max(2, math.ceil(len(updates) / 10))
    rounds = [m for m, count in actions_by_month.items() if count >= enough]
    if rounds:
        return max(rounds)
    return max(actions_by_month, default=None)


def _progress(
    entries: list[tuple[str, PartialDate | None]], as_of: PartialDate | None, notes: list[str]
) -> list[Progress]:
    """Undated updates take the plan's last update date, with a note; dates after it are kept
    as written and noted."""
    progress: list[Progress] = []
    undated = 0
    for text, when in entries:
        if when is None:
            if as_of is None:
                raise ValueError("an undated progress paragraph in a plan with no dated update")
            undated += 1
            when = as_of
        elif as_of is not None and when > as_of:
            notes.append(
                f"suspicious-date: progress dated {_month_year(when)} is after the "
                f"plan's last update ({_month_year(as_of)})"
            )
        progress.append(Progress(date=when, text=text))
    if undated and as_of is not None:
        notes.append(
            f"undated-progress: {undated} progress paragraph(s) carry no date in the "
            f"source; dated {_month_year(as_of)}, the plan's last update"
        )
    return progress


# --- the plan --------------------------------------------------------------------------------


def _action(
    draft: _Draft, entries: list[tuple[str, PartialDate | None]], as_of: PartialDate | None
) -> Action:
    assert draft.ref is not None
    notes = list(draft.notes)
    leads = _leads(draft.lead, notes)
    milestones = _milestones(draft.action, notes)
    timescales = [m.timescale for m in milestones if m.timescale]
    progress = _progress(entries, as_of, notes)
    return Action(
        ref=draft.ref,
        title=_title(milestones[0].text if milestones else draft.action),
        area_for_improvement=draft.area or None,
        key_risk=draft.risk or None,
        text=draft.action,
        leads=leads,
        timescale="; ".join(timescales) or None,
        milestones=milestones,
        progress=progress,
        notes=notes,
    )


def convert(text: str, source: str) -> Plan:
    """The JTAI seed's text as a canonical plan; `source` is recorded as where it came from."""
    lines = text.splitlines()
    title, header = _find_header(lines)
    rows, plan_notes = _read_rows(lines, header)
    drafts = _drafts(rows, plan_notes)
    _number_missing_refs(drafts)
    updates = [_updates(d.progress) for d in drafts]
    as_of = _update_round(updates)
    actions = [_action(d, entries, as_of) for d, entries in zip(drafts, updates, strict=True)]
    return Plan(
        id=PLAN_ID,
        title=title,
        as_of=as_of,
        source=source,
        layout=LAYOUT,
        governance=GOVERNANCE,
        actions=actions,
        notes=plan_notes,
    )
