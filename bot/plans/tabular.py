"""Importers for the spreadsheets and Word tables partnerships keep their action plans in.

Few partnerships write YAML: their plan is a CSV export, an Excel workbook or a table in a Word
document, one row per action, under headings that differ from plan to plan ("Lead (named)",
"Actions and Timescales", "RAG rating"). `read_plan_table` turns all three into the canonical
`Plan`, so validation, name resolution and loading stay in one place (canonical.py, load.py).

The rules, and why they are so:

- Columns are found by their headings, never by position, because every partnership orders and
  names them its own way; a heading is matched by the longest synonym it starts with, so
  "Action number" is a ref and "Actions and Timescales" a timescale, not the action.
- A row with a blank ref continues the action above it. That is how real plans give an action a
  further lead, step or piece of evidence, and how merged cells look once read: openpyxl gives
  None below the first row of a merge, and a vertically merged Word cell counts as blank on a
  continuation row (on a new action's row it still gives its text: one lead for two actions).
- A continuation row's own step with its timescale is one step, however many dates the
  timescale names, and a row with nothing but a progress entry (and its date) is further
  evidence for the step above: that is how actionbot's own board paper (bot/export) writes
  them, so an exported plan imports back into the same plan. A "○" bullet marks a sub-step.
- What a table cannot say (a title set by hand, an undated step, a `due:` override) actionbot's
  own XLSX and DOCX carry beside the table (bot/export/sidecar.py). It is taken only for an
  action whose rows read exactly as they were exported, so an edited cell always wins.
- Every progress entry needs a date, because chasing is driven by how old the last update is;
  an undated one is refused unless the caller supplies the plan's as-of date, and then noted.
- All problems are collected and raised together, each naming the file (and sheet or table), the
  row, the action's ref and the heading as written, because the person fixing them is a business
  manager with the spreadsheet open, not a developer reading a traceback.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import docx
import openpyxl
from docx.opc.exceptions import PackageNotFoundError
from openpyxl.utils.exceptions import InvalidFileException
from pydantic import BaseModel, ValidationError

from bot.plans.canonical import (
    Action,
    Milestone,
    Plan,
    PlanFileError,
    Problem,
    Progress,
    Rag,
    slugify,
)
from bot.plans.load import short_title
from bot.plans.partial_date import PartialDate
from bot.plans.timescale import find_dates, parse_timescale, split_dated_paragraphs, split_timescale
from bot.yamlfile import field_path, message

__all__ = ["read_plan_table", "heading_field", "SUFFIXES", "SYNONYMS"]

SUFFIXES = (".csv", ".xlsx", ".docx")

# What each canonical field may be headed; a heading matches a synonym it equals or starts with
# (as whole words, after lower-casing and dropping punctuation). "action lead" and "action owner"
# are here so that they are not read as the action itself.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "ref": ("ref", "reference", "action number", "action no", "no", "number", "action ref"),
    "lead": (
        "lead",
        "lead (named)",
        "leads",
        "owner",
        "responsible",
        "action lead",
        "action owner",
    ),
    "text": ("action", "specific action", "actions"),
    "timescale": (
        "timescale",
        "timescales",
        "actions and timescales",
        "due",
        "deadline",
        "target date",
    ),
    "progress": (
        "progress",
        "progress (to include update date)",
        "impact and evidence",
        "update",
        "updates",
    ),
    "rag": ("rag", "rag rating", "risk rag rating", "rag status", "status (rag)"),
    "area_for_improvement": ("area for improvement",),
    "key_risk": ("key risk",),
    "date": ("date", "updated", "update date"),
}

_STEPS_AND_TIMESCALES = "actions and timescales"
_CSV_SAMPLE = 64 * 1024
_DELIMITERS = ",;\t"
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_LEAD_SEPARATORS = re.compile(r"\n|;| / ")
_PART_SEPARATORS = re.compile(r"[\n;]")
_LINES = re.compile(r"\n")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(])")
_LETTER = re.compile(r"[^\W\d_]")
_BULLET = re.compile(r"^\s*(?:[•●○◦▪·*–-]|\d+[.)])\s+")
_SUB_BULLET = re.compile(r"^\s*[○◦]\s+")  # Word's second-level bullet: a sub-step
_M = TypeVar("_M", bound=BaseModel)
_RAGS: dict[str, Rag] = {
    "red": "red",
    "amber": "amber",
    "green": "green",
    "r": "red",
    "a": "amber",
    "g": "green",
}


def _normalise(heading: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", heading.lower()))


_BY_LENGTH = sorted(
    ((_normalise(s), name) for name, synonyms in SYNONYMS.items() for s in synonyms),
    key=lambda pair: -len(pair[0]),
)


def heading_field(heading: str) -> str | None:
    """The canonical field a heading names; the longest matching synonym wins, so the most
    specific reading of "Action number" or "Actions and Timescales" is taken."""
    norm = _normalise(heading)
    for synonym, name in _BY_LENGTH:
        if norm == synonym or norm.startswith(synonym + " "):
            return name
    return None


# --- reading the files into grids of text --------------------------------------------------


@dataclass(frozen=True)
class _Row:
    line: int  # as the person editing the file counts: CSV line, sheet row, table row
    cells: list[str]
    merged: frozenset[int] = frozenset()  # columns continuing a merged cell of the row above

    def unmerged(self) -> _Row:
        """The row as a continuation sees it: a merged cell says nothing new."""
        if not self.merged:
            return self
        return _Row(self.line, ["" if i in self.merged else c for i, c in enumerate(self.cells)])


@dataclass(frozen=True)
class _Grid:
    """One table of a file as text, so the plan rules below exist once for all three formats."""

    file: str  # as problems name it: the path, "plan.xlsx[Sheet1]", "plan.docx (table 1)"
    rows: list[_Row]
    title: str | None = None  # text before the table (a Word document's first paragraph)
    # what actionbot's own export carried beside the table, by ref: (digest of the action's
    # rows as exported, its exact fields); see bot/export/sidecar.py
    exact: Mapping[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


def _cell_text(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _unreadable(path: Path, reason: object) -> PlanFileError:
    return PlanFileError([Problem(str(path), None, None, None, f"cannot read: {reason}")])


def _decode(raw: bytes, path: Path) -> str:
    """Council exports are often Windows-encoded; UTF-8 (with or without BOM) is tried first
    because cp1252 would accept most UTF-8 bytes too, misreading them."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise _unreadable(path, f"neither UTF-8 nor Windows-1252 text ({exc})") from None


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(text[:_CSV_SAMPLE], delimiters=_DELIMITERS)
    except csv.Error:  # one column, or too little text to tell: the ordinary comma
        return csv.excel


def _csv_rows(
    text: str, dialect: type[csv.Dialect] | csv.Dialect, delimiter: str, file: str
) -> list[_Row]:
    reader = csv.reader(io.StringIO(text, newline=""), dialect, delimiter=delimiter)
    rows: list[_Row] = []
    start = 1
    try:
        for cells in reader:
            rows.append(_Row(start, [_cell_text(c) for c in cells]))
            start = reader.line_num + 1  # a quoted cell may hold line breaks
    except csv.Error as exc:
        problem = Problem(file, reader.line_num, None, None, f"not valid CSV: {exc}")
        raise PlanFileError([problem]) from None
    return rows


def _read_csv(path: Path) -> list[_Grid]:
    """One grid per delimiter, the sniffed one first. The Sniffer is misled by commas inside
    cells ("£20,000") of a semicolon file, so the others are there for the header search."""
    try:
        text = _decode(path.read_bytes(), path)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    dialect = _dialect(text)
    sniffed = dialect.delimiter
    grids = []
    for delimiter in dict.fromkeys([sniffed, *_DELIMITERS]):
        try:
            grids.append(_Grid(str(path), _csv_rows(text, dialect, delimiter, str(path))))
        except PlanFileError:
            if delimiter == sniffed:
                raise
    return grids


def _xlsx_text(value: object) -> str:
    """Typed cells as a person would write them; dates in words, which find_dates reads."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return f"{value.day:02d} {_MONTHS[value.month - 1]} {value.year}"
    if isinstance(value, time):
        return value.isoformat(timespec="minutes")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a ref typed as a number: 2.0 -> "2"
    return _cell_text(str(value))


def _sheet_rows(sheet: Any) -> list[_Row]:
    return [
        _Row(n, [_xlsx_text(v) for v in values])
        for n, values in enumerate(sheet.iter_rows(min_row=1, values_only=True), 1)
    ]


def _read_xlsx(path: Path) -> list[_Grid]:
    from bot.export import sidecar

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, InvalidFileException, zipfile.BadZipFile, KeyError) as exc:
        raise _unreadable(path, exc) from None
    try:
        sheets, exact = [], {}
        for sheet in book.worksheets:
            sheet.reset_dimensions()  # some writers store a wrong extent; read what is there
            if sheet.title == sidecar.SHEET and sheet.sheet_state != "visible":
                exact = sidecar.read_xlsx(list(sheet.iter_rows(values_only=True)))
            else:
                sheets.append((sheet.title, _sheet_rows(sheet)))
        return [_Grid(f"{path}[{title}]", rows, exact=exact) for title, rows in sheets]
    finally:
        book.close()


def _docx_text(cell: object) -> str:
    return _cell_text("\n".join(p.text for p in cell.paragraphs))  # type: ignore[attr-defined]


def _docx_rows(table: object) -> list[_Row]:
    """python-docx repeats a merged cell in every grid position it covers. A horizontal repeat
    is dropped; a vertical one keeps its text but is marked, so that it gives a new action its
    value (one lead merged over two actions) and a continuation row nothing."""
    rows: list[_Row] = []
    above: list[object | None] = []
    for n, row in enumerate(table.rows, 1):  # type: ignore[attr-defined]
        cells: list[object | None] = [None] * row.grid_cols_before + list(row.cells)
        texts, merged = [], set()
        for i, cell in enumerate(cells):
            if cell is None or (i and _same_cell(cells[i - 1], cell)):
                texts.append("")
                continue
            if i < len(above) and _same_cell(above[i], cell):
                merged.add(i)
            texts.append(_docx_text(cell))
        rows.append(_Row(n, texts, frozenset(merged)))
        above = cells
    return rows


def _same_cell(one: object | None, other: object) -> bool:
    return one is not None and one._tc is other._tc  # type: ignore[attr-defined]


def _read_docx(path: Path) -> list[_Grid]:
    try:
        document = docx.Document(str(path))
    except (OSError, PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise _unreadable(path, exc) from None
    from bot.export import sidecar

    title = next((p.text.strip() for p in document.paragraphs if p.text.strip()), None)
    exact = sidecar.read_docx(document)
    return [
        _Grid(f"{path} (table {n})", _docx_rows(table), title, exact)
        for n, table in enumerate(document.tables, 1)
    ]


_READERS: dict[str, Callable[[Path], list[_Grid]]] = {
    ".csv": _read_csv,
    ".xlsx": _read_xlsx,
    ".docx": _read_docx,
}


# --- finding the header row ----------------------------------------------------------------


@dataclass(frozen=True)
class _Column:
    index: int
    heading: str  # as written, for messages


@dataclass(frozen=True)
class _Header:
    row: _Row
    columns: dict[str, _Column]
    unused: list[str]  # headings that name no field, or a field another column already gives

    @property
    def recognised(self) -> bool:
        return "text" in self.columns and ("ref" in self.columns or "lead" in self.columns)


def _header(row: _Row) -> _Header:
    columns: dict[str, _Column] = {}
    unused: list[str] = []
    for index, heading in enumerate(row.cells):
        name = heading_field(heading) if heading else None
        if name is None or name in columns:
            if heading:
                unused.append(heading)
            continue
        columns[name] = _Column(index, heading)
    steps = columns.get("timescale")
    if "text" not in columns and steps and _normalise(steps.heading) == _STEPS_AND_TIMESCALES:
        # The only action column is "Actions and Timescales": it holds the action, dates inline.
        columns["text"] = columns.pop("timescale")
    return _Header(row, columns, unused)


def _find_header(grid: _Grid) -> _Header | None:
    return next((h for h in map(_header, grid.rows) if h.recognised), None)


def _example(name: str) -> str:
    return ", ".join(s.capitalize() for s in SYNONYMS[name][:3])


def _no_header(grids: Sequence[_Grid], path: Path) -> Problem:
    """Names what was found and what is needed, so the heading can be fixed in the file. The
    row nearest to a header (most columns recognised, the first of equals) is the one shown."""
    candidates = [(grid, _header(row)) for grid in grids for row in grid.rows if any(row.cells)]
    if not candidates:
        return Problem(
            str(path),
            None,
            None,
            None,
            "no table found; expected a header row with columns such as Ref, Lead and Action",
        )
    grid, best = max(candidates, key=lambda c: len(c[1].columns))
    found = ", ".join(f"'{c}'" for c in best.row.cells if c) or "none"
    wanted = []
    if "text" not in best.columns:
        wanted.append(f"an action column (headed e.g. {_example('text')})")
    if "ref" not in best.columns and "lead" not in best.columns:
        wanted.append(f"a ref column ({_example('ref')}) or a lead column ({_example('lead')})")
    return Problem(
        grid.file,
        best.row.line,
        None,
        None,
        f"no header row found: the headings found are {found}; expected {' and '.join(wanted)}",
    )


# --- milestones ----------------------------------------------------------------------------


def _first_sentence(text: str) -> str:
    """What a bare date in the timescale column is the deadline of, as a milestone's text."""
    line = text.strip().split("\n", 1)[0]
    sentence = _SENTENCE_END.split(line, 1)[0].strip()
    cut, raw = split_timescale(sentence)
    return cut if raw is not None and cut != sentence else sentence


def _is_timescale_only(part: str) -> bool:
    """True for "(October 2018)", "March 2018 - Complete" or "Ongoing": such a part names no
    step of its own, so it dates the action (or the row's step) instead."""
    text, raw = split_timescale(part)
    if raw is None or text != part:
        return False
    return not _LETTER.search(part.replace(raw, " ", 1)) if raw in part else True


_COMPLETE_FIRST = re.compile(r"^\s*complete(?:d)?\b", re.IGNORECASE)


def _done(timescale: str) -> bool:
    """Done when the timescale says so, at its end ("July 2018 - Complete") or as its first
    word ("Complete approved by MSCB Executive – May 2018")."""
    ts = parse_timescale(timescale)
    if ts.complete or _COMPLETE_FIRST.match(timescale):
        return True
    return bool(ts.occurrences) and all(o.done for o in ts.occurrences)


def _title(text: str) -> str | None:
    """An action whose first sentence ends with its date in brackets ("Improve audits (October
    2018)") is titled without the date, as the plans' own titles are; None otherwise, for the
    loader's short title of the text."""
    line = text.strip().split("\n", 1)[0]
    sentence = _SENTENCE_END.split(line, 1)[0].strip()
    if not sentence.rstrip(" .").endswith(")"):
        return None
    cut, raw = split_timescale(sentence)
    return short_title(cut) if raw is not None and cut and cut != sentence else None


def _milestone(text: str, timescale: str | None, lead: str | None) -> Milestone:
    """A step; a "; " or "," left at its start by cutting a sentence at a date is dropped."""
    done = _done(timescale) if timescale else False
    return Milestone(
        text=_BULLET.sub("", text).strip().lstrip(";, ") or text,
        timescale=timescale,
        lead=lead,
        done=done,
        depth=1 if _SUB_BULLET.match(text) else 0,
    )


def _timescale_part(part: str, fallback: str, lead: str | None) -> Milestone:
    """One line or ";"-part of a timescale cell. A bare date dates the action (or the
    continuation row's step); a step with a trailing date is cut there; anything else stays
    whole, with the whole part as its timescale, so a date inside it is still read."""
    if _is_timescale_only(part):
        return _milestone(fallback, part, lead)
    text, raw = split_timescale(part)
    if raw is not None and text != part and parse_timescale(raw).kind != "undated":
        return _milestone(text, raw, lead)
    return _milestone(part, part, lead)


def _parts(cell: str, separators: re.Pattern[str]) -> list[str]:
    return [p.strip() for p in separators.split(cell) if p.strip()]


def _inline_milestones(
    text: str, fallback: str, lead: str | None, keep_undated: bool
) -> list[Milestone]:
    """Without a timescale column the dates sit in the action text: a line ending with one
    ("… increase audits (October 2018)") is a milestone. `keep_undated` makes every other line
    one too, as a continuation row's lines are further steps, not the action's wording."""
    found = []
    for line in _parts(text, _LINES):
        if _is_timescale_only(line):
            found.append(_milestone(fallback, line, lead))
            continue
        cut, raw = split_timescale(line)
        if raw is not None and (cut != line or line.rstrip(" .").endswith(raw)):
            found.append(_milestone(cut, raw, lead))
        elif keep_undated:
            found.append(_milestone(line, None, lead))
    return found


# --- rows into actions ---------------------------------------------------------------------


@dataclass
class _Draft:
    """An action while its rows are read; validated as an Action once the table is done."""

    ref: str
    line: int
    text: str
    area_for_improvement: str | None
    key_risk: str | None
    rag: Rag | None
    leads: list[str] = field(default_factory=list)
    timescales: list[str] = field(default_factory=list)
    milestones: list[Milestone] = field(default_factory=list)
    progress: list[Progress] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    step: int | None = None  # the milestone the last step row began, for its further evidence
    rows: list[list[str]] = field(default_factory=list)  # its rows' cells as read, for a digest

    def add_leads(self, leads: Iterable[str]) -> None:
        self.leads.extend(lead for lead in leads if lead not in self.leads)


def _split_leads(cell: str) -> list[str]:
    return _parts(cell, _LEAD_SEPARATORS)


def _excerpt(text: str, length: int = 50) -> str:
    return text if len(text) <= length else text[:length].rsplit(" ", 1)[0] + "…"


class _Table:
    """Reads the data rows under a header into drafts, collecting every problem on the way."""

    def __init__(self, grid: _Grid, header: _Header, as_of: PartialDate | None):
        self.file = grid.file
        self.header = header
        self.columns = header.columns
        self.as_of = as_of
        self.problems: list[Problem] = []
        self.drafts: list[_Draft] = []
        self.current: _Draft | None = None
        self.seen: dict[str, int] = {}
        self.carried: dict[str, str | None] = {"area_for_improvement": None, "key_risk": None}

    # cells

    def cell(self, row: _Row, name: str) -> str:
        column = self.columns.get(name)
        if column is None or column.index >= len(row.cells):
            return ""
        return row.cells[column.index]

    def heading(self, name: str) -> str:
        return self.columns[name].heading

    def problem(self, row: _Row, ref: str | None, name: str, text: str) -> None:
        self.problems.append(Problem(self.file, row.line, ref, self.heading(name), text))

    # rows

    def read(self, rows: Iterable[_Row]) -> None:
        key = "ref" if "ref" in self.columns else "text"
        for row in rows:
            continuing = row.unmerged()
            if not any(continuing.cells) or row.cells == self.header.row.cells:
                continue  # empty, or the header repeated at a page top
            if self.cell(continuing, key):
                self.start(row)
                assert self.current is not None
                self.current.rows.append(row.cells)
            elif self.current is None:
                self.problem(
                    row,
                    None,
                    key,
                    f"the first row has no {self.heading(key)}; a row without one "
                    "continues the action above it, and there is none",
                )
            else:
                self.extend(self.current, continuing)
                self.current.rows.append(row.cells)

    def start(self, row: _Row) -> None:
        ref = self.cell(row, "ref") or str(len(self.drafts) + 1)
        text = self.cell(row, "text")
        for name in self.carried:  # areas and risks head a group of actions (merged cells)
            self.carried[name] = self.cell(row, name) or self.carried[name]
        draft = _Draft(
            ref,
            row.line,
            text,
            self.carried["area_for_improvement"],
            self.carried["key_risk"],
            self.rag(row, ref),
        )
        self.current = draft
        if ref in self.seen:
            self.problem(
                row,
                ref,
                "ref",
                f"duplicate ref: already used by the action at line {self.seen[ref]}",
            )
        else:
            self.seen[ref] = row.line
            self.drafts.append(draft)
        if not text:
            self.problem(row, ref, "text", "the action has no text")
        draft.add_leads(_split_leads(self.cell(row, "lead")))
        timescale = self.cell(row, "timescale")
        if timescale:
            draft.timescales.append(timescale)
            fallback = _first_sentence(text) if text else timescale
            draft.milestones += [
                _timescale_part(p, fallback, None) for p in _parts(timescale, _PART_SEPARATORS)
            ]
        elif "timescale" not in self.columns and text:
            draft.milestones += _inline_milestones(text, _first_sentence(text), None, False)
        self.add_progress(draft, row, None)

    def extend(self, draft: _Draft, row: _Row) -> None:
        """A further lead, step or evidence; the row's evidence is tied to its step."""
        leads = _split_leads(self.cell(row, "lead"))
        draft.add_leads(leads)
        lead = leads[0] if leads else None
        text, timescale = self.cell(row, "text"), self.cell(row, "timescale")
        first = len(draft.milestones) + 1
        parts = _parts(timescale, _PART_SEPARATORS)
        if timescale and text and (len(parts) == 1 or all(map(_is_timescale_only, parts))):
            # the row's own step and when it is due: one step, however many dates it has
            # ("July 2017 - Complete; July 2018; July 2019" is one report, made yearly)
            draft.timescales.append(timescale)
            draft.milestones.append(_milestone(text, timescale, lead))
        elif timescale:
            draft.timescales.append(timescale)
            fallback = text or _first_sentence(draft.text)
            draft.milestones += [_timescale_part(p, fallback, lead) for p in parts]
        elif text:
            draft.milestones += _inline_milestones(text, _first_sentence(draft.text), lead, True)
        self.add_group_fields(draft, row)
        self.add_rag(draft, row)
        if len(draft.milestones) >= first:
            draft.step = first
        elif not self.evidence_only(row):
            draft.step = None
        self.add_progress(draft, row, draft.step)

    def evidence_only(self, row: _Row) -> bool:
        """A row with nothing but a progress entry (and its date) is further evidence for the
        step of the row above, as a second entry for one step is written, or a step's cell
        merged down over its evidence reads."""
        kept = {self.columns[n].index for n in ("progress", "date") if n in self.columns}
        return all(not c for i, c in enumerate(row.cells) if i not in kept)

    def add_group_fields(self, draft: _Draft, row: _Row) -> None:
        """An area or risk written on a continuation row adds to the action's, losing nothing."""
        for name in self.carried:
            value = self.cell(row, name)
            current = getattr(draft, name)
            if value and value != current:
                setattr(draft, name, f"{current}\n{value}" if current else value)

    def add_rag(self, draft: _Draft, row: _Row) -> None:
        """A continuation row may give the RAG the first row left blank, but not a second one:
        which of two ratings holds is for a person to say."""
        rag = self.rag(row, draft.ref)
        if rag and draft.rag and rag != draft.rag:
            self.problem(
                row,
                draft.ref,
                "rag",
                f"the action is already {draft.rag} (line {draft.line}); give one RAG per action",
            )
        draft.rag = draft.rag or rag

    # fields

    def rag(self, row: _Row, ref: str) -> Rag | None:
        value = self.cell(row, "rag")
        if not value:
            return None
        rag = _RAGS.get(value.strip(" .").lower())
        if rag is None:
            self.problem(row, ref, "rag", f"expected red, amber or green, got '{value}'")
        return rag

    def row_date(self, row: _Row, ref: str) -> PartialDate | None:
        value = self.cell(row, "date")
        if not value:
            return None
        mentions = find_dates(value)
        if len(mentions) != 1:
            self.problem(
                row,
                ref,
                "date",
                f"expected one date like October 2018 or 5 October 2018, got '{value}'",
            )
            return None
        return mentions[0].date

    def add_progress(self, draft: _Draft, row: _Row, milestone: int | None) -> None:
        cell = self.cell(row, "progress")
        for text, when in split_dated_paragraphs(cell) if cell else ():
            if when is None:
                when = self.undated(draft, row, text)
            if when is not None:
                draft.progress.append(Progress(date=when, text=text, milestone=milestone))

    def undated(self, draft: _Draft, row: _Row, text: str) -> PartialDate | None:
        """Dated by the row's date column, else the plan's as-of date (noted), else refused."""
        if "date" in self.columns and self.cell(row, "date"):
            return self.row_date(row, draft.ref)
        if self.as_of is not None:
            draft.notes.append(
                f"undated-progress: '{_excerpt(text)}' (line {row.line}) has no date; dated to "
                f"the plan's as-of date {self.as_of.iso()}, check when it was written"
            )
            return self.as_of
        self.problem(
            row,
            draft.ref,
            "progress",
            "this progress text has no date; add one in brackets, e.g. (October 2018)",
        )
        return None


# --- building the plan ---------------------------------------------------------------------


def _validated(
    build: Callable[[], _M], file: str, line: int | None, ref: str | None, problems: list[Problem]
) -> _M | None:
    """pydantic's verdict as Problems, so the file's own line and ref are named."""
    try:
        return build()
    except ValidationError as exc:
        problems += [
            Problem(file, line, ref, field_path(err["loc"]), message(err)) for err in exc.errors()
        ]
        return None


def _exact(draft: _Draft, grid: _Grid) -> dict[str, Any]:
    """The fields actionbot's export carried for the action, while its rows are as exported."""
    from bot.export.sidecar import FIELDS, digest

    stored = grid.exact.get(draft.ref)
    if stored is None or stored[0] != digest(draft.rows):
        return {}
    given = {name: value for name, value in stored[1].items() if name in FIELDS}
    try:
        exact = Action(ref=draft.ref, text=draft.text, **given)
    except ValidationError:
        return {}  # not ours to repair: the table says it all the same
    return {name: getattr(exact, name) for name in given}


def exported_digests(document: object) -> dict[str, str]:
    """Each action's digest as `read_plan_table` will find it in an openpyxl Workbook or a
    python-docx Document being exported (bot/export/sidecar.py), by ref."""
    from bot.export.sidecar import digest

    grids: Iterable[_Grid]  # read one by one: the plan's table is the first with a header
    if isinstance(document, openpyxl.Workbook):
        grids = (_Grid(sheet.title, _sheet_rows(sheet)) for sheet in document.worksheets)
    else:
        grids = (_Grid("", _docx_rows(table)) for table in document.tables)  # type: ignore[attr-defined]
    found = next(((g, h) for g in grids if (h := _find_header(g)) is not None), None)
    if found is None:
        return {}
    grid, header = found
    table = _Table(grid, header, None)
    table.read(_rows_below(grid, header))
    return {d.ref: digest(d.rows) for d in table.drafts}


def _action(draft: _Draft, exact: Mapping[str, Any]) -> Action:
    return Action(
        ref=draft.ref,
        title=_title(draft.text),
        area_for_improvement=draft.area_for_improvement,
        key_risk=draft.key_risk,
        text=draft.text,
        leads=draft.leads,
        timescale="\n".join(draft.timescales)
        or "; ".join(m.timescale for m in draft.milestones if m.timescale)
        or None,
        milestones=draft.milestones,
        rag=draft.rag,
        progress=draft.progress,
        notes=draft.notes,
    ).model_copy(update=exact)


def _rows_below(grid: _Grid, header: _Header) -> list[_Row]:
    position = next(i for i, row in enumerate(grid.rows) if row is header.row)
    return grid.rows[position + 1 :]


def _title_above(grid: _Grid, header: _Header) -> str | None:
    """A sheet's title row: the first text above the header row."""
    for row in grid.rows:
        if row is header.row:
            return None
        text = next((c for c in row.cells if c), None)
        if text:
            return text
    return None


def _plan_notes(header: _Header) -> list[str]:
    notes = []
    if header.unused:
        listed = ", ".join(f"'{h}'" for h in header.unused)
        notes.append(f"unused-columns: {listed} not imported (no field, or one already read)")
    if "ref" not in header.columns:
        notes.append("numbered-refs: the table has no ref column; actions are numbered in order")
    return notes


def read_plan_table(
    path: Path | str,
    plan_id: str | None = None,
    title: str | None = None,
    *,
    as_of: PartialDate | None = None,
) -> Plan:
    """Reads a plan kept as a CSV, XLSX or Word table; raises PlanFileError with every problem.

    `as_of` is the date of this version of the plan: it dates progress written without one
    (each such entry is noted on its action) instead of refusing the file.
    """
    path = Path(path)
    reader = _READERS.get(path.suffix.lower())
    if reader is None:
        raise PlanFileError(
            [
                Problem(
                    str(path),
                    None,
                    None,
                    None,
                    f"cannot import a '{path.suffix}' file; expected one of {', '.join(SUFFIXES)}",
                )
            ]
        )
    grids = reader(path)
    found = next(((g, h) for g in grids if (h := _find_header(g)) is not None), None)
    if found is None:
        raise PlanFileError([_no_header(grids, path)])
    grid, header = found
    table = _Table(grid, header, as_of)
    table.read(_rows_below(grid, header))
    if table.problems:  # pydantic would only repeat them, less clearly
        raise PlanFileError(table.problems)
    problems: list[Problem] = []
    actions = [
        _validated(partial(_action, d, _exact(d, grid)), grid.file, d.line, d.ref, problems)
        for d in table.drafts
    ]
    if problems:
        raise PlanFileError(problems)
    plan = _validated(
        lambda: Plan(
            id=plan_id or slugify(path.stem),
            title=title or grid.title or _title_above(grid, header) or path.stem,
            as_of=as_of,
            source=path.name,
            actions=[a for a in actions if a is not None],
            notes=_plan_notes(header),
        ),
        grid.file,
        None,
        None,
        problems,
    )
    if plan is None:
        raise PlanFileError(problems)
    return plan
