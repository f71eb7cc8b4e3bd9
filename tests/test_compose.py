"""Composing messages: which actions each lists, in which order, what changed since the last one.

Two kinds of input: the test plan loaded into a SQLite file the way `actionbot import` loads it,
with escalations and replies written to the audit trail over two weeks, and small hand-built
views for the cases a plan file cannot easily set up. Every composed value is also rendered.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from bot import models as m
from bot.chase_state import action_state, load_state
from bot.compose import (
    DigestSnapshot,
    SnapshotEntry,
    chases_by_action,
    compose_chair_summary,
    compose_digest,
    compose_reminder,
)
from bot.db import make_engine, session
from bot.engine import Ask, Chase, Lead, RemindLead, State, decide
from bot.importing import import_files
from bot.notify.content import ChairSummary, CountRow, Digest, DigestLine, Recipient, Reminder
from bot.notify.render import render
from bot.notify.tokens import reply_address, sign, verify
from bot.plans.partial_date import PartialDate
from bot.rules import Level, Rules
from bot.store import (
    ActionView,
    GovernanceView,
    LeadView,
    PlanView,
    ProgressView,
    Reach,
    load_plans,
)
from bot.workdays import WorkingCalendar
from tests.conftest import NOW
from tests.test_load import PLAN, write

LONDON = WorkingCalendar()
SECRET = b"a test secret"
BASE = "updates@example.org"
OPS = Recipient("Ops Chair", "ops.chair@example.org", on_behalf_of="MASH Operational Group")
BOARD = Recipient("MASH Strategic Board", "mash.board@example.org")
CHAIR = Recipient("MSCB Independent Chair", "mscb.chair@example.org")

# --- the test plan in a database, over two weeks ---------------------------------------------

# NOW is Monday 3 June 2019; the plan was imported a year before.
IMPORTED = NOW - timedelta(days=365)
WEEK2 = NOW + timedelta(days=7)  # Monday 10 June 2019
EXTRA = """\
          - ref: "1.1.3"
            text: Publish the MASH annual report
            leads: ["Kelly Cogger"]
            timescale: March 2019
            status: complete
            rag: green
            rag_set_by: Kelly Cogger
            progress:
              - date: 2019-03-20
                text: Published on the MSCB website.
          - ref: "1.1.4"
            text: Agree the information sharing protocol
            leads: ["Kelly Cogger"]
            timescale: May 2019
            rag: green
            rag_set_by: Kelly Cogger
          - ref: "1.1.5"
            text: Train the front door staff
            leads: ["MASH Operational Group"]
            timescale: December 2019
            rag: amber
            rag_set_by: Ops Chair
          - ref: "1.1.6"
            text: Audit the MASH decisions
            leads: ["Kelly Cogger"]
            timescale: April 2019
          - ref: "1.1.7"
            text: Review the thresholds document
            leads: ["Tracey Anstis"]
            timescale: 7 June 2019
"""


def at(day: date, hour: int = 9) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def add(url: str, *rows: object) -> None:
    with session(make_engine(url)) as s, s.begin():
        for row in rows:
            s.add(row)


def ids(url: str) -> dict[str, int]:
    with session(make_engine(url)) as s:
        return {a.ref: a.id for a in s.exec(select(m.Action)) if a.id is not None}


def escalated(action_id: int, level: str, day: date) -> m.AuditEvent:
    return m.AuditEvent(at=at(day), kind="escalated", action_id=action_id, level=level)


def reply(action_id: int, day: date, text: str, completed: bool = False) -> m.ProgressEntry:
    return m.ProgressEntry(
        action_id=action_id,
        dated=day,
        precision="day",
        text=text,
        source="email",
        external_id=f"<{action_id}-{day}@example.org>",
        completed=completed,
        recorded_at=at(day, 10),
    )


@pytest.fixture
def db(tmp_path: Path) -> str:
    """Week one: 1.1.1 and 1.1.4 at the operational group (1.1.1 after three reminders),
    1.1.5 at the strategic board, 1.1.2 at the chair; 1.1.3 complete; 1.1.6 and 1.1.7 with
    their leads."""
    url = f"sqlite:///{tmp_path / 'compose.db'}"
    import_files(make_engine(url), write(tmp_path, PLAN + EXTRA), IMPORTED)
    a = ids(url)
    add(
        url,
        *(
            m.AuditEvent(at=at(day), kind="reminded", action_id=a["1.1.1"], person_key="x")
            for day in (date(2019, 4, 8), date(2019, 4, 15), date(2019, 4, 22))
        ),
        escalated(a["1.1.1"], "operational_group", date(2019, 5, 1)),
        escalated(a["1.1.4"], "operational_group", date(2019, 5, 20)),
        escalated(a["1.1.2"], "operational_group", date(2019, 3, 1)),
        escalated(a["1.1.2"], "strategic_board", date(2019, 4, 1)),
        escalated(a["1.1.2"], "chair", date(2019, 5, 1)),
        escalated(a["1.1.5"], "operational_group", date(2019, 4, 1)),
        escalated(a["1.1.5"], "strategic_board", date(2019, 5, 1)),
    )
    return url


def a_week_later(url: str) -> None:
    """Kent Police replied on 1.1.1 (and it went back to its lead) and on 1.1.2; Medway
    completed 1.1.4; 1.1.5 reached the chair, 1.1.6 the operational group; 1.1.7 fell due."""
    a = ids(url)
    add(
        url,
        reply(a["1.1.1"], date(2019, 6, 5), "Framework-I reports now go to the board monthly."),
        m.AuditEvent(at=at(date(2019, 6, 6)), kind="reset", action_id=a["1.1.1"], level="lead"),
        reply(a["1.1.2"], date(2019, 6, 8), "The DAN review has started with partners."),
        reply(a["1.1.4"], date(2019, 6, 7), "Signed by all partners.", completed=True),
        escalated(a["1.1.5"], "chair", date(2019, 6, 7)),
        escalated(a["1.1.6"], "operational_group", date(2019, 6, 7)),
    )
    with session(make_engine(url)) as s, s.begin():
        action = s.exec(select(m.Action).where(m.Action.ref == "1.1.4")).one()
        action.status = "complete"
        s.add(action)


def read(url: str) -> tuple[list[PlanView], State]:
    with session(make_engine(url)) as s:
        plans = load_plans(s)
        return plans, load_state(s, plans)


def refs(lines: Iterable[DigestLine]) -> list[str]:
    return [line.ref for line in lines]


def digest(url: str, kind: str, now: datetime, previous: DigestSnapshot | None = None):
    plans, state = read(url)
    return compose_digest(
        kind,  # type: ignore[arg-type]
        plans,
        state,
        now,
        recipients=(OPS if kind == "operational" else BOARD,),
        previous=previous,
        key=f"{kind}-digest/{now:%Y-%m-%d}",
        calendar=LONDON,
    )


def summary(url: str, now: datetime, previous: DigestSnapshot | None = None):
    plans, state = read(url)
    return compose_chair_summary(
        plans,
        state,
        now,
        recipients=(CHAIR,),
        previous=previous,
        key=f"chair-summary/{now:%Y-%m-%d}",
        calendar=LONDON,
    )


def stored(snapshot: DigestSnapshot) -> DigestSnapshot:
    """As the runner keeps it: text in the database, read back next time."""
    return DigestSnapshot.from_json(snapshot.to_json())


# --- the operational group's digest, from the database ---------------------------------------


def test_operational_digest_lists_its_actions_by_organisation_then_most_overdue(db: str):
    composed, snapshot = digest(db, "operational", NOW)
    assert (composed.kind, composed.group, composed.key) == (
        "operational-digest",
        "MASH Operational Group",
        "operational-digest/2019-06-03",
    )
    assert composed.lines[0] == DigestLine(
        plan_title="Test plan",
        ref="1.1.1",
        title="Improve Framework-I reporting and increase audits",
        leads=(("Tracey Anstis", "Kent Police"), ("Kelly Cogger", "Medway Council")),
        organisation="Kent Police",
        due=date(2018, 7, 31),
        days_overdue=307,
        last_update=PartialDate(2018, 10, 5),
        reminders_unanswered=3,
        level="operational_group",
        level_since=at(date(2019, 5, 1)),
        rag=None,
        rag_set_by=None,
        suggested_rag="red",
        flags=(),
        change=None,  # no digest before this one: nothing is marked
    )
    second = composed.lines[1]
    assert (second.ref, second.organisation, second.days_overdue, second.last_update) == (
        "1.1.4",
        "Medway Council",
        3,
        None,
    )
    assert (second.rag, second.rag_set_by, second.suggested_rag, second.flags) == (
        "green",
        "Kelly Cogger",
        "red",
        ("Green but overdue",),
    )
    assert len(composed.lines) == 2
    assert (composed.left_the_list, composed.previous_at, composed.sent_at) == ((), None, NOW)
    assert list(snapshot.actions) == ["test-plan/1.1.1", "test-plan/1.1.4"]
    assert snapshot.at == NOW
    assert snapshot.actions["test-plan/1.1.1"] == SnapshotEntry(
        Level.OPERATIONAL_GROUP,
        "2018-10-05",
        307,
        2,
        "Action 1.1.1 — Improve Framework-I reporting and increase audits",
    )


def test_operational_digest_a_week_later_says_what_is_new_and_why_others_left(db: str):
    _, first = digest(db, "operational", NOW)
    a_week_later(db)
    composed, snapshot = digest(db, "operational", WEEK2, stored(first))
    assert [(x.ref, x.organisation, x.days_overdue, x.change) for x in composed.lines] == [
        ("1.1.6", "Medway Council", 41, "new")
    ]
    assert composed.left_the_list == (
        "Action 1.1.1 — Improve Framework-I reporting and increase audits — updated 5 Jun 2019",
        "Action 1.1.4 — Agree the information sharing protocol — completed",
    )
    assert composed.previous_at == NOW
    assert list(snapshot.actions) == ["test-plan/1.1.6"]


# --- the strategic board's digest, from the database -----------------------------------------


def test_strategic_digest_lists_the_board_and_the_chair(db: str):
    composed, snapshot = digest(db, "strategic", NOW)
    assert composed.group == "MASH Strategic Board"  # the test plan names no board
    assert [
        (x.ref, x.organisation, x.level, x.days_overdue, x.rag, x.suggested_rag)
        for x in composed.lines
    ] == [
        ("1.1.2", "Kent Police", "chair", 185, None, "red"),
        ("1.1.5", "MASH Operational Group", "strategic_board", None, "amber", "amber"),
    ]
    assert {k: e.level for k, e in snapshot.actions.items()} == {
        "test-plan/1.1.2": Level.CHAIR,
        "test-plan/1.1.5": Level.STRATEGIC_BOARD,
    }


def test_strategic_digest_a_week_later_marks_moved_up_and_updated(db: str):
    _, first = digest(db, "strategic", NOW)
    a_week_later(db)
    composed, _ = digest(db, "strategic", WEEK2, stored(first))
    assert [(x.ref, x.level, x.change) for x in composed.lines] == [
        ("1.1.2", "chair", "updated"),
        ("1.1.5", "chair", "moved up"),
    ]
    assert composed.lines[0].last_update == PartialDate(2019, 6, 8)
    assert composed.left_the_list == ()


# --- the chair's summary, from the database --------------------------------------------------


def test_chair_summary_counts_every_open_action_and_names_the_worst(db: str):
    composed, snapshot = summary(db, NOW)
    assert composed.by_rag == CountRow("All open actions", amber=1, green=1, unrated=4, overdue=4)
    # the three overdue unrated ones are suggested red, the one within its timescale amber
    assert composed.unrated_suggested == CountRow(
        "Not rated, by suggested RAG", red=3, amber=1, overdue=3
    )
    assert composed.by_organisation == (
        CountRow("Kent Police", unrated=3, overdue=2),
        CountRow("MASH Operational Group", amber=1),
        CountRow("Medway Council", green=1, unrated=1, overdue=2),
    )
    assert refs(composed.newly_overdue) == ["1.1.4"]  # no summary before: overdue a week at most
    assert [(x.ref, x.days_overdue) for x in composed.longest_overdue] == [
        ("1.1.1", 307),
        ("1.1.2", 185),
        ("1.1.6", 34),
        ("1.1.4", 3),
    ]
    assert refs(composed.at_chair) == ["1.1.2"]
    assert composed.movement == ()
    assert (composed.week_start, composed.sent_at) == (date(2019, 6, 3), NOW)
    # 1.1.3 is complete: not counted, not in the snapshot
    assert sorted(snapshot.actions) == [f"test-plan/1.1.{n}" for n in (1, 2, 4, 5, 6, 7)]


def test_chair_summary_a_week_later_says_what_moved(db: str):
    _, first = summary(db, NOW)
    a_week_later(db)
    composed, _ = summary(db, WEEK2, stored(first))
    assert composed.movement == (
        "1 action completed",
        "2 moved up the ladder",  # 1.1.5 to the chair, 1.1.6 to the operational group
        "3 progress entries recorded",
        "1 newly overdue",
    )
    assert [(x.ref, x.days_overdue) for x in composed.newly_overdue] == [("1.1.7", 3)]
    assert refs(composed.longest_overdue) == ["1.1.1", "1.1.2", "1.1.6", "1.1.7"]
    assert refs(composed.at_chair) == ["1.1.2", "1.1.5"]
    assert composed.by_rag == CountRow("All open actions", amber=1, unrated=4, overdue=4)
    assert composed.week_start == date(2019, 6, 10)


# --- reminders, from the database ------------------------------------------------------------


def person_ids(url: str) -> dict[str, int]:
    with session(make_engine(url)) as s:
        return {p.key: p.id for p in s.exec(select(m.Person)) if p.id is not None}


def reaches(plans: list[PlanView]) -> dict[str, Reach]:
    return {
        lead.reaches.key: lead.reaches
        for plan in plans
        for action in plan.actions
        for lead in action.leads
        if lead.reaches is not None
    }


def test_reminder_lists_the_asks_in_document_order_with_signed_reply_addresses(db: str):
    plans, state = read(db)
    a = ids(db)
    people = person_ids(db)
    decision = RemindLead(
        Lead("tracey-anstis", "Tracey Anstis"),
        (
            Ask(
                a["1.1.7"],
                "1.1.7",
                "test-plan",
                "due-soon",
                date(2019, 6, 7),
                None,
                None,
                Level.LEAD,
            ),
            Ask(
                a["1.1.1"],
                "1.1.1",
                "test-plan",
                "overdue",
                date(2018, 7, 31),
                "MARAC Annual Report to PMQA",
                307,
                Level.OPERATIONAL_GROUP,
            ),
        ),
    )
    reminder = compose_reminder(
        decision,
        {p.id: p for p in plans},
        reaches(plans)["tracey-anstis"],
        NOW,
        reply_base=BASE,
        secret=SECRET,
        outbox_key="reminder/tracey-anstis/2019-06-03T09:00",
        message_token_id=41,
        person_ids=people,
        chases=chases_by_action(state),
    )
    assert reminder.recipient == Recipient("Tracey Anstis", "tracey.anstis@example.org")
    assert [x.ref for x in reminder.lines] == ["1.1.1", "1.1.7"]
    first, second = reminder.lines
    assert (first.plan_title, first.title, first.reason, first.milestone, first.due) == (
        "Test plan",
        "Improve Framework-I reporting and increase audits",
        "overdue",
        "MARAC Annual Report to PMQA",
        date(2018, 7, 31),
    )
    assert (first.days_overdue, first.level, first.action_id) == (
        307,
        "operational_group",
        a["1.1.1"],
    )
    assert (first.last_update, first.last_update_text) == (
        PartialDate(2018, 10, 5),
        "Audits introduced.",
    )
    assert (second.last_update, second.last_update_text, second.level) == (None, None, "lead")
    assert verify(SECRET, first.reply_address.split("+")[1].split("@")[0]) == (  # type: ignore[union-attr]
        "a",
        (a["1.1.1"], people["tracey-anstis"]),
    )
    assert reminder.reply_address == reply_address(BASE, sign(SECRET, "m", 41))
    assert reminder.reminder_number == 4  # 1.1.1 had three reminders unanswered
    assert (reminder.key, reminder.sent_at) == ("reminder/tracey-anstis/2019-06-03T09:00", NOW)


def test_every_reminder_the_engine_decides_composes_and_renders(db: str):
    plans, state = read(db)
    decided = decide(state, Rules(), NOW)
    assert decided.reminders
    by_key = reaches(plans)
    for decision in decided.reminders:
        reminder = compose_reminder(
            decision,
            {p.id: p for p in plans},
            by_key[decision.lead.key],
            NOW,
            reply_base=BASE,
            secret=SECRET,
            outbox_key=f"reminder/{decision.lead.key}",
            chases=chases_by_action(state),
        )
        order = [a.ref for p in plans for a in p.actions]
        assert [x.ref for x in reminder.lines] == sorted(
            (ask.ref for ask in decision.asks), key=order.index
        )
        rendered = render("reminder", reminder)
        for line in reminder.lines:
            assert f"Action {line.ref} — {line.title}" in rendered.text


def test_every_kind_composed_from_the_database_renders_over_two_weeks(db: str):
    ops, ops_snap = digest(db, "operational", NOW)
    board, board_snap = digest(db, "strategic", NOW)
    chair, chair_snap = summary(db, NOW)
    a_week_later(db)
    ops2, _ = digest(db, "operational", WEEK2, stored(ops_snap))
    board2, _ = digest(db, "strategic", WEEK2, stored(board_snap))
    chair2, _ = summary(db, WEEK2, stored(chair_snap))
    for value in (ops, ops2, board, board2):
        rendered = render(value.kind, value)
        for line in value.lines:
            assert f"Action {line.ref} — {line.title}" in rendered.text
    assert "Flags: Green but overdue" in render("operational-digest", ops).text
    text = render("operational-digest", ops2).text
    assert "Since the last digest: new" in text
    assert "- Action 1.1.4 — Agree the information sharing protocol — completed" in text
    assert "Since the last digest: moved up" in render("strategic-digest", board2).text
    assert (
        "Red 0 | Amber 1 | Green 1 | Not rated 4 | Overdue 4" in render("chair-summary", chair).text
    )
    text = render("chair-summary", chair2).text
    assert "- 3 progress entries recorded" in text
    assert "WEEK OF 10 JUN 2019" in text


# --- hand-built views ------------------------------------------------------------------------

JTAI = "JTAI Response Action Plan"
MSCB = "MSCB Business Plan 2017-20"
LONG = (
    "Workflow has been developed and includes requirement on partners to provide analysis on"
    " information shared. Training delivered to in situ partners. Training now to be rolled"
    " out across virtual partners"
)


def lead(name: str, organisation: str | None = None, kind: str = "person") -> LeadView:
    key = name.lower().replace(" ", "-")
    reach = Reach(key, name, f"{key}@example.org", None, None)
    return LeadView(name, name, organisation, kind, key, True, reach.email, None, reach)


def progress(when: str, text: str = "Progress made.") -> ProgressView:
    return ProgressView(PartialDate.parse(when), text, "import", None, None, False, None)


def action(
    id: int, ref: str, plan_id: str = "jtai-2018", *, title: str | None = None, **changes: object
) -> ActionView:
    base = ActionView(
        id=id,
        plan_id=plan_id,
        ref=ref,
        title=title or f"Action {ref} title",
        text=title or f"Action {ref} title",
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
        leads=(lead("Kelly Cogger", "Medway Council"),),
        milestones=(),
        progress=(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def plan(id: str, title: str, *actions: ActionView, groups: dict[str, str] | None = None):
    governance = tuple(GovernanceView(level, name, None) for level, name in (groups or {}).items())
    return PlanView(id, title, None, None, None, (), {}, governance, tuple(actions))


def state(*chased: tuple[ActionView, Chase]) -> State:
    return State(tuple(action_state(a, chase, None) for a, chase in chased))


def at_level(level: Level, **more: object) -> Chase:
    return Chase(level=level, level_since=datetime(2019, 5, 1, 9, tzinfo=UTC), **more)  # type: ignore[arg-type]


def ask(a: ActionView, reason: str = "overdue", days: int | None = 12) -> Ask:
    return Ask(a.id, a.ref, a.plan_id, reason, a.due, None, days, Level.LEAD)  # type: ignore[arg-type]


PA1 = action(11, "PA.1", due=date(2018, 9, 30))
PA2 = action(
    12, "PA.2", due=date(2018, 10, 31), progress=(progress("2018-10"), progress("2018-10-31", LONG))
)
M233 = action(
    21, "2.3.3", "mscb-2017-20", title="Monitor the effectiveness of MASH", due=date(2019, 5, 31)
)
PLANS = {
    "jtai-2018": plan("jtai-2018", JTAI, PA1, PA2),
    "mscb-2017-20": plan("mscb-2017-20", MSCB, M233),
}
KELLY = Reach("kelly-cogger", "Kelly Cogger", "kelly.cogger@example.org", "U123", None)


def remind(*asks: Ask, **options: object) -> Reminder:
    kwargs: dict[str, object] = {"reply_base": BASE, "secret": SECRET, "outbox_key": "r/1"}
    kwargs.update(options)
    return compose_reminder(
        RemindLead(Lead("kelly-cogger", "Kelly Cogger"), asks),
        PLANS,
        KELLY,
        NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def test_reminder_lines_come_in_plan_then_document_order():
    reminder = remind(ask(M233), ask(PA2), ask(PA1))
    assert [(x.plan_title, x.ref) for x in reminder.lines] == [
        (JTAI, "PA.1"),
        (JTAI, "PA.2"),
        (MSCB, "2.3.3"),
    ]
    assert reminder.recipient == Recipient("Kelly Cogger", "kelly.cogger@example.org", "U123")
    assert reminder.reminder_number == 1  # nobody told us of earlier reminders


def test_reminder_excerpt_is_cut_on_a_word_and_the_latest_of_equal_dates_wins():
    line = remind(ask(PA2)).lines[0]
    assert line.last_update == PartialDate(2018, 10, 31)  # listed after "2018-10", same last day
    assert line.last_update_text == (
        "Workflow has been developed and includes requirement on partners to provide analysis on"
        " information shared. Training delivered to in situ partners. Training…"
    )
    assert len(line.last_update_text) <= 160  # type: ignore[arg-type]


def test_reply_addresses_sign_the_action_and_the_lead():
    known = remind(ask(PA1), person_ids={"kelly-cogger": 7}, message_token_id=300)
    assert known.lines[0].reply_address == reply_address(BASE, sign(SECRET, "a", 11, 7))
    assert known.reply_address == reply_address(BASE, sign(SECRET, "m", 300))
    unknown = remind(ask(PA1))
    assert unknown.lines[0].reply_address == reply_address(BASE, sign(SECRET, "a", 11, 0))
    assert unknown.reply_address is None  # no outbox row yet: no Reply-To
    nowhere = remind(ask(PA1), reply_base=None, message_token_id=300)
    assert (nowhere.lines[0].reply_address, nowhere.reply_address) == (None, None)


def test_reminder_number_follows_the_most_chased_action():
    chases = {11: Chase(reminders_unanswered=1), 21: Chase(reminders_unanswered=2)}
    assert remind(ask(PA1), ask(M233), chases=chases).reminder_number == 3
    assert remind(ask(PA2), chases=chases).reminder_number == 1


def test_a_reminder_about_an_action_not_in_the_plans_is_refused():
    stray = action(99, "X.9", "other-plan")
    with pytest.raises(ValueError, match="action X.9 of plan other-plan"):
        remind(ask(stray))
    with pytest.raises(ValueError, match="aware"):
        compose_reminder(
            RemindLead(Lead("kelly-cogger", "Kelly Cogger"), (ask(PA1),)),
            PLANS,
            KELLY,
            NOW.replace(tzinfo=None),
            reply_base=None,
            secret=SECRET,
            outbox_key="r/1",
        )


def compose(kind: str, plans: list[PlanView], st: State, previous=None, now: datetime = NOW):
    return compose_digest(
        kind,  # type: ignore[arg-type]
        plans,
        st,
        now,
        recipients=(BOARD,),
        previous=previous,
        key="k",
        calendar=LONDON,
        proposed_dates=("Action PA.1 — Kelly Cogger proposes July 2019 instead of Sep 2018",),
    )


def snap(*entries: tuple[str, Level, str | None, int | None], label: str | None = None):
    return DigestSnapshot(
        NOW - timedelta(days=7),
        {key: SnapshotEntry(level, last, days, 0, label) for key, level, last, days in entries},
    )


def test_digest_orders_by_organisation_ignoring_case_then_most_overdue():
    a = action(1, "A", due=date(2019, 5, 1), leads=(lead("Zoe", "kent police"),))
    b = action(2, "B", due=date(2019, 1, 1), leads=(lead("Kelly Cogger", "Medway Council"),))
    c = action(3, "C", due=date(2020, 1, 1), leads=(lead("Kelly Cogger", "Medway Council"),))
    d = action(4, "D", due=date(2019, 3, 1), leads=(lead("Tracey Anstis", "Kent Police"),))
    e = action(5, "E", due=date(2019, 4, 1), leads=())
    f = action(6, "F", due=date(2019, 4, 1), leads=(lead("Front Door Panel", None, "group"),))
    g = action(7, "G", due=date(2019, 5, 1), leads=(lead("Kelly Cogger", "Medway Council"),))
    everything = [a, b, c, d, e, f, g]
    st = state(*((x, at_level(Level.OPERATIONAL_GROUP)) for x in everything))
    composed, snapshot = compose("operational", [plan("jtai-2018", JTAI, *everything)], st)
    assert [(x.ref, x.organisation, x.days_overdue) for x in composed.lines] == [
        ("F", "Front Door Panel", 63),  # a lead with no organisation stands for itself
        ("D", "Kent Police", 94),
        ("A", "kent police", 33),
        ("B", "Medway Council", 153),
        ("G", "Medway Council", 33),
        ("C", "Medway Council", None),  # not overdue: last of its organisation
        ("E", "No lead", 63),
    ]
    assert composed.group == "MASH Operational Group"  # the plan names no group
    assert composed.proposed_dates == (
        "Action PA.1 — Kelly Cogger proposes July 2019 instead of Sep 2018",
    )
    assert list(snapshot.actions) == [f"jtai-2018/{x}" for x in "FDABGCE"]


def test_digest_changes_and_why_actions_left_the_strategic_board():
    climbed = action(1, "PA.1", due=date(2019, 1, 31))
    arrived = action(2, "PA.2", due=date(2019, 1, 31))
    replied = action(3, "PA.3", due=date(2019, 1, 31), progress=(progress("2019-06-01"),))
    same = action(
        4, "PA.4", due=date(2019, 1, 31), progress=(progress("2018-10"), progress("2018-10-05"))
    )
    reset = action(
        5,
        "PA.5",
        title="Develop a MASH workflow to improve links to virtual partners and improve…",
        progress=(progress("2019-05-30"),),
    )
    done = action(6, "PA.6", status="complete")
    board = "MASH Strategic Board"
    st = state(
        (climbed, at_level(Level.CHAIR)),
        (arrived, at_level(Level.STRATEGIC_BOARD)),
        (replied, at_level(Level.STRATEGIC_BOARD)),
        (same, at_level(Level.STRATEGIC_BOARD)),
        (reset, Chase()),
        (done, at_level(Level.STRATEGIC_BOARD)),
    )
    previous = snap(
        ("jtai-2018/PA.1", Level.STRATEGIC_BOARD, None, 100),
        ("jtai-2018/PA.3", Level.STRATEGIC_BOARD, "2018-10", 100),
        ("jtai-2018/PA.4", Level.STRATEGIC_BOARD, "2018-10", 100),
        ("jtai-2018/PA.5", Level.STRATEGIC_BOARD, "2019-04", None),
        ("jtai-2018/PA.6", Level.STRATEGIC_BOARD, None, None),
        ("jtai-2018/3", Level.CHAIR, None, 10),
        label="JTAI 3 — Improve data reporting…",
    )
    plans = [
        plan(
            "jtai-2018",
            JTAI,
            climbed,
            arrived,
            replied,
            same,
            reset,
            done,
            groups={"strategic_board": board},
        )
    ]
    composed, _ = compose("strategic", plans, st, previous)
    assert [(x.ref, x.level, x.change) for x in composed.lines] == [
        ("PA.1", "chair", "moved up"),
        ("PA.2", "strategic_board", "new"),
        ("PA.3", "strategic_board", "updated"),
        ("PA.4", "strategic_board", None),  # a reply dated within "October 2018" is not news
    ]
    assert composed.left_the_list == (
        "JTAI PA.5 — Develop a MASH workflow to improve links to virtual… — updated 30 May 2019",
        "JTAI PA.6 — Action PA.6 title — completed",
        "JTAI 3 — Improve data reporting… — withdrawn or taken out of the plan",
    )
    assert composed.previous_at == NOW - timedelta(days=7)


def test_an_action_that_moved_up_or_went_quietly_back_leaves_the_operational_digest():
    up = action(1, "PA.1", due=date(2019, 1, 31))
    back = action(2, "PA.2", due=date(2019, 1, 31), progress=(progress("2018-10"),))
    st = state((up, at_level(Level.STRATEGIC_BOARD)), (back, Chase()))
    previous = snap(
        ("jtai-2018/PA.1", Level.OPERATIONAL_GROUP, None, 100),
        ("jtai-2018/PA.2", Level.OPERATIONAL_GROUP, "2018-10", 100),
    )
    composed, snapshot = compose("operational", [plan("jtai-2018", JTAI, up, back)], st, previous)
    assert composed.lines == () and dict(snapshot.actions) == {}
    assert composed.left_the_list == (
        "JTAI PA.1 — Action PA.1 title — moved up to the strategic board",
        "JTAI PA.2 — Action PA.2 title — back with its lead",
    )


def test_days_overdue_are_counted_on_the_london_calendar_day():
    due_sunday = action(1, "PA.1", due=date(2019, 6, 2))
    st = state((due_sunday, at_level(Level.OPERATIONAL_GROUP)))
    plans = [plan("jtai-2018", JTAI, due_sunday)]
    late_sunday_utc = datetime(2019, 6, 2, 23, 30, tzinfo=UTC)  # 00:30 on Monday in London
    composed, _ = compose("operational", plans, st, now=late_sunday_utc)
    assert composed.lines[0].days_overdue == 1
    composed, _ = compose("operational", plans, st, now=late_sunday_utc - timedelta(hours=1))
    assert composed.lines[0].days_overdue is None  # 23:30 on Sunday in London: due today


def test_the_group_is_named_as_the_plans_name_it_when_they_agree():
    ours = {"operational_group": "Front Door Group"}
    theirs = {"operational_group": "MASH Operations"}
    one = [plan("a", JTAI, groups=ours), plan("b", MSCB, groups=ours)]
    two = [plan("a", JTAI, groups=ours), plan("b", MSCB, groups=theirs)]
    assert compose("operational", one, State(()))[0].group == "Front Door Group"
    assert compose("operational", two, State(()))[0].group == "MASH Operational Group"


def test_a_snapshot_survives_being_stored_as_text():
    a = action(1, "PA.1", due=date(2019, 1, 31), progress=(progress("2018-10"),))
    b = action(2, "PA.2", leads=(lead("Tracey Anstis", "Kent Police"),))
    st = state((a, at_level(Level.STRATEGIC_BOARD)), (b, at_level(Level.CHAIR)))
    _, snapshot = compose("strategic", [plan("jtai-2018", JTAI, a, b)], st)
    text = snapshot.to_json()
    assert DigestSnapshot.from_json(text) == snapshot
    assert list(DigestSnapshot.from_json(text).actions) == ["jtai-2018/PA.2", "jtai-2018/PA.1"]
    assert json.loads(text)["actions"]["jtai-2018/PA.1"] == {
        "level": "strategic_board",
        "last_update_iso": "2018-10",
        "days_overdue": 123,
        "progress_entries": 1,
        "label": "JTAI PA.1 — Action PA.1 title",
    }


@pytest.mark.parametrize(
    "text",
    [
        "",
        "[]",
        '{"at": "2019-06-03T09:00:00+00:00"}',
        '{"at": "2019-06-03T09:00:00", "actions": {}}',
        '{"at": "2019-06-03T09:00:00+00:00", "actions": {"a/1": {"level": "board"}}}',
    ],
)
def test_a_damaged_snapshot_is_refused_with_a_reason(text: str):
    with pytest.raises(ValueError, match="not a digest snapshot"):
        DigestSnapshot.from_json(text)


def chair_summary(plans: list[PlanView], st: State, previous=None, now: datetime = NOW):
    return compose_chair_summary(
        plans, st, now, recipients=(CHAIR,), previous=previous, key="c", calendar=LONDON
    )


def test_newly_overdue_is_judged_against_last_weeks_summary():
    was_due = action(1, "PA.1", due=date(2019, 5, 31))  # overdue now, not last week
    still = action(2, "PA.2", due=date(2019, 1, 31))  # overdue then and now
    new_old = action(3, "PA.3", due=date(2019, 1, 31))  # not in last week's summary, long overdue
    new_fresh = action(4, "PA.4", due=date(2019, 5, 29))  # not in it either, overdue 5 days
    everything = [was_due, still, new_old, new_fresh]
    previous = snap(
        ("jtai-2018/PA.1", Level.LEAD, None, None),
        ("jtai-2018/PA.2", Level.LEAD, None, 116),
    )
    st = state(*((x, Chase()) for x in everything))
    composed, snapshot = chair_summary([plan("jtai-2018", JTAI, *everything)], st, previous)
    assert [(x.ref, x.days_overdue) for x in composed.newly_overdue] == [("PA.4", 5), ("PA.1", 3)]
    assert composed.movement == ("2 newly overdue",)
    assert snapshot.actions["jtai-2018/PA.1"].days_overdue == 3


def test_longest_overdue_is_the_ten_most_overdue():
    many = [action(i, f"L{i}", due=date(2019, 1, 1) + timedelta(days=i)) for i in range(12)]
    st = state(*((x, Chase()) for x in many))
    composed, _ = chair_summary([plan("jtai-2018", JTAI, *many)], st)
    assert refs(composed.longest_overdue) == [f"L{i}" for i in range(10)]
    assert composed.by_rag.overdue == 12
    assert composed.newly_overdue == ()


def test_movement_in_the_singular_and_only_what_happened():
    a = action(1, "PA.1", progress=(progress("2019-06-01"),))
    b = action(2, "PA.2", status="complete")
    previous = snap(
        ("jtai-2018/PA.1", Level.LEAD, None, None),
        ("jtai-2018/PA.2", Level.OPERATIONAL_GROUP, None, None),
    )
    st = state((a, at_level(Level.OPERATIONAL_GROUP)), (b, Chase()))
    composed, snapshot = chair_summary([plan("jtai-2018", JTAI, a, b)], st, previous)
    assert composed.movement == (
        "1 action completed",
        "1 moved up the ladder",
        "1 progress entry recorded",
    )
    assert list(snapshot.actions) == ["jtai-2018/PA.1"]


def test_the_week_starts_on_the_monday_of_the_london_day():
    composed, _ = chair_summary([], State(()), now=datetime(2019, 6, 12, 8, tzinfo=UTC))
    assert composed.week_start == date(2019, 6, 10)
    composed, _ = chair_summary([], State(()), now=datetime(2019, 6, 16, 23, 30, tzinfo=UTC))
    assert composed.week_start == date(2019, 6, 17)  # already Monday in London
    assert composed.by_rag == CountRow("All open actions")
    assert composed.by_organisation == ()


def test_hand_built_values_render():
    reminder = remind(ask(PA1), ask(M233, "due-soon", None), message_token_id=1)
    st = state(
        (PA1, at_level(Level.STRATEGIC_BOARD)),
        (PA2, at_level(Level.CHAIR, reminders_unanswered=4)),
        (M233, at_level(Level.OPERATIONAL_GROUP)),
    )
    plans = list(PLANS.values())
    previous = snap(("jtai-2018/PA.1", Level.OPERATIONAL_GROUP, None, 1), label="JTAI 3 — x")
    ops, _ = compose("operational", plans, st, previous)
    board, _ = compose("strategic", plans, st, previous)
    chair, _ = chair_summary(plans, st, previous)
    values: list[tuple[str, Reminder | Digest | ChairSummary]] = [
        ("reminder", reminder),
        ("operational-digest", ops),
        ("strategic-digest", board),
        ("chair-summary", chair),
    ]
    for kind, value in values:
        rendered = render(kind, value)
        assert rendered.subject and rendered.html.startswith("<!DOCTYPE html>")
    assert "Action PA.1 — Action PA.1 title" in render("reminder", reminder).text
    assert refs(ops.lines) == ["2.3.3"] and refs(board.lines) == ["PA.1", "PA.2"]
    assert refs(chair.at_chair) == ["PA.2"]
