"""The MSCB seed converter, run on the real seed: structure, milestones, leads, progress, notes.

The loss checks (bullets, evidence words, lead words) read the raw seed independently of the
converter, so a row the converter drops or misfiles shows up as a difference.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from bot.plans.canonical import Action, Milestone, Plan, dump_plan, parse_plan
from bot.plans.partial_date import PartialDate
from bot.plans.seeds.mscb import convert

REPO = Path(__file__).resolve().parents[1]
SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "002_792f2b11c15e6536.txt"
SOURCE = "shared/seeds/002_792f2b11c15e6536.txt"
OUTPUT = REPO / "data" / "plans" / "mscb-2017-20.yaml"

REFS = [
    "1.1.1",
    "1.1.2",
    "1.2.1",
    "1.3.1",
    "1.3.2",
    "2.1.1",
    "2.2.1",
    "2.3.1",
    "2.3.2",
    "2.3.3",
    "3.1.1",
    "3.1.2",
    "3.1.3",
    "4.1.1",
    "4.2.1",
    "4.2.2",
    "4.2.3",
    "4.3.1",
    "5.1.1",
    "5.2.1",
    "5.2.2",
    "5.3.1",
    "6.1.1",
    "6.2.1",
    "6.3.1",
    "6.3.2",
    "6.4.1",
    "6.5.1",
    "6.5.2",
    "6.5.3",
    "6.6.1",
    "7.1",
    "7.2",
    "7.3",
    "7.4",
    "7.5",
    "7.6",
]

AREAS = {
    "1": [
        ("1.1", "Ensure that educational establishments are engaged with the work of the MSCB"),
        (
            "1.2",
            "Ensure safeguarding issues are communicated effectively to all educational "
            "establishments",
        ),
        (
            "1.3",
            "Develop assurance arrangements on the effectiveness of safeguarding arrangements "
            "in educational establishments",
        ),
    ],
    "2": [
        (
            "2.1",
            "Support the implementation of the Medway Early Help Strategy and use of Early "
            "Help assessments",
        ),
        (
            "2.2",
            "Thresholds are understood and used across the partnership and children and young "
            "people are receiving the appropriate services to meet their needs",
        ),
        (
            "2.3",
            "Support and monitor the implementation of the Multi Agency Safeguarding Hub (MASH)",
        ),
    ],
    "3": [("3.1", "(no title in the source)")],
    "4": [
        (
            "4.1",
            "Ensure there are effective governance arrangements in place for the oversight of "
            "domestic abuse and to oversee the implementation of the Domestic Abuse Strategy",
        ),
        (
            "4.2",
            "Children living with or affected by Domestic Abuse in Medway are appropriately "
            "identified and safeguarded",
        ),
        (
            "4.3",
            "Ensure the effectiveness of the Multi Agency Risk Assessment Conference (MARAC) "
            "process in Medway",
        ),
    ],
    "5": [
        (
            "5.1",
            "Secure collective commitment to addressing neglect across all partner agencies "
            "and to demonstrate effective leadership in driving forward the appropriate "
            "systems, cultures and processes including the use of the Graded Care Profile "
            "(GCP2)",
        ),
        (
            "5.2",
            "Improve the recognition, identification, assessment and intervention for children "
            "and young people living in neglectful situations",
        ),
        (
            "5.3",
            "To improve outcomes for children, young people and families by ensuring the "
            "quality and effectiveness of service provision. This will include consultation "
            "with young people and their families to evidence their views about the services "
            "being offered and their effectiveness",
        ),
    ],
    "6": [
        (
            "6.1",
            "Be assured that safeguarding services are responsive to the needs and risks "
            "experienced by children and young people in Medway",
        ),
        ("6.2", "Evaluate partners approach to online safety"),
        (
            "6.3",
            "Ensure that children and young people are educated about potential safeguarding risks",
        ),
        (
            "6.4",
            "Ensure MSCB has oversight of safeguarding children and young people vulnerable to "
            "radicalisation and extremism",
        ),
        (
            "6.5",
            "Implement an effective strategy to ensure children are protected from Child "
            "Sexual Exploitation",
        ),
        ("6.6", "Sexual Abuse is recognised and responded to appropriately by all agencies"),
    ],
    "7": [],
}

# --- reading the raw seed independently of the converter ---------------------------------------

_ACTION_NUMBER = re.compile(r"^\d+\.\d+(?:\.\d+)?$")


def _raw_rows() -> list[list[str]]:
    """Table rows of the seed (header and separator rows included), cells stripped."""
    lines = SEED.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Action number\t"))
    return [[c.strip() for c in line.split("\t")] for line in lines[start:] if line.strip()]


def _is_area_row(cells: list[str]) -> bool:
    return len(cells) > 1 and "Identified improvement area" in cells[1]


def _li_per_action() -> dict[str, int]:
    counts: dict[str, int] = {}
    ref = None
    for cells in _raw_rows():
        if _ACTION_NUMBER.match(cells[0]) and not _is_area_row(cells):
            ref = cells[0]
            counts[ref] = 0
        elif _is_area_row(cells) or "objective" in cells[0].lower():
            ref = None
        if ref is not None:
            counts[ref] += sum(c.count("<li>") for c in cells)
    return counts


# The words of the header rows repeated at page tops.
_HEADER_WORDS = {
    "Action",
    "Action number",
    "Planning",
    "Monitoring",
    "Specific action",
    "Specific action and",
    "Lead",
    "Actions and Timescales",
    "Actions and Timescales for work",
    "RAG rating",
    "Risk RAG rating",
    "Impact and evidence",
}


def _is_furniture(cells: list[str]) -> bool:
    """A header or "--" separator row."""
    filled = [c for c in cells if c]
    return all(c in _HEADER_WORDS for c in filled) or all(re.fullmatch("-+", c) for c in filled)


def _words(text: str) -> list[str]:
    text = html.unescape(re.sub(r"<[^>]+>", " ", text)).replace("/", " ")
    return [w.strip(".,;:") for w in text.split() if w.strip(".,;:")]


def _column(index: int) -> list[str]:
    """The cells of one column over the table's rows (not headers, separators or area rows)."""
    return [
        cells[index]
        for cells in _raw_rows()
        if len(cells) > index
        and cells[index]
        and not _is_furniture(cells)
        and not _is_area_row(cells)
    ]


# --- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def plan() -> Plan:
    return convert(SEED.read_text(encoding="utf-8"), SOURCE)


@pytest.fixture(scope="module")
def actions(plan: Plan) -> dict[str, Action]:
    return {a.ref: a for _, a in plan.iter_actions()}


def _ms(text: str, timescale: str | None, done: bool, depth: int, lead: str | None) -> Milestone:
    return Milestone(text=text, timescale=timescale, done=done, depth=depth, lead=lead)


# --- the plan -------------------------------------------------------------------------------------


def test_plan_level_values(plan: Plan) -> None:
    assert plan.id == "mscb-2017-20"
    assert plan.title == "MSCB Business Plan 2017–2020"
    assert plan.version == "8"
    assert plan.as_of == PartialDate(2019, 5)
    assert plan.source == SOURCE
    assert plan.layout == "mscb"
    assert plan.governance.operational_group == "MASH Operational Group"
    assert plan.governance.strategic_board == "MASH Strategic Board"
    assert plan.governance.chair == "MSCB Independent Chair"
    assert plan.actions == []


def test_rag_definitions(plan: Plan) -> None:
    assert list(plan.rag_definitions) == ["red", "amber", "green"]
    assert plan.rag_definitions["red"].startswith("Work is significantly behind schedule")
    assert plan.rag_definitions["red"].endswith("the timescale has not been achieved.")
    assert plan.rag_definitions["amber"].startswith("Progress is being made, progress is good")
    assert plan.rag_definitions["amber"].endswith(
        "evidence is required to demonstrate achievement."
    )
    assert plan.rag_definitions["green"] == (
        "The action has been completed and there is a record of evidence to support its completion."
    )


def test_plan_notes(plan: Plan) -> None:
    assert plan.notes == [
        "area '1.' in the source numbered 1.1",
        "area 3.1 has no title in the source: titled '(no title in the source)'",
    ]


def test_round_trip(plan: Plan) -> None:
    assert parse_plan(dump_plan(plan)) == plan


def test_committed_yaml_is_current(plan: Plan) -> None:
    assert OUTPUT.exists(), f"{OUTPUT} is missing: re-run the MSCB converter to write it"
    assert OUTPUT.read_text(encoding="utf-8") == dump_plan(plan), (
        f"{OUTPUT.relative_to(REPO)} is out of date with the converter: re-run the MSCB "
        "converter (dump_plan(convert(seed))) and commit the result"
    )


# --- structure ------------------------------------------------------------------------------------


def test_action_refs_in_order(plan: Plan) -> None:
    assert [a.ref for _, a in plan.iter_actions()] == REFS


def test_refs_match_the_raw_seed(plan: Plan) -> None:
    assert [a.ref for _, a in plan.iter_actions()] == list(_li_per_action())


def test_objectives(plan: Plan) -> None:
    assert [(s.number, s.kind) for s in plan.sections] == [
        (str(n), "objective") for n in range(1, 8)
    ]
    titles = [s.title for s in plan.sections]
    assert titles[0] == (
        "Develop the effectiveness of the Medway Safeguarding Children Board. The MSCB will do "
        "this by: a. Developing links between educational establishments (to include primary, "
        "secondary, pupil referral units, independent and colleges) and the MSCB;"
    )
    assert titles[1].startswith("Ensure that the principles of Early Help, the Multi Agency")
    assert titles[2] == (
        "Support a local recruitment strategy to help ensure there is an effective workforce for "
        "safeguarding children in Medway"
    )
    assert titles[3].startswith("Raise awareness of the impact of domestic abuse")
    assert titles[4].startswith("Enhance the understanding of neglect")
    assert titles[5].startswith("Address the challenges to children and young people")
    assert titles[6] == "Core Objectives"
    assert all("<" not in t and "Priority objective" not in t for t in titles)


def test_areas(plan: Plan) -> None:
    for objective in plan.sections:
        got = [(s.number, s.title) for s in objective.sections]
        assert got == AREAS[objective.number], objective.number
        assert all(s.kind == "area" and not s.sections for s in objective.sections)


def test_actions_sit_in_their_area(plan: Plan) -> None:
    for path, action in plan.iter_actions():
        parent = path[-1]
        assert action.ref.rsplit(".", 1)[0] == parent.number, action.ref
    assert [a.ref for a in plan.sections[6].actions] == ["7.1", "7.2", "7.3", "7.4", "7.5", "7.6"]


# --- milestones -----------------------------------------------------------------------------------


def test_every_bullet_is_a_milestone(actions: dict[str, Action]) -> None:
    counts = {ref: len(a.milestones) for ref, a in actions.items()}
    assert counts == _li_per_action()


def test_milestones_1_1_1(actions: dict[str, Action]) -> None:
    lead = "MSCB Chair"
    assert actions["1.1.1"].milestones == [
        _ms(
            "MSCB Chair and Business Manager to attend secondary head teacher forums",
            None,
            False,
            0,
            lead,
        ),
        _ms(
            "MSCB Chair and Business Manager to attend Primary head teachers forum",
            None,
            False,
            0,
            lead,
        ),
        # a date inside the sentence is the timescale; the text stays whole (split_timescale)
        _ms("Booked to attend meeting 27 April 2018", "27 April 2018", False, 1, lead),
        _ms(
            "MSCB Chair and Business Manager to meet with Mid Kent College Principal and "
            "Safeguarding Lead",
            None,
            False,
            0,
            lead,
        ),
    ]


def test_milestones_2_2_1(actions: dict[str, Action]) -> None:
    first, later = "Policy and Procedures Sub Group", "Learning and Development Sub Group"
    assert actions["2.2.1"].milestones == [
        _ms("Initial proposal considered and agreed by MSCB Board", "Complete", True, 0, first),
        _ms(
            "Revised Threshold document to be considered by Policy & Procedures sub group, "
            "Executive and Board",
            "March 2018 - Complete",
            True,
            0,
            later,
        ),
        _ms("Revised Threshold Document to be published and Launched", "Complete", True, 0, later),
        _ms(
            "Workshops hosted by Children’s Social Care to be held on Threshold Document",
            None,
            False,
            0,
            later,
        ),
    ]


def test_milestones_2_3_3(actions: dict[str, Action]) -> None:
    lead = "Performance Management and Quality Assurance (PMQA) sub group"
    assert actions["2.3.3"].milestones == [
        _ms("MASH performance data to be included in MSCB dataset", "Ongoing", False, 0, lead),
        _ms(
            "MASH data including MASH contacts meeting threshold; decisions within 1 working day; "
            "decisions within 4 hours to be added to dataset by Performance team",
            "by May 2019 – Complete",
            True,
            1,
            lead,
        ),
        _ms(
            "Partner Engagement Requests (% response in timescale) to be added to dataset by "
            "performance team",
            "by July 2019",
            False,
            1,
            lead,
        ),
        _ms(
            "Reviews to be undertaken of MASH performance and reported to MSCB Board",
            None,
            False,
            0,
            lead,
        ),
    ]


def test_milestones_4_3_1(actions: dict[str, Action]) -> None:
    assert actions["4.3.1"].milestones == [
        _ms(
            "MARAC Annual Report to be presented to PMQA sub group",
            "July 2017 - Complete; July 2018; July 2019",
            False,
            0,
            "MARAC",
        ),
        _ms(
            "MARAC data to be included in a MSCB dataset including monitoring of repeat cases",
            "Quarterly throughout 2017-20",
            False,
            0,
            "MARAC",
        ),
    ]


def test_milestones_4_1_1_after_the_page_break(actions: dict[str, Action]) -> None:
    milestones = actions["4.1.1"].milestones
    assert [m.text for m in milestones[2:]] == [
        "Kent and Medway Domestic Abuse Strategy to be updated and published",
        "First draft of strategy",
        "Consultation on Strategy held",
        "Final strategy to be agreed and published",
    ]
    assert [m.depth for m in milestones] == [0, 0, 0, 1, 1, 1]
    assert [m.lead for m in milestones] == ["MSCB Executive"] * 2 + [
        "Kent and Medway Domestic Abuse Executive"
    ] * 4
    assert not any("May 2019" == m.text for m in milestones)


def test_no_markers_or_entities_left(plan: Plan) -> None:
    for _, action in plan.iter_actions():
        for m in action.milestones:
            assert not m.text.startswith(("•", "●", "○")), (action.ref, m.text)
            assert "&amp;" not in m.text and "<" not in m.text, (action.ref, m.text)


def test_action_timescale_and_status(actions: dict[str, Action]) -> None:
    assert actions["4.3.1"].timescale == (
        "July 2017 - Complete; July 2018; July 2019; Quarterly throughout 2017-20"
    )
    assert actions["3.1.1"].timescale is None
    assert actions["2.2.1"].status is None  # the workshops bullet is not done
    assert actions["7.5"].status == "complete"
    for action in actions.values():
        assert action.rag is None
        done = bool(action.milestones) and all(m.done for m in action.milestones)
        assert action.status == ("complete" if done else None), action.ref


def test_done_marker_before_the_date(actions: dict[str, Action]) -> None:
    assert actions["6.1.1"].milestones[1] == _ms(
        "Harmful Sexual Behaviour guidance",
        "Complete approved by MSCB Executive – May 2018",
        True,
        0,
        "Policy & Procedures",
    )


def test_titles_are_short(actions: dict[str, Action]) -> None:
    for action in actions.values():
        assert action.title is not None and len(action.title) <= 81
        assert action.text.startswith(action.title.rstrip("…")), action.ref
    assert actions["1.3.2"].title == actions["1.3.2"].text


def test_texts_joined_across_page_breaks(actions: dict[str, Action]) -> None:
    assert actions["6.4.1"].text == (
        "Medway professionals recognise and work with young people vulnerable to "
        "radicalisation and extremism"
    )
    assert actions["6.5.3"].text == (
        "Ensure there is accurate and consistent reporting of CSE and missing children"
    )


# --- leads ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "leads"),
    [
        ("1.1.1", ["MSCB Chair", "MSCB Business Manager"]),
        (
            "2.2.1",
            ["Policy and Procedures Sub Group", "Learning and Development Sub Group", "Board"],
        ),
        ("4.1.1", ["MSCB Executive", "MSCB Board", "Kent and Medway Domestic Abuse Executive"]),
        (
            "6.5.3",
            [
                "Multi Agency Sexual Exploitation (MASE) Panel",
                "Performance Management and Quality Assurance sub group",
            ],
        ),
        ("6.6.1", ["Policy and Procedures", "Learning and Development", "Case File Audit Group"]),
        ("6.2.1", []),
        ("1.2.1", ["Learning & Development Sub Group", "Education Safeguarding Officer"]),
        ("2.1.1", ["Performance Management and Quality Assurance (PMQA) Sub Group", "Board"]),
        ("3.1.3", ["Tim Silver Acting Head of HR Services"]),
        ("4.3.1", ["MARAC", "Performance Management & Quality Assurance Sub Group"]),
        ("6.4.1", ["Mutli Agency Prevent Board", "Learning and Development"]),
        ("7.2", ["MSCB Business Manager", "Learning and Development Officer"]),
        ("6.3.2", ["MSCB Lay Members"]),  # "MSCB  Lay Members": one lead, not the Board and them
    ],
)
def test_leads(actions: dict[str, Action], ref: str, leads: list[str]) -> None:
    assert actions[ref].leads == leads


def test_milestone_leads_follow_their_rows(actions: dict[str, Action]) -> None:
    assert [m.lead for m in actions["4.2.2"].milestones] == [
        "Learning and Development sub group",
        "MSCB Training Officer",
        "MSCB Training Officer",
        "MSCB Training Officer",
    ]
    assert [m.lead for m in actions["6.2.1"].milestones] == [None]
    for action in actions.values():
        for m in action.milestones:
            assert m.lead is None or m.lead in action.leads, action.ref


def test_no_word_of_a_lead_is_lost(actions: dict[str, Action]) -> None:
    haystack = {w for a in actions.values() for lead in a.leads for w in _words(lead)}
    for cell in _column(2):
        for word in _words(cell):
            assert word in haystack, (word, cell)


# --- progress -------------------------------------------------------------------------------------


def test_progress_1_1_1(actions: dict[str, Action]) -> None:
    progress = actions["1.1.1"].progress
    assert [(p.date.iso(), p.milestone, p.source) for p in progress] == [
        ("2018-02-02", 1, "import"),
        ("2018-04-27", 2, "import"),
        ("2018-05-15", 4, "import"),
    ]
    assert progress[0].text == (
        "MSCB Chair and Business Manager attended Secondary Head Forum – 2 Feb 2018"
    )


def test_progress_2_2_1_joined_across_the_page_break(actions: dict[str, Action]) -> None:
    progress = actions["2.2.1"].progress
    assert progress[1].text == (
        "Revised Threshold document on Executive, Policy & Procedures and Board Agenda – March 2018"
    )
    assert progress[1].date == PartialDate(2018, 3)
    assert progress[1].milestone == 2
    assert [p.milestone for p in progress] == [1, 2, 3, 4]


def test_progress_7_2_two_paragraphs(actions: dict[str, Action]) -> None:
    progress = actions["7.2"].progress
    assert [(p.text, p.date.iso(), p.milestone) for p in progress] == [
        ("Quarterly bulletins published on MSCB website", "2019-05", 1),
        ("MSCB twitter account has over 600 followers – January 2019", "2019-01", 1),
    ]


def test_progress_dates(actions: dict[str, Action]) -> None:
    assert actions["2.1.1"].progress[0].date == PartialDate(2019, 1)
    assert actions["1.3.2"].progress[0].date == PartialDate(2019, 3)
    assert actions["6.2.1"].progress[0].date == PartialDate(2018, 5, 15)
    # only a date after the plan's version date: kept, and noted
    assert actions["2.3.3"].progress[1].date == PartialDate(2019, 11)


def test_progress_is_never_after_as_of_without_a_note(plan: Plan) -> None:
    assert plan.as_of is not None
    for _, action in plan.iter_actions():
        for p in action.progress:
            if p.date.first_day() > plan.as_of.last_day():
                assert any(n.startswith("suspicious-date:") for n in action.notes), action.ref


def test_no_word_of_evidence_is_lost(plan: Plan) -> None:
    haystack = {w for _, a in plan.iter_actions() for p in a.progress for w in _words(p.text)}
    cells = _column(5)
    assert cells
    for cell in cells:
        for word in _words(cell):
            assert word in haystack, (word, cell)


def test_no_word_of_a_specific_action_is_lost(plan: Plan) -> None:
    texts = [a.text for _, a in plan.iter_actions()]
    texts += [s.title for o in plan.sections for s in o.sections]
    haystack = {w for t in texts for w in _words(t)}
    for cell in _column(1):
        for word in _words(cell):
            assert word in haystack, (word, cell)


# --- notes ----------------------------------------------------------------------------------------


def test_notes_6_2_1(actions: dict[str, Action]) -> None:
    notes = actions["6.2.1"].notes
    assert "no-lead: the Lead cell is empty in the source" in notes
    assert any(n.startswith("page-break:") and "Future session planned" in n for n in notes)


def test_notes_7_1(actions: dict[str, Action]) -> None:
    assert "not-a-rag: the RAG column says 'Ongoing'" in actions["7.1"].notes
    assert actions["7.1"].rag is None


def test_notes_4_1_1(actions: dict[str, Action]) -> None:
    notes = actions["4.1.1"].notes
    lead = [n for n in notes if n.startswith("page-break:")]
    assert len(lead) == 1
    assert "'Kent and Medway'" in lead[0] and "'Domestic Abuse Executive'" in lead[0]
    assert "'Kent and Medway Domestic Abuse Executive'" in lead[0]
    dated = [n for n in notes if n.startswith("dated-bullets:")]
    assert len(dated) == 1 and dated[0].startswith("dated-bullets: 'May 2019'")
    assert any(n.startswith("lead-only row: 'MSCB Board'") for n in notes)


def test_notes_split_leads(actions: dict[str, Action]) -> None:
    assert (
        "split-lead: 'MSCB Chair/ Business Manager' read as MSCB Chair and MSCB Business Manager"
        in actions["1.1.1"].notes
    )
    assert (
        "split-lead: 'Policy and Procedures Learning and Development Case File Audit Group' read "
        "as 'Policy and Procedures', 'Learning and Development' and 'Case File Audit Group'"
        in actions["6.6.1"].notes
    )
    assert any(n.startswith("split-lead:") for n in actions["6.5.3"].notes)


def test_page_break_notes(actions: dict[str, Action]) -> None:
    with_breaks = sorted(
        ref for ref, a in actions.items() if any(n.startswith("page-break:") for n in a.notes)
    )
    assert with_breaks == ["2.2.1", "2.3.3", "4.1.1", "4.3.1", "5.2.1", "6.2.1", "6.4.1", "6.5.3"]
    assert sum(n.startswith("page-break:") for n in actions["6.5.3"].notes) == 2


def test_suspicious_and_undated_notes(actions: dict[str, Action]) -> None:
    assert (
        "suspicious-date: evidence mentions November 2019, after this version of the plan "
        "(May 2019)" in actions["2.3.3"].notes
    )
    assert (
        "undated-progress: 2 evidence cell(s) carry no date; dated May 2019, the plan's version "
        "date" in actions["2.3.2"].notes
    )
    suspicious = [r for r, a in actions.items() if any("suspicious-date" in n for n in a.notes)]
    assert suspicious == ["2.3.3"]
    undated = {
        ref: int(note.split()[1])
        for ref, a in actions.items()
        for note in a.notes
        if note.startswith("undated-progress:")
    }
    assert undated == {
        "1.2.1": 1,
        "2.3.2": 2,
        "5.1.1": 1,
        "5.2.1": 1,
        "5.3.1": 1,
        "6.4.1": 1,
        "6.5.3": 2,
        "7.1": 1,
        "7.2": 1,
        "7.4": 1,
    }


def test_year_only_mentions_yield_to_months(actions: dict[str, Action]) -> None:
    # "held – October 2018. Further sessions planned for 2019."
    assert actions["7.1"].progress[1].date == PartialDate(2018, 10)
    # only years: "2016-17 and 2017-18 Annual Report published"
    assert actions["7.3"].progress[0].date == PartialDate(2018)
