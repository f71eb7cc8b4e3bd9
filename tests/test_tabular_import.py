"""Importing action plans kept as CSV, XLSX and Word tables (bot/plans/tabular.py).

Every file is written here with the csv module, openpyxl and python-docx, shaped like the
JTAI response plan (Ref | Lead (named) | Action | Progress) and the MSCB business plan (Action
number | Specific action | Lead | Actions and Timescales | RAG rating | Impact and evidence).
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

import docx
import openpyxl
import pytest

from bot.plans.canonical import (
    Milestone,
    Plan,
    PlanFileError,
    Problem,
    Progress,
    dump_plan,
    parse_plan,
)
from bot.plans.partial_date import PartialDate
from bot.plans.tabular import heading_field, read_plan_table

JTAI_HEADER = ["Ref", "Lead (named)", "Action", "Progress (to include update date)", "RAG"]
ROW_1 = [
    "1",
    "Christine Impey (Medway Council)\nKelly Cogger (Medway Council)",
    "Improve Framework-I reporting and increase audits (October 2018)",
    "Framework-I reporting has been adapted to show audit completion rates. (September 2018) "
    "TOR reviewed and agreed by the MASH Strategic Board (October 2018)",
    "Amber",
]
ROW_2 = [
    "2",
    "Tracey Anstis (Kent Police)",
    "Kent Police CRU Detective Sergeant to be based in First Response (November 2018)",
    "CRU DS now based in the MASH to hold strategy discussions (November 2018)",
    "green",
]


def write_csv(
    path: Path, rows: list[list[str]], delimiter: str = ",", encoding: str = "utf-8"
) -> Path:
    with path.open("w", newline="", encoding=encoding) as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[object]], sheet: str = "Plan") -> Path:
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    book.save(path)
    return path


def write_docx(
    path: Path,
    rows: list[list[str]],
    title: str | None = None,
    merge_down: tuple[tuple[int, int, int], ...] = (),
) -> Path:
    """merge_down: (column, first row, last row), 0-based, merged after the text is set."""
    document = docx.Document()
    if title:
        document.add_paragraph("")
        document.add_paragraph(title)
    table = document.add_table(rows=len(rows), cols=len(rows[0]))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            cell = table.cell(r, c)
            lines = text.split("\n")
            cell.paragraphs[0].text = lines[0]
            for line in lines[1:]:
                cell.add_paragraph(line)
    for column, first, last in merge_down:
        top = table.cell(first, column)
        keep = top.text
        merged = top.merge(table.cell(last, column))
        for paragraph in merged.paragraphs[1:]:
            paragraph._p.getparent().remove(paragraph._p)
        merged.paragraphs[0].text = keep
    document.save(path)
    return path


def problems_of(path: Path, **kwargs: object) -> list[Problem]:
    with pytest.raises(PlanFileError) as caught:
        read_plan_table(path, **kwargs)  # type: ignore[arg-type]
    return caught.value.problems


def assert_round_trip(plan: Plan) -> None:
    assert parse_plan(dump_plan(plan)) == plan


# --- headings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "field"),
    [
        ("Action", "text"),
        ("Actions", "text"),
        ("Specific action", "text"),
        ("Action number", "ref"),
        ("Action No.", "ref"),
        ("No.", "ref"),
        ("Ref.", "ref"),
        ("Actions and Timescales", "timescale"),
        ("Target date", "timescale"),
        ("Lead (named)", "lead"),
        ("LEADS", "lead"),
        ("Responsible officer", "lead"),
        ("Progress\n(to include update date)", "progress"),
        ("Impact and evidence", "progress"),
        ("Update", "progress"),
        ("Update date", "date"),
        ("Updated", "date"),
        ("Risk RAG rating", "rag"),
        ("Status (RAG)", "rag"),
        ("Area for Improvement", "area_for_improvement"),
        ("Key risk", "key_risk"),
        ("Notes", None),
        ("Comments", None),
    ],
)
def test_heading_synonyms(heading: str, field: str | None) -> None:
    assert heading_field(heading) == field


# --- CSV -------------------------------------------------------------------------------------


def test_csv_jtai_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "JTAI response plan.csv", [JTAI_HEADER, ROW_1, ROW_2])

    plan = read_plan_table(path)

    assert (plan.id, plan.title, plan.source, plan.as_of) == (
        "jtai-response-plan",
        "JTAI response plan",
        "JTAI response plan.csv",
        None,
    )
    first, second = plan.actions
    assert first.ref == "1"
    assert first.leads == ["Christine Impey (Medway Council)", "Kelly Cogger (Medway Council)"]
    assert first.text == "Improve Framework-I reporting and increase audits (October 2018)"
    assert first.milestones == [
        Milestone(
            text="Improve Framework-I reporting and increase audits", timescale="October 2018"
        )
    ]
    assert first.timescale == "October 2018"
    assert first.progress == [
        Progress(
            date=PartialDate(2018, 9),
            text="Framework-I reporting has been adapted to show audit completion rates.",
        ),
        Progress(
            date=PartialDate(2018, 10), text="TOR reviewed and agreed by the MASH Strategic Board"
        ),
    ]
    assert first.rag == "amber"
    assert second.rag == "green"
    assert second.leads == ["Tracey Anstis (Kent Police)"]
    assert plan.notes == []
    assert_round_trip(plan)


def test_headings_are_matched_by_name_in_any_order(tmp_path: Path) -> None:
    rows = [
        [
            "Status (RAG)",
            "Updates",
            "Comments",
            "Responsible",
            "Specific action",
            "Target date",
            "Action No.",
        ],
        [
            "R",
            "Audit started (March 2019)",
            "see minutes",
            "Lee Hart (MSCB); Sam Ode / Jo Bell",
            "Audit 20 cases. Report to the Board.",
            "March 2019",
            "3.1.1",
        ],
        [
            "a",
            "",
            "",
            "PMQA sub group",
            "Refresh the threshold document",
            "July 2017 - Complete; July 2018",
            "3.1.2",
        ],
    ]
    plan = read_plan_table(write_csv(tmp_path / "business plan.csv", rows))

    audit, threshold = plan.actions
    assert (audit.ref, audit.rag, audit.leads) == (
        "3.1.1",
        "red",
        ["Lee Hart (MSCB)", "Sam Ode", "Jo Bell"],
    )
    assert audit.text == "Audit 20 cases. Report to the Board."
    assert audit.milestones == [Milestone(text="Audit 20 cases.", timescale="March 2019")]
    assert audit.progress == [Progress(date=PartialDate(2019, 3), text="Audit started")]
    assert threshold.rag == "amber"
    assert threshold.timescale == "July 2017 - Complete; July 2018"
    assert threshold.milestones == [
        Milestone(
            text="Refresh the threshold document", timescale="July 2017 - Complete", done=True
        ),
        Milestone(text="Refresh the threshold document", timescale="July 2018"),
    ]
    assert plan.notes == ["unused-columns: 'Comments' not imported (no field, or one already read)"]
    assert_round_trip(plan)


def test_header_row_below_title_rows(tmp_path: Path) -> None:
    rows = [
        ["MSCB Business Plan 2017-2020", "", ""],
        ["Version 8 – May 2019", "", ""],
        ["", "", ""],
        ["Action number", "Specific action", "Lead"],
        ["1.1.1", "Publish the neglect strategy", "Neglect sub group"],
    ]
    plan = read_plan_table(write_csv(tmp_path / "mscb.csv", rows))

    assert plan.title == "MSCB Business Plan 2017-2020"
    assert [(a.ref, a.text, a.leads) for a in plan.actions] == [
        ("1.1.1", "Publish the neglect strategy", ["Neglect sub group"])
    ]


def test_continuation_rows_add_lead_milestone_and_evidence(tmp_path: Path) -> None:
    header = ["Ref", "Lead", "Action", "Timescale", "Progress", "RAG"]
    rows = [
        header,
        [
            "1",
            "Kelly Cogger (Medway Council)",
            "Develop a MASH workflow to improve links to virtual partners. Monitor via dashboard.",
            "September 2018",
            "Workflow has been developed (October 2018)",
            "Amber",
        ],
        [
            "",
            "Tracey Anstis (Kent Police)",
            "Train virtual partners in the workflow",
            "January 2019",
            "Training delivered to in situ partners (December 2018)",
            "",
        ],
        [
            "",
            "Kelly Cogger (Medway Council)",
            "",
            "",
            "Direct live reporting into Framework-I now operational (November 2018)",
            "",
        ],
        ["", "", "", "", "", ""],
        ["2", "Ian Sutherland (Medway Council)", "Review MASH capacity", "Ongoing", "", "Green"],
    ]
    plan = read_plan_table(write_csv(tmp_path / "plan.csv", rows))

    workflow, capacity = plan.actions
    assert workflow.leads == ["Kelly Cogger (Medway Council)", "Tracey Anstis (Kent Police)"]
    assert workflow.milestones == [
        Milestone(
            text="Develop a MASH workflow to improve links to virtual partners.",
            timescale="September 2018",
        ),
        Milestone(
            text="Train virtual partners in the workflow",
            timescale="January 2019",
            lead="Tracey Anstis (Kent Police)",
        ),
    ]
    assert workflow.timescale == "September 2018\nJanuary 2019"
    assert workflow.progress == [
        Progress(date=PartialDate(2018, 10), text="Workflow has been developed"),
        Progress(
            date=PartialDate(2018, 12), text="Training delivered to in situ partners", milestone=2
        ),
        Progress(
            date=PartialDate(2018, 11),
            text="Direct live reporting into Framework-I now operational",
        ),
    ]
    assert workflow.rag == "amber"
    assert (capacity.ref, capacity.timescale, capacity.rag) == ("2", "Ongoing", "green")
    assert capacity.milestones == [Milestone(text="Review MASH capacity", timescale="Ongoing")]
    assert_round_trip(plan)


def test_step_rows_as_the_export_writes_them(tmp_path: Path) -> None:
    """The board paper's rows (bot/export/layout.py): a step on a row of its own with its
    timescale, "○" for a sub-step, further evidence for a step on a row with nothing else."""
    header = ["Ref", "Action", "Lead", "Timescale", "Update date", "Progress"]
    rows = [
        header,
        ["2.1", "Report to the board yearly (July 2017)", "MARAC", "", "", ""],
        ["", "• MARAC Annual Report", "", "July 2017 - Complete; July 2018", "", ""],
        ["", "○ Guidance", "", "Complete approved by MSCB Executive – May 2018", "", ""],
        ["", "", "", "", "Jul 2018", "Report scrutinised"],
        ["", "", "", "", "Aug 2018", "Second look (with dates 2018)"],
        ["", "", "MARAC", "", "Sep 2018", "Untied"],
    ]
    [report] = read_plan_table(write_csv(tmp_path / "plan.csv", rows)).actions
    assert report.title == "Report to the board yearly"
    assert report.milestones == [
        Milestone(text="MARAC Annual Report", timescale="July 2017 - Complete; July 2018"),
        Milestone(
            text="Guidance",
            timescale="Complete approved by MSCB Executive – May 2018",
            done=True,
            depth=1,
        ),
    ]
    assert [(p.text, p.milestone) for p in report.progress] == [
        ("Report scrutinised", 2),
        ("Second look (with dates 2018)", 2),
        ("Untied", None),  # a row naming a lead is no further evidence for the step above
    ]
    assert_round_trip(read_plan_table(tmp_path / "plan.csv"))

    # without a timescale column, the steps are the text's lines (JTAI)
    text = "Relocate the DS (October 2018)\n; in addition, support Encompass (November 2018)"
    rows = [JTAI_HEADER, ["3", "MARAC", text, "", ""]]
    [relocate] = read_plan_table(write_csv(tmp_path / "jtai.csv", rows)).actions
    assert relocate.title == "Relocate the DS"
    assert [m.text for m in relocate.milestones] == [
        "Relocate the DS",
        "in addition, support Encompass",
    ]


def test_multi_line_cells_give_milestones_and_keep_physical_line_numbers(tmp_path: Path) -> None:
    rows = [
        JTAI_HEADER,
        [
            "1",
            "Kelly Cogger (Medway Council)",
            "Review capacity of MASH (August 2018)\nRecruit a practice manager (October 2018)",
            "Additional staff recruited (October 2018)\nGroup supervision refocused "
            "(November 2018)",
            "",
        ],
        ["2", "Kelly Cogger (Medway Council)", "Audit strategy discussions", "", "Blue"],
    ]
    path = write_csv(tmp_path / "plan.csv", rows)

    # The first data row spans lines 2-4 of the file (two cells hold a line break).
    assert problems_of(path) == [
        Problem(str(path), 5, "2", "RAG", "expected red, amber or green, got 'Blue'")
    ]
    rows[2][4] = "G"
    plan = read_plan_table(write_csv(path, rows))
    action = plan.actions[0]
    assert action.milestones == [
        Milestone(text="Review capacity of MASH", timescale="August 2018"),
        Milestone(text="Recruit a practice manager", timescale="October 2018"),
    ]
    assert action.timescale == "August 2018; October 2018"
    assert [(p.date.iso(), p.text) for p in action.progress] == [
        ("2018-10", "Additional staff recruited"),
        ("2018-11", "Group supervision refocused"),
    ]


@pytest.mark.parametrize("delimiter", [";", "\t", ","])
def test_csv_windows_encoding_and_delimiters(tmp_path: Path, delimiter: str) -> None:
    rows = [
        ["Ref", "Lead", "Action", "Timescales", "Progress"],
        [
            "1",
            "Lee Hart (MSCB)",
            "Commission £20,000 of training – neglect, in two sessions",
            "Jan – March 2019",
            "Budget of £20,000 agreed; venue booked (December 2018)",
        ],
    ]
    path = write_csv(tmp_path / "export.csv", rows, delimiter=delimiter, encoding="cp1252")

    action = read_plan_table(path).actions[0]

    assert action.text == "Commission £20,000 of training – neglect, in two sessions"
    assert action.milestones == [
        Milestone(
            text="Commission £20,000 of training – neglect, in two sessions",
            timescale="Jan – March 2019",
        )
    ]
    assert action.progress == [
        Progress(date=PartialDate(2018, 12), text="Budget of £20,000 agreed; venue booked")
    ]


def test_csv_utf8_with_bom(tmp_path: Path) -> None:
    rows = [
        ["Ref", "Lead", "Action"],
        ["1", "Zoë Brontë (Medway Council)", "Audit – phase 1"],
        ["1", "Zoë Brontë (Medway Council)", "Audit – phase 2"],
    ]
    path = write_csv(tmp_path / "bom.csv", rows, encoding="utf-8-sig")

    # The BOM is not part of the first heading, which the problem names as written.
    assert problems_of(path) == [
        Problem(str(path), 3, "1", "Ref", "duplicate ref: already used by the action at line 2")
    ]
    rows[2][0] = "2"
    plan = read_plan_table(write_csv(path, rows, encoding="utf-8-sig"))
    assert [(a.ref, a.leads, a.text) for a in plan.actions] == [
        ("1", ["Zoë Brontë (Medway Council)"], "Audit – phase 1"),
        ("2", ["Zoë Brontë (Medway Council)"], "Audit – phase 2"),
    ]


def test_without_ref_column_actions_are_numbered(tmp_path: Path) -> None:
    rows = [
        ["Lead", "Action"],
        ["Lee Hart (MSCB)", "Publish the annual report"],
        ["Jo Bell (Health)", ""],
        ["Sam Ode (Police)", "Run the audit"],
    ]
    plan = read_plan_table(write_csv(tmp_path / "plan.csv", rows))

    assert [(a.ref, a.leads) for a in plan.actions] == [
        ("1", ["Lee Hart (MSCB)", "Jo Bell (Health)"]),
        ("2", ["Sam Ode (Police)"]),
    ]
    assert plan.notes == [
        "numbered-refs: the table has no ref column; actions are numbered in order"
    ]


def test_actions_and_timescales_alone_is_the_action_column(tmp_path: Path) -> None:
    rows = [
        ["Ref", "Lead", "Actions and Timescales"],
        ["4", "Lee Hart (MSCB)", "Run two multi-agency audits (March 2019)"],
    ]
    action = read_plan_table(write_csv(tmp_path / "plan.csv", rows)).actions[0]

    assert action.text == "Run two multi-agency audits (March 2019)"
    assert action.milestones == [
        Milestone(text="Run two multi-agency audits", timescale="March 2019")
    ]


# --- XLSX ------------------------------------------------------------------------------------


def test_xlsx_title_row_real_dates_and_merged_cells(tmp_path: Path) -> None:
    path = tmp_path / "jtai.xlsx"
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = "Action plan"
    ws.append(["JTAI Response Action Plan"])
    ws.merge_cells("A1:F1")
    ws.append([])
    ws.append(
        [
            "Ref",
            "Area for Improvement",
            "Lead (named)",
            "Action",
            "Timescale",
            "Updated",
            "Progress",
        ]
    )
    ws.append(
        [
            1,
            "Information sharing at the front door",
            "Kelly Cogger (Medway Council)",
            "Review capacity of MASH",
            datetime(2018, 8, 31),
            datetime(2018, 11, 5),
            "Partner representation now includes Health and CRC",
        ]
    )
    ws.append(
        [
            None,
            None,
            "Tracey Anstis (Kent Police)",
            None,
            datetime(2018, 10, 29),
            None,
            "CRU DS based in the MASH (November 2018)",
        ]
    )
    ws.merge_cells("A4:A5")
    ws.merge_cells("B4:B6")
    ws.append(
        [2.0, None, "Kelly Cogger (Medway Council)", "Develop a MASH workflow", None, None, None]
    )
    book.save(path)

    plan = read_plan_table(path)

    assert (plan.id, plan.title) == ("jtai", "JTAI Response Action Plan")
    review, workflow = plan.actions
    assert review.ref == "1"
    assert review.leads == ["Kelly Cogger (Medway Council)", "Tracey Anstis (Kent Police)"]
    assert review.milestones == [
        Milestone(text="Review capacity of MASH", timescale="31 August 2018"),
        Milestone(
            text="Review capacity of MASH",
            timescale="29 October 2018",
            lead="Tracey Anstis (Kent Police)",
        ),
    ]
    assert review.timescale == "31 August 2018\n29 October 2018"
    assert review.progress == [
        Progress(
            date=PartialDate(2018, 11, 5), text="Partner representation now includes Health and CRC"
        ),
        Progress(date=PartialDate(2018, 11), text="CRU DS based in the MASH", milestone=2),
    ]
    assert review.area_for_improvement == "Information sharing at the front door"
    assert workflow.ref == "2"
    assert workflow.area_for_improvement == "Information sharing at the front door"
    assert_round_trip(plan)


def test_xlsx_uses_first_sheet_with_a_header_and_names_sheet_and_row(tmp_path: Path) -> None:
    path = tmp_path / "plan.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "Cover"
    book.active.append(["Medway Safeguarding Children Board"])
    ws = book.create_sheet("Actions")
    ws.append(["Action plan 2018"])
    ws.append(["Ref", "Lead", "Action", "RAG rating"])
    ws.append(["1", "Lee Hart (MSCB)", "Publish the annual report", "Amber/Green"])
    book.save(path)

    assert problems_of(path) == [
        Problem(
            f"{path}[Actions]",
            3,
            "1",
            "RAG rating",
            "expected red, amber or green, got 'Amber/Green'",
        )
    ]


# --- DOCX ------------------------------------------------------------------------------------


def test_docx_table_with_merged_ref_cells(tmp_path: Path) -> None:
    rows = [
        [
            "Action number",
            "Specific action",
            "Lead",
            "Actions and Timescales",
            "RAG rating",
            "Impact and evidence",
        ],
        [
            "2.1.1",
            "Improve the quality of strategy discussions",
            "Ian Sutherland (Medway Council)",
            "Audit 20 strategy discussions (March 2018)",
            "",
            "Audit completed, findings to PMQA (April 2018)",
        ],
        [
            "2.1.1",
            "Improve the quality of strategy discussions",
            "Tracey Anstis (Kent Police)",
            "Police attendance at all strategy meetings – Complete\nRe-audit (March 2019)",
            "",
            "Attendance now 100% (June 2018)",
        ],
        [
            "2.1.2",
            "Publish the escalation policy",
            "PP sub group",
            "July 2018 - Complete",
            "Green",
            "",
        ],
        [
            "2.1.3",
            "Train staff in the escalation policy",
            "PP sub group",
            "September 2018",
            "amber",
            "",
        ],
    ]
    path = write_docx(
        tmp_path / "MSCB plan.docx",
        rows,
        title="MSCB Business Plan 2017 – 2020",
        merge_down=((0, 1, 2), (1, 1, 2), (2, 3, 4)),
    )

    plan = read_plan_table(path)

    assert (plan.id, plan.title) == ("mscb-plan", "MSCB Business Plan 2017 – 2020")
    strategy, policy, training = plan.actions
    assert strategy.ref == "2.1.1"
    assert strategy.text == "Improve the quality of strategy discussions"
    assert strategy.leads == ["Ian Sutherland (Medway Council)", "Tracey Anstis (Kent Police)"]
    assert strategy.milestones == [
        Milestone(text="Audit 20 strategy discussions", timescale="March 2018"),
        Milestone(
            text="Police attendance at all strategy meetings – Complete",
            timescale="Police attendance at all strategy meetings – Complete",
            lead="Tracey Anstis (Kent Police)",
            done=True,
        ),
        Milestone(text="Re-audit", timescale="March 2019", lead="Tracey Anstis (Kent Police)"),
    ]
    assert strategy.progress == [
        Progress(date=PartialDate(2018, 4), text="Audit completed, findings to PMQA"),
        Progress(date=PartialDate(2018, 6), text="Attendance now 100%", milestone=2),
    ]
    # A lead merged over two actions leads both.
    assert (policy.leads, training.leads) == (["PP sub group"], ["PP sub group"])
    assert policy.milestones == [
        Milestone(text="Publish the escalation policy", timescale="July 2018 - Complete", done=True)
    ]
    assert (policy.rag, training.rag) == ("green", "amber")
    assert_round_trip(plan)


def test_docx_problems_name_table_and_row(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_paragraph("Notes")
    notes = document.add_table(rows=1, cols=2)
    notes.cell(0, 0).text, notes.cell(0, 1).text = "Version", "8"
    plan_table = document.add_table(rows=3, cols=3)
    for r, row in enumerate(
        [["Ref", "Lead", "Action"], ["", "Lee Hart", "Publish the report"], ["1", "Jo Bell", ""]]
    ):
        for c, text in enumerate(row):
            plan_table.cell(r, c).text = text
    path = tmp_path / "plan.docx"
    document.save(path)

    assert problems_of(path) == [
        Problem(
            f"{path} (table 2)",
            2,
            None,
            "Ref",
            "the first row has no Ref; a row without one continues the action above it, "
            "and there is none",
        ),
        Problem(f"{path} (table 2)", 3, "1", "Action", "the action has no text"),
    ]


# --- errors ----------------------------------------------------------------------------------


def test_no_action_column(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "plan.csv",
        [["Our plan"], ["Ref", "Lead", "Progress"], ["1", "Lee Hart", "Done (May 2018)"]],
    )
    assert problems_of(path) == [
        Problem(
            str(path),
            2,
            None,
            None,
            "no header row found: the headings found are 'Ref', 'Lead', 'Progress'; "
            "expected an action column (headed e.g. Action, Specific action, Actions)",
        )
    ]


def test_bad_rag_and_duplicate_ref_are_reported_together(tmp_path: Path) -> None:
    rows = [JTAI_HEADER, ROW_1, [*ROW_2[:4], "Purple"], ["1", "Jo Bell", "Re-audit", "", ""]]
    path = write_csv(tmp_path / "plan.csv", rows)

    assert problems_of(path) == [
        Problem(str(path), 4, "2", "RAG", "expected red, amber or green, got 'Purple'"),
        Problem(str(path), 5, "1", "Ref", "duplicate ref: already used by the action at line 2"),
    ]


def test_first_row_without_ref(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "plan.csv", [JTAI_HEADER, ["", *ROW_1[1:]], ROW_2])
    assert problems_of(path) == [
        Problem(
            str(path),
            2,
            None,
            "Ref",
            "the first row has no Ref; a row without one continues the action above it, "
            "and there is none",
        )
    ]


def test_undated_progress_is_refused_without_as_of(tmp_path: Path) -> None:
    rows = [
        JTAI_HEADER,
        ROW_1,
        [
            "2",
            "Tracey Anstis (Kent Police)",
            "Base a DS in First Response",
            "DS in post (November 2018)\nOp Encompass now supported",
            "",
        ],
    ]
    path = write_csv(tmp_path / "plan.csv", rows)

    assert problems_of(path) == [
        Problem(
            str(path),
            4,
            "2",
            "Progress (to include update date)",
            "this progress text has no date; add one in brackets, e.g. (October 2018)",
        )
    ]

    plan = read_plan_table(path, as_of=PartialDate(2018, 12))
    action = plan.actions[1]
    assert plan.as_of == PartialDate(2018, 12)
    assert action.progress == [
        Progress(date=PartialDate(2018, 11), text="DS in post"),
        Progress(date=PartialDate(2018, 12), text="Op Encompass now supported"),
    ]
    assert action.notes == [
        "undated-progress: 'Op Encompass now supported' (line 4) has no date; dated to the "
        "plan's as-of date 2018-12, check when it was written"
    ]
    assert_round_trip(plan)


def test_undated_progress_takes_the_rows_update_date(tmp_path: Path) -> None:
    rows = [
        ["Ref", "Lead", "Action", "Progress", "Update date"],
        ["1", "Jo Bell", "Re-audit", "Re-audit under way", "12/11/2018"],
        ["2", "Jo Bell", "Audit", "Audit planned", "next week"],
    ]
    path = write_csv(tmp_path / "plan.csv", rows)

    assert problems_of(path) == [
        Problem(
            str(path),
            3,
            "2",
            "Update date",
            "expected one date like October 2018 or 5 October 2018, got 'next week'",
        )
    ]
    rows[2][4] = "October 2018"
    plan = read_plan_table(write_csv(path, rows))
    assert [a.progress for a in plan.actions] == [
        [Progress(date=PartialDate(2018, 11, 12), text="Re-audit under way")],
        [Progress(date=PartialDate(2018, 10), text="Audit planned")],
    ]


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = tmp_path / "plan.pdf"
    path.write_bytes(b"%PDF-1.4")
    assert problems_of(path) == [
        Problem(
            str(path),
            None,
            None,
            None,
            "cannot import a '.pdf' file; expected one of .csv, .xlsx, .docx",
        )
    ]


def test_explicit_id_and_title_win(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "export (3).csv", [JTAI_HEADER, ROW_1])
    plan = read_plan_table(path, plan_id="jtai-2018", title="JTAI Response Action Plan")
    assert (plan.id, plan.title) == ("jtai-2018", "JTAI Response Action Plan")


def test_no_sheet_with_a_header_shows_the_nearest_row(tmp_path: Path) -> None:
    path = tmp_path / "plan.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "Cover"
    book.active.append(["Medway Safeguarding Children Board"])
    ws = book.create_sheet("Actions")
    ws.append(["Action plan 2018"])
    ws.append(["Action", "Progress", "RAG"])
    book.save(path)

    assert problems_of(path) == [
        Problem(
            f"{path}[Actions]",
            2,
            None,
            None,
            "no header row found: the headings found are 'Action', 'Progress', 'RAG'; "
            "expected a ref column (Ref, Reference, Action number) or a lead column "
            "(Lead, Lead (named), Leads)",
        )
    ]


def test_rag_letters_and_case(tmp_path: Path) -> None:
    rows = [
        ["Ref", "Action", "RAG status"],
        ["1", "Audit", "R"],
        ["2", "Train", " a "],
        ["3", "Report", "GREEN"],
        ["4", "Review", ""],
    ]
    plan = read_plan_table(write_csv(tmp_path / "plan.csv", rows))
    assert [a.rag for a in plan.actions] == ["red", "amber", "green", None]


def test_unreadable_files(tmp_path: Path) -> None:
    fake = tmp_path / "plan.xlsx"
    fake.write_text("Ref,Action\n1,Audit\n")
    [problem] = problems_of(fake)
    assert (problem.file, problem.line, problem.message.startswith("cannot read: ")) == (
        str(fake),
        None,
        True,
    )

    broken = tmp_path / "plan.csv"
    broken.write_bytes(b"Ref,Action\n1,Audit\x81 \x8d\n")
    assert problems_of(broken) == [
        Problem(
            str(broken),
            None,
            None,
            None,
            "cannot read: neither UTF-8 nor Windows-1252 text ('charmap' codec can't decode "
            "byte 0x81 in position 18: character maps to <undefined>)",
        )
    ]


def test_continuation_row_may_not_change_the_rag(tmp_path: Path) -> None:
    rows = [
        ["Ref", "Lead", "Action", "RAG"],
        ["1", "Jo Bell", "Audit", ""],
        ["", "Sam Ode", "", "Red"],
        ["", "Lee Hart", "", "green"],
    ]
    path = write_csv(tmp_path / "plan.csv", rows)
    assert problems_of(path) == [
        Problem(
            str(path), 4, "1", "RAG", "the action is already red (line 2); give one RAG per action"
        )
    ]
