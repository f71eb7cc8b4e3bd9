"""The XLSX and DOCX exports import back into the same plan (bot/export, bot/plans/tabular.py).

Each plan (the small plan of test_load.py and both real plans) is exported, the file imported
with `import_files` (what `actionbot import` runs) under another id beside the original, and
the two PlanViews compared field by field, on SQLite and PostgreSQL.

What comes back, compared exactly: the plan's title; every action's ref, text, area for
improvement, key risk, leads (as written, and who they resolve to), timescale, status, RAG a
person set, and its progress entries (date with its precision, and text).

Two fields come back changed in form only, and are compared in that form:
- `text` of a plan without a timescale column (JTAI): the export breaks the text into one
  dated step a line ("… audits (October 2018)" / "Review how …"), which is how the importer
  finds the steps and their timescales in it; the import keeps those line breaks.
- `timescale`: the importer joins the timescales of an action's rows with line breaks, where
  the plan file joined them with "; " (as `read_plan_table` always does).

What cannot come back, because a plan table has no place for it (so it is not compared):
- the plan's version, as-of date, layout, RAG definitions, governance (the escalation
  ladder) and notes; an action's section (MSCB's objectives and areas: the headings are in
  the table, but the importer has no sections), `rag_set_by`, notes and an explicit `due:`
  override; a progress entry's source and author (every entry imported is "import").

What the importer reads back as it was written (bot/plans/tabular.py), so it is compared
exactly too: a title cut from a first sentence ending in its date in brackets; a sub-step's
depth (its "○" bullet); a step with several dates in its timescale, as one step; a step's
timescale that has words in it ("Complete approved by MSCB Executive – May 2018"), and "done"
when it starts with "Complete"; a second entry for one step, on a row of its own (it
continues the step above); a step after "(October 2018); in addition …", without the "; ".
Milestones are compared by text, timescale, due, done, who leads and depth; a step's lead is
written as the action's leads write the same person, since the importer adds every lead a row
names to the action.

What a plan table cannot say travels beside it in the file (bot/export/sidecar.py: a very
hidden sheet, a custom XML part), and the importer takes it for each action whose cells are as
exported, so every action comes back exact. An edited cell wins over it; a table without it
imports as the table alone says, and then some actions come back different, listed exactly in
TABLE_ALONE below, each with the reason it cannot be written in a plan table:
- `title`: a title the plan file set by hand that is not the text's first sentence (MSCB
  3.1.1 keeps its full stop, which a title made from the text drops); the table has no title
  column.
- `timescale`: an action whose plan file gives timescales only to its milestones gets them
  joined as its own from the table's rows: one column holds both, and the MSCB plan file gives
  its actions exactly that join, so the importer cannot tell "none of its own" from it.
- `milestones`: a JTAI step without a date in brackets (its text is the action's wording to
  the importer, as in the JTAI plan itself), and a step whose `due:` in the plan file
  overrides its timescale's date (the table has only the timescale).
- `progress`: an entry whose own text has a date in brackets ("… for use by Schools (March
  2018) . Updated policy …") is cut there into two entries, since that is how progress cells
  mark the end of one update.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import docx
import openpyxl
import pytest
from sqlalchemy.engine import Engine

from bot.db import make_engine, session
from bot.export import build_document, sidecar, write_document
from bot.export.layout import as_of_view, layout_for, step_lines
from bot.export.xlsx import PLAN_SHEET
from bot.importing import import_files
from bot.store import ActionView, PlanView, load_plans
from tests.conftest import DATA
from tests.test_load import PEOPLE, PLAN

DAY = date(2019, 6, 3)
NOW = datetime(2019, 6, 3, 9, 0, tzinfo=UTC)

_DEPTH_ONLY = "milestones (depth)"
TABLE_ALONE: dict[str, set[tuple[str, str]]] = {
    "test-plan": {
        # the plan file gives timescales only to the milestones; a table's rows give them to
        # the action as well ("October 2018\nJuly 2017 - Complete; …")
        ("1.1.1", "timescale"),
    },
    "jtai-2018": {
        # a step with no date in brackets is not read as a step
        ("PA.2", "milestones"),
        ("1", "milestones"),
        # "MASH strategic board … (January 2018)": the plan file's `due: 2019-01-31` says the
        # year is a slip; the table has only the text
        ("3", "milestones"),
    },
    "mscb-2017-20": {
        ("3.1.1", "title"),  # the plan file's title ends with a full stop
        # the entry's own "(March 2018)" cuts it in two
        ("1.3.2", "progress"),
        ("1.3.2", "progress milestone"),
    },
}


def plan_file(tmp_path: Path, name: str) -> Path:
    if name == "test-plan":
        path = tmp_path / "test-plan.yaml"
        path.write_text(PLAN)
        return path
    return DATA / "plans" / f"{name}.yaml"


def people_file(tmp_path: Path, name: str) -> Path:
    if name == "test-plan":
        path = tmp_path / "people.yaml"
        path.write_text(PEOPLE)
        return path
    return DATA / "people.yaml"


def _parts(timescale: str | None) -> list[str] | None:
    return [p.strip() for p in re.split(r"[;\n]", timescale)] if timescale else None


def _milestones(a: ActionView, depth: bool = True) -> list[tuple[object, ...]]:
    return [
        (
            ms.text,
            ms.timescale,
            ms.due,
            ms.done,
            ms.lead.name if ms.lead else None,
            *((ms.depth,) if depth else ()),
        )
        for ms in a.milestones
    ]


def differences(original: PlanView, back: PlanView) -> set[tuple[str, str]]:
    """(ref, field) for every field of every action that came back different."""
    found: set[tuple[str, str]] = set()
    assert back.title == original.title
    assert [a.ref for a in back.actions] == [a.ref for a in original.actions]
    inline = not layout_for(original).steps_on_rows
    for a, b in zip(original.actions, back.actions, strict=True):
        fields: dict[str, tuple[object, object]] = {
            "title": (a.title, b.title),
            "text": (step_lines(a.text) if inline else a.text, b.text),
            "area_for_improvement": (a.area_for_improvement, b.area_for_improvement),
            "key_risk": (a.key_risk, b.key_risk),
            "leads": (
                [(x.written, x.name, x.organisation) for x in a.leads],
                [(x.written, x.name, x.organisation) for x in b.leads],
            ),
            "timescale": (_parts(a.timescale), _parts(b.timescale)),
            "status": (a.status, b.status),
            "rag": (a.rag, b.rag),
            "progress": (
                [(p.date.iso(), p.text) for p in a.progress],
                [(p.date.iso(), p.text) for p in b.progress],
            ),
            "progress milestone": (
                [p.milestone_position for p in a.progress],
                [p.milestone_position for p in b.progress],
            ),
        }
        for name, (mine, theirs) in fields.items():
            if mine != theirs:
                found.add((a.ref, name))
        if _milestones(a) != _milestones(b):
            same_but_depth = _milestones(a, depth=False) == _milestones(b, depth=False)
            found.add((a.ref, _DEPTH_ONLY if same_but_depth else "milestones"))
    return found


@pytest.mark.parametrize("fmt", ["xlsx", "docx"])
@pytest.mark.parametrize("name", ["test-plan", "jtai-2018", "mscb-2017-20"])
def test_the_export_imports_back_into_the_same_plan(
    database_url: str, tmp_path: Path, name: str, fmt: str
) -> None:
    engine = make_engine(database_url)
    import_files(engine, [people_file(tmp_path, name), plan_file(tmp_path, name)], NOW)
    with session(engine) as s:
        [original] = load_plans(s, name)
    table, cover, _snapshot = build_document(original, DAY, NOW, {}, None, fmt)
    # Named apart, it imports as a second plan beside the first, with the same people.
    exported = tmp_path / f"{name}-back.{fmt}"
    write_document(fmt, table, cover, exported)

    import_files(engine, [exported], NOW)

    with session(engine) as s:
        [back] = load_plans(s, f"{name}-back")
    assert differences(as_of_view(original, DAY), back) == set()


def export(engine: Engine, tmp_path: Path, name: str, fmt: str, stem: str) -> tuple[PlanView, Path]:
    import_files(engine, [people_file(tmp_path, name), plan_file(tmp_path, name)], NOW)
    with session(engine) as s:
        [original] = load_plans(s, name)
    table, cover, _snapshot = build_document(original, DAY, NOW, {}, None, fmt)
    exported = tmp_path / f"{stem}.{fmt}"
    write_document(fmt, table, cover, exported)
    return as_of_view(original, DAY), exported


def without_sidecar(path: Path) -> None:
    """The file as another program might save it: the table, and nothing beside it."""
    if path.suffix == ".xlsx":
        book = openpyxl.load_workbook(path)
        assert book[sidecar.SHEET].sheet_state == "veryHidden"
        del book[sidecar.SHEET]
        book.save(path)
        return
    document = docx.Document(str(path))
    ours = [
        rId
        for rId, rel in document.part.rels.items()
        if not rel.is_external and rel.target_part.partname == sidecar.PART_NAME
    ]
    assert len(ours) == 1
    del document.part.rels[ours[0]]
    document.save(str(path))


@pytest.mark.parametrize("fmt", ["xlsx", "docx"])
@pytest.mark.parametrize("name", ["test-plan", "jtai-2018", "mscb-2017-20"])
def test_a_table_alone_imports_as_the_table_says(
    database_url: str, tmp_path: Path, name: str, fmt: str
) -> None:
    engine = make_engine(database_url)
    original, exported = export(engine, tmp_path, name, fmt, f"{name}-back")
    without_sidecar(exported)

    import_files(engine, [exported], NOW)

    with session(engine) as s:
        [back] = load_plans(s, f"{name}-back")
    assert differences(original, back) == TABLE_ALONE[name]


TEXT_HEADINGS = ("Action", "Specific action")
EDITED = "Recruit and keep social workers. Publish the offer on the council's portal."


def edit_text(path: Path, ref: str, text: str) -> None:
    """What a board member does: types over the action's cell, in Excel or in Word."""
    if path.suffix == ".xlsx":
        book = openpyxl.load_workbook(path)
        cells = [c for row in book[PLAN_SHEET].iter_rows() for c in row]
        column = next(c.column for c in cells if c.value in TEXT_HEADINGS)
        row = next(c.row for c in cells if c.value == ref)
        book[PLAN_SHEET].cell(row=row, column=column, value=text)
        book.save(path)
        return
    document = docx.Document(str(path))
    [grid] = [t for t in document.tables if any(c.text in TEXT_HEADINGS for c in t.rows[0].cells)]
    column = next(i for i, c in enumerate(grid.rows[0].cells) if c.text in TEXT_HEADINGS)
    row = next(r for r in grid.rows if any(c.text == ref for c in r.cells))
    row.cells[column].text = text
    document.save(str(path))


@pytest.mark.parametrize("fmt", ["xlsx", "docx"])
def test_a_cell_edited_after_export_wins_over_what_was_carried_beside_it(
    database_url: str, tmp_path: Path, fmt: str
) -> None:
    engine = make_engine(database_url)
    original, exported = export(engine, tmp_path, "mscb-2017-20", fmt, "mscb-back")
    edit_text(exported, "3.1.1", EDITED)

    import_files(engine, [exported], NOW)

    with session(engine) as s:
        [back] = load_plans(s, "mscb-back")
    [edited] = [a for a in back.actions if a.ref == "3.1.1"]
    assert edited.text == EDITED
    assert edited.title == "Recruit and keep social workers"  # from the edit, as a table gives it
    # the edited action is read from its table alone; every other one still comes back exact
    assert differences(original, back) == {("3.1.1", "text"), ("3.1.1", "title")}


def test_step_lines_only_breaks_lines() -> None:
    text = (
        "Improve audits (October 2018) Review oversight (September 2018). Relocate the DS "
        "(October 2018); in addition (November 2018)Kent Police to improve consent"
    )
    lines = step_lines(text)
    assert lines.split("\n") == [
        "Improve audits (October 2018)",
        "Review oversight (September 2018).",
        "Relocate the DS (October 2018)",
        "; in addition (November 2018)",
        "Kent Police to improve consent",
    ]
    assert re.sub(r"\s", "", lines) == re.sub(r"\s", "", text)
    assert step_lines("Report to the board in March 2019 and again") == (
        "Report to the board in March 2019 and again"
    )
