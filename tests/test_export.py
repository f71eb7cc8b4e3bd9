"""`actionbot export --format xlsx|docx|html`: the plan in its own columns behind a cover.

The documents are opened with the libraries that wrote them (openpyxl, python-docx) and read
cell by cell: texts, RAG fills, merged cells, page headers. The summary's "changes since the
last export" and "escalated" run on SQLite and PostgreSQL. Round trips through the importer
are in test_export_roundtrip.py, LibreOffice's rendering in test_export_libreoffice.py.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import docx
import openpyxl
import pytest
from docx.oxml.ns import qn
from sqlmodel import select
from typer.testing import CliRunner

from bot import models as m
from bot.cli import app
from bot.db import make_engine, session
from bot.export import build_document, export_plan, output_paths, write_document
from bot.export.cover import ExportSnapshot
from bot.export.html import css_string, render_html
from bot.export.layout import plan_table
from bot.importing import import_files
from bot.notify.render import TEMPLATES
from bot.plans.tabular import heading_field
from bot.rules import Level
from bot.store import PlanView, load_plans
from tests.conftest import DATA
from tests.test_load import PEOPLE, PLAN

DAY = date(2019, 6, 3)
NOW = datetime(2019, 6, 3, 9, 0, tzinfo=UTC)
AS_OF = "As of 3 June 2019"
MSCB_TITLE = "MSCB Business Plan 2017–2020"

# The small plan with a RAG a person set, the plan's own RAG definitions and a hostile title.
RATED_PLAN = (
    PLAN.replace("title: Test plan", 'title: "Board plan <b>R&D</b> \\"draft\\""')
    .replace(
        "as_of: 2018-11\n",
        "as_of: 2018-11\nrag_definitions:\n  red: Behind <schedule>\n  amber: On track\n"
        "  green: Done & evidenced\n",
    )
    .replace(
        "            text: Review the DAN process\n",
        "            text: Review the DAN process\n            rag: green\n",
    )
)


@pytest.fixture(scope="module")
def real_plans(tmp_path_factory: pytest.TempPathFactory) -> dict[str, PlanView]:
    """Both real plans, read once from a SQLite file (the documents do not touch it)."""
    folder = tmp_path_factory.mktemp("real")
    engine = make_engine(f"sqlite:///{folder / 'plans.db'}")
    import_files(engine, [DATA / "people.yaml", DATA / "plans"], NOW)
    with session(engine) as s:
        return {p.id: p for p in load_plans(s)}


@pytest.fixture(scope="module")
def mscb_files(
    real_plans: dict[str, PlanView], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("mscb")
    files = {}
    for fmt in ("xlsx", "docx", "html"):
        table, cover, _ = build_document(real_plans["mscb-2017-20"], DAY, NOW, {}, None, fmt)
        files[fmt] = folder / f"mscb-2017-20.{fmt}"
        write_document(fmt, table, cover, files[fmt])
    return files


def rated_plan(tmp_path: Path, url: str | None = None) -> tuple[str, PlanView]:
    url = url or f"sqlite:///{tmp_path / 'rated.db'}"
    (tmp_path / "people.yaml").write_text(PEOPLE)
    (tmp_path / "rated.yaml").write_text(RATED_PLAN)
    import_files(make_engine(url), [tmp_path / "people.yaml", tmp_path / "rated.yaml"], NOW)
    with session(make_engine(url)) as s:
        [plan] = load_plans(s)
    return url, plan


def values(ws, row: int, last: int) -> list[object]:  # type: ignore[no-untyped-def]
    return [ws.cell(row=row, column=c).value for c in range(1, last + 1)]


# --- XLSX -----------------------------------------------------------------------------------


def test_xlsx_plan_sheet_is_the_plan_in_its_own_columns(mscb_files: dict[str, Path]) -> None:
    book = openpyxl.load_workbook(mscb_files["xlsx"])
    # and a very hidden sheet beside them, for the importer only (bot/export/sidecar.py)
    assert book.sheetnames == ["Cover", "Plan", "actionbot"]
    assert [ws.sheet_state for ws in book.worksheets] == ["visible", "visible", "veryHidden"]
    ws = book["Plan"]
    assert ws["A1"].value == MSCB_TITLE
    assert ws["A2"].value == AS_OF
    # the first area's heading stands above the header row, the later ones between actions
    assert (
        ws["A3"].value
        == "1.1 Ensure that educational establishments are engaged with the work of the MSCB"
    )  # noqa: E501
    assert values(ws, 4, 9) == [
        None,
        "Action number",
        "Specific action",
        "Lead",
        "Actions and timescales",
        "RAG rating",
        None,  # the suggested RAG, under "RAG rating", read by nobody
        "Update date",
        "Impact and evidence",
    ]
    merged = {str(r) for r in ws.merged_cells.ranges}
    assert {"A3:I3", "F4:G4", "B5:B9", "F5:F9", "G5:G9"} <= merged
    # the action's row, then one row per milestone with its lead, timescale and evidence
    assert values(ws, 5, 9) == [
        None,
        "1.1.1",
        "In consultation with Head teachers establish an effective mechanism to engage schools",
        "MSCB Chair\nMSCB Business Manager",
        None,
        None,
        "Red\n(suggested)",
        None,
        None,
    ]
    assert values(ws, 6, 9)[2:] == [
        "• MSCB Chair and Business Manager to attend secondary head teacher forums",
        "MSCB Chair",
        None,
        None,
        None,
        "2 Feb 2018",
        "MSCB Chair and Business Manager attended Secondary Head Forum – 2 Feb 2018",
    ]
    assert values(ws, 8, 5)[2:] == [
        "○ Booked to attend meeting 27 April 2018",
        "MSCB Chair",
        "27 April 2018",
    ]
    assert ws["C8"].alignment.indent == 2  # a sub-bullet
    assert ws["H11"].value == "Nov 2018"  # dated as precisely as the plan dated it
    # a suggested RAG: pale red, in italics
    assert ws["G5"].fill.fgColor.rgb == "FFF2B8AE"
    assert ws["G5"].font.i is True
    # an entry dated only to a year keeps its year
    year_rows = [r for r in range(5, ws.max_row + 1) if ws.cell(row=r, column=8).value == "2019"]
    assert [ws.cell(row=r, column=9).value[:40] for r in year_rows] == [
        "Eight multi agency training sessions on "
    ]


def test_xlsx_says_as_of_on_every_page_and_prints_landscape(mscb_files: dict[str, Path]) -> None:
    book = openpyxl.load_workbook(mscb_files["xlsx"])
    for ws in (book["Cover"], book["Plan"]):  # every sheet shown, so printed
        assert ws.oddHeader.left.text == MSCB_TITLE
        assert ws.oddHeader.right.text == AS_OF
        assert ws.oddFooter.right.text == "Page &P of &N"
        assert ws.page_setup.orientation == "landscape"
        assert ws.page_setup.fitToWidth == 1
    assert book["Plan"].print_title_rows == "$4:$4"  # the header row atop every page
    assert book["Plan"].freeze_panes == "A5"


def test_xlsx_cover_counts_by_rag_and_organisation(mscb_files: dict[str, Path]) -> None:
    ws = openpyxl.load_workbook(mscb_files["xlsx"])["Cover"]
    rows = {ws.cell(row=r, column=1).value: r for r in range(1, ws.max_row + 1)}
    assert ws["A1"].value == MSCB_TITLE and ws["A2"].value == AS_OF
    # the plan's own RAG definitions, each beside its colour
    red = rows["Red"]
    assert ws.cell(row=red, column=2).value.startswith("Work is significantly behind schedule")
    assert ws.cell(row=red, column=1).fill.fgColor.rgb == "FFD4351C"
    assert ws.cell(row=rows["Green"], column=1).fill.fgColor.rgb == "FF00703C"
    header = rows["Organisation"]
    assert values(ws, header, 9) == [
        "Organisation",
        None,
        "Total",
        "Red",
        "Amber",
        "Green",
        "Without RAG",
        "Overdue",
        "Escalated",
    ]
    total = rows["All actions"]
    assert values(ws, total, 9) == [
        "All actions",
        None,
        37,
        "20 (20 suggested)",
        "10 (10 suggested)",
        0,
        7,
        18,
        0,
    ]
    assert ws.cell(row=rows["Overdue on 3 June 2019 (18)"] + 2, column=1).value == "5.2.1"


def test_a_rag_a_person_set_is_filled_with_its_colour(tmp_path: Path) -> None:
    _url, plan = rated_plan(tmp_path)
    table, cover, _ = build_document(plan, DAY, NOW, {}, None, "xlsx")
    write_document("xlsx", table, cover, tmp_path / "rated.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "rated.xlsx")["Plan"]
    rag_column = [ws.cell(row=4, column=c).value for c in range(1, 10)].index("RAG rating") + 1
    [green] = [r for r in range(5, ws.max_row + 1) if ws.cell(row=r, column=2).value == "1.1.2"]
    cell = ws.cell(row=green, column=rag_column)
    assert (cell.value, cell.fill.fgColor.rgb, cell.font.b) == ("Green", "FF00703C", True)
    # set green, though its deadline passed: the record's red stands beside it
    assert ws.cell(row=green, column=rag_column + 1).value == "Red\n(suggested)"
    # nobody rated 1.1.1: its RAG cell is empty and the suggestion stands beside it
    [unrated] = [r for r in range(5, ws.max_row + 1) if ws.cell(row=r, column=2).value == "1.1.1"]
    assert ws.cell(row=unrated, column=rag_column).value is None
    assert ws.cell(row=unrated, column=rag_column + 1).value == "Red\n(suggested)"
    # an ampersand in a page header is doubled, or Excel reads it as a code
    assert ws.oddHeader.left.text == 'Board plan <b>R&&D</b> "draft"'


def test_a_reply_that_looks_like_a_formula_stays_text(tmp_path: Path) -> None:
    _url, plan = rated_plan(tmp_path)
    first = plan.actions[0]
    hostile = dataclasses.replace(
        first.progress[0], text='=HYPERLINK("http://example.org/x", "click")'
    )
    plan = dataclasses.replace(
        plan, actions=(dataclasses.replace(first, progress=(hostile,)), *plan.actions[1:])
    )
    table, cover, _ = build_document(plan, DAY, NOW, {}, None, "xlsx")
    write_document("xlsx", table, cover, tmp_path / "formula.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "formula.xlsx")["Plan"]
    [cell] = [c for row in ws.iter_rows() for c in row if c.value == hostile.text]
    assert cell.data_type == "s"


def test_no_cover_table_looks_like_a_plan_to_the_importer(mscb_files: dict[str, Path]) -> None:
    """The importer takes the first table with an action column beside a ref or lead one."""

    def looks_like_a_plan(cells: list[str]) -> bool:
        fields = {heading_field(c) for c in cells if c}
        return "text" in fields and bool(fields & {"ref", "lead"})

    cover = openpyxl.load_workbook(mscb_files["xlsx"])["Cover"]
    assert not any(
        looks_like_a_plan([str(v or "") for v in row]) for row in cover.iter_rows(values_only=True)
    )
    tables = docx.Document(str(mscb_files["docx"])).tables
    assert not any(
        looks_like_a_plan([c.text for c in row.cells]) for t in tables[:-1] for row in t.rows
    )
    assert looks_like_a_plan([c.text for c in tables[-1].rows[0].cells])


# --- DOCX -----------------------------------------------------------------------------------


def test_docx_is_the_plan_table_behind_a_cover(mscb_files: dict[str, Path]) -> None:
    document = docx.Document(str(mscb_files["docx"]))
    section = document.sections[0]
    assert section.page_width > section.page_height  # landscape
    assert section.header.paragraphs[0].text == f"{MSCB_TITLE}\t{AS_OF}"
    assert "Page" in section.footer.paragraphs[0].text
    texts = [p.text for p in document.paragraphs if p.text]
    assert texts[:2] == [MSCB_TITLE, AS_OF]  # the title first: the importer takes it
    assert (
        texts[-1]
        == "1.1 Ensure that educational establishments are engaged with the work of the MSCB"
    )  # noqa: E501
    plan = document.tables[-1]
    header = plan.rows[0]
    assert [c.text for c in header.cells] == [
        "",
        "Action number",
        "Specific action",
        "Lead",
        "Actions and timescales",
        "RAG rating",
        "RAG rating",  # one cell over both RAG columns
        "Update date",
        "Impact and evidence",
    ]
    assert header._tr.trPr.find(qn("w:tblHeader")) is not None  # repeats on every page
    first = plan.rows[1].cells
    assert [c.text for c in first[1:4]] == [
        "1.1.1",
        "In consultation with Head teachers establish an effective mechanism to engage schools",
        "MSCB Chair\nMSCB Business Manager",
    ]
    suggested = first[6]
    assert suggested.text == "Red\n(suggested)"
    assert suggested._tc.tcPr.find(qn("w:shd")).get(qn("w:fill")) == "F2B8AE"
    assert suggested.paragraphs[0].runs[0].italic is True
    # the ref and the RAG cells are merged down the action's five rows
    assert plan.rows[5].cells[1]._tc is first[1]._tc
    assert plan.rows[5].cells[6]._tc is suggested._tc
    assert plan.rows[6].cells[1].text == "1.1.2"
    step = plan.rows[2].cells
    assert [c.text for c in step[2:4] + step[7:9]] == [
        "• MSCB Chair and Business Manager to attend secondary head teacher forums",
        "MSCB Chair",
        "2 Feb 2018",
        "MSCB Chair and Business Manager attended Secondary Head Forum – 2 Feb 2018",
    ]
    # an area heading between actions spans the table
    headings = [r for r in plan.rows if r.cells[0]._tc is r.cells[-1]._tc]
    assert headings[0].cells[0].text.startswith("1.2 Ensure safeguarding issues")


def test_docx_cover_counts_and_definitions(tmp_path: Path) -> None:
    _url, plan = rated_plan(tmp_path)
    table, cover, _ = build_document(plan, DAY, NOW, {}, None, "docx")
    write_document("docx", table, cover, tmp_path / "rated.docx")
    document = docx.Document(str(tmp_path / "rated.docx"))
    legend, counts = document.tables[0], document.tables[1]
    assert [[c.text for c in r.cells] for r in legend.rows] == [
        ["RAG", "What the plan says it means"],
        ["Red", "Behind <schedule>"],
        ["Amber", "On track"],
        ["Green", "Done & evidenced"],
    ]
    assert legend.rows[1].cells[0]._tc.tcPr.find(qn("w:shd")).get(qn("w:fill")) == "D4351C"
    assert [c.text for c in counts.rows[-1].cells] == [
        "All actions",
        "2",
        "1 (1 suggested)",
        "0",
        "1",
        "0",
        "2",
        "0",
    ]


# --- HTML -----------------------------------------------------------------------------------


def test_html_escapes_user_text_and_says_as_of_on_every_page(tmp_path: Path) -> None:
    _url, plan = rated_plan(tmp_path)
    table, cover, _ = build_document(plan, DAY, NOW, {}, None, "html")
    page = render_html(table, cover, TEMPLATES)
    assert "<b>R&D</b>" not in page
    assert "<h1>Board plan &lt;b&gt;R&amp;D&lt;/b&gt; &#34;draft&#34;</h1>" in page
    assert "Behind &lt;schedule&gt;" in page
    # in the print margins, as a CSS string that no title can break out of
    assert '@top-right { content: "As of 3 June 2019";' in page
    assert '@top-left { content: "Board plan \\00003cb\\00003eR\\000026D' in page
    assert css_string('a "b" </style>') == ('"a \\000022b\\000022 \\00003c\\00002fstyle\\00003e"')
    # and in the table's header rows, which a browser prints atop every page
    thead = page.split("<thead>")[-1].split("</thead>")[0]
    assert "as of 3 June 2019" in thead
    assert f'<p class="as-of">{AS_OF}</p>' in page
    assert 'bgcolor="#00703c"' in page  # the green a person set


def test_html_of_a_real_plan(mscb_files: dict[str, Path]) -> None:
    page = mscb_files["html"].read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('<tr class="section">') == 20
    assert '<td class="ref" rowspan="5"><b>1.1.1</b></td>' in page
    assert "<i>Red<br>(suggested)</i>" in page


# --- as of a day ------------------------------------------------------------------------------


def test_as_of_leaves_out_later_progress_and_judges_overdue_on_that_day(
    real_plans: dict[str, PlanView],
) -> None:
    jtai = real_plans["jtai-2018"]
    table, cover, _ = build_document(jtai, date(2018, 10, 15), NOW, {}, None, "xlsx")
    assert cover.as_of == "15 October 2018"
    pa1 = [r for r in table.rows if r.ref == "PA.1"]
    dates = [r.cells[5].text for r in pa1]
    assert dates == ["Oct 2018"]  # the November entry was not written yet
    assert [a.ref for a in cover.overdue] == ["13", "PA.1", "PA.3", "1", "4", "9", "20"]
    assert cover.overdue[0].days_overdue == (date(2018, 10, 15) - date(2018, 7, 31)).days


def test_jtai_rows_keep_the_areas_merged_and_steps_one_a_line(
    real_plans: dict[str, PlanView],
) -> None:
    table = plan_table(real_plans["jtai-2018"], DAY)
    assert [c.heading for c in table.layout.columns] == [
        "Ref",
        "Area for improvement",
        "Key risk",
        "Lead (named)",
        "Action",
        "Update date",
        "Progress (to include update date)",
    ]
    area = 1
    # PA.1-PA.3 share one area: one cell merged over their rows, blank below the first
    first_block = [s for s in table.spans if s.column == area][0]
    assert (first_block.first, table.rows[first_block.last + 1].ref) == (0, "1")
    assert [r.cells[area].text[:20] for r in table.rows[: first_block.last + 1]][:3] == [
        "The partnership must",
        "",
        "",
    ]
    [one] = [r for r in table.rows if r.ref == "1" and r.kind == "action"]
    assert one.cells[4].text.split("\n") == [
        "Improve Framework-I reporting and increase audits (October 2018)",
        "Review how the partners have oversight of MASH and how barriers to effectiveness can "
        "be escalated (September 2018)",
        "Improve the way in which virtual partners engage to ensure better consistency "
        "(November 2018)",
        "Kent Police to improve how they routinely capture consent from parents to share "
        "relevant information and offer early help services",
    ]


# --- the cover: escalated, and what changed since the last export ---------------------------


def test_changes_since_the_last_export_and_escalations(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    import_files(engine, [DATA / "people.yaml", DATA / "plans" / "jtai-2018.yaml"], NOW)
    with session(engine) as s:
        [jtai] = load_plans(s)
    first_at = datetime(2018, 10, 15, 23, 59, tzinfo=UTC)
    with session(engine) as s, s.begin():
        cover = export_plan(s, jtai, "xlsx", date(2018, 10, 15), first_at, tmp_path / "a.xlsx")
    assert cover.changes == (
        "This is the first export of the plan: there is nothing to compare with.",
    )
    assert cover.escalated == ()
    [action_1] = [a for a in jtai.actions if a.ref == "1"]
    with session(engine) as s, s.begin():
        s.add(
            m.AuditEvent(
                at=datetime(2018, 11, 5, 9, 0, tzinfo=UTC),
                kind="escalated",
                action_id=action_1.id,
                plan_id=jtai.id,
                level=Level.OPERATIONAL_GROUP.value,
            )
        )

    later_at = datetime(2018, 11, 30, 23, 59, tzinfo=UTC)
    with session(engine) as s, s.begin():
        cover = export_plan(s, jtai, "docx", date(2018, 11, 30), later_at, tmp_path / "b.docx")

    assert cover.since == "Changes since the export as of 15 October 2018"
    assert [(a.ref, a.level) for a in cover.escalated] == [("1", "MASH Operational Group")]
    assert cover.total.escalated == 1
    assert cover.changes == (
        "26 progress entries recorded: PA.1, PA.2 (2), PA.3 (2), 1 (2), 3, 4, 5, 6, 7, 8, 9, "
        "10, 11, 12, 13, 14, 16, 17, 20, 21, 22, 24, 25",
        "Newly overdue: 5 (30 days), 6 (30 days), 8 (30 days), 12 (30 days), 16 (30 days), "
        "25 (30 days)",
        "Suggested RAG changed (not rated): PA.2 none → amber, 5 amber → red, 6 amber → red, "
        "8 amber → red, 12 amber → red, 16 amber → red, 25 amber → red",
        "Moved up the ladder: 1 (now with the MASH Operational Group)",
    )

    with session(engine) as s:
        events = s.exec(
            select(m.AuditEvent).where(m.AuditEvent.kind == "export").order_by(m.AuditEvent.id)
        ).all()
        assert [(e.detail, e.plan_id) for e in events] == [(jtai.id, jtai.id)] * 2
        stored = ExportSnapshot.from_json(events[-1].data or "")
        assert json.loads(events[-1].data or "")["file"] == "b.docx"
        assert stored.day == date(2018, 11, 30) and stored.format == "docx"
        assert stored.actions["1"].level == "operational_group"
        # as of a day before the escalation, the action is still with its lead
        early = datetime(2018, 11, 1, 23, 59, tzinfo=UTC)
        cover = export_plan(s, jtai, "html", date(2018, 11, 1), early, tmp_path / "c.html")
        assert cover.escalated == ()
        assert cover.since == "Changes since the export as of 15 October 2018"


# --- the command ----------------------------------------------------------------------------


def test_export_command_writes_one_file_per_plan_and_it_imports_back(
    env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    (data / "plans").mkdir(parents=True)
    (data / "people.yaml").write_text(PEOPLE)
    (data / "plans" / "test.yaml").write_text(PLAN)
    monkeypatch.setenv("ACTIONBOT_DATA_DIR", str(data))
    runner = CliRunner()
    assert runner.invoke(app, ["init"]).exit_code == 0

    result = runner.invoke(
        app, ["export", "--format", "xlsx", "--as-of", "2019-06-03", "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 0, result.output
    exported = tmp_path / "out" / "test-plan.xlsx"
    assert f"wrote {exported} (test-plan as of 03 Jun 2019)" in result.output
    assert openpyxl.load_workbook(exported)["Plan"]["A2"].value == AS_OF

    # back into the same plan: every action and progress entry matched, nothing new
    result = runner.invoke(app, ["import", str(exported)])
    assert result.exit_code == 0, result.output
    assert "test-plan: 0 action(s) added, 2 updated, 0 progress entr(ies) added, 0 removed" in (
        result.output
    )
    # what a table cannot say is kept, not wiped: the escalation ladder and the sections
    with session(make_engine(f"sqlite:///{data / 'actionbot.db'}")) as s:
        levels = s.exec(select(m.GovernanceLevel.level)).all()
        sections = {a.ref: a.section_id for a in s.exec(select(m.Action))}
    assert levels == ["operational_group"]
    assert all(sections.values()), sections

    result = runner.invoke(app, ["export", "--format", "pdf"])
    assert result.exit_code == 2 and "expected json, xlsx, docx, html; got 'pdf'" in result.output
    result = runner.invoke(app, ["export", "--format", "docx", "-o", str(tmp_path / "a.docx")])
    assert result.exit_code == 0, result.output  # one plan, one file
    assert (tmp_path / "a.docx").is_file()


def test_output_paths() -> None:
    assert output_paths(["a", "b"], "docx", None) == [Path("a.docx"), Path("b.docx")]
    assert output_paths(["a"], "html", Path("x/board.html")) == [Path("x/board.html")]
    assert output_paths(["a", "b"], "xlsx", Path("out")) == [Path("out/a.xlsx"), Path("out/b.xlsx")]
    with pytest.raises(ValueError, match="2 plans make 2 files: give a folder"):
        output_paths(["a", "b"], "xlsx", Path("both.xlsx"))


def test_snapshot_json_round_trips() -> None:
    snapshot = ExportSnapshot(NOW, DAY, "xlsx", {})
    assert ExportSnapshot.from_json(snapshot.to_json()) == snapshot
    with pytest.raises(ValueError, match="not an export snapshot"):
        ExportSnapshot.from_json('{"at": "2019-06-03"}')
    assert timedelta(0) == NOW - ExportSnapshot.from_json(snapshot.to_json()).at
