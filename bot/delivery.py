"""Delivering the outbox: stored messages out through e-mail and Slack, each exactly once.

Messages are decided and stored first (an outbox row with a unique key), then delivered here.
Several processes may deliver at once: each claims a batch of rows with `FOR UPDATE SKIP
LOCKED` (PostgreSQL), so no row is in two batches, and sends them one at a time in id order.
Each result is committed as the transport reports it: the SMTP transport reports a result
while the next message's commands and data go to the server, and holds that message's end of
data until the commit is done (bot/notify/email.py `_Held`), so a crash loses no record of
what already went and the next message cannot be accepted before it.

A process that dies mid-batch leaves its unfinished rows in 'sending'. Once its lock shows it
is gone (bot/instances.py) they go back to the queue and are sent by whoever delivers next, so
every message is delivered. Only one of them can be in doubt: the one in flight when the
process died. If the mail server had accepted it but the process died before committing that,
it is sent again; that window is the time between the server's "250 OK" and our commit, a few
milliseconds per message (the commit overlaps the next message's commands, never its
acceptance), so a killed process sends at most one message twice. Losing a
reminder is worse than a rare second copy: it would never be asked for again.
Temporary failures are retried with growing waits; permanent ones are not.
"""

from __future__ import annotations

import email.policy
import json
import logging
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, NamedTuple

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot import models as m
from bot.db import session
from bot.delivery_results import ResultWriter
from bot.instances import instance_for
from bot.notify.content import Recipient
from bot.notify.email import SendResult, SmtpTransport, StoredEmail, Transport
from bot.notify.slack import SlackResult, SlackTransport

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(minutes=5)
LONGEST_WAIT = timedelta(hours=6)
MAX_ATTEMPTS = 6
# Rows claimed at a time: one SMTP connection each. Small enough that several processes share
# a large outbox between them, large enough that a connection carries many messages.
BATCH_SIZE = 50
INTERRUPTED = (
    "the process sending it stopped; sent again (if it was in flight then, it may arrive twice)"
)


@dataclass(frozen=True)
class Transports:
    """Where each channel goes; None leaves that channel's rows pending."""

    email: Transport | None = None
    slack: SlackTransport | None = None


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    interrupted: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    """5 minutes, 10, 20 … at most 6 hours: a mail server that is down for a day is tried
    a handful of times, not hammered."""
    return min(FIRST_RETRY * (2 ** max(attempts - 1, 0)), LONGEST_WAIT)


def email_payload(message: EmailMessage) -> str:
    return message.as_string(policy=email.policy.SMTP.clone(max_line_length=998))


def slack_payload(
    recipient: Recipient | None, channel: str | None, text: str, blocks: list[dict[str, Any]]
) -> str:
    return json.dumps(
        {
            "recipient": None
            if recipient is None
            else {"name": recipient.name, "email": recipient.email, "slack_id": recipient.slack_id},
            "channel": channel,
            "text": text,
            "blocks": blocks,
        }
    )


def deliver(
    engine: Engine, transports: Transports, now: datetime, *, batch_size: int = BATCH_SIZE
) -> DeliveryReport:
    """Sends everything due at `now`, a batch at a time; safe to call again at any time, from
    any number of processes at once."""
    report = DeliveryReport()
    recover_interrupted(engine, now, report)
    if transports.email is not None:
        _deliver_email(engine, transports.email, now, batch_size, report)
    if transports.slack is not None:
        _deliver_slack(engine, transports.slack, now, batch_size, report)
    return report


def recover_interrupted(engine: Engine, now: datetime, report: DeliveryReport) -> None:
    """Rows left in 'sending' by a process that has died go back to the queue."""
    me = instance_for(engine)
    with session(engine) as s, s.begin():
        rows = s.exec(
            select(m.Outbox)
            .where(m.Outbox.status == "sending")
            .order_by(col(m.Outbox.id))
            .with_for_update(skip_locked=True)
        ).all()
        alive: dict[str, bool] = {}
        taken: dict[str, list[int]] = {}
        for row in rows:
            owner = (row.claim or "").partition("/")[0]
            if owner == me.owner:
                with _active_mutex:
                    if row.claim in _active_claims:
                        continue
            else:
                if owner not in alive:
                    alive[owner] = bool(owner) and me.is_alive(owner)
                if alive[owner]:
                    continue
            row.status, row.claim, row.claimed_at = "pending", None, None
            report.interrupted += 1
            taken.setdefault(owner, []).append(row.id or 0)
            s.add(row)
            s.add(_event(row, "interrupted", now, INTERRUPTED))
    for owner, ids in taken.items():
        log.warning(
            "%d outbox row(s) (ids %d-%d) were left in the middle of sending by %s, which has "
            "stopped; sending them again",
            len(ids),
            min(ids),
            max(ids),
            owner or "a process from before claims were named",
        )


# The claims this process is sending right now. A claim of ours that is not here was given up
# (e.g. the database went away mid-batch and even giving the rows back failed): its rows are
# taken back like a dead process's.
_active_claims: set[str] = set()
_active_mutex = threading.Lock()


class _Claimed(NamedTuple):
    """What delivering and recording one claimed outbox row need, read without the ORM."""

    id: int
    kind: str
    channel: str
    recipient_key: str | None
    attempts: int
    message_id: str | None
    payload: str
    claim: str


_CLAIMED_COLUMNS = [getattr(m.Outbox, name) for name in _Claimed._fields[:-1]]


def _claim(engine: Engine, channel: str, now: datetime, limit: int) -> tuple[str, list[_Claimed]]:
    claim = f"{instance_for(engine).claim_name()}/{uuid.uuid4().hex}"
    with _active_mutex:
        _active_claims.add(claim)
    with engine.begin() as conn:
        ids = list(
            conn.scalars(
                select(m.Outbox.id)
                .where(
                    m.Outbox.channel == channel,
                    m.Outbox.status == "pending",
                    (col(m.Outbox.next_attempt_at).is_(None))
                    | (col(m.Outbox.next_attempt_at) <= _utc(now)),
                )
                .order_by(col(m.Outbox.id))
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not ids:
            return claim, []
        # one statement for the batch, in the transaction that holds the rows' locks
        conn.execute(
            update(m.Outbox)
            .where(col(m.Outbox.id).in_(ids))
            .values(status="sending", claim=claim, claimed_at=_utc(now))
        )
        # Read apart from choosing them: ordering every pending row with its payload
        # (SQLite sorts whole rows) cost more than sending them.
        rows = conn.execute(
            select(*_CLAIMED_COLUMNS).where(col(m.Outbox.id).in_(ids)).order_by(col(m.Outbox.id))
        ).all()
    return claim, [_Claimed._make((*row, claim)) for row in rows]


def _release(engine: Engine, claim: str) -> None:
    """A batch this process gave up on (an error, not a crash) goes straight back to the queue.
    If even that fails, the next delivery pass takes the rows back (see _active_claims)."""
    with _active_mutex:
        _active_claims.discard(claim)
    with engine.begin() as conn:
        conn.execute(
            update(m.Outbox)
            .where(col(m.Outbox.claim) == claim, col(m.Outbox.status) == "sending")
            .values(status="pending", claim=None, claimed_at=None)
        )


def _deliver_email(
    engine: Engine, transport: Transport, now: datetime, limit: int, report: DeliveryReport
) -> None:
    if isinstance(transport, SmtpTransport):
        with transport.session() as session:  # one connection for all the batches
            _deliver_email_batches(engine, session, now, limit, report)
    else:
        _deliver_email_batches(engine, transport, now, limit, report)


def _deliver_email_batches(
    engine: Engine, transport: Transport, now: datetime, limit: int, report: DeliveryReport
) -> None:
    while True:
        claim, rows = _claim(engine, "email", now, limit)
        if not rows:
            return
        messages = [StoredEmail.from_text(r.payload) for r in rows]
        results = ResultWriter(engine)

        def record(
            index: int,
            result: SendResult,
            rows: list[_Claimed] = rows,
            results: ResultWriter = results,
        ) -> None:
            _record(
                results,
                rows[index],
                now,
                result.ok,
                result.error,
                result.permanent,
                result.message_id,
                report,
            )

        try:
            transport.send_batch(messages, on_result=record)
        finally:
            results.close()
            _release(engine, claim)


def _deliver_slack(
    engine: Engine, transport: SlackTransport, now: datetime, limit: int, report: DeliveryReport
) -> None:
    while True:
        claim, rows = _claim(engine, "slack", now, limit)
        if not rows:
            return
        results = ResultWriter(engine)
        try:
            for row in rows:
                payload = json.loads(row.payload)
                result = _send_slack(transport, payload)
                _record(
                    results,
                    row,
                    now,
                    result.ok,
                    result.error,
                    result.permanent,
                    f"{result.channel}/{result.ts}" if result.ok else None,
                    report,
                    result.retry_after,
                )
        finally:
            results.close()
            _release(engine, claim)


def _send_slack(transport: SlackTransport, payload: dict[str, Any]) -> SlackResult:
    if payload.get("channel"):
        return transport.post_channel(payload["channel"], payload["text"], payload["blocks"])
    who = payload["recipient"]
    recipient = Recipient(who["name"], who.get("email"), who.get("slack_id"))
    return transport.send_dm(recipient, payload["text"], payload["blocks"])


def _record(
    results: ResultWriter,
    row: _Claimed,
    now: datetime,
    ok: bool,
    error: str | None,
    permanent: bool,
    message_id: str | None,
    report: DeliveryReport,
    retry_after: float | None = None,
) -> None:
    """`row` as this process claimed it: nobody else writes a claimed row, so its attempts
    are as stored. The row and its audit event are written in one commit.

    `retry_after`: the service asked us to wait (a rate limit); that is waited out however
    long it is, and never makes us give up on the message."""
    attempts = row.attempts + 1
    values: dict[str, Any] = {"claim": None, "claimed_at": None, "attempts": attempts}
    if retry_after is not None and not ok:
        wait = max(backoff(attempts), timedelta(seconds=retry_after))
        values.update(status="pending", error=error, next_attempt_at=_utc(now + wait))
        report.retrying += 1
        event = _result_event(row, "retrying", now, f"{error}; asked to wait {retry_after:.0f} s")
    elif ok:
        values.update(status="sent", sent_at=_utc(now), error=None)
        values["message_id"] = message_id or row.message_id
        report.sent += 1
        event = _result_event(row, "sent", now, None)
    elif permanent or attempts >= MAX_ATTEMPTS:
        values.update(status="failed", error=error)
        report.failed += 1
        report.errors.append(f"{row.kind} to {row.recipient_key or '?'}: {error}")
        event = _result_event(row, "failed", now, error)
    else:
        values.update(status="pending", error=error, next_attempt_at=_utc(now + backoff(attempts)))
        report.retrying += 1
        event = _result_event(row, "retrying", now, error)
    results.write(row.id, row.claim, values, event)


def _result_event(row: _Claimed, kind: str, now: datetime, detail: str | None) -> dict[str, Any]:
    """`_event`'s columns, for a Core INSERT."""
    return {
        "at": _utc(now),
        "kind": kind,
        "person_key": row.recipient_key,
        "detail": f"{row.kind} by {row.channel}" + (f": {detail}" if detail else ""),
        "outbox_id": row.id,
    }


def _event(row: m.Outbox, kind: str, now: datetime, detail: str | None) -> m.AuditEvent:
    return m.AuditEvent(
        at=_utc(now),
        kind=kind,
        person_key=row.recipient_key,
        detail=f"{row.kind} by {row.channel}" + (f": {detail}" if detail else ""),
        outbox_id=row.id,
    )


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
