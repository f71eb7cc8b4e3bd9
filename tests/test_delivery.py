"""Delivering the outbox to a real SMTP server and a local Slack Web API, on both databases:
each message delivered, retries with growing waits, and a crash mid-batch loses nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

import pytest
from sqlmodel import col, select

from bot import models as m
from bot.db import create_schema, make_engine, session
from bot.delivery import INTERRUPTED, Transports, backoff, deliver, email_payload, slack_payload
from bot.delivery_results import ResultWriter
from bot.instances import Instance
from bot.notify.content import Recipient
from bot.notify.email import (
    OutboxDirTransport,
    SendResult,
    SmtpConfig,
    SmtpTransport,
    build_email,
    make_message_id,
)
from bot.notify.render import Rendered
from bot.notify.slack import SlackTransport, make_client
from tests.slack_api import FakeSlackApi
from tests.smtp_server import Server

NOW = datetime(2018, 10, 15, 9, 0, tzinfo=UTC)
LEADS = ["kelly.cogger", "tracey.anstis", "tina.hughes", "emma.verchiolli", "lisa.morgan"]


def reminder(to: str, key: str) -> EmailMessage:
    return build_email(
        Rendered(f"Actions for you: {key}", f"Dear {to},\nAction 1 is overdue.", "<p>Hi</p>"),
        kind="reminder",
        sender="actionbot@example.org",
        recipients=[Recipient(to, f"{to}@example.org")],
        reply_to="updates@example.org",
        sent_at=NOW,
        message_id=make_message_id(key, "example.org"),
    )


def queue(url: str, count: int = 5) -> list[int]:
    engine = make_engine(url)
    create_schema(engine)
    ids = []
    with session(engine) as s, s.begin():
        for i, who in enumerate(LEADS[:count]):
            key = f"reminder/{who}/2018-10-15"
            row = m.Outbox(
                key=key,
                kind="reminder",
                channel="email",
                recipient_key=who,
                recipient=f"{who}@example.org",
                subject=f"n{i}",
                payload=email_payload(reminder(who, key)),
                created_at=NOW,
            )
            s.add(row)
            s.flush()
            ids.append(row.id)
    return ids


def rows(url: str) -> list[tuple[str, int, str | None]]:
    with session(make_engine(url)) as s:
        found = s.exec(select(m.Outbox).order_by(col(m.Outbox.id))).all()
        return [(r.status, r.attempts, r.error) for r in found]


def received_ids(srv: Server) -> list[str]:
    return [r["message"]["Message-ID"] for r in srv.handler.received]


@pytest.mark.parametrize("batch_size", [50, 2])
def test_the_outbox_goes_out_once_over_one_connection(
    database_url: str, server: Server, batch_size: int
):
    """In one batch or in three: the batches of one delivery share the connection."""
    queue(database_url)
    engine = make_engine(database_url)
    smtp = Transports(email=SmtpTransport(server.config))
    report = deliver(engine, smtp, NOW, batch_size=batch_size)
    assert (report.sent, report.failed, report.retrying) == (5, 0, 0)
    assert len(server.handler.connections) == 1
    assert [r["rcpt_tos"] for r in server.handler.received] == [
        [f"{who}@example.org"] for who in LEADS
    ]
    assert rows(database_url) == [("sent", 1, None)] * 5
    again = deliver(engine, Transports(email=SmtpTransport(server.config)), NOW)
    assert again.sent == 0 and len(server.handler.received) == 5
    with session(engine) as s:
        sent = s.exec(select(m.AuditEvent).where(m.AuditEvent.kind == "sent")).all()
    assert sorted(e.person_key or "" for e in sent) == sorted(LEADS)


class Crash(Exception):
    """Stands for the process dying."""


class DiesAfterServerAccepts:
    """The server takes message `at` and the process dies before recording it."""

    def __init__(self, inner: SmtpTransport, at: int):
        self.inner, self.at = inner, at

    def send_batch(self, messages: Sequence[EmailMessage], on_result=None) -> list[SendResult]:
        def record(index: int, result: SendResult) -> None:
            if index == self.at:
                raise Crash
            on_result(index, result)

        return self.inner.send_batch(messages, on_result=record)


def test_an_error_mid_batch_gives_the_rest_back_and_only_the_one_in_flight_can_repeat(
    database_url, server: Server
):
    """The server took the second message and the process failed before recording it: that
    one is the only message in doubt, and it is sent again rather than risk losing it."""
    queue(database_url)
    engine = make_engine(database_url)
    with pytest.raises(Crash):
        deliver(
            engine,
            Transports(email=DiesAfterServerAccepts(SmtpTransport(server.config), at=1)),
            NOW,
        )
    assert len(server.handler.received) == 2  # the second went, unrecorded
    assert [status for status, _n, _e in rows(database_url)] == ["sent"] + ["pending"] * 4
    report = deliver(
        engine, Transports(email=SmtpTransport(server.config)), NOW + timedelta(minutes=1)
    )
    assert report.sent == 4
    ids = received_ids(server)
    assert len(set(ids)) == 5  # every message delivered
    assert len(ids) == 6 and ids.count(ids[1]) == 2  # the one in flight, and only it, twice
    assert [status for status, _n, _e in rows(database_url)] == ["sent"] * 5


def test_rows_of_a_dead_process_are_sent_and_a_live_ones_are_left_alone(
    database_url, server: Server
):
    """A process killed mid-batch leaves rows in 'sending'; its lock is gone, so the next
    delivery sends them. Rows claimed by a process that is still running are not touched."""
    ids = queue(database_url)
    engine = make_engine(database_url)
    other = Instance(engine, owner="still-running-elsewhere")
    assert other.claim_name() == "still-running-elsewhere"  # holds its lock
    with session(engine) as s, s.begin():
        for n, row_id in enumerate(ids):
            row = s.get(m.Outbox, row_id)
            assert row is not None
            owner = "killed-process-1" if n < 3 else "still-running-elsewhere"
            row.status, row.claim, row.claimed_at = "sending", f"{owner}/batch", NOW
    try:
        report = deliver(engine, Transports(email=SmtpTransport(server.config)), NOW)
        assert (report.interrupted, report.sent) == (3, 3)
        assert [status for status, _n, _e in rows(database_url)] == ["sent"] * 3 + ["sending"] * 2
        with session(engine) as s:
            events = s.exec(select(m.AuditEvent).where(m.AuditEvent.kind == "interrupted")).all()
        assert len(events) == 3 and all(INTERRUPTED in (e.detail or "") for e in events)
    finally:
        other.close()
    # once that process has stopped too, its rows go
    later = deliver(engine, Transports(email=SmtpTransport(server.config)), NOW)
    assert (later.interrupted, later.sent) == (2, 2)
    assert len(received_ids(server)) == 5 == len(set(received_ids(server)))


def test_temporary_failures_wait_longer_each_time(database_url: str, server: Server):
    queue(database_url, count=1)
    engine = make_engine(database_url)
    down = SmtpConfig(host="127.0.0.1", port=1, security="none", timeout=2)  # nothing listens
    first = deliver(engine, Transports(email=SmtpTransport(down)), NOW)
    assert (first.retrying, rows(database_url)[0][:2]) == (1, ("pending", 1))
    # not due yet: nothing is tried, even with the server back
    early = deliver(
        engine, Transports(email=SmtpTransport(server.config)), NOW + timedelta(minutes=4)
    )
    assert early.sent == 0 and server.handler.received == []
    later = deliver(
        engine, Transports(email=SmtpTransport(server.config)), NOW + timedelta(minutes=5)
    )
    assert later.sent == 1 and rows(database_url)[0][:2] == ("sent", 2)
    assert [backoff(n) for n in (1, 2, 3, 9)] == [
        timedelta(minutes=5),
        timedelta(minutes=10),
        timedelta(minutes=20),
        timedelta(hours=6),
    ]


def test_a_permanent_refusal_is_not_retried(database_url: str, server: Server):
    queue(database_url, count=2)
    server.handler.refuse["kelly.cogger@example.org"] = "550 no such user"
    engine = make_engine(database_url)
    report = deliver(engine, Transports(email=SmtpTransport(server.config)), NOW)
    assert (report.sent, report.failed) == (1, 1)
    status = rows(database_url)
    assert status[0][0] == "failed" and "550" in (status[0][2] or "")
    assert status[1] == ("sent", 1, None)
    assert (
        deliver(
            engine, Transports(email=SmtpTransport(server.config)), NOW + timedelta(days=1)
        ).sent
        == 0
    )


def test_slack_rows_go_to_the_web_api(database_url: str):
    api = FakeSlackApi(users={"kelly.cogger@example.org": "U1"}, channels={"C9"}).start()
    try:
        engine = make_engine(database_url)
        create_schema(engine)
        blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "Action 1"}}]
        with session(engine) as s, s.begin():
            s.add(
                m.Outbox(
                    key="r/1",
                    kind="reminder",
                    channel="slack",
                    recipient_key="kelly",
                    recipient="kelly.cogger@example.org",
                    subject="s",
                    payload=slack_payload(
                        Recipient("Kelly Cogger", "kelly.cogger@example.org"),
                        None,
                        "Action 1",
                        blocks,
                    ),
                    created_at=NOW,
                )
            )
            s.add(
                m.Outbox(
                    key="d/1",
                    kind="operational-digest",
                    channel="slack",
                    recipient="C9",
                    subject="s",
                    payload=slack_payload(None, "C9", "Digest", blocks),
                    created_at=NOW,
                )
            )
            s.add(
                m.Outbox(
                    key="r/2",
                    kind="reminder",
                    channel="slack",
                    recipient_key="nobody",
                    recipient="nobody@example.org",
                    subject="s",
                    payload=slack_payload(
                        Recipient("Nobody", "nobody@example.org"), None, "x", blocks
                    ),
                    created_at=NOW,
                )
            )
        slack = SlackTransport(
            make_client("xoxb-test", api.base_url, sleep=lambda s: None), sleep=lambda s: None
        )
        report = deliver(engine, Transports(slack=slack), NOW)
        assert (report.sent, report.failed) == (2, 1)
        assert api.calls["chat.postMessage"] == 2
        assert [b["channel"] for b in api.bodies("chat.postMessage")][1] == "C9"
        assert [s for s, _, _ in rows(database_url)] == ["sent", "sent", "failed"]
    finally:
        api.stop()


def test_a_long_subject_is_written_on_one_line_as_it_was_rendered(tmp_path):
    """Folding at 78 columns put a line break before the subject's first word, which some
    mail programs show as a leading space; headers are folded only past 998."""
    url = f"sqlite:///{tmp_path / 'a.db'}"
    engine = make_engine(url)
    create_schema(engine)
    subject = "MASH Operational Group escalation digest, 24 Sep 2018: 17 actions escalated"
    message = build_email(
        Rendered(subject, "text", "<p>html</p>"),
        kind="operational-digest",
        sender="actionbot@example.org",
        recipients=[Recipient("MASH Operational Group", "mash.operational@example.org")],
        reply_to=None,
        sent_at=NOW,
        message_id=make_message_id("operational-digest/x", "example.org"),
    )
    with session(engine) as s, s.begin():
        s.add(
            m.Outbox(
                key="d",
                kind="operational-digest",
                channel="email",
                recipient="x",
                subject=subject,
                payload=email_payload(message),
                created_at=NOW,
            )
        )
    deliver(engine, Transports(email=OutboxDirTransport(tmp_path / "out")), NOW)
    [written] = (tmp_path / "out").glob("*.eml")
    assert f"\r\nSubject: {subject}\r\n".encode() in written.read_bytes()


def test_a_result_is_written_once_and_only_while_its_claim_holds_the_row(database_url: str):
    """What lets a result be written again after a lost connection (bot/delivery_results.py)
    without a second copy, and keeps a batch that gave its rows up from overwriting them."""
    first, second = queue(database_url, 2)
    engine = make_engine(database_url)
    with session(engine) as s, s.begin():
        for row_id, claim in ((first, "me/1"), (second, "someone-else/2")):
            row = s.get_one(m.Outbox, row_id)
            row.status, row.claim, row.claimed_at = "sending", claim, NOW
    values = {"claim": None, "claimed_at": None, "attempts": 1, "status": "sent"}
    values.update(sent_at=NOW, error=None, message_id="<sent@example.org>")

    def event(row_id: int) -> dict[str, object]:
        return {"at": NOW, "kind": "sent", "person_key": "kelly.cogger", "detail": "reminder",
                "outbox_id": row_id}  # fmt: skip

    writer = ResultWriter(engine)
    try:
        assert writer.write(first, "me/1", values, event(first)) is True
        assert writer.write(first, "me/1", values, event(first)) is False
        assert writer.write(second, "me/1", values, event(second)) is False
    finally:
        writer.close()
    assert rows(database_url) == [("sent", 1, None), ("sending", 0, None)]
    with session(engine) as s:
        events = s.exec(select(m.AuditEvent.outbox_id).where(m.AuditEvent.kind == "sent")).all()
        claims = s.exec(select(m.Outbox.claim).order_by(col(m.Outbox.id))).all()
    assert list(events) == [first]
    assert list(claims) == [None, "someone-else/2"]
