"""The plan as one web page, from `templates/plan-export.html.j2`, for a browser or to print.

The template runs in a sandbox with StrictUndefined and autoescaping, as the e-mail templates
do (bot/notify/render.py): everything shown is user text. The page prints A4 landscape; the
plan's title and "as of" day are in the page margins (`@page`, for engines that draw margin
boxes) and in the table's repeated header row (`<thead>`, which browsers print atop every
page), and at the top of the page.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from bot.export.cover import Cover
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
)
from bot.notify.render import TEMPLATES

__all__ = ["TEMPLATE", "render_html", "write_html"]

TEMPLATE = "plan-export.html.j2"
NARROWEST = 14.0  # narrower, LibreOffice wraps "Action number" and "Update date" mid-word


@dataclass(frozen=True)
class HtmlCell:
    cell: Cell
    rowspan: int
    key: str  # the column's key, for its CSS class


@dataclass(frozen=True)
class HtmlRow:
    kind: str
    cells: tuple[HtmlCell, ...]  # the cells not covered by a merged cell above


@dataclass(frozen=True)
class Heading:
    text: str
    colspan: int
    key: str
    width: float  # of the columns it stands over


def write_html(table: PlanTable, cover: Cover, path: Path) -> None:
    path.write_text(render_html(table, cover, TEMPLATES), encoding="utf-8")


def render_html(table: PlanTable, cover: Cover, templates: Path) -> str:
    template = _environment(templates.resolve()).get_template(TEMPLATE)
    return template.render(
        cover=cover,
        headings=_headings(table),
        rows=_rows(table),
        columns=[c for c in table.layout.columns if c.key != "section"],
        about=about(cover),
        suggested_note=SUGGESTED_NOTE,
        colours={"header": (HEADER_FILL, HEADER_TEXT), "section": SECTION_FILL},
    )


def _headings(table: PlanTable) -> list[Heading]:
    """ "RAG rating" stands over both RAG columns, the one set and the one suggested."""
    headings: list[Heading] = []
    for column in table.layout.columns:
        if column.key == "section":
            continue
        if column.key == "suggested" and headings:
            last = headings[-1]
            headings[-1] = Heading(last.text, last.colspan + 1, last.key, last.width + column.width)
        else:
            headings.append(Heading(column.heading, 1, column.key, max(column.width, NARROWEST)))
    return headings


def _rows(table: PlanTable) -> list[HtmlRow]:
    """Rows with their cells merged down as `rowspan`s. The narrow first column that holds
    section headings for the importer's sake is left out: a page needs no such trick, and
    LibreOffice's HTML import stalls on a table with rowspans beside such a column."""
    spans = {(s.first, s.column): s.last - s.first + 1 for s in table.spans}
    covered = {(r, s.column) for s in table.spans for r in range(s.first + 1, s.last + 1)}
    keys = [c.key for c in table.layout.columns]
    out = []
    for index, row in enumerate(table.rows):
        if row.kind == "section":
            out.append(HtmlRow("section", (HtmlCell(row.cells[0], 1, "section"),)))
            continue
        out.append(
            HtmlRow(
                row.kind,
                tuple(
                    HtmlCell(cell, spans.get((index, n), 1), keys[n])
                    for n, cell in enumerate(row.cells)
                    if (index, n) not in covered and keys[n] != "section"
                ),
            )
        )
    return out


@functools.cache
def _environment(folder: Path) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        fill=fill, rag_fill=RAG_FILLS.__getitem__, css_string=css_string, due=due_text
    )
    return env


def fill(cell: Cell) -> tuple[str, str] | None:
    """(background, text) of a RAG cell: full colour when set, pale when only suggested."""
    if not cell.rag:
        return None
    return (SUGGESTED_FILLS if cell.suggested else RAG_FILLS)[cell.rag]


def css_string(text: str) -> Markup:
    """Text as a quoted CSS string for `content:`, safe inside <style>: anything but letters,
    digits and spaces is written as a hex escape, so no quote, backslash or "</style>" in a
    plan's title can end the string or the style sheet."""
    escaped = "".join(
        ch if ch.isascii() and (ch.isalnum() or ch == " ") else f"\\{ord(ch):06x}" for ch in text
    )
    return Markup(f'"{escaped}"')
