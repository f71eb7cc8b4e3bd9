"""What storing a tick's messages reads: only the actions they show, and for digests no texts.

`load_actions`, `load_for_reminders`, `chases_for` and `load_for_digests` must give what the
whole plans give
(`load_plans`, `load_state`), for the actions asked about: the messages composed from them are
the spec, and they must not change with how the data was read.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from benchmarks.generate import Shape, generate
from bot import models as m
from bot.chase_state import chases_for, load_state
from bot.chasing import _governance_recipients, _reaches, store_decisions
from bot.compose import (
    DigestSnapshot,
    chases_by_action,
    compose_chair_summary,
    compose_digest,
    compose_reminder,
)
from bot.db import make_engine, session
from bot.engine import Ask, Decisions, Escalate, Lead, RemindLead, SendDigest
from bot.notify.render import render
from bot.rules import Level, load_rules
from bot.settings import load_settings
from bot.store import (
    PlanView,
    Reach,
    load_actions,
    load_for_digests,
    load_for_reminders,
    load_plans,
)
from tests.conftest import NOW, REPO
from tests.test_compose import BOARD, CHAIR, LONDON, OPS, a_week_later, db, stored

WEEK_ONE = db  # the fixture: test_compose.py's week one


def only(plans: list[PlanView], ids: set[int]) -> list[PlanView]:
    """The plans holding some of `ids`, each with just those actions, as load_actions says."""
    narrowed = [replace(p, actions=tuple(a for a in p.actions if a.id in ids)) for p in plans]
    return [p for p in narrowed if p.actions]


@pytest.fixture
def generated(tmp_path: Path) -> str:
    """Many plans, people and groups (with contacts and mailboxes), as benchmarks make them."""
    url = f"sqlite:///{tmp_path / 'generated.db'}"
    generate(make_engine(url), Shape(size=600, leads=40, plan_size=100), quiet=True)
    return url


@pytest.mark.parametrize("which", ["db", "generated"])
def test_load_actions_gives_the_views_load_plans_gives(which: str, request: pytest.FixtureRequest):
    url = request.getfixturevalue(which)
    with session(make_engine(url)) as s:
        plans = load_plans(s)
        every = [a.id for p in plans for a in p.actions]
        for ids in (set(every), {every[0]}, set(every[::3]), {every[-1], every[1]}):
            assert load_actions(s, ids) == only(plans, ids)
        assert load_actions(s, []) == []


@pytest.mark.parametrize("which", ["db", "generated"])
def test_reminders_from_the_narrow_views_are_the_same(which: str, request: pytest.FixtureRequest):
    """A reminder asking about some actions says the same composed from `load_for_reminders`
    as from the whole plans, and reaches the same people."""
    url = request.getfixturevalue(which)
    reach = Reach("someone", "Someone", "someone@example.org", None, None)
    with session(make_engine(url)) as s:
        plans = load_plans(s)
        every = [(p, a) for p in plans for a in p.actions]
        shown = []
        for chosen in (every, every[::3], [every[-1], every[1]]):
            ids = {a.id for _, a in chosen}
            asks = tuple(
                Ask(a.id, a.ref, p.id, "quiet", a.due, None, None, Level.LEAD) for p, a in chosen
            )
            decision = RemindLead(Lead("someone", "Someone"), asks)

            def reminder(views: list[PlanView], decision: RemindLead = decision):
                return compose_reminder(
                    decision,
                    {p.id: p for p in views},
                    reach,
                    NOW,
                    reply_base="updates@example.org",
                    secret=b"s3cret",
                    outbox_key="k",
                    message_token_id=7,
                )

            narrow = load_for_reminders(s, ids)
            assert reminder(narrow) == reminder(only(plans, ids))
            assert _reaches(narrow) == _reaches(only(plans, ids))
            shown.extend(reminder(narrow).lines)
        assert any(line.last_update_text for line in shown)  # progress shown, to compare
        assert load_for_reminders(s, []) == []


@pytest.mark.parametrize("which", ["db", "generated"])
def test_chases_for_some_actions_are_those_load_state_reads(
    which: str, request: pytest.FixtureRequest
):
    url = request.getfixturevalue(which)
    with session(make_engine(url)) as s:
        everything = chases_by_action(load_state(s))
        some = sorted(everything)[::2]
        found = chases_for(s, some)
    assert found == {i: c for i, c in everything.items() if i in some and c != type(c)()}
    assert any(c.reminders_unanswered or c.level.value != "lead" for c in found.values())


def compose_both_ways(url: str, kind: str, previous=None, now=NOW):
    """The digest composed from the whole plans, and from what store_decisions reads."""
    recipients = {"operational": (OPS,), "strategic": (BOARD,), "chair": (CHAIR,)}[kind]
    options = {"recipients": recipients, "previous": previous, "key": "k", "calendar": LONDON}
    also = previous.actions if previous else ()
    with session(make_engine(url)) as s:
        plans = load_plans(s)
        state = load_state(s, plans)
        views, counts = load_for_digests(s, also)
        chases = chases_for(s, [a.id for p in views for a in p.actions])
    if kind == "chair":
        whole = compose_chair_summary(plans, state, now, **options)
        narrow = compose_chair_summary(views, chases, now, progress_counts=counts, **options)
    else:
        whole = compose_digest(kind, plans, state, now, **options)  # type: ignore[arg-type]
        narrow = compose_digest(
            kind,  # type: ignore[arg-type]
            views,
            chases,
            now,
            progress_counts=counts,
            **options,
        )
    return whole, narrow


@pytest.mark.parametrize("kind", ["operational", "strategic", "chair"])
def test_digests_from_the_narrow_views_are_the_same(db: str, kind: str):  # noqa: F811
    whole, narrow = compose_both_ways(db, kind)
    assert narrow == whole
    assert whole[0].lines if kind != "chair" else whole[0].by_rag.overdue  # not empty
    # a week later, against the snapshot: what moved, left the list, was completed
    a_week_later(db)
    later = NOW + timedelta(days=7)
    whole, narrow = compose_both_ways(db, kind, stored(whole[1]), later)
    assert narrow == whole
    if kind != "strategic":  # nothing left the board's list that week
        said = whole[0].movement if kind == "chair" else whole[0].left_the_list  # type: ignore[union-attr]
        assert said


def test_digest_views_carry_no_texts(db: str):  # noqa: F811
    with session(make_engine(db)) as s:
        views, counts = load_for_digests(s)
        full = {a.id: a for p in load_plans(s) for a in p.actions}
    actions = [a for p in views for a in p.actions]
    assert actions and all(a.status in ("open", "ongoing") for a in actions)
    assert all(not a.text and all(not p.text for p in a.progress) for a in actions)
    assert all(len(a.progress) <= 1 for a in actions)
    assert {i: n for i, n in counts.items()} == {
        a.id: len(full[a.id].progress) for a in actions if full[a.id].progress
    }


def test_digests_stored_with_reminders_and_escalations_show_the_chase_before_them(
    db: str,  # noqa: F811
    tmp_path: Path,
):
    """A run that reminds 1.1.1's lead and escalates 1.1.6 also sends the digests: they show
    the chase as it stood when the run began (1.1.1 with three reminders unanswered, 1.1.6 not
    yet with the group), as they did when everything was read at the start."""
    engine = make_engine(db)
    loaded = load_rules(REPO / "rules")
    settings = load_settings(
        {"REPLY_SECRET": "s3cret-for-the-tests-0123456789", "OUTBOX_DIR": str(tmp_path)},
        env_file=None,
    )
    calendar = loaded.rules.working_calendar()
    with session(engine) as s:
        plans = load_plans(s)
        state = load_state(s, plans)
    first = {a.ref: a for a in state.actions}
    ops_key, chair_key = "operational-digest/2019-06-03T08:00", "chair-summary/2019-06-03T08:00"
    expected_ops = compose_digest(
        "operational",
        plans,
        state,
        NOW,
        recipients=_governance_recipients(plans, "operational_group"),
        previous=None,
        key=ops_key,
        calendar=calendar,
    )
    expected_chair = compose_chair_summary(
        plans,
        state,
        NOW,
        recipients=_governance_recipients(plans, "chair"),
        previous=None,
        key=chair_key,
        calendar=calendar,
    )
    one, six = first["1.1.1"], first["1.1.6"]
    decisions = Decisions(
        reminders=(
            RemindLead(
                one.leads[0],
                (Ask(one.id, "1.1.1", one.plan_id, "overdue", None, None, 5, one.chase.level),),
            ),
        ),
        escalations=(
            Escalate(six.id, "1.1.6", six.plan_id, Level.LEAD, Level.OPERATIONAL_GROUP, "x"),
        ),
        digests=(SendDigest("operational", NOW), SendDigest("chair", NOW)),
    )
    with session(engine) as s, s.begin():
        # the reminder and the operational group's digest; the chair has no address here
        assert store_decisions(s, decisions, NOW, loaded, settings, slack=False) == 2
    with session(engine) as s:
        events = {
            e.detail: DigestSnapshot.from_json(e.data or "")
            for e in s.exec(select(m.AuditEvent).where(m.AuditEvent.kind == "digest"))
        }
        texts = {
            row.kind: row.payload
            for row in s.exec(select(m.Outbox).where(m.Outbox.kind != "reminder"))
        }
    assert events == {"operational": expected_ops[1], "chair": expected_chair[1]}
    assert [line.reminders_unanswered for line in expected_ops[0].lines if line.ref == "1.1.1"] == [
        3
    ]
    message = email.message_from_string(texts["operational-digest"], policy=email.policy.default)
    body = message.get_body(("plain",))  # type: ignore[attr-defined]
    assert body.get_content() == render("operational-digest", expected_ops[0]).text
