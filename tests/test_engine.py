"""The engine: who is reminded, what moves up the ladder, which digests are due — and its promises.

No database, server or clock: states are built here, `now` is a fixed aware datetime.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine import (
    ActionState,
    Chase,
    Deadline,
    Decisions,
    Lead,
    SendDigest,
    State,
    apply,
    decide,
)
from bot.rules import InvalidTransition, Level, Rules, load_rules
from tests.conftest import REPO

LONDON = ZoneInfo("Europe/London")
NOT_CHASED = Chase()
RULES = Rules()  # the built-in defaults: 5 working days' notice, 7-day gaps, 3 reminders
KELLY = Lead("kelly-cogger", "Kelly Cogger")
TRACEY = Lead("tracey-anstis", "Tracey Anstis")


def at(day: date, hour: int = 10, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), LONDON)


def action(
    id: int = 1,
    due: date | None = date(2018, 10, 19),
    *,
    ref: str | None = None,
    leads: tuple[Lead, ...] = (KELLY,),
    status: str = "open",
    last_progress: date | None = None,
    quiet_since: date = date(2018, 10, 1),
    chase: Chase = NOT_CHASED,
    deadlines: tuple[Deadline, ...] | None = None,
) -> ActionState:
    if deadlines is None:
        deadlines = (Deadline("Review capacity of MASH", due),) if due else ()
    return ActionState(
        id,
        "jtai-2018",
        ref or str(id),
        f"Action {id}",
        status,
        leads,
        deadlines,
        last_progress,
        quiet_since,
        chase,
    )


def asks(decisions: Decisions) -> list[tuple[str, str, str, int | None]]:
    return [
        (r.lead.key, a.ref, a.reason, a.days_overdue) for r in decisions.reminders for a in r.asks
    ]


MONDAY = date(2018, 10, 15)


def chased(decisions: Decisions) -> bool:
    """Anyone reminded or anything escalated (digests aside)."""
    return bool(decisions.reminders or decisions.escalations)


# --- when an action needs an update -------------------------------------------------------------


def test_due_within_five_working_days_asks_the_lead():
    assert asks(decide(State((action(),)), RULES, at(MONDAY))) == [
        ("kelly-cogger", "1", "due-soon", None)
    ]


def test_a_deadline_further_off_asks_nothing():
    assert not chased(decide(State((action(due=date(2018, 10, 31)),)), RULES, at(MONDAY)))


def test_on_the_day_and_after():
    due_today = action(due=MONDAY)
    assert asks(decide(State((due_today,)), RULES, at(MONDAY))) == [("kelly-cogger", "1", "due", 0)]
    overdue = action(due=date(2018, 9, 30))
    assert asks(decide(State((overdue,)), RULES, at(MONDAY))) == [
        ("kelly-cogger", "1", "overdue", 15)
    ]


def test_progress_since_the_first_ask_answers_the_deadline():
    answered = action(due=date(2018, 10, 12), last_progress=date(2018, 10, 10))
    assert not chased(decide(State((answered,)), RULES, at(MONDAY)))
    too_early = action(due=date(2018, 10, 12), last_progress=date(2018, 10, 1))
    assert asks(decide(State((too_early,)), RULES, at(MONDAY))) == [
        ("kelly-cogger", "1", "overdue", 3)
    ]


def test_the_quiet_clock_runs_separately_from_the_deadline():
    # no deadline at all, last progress more than six weeks ago
    quiet = action(due=None, last_progress=date(2018, 8, 31), quiet_since=date(2018, 8, 31))
    assert asks(decide(State((quiet,)), RULES, at(MONDAY))) == [
        ("kelly-cogger", "1", "quiet", None)
    ]
    recent = replace(quiet, quiet_since=date(2018, 9, 10))
    assert not chased(decide(State((recent,)), RULES, at(MONDAY)))


def test_a_quarterly_timescale_expects_an_update_each_quarter():
    quarterly = action(
        due=None,
        last_progress=date(2018, 9, 30),
        quiet_since=date(2018, 12, 1),
        deadlines=(
            Deadline(
                "MARAC data in the MSCB dataset",
                date(2020, 12, 31),
                recurrence="quarterly",
                start=date(2017, 1, 1),
            ),
        ),
    )
    # five working days before 31 Dec 2018, counting over Christmas and Boxing Day, is 20 Dec
    assert not chased(decide(State((quarterly,)), RULES, at(date(2018, 12, 19))))
    [(lead, ref, reason, _)] = asks(decide(State((quarterly,)), RULES, at(date(2018, 12, 20))))
    assert reason == "period"
    done_this_quarter = replace(quarterly, last_progress=date(2018, 10, 5))
    assert not chased(decide(State((done_this_quarter,)), RULES, at(date(2018, 12, 20))))


# --- who is reminded, and how often -------------------------------------------------------------


def test_one_message_per_lead_listing_all_their_actions():
    state = State((action(1), action(2, due=date(2018, 9, 28)), action(3, leads=(KELLY, TRACEY))))
    decisions = decide(state, RULES, at(MONDAY))
    assert [(r.lead.key, [a.ref for a in r.asks]) for r in decisions.reminders] == [
        ("kelly-cogger", ["1", "2", "3"]),
        ("tracey-anstis", ["3"]),
    ]


def test_reminders_repeat_after_the_gap_and_stop_at_the_most():
    sent = Chase(reminders_unanswered=1, last_reminded_at=at(MONDAY - timedelta(days=6)))
    assert not chased(decide(State((action(chase=sent),)), RULES, at(MONDAY)))
    sent = replace(sent, last_reminded_at=at(MONDAY - timedelta(days=7)))
    assert asks(decide(State((action(chase=sent),)), RULES, at(MONDAY)))
    most = Chase(reminders_unanswered=3, last_reminded_at=at(MONDAY - timedelta(days=60)))
    assert not decide(State((action(chase=most),)), RULES, at(MONDAY)).reminders


def test_slowing_cadence():
    rules = load_rules(REPO / "rules").rules  # 7 days after the first, then 14
    third = Chase(reminders_unanswered=2, last_reminded_at=at(MONDAY - timedelta(days=10)))
    overdue = action(due=date(2018, 9, 3), chase=third)
    assert decide(State((overdue,)), rules, at(MONDAY)).reminders == ()
    third = replace(third, last_reminded_at=at(MONDAY - timedelta(days=14)))
    assert len(decide(State((replace(overdue, chase=third),)), rules, at(MONDAY)).reminders) == 1


def test_complete_snoozed_and_away_are_not_chased():
    overdue = action(due=date(2018, 9, 3))
    assert not chased(decide(State((replace(overdue, status="complete"),)), RULES, at(MONDAY)))
    snoozed = replace(overdue, chase=Chase(snoozed_until=MONDAY))
    assert not chased(decide(State((snoozed,)), RULES, at(MONDAY)))
    assert chased(decide(State((snoozed,)), RULES, at(MONDAY + timedelta(days=1))))
    away = replace(overdue, leads=(Lead("kelly-cogger", "Kelly Cogger", away_until=MONDAY),))
    assert not chased(decide(State((away,)), RULES, at(MONDAY)))
    one_away = replace(away, leads=(*away.leads, TRACEY))
    assert [r.lead.key for r in decide(State((one_away,)), RULES, at(MONDAY)).reminders] == [
        "tracey-anstis"
    ]


@pytest.mark.parametrize(
    "moment",
    [
        at(date(2018, 10, 13)),  # Saturday
        at(MONDAY, 7, 59),  # before sending hours
        at(MONDAY, 18, 0),  # after
        at(date(2018, 8, 27)),  # summer bank holiday (England and Wales)
        at(date(2018, 12, 26)),  # Boxing Day
    ],
)
def test_nothing_goes_out_outside_working_hours(moment: datetime):
    state = State((action(due=date(2018, 8, 1)),), {"chair": at(date(2018, 7, 1))})
    assert decide(state, RULES, moment) == Decisions()


def test_scottish_plan_follows_scottish_bank_holidays():
    st_andrews_eve = date(2018, 11, 29)  # Thursday; St Andrew's Day (Fri 30 Nov) is a holiday
    rules = Rules(plans={"jtai-2018": {"bank_holidays": "scotland"}})  # type: ignore[dict-item]
    due_monday = action(due=date(2018, 12, 3))
    # England: Thursday is within 5 working days of Monday 3 Dec? 30,3 -> yes (2 working days)
    assert decide(State((due_monday,)), RULES, at(st_andrews_eve)).reminders
    cal = rules.working_calendar("jtai-2018")
    assert not cal.is_working_day(date(2018, 11, 30))
    assert RULES.working_calendar("jtai-2018").is_working_day(date(2018, 11, 30))


# --- the ladder ---------------------------------------------------------------------------------


def test_unanswered_and_overdue_goes_to_the_operational_group():
    chase = Chase(reminders_unanswered=2, last_reminded_at=at(MONDAY - timedelta(days=2)))
    overdue = action(due=date(2018, 9, 30), chase=chase)
    decisions = decide(State((overdue,)), RULES, at(MONDAY))
    [step] = decisions.escalations
    assert (step.from_level, step.to_level) == (Level.LEAD, Level.OPERATIONAL_GROUP)
    assert step.because == "15 days overdue, 2 reminders unanswered"
    not_yet = replace(overdue, deadlines=(Deadline("x", date(2018, 10, 5)),))
    assert decide(State((not_yet,)), RULES, at(MONDAY)).escalations == ()


def test_next_level_needs_time_at_the_previous_one():
    at_group = Chase(
        Level.OPERATIONAL_GROUP, at(MONDAY - timedelta(days=27)), 3, at(MONDAY - timedelta(days=20))
    )
    overdue = action(due=date(2018, 8, 31), chase=at_group)
    assert decide(State((overdue,)), RULES, at(MONDAY)).escalations == ()
    longer = replace(overdue, chase=replace(at_group, level_since=at(MONDAY - timedelta(days=28))))
    [step] = decide(State((longer,)), RULES, at(MONDAY)).escalations
    assert (step.from_level, step.to_level) == (Level.OPERATIONAL_GROUP, Level.STRATEGIC_BOARD)
    at_chair = replace(longer, chase=replace(longer.chase, level=Level.CHAIR))
    assert decide(State((at_chair,)), RULES, at(MONDAY)).escalations == ()


def test_progress_brings_an_escalated_action_back_to_its_lead_at_any_hour():
    back = action(
        chase=Chase(Level.STRATEGIC_BOARD, at(date(2018, 9, 1)), progress_since_level=True)
    )
    decisions = decide(State((back,)), RULES, at(date(2018, 10, 13), 23))  # Saturday night
    assert [(r.ref, r.from_level) for r in decisions.resets] == [("1", Level.STRATEGIC_BOARD)]
    assert decisions.reminders == decisions.escalations == ()
    after = apply(State((back,)), decisions, at(date(2018, 10, 13), 23))
    assert after.actions[0].chase.level is Level.LEAD


def test_the_ladder_cannot_be_jumped():
    with pytest.raises(InvalidTransition, match="cannot escalate an action at level 'chair'"):
        Level.CHAIR.above()
    from bot.engine import Escalate

    jump = Decisions(escalations=(Escalate(1, "1", "jtai-2018", Level.LEAD, Level.CHAIR, ""),))
    with pytest.raises(InvalidTransition, match="cannot move to chair"):
        apply(State((action(),)), jump, at(MONDAY))


# --- digests --------------------------------------------------------------------------------------


def test_weekly_digests_come_due_on_monday():
    last_week = {
        "operational": at(date(2018, 10, 8), 9),
        "chair": at(date(2018, 10, 8), 8),
        "strategic": at(date(2018, 10, 1), 9),
    }
    state = State((), last_week)
    assert decide(state, RULES, at(MONDAY, 8, 30)).digests == (SendDigest("chair", at(MONDAY, 8)),)
    assert {d.kind for d in decide(state, RULES, at(MONDAY, 9, 0)).digests} == {
        "operational",
        "chair",
    }


def test_the_strategic_digest_goes_working_days_before_its_meeting():
    # default: 2 working days before the 1st Wednesday (7 Nov 2018) -> Monday 5 Nov, 09:00
    state = State((), {"strategic": at(date(2018, 10, 1))})
    assert decide(state, RULES, at(date(2018, 11, 2), 12)).digests[:1] != (
        SendDigest("strategic", at(date(2018, 11, 5), 9)),
    )
    assert (
        SendDigest("strategic", at(date(2018, 11, 5), 9))
        in decide(state, RULES, at(date(2018, 11, 5), 9, 15)).digests
    )


def test_after_an_outage_one_digest_not_several():
    state = State((), {"operational": at(date(2018, 9, 3), 9)})
    digests = decide(state, RULES, at(date(2018, 10, 17), 11)).digests
    assert [d for d in digests if d.kind == "operational"] == [
        SendDigest("operational", at(MONDAY, 9))
    ]


def test_a_new_installation_does_not_send_last_weeks_digest():
    wednesday = at(date(2018, 10, 17), 11)
    assert decide(State(()), RULES, wednesday).digests == ()


# --- the promises, over any state -----------------------------------------------------------------

DAYS = st.dates(date(2018, 6, 1), date(2019, 6, 30))
MOMENTS = st.builds(
    lambda d, minutes: datetime.combine(d, time(0), LONDON) + timedelta(minutes=minutes),
    DAYS,
    st.integers(0, 24 * 60 - 1),
)
LEADS = st.lists(
    st.sampled_from(
        [KELLY, TRACEY, Lead("tina-hughes", "Tina Hughes", away_until=date(2018, 11, 1))]
    ),
    max_size=3,
    unique=True,
).map(tuple)
CHASES = st.builds(
    Chase,
    st.sampled_from(list(Level)),
    st.none() | MOMENTS,
    st.integers(0, 5),
    st.none() | MOMENTS,
    st.none() | DAYS,
    st.booleans(),
)
DEADLINES = st.lists(
    st.builds(
        Deadline,
        st.just("step"),
        st.none() | DAYS,
        st.booleans(),
        st.sampled_from([None, None, "quarterly", "monthly"]),
        st.none() | DAYS,
    ),
    max_size=3,
).map(tuple)
ACTIONS = st.builds(
    ActionState,
    st.integers(1, 10**6),
    st.sampled_from(["jtai-2018", "mscb-2017-20"]),
    st.text("0123456789.", min_size=1, max_size=5),
    st.just("t"),
    st.sampled_from(["open", "open", "ongoing", "complete", "withdrawn"]),
    LEADS,
    DEADLINES,
    st.none() | DAYS,
    DAYS,
    CHASES,
)
STATES = st.builds(
    State,
    st.lists(ACTIONS, max_size=8, unique_by=lambda a: a.id).map(tuple),
    st.dictionaries(st.sampled_from(["operational", "strategic", "chair"]), MOMENTS),
)
PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(STATES, MOMENTS)
def test_complete_withdrawn_or_snoozed_actions_are_never_chased(state: State, now: datetime):
    decisions = decide(state, RULES, now)
    today = now.date()
    chased = {a.action_id for r in decisions.reminders for a in r.asks}
    chased |= {e.action_id for e in decisions.escalations}
    for a in state.actions:
        snoozed = a.chase.snoozed_until is not None and today <= a.chase.snoozed_until
        if a.status in ("complete", "withdrawn") or snoozed:
            assert a.id not in chased


@PROPERTY
@given(STATES, MOMENTS)
def test_no_message_outside_sending_hours_or_on_a_closed_day(state: State, now: datetime):
    decisions = decide(state, RULES, now)
    if decisions.reminders or decisions.digests:
        cal = RULES.working_calendar()
        assert cal.is_working_day(now.date())
        assert time(8) <= now.time() < time(18)


@PROPERTY
@given(STATES, MOMENTS)
def test_escalation_moves_one_level_up_and_only_progress_moves_it_down(state, now):
    decisions = decide(state, RULES, now)
    levels = {a.id: a.chase for a in state.actions}
    for e in decisions.escalations:
        assert e.from_level is levels[e.action_id].level
        assert e.to_level is e.from_level.above()
    for r in decisions.resets:
        assert levels[r.action_id].progress_since_level and r.from_level is not Level.LEAD


@PROPERTY
@given(STATES, MOMENTS)
def test_running_twice_at_the_same_moment_decides_nothing_new(state: State, now: datetime):
    first = decide(state, RULES, now)
    assert decide(apply(state, first, now), RULES, now) == Decisions()


@PROPERTY
@given(STATES, MOMENTS)
def test_each_lead_hears_about_each_action_at_most_once_a_run(state: State, now: datetime):
    for r in decide(state, RULES, now).reminders:
        refs = [a.action_id for a in r.asks]
        assert len(refs) == len(set(refs))


def test_a_ten_day_outage_then_one_run_is_one_reminder_per_action():
    state = State(tuple(action(i, due=date(2018, 10, 1)) for i in range(1, 6)))
    daily = state
    sent_daily = 0
    for day in range(10):
        now = at(date(2018, 10, 8) + timedelta(days=day))
        decisions = decide(daily, RULES, now)
        sent_daily += sum(len(r.asks) for r in decisions.reminders)
        daily = apply(daily, decisions, now)
    once = decide(state, RULES, at(date(2018, 10, 17)))
    assert [len(r.asks) for r in once.reminders] == [5]  # one message, each action once
    assert sent_daily == 10  # the first day and a week later, five actions each


def test_an_action_brought_back_to_its_lead_is_judged_in_the_same_run():
    # found by the idempotency property: it used to be skipped, then reminded on a second run
    back = action(
        due=None,
        quiet_since=date(2018, 6, 1),
        chase=Chase(Level.OPERATIONAL_GROUP, None, 0, None, None, True),
    )
    now = at(date(2019, 1, 2), 8)
    first = decide(State((back,)), RULES, now)
    assert [r.ref for r in first.resets] == ["1"] and asks(first) == [
        ("kelly-cogger", "1", "quiet", None)
    ]
    assert decide(apply(State((back,)), first, now), RULES, now) == Decisions()
