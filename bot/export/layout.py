"""A plan as the table its partnership keeps it in: its own column headings, one block of rows
per action, every progress entry on a row of its own with its date.

The table is the same for the spreadsheet, the Word document and the web page; the writers only
draw it. It is shaped so that `actionbot import` reads the XLSX and DOCX back into the same plan
(bot/plans/tabular.py), which decides most of what follows:

- Columns keep the plan's own headings ("Action number", "Specific action", "Impact and
  evidence" for the MSCB plan; "Ref", "Area for improvement", "Key risk" for JTAI), each one a
  heading the importer knows. Two columns are added: "Update date", since a progress entry's
  date must survive with its precision ("Nov 2018", "14 Oct 2018", "2019") and the importer
  reads a year alone only from a date column; and, beside "RAG rating" under the same heading,
  the RAG the record suggests, in a column the importer leaves alone, since a suggestion is not
  a rating somebody gave.
- An action's first row holds its ref, text and leads; a row with no ref continues the action
  above it, as in the plans themselves. Where the plan has a timescale column, each milestone
  is a row of its own (its step, its lead, its timescale) and its progress entries follow it,
  so an entry stays tied to the step it is evidence for. A plan without one (JTAI) writes its
  dated steps inside the action's text, one line each, as the plan did.
- Section headings ("1.1 Ensure that educational establishments…") sit in a narrow unheaded
  first column, so the importer sees a row that adds nothing to the action above it.

Pure: a PlanView (already cut to its as-of day, see `as_of_view`) in, a PlanTable out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from bot.export.sidecar import Exact, exact_values
from bot.plans.timescale import find_dates
from bot.store import ActionView, MilestoneView, PlanView, ProgressView
from bot.suggested_rag import suggest_rag

__all__ = [
    "LAYOUTS",
    "Cell",
    "Column",
    "Layout",
    "PlanTable",
    "Row",
    "Span",
    "as_of_view",
    "entry_date",
    "layout_for",
    "plan_table",
    "rag_shown",
]

ColumnKey = Literal[
    "section",
    "ref",
    "area",
    "key_risk",
    "lead",
    "text",
    "timescale",
    "rag",
    "suggested",
    "date",
    "progress",
]
RowKind = Literal["section", "action", "step", "entry"]
RAGS = ("red", "amber", "green")
STEP_BULLETS = ("•", "○")  # depth 0, depth 1; the importer strips both


@dataclass(frozen=True)
class Column:
    key: ColumnKey
    heading: str  # "" for the columns the importer must not read
    width: float  # in characters of the body font, as a spreadsheet measures columns


@dataclass(frozen=True)
class Layout:
    name: str
    columns: tuple[Column, ...]

    @property
    def steps_on_rows(self) -> bool:
        """With a timescale column each milestone is a row; without, steps are in the text."""
        return any(c.key == "timescale" for c in self.columns)

    def index(self, key: ColumnKey) -> int | None:
        return next((i for i, c in enumerate(self.columns) if c.key == key), None)


_SECTION = Column("section", "", 2.5)
_DATE = Column("date", "Update date", 10)
# "(suggested)" on one line, as "number" below, in a wider font than Arial too
_RAG = (Column("rag", "RAG rating", 8), Column("suggested", "", 14))

LAYOUTS: dict[str, Layout] = {
    "jtai": Layout(
        "jtai",
        (
            Column("ref", "Ref", 7),
            Column("area", "Area for improvement", 26),
            Column("key_risk", "Key risk", 17),
            Column("lead", "Lead (named)", 17),
            Column("text", "Action", 38),
            _DATE,
            Column("progress", "Progress (to include update date)", 60),
        ),
    ),
    "mscb": Layout(
        "mscb",
        (
            # wide enough for "number" in bold on one line in a font wider than Arial too
            # (LibreOffice without Arial or its metric twin draws DejaVu Sans)
            Column("ref", "Action number", 11.5),
            Column("text", "Specific action", 38),
            Column("lead", "Lead", 18),
            Column("timescale", "Actions and timescales", 14),
            *_RAG,
            _DATE,
            Column("progress", "Impact and evidence", 46.5),
        ),
    ),
    # Any other plan: the headings the importer's documentation leads with.
    "generic": Layout(
        "generic",
        (
            Column("ref", "Ref", 7),
            Column("text", "Action", 38),
            Column("lead", "Lead", 18),
            Column("timescale", "Timescale", 14),
            *_RAG,
            _DATE,
            Column("progress", "Progress", 49),
        ),
    ),
}


def layout_for(plan: PlanView) -> Layout:
    """The plan's own layout; a gutter for section headings first when it has sections."""
    layout = LAYOUTS.get(plan.layout or "", LAYOUTS["generic"])
    if any(a.section for a in plan.actions):
        return Layout(layout.name, (_SECTION, *layout.columns))
    return layout


@dataclass(frozen=True)
class Cell:
    text: str = ""
    rag: str | None = None  # the colour to fill with
    suggested: bool = False  # a RAG the record suggests, not one a person set
    bold: bool = False
    depth: int = 0  # indentation of a milestone's step


EMPTY = Cell()


@dataclass(frozen=True)
class Row:
    kind: RowKind
    cells: tuple[Cell, ...]  # one per column; a section row's text is in its first cell
    ref: str  # the action's ref; the section's label on a section row


@dataclass(frozen=True)
class Span:
    """Cells of one column merged down, first and last row inclusive (indexes into rows)."""

    column: int
    first: int
    last: int


@dataclass(frozen=True)
class PlanTable:
    layout: Layout
    rows: tuple[Row, ...]
    spans: tuple[Span, ...]
    # each action's fields as the plan holds them, by ref: what the table cannot say (sidecar.py)
    exact: Mapping[str, Exact] = dataclasses.field(default_factory=dict, compare=False)

    @property
    def headings(self) -> tuple[str, ...]:
        return tuple(c.heading for c in self.layout.columns)


# --- the plan as it stood on a day ------------------------------------------------------------


def as_of_view(plan: PlanView, day: date) -> PlanView:
    """The plan without the progress entries written after `day`. An entry dated only to a
    month or a year counts from its first day: "(November 2018)" may be read on 14 November."""
    return dataclasses.replace(
        plan,
        actions=tuple(
            dataclasses.replace(
                a, progress=tuple(p for p in a.progress if p.date.first_day() <= day)
            )
            for a in plan.actions
        ),
    )


def entry_date(entry: ProgressView) -> str:
    """ "Nov 2018", "14 Oct 2018", "2019": as precise as the entry was given."""
    return entry.date.human()


def rag_shown(action: ActionView, day: date) -> tuple[str | None, str | None]:
    """(the RAG a person set, the RAG the record suggests on `day`)."""
    rag = action.rag if action.rag in RAGS else None
    return rag, suggest_rag(action, day)


# --- building the table -----------------------------------------------------------------------


def plan_table(plan: PlanView, day: date) -> PlanTable:
    layout = layout_for(plan)
    builder = _Builder(layout, day)
    section: str | None = None
    for action in plan.actions:
        if action.section and action.section != section:
            builder.section(action.section)
        section = action.section
        builder.action(action)
    exact = {a.ref: exact_values(a) for a in plan.actions}
    return PlanTable(layout, tuple(builder.rows), tuple(builder.spans), exact)


class _Builder:
    def __init__(self, layout: Layout, day: date):
        self.layout = layout
        self.day = day
        self.rows: list[Row] = []
        self.spans: list[Span] = []
        # the last action block's area and key risk, to merge them down as the plans do
        self.group: dict[ColumnKey, tuple[str, int]] = {}

    def row(self, kind: RowKind, ref: str, cells: Mapping[str, Cell]) -> None:
        self.rows.append(
            Row(kind, tuple(cells.get(c.key, EMPTY) for c in self.layout.columns), ref)
        )

    def section(self, label: str) -> None:
        self.rows.append(Row("section", (Cell(label, bold=True),), label))
        self.group.clear()  # a heading between two actions ends a merged area

    def action(self, a: ActionView) -> None:
        first = len(self.rows)
        entries = list(a.progress)
        rag, suggested = rag_shown(a, self.day)
        action_cells: dict[str, Cell] = {
            "ref": Cell(a.ref, bold=True),
            "text": Cell(a.text if self.layout.steps_on_rows else step_lines(a.text)),
            "lead": Cell("\n".join(lead.written for lead in a.leads)),
            "area": Cell(a.area_for_improvement or ""),
            "key_risk": Cell(a.key_risk or ""),
        }
        if rag:
            action_cells["rag"] = Cell(rag.capitalize(), rag=rag, bold=True)
        if suggested and suggested != rag:
            action_cells["suggested"] = Cell(
                f"{suggested.capitalize()}\n(suggested)", rag=suggested, suggested=True
            )
        if not self.layout.steps_on_rows:
            self._with_entries("action", a.ref, action_cells, entries)
        else:
            unlinked = [e for e in entries if e.milestone_position is None]
            self._with_entries("action", a.ref, action_cells, unlinked)
            for ms in _steps(a.milestones):
                mine = [e for e in entries if e.milestone_position == ms.position]
                step = {
                    "text": Cell(f"{STEP_BULLETS[min(ms.depth, 1)]} {ms.text}", depth=ms.depth),
                    "lead": Cell(_step_lead(a, ms)),
                    "timescale": Cell(ms.timescale or ""),
                }
                self._with_entries("step", a.ref, step, mine)
        last = len(self.rows) - 1
        keys: Sequence[ColumnKey] = ("ref", "rag", "suggested")
        if not self.layout.steps_on_rows:
            keys = ("ref", "lead", "text")
        for key in keys:
            self._span(key, first, last)
        for key in ("area", "key_risk"):
            self._group(key, action_cells[key].text, first, last)

    def _with_entries(
        self, kind: RowKind, ref: str, cells: dict[str, Cell], entries: Sequence[ProgressView]
    ) -> None:
        """The row, its first progress entry beside it, the others on rows of their own."""
        for n, entry in enumerate(entries or [None]):
            dated: dict[str, Cell] = {}
            if entry is not None:
                dated = {"date": Cell(entry_date(entry)), "progress": Cell(entry.text)}
            if n == 0:
                self.row(kind, ref, {**cells, **dated})
            else:
                self.row("entry", ref, dated)

    def _span(self, key: ColumnKey, first: int, last: int) -> None:
        column = self.layout.index(key)
        if column is not None and last > first:
            self.spans.append(Span(column, first, last))

    def _group(self, key: ColumnKey, text: str, first: int, last: int) -> None:
        """Consecutive actions under the same area (or risk) share one merged cell."""
        column = self.layout.index(key)
        if column is None:
            return
        before = self.group.get(key)
        if before is not None and before[0] == text and text:
            start = before[1]
            self.spans[:] = [s for s in self.spans if not (s.column == column and s.first == start)]
            # the later action's copy is blanked: the importer carries an area down
            row = self.rows[first]
            cells = list(row.cells)
            cells[column] = EMPTY
            self.rows[first] = Row(row.kind, tuple(cells), row.ref)
            self.spans.append(Span(column, start, last))
        else:
            self.group[key] = (text, first)
            self._span(key, first, last)


def _step_lead(action: ActionView, ms: MilestoneView) -> str:
    """A step's lead as the action's leads write them when it is one of them: the importer
    adds every lead a row names to the action's leads, as written."""
    if ms.lead is None:
        return ""
    same = next((lead for lead in action.leads if lead.key == ms.lead.key), None)
    return same.written if same else ms.lead.written


def _steps(milestones: Iterable[MilestoneView]) -> list[MilestoneView]:
    """One per milestone: a timescale with several dates is one step with several occurrences."""
    seen: dict[int, MilestoneView] = {}
    for ms in milestones:
        seen.setdefault(ms.position, ms)
    return list(seen.values())


def step_lines(text: str) -> str:
    """ "Improve audits (October 2018) Review oversight (September 2018)" as one step a line,
    broken after each bracketed date (and a full stop closing it), so each line is a dated step
    again when the importer reads the text back. Nothing but line breaks is added."""
    lines: list[str] = []
    start = 0
    for mention in find_dates(text):
        if not (mention.text.startswith("(") and mention.text.endswith(")")):
            continue
        end = mention.end + (1 if text.startswith(".", mention.end) else 0)
        if text[end:].strip():
            lines.append(text[start:end].strip())
            start = end
    lines.append(text[start:].strip())
    return "\n".join(line for line in lines if line)
