"""Faults: the mail server refuses, drops or is gone for a while, then comes back.

A real aiosmtpd server on loopback; `deliver` is driven at fixed moments (time is an input,
nothing here sleeps). While the server fails, every row waits: it stays pending, its next try
moves out as `backoff` says, and it is not tried before then. Once the server is back, every
message goes exactly once, in outbox id order. A permanent refusal is never tried again.
On SQLite and PostgreSQL.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot import models as m
from bot.db import create_schema, make_engine, session
from bot.delivery import MAX_ATTEMPTS, Transports, backoff, deliver, email_payload
from bot.notify.content import Recipient
from bot.notify.email import SmtpConfig, SmtpTransport, build_email, make_message_id
from bot.notify.render import Rendered
from tests.smtp_server import Recorder, start

T0 = datetime(2018, 10, 15, 9, 0, tzinfo=UTC)
LEADS = ["kelly.cogger", "tracey.anstis", "tina.hughes", "emma.verchiolli", "lisa.morgan"]


@cache
def _context() -> ssl.SSLContext:
    """Made once: the transport makes one per connection when given none (about 60 ms each,
    reading the system's certificates), and these tests open hundreds of connections."""
    return ssl.create_default_context()


@dataclass
class Sink:
    """A recording SMTP server that can be made to fail for a while and then recover."""

    handler: Recorder
    controller: Controller | None
    port: int

    @property
    def config(self) -> SmtpConfig:
        return SmtpConfig(
            host="127.0.0.1",
            port=self.port,
            security="none",
            timeout=5,
            local_hostname="actionbot.test",
            ssl_context=_context(),
        )

    def transports(self) -> Transports:
        return Transports(email=SmtpTransport(self.config))

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def start_again(self) -> None:
        """Back on the same port, as a mail server restarted after maintenance would be."""
        if self.controller is None:
            self.controller, _ = start(self.handler, port=self.port)

    def received_ids(self) -> list[str]:
        return [str(r["message"]["Message-ID"]) for r in self.handler.received]

    def seen(self) -> tuple[int, int]:
        """How much the server has been asked: connections and RCPT commands."""
        return len(self.handler.connections), len(self.handler.rcpts)


@pytest.fixture
def sink() -> Iterator[Sink]:
    handler = Recorder()
    controller, port = start(handler)
    s = Sink(handler, controller, port)
    try:
        yield s
    finally:
        s.stop()


def _reply(code: str) -> str:
    return {
        "421": "421 4.3.2 Service shutting down, try again later",
        "451": "451 4.3.0 Temporary local problem, try again later",
    }[code]


# Each fault: how to start it on a running sink, and how to end it.
FAULTS: dict[str, tuple[Callable[[Sink], None], Callable[[Sink], None]]] = {
    "421 to RCPT": (
        lambda s: setattr(s.handler, "rcpt_reply", _reply("421")),
        lambda s: setattr(s.handler, "rcpt_reply", None),
    ),
    "451 to RCPT": (
        lambda s: setattr(s.handler, "rcpt_reply", _reply("451")),
        lambda s: setattr(s.handler, "rcpt_reply", None),
    ),
    "421 to DATA": (
        lambda s: setattr(s.handler, "data_reply", _reply("421")),
        lambda s: setattr(s.handler, "data_reply", None),
    ),
    "451 to DATA": (
        lambda s: setattr(s.handler, "data_reply", _reply("451")),
        lambda s: setattr(s.handler, "data_reply", None),
    ),
    "dropped mid-DATA": (
        lambda s: setattr(s.handler, "drop_data", True),
        lambda s: setattr(s.handler, "drop_data", False),
    ),
    "connection refused": (Sink.stop, Sink.start_again),
}


def queue(engine: Engine, leads: list[str] = LEADS, at: datetime = T0) -> list[str]:
    """One reminder per lead in the outbox; their Message-IDs in id order."""
    create_schema(engine)
    ids = []
    with session(engine) as s, s.begin():
        for who in leads:
            key = f"reminder/{who}/{at:%Y-%m-%dT%H:%M}"
            message = build_email(
                Rendered(f"Actions for you: {who}", "Action 1 is overdue.", "<p>overdue</p>"),
                kind="reminder",
                sender="actionbot@example.org",
                recipients=[Recipient(who, f"{who}@example.org")],
                reply_to="updates@example.org",
                sent_at=at,
                message_id=make_message_id(key, "example.org"),
            )
            s.add(
                m.Outbox(
                    key=key,
                    kind="reminder",
                    channel="email",
                    recipient_key=who,
                    recipient=f"{who}@example.org",
                    subject=str(message["Subject"]),
                    payload=email_payload(message),
                    message_id=str(message["Message-ID"]),
                    created_at=at,
                )
            )
            ids.append(str(message["Message-ID"]))
    return ids


def outbox(engine: Engine) -> list[m.Outbox]:
    with session(engine) as s:
        return list(s.exec(select(m.Outbox).order_by(col(m.Outbox.id))).all())


def utc(moment: datetime | None) -> datetime | None:
    """SQLite gives back naive UTC, PostgreSQL aware: compare them alike."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def events(engine: Engine, kind: str) -> list[tuple[int | None, datetime | None]]:
    with session(engine) as s:
        found = s.exec(
            select(m.AuditEvent).where(m.AuditEvent.kind == kind).order_by(col(m.AuditEvent.id))
        ).all()
    return [(e.outbox_id, utc(e.at)) for e in found]


@pytest.mark.parametrize("fault", list(FAULTS))
def test_while_the_server_fails_messages_wait_then_go_once_in_order(
    database_url: str, sink: Sink, fault: str
):
    engine = make_engine(database_url)
    expected = queue(engine)
    begin, end = FAULTS[fault]
    begin(sink)
    moment = T0
    for attempt in (1, 2, 3):
        report = deliver(engine, sink.transports(), moment)
        assert (report.sent, report.failed, report.retrying) == (0, 0, 5), report.errors
        assert sink.handler.received == []
        rows = outbox(engine)
        assert [(r.status, r.attempts) for r in rows] == [("pending", attempt)] * 5
        due = moment + backoff(attempt)
        assert {utc(r.next_attempt_at) for r in rows} == {due}
        assert all(r.error for r in rows)
        # a second before they are due nothing is tried: the server is not even asked
        seen = sink.seen()
        early = deliver(engine, sink.transports(), due - timedelta(seconds=1))
        assert (early.sent, early.failed, early.retrying) == (0, 0, 0)
        assert sink.seen() == seen
        assert [r.attempts for r in outbox(engine)] == [attempt] * 5
        moment = due
    # each wait longer than the one before: 5, 10, then 20 minutes
    assert moment == T0 + timedelta(minutes=5 + 10 + 20)
    assert len(events(engine, "retrying")) == 15

    end(sink)
    report = deliver(engine, sink.transports(), moment)
    assert (report.sent, report.failed, report.retrying) == (5, 0, 0), report.errors
    assert sink.received_ids() == expected  # each once, in outbox id order
    assert [(r.status, r.attempts, r.error) for r in outbox(engine)] == [("sent", 4, None)] * 5

    later = deliver(engine, sink.transports(), moment + timedelta(days=1))
    assert later.sent == 0 and sink.received_ids() == expected


def test_new_messages_queued_during_the_outage_go_after_the_older_ones(
    database_url: str, sink: Sink
):
    engine = make_engine(database_url)
    sink.stop()
    first = queue(engine, LEADS[:3])
    assert deliver(engine, sink.transports(), T0).retrying == 3
    # queued two minutes later, tried at once, and failing too: due at T0+7, before the others
    second = queue(engine, LEADS[3:], at=T0 + timedelta(minutes=2))
    assert deliver(engine, sink.transports(), T0 + timedelta(minutes=2)).retrying == 2
    sink.start_again()
    report = deliver(engine, sink.transports(), T0 + timedelta(minutes=5))
    assert report.sent == 3 and sink.received_ids() == first  # the newer two are not due yet
    report = deliver(engine, sink.transports(), T0 + timedelta(minutes=7))
    assert report.sent == 2 and sink.received_ids() == first + second


def test_a_server_down_for_a_day_is_tried_six_times_at_growing_intervals(
    database_url: str, sink: Sink
):
    engine = make_engine(database_url)
    queue(engine, LEADS[:1])
    sink.stop()
    # a delivery every five minutes for three hours, as `actionbot run` would make them, then
    # every hour for the rest of the day
    moment = T0
    while moment < T0 + timedelta(days=1):
        deliver(engine, sink.transports(), moment)
        moment += timedelta(minutes=5 if moment < T0 + timedelta(hours=3) else 60)
    tries = [at for _, at in events(engine, "retrying") + events(engine, "failed")]
    assert sorted(tries) == [
        T0 + timedelta(minutes=n) for n in (0, 5, 15, 35, 75, 155)
    ]  # then it is given up: 6 tries
    [row] = outbox(engine)
    assert (row.status, row.attempts) == ("failed", MAX_ATTEMPTS)
    assert "cannot connect" in (row.error or "")
    sink.start_again()
    assert deliver(engine, sink.transports(), moment).sent == 0
    assert sink.handler.received == []


def test_a_permanent_refusal_is_not_retried_while_temporary_ones_are(database_url: str, sink: Sink):
    engine = make_engine(database_url)
    expected = queue(engine, LEADS[:3])
    kelly, tracey, tina = (f"{who}@example.org" for who in LEADS[:3])
    sink.handler.refuse[kelly] = "550 5.1.1 <kelly.cogger@example.org>: no such user"
    sink.handler.fail_data[tracey] = "554 5.6.0 Message refused: content not allowed"
    sink.handler.refuse[tina] = "451 4.2.0 Mailbox busy, try again later"

    report = deliver(engine, sink.transports(), T0)
    assert (report.sent, report.failed, report.retrying) == (0, 2, 1)
    rows = outbox(engine)
    assert [(r.status, r.attempts) for r in rows] == [
        ("failed", 1),
        ("failed", 1),
        ("pending", 1),
    ]
    assert "550" in (rows[0].error or "") and "554" in (rows[1].error or "")

    del sink.handler.refuse[tina]
    moment = T0 + backoff(1)
    report = deliver(engine, sink.transports(), moment)
    assert (report.sent, report.failed, report.retrying) == (1, 0, 0)
    for day in range(1, 4):  # later runs leave the refused ones alone
        assert deliver(engine, sink.transports(), moment + timedelta(days=day)).sent == 0
    assert sink.received_ids() == expected[2:]
    assert sink.handler.rcpts.count(kelly) == 1
    assert sink.handler.rcpts.count(tracey) == 1
    assert sink.handler.rcpts.count(tina) == 2
