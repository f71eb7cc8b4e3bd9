"""The plan as an Excel workbook: a Cover sheet with the summary, then the Plan sheet.

The Plan sheet starts with the plan's title (what the importer takes as the title), then the
"as of" line, then the header row; the Cover sheet has no row the importer would take for a
plan's header (no "Action" heading beside a "Ref" or "Lead"), so `actionbot import` reads the
Plan sheet. Every sheet prints landscape on A4, one page wide, with the plan's title and its
"as of" day in the page header and the header row repeated on each page.

Row heights are set here, since neither Excel nor LibreOffice grows a row for text in merged
cells: each is estimated from the text and the column widths, generously.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

from openpyxl import Workbook
from openpyxl.cell.cell import Cell as SheetCell
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from bot.export import sidecar
from bot.export.cover import Cover, ListedAction
from bot.export.layout import Cell, PlanTable
from bot.export.style import (
    HEADER_FILL,
    HEADER_TEXT,
    RAG_FILLS,
    SECTION_FILL,
    SUGGESTED_FILLS,
    SUGGESTED_NOTE,
    about,
    due_text,
    hex_colour,
)
from bot.plans.tabular import exported_digests

__all__ = ["write_xlsx", "COVER_SHEET", "PLAN_SHEET"]

COVER_SHEET = "Cover"
PLAN_SHEET = "Plan"
FONT = "Arial"
SIZE = 9
COVER_SIZE = 10
# Characters of 10 pt text that fit one unit of column width (a "0" of the workbook's 11 pt
# default font): under what Arial fits, since a long word wraps early and LibreOffice without
# Arial or its metric twin draws the wider DejaVu Sans, which clips a row sized for Arial.
CHARS_PER_UNIT_10PT = 1.1
_THIN = Side(style="thin", color="B1B4B6")
BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
WRAP = Alignment(wrap_text=True, vertical="top")


def write_xlsx(table: PlanTable, cover: Cover, path: Path) -> None:
    book = Workbook()
    cover_sheet = book.active
    assert cover_sheet is not None
    cover_sheet.title = COVER_SHEET
    _write_cover(cover_sheet, cover)
    plan_sheet = book.create_sheet(PLAN_SHEET)
    _write_plan(plan_sheet, table, cover)
    for ws in (cover_sheet, plan_sheet):
        _page(ws, cover)
    book.active = 0
    sidecar.write_xlsx(book, table.exact, exported_digests(book))
    book.save(path)


# --- the Plan sheet ---------------------------------------------------------------------------


def _write_plan(ws: Worksheet, table: PlanTable, cover: Cover) -> None:
    columns = table.layout.columns
    for n, column in enumerate(columns, 1):
        ws.column_dimensions[get_column_letter(n)].width = column.width
    _text(ws, 1, 1, cover.title, _font(size=14, bold=True), wrap=False)
    _text(ws, 2, 1, f"As of {cover.as_of}", _font(size=11, bold=True), wrap=False)
    ws.row_dimensions[1].height, ws.row_dimensions[2].height = 21, 17
    # The importer reads from the header down, and a section heading there would stand before
    # the first action with no ref: the first heading goes above the header instead.
    lifted = bool(table.rows) and table.rows[0].kind == "section"
    header = 4 if lifted else 3
    if lifted:
        _section(ws, 3, table.rows[0].cells[0], len(columns))
    for n, heading in enumerate(table.headings, 1):
        cell = _text(ws, header, n, heading, _font(bold=True, colour=HEADER_TEXT))
        cell.fill = _fill(HEADER_FILL)
        cell.border = BORDER
        if columns[n - 1].key == "suggested":  # under "RAG rating", a column nobody imports
            ws.merge_cells(start_row=header, start_column=n - 1, end_row=header, end_column=n)
    ws.row_dimensions[header].height = _height(
        [(h, c.width) for h, c in zip(table.headings, columns, strict=True)]
    )

    def line(index: int) -> int:  # the sheet row of table row `index`
        return header + index + (0 if lifted else 1)

    covered = {(r, s.column) for s in table.spans for r in range(s.first + 1, s.last + 1)}
    spanned = {(s.first, s.column) for s in table.spans}
    for index, row in enumerate(table.rows):
        if index == 0 and lifted:
            continue
        if row.kind == "section":
            _section(ws, line(index), row.cells[0], len(columns))
            continue
        for n, cell in enumerate(row.cells):
            if (index, n) not in covered:
                _body(ws.cell(row=line(index), column=n + 1), cell)
            else:
                ws.cell(row=line(index), column=n + 1).border = BORDER
        ws.row_dimensions[line(index)].height = _height(
            [
                (cell.text, columns[n].width)
                for n, cell in enumerate(row.cells)
                if (index, n) not in spanned and (index, n) not in covered
            ]
        )
    for span in table.spans:
        top, bottom = line(span.first), line(span.last)
        ws.merge_cells(
            start_row=top, start_column=span.column + 1, end_row=bottom, end_column=span.column + 1
        )
        text = table.rows[span.first].cells[span.column].text
        needed = _height([(text, columns[span.column].width)])
        have = sum(ws.row_dimensions[r].height or 0 for r in range(top, bottom + 1))
        if needed > have:
            extra = needed - have
            ws.row_dimensions[bottom].height = (ws.row_dimensions[bottom].height or 0) + extra
    ws.freeze_panes = ws.cell(row=header + 1, column=1)
    ws.print_title_rows = f"{header}:{header}"


def _section(ws: Worksheet, row: int, cell: Cell, width: int) -> None:
    target = _text(ws, row, 1, cell.text, _font(size=SIZE + 1, bold=True))
    target.fill = _fill(SECTION_FILL)
    target.border = BORDER
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=width)
    ws.row_dimensions[row].height = _height([(cell.text, 150.0)], SIZE + 1)


def _body(target: SheetCell, cell: Cell) -> None:
    _set(target, cell.text)
    target.border = BORDER
    target.alignment = Alignment(wrap_text=True, vertical="top", indent=cell.depth * 2)
    colour = None
    if cell.rag and cell.suggested:
        target.fill = _fill(SUGGESTED_FILLS[cell.rag][0])
        colour = SUGGESTED_FILLS[cell.rag][1]
    elif cell.rag:
        target.fill = _fill(RAG_FILLS[cell.rag][0])
        colour = RAG_FILLS[cell.rag][1]
    target.font = _font(bold=cell.bold, italic=cell.suggested, colour=colour)


# --- the Cover sheet --------------------------------------------------------------------------

_COVER_WIDTHS = (30, 56, 26, 13, 13, 13, 13, 13, 13)


def _write_cover(ws: Worksheet, cover: Cover) -> None:
    for n, w in enumerate(_COVER_WIDTHS, 1):
        ws.column_dimensions[get_column_letter(n)].width = w
    _text(ws, 1, 1, cover.title, _font(size=16, bold=True), wrap=False)
    _text(ws, 2, 1, f"As of {cover.as_of}", _font(size=12, bold=True), wrap=False)
    ws.row_dimensions[1].height, ws.row_dimensions[2].height = 24, 18
    r = _line(ws, 3, about(cover)) + 1
    r = _heading(ws, r, "RAG ratings")
    for rag, meaning in cover.rag_definitions:
        cell = _text(
            ws, r, 1, rag.capitalize(), _font(COVER_SIZE, bold=True, colour=RAG_FILLS[rag][1])
        )
        cell.fill = _fill(RAG_FILLS[rag][0])
        _text(ws, r, 2, meaning, _font(COVER_SIZE))
        ws.merge_cells(start_row=r, start_column=2, end_row=r, end_column=len(_COVER_WIDTHS))
        ws.row_dimensions[r].height = _height([(meaning, sum(_COVER_WIDTHS[1:]))], COVER_SIZE)
        r += 1
    if not cover.rag_definitions:
        r = _line(ws, r, "The plan does not define its RAG ratings.")
    r = _line(ws, r, SUGGESTED_NOTE)
    r += 1

    r = _heading(ws, r, "Actions by organisation (the first lead's)")
    r = _grid(
        ws,
        r,
        ["Organisation", "Total", "Red", "Amber", "Green", "Without RAG", "Overdue", "Escalated"],
        [row.cells() for row in cover.by_organisation],
        total=cover.total.cells(),
        spread=True,
        numeric=(3, 4, 5, 6, 7, 8, 9),
    )
    r += 1
    r = _heading(ws, r, f"Overdue on {cover.as_of} ({len(cover.overdue)})")
    r = _listed(ws, r, cover.overdue) if cover.overdue else _line(ws, r, "None.")
    r += 1
    r = _heading(ws, r, f"Escalated above the lead ({len(cover.escalated)})")
    r = _listed(ws, r, cover.escalated) if cover.escalated else _line(ws, r, "None.")
    r += 1
    r = _heading(ws, r, cover.since)
    for change in cover.changes:
        r = _line(ws, r, change)


def _listed(ws: Worksheet, r: int, actions: Sequence[ListedAction]) -> int:
    return _grid(
        ws,
        r,
        ["Ref", "Title", "Led by", "Due", "Days overdue", "With", "Last update"],
        [
            [
                a.ref,
                a.title,
                a.leads,
                due_text(a.due),
                str(a.days_overdue) if a.days_overdue else "",
                a.level,
                a.last_update or "none",
            ]
            for a in actions
        ],
        numeric=(5,),
    )


def _grid(
    ws: Worksheet,
    r: int,
    headings: list[str],
    rows: Iterable[list[str]],
    total: list[str] | None = None,
    spread: bool = False,
    numeric: Sequence[int] = (),
) -> int:
    """A small table; `spread` puts the first column's text across the first two columns."""
    columns = list(range(1, len(headings) + 1))
    if spread:
        columns = [1] + [c + 1 for c in columns[1:]]
    for n, heading in zip(columns, headings, strict=True):
        cell = _text(ws, r, n, heading, _font(COVER_SIZE, bold=True, colour=HEADER_TEXT))
        cell.fill = _fill(HEADER_FILL)
        cell.border = BORDER
    if spread:
        ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=2)
    r += 1
    for values, bold in [*((v, False) for v in rows), *([(total, True)] if total else [])]:
        assert values is not None
        for n, value in zip(columns, values, strict=True):
            cell = _text(ws, r, n, value, _font(COVER_SIZE, bold=bold))
            cell.border = BORDER
            if n in numeric and value.isdigit():  # a number, so Excel does not flag it as text
                cell.value = int(value)
        if spread:
            ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=2)
        widths = [_COVER_WIDTHS[0] + (_COVER_WIDTHS[1] if spread else 0), *_COVER_WIDTHS[1:]]
        ws.row_dimensions[r].height = _height(
            list(zip(values, widths[: len(values)], strict=False))
        )
        r += 1
    return r


def _heading(ws: Worksheet, r: int, text: str) -> int:
    _text(ws, r, 1, text, _font(size=11, bold=True), wrap=False)
    ws.row_dimensions[r].height = 18
    return r + 1


def _line(ws: Worksheet, r: int, text: str) -> int:
    _text(ws, r, 1, text, _font(COVER_SIZE))
    ws.merge_cells(start_row=r, start_column=1, end_row=r, end_column=len(_COVER_WIDTHS))
    ws.row_dimensions[r].height = _height([(text, sum(_COVER_WIDTHS))], COVER_SIZE)
    return r + 1


# --- shared -------------------------------------------------------------------------------------


def _page(ws: Worksheet, cover: Cover) -> None:
    """Landscape A4, one page wide; the title and "as of" day on every page."""
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.6
    ws.page_margins.header = ws.page_margins.footer = 0.25
    ws.oddHeader.left.text = _escape(cover.title)
    ws.oddHeader.left.size = 9
    ws.oddHeader.right.text = f"As of {cover.as_of}"
    ws.oddHeader.right.size = 9
    ws.oddFooter.left.text = "actionbot export"
    ws.oddFooter.left.size = 8
    ws.oddFooter.right.text = "Page &P of &N"
    ws.oddFooter.right.size = 8


def _escape(text: str) -> str:
    """An ampersand starts a code in a page header ("&P"); written twice it is itself."""
    return text.replace("&", "&&")


def _text(
    ws: Worksheet, row: int, column: int, text: str, font: Font, wrap: bool = True
) -> SheetCell:
    cell = ws.cell(row=row, column=column)
    _set(cell, text)
    cell.font = font
    cell.alignment = WRAP if wrap else Alignment(vertical="top")
    return cell


def _set(cell: SheetCell, text: str) -> None:
    """Text stays text: openpyxl would store "=HYPERLINK(…)" from a lead's reply as a formula
    for Excel to run, so such a value is marked a string."""
    cell.value = text or None
    if text.startswith("="):
        cell.data_type = "s"


def _font(
    size: float = SIZE, bold: bool = False, italic: bool = False, colour: str | None = None
) -> Font:
    return Font(
        name=FONT,
        size=size,
        bold=bold,
        italic=italic,
        color="FF" + hex_colour(colour) if colour else None,
    )


def _fill(colour: str) -> PatternFill:
    return PatternFill(fill_type="solid", fgColor="FF" + hex_colour(colour))


def _height(cells: Sequence[tuple[str, float]], size: float = SIZE) -> float:
    """Points for the tallest cell of a row: its paragraphs wrapped at the column's width."""
    lines = 1
    for text, width in cells:
        per_line = max(1.0, width * CHARS_PER_UNIT_10PT * 10 / size)
        wrapped = sum(max(1, math.ceil(len(p) / per_line)) for p in (text or "").split("\n"))
        lines = max(lines, wrapped)
    return round(lines * size * 1.3 + 4, 1)
