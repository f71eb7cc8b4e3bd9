"""The engine's own input (bot/engine_input.py) against `load_state`, and deciding in chunks
against deciding over everything at once.

The real plans with a few weeks of real ticks behind them, and a generated database
(benchmarks/generate.py), on SQLite and PostgreSQL: the streamed input must be the same
`ActionState`s, and the decisions the same, however small the chunks.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from benchmarks.common import NOW as GENERATED_NOW
from benchmarks.generate import Shape, generate
from bot import models as m
from bot.chase_state import load_state
from bot.chasing import tick
from bot.db import make_engine, session
from bot.delivery import Transports
from bot.engine import (
    ActionState,
    Ask,
    Chase,
    Deadline,
    Horizon,
    Lead,
    RemindLead,
    State,
    decide,
    decide_part,
    horizon,
    merge,
)
from bot.engine_input import evaluate, read_actions
from bot.importing import import_files
from bot.notify.email import OutboxDirTransport
from bot.rules import Level, Rules, load_rules
from bot.settings import load_settings
from tests.conftest import DATA, REPO

LONDON = ZoneInfo("Europe/London")
RULES = load_rules(REPO / "rules")
FIRST_TICK = datetime(2019, 6, 3, 10, 0, tzinfo=LONDON)  # a Monday
NOT_CHASED = Chase()


def streamed(url: str, chunk: int, needed: Horizon | None = None) -> dict[int, ActionState]:
    with session(make_engine(url)) as s:
        chunks = list(read_actions(s, chunk, needed))
    assert all(len(c) <= chunk for c in chunks)
    return {a.id: a for c in chunks for _, a in c}


def loaded_state(url: str) -> State:
    with session(make_engine(url)) as s:
        return load_state(s)


def evaluated(url: str, now: datetime, chunk: int):
    with session(make_engine(url)) as s:
        return evaluate(s, RULES.rules, now, chunk=chunk)


def same_input_and_decisions(url: str, moments: list[datetime], chunk: int) -> None:
    state = loaded_state(url)
    everything = {a.id: a for a in state.actions}
    assert streamed(url, chunk) == everything
    for now in moments:
        once = decide(state, RULES.rules, now)
        assert evaluated(url, now, chunk) == once, now
        assert evaluated(url, now, 10_000) == once, now
        # what the horizon leaves in the database decides nothing, even alone
        needed = streamed(url, chunk, horizon(RULES.rules, now))
        assert all(a == everything[i] for i, a in needed.items())
        left = tuple(a for i, a in everything.items() if i not in needed)
        nothing = decide(State(left), RULES.rules, now)
        assert not (nothing.reminders or nothing.escalations or nothing.resets), now


# --- the real plans, with real ticks behind them --------------------------------------------


@pytest.fixture
def chased(database_url: str, tmp_path: Path) -> str:
    """Both real plans after five weekly ticks (reminders, escalations stored by `tick`), then
    progress of every precision, a snooze, a withdrawal, and progress on a complete action
    that had been escalated."""
    engine = make_engine(database_url)
    import_files(engine, [DATA / "people.yaml", DATA / "plans"], FIRST_TICK - timedelta(days=30))
    settings = load_settings(
        {
            "REPLY_SECRET": "s3cret-for-the-tests-0123456789",
            "OUTBOX_DIR": str(tmp_path / "outbox"),
            "MAIL_FROM": "actionbot@medway.example.org",
        },
        env_file=None,
    )
    transports = Transports(email=OutboxDirTransport(tmp_path / "outbox"), slack=None)
    for week in range(5):
        tick(engine, RULES, settings, FIRST_TICK + timedelta(weeks=week), transports, send=False)
    with session(engine) as s, s.begin():
        escalated = sorted(
            {
                e.action_id
                for e in s.exec(select(m.AuditEvent).where(m.AuditEvent.kind == "escalated"))
                if e.action_id is not None
            }
        )
        assert len(escalated) >= 4, "the ticks escalated too little to test with"
        opened = sorted(
            a.id
            for a in s.exec(select(m.Action).where(col(m.Action.status).in_(("open", "ongoing"))))
            if a.id is not None and a.id not in escalated
        )
        later = FIRST_TICK + timedelta(weeks=5)
        # a month-precise entry whose month ends after a later day-precise one, a year
        for i, (dated, precision) in enumerate(
            [(date(2019, 7, 1), "month"), (date(2019, 7, 9), "day"), (date(2019, 1, 1), "year")]
        ):
            s.add(progress(opened[0], dated, precision, later, f"a{i}"))
        s.add(progress(opened[1], date(2019, 6, 1), "month", later, "b"))
        # progress on escalated actions: back to their leads, one of them complete by now
        s.add(progress(escalated[0], date(2019, 7, 8), "day", later, "c"))
        s.add(progress(escalated[1], date(2019, 7, 8), "day", later, "d"))
        s.get_one(m.Action, escalated[1]).status = "complete"
        s.get_one(m.Action, escalated[2]).status = "withdrawn"
        s.add(m.AuditEvent(at=later, kind="snoozed", action_id=opened[2], until=date(2019, 7, 20)))
    return database_url


def progress(
    action_id: int, dated: date, precision: str, at: datetime, key: str
) -> m.ProgressEntry:
    return m.ProgressEntry(
        action_id=action_id,
        dated=dated,
        precision=precision,
        text="update",
        source="email",
        external_id=f"<{key}@test>",
        recorded_at=at,
    )


def test_the_real_plans_read_in_chunks_are_what_load_state_gives(chased: str):
    state = {a.id: a for a in loaded_state(chased).actions}
    assert any(a.chase.progress_since_level for a in state.values())
    assert any(a.status == "complete" and a.chase.progress_since_level for a in state.values())
    assert any(a.chase.snoozed_until for a in state.values())
    assert any(a.chase.reminders_unanswered > 1 for a in state.values())
    after = FIRST_TICK + timedelta(weeks=5, hours=2)
    moments = [after, after + timedelta(days=1), after.replace(hour=20), after + timedelta(days=9)]
    moments.append(datetime(2019, 9, 25, 10, tzinfo=LONDON))  # the quarter ends in 5 days
    same_input_and_decisions(chased, moments, chunk=7)


def test_a_month_precise_entry_speaks_of_its_last_day(chased: str):
    by_id = streamed(chased, 50)
    with session(make_engine(chased)) as s:
        entries = s.exec(select(m.ProgressEntry).where(m.ProgressEntry.external_id == "<a0@test>"))
        action_id = entries.one().action_id
    assert by_id[action_id].last_progress == date(2019, 12, 31)  # the year entry's last day


def test_a_complete_escalated_action_goes_back_to_its_lead(chased: str):
    decisions = evaluated(chased, FIRST_TICK + timedelta(weeks=5, hours=2), 5)
    state = {a.id: a for a in loaded_state(chased).actions}
    assert any(state[r.action_id].status == "complete" for r in decisions.resets)


# --- a generated database ---------------------------------------------------------------------


@pytest.fixture
def generated(database_url: str) -> str:
    engine = make_engine(database_url)
    generate(engine, Shape(size=700, leads=40, plan_size=90, seed=3), quiet=True)
    engine.dispose()
    return database_url


def test_a_generated_database_read_in_chunks_is_what_load_state_gives(generated: str):
    moments = [
        GENERATED_NOW,
        GENERATED_NOW + timedelta(days=2, hours=5),
        GENERATED_NOW + timedelta(days=5),  # a Saturday: only resets
        GENERATED_NOW + timedelta(days=23, hours=-1),
        GENERATED_NOW + timedelta(days=38),  # 24 Dec: every recurring period ends soon
    ]
    same_input_and_decisions(generated, moments, chunk=61)


def test_a_lead_asked_about_actions_in_different_chunks_gets_one_reminder(generated: str):
    chunk = 61
    with session(make_engine(generated)) as s:
        chunk_of = {
            a.id: n
            for n, c in enumerate(read_actions(s, chunk, horizon(RULES.rules, GENERATED_NOW)))
            for _, a in c
        }
    decisions = evaluated(generated, GENERATED_NOW, chunk)
    spread = [r for r in decisions.reminders if len({chunk_of[a.action_id] for a in r.asks}) > 1]
    assert spread, "no lead's asks spread over chunks; the test shows nothing"
    assert decisions == decide(loaded_state(generated), RULES.rules, GENERATED_NOW)
    assert len({r.lead.key for r in decisions.reminders}) == len(decisions.reminders)


def test_reading_stopped_after_a_chunk_leaves_the_session_usable(generated: str):
    """Deciding may fail after the first chunk: the reading stops there and the session
    still answers (on PostgreSQL the next chunk's queries were already sent, pipelined)."""
    with session(make_engine(generated)) as s:
        chunks = read_actions(s, 61, horizon(RULES.rules, GENERATED_NOW))
        first = next(chunks)
        chunks.close()
        assert 0 < len(first) <= 61
        assert len(s.exec(select(m.Action.id)).all()) > 61
        assert streamed(generated, 61) == {a.id: a for a in loaded_state(generated).actions}


# --- deciding in parts, no database -----------------------------------------------------------


def test_parts_decided_apart_and_merged_are_deciding_at_once():
    """A lead with actions in three parts, given out of their plans' order, and an escalated
    action with progress since: one reminder listing the actions in the plans' order, the
    reset decided once, the digests once."""
    kelly, tracey = Lead("kelly-cogger", "Kelly Cogger"), Lead("tracey-anstis", "Tracey Anstis")
    now = datetime.combine(date(2018, 10, 15), time(10), LONDON)

    def action(id: int, leads: tuple[Lead, ...], chase: Chase = NOT_CHASED) -> ActionState:
        return ActionState(
            id,
            "jtai-2018",
            f"1.{id}",
            f"Action {id}",
            "open",
            leads,
            (Deadline("Review", date(2018, 10, 12)),),
            None,
            date(2018, 9, 1),
            chase,
        )

    back = Chase(Level.OPERATIONAL_GROUP, now - timedelta(days=9), 0, None, None, True)
    actions = [
        action(1, (kelly,)),
        action(2, (tracey, kelly)),
        action(3, (tracey,), back),
        action(4, (kelly,)),
    ]
    rules = Rules()
    once = decide(State(tuple(actions)), rules, now)
    placed = [(("jtai-2018", i, a.id), a) for i, a in enumerate(actions)]
    parts = [decide_part(p, rules, now) for p in (placed[3:], placed[1:3], placed[:1])]
    merged = merge(parts, {}, rules, now)
    assert merged == once
    assert merged.reminders == (
        RemindLead(kelly, tuple(ask(a) for a in (1, 2, 4))),
        RemindLead(tracey, tuple(ask(a, level=Level.LEAD) for a in (2, 3))),
    )
    assert [r.action_id for r in merged.resets] == [3]
    assert len(merged.digests) == len(once.digests)


def ask(id: int, level: Level = Level.LEAD) -> Ask:
    return Ask(id, f"1.{id}", "jtai-2018", "overdue", date(2018, 10, 12), "Review", 3, level)


def test_now_without_a_zone_is_refused_by_every_form():
    naive = datetime(2018, 10, 15, 10)
    with pytest.raises(ValueError):
        decide_part([], Rules(), naive)
    with pytest.raises(ValueError):
        merge([], {}, Rules(), naive)


def test_tick_dry_run_prints_every_ask_with_its_title(
    generated: str, env, monkeypatch: pytest.MonkeyPatch
):
    """`actionbot tick --dry-run` on the generated database: every action asked about is
    printed with its own title, the titles read a batch of reminders at a time."""
    from typer.testing import CliRunner

    from bot import cli

    monkeypatch.setenv("DATABASE_URL", generated)
    monkeypatch.setenv("ACTIONBOT_RULES", str(REPO / "rules"))
    monkeypatch.setattr(cli, "_TITLES_AT_ONCE", 40)  # several batches out of a small plan
    moment = GENERATED_NOW.astimezone(LONDON).strftime("%Y-%m-%dT%H:%M")
    result = CliRunner().invoke(cli.app, ["tick", "--as-of", moment, "--dry-run"])
    assert result.exit_code == 0, result.output
    with session(make_engine(generated)) as s:
        titles = {(a.plan_id, a.ref): a.title for a in s.exec(select(m.Action))}
    decisions = evaluated(generated, GENERATED_NOW, 10_000)
    printed = [line for line in result.output.splitlines() if line.startswith("    ")]
    asks = [a for r in decisions.reminders for a in r.asks]
    assert len(printed) == len(asks) > 40
    for line, a in zip(printed, asks, strict=True):
        assert line.startswith(f"    {a.plan_id} {a.ref} — {titles[(a.plan_id, a.ref)]} (")
