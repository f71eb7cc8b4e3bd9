"""Faults: the bot is down for ten days, then starts again.

Both real plans and the real people file, the real rules, the real `tick` at fixed moments and
a real SMTP server on loopback. The bot last ran on a Friday; it comes back ten days later, on
a Monday before the office opens, and ticks every 15 minutes as `actionbot run` does. Between
them every lead was due several reminders, and the operational group's digest and the chair's
summary two each, the strategic board's one. What comes out: nothing before the sending hours;
then one catch-up reminder per lead, naming each action once; one digest of each kind; and
nothing more that morning. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot import models as m
from bot.chasing import tick
from bot.db import make_engine, session
from bot.delivery import Transports
from bot.engine import DIGEST_KINDS, SendDigest, State, decide
from bot.importing import import_files
from bot.notify.email import SmtpTransport
from bot.rules import Rules, load_rules
from bot.settings import load_settings
from tests.conftest import DATA, REPO
from tests.smtp_server import Server

LONDON = ZoneInfo("Europe/London")
SECRET = "s3cret-for-the-tests-0123456789"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), LONDON)


# Before the outage: the strategic board's digest (for its 3 October meeting), the chair's
# and the operational group's on Monday 22 October, and the last run, on Friday 26 October.
BEFORE = [
    at(date(2018, 9, 28), 9),
    at(date(2018, 10, 22), 8),
    at(date(2018, 10, 22), 9),
    at(date(2018, 10, 26), 10),
]
# Down from then until Monday 5 November. Meanwhile the chair's and the operational group's
# came due on 29 October and again on 5 November (08:00 and 09:00); the strategic board's on
# Friday 2 November (three working days before its 7 November meeting).
BACK = at(date(2018, 11, 5), 6, 30)
AFTER = [BACK + timedelta(minutes=15 * i) for i in range(15)]  # until 10:00


@pytest.fixture
def bot(database_url: str, tmp_path):
    engine = make_engine(database_url)
    import_files(engine, [DATA / "people.yaml", DATA / "plans"], BEFORE[0] - timedelta(days=30))
    settings = load_settings(
        {"REPLY_SECRET": SECRET, "OUTBOX_DIR": str(tmp_path / "outbox")}, env_file=None
    )
    return engine, load_rules(REPO / "rules"), settings


def aware(moment: datetime) -> datetime:
    """SQLite gives back naive UTC, PostgreSQL aware."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def outbox_after(engine: Engine, last_id: int) -> list[m.Outbox]:
    with session(engine) as s:
        return list(
            s.exec(select(m.Outbox).where(col(m.Outbox.id) > last_id).order_by(col(m.Outbox.id)))
        )


def reminded_since(engine: Engine, moment: datetime) -> list[tuple[str | None, int | None]]:
    """(lead, action) of every reminder recorded from `moment` on."""
    with session(engine) as s:
        events = s.exec(select(m.AuditEvent).where(m.AuditEvent.kind == "reminded")).all()
    return [(e.person_key, e.action_id) for e in events if aware(e.at) >= moment]


def test_ten_days_down_then_one_catch_up_not_a_flood(bot, server: Server):
    engine, rules, settings = bot
    smtp = Transports(email=SmtpTransport(server.config))
    for moment in BEFORE:
        tick(engine, rules, settings, moment, smtp)
    before = len(server.handler.received)
    assert before > 0
    last_id = max(r.id or 0 for r in outbox_after(engine, 0))

    queued = {moment: tick(engine, rules, settings, moment, smtp).queued for moment in AFTER}
    calendar = rules.rules.working_calendar()
    assert [n for moment, n in queued.items() if not calendar.in_sending_window(moment)] == [0] * 6
    assert sum(queued.values()) > 0

    rows = outbox_after(engine, last_id)
    kinds = Counter(r.kind for r in rows)
    # one digest of each kind, though the chair's and the operational group's came due twice
    assert {k: kinds[k] for k in ("operational-digest", "strategic-digest", "chair-summary")} == {
        "operational-digest": 1,
        "strategic-digest": 1,
        "chair-summary": 1,
    }
    # one reminder per lead, each action in it once
    reminders = [r for r in rows if r.kind == "reminder"]
    leads = [r.recipient_key for r in reminders]
    assert reminders and len(leads) == len(set(leads))
    asked = reminded_since(engine, BACK)
    assert len(asked) == len(set(asked))
    assert set(leads) <= {who for who, _ in asked}  # (a lead with no address gets no row)
    # all of it inside the sending hours, and all of it sent, once
    assert all(calendar.in_sending_window(aware(r.created_at)) for r in rows)
    assert all(r.status == "sent" for r in rows)
    got = [str(r["message"]["Message-ID"]) for r in server.handler.received[before:]]
    assert sorted(got) == sorted(str(r.message_id) for r in rows)


def test_a_missed_digest_is_not_sent_an_hour_before_the_next_one():
    """The engine alone: back at 08:00 on a Monday after missing last Monday's 09:00 digest,
    it waits for today's 09:00 one rather than sending last week's now and today's after."""
    rules = Rules()
    last_sent = {kind: at(date(2018, 10, 22), 9) for kind in DIGEST_KINDS}
    state = State((), last_sent)
    monday = date(2018, 11, 5)
    assert "operational" not in {d.kind for d in decide(state, rules, at(monday, 8)).digests}
    assert SendDigest("operational", at(monday, 9)) in decide(state, rules, at(monday, 9)).digests
    # later in the week, last week's is caught up at once: no other is due that day
    wednesday = date(2018, 10, 31)
    assert SendDigest("operational", at(date(2018, 10, 29), 9)) in (
        decide(state, rules, at(wednesday, 10)).digests
    )
