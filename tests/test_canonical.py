"""The canonical plan format: precise errors, and a plan survives being written and read back."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.plans.canonical import (
    Action,
    Milestone,
    Plan,
    PlanFileError,
    Progress,
    dump_plan,
    parse_plan,
)
from bot.plans.partial_date import PartialDate

GOOD = """\
id: p
title: A plan
actions:
  - ref: "1"
    text: Do the thing
    milestones:
      - text: first step
        timescale: (October 2018)
    progress:
      - date: 2018-10
        text: Started.
        milestone: 1
  - ref: "2"
    text: Do another thing
"""


def problems(text: str) -> list[tuple[int | None, str | None, str | None, str]]:
    with pytest.raises(PlanFileError) as caught:
        parse_plan(text, "plan.yaml")
    return [(p.line, p.ref, p.field, p.message) for p in caught.value.problems]


def test_good_plan_parses():
    plan = parse_plan(GOOD)
    [(path, a), (_, b)] = list(plan.iter_actions())
    assert (a.ref, b.ref, path) == ("1", "2", ())
    assert a.progress[0].date == PartialDate(2018, 10)


def test_errors_name_line_ref_and_field():
    assert problems(GOOD.replace("date: 2018-10", "date: October 2018")) == [
        (
            10,
            "1",
            "progress[1].date",
            "expected a date like 2018-10 or 2018-10-05, got 'October 2018'",
        ),
    ]


def test_duplicate_ref_and_missing_milestone_are_reported_together():
    text = GOOD.replace("milestone: 1", "milestone: 3").replace('ref: "2"', 'ref: "1"')
    assert problems(text) == [
        (12, "1", "progress[1].milestone", "milestone 3 does not exist (the action has 1)"),
        (13, "1", "ref", "duplicate ref: already used by the action at line 4"),
    ]


def test_unknown_field_missing_field_and_bad_rag():
    text = GOOD.replace("    text: Do another thing\n", "    colour: red\n    rag: purple\n")
    assert problems(text) == [
        (13, "2", "text", "required field is missing"),
        (15, "2", "rag", "Input should be 'red', 'amber' or 'green', got 'purple'"),
        (14, "2", "colour", "unknown field"),
    ]


def test_not_yaml_and_not_a_mapping():
    assert problems("id: [unclosed\n")[0][0] == 2
    assert problems("- just a list\n") == [(1, None, None, "expected a YAML mapping at the top")]


def test_bad_plan_id():
    assert problems(GOOD.replace("id: p", "id: Bad Id"))[0][2] == "id"


texts = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
    lambda s: s.strip() == s and s != ""
)
dates = st.builds(
    PartialDate, st.integers(1990, 2100), st.integers(1, 12), st.just(None)
) | st.dates(date(1990, 1, 1), date(2100, 12, 31)).map(PartialDate.parse)


@given(ref=texts, text=texts, step=texts, d=dates, rag=st.sampled_from([None, "red", "green"]))
def test_any_plan_round_trips_through_yaml(ref, text, step, d, rag):
    plan = Plan(
        id="p",
        title="T",
        actions=[
            Action(
                ref=ref,
                text=text,
                rag=rag,
                milestones=[Milestone(text=step, due=date(2019, 1, 31))],
                progress=[Progress(date=d, text=text, milestone=1)],
            )
        ],
    )
    assert parse_plan(dump_plan(plan)) == plan
