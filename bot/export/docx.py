"""The plan as a Word document: a cover page with the summary, then the plan's table.

The document's first paragraph is the plan's title (what the importer takes as the title), and
the cover's tables have no heading row the importer would take for a plan's (no "Action"
heading beside a "Ref" or "Lead"), so `actionbot import` reads the plan's table. Pages are A4
landscape; the page header says the plan and its "as of" day on every page, the footer the
page number, and the table's header row repeats at the top of each page.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import docx
from docx.enum.section import WD_ORIENT
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_BREAK, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Inches, Length, Pt, RGBColor
from docx.table import Table, _Cell
from docx.text.paragraph import Paragraph

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

__all__ = ["write_docx"]

FONT = "Arial"
SIZE = Pt(8.5)
PAGE_WIDTH, PAGE_HEIGHT = Cm(29.7), Cm(21.0)
MARGIN = Cm(1.3)
TEXT_WIDTH = PAGE_WIDTH - 2 * MARGIN


def write_docx(table: PlanTable, cover: Cover, path: Path) -> None:
    document = docx.Document()
    normal = document.styles["Normal"]
    normal.font.name = FONT  # type: ignore[attr-defined]
    normal.font.size = SIZE  # type: ignore[attr-defined]
    normal.paragraph_format.space_after = Pt(0)  # type: ignore[attr-defined]
    _page(document, cover)
    _write_cover(document, cover)
    document.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    _write_plan(document, table)
    document.core_properties.title = f"{cover.title}, as of {cover.as_of}"
    document.core_properties.author = "actionbot"
    sidecar.write_docx(document, table.exact, exported_digests(document))
    document.save(str(path))


def _page(document: docx.document.Document, cover: Cover) -> None:
    section = document.sections[0]
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, MARGIN)
    section.header_distance = section.footer_distance = Cm(0.6)
    header = section.header.paragraphs[0]
    _right_tab(header)
    _run(header, cover.title, bold=True)
    _run(header, f"\tAs of {cover.as_of}", bold=True)
    footer = section.footer.paragraphs[0]
    _right_tab(footer)
    _run(footer, f"actionbot export of {cover.plan_id}\tPage ", size=Pt(7.5))
    _field(footer, "PAGE")
    _run(footer, " of ", size=Pt(7.5))
    _field(footer, "NUMPAGES")


def _right_tab(paragraph: Paragraph) -> None:
    """One tab stop, at the right margin: the Header and Footer styles' own stops (centre and
    right of a portrait page) are cleared."""
    stops = paragraph.paragraph_format.tab_stops
    for position in (Inches(3.25), Inches(6.5)):
        stops.add_tab_stop(position, WD_TAB_ALIGNMENT.CLEAR)
    stops.add_tab_stop(TEXT_WIDTH, WD_TAB_ALIGNMENT.RIGHT)


# --- the plan's table ---------------------------------------------------------------------------


def _write_plan(document: docx.document.Document, table: PlanTable) -> None:
    rows = list(table.rows)
    columns = table.layout.columns
    if rows and rows[0].kind == "section":
        # A heading above the first action would be read as a row with no ref: it goes
        # above the table, and the header row stays first so that it repeats on every page.
        above = document.add_paragraph()
        _shade_paragraph(above, SECTION_FILL)
        _run(above, rows[0].cells[0].text, bold=True, size=Pt(9.5))
        rows = rows[1:]
    grid = document.add_table(rows=1 + len(rows), cols=len(columns))
    grid.style = document.styles["Table Grid"]
    grid.alignment = WD_TABLE_ALIGNMENT.CENTER
    grid.autofit = False
    _narrow_margins(grid)
    total = sum(c.width for c in columns)
    _set_widths(grid, [Length(int(TEXT_WIDTH * c.width / total)) for c in columns])
    # Cells by row and column, taken once: python-docx finds a cell by walking the table.
    cells = [[_Cell(tc, grid) for tc in tr.tc_lst] for tr in grid._tbl.tr_lst]
    _repeat_header(grid.rows[0])
    for target, heading in zip(cells[0], table.headings, strict=True):
        _shade(target, HEADER_FILL)
        if heading:  # an empty run would make a merge keep the cell's paragraph
            _write(target, heading, bold=True, colour=HEADER_TEXT)
    for index, row in enumerate(rows, 1):
        if row.kind == "section":
            continue
        for target, cell in zip(cells[index], row.cells, strict=True):
            if cell.text or cell.rag:
                _cell(target, cell)
    skipped = len(table.rows) - len(rows)
    for span in table.spans:
        _merge_down(cells, span.column, span.first - skipped + 1, span.last - skipped + 1)
    # Merged across last, since a merge across changes which cell is at which index.
    suggested = table.layout.index("suggested")
    if suggested is not None:
        cells[0][suggested - 1].merge(cells[0][suggested])
    for index, row in enumerate(rows, 1):
        if row.kind == "section":
            merged = cells[index][0].merge(cells[index][-1])
            _shade(merged, SECTION_FILL)
            _write(merged, row.cells[0].text, bold=True, size=Pt(9.5))


def _merge_down(cells: list[list[_Cell]], column: int, first: int, last: int) -> None:
    """A vertical merge as Word writes it: the top cell restarts it, the ones below continue
    it, keeping an empty paragraph each (what python-docx's merge does, without walking the
    whole table for every merge)."""
    for row in range(first, last + 1):
        merge = OxmlElement("w:vMerge")
        if row == first:
            merge.set(qn("w:val"), "restart")
        cells[row][column]._tc.get_or_add_tcPr().append(merge)


def _cell(target: _Cell, cell: Cell) -> None:
    colour = None
    if cell.rag:
        fill, colour = (SUGGESTED_FILLS if cell.suggested else RAG_FILLS)[cell.rag]
        _shade(target, fill)
    paragraphs = cell.text.split("\n")
    _write(target, paragraphs[0], bold=cell.bold, italic=cell.suggested, colour=colour)
    for text in paragraphs[1:]:
        _run(target.add_paragraph(), text, bold=cell.bold, italic=cell.suggested, colour=colour)
    if cell.depth:
        for p in target.paragraphs:
            p.paragraph_format.left_indent = Cm(0.4 * cell.depth)


def _set_widths(grid: Table, widths: Sequence[Length]) -> None:
    """Word reads each cell's width, LibreOffice the table's grid: both are set."""
    for column, width in zip(grid.columns, widths, strict=True):
        column.width = width
    for tr in grid._tbl.tr_lst:
        for tc, width in zip(tr.tc_lst, widths, strict=True):
            tc.width = width


def _narrow_margins(grid: Table) -> None:
    """0.1 cm either side of a cell's text instead of Word's 0.19: a wide table needs it."""
    margins = OxmlElement("w:tblCellMar")
    for side in ("left", "right"):
        margin = OxmlElement(f"w:{side}")
        margin.set(qn("w:w"), "57")
        margin.set(qn("w:type"), "dxa")
        margins.append(margin)
    grid._tbl.tblPr.append(margins)


def _repeat_header(row) -> None:  # type: ignore[no-untyped-def]
    properties = row._tr.get_or_add_trPr()
    repeat = OxmlElement("w:tblHeader")
    repeat.set(qn("w:val"), "true")
    properties.append(repeat)


# --- the cover ----------------------------------------------------------------------------------


def _write_cover(document: docx.document.Document, cover: Cover) -> None:
    title = document.add_paragraph()
    _run(title, cover.title, bold=True, size=Pt(18))
    as_of = document.add_paragraph()
    _run(as_of, f"As of {cover.as_of}", bold=True, size=Pt(12))
    _para(document, about(cover))

    _heading(document, "RAG ratings")
    if cover.rag_definitions:
        legend = _small_table(
            document,
            ["RAG", "What the plan says it means"],
            [3, 24],
            [[rag.capitalize(), meaning] for rag, meaning in cover.rag_definitions],
        )
        for row, (rag, _meaning) in zip(legend.rows[1:], cover.rag_definitions, strict=True):
            cell = row.cells[0]
            _shade(cell, RAG_FILLS[rag][0])
            cell.paragraphs[0].runs[0].font.color.rgb = RGBColor.from_string(
                hex_colour(RAG_FILLS[rag][1])
            )
            cell.paragraphs[0].runs[0].bold = True
    else:
        _para(document, "The plan does not define its RAG ratings.")
    _para(document, SUGGESTED_NOTE, italic=True)

    _heading(document, "Actions by organisation (the first lead's)")
    counts = _small_table(
        document,
        ["Organisation", "Total", "Red", "Amber", "Green", "Without RAG", "Overdue", "Escalated"],
        [8, 2, 3, 3, 3, 2.5, 2, 2.5],
        [row.cells() for row in (*cover.by_organisation, cover.total)],
    )
    for cell in counts.rows[-1].cells:
        cell.paragraphs[0].runs[0].bold = True

    _heading(document, f"Overdue on {cover.as_of} ({len(cover.overdue)})")
    _listed(document, cover.overdue)
    _heading(document, f"Escalated above the lead ({len(cover.escalated)})")
    _listed(document, cover.escalated)
    _heading(document, cover.since)
    for change in cover.changes:
        _para(document, change, style="List Bullet")


def _listed(document: docx.document.Document, actions: Sequence[ListedAction]) -> None:
    if not actions:
        _para(document, "None.")
        return
    _small_table(
        document,
        ["Ref", "Title", "Led by", "Due", "Days overdue", "With", "Last update"],
        [1.5, 9, 5, 2.2, 2, 4, 2.3],
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
    )


def _small_table(
    document: docx.document.Document,
    headings: list[str],
    shares: list[float],
    rows: list[list[str]],
) -> Table:
    """A cover table, its header row repeating; every text a non-empty run (never "")."""
    grid = document.add_table(rows=1 + len(rows), cols=len(headings))
    grid.style = document.styles["Table Grid"]
    grid.autofit = False
    total = sum(shares)
    _set_widths(grid, [Length(int(TEXT_WIDTH * s / total)) for s in shares])
    _repeat_header(grid.rows[0])
    for cell, heading in zip(grid.rows[0].cells, headings, strict=True):
        _shade(cell, HEADER_FILL)
        _write(cell, heading, bold=True, colour=HEADER_TEXT)
    for row, values in zip(grid.rows[1:], rows, strict=True):
        for cell, text in zip(row.cells, values, strict=True):
            _write(cell, text or " ")
    return grid


def _heading(document: docx.document.Document, text: str) -> None:
    paragraph = document.add_paragraph()
    paragraph.paragraph_format.space_before = Pt(10)
    paragraph.paragraph_format.space_after = Pt(3)
    paragraph.paragraph_format.keep_with_next = True
    _run(paragraph, text, bold=True, size=Pt(11))


def _para(
    document: docx.document.Document, text: str, italic: bool = False, style: str | None = None
) -> Paragraph:
    paragraph = document.add_paragraph(style=style)
    paragraph.paragraph_format.space_after = Pt(3)
    _run(paragraph, text, italic=italic, size=Pt(9.5))
    return paragraph


# --- runs, shading, fields ------------------------------------------------------------------------


def _write(
    cell: _Cell,
    text: str,
    bold: bool = False,
    italic: bool = False,
    colour: str | None = None,
    size: Pt | None = None,
) -> None:
    _run(cell.paragraphs[0], text, bold=bold, italic=italic, colour=colour, size=size)


def _run(
    paragraph: Paragraph,
    text: str,
    bold: bool = False,
    italic: bool = False,
    colour: str | None = None,
    size: Pt | None = None,
) -> None:
    run = paragraph.add_run(text)
    run.bold = bold or None
    run.italic = italic or None
    if colour:
        run.font.color.rgb = RGBColor.from_string(hex_colour(colour))
    if size:
        run.font.size = size


def _shade(cell: _Cell, colour: str) -> None:
    cell._tc.get_or_add_tcPr().append(_shading(colour))


def _shade_paragraph(paragraph: Paragraph, colour: str) -> None:
    paragraph._p.get_or_add_pPr().append(_shading(colour))


def _shading(colour: str) -> Any:
    """A solid fill (python-docx has no API for cell or paragraph shading)."""
    shading = OxmlElement("w:shd")
    shading.set(qn("w:val"), "clear")
    shading.set(qn("w:color"), "auto")
    shading.set(qn("w:fill"), hex_colour(colour))
    return shading


def _field(paragraph: Paragraph, code: str) -> None:
    """A field Word and LibreOffice fill in when the page is drawn: PAGE, NUMPAGES."""
    run = paragraph.add_run()
    run.font.size = Pt(7.5)
    for kind, text in (("begin", None), ("instr", code), ("separate", None), ("end", None)):
        if kind == "instr":
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = f" {text} "
            run._r.append(instr)
            continue
        char = OxmlElement("w:fldChar")
        char.set(qn("w:fldCharType"), kind)
        run._r.append(char)
        if kind == "separate":
            placeholder = OxmlElement("w:t")
            placeholder.text = "1"
            run._r.append(placeholder)
