"""What the board paper's table cannot say, carried inside the file so that it imports back exact.

A plan table has no place for some of what a plan holds: a title set by hand, a step without a
date in brackets, a step's `due:` that overrides its timescale, a progress entry whose own text
has a date in brackets (the importer cuts it there), timescales given only to the steps. So the
XLSX and DOCX carry, beside the table, each action's exact title, timescale, steps and progress
as JSON: in a very hidden sheet of the workbook, and in a custom XML part of the Word document
(python-docx keeps a part it does not know as bytes, and Word keeps custom XML parts it is
given; core properties are too small and are shown to the reader).

Each action's values are stored with a digest of the text of its table rows as the importer
reads them (bot/plans/tabular.py). The importer takes the values only while the digest is the
same, so a board member's edit to any of an action's cells always wins over what was exported;
an action edited, or a file without this data, is read from the table alone, as before.
The data is JSON written as plain text (never a formula), and anything in it the importer cannot
read is ignored, since the table is always there to fall back on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any
from xml.etree import ElementTree

from bot.plans.canonical import Milestone
from bot.plans.load import expand_milestone
from bot.store import ActionView, MilestoneView

__all__ = [
    "FIELDS",
    "PART_NAME",
    "SHEET",
    "digest",
    "exact_values",
    "read_docx",
    "read_xlsx",
    "write_docx",
    "write_xlsx",
]

SHEET = "actionbot"  # very hidden: Excel's own menus cannot show it
_NAMESPACE = "urn:actionbot:export:exact:1"
PART_NAME = "/customXml/actionbot-exact.xml"
_CUSTOM_XML = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/customXml"
_CELL_LIMIT = 32767  # the most text an Excel cell holds; a longer action is not carried

Exact = dict[str, Any]  # an action's fields as canonical.Action takes them
FIELDS = ("title", "timescale", "milestones", "progress")  # what the importer takes from it


def digest(rows: Sequence[Sequence[str]]) -> str:
    """The text of an action's rows, trailing blank cells dropped (writers pad rows unequally)."""
    cells = [list(row) for row in rows]
    for row in cells:
        while row and not row[-1]:
            row.pop()
    return hashlib.sha256(json.dumps(cells, ensure_ascii=False).encode()).hexdigest()


def exact_values(action: ActionView) -> Exact:
    return {
        "title": action.title,
        "timescale": action.timescale,
        "milestones": _milestones(action.milestones),
        "progress": [
            {"date": p.date.iso(), "text": p.text, "milestone": p.milestone_position}
            for p in action.progress
        ],
    }


def _milestones(views: Sequence[MilestoneView]) -> list[dict[str, Any]]:
    """The plan file's steps again from their stored occurrences: the `due:` and `done:` a
    person set are given only where the timescale alone would not give the stored dates."""
    by_position: dict[int, list[MilestoneView]] = {}
    for ms in views:
        by_position.setdefault(ms.position, []).append(ms)
    steps = []
    for position, occurrences in sorted(by_position.items()):
        first = occurrences[0]
        base = Milestone(
            text=first.text,
            timescale=first.timescale,
            lead=first.lead.written if first.lead else None,
            depth=first.depth,
        )
        stored = [(o.due, o.done) for o in occurrences]
        candidates = [base, base.model_copy(update={"done": True})]
        if len(occurrences) == 1 and first.due is not None:
            candidates += [
                base.model_copy(update={"due": first.due}),
                base.model_copy(update={"due": first.due, "done": True}),
            ]
        chosen = next(
            (
                c
                for c in candidates
                if [(r.due, r.done) for r in expand_milestone(position, c)] == stored
            ),
            base,
        )
        steps.append(chosen.model_dump(mode="json", exclude_defaults=True))
    return steps


def _payload(exact: Mapping[str, Exact], digests: Mapping[str, str]) -> dict[str, Any]:
    return {
        ref: {"digest": digests[ref], "action": values}
        for ref, values in exact.items()
        if ref in digests
    }


def _entries(data: object) -> dict[str, tuple[str, Exact]]:
    if not isinstance(data, dict):
        return {}
    return {
        ref: (entry["digest"], entry["action"])
        for ref, entry in data.items()
        if isinstance(entry, dict)
        and isinstance(entry.get("digest"), str)
        and isinstance(entry.get("action"), dict)
    }


# --- XLSX: a very hidden sheet, one action a row (ref, JSON) -----------------------------------


def write_xlsx(book: Any, exact: Mapping[str, Exact], digests: Mapping[str, str]) -> None:
    sheet = book.create_sheet(SHEET)
    sheet.sheet_state = "veryHidden"
    for n, (ref, entry) in enumerate(_payload(exact, digests).items(), 1):
        text = json.dumps(entry, ensure_ascii=False)
        if len(text) > _CELL_LIMIT:
            continue
        for column, value in ((1, ref), (2, text)):
            cell = sheet.cell(row=n, column=column, value=value)
            cell.data_type = "s"  # never a formula, whatever the ref starts with


def read_xlsx(rows: Sequence[Sequence[object]]) -> dict[str, tuple[str, Exact]]:
    data: dict[str, object] = {}
    for row in rows:
        if len(row) >= 2 and isinstance(row[0], str) and isinstance(row[1], str):
            try:
                data[row[0]] = json.loads(row[1])
            except ValueError:
                continue
    return _entries(data)


# --- DOCX: a custom XML part related to the document ----------------------------------------


def write_docx(document: Any, exact: Mapping[str, Exact], digests: Mapping[str, str]) -> None:
    from docx.opc.packuri import PackURI
    from docx.opc.part import Part

    root = ElementTree.Element(f"{{{_NAMESPACE}}}exact")
    root.text = json.dumps(_payload(exact, digests), ensure_ascii=False)
    blob = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    part = Part(PackURI(PART_NAME), "application/xml", blob, document.part.package)
    document.part.relate_to(part, _CUSTOM_XML)


def read_docx(document: Any) -> dict[str, tuple[str, Exact]]:
    for rel in document.part.rels.values():
        if rel.reltype != _CUSTOM_XML or rel.is_external:
            continue
        try:
            root = ElementTree.fromstring(rel.target_part.blob)
        except ElementTree.ParseError:
            continue
        if root.tag == f"{{{_NAMESPACE}}}exact":
            try:
                return _entries(json.loads(root.text or ""))
            except ValueError:
                return {}
    return {}
