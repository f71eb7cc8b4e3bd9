"""One chase end to end: decide, store, deliver to a real SMTP server or the .eml folder.

Runs on SQLite and PostgreSQL with the small test plan; moments are fixed, nothing sleeps.
"""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, func, select

from bot import models as m
from bot.chasing import tick
from bot.db import make_engine, session
from bot.delivery import Transports
from bot.importing import import_files
from bot.notify.email import OutboxDirTransport, SmtpTransport
from bot.notify.tokens import token_from_address, verify
from bot.rules import load_rules
from bot.settings import load_settings
from tests.conftest import REPO
from tests.smtp_server import Server
from tests.test_load import PLAN, write

LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2018, 11, 26, 10, 0, tzinfo=LONDON)
SECRET = "s3cret-for-the-tests-0123456789"


@pytest.fixture
def setup(database_url: str, tmp_path: Path):
    engine = make_engine(database_url)
    import_files(engine, write(tmp_path, PLAN), MONDAY - timedelta(days=60))
    settings = load_settings(
        {
            "REPLY_SECRET": SECRET,
            "OUTBOX_DIR": str(tmp_path / "outbox"),
            "MAIL_FROM": "actionbot@medway.example.org",
        },
        env_file=None,
    )
    return engine, load_rules(REPO / "rules"), settings, tmp_path


def count(engine, kind: str) -> int:
    with session(engine) as s:
        return s.exec(
            select(func.count()).select_from(m.AuditEvent).where(m.AuditEvent.kind == kind)
        ).one()


def test_a_tick_reminds_each_lead_once_and_sends_the_digests(setup, server: Server):
    engine, rules, settings, _ = setup
    result = tick(engine, rules, settings, MONDAY, Transports(email=SmtpTransport(server.config)))
    assert [r.lead.key for r in result.decisions.reminders] == ["kelly-cogger", "tracey-anstis"]
    # two reminders and the operational digest; the test plan names no chair, so the chair's
    # summary is recorded but has nobody to go to
    assert result.delivery is not None and result.delivery.sent == result.queued == 3
    got = {
        r["message"]["X-Actionbot-Kind"]: r["message"]
        for r in server.handler.received
        if r["message"]["X-Actionbot-Kind"] != "reminder"
    }
    assert set(got) == {"operational-digest"}
    # the group has no mailbox of its own in the test people file: its contact gets it
    assert got["operational-digest"]["To"] == "Ops Chair <ops.chair@example.org>"
    with session(engine) as s:
        chair = s.exec(select(m.AuditEvent).where(m.AuditEvent.detail == "chair")).one()
    assert chair.outbox_id is None
    reminders = [
        r["message"]
        for r in server.handler.received
        if r["message"]["X-Actionbot-Kind"] == "reminder"
    ]
    tracey = next(msg for msg in reminders if "tracey" in msg["To"])
    assert tracey["Subject"] == "2 actions need a progress update (1 overdue)"
    text = tracey.get_body(("plain",)).get_content()
    assert "Action 1.1.1 — Improve Framework-I reporting and increase audits" in text
    assert "Action 1.1.2 — Review the DAN process" in text
    # the Reply-To carries a token signed with our key, naming the outbox row
    token = token_from_address(tracey["Reply-To"], "updates@medway.example.org")
    assert token is not None and verify(SECRET.encode(), token) is not None
    assert verify(b"another key entirely", token) is None
    with session(engine) as s:
        ids = set(s.exec(select(m.Outbox.message_id)).all())
    assert {str(msg["Message-ID"]) for msg in reminders} <= ids  # read back exactly


def test_a_second_tick_at_the_same_moment_sends_nothing(setup):
    engine, rules, settings, tmp = setup
    transports = Transports(email=OutboxDirTransport(tmp / "outbox"))
    first = tick(engine, rules, settings, MONDAY, transports)
    again = tick(engine, rules, settings, MONDAY, transports)
    assert first.queued == 3 and again.queued == 0 and not again.decisions
    assert len(list((tmp / "outbox").glob("*.eml"))) == 3
    assert count(engine, "reminded") == 3  # Kelly: 1.1.1; Tracey: 1.1.1 and 1.1.2


def test_unanswered_reminders_escalate_to_the_operational_group_and_its_digest(setup):
    engine, rules, settings, tmp = setup
    transports = Transports(email=OutboxDirTransport(tmp / "outbox"))
    day = MONDAY
    for _ in range(3):  # three weekly reminders, no reply
        tick(engine, rules, settings, day, transports)
        day += timedelta(days=7)
    assert count(engine, "escalated") >= 1
    with session(engine) as s:
        escalated = s.exec(
            select(m.AuditEvent)
            .where(m.AuditEvent.kind == "escalated")
            .order_by(col(m.AuditEvent.at))
        ).all()
    assert escalated[0].level == "operational_group"
    # the next Monday's operational digest lists it
    tick(engine, rules, settings, day, transports)
    digests = sorted((tmp / "outbox").glob("*operational-digest*.eml"))
    latest = email.message_from_bytes(digests[-1].read_bytes(), policy=email.policy.default)
    body = latest.get_body(("plain",)).get_content()
    assert "1.1.1" in body and "Improve Framework-I reporting" in body


def test_progress_brings_it_back_and_stops_the_reminders(setup):
    engine, rules, settings, tmp = setup
    transports = Transports(email=OutboxDirTransport(tmp / "outbox"))
    tick(engine, rules, settings, MONDAY, transports)
    with session(engine) as s, s.begin():
        for action in s.exec(select(m.Action)):
            s.add(
                m.ProgressEntry(
                    action_id=action.id,
                    dated=MONDAY.date() + timedelta(days=1),
                    precision="day",
                    text="Done the review.",
                    source="email",
                    external_id=f"<r{action.id}@x>",
                    recorded_at=MONDAY + timedelta(days=1),
                )
            )
    later = tick(engine, rules, settings, MONDAY + timedelta(days=7), transports)
    assert later.decisions.reminders == ()
