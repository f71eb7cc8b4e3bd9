"""The JTAI seed converter, on the real seed file: what a reviewer checked by hand stays true."""

from __future__ import annotations

import calendar
import re
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from bot.plans.canonical import Action, Plan, dump_plan, parse_plan
from bot.plans.partial_date import PartialDate
from bot.plans.seeds.jtai import convert

REPO = Path(__file__).resolve().parents[1]
SEED = Path(__file__).resolve().parents[2] / "shared" / "seeds" / "000_a98873cd509f61a8.txt"
SOURCE = "shared/seeds/000_a98873cd509f61a8.txt"
COMMITTED = REPO / "data" / "plans" / "jtai-2018.yaml"

REFS = ["PA.1", "PA.2", "PA.3", *(str(n) for n in range(1, 26))]
SUBROW_NOTE = (
    "sub-row: the Priority Action has three sub-rows with their own leads; numbered PA.1–PA.3 here"
)
UNDATED_NOTE = (
    "undated-progress: 1 progress paragraph(s) carry no date in the source; dated "
    "November 2018, the plan's last update"
)
# Line 10 of the seed repeats the end of line 9 in the Progress column; the converter drops it.
REPEATED = "understanding of the cumulative impact of domestic abuse. (October 2018)"
# Words of progress dates: they become Progress.date, not text.
_DATE_WORD = re.compile("^(?:" + "|".join(calendar.month_name[1:]) + r"|\d{4})$")


@pytest.fixture(scope="module")
def seed_text() -> str:
    if not SEED.exists():
        pytest.fail(f"the JTAI seed is missing: {SEED}")
    return SEED.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def plan(seed_text: str) -> Plan:
    return convert(seed_text, SOURCE)


@pytest.fixture(scope="module")
def actions(plan: Plan) -> dict[str, Action]:
    return {a.ref: a for a in plan.actions}


def months(action: Action) -> list[str]:
    return [p.date.iso() for p in action.progress]


# --- the plan --------------------------------------------------------------------------------


def test_plan_fields(plan: Plan) -> None:
    assert plan.id == "jtai-2018"
    assert plan.title == "JTAI Response Action Plan"
    assert plan.version is None
    assert plan.as_of == PartialDate(2018, 11)
    assert plan.source == SOURCE
    assert plan.layout == "jtai"
    assert plan.governance.operational_group == "MASH Operational Group"
    assert plan.governance.strategic_board == "MASH Strategic Board"
    assert plan.governance.chair == "MSCB Independent Chair"
    assert plan.sections == []


def test_refs_in_order(plan: Plan) -> None:
    assert len(plan.actions) == 28
    assert [a.ref for a in plan.actions] == REFS


def test_plan_notes(plan: Plan) -> None:
    assert plan.notes == [
        "dropped line 32 of the source: page debris '1 (6 1) 1 1 ...'",
        "dropped a repeated fragment on line 10 of the source: 'consistently well matched to "
        "need and risk.' repeats the end of its Area for Improvement cell",
        f"dropped a repeated fragment on line 10 of the source: '{REPEATED}' repeats the end of "
        "its Progress (to include update date) cell",
    ]


def test_no_page_debris_anywhere(plan: Plan) -> None:
    text = dump_plan(plan.model_copy(update={"notes": []}))
    assert "1 (6 1)" not in text
    assert "1 1 1" not in text


# --- leads -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ref", "leads"),
    [
        ("PA.1", ["Kelly Cogger (Medway Council)"]),
        ("PA.2", ["Tracey Anstis (Kent Police)"]),
        ("PA.3", ["Kelly Cogger (Medway Council)"]),
        (
            "1",
            [
                "Christine Impey (Medway Council)",
                "Kelly Cogger (Medway Council)",
                "Tracy Anstis (Kent Police)",
            ],
        ),
        ("2", ["Kelly Cogger (Medway Council)", "Kirstie King (MSCB)"]),
        (
            "4",
            [
                "Kelly Cogger (Medway Council)",
                "Tracey Anstis (Kent Police)",
                "Tina Hughes (NPS)",
                "Emma Verchiolli (KSSCRC)",
            ],
        ),
        (
            "5",
            [
                "Anthony Sands (Medway Council)",
                "Michele Sault (MFT)",
                "Simon Plummer (MSCB)",
                "Tracey Anstis (Kent Police)",
            ],
        ),
        (
            "7",
            [
                "Aeilish Geldenhuys (Medway Council)",
                "Andrew Willets (Medway Council)",
                "Emma Verchiolli (KSSCRC)",
            ],
        ),
        (
            "10",
            [
                "Christine Impey (Medway Council)",
                "Emma Verchiolli (CRC)",
                "Kelly Cogger (Medway Council)",
                "Tina Hughes (NPS)",
            ],
        ),
        (
            "12",
            [
                "Ida Bradford (Named Nurse, Safeguarding Children, Safeguarding Children Team)",
                "Kelly Cogger (Medway Council)",
            ],
        ),
        ("13", ["Penny Giles (Safeguarding lead, MCH)"]),
    ],
)
def test_leads(actions: dict[str, Action], ref: str, leads: list[str]) -> None:
    assert actions[ref].leads == leads


def test_split_lead_notes(actions: dict[str, Action]) -> None:
    assert (
        "split-lead: lead cell ran two names together: "
        "'Kelly Cogger (Medway Council)Kirstie King (MSCB)'"
    ) in actions["2"].notes
    assert (
        "split-lead: lead cell ran two names together: 'Aeilish Geldenhuys (Medway Council)"
        "Andrew Willets (Medway Council)Emma Verchiolli (KSSCRC)'"
    ) in actions["7"].notes
    with_split = [
        a.ref for a in actions.values() if any(n.startswith("split-lead") for n in a.notes)
    ]
    assert with_split == ["2", "7"]


# --- the Priority Action sub-rows and the rows with no Ref -------------------------------------


def test_priority_action_sub_rows(actions: dict[str, Action]) -> None:
    area = actions["PA.1"].area_for_improvement
    assert area is not None
    assert area.startswith("The partnership must ensure that when children about whose welfare")
    assert area.endswith("timely and consistently well matched to need and risk.")
    assert area.count("consistently well matched to need and risk.") == 1
    for ref in ("PA.1", "PA.2", "PA.3"):
        assert actions[ref].area_for_improvement == area
        assert actions[ref].key_risk == (
            "Poor information sharing leading to delays and or poorly informed decisions."
        )
        assert SUBROW_NOTE in actions[ref].notes
    assert actions["PA.1"].text == (
        "Review capacity of MASH and ensure consistent multi-agency representation (August 2018)."
    )
    assert actions["PA.3"].text.startswith("Develop a MASH workflow to improve links")


def test_missing_refs_numbered_by_place(actions: dict[str, Action]) -> None:
    assert actions["6"].area_for_improvement == (
        "Police processes around information sharing with MASH are not robust or consistent."
    )
    assert actions["7"].area_for_improvement is not None
    assert actions["7"].area_for_improvement.startswith("Fragmented DA services")
    assert (
        "missing-ref: no Ref in the source; numbered 6 from its place between actions 5 and 8"
        in actions["6"].notes
    )
    assert (
        "missing-ref: no Ref in the source; numbered 7 from its place between actions 5 and 8"
        in actions["7"].notes
    )
    with_missing = [
        a.ref for a in actions.values() if any(n.startswith("missing-ref") for n in a.notes)
    ]
    assert with_missing == ["6", "7"]


def test_a_missing_ref_with_no_free_number_is_an_error() -> None:
    text = (
        "T\n\nRef\tArea for Improvement\tKey risk\tLead (named)\tAction\t"
        "Progress (to include update date)\n"
        "1\tA\tR\tX Y (Org)\tDo it (October 2018)\tDone (October 2018)\n"
        "B\tR\tX Y (Org)\tDo it (October 2018)\tDone (October 2018)\n"
        "2\tC\tR\tX Y (Org)\tDo it (October 2018)\tDone (October 2018)\n"
    )
    with pytest.raises(ValueError, match="no free number between 1 and 2"):
        convert(text, "t.txt")


# --- milestones and timescales ---------------------------------------------------------------


def test_milestones_of_action_1(actions: dict[str, Action]) -> None:
    action = actions["1"]
    assert [(m.text, m.timescale, m.due) for m in action.milestones] == [
        ("Improve Framework-I reporting and increase audits", "October 2018", None),
        (
            "Review how the partners have oversight of MASH and how barriers to effectiveness "
            "can be escalated",
            "September 2018",
            None,
        ),
        (
            "Improve the way in which virtual partners engage to ensure better consistency",
            "November 2018",
            None,
        ),
        (
            "Kent Police to improve how they routinely capture consent from parents to share "
            "relevant information and offer early help services",
            None,
            None,
        ),
    ]
    assert action.timescale == "October 2018; September 2018; November 2018"
    assert action.title == "Improve Framework-I reporting and increase audits"
    assert action.text.startswith(
        "Improve Framework-I reporting and increase audits (October 2018)"
    )
    assert action.text.endswith(
        "capture consent from parents to share relevant information and offer early help services"
    )
    assert (
        "undated-timescale: no timescale in brackets for milestone 4 ('Kent Police to improve "
        "how they routinely capture consent from parents to share…')"
    ) in action.notes


def test_timescales_as_written(actions: dict[str, Action]) -> None:
    assert actions["4"].timescale == "September, 2018; November, 2018"
    assert actions["5"].timescale == (
        "October 2018; March 2019; November 2018; January 2019; "
        "December 2018; November 2018; December 2018"
    )
    assert [m.timescale for m in actions["6"].milestones] == [
        "November 2018",
        "October 2018",
        "November 2018",
        "November 2018",
    ]


def test_undated_action_of_pa2(actions: dict[str, Action]) -> None:
    action = actions["PA.2"]
    assert action.timescale is None
    assert len(action.milestones) == 1
    assert action.milestones[0].timescale is None
    assert action.milestones[0].text.startswith("Kent Police CRU Detective Sergeant will be based")
    assert (
        "undated-timescale: no timescale in brackets; the text says 'from 29th October' with "
        "no year"
    ) in action.notes


def test_deadline_before_the_inspection_is_read_a_year_on(actions: dict[str, Action]) -> None:
    action = actions["3"]
    suspicious = action.milestones[1]
    assert suspicious.text == (
        "MASH strategic board to be defined sub-group of MSCB providing 6 monthly reports"
    )
    assert suspicious.timescale == "January 2018"
    assert suspicious.due == date(2019, 1, 31)
    assert action.milestones[0].due is None
    assert action.timescale == "December 2018; January 2018"
    assert (
        "suspicious-date: '(January 2018)' is before this plan was drawn up after the June "
        "2018 inspection; read as January 2019 — confirm with the lead"
    ) in action.notes


def test_only_that_deadline_is_moved(plan: Plan) -> None:
    moved = [(a.ref, m.timescale) for a in plan.actions for m in a.milestones if m.due is not None]
    assert moved == [("3", "January 2018")]


# --- progress --------------------------------------------------------------------------------


def test_progress_of_pa1(actions: dict[str, Action]) -> None:
    action = actions["PA.1"]
    assert months(action) == ["2018-10", "2018-11"]
    assert all(p.date.precision == "month" and p.source == "import" for p in action.progress)
    first = action.progress[0].text
    assert first.startswith("There is now consistent, stable multi-agency representation")
    assert first.endswith("understanding of the cumulative impact of domestic abuse.")
    joined = " ".join(p.text for p in action.progress)
    assert joined.count("understanding of the cumulative impact of domestic abuse.") == 1
    assert action.progress[1].text.endswith("information improved")


def test_progress_of_pa2_keeps_its_status(actions: dict[str, Action]) -> None:
    action = actions["PA.2"]
    assert months(action) == ["2018-11", "2018-11"]
    assert action.progress[1].text == "On track"
    assert action.progress[0].text.endswith("information is more streamlined.")


def test_progress_of_action_1(actions: dict[str, Action]) -> None:
    action = actions["1"]
    assert months(action) == ["2018-09", "2018-09", "2018-10", "2018-11", "2018-10", "2018-11"]
    assert action.progress[0].text == (
        "Framework-I reporting has been adapted and now allows for "
        "more timely assessment of decisions."
    )
    assert action.progress[-1].text.endswith("embedded within Kent wide training packages.")
    assert not any(n.startswith("undated-progress") for n in action.notes)


def test_progress_of_action_5(actions: dict[str, Action]) -> None:
    action = actions["5"]
    assert months(action) == ["2018-07", "2018-09", "2018-11"]
    assert action.progress[2].text.startswith("Kent and Medway Partnership NHS Trust")
    assert action.progress[2].text.endswith("placing on the force electronic bulletin (inSite)")
    assert UNDATED_NOTE in action.notes


def test_progress_of_action_21(actions: dict[str, Action]) -> None:
    action = actions["21"]
    assert months(action) == ["2018-09", "2018-09", "2018-11"]
    assert action.progress[2].text.startswith("We are working with our Partners in Practice")
    assert UNDATED_NOTE in action.notes


@pytest.mark.parametrize("ref", ["4", "10", "11", "12", "13", "17", "24", "25"])
def test_cells_with_no_date_are_dated_at_the_last_update(
    actions: dict[str, Action], ref: str
) -> None:
    action = actions[ref]
    assert months(action) == ["2018-11"]
    assert UNDATED_NOTE in action.notes


def test_progress_after_the_last_update_is_kept_and_noted(actions: dict[str, Action]) -> None:
    assert months(actions["23"]) == ["2019-03"]
    assert (
        "suspicious-date: progress dated March 2019 is after the plan's last update (November 2018)"
    ) in actions["23"].notes
    for ref in ("7", "19"):
        assert (
            "suspicious-date: progress dated December 2018 is after the plan's last update "
            "(November 2018)"
        ) in actions[ref].notes


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def test_no_progress_word_is_lost(seed_text: str, plan: Plan) -> None:
    """Every word of the seed's Progress column is in some progress entry (its dates in the
    entry's date); nothing is invented, and only the repeated fragment of line 10 is dropped."""
    column = [line.split("\t")[-1] for line in seed_text.splitlines()[3:] if "\t" in line]
    seed_words = Counter(_words(" ".join(column)))
    converted = Counter(w for a in plan.actions for p in a.progress for w in _words(p.text))
    date_words = {
        w
        for a in plan.actions
        for p in a.progress
        for w in (calendar.month_name[p.date.month or 1], str(p.date.year))
    }
    assert set(seed_words) - set(converted) - date_words == set()

    def text_words(counts: Counter[str]) -> Counter[str]:
        return Counter({w: n for w, n in counts.items() if not _DATE_WORD.match(w)})

    expected = text_words(seed_words) - text_words(Counter(_words(REPEATED)))
    assert text_words(converted) == expected


# --- the YAML --------------------------------------------------------------------------------


def test_round_trip(plan: Plan) -> None:
    assert parse_plan(dump_plan(plan), "jtai-2018.yaml") == plan


def test_committed_yaml_matches_the_converter(plan: Plan) -> None:
    assert COMMITTED.exists(), (
        f"{COMMITTED} is missing; write it with: actionbot convert jtai "
        "../shared/seeds/000_a98873cd509f61a8.txt -o data/plans/jtai-2018.yaml"
    )
    assert COMMITTED.read_text(encoding="utf-8") == dump_plan(plan), (
        f"{COMMITTED} differs from what the converter makes of the seed; after changing "
        "bot/plans/seeds/jtai.py re-run: actionbot convert jtai "
        "../shared/seeds/000_a98873cd509f61a8.txt -o data/plans/jtai-2018.yaml "
        "(and review the diff), rather than editing the YAML by hand"
    )
