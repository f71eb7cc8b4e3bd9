"""The suggested RAG reads the MSCB plan's own definitions as rules over an action's record."""

from __future__ import annotations

import inspect
from dataclasses import replace
from datetime import date, timedelta

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from bot.plans.partial_date import PartialDate
from bot.store import ActionView, MilestoneView, ProgressView
from bot.suggested_rag import is_complete, rag_flags, suggest_rag
from tests.conftest import DATA

TODAY = date(2019, 6, 3)


def milestone(due: date | None, done: bool = False, position: int = 1) -> MilestoneView:
    return MilestoneView(
        position=position,
        occurrence=1,
        text=f"Milestone {position}",
        timescale=None,
        kind="dated" if due else "undated",
        due=due,
        due_precision="day" if due else None,
        recurrence=None,
        done=done,
        depth=0,
        lead=None,
    )


def entry(when: PartialDate | date, text: str = "Progress made.") -> ProgressView:
    return ProgressView(PartialDate.parse(when), text, "import", None, None, False, None)


def action(**changes: object) -> ActionView:
    base = ActionView(
        id=1,
        plan_id="mscb-2017-20",
        ref="2.3.3",
        title="Monitor the effectiveness of MASH",
        text="Monitor the effectiveness of MASH",
        area_for_improvement=None,
        key_risk=None,
        section=None,
        timescale=None,
        timescale_kind="dated",
        due=None,
        status="open",
        rag=None,
        rag_set_by=None,
        notes=(),
        leads=(),
        milestones=(),
        progress=(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# --- red -------------------------------------------------------------------------------------


def test_timescale_passed_and_not_complete_is_red_even_with_recent_progress():
    late = action(due=date(2019, 5, 31), progress=(entry(date(2019, 6, 1)),))
    assert suggest_rag(late, TODAY) == "red"


def test_a_milestone_left_undone_past_its_date_is_red_though_the_timescale_is_ahead():
    a = action(
        due=date(2020, 3, 31),
        milestones=(milestone(date(2019, 5, 31)), milestone(date(2020, 3, 31), position=2)),
        progress=(entry(date(2019, 5, 20)),),
    )
    assert suggest_rag(a, TODAY) == "red"


def test_a_deadline_of_today_has_not_passed():
    assert suggest_rag(action(due=TODAY), TODAY) == "amber"
    assert suggest_rag(action(due=TODAY), TODAY + timedelta(days=1)) == "red"


# --- amber -----------------------------------------------------------------------------------


def test_a_missed_milestone_that_was_done_does_not_make_it_red():
    a = action(
        due=date(2019, 12, 31),
        milestones=(milestone(date(2018, 7, 31), done=True), milestone(date(2019, 12, 31), 2)),
    )
    assert suggest_rag(a, TODAY) == "amber"


def test_without_a_deadline_progress_in_the_last_90_days_is_amber():
    on_the_day = action(progress=(entry(TODAY - timedelta(days=90)),))
    a_day_older = action(progress=(entry(TODAY - timedelta(days=91)),))
    assert suggest_rag(on_the_day, TODAY) == "amber"
    assert suggest_rag(a_day_older, TODAY) is None  # no timescale, no recent progress: can't say


def test_a_month_long_progress_entry_counts_to_its_last_day():
    # "(March 2019)" may mean 31 March, which is within 90 days of 3 June
    assert suggest_rag(action(progress=(entry(PartialDate(2019, 3)),)), TODAY) == "amber"


# --- complete: green with evidence, amber without --------------------------------------------


def test_complete_with_a_progress_entry_is_green_even_past_its_timescale():
    done = action(status="complete", due=date(2018, 11, 30), progress=(entry(date(2018, 11, 2)),))
    assert suggest_rag(done, TODAY) == "green"


def test_complete_without_any_progress_entry_is_amber_for_want_of_evidence():
    assert suggest_rag(action(status="complete", due=date(2018, 11, 30)), TODAY) == "amber"


def test_every_milestone_done_is_complete_though_the_status_was_not_changed():
    a = action(
        due=date(2018, 11, 30),
        milestones=(milestone(date(2018, 7, 31), True), milestone(date(2018, 11, 30), True, 2)),
        progress=(entry(date(2018, 11, 20)),),
    )
    assert is_complete(a)
    assert suggest_rag(a, TODAY) == "green"
    assert suggest_rag(replace(a, progress=()), TODAY) == "amber"


def test_a_withdrawn_action_has_no_suggestion():
    assert suggest_rag(action(status="withdrawn", due=date(2018, 1, 31)), TODAY) is None


def test_the_docstring_quotes_the_mscb_plans_definitions_word_for_word():
    with open(DATA / "plans" / "mscb-2017-20.yaml", encoding="utf-8") as f:
        definitions = yaml.safe_load(f)["rag_definitions"]
    doc = " ".join(inspect.getdoc(suggest_rag).split())  # type: ignore[union-attr]
    assert set(definitions) == {"red", "amber", "green"}
    for colour, words in definitions.items():
        assert " ".join(words.split()) in doc, colour


# --- flags -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rag", "suggested", "days_overdue", "flags"),
    [
        (None, "red", 200, ()),  # nobody set a RAG: nothing to contradict
        ("green", "red", 30, ("Green but overdue",)),  # not also "Set green, suggested red"
        ("green", "amber", 5, ("Green but overdue",)),
        ("green", "red", None, ("Set green, suggested red",)),
        ("red", "green", None, ("Set red, suggested green",)),
        ("amber", "red", 30, ()),  # one step apart is judgement, shown as "suggested"
        ("red", "amber", None, ()),
        ("green", "green", None, ()),
        ("green", None, 0, ()),  # due today is not overdue
        ("purple", "red", 10, ()),
    ],
)
def test_flags(rag, suggested, days_overdue, flags):
    assert rag_flags(rag, suggested, days_overdue) == flags


# --- properties ------------------------------------------------------------------------------

days = st.dates(min_value=date(2016, 1, 1), max_value=date(2021, 12, 31))
milestones = st.lists(
    st.builds(milestone, due=st.none() | days, done=st.booleans()), max_size=4
).map(lambda ms: tuple(replace(m, position=i) for i, m in enumerate(ms, 1)))
actions = st.builds(
    action,
    status=st.sampled_from(["open", "ongoing", "complete", "withdrawn"]),
    due=st.none() | days,
    milestones=milestones,
    progress=st.lists(days.map(entry), max_size=3).map(tuple),
)


@given(actions, days)
def test_withdrawn_never_gets_a_suggestion_and_complete_is_never_red(a: ActionView, today: date):
    suggested = suggest_rag(a, today)
    if a.status == "withdrawn":
        assert suggested is None
    elif is_complete(a):
        assert suggested == ("green" if a.progress else "amber")
    elif a.due is not None and a.due < today:
        assert suggested == "red"
