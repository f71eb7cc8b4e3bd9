"""Delivering the outbox: stored messages out through e-mail and Slack, each exactly once.

Messages are decided and stored first (an outbox row with a unique key), then delivered here.
Each result is committed the moment the transport reports it, so a crash loses no record of
what already went. Rows are sent one at a time in id order within a claimed batch, so after a
crash at most one row can be in doubt: the first of the batch with no result. That row is
marked failed ("interrupted") and not sent again, because a lead getting a reminder twice is
worse than the next reminder coming a week later; the rest of the batch goes back to pending.
Temporary failures are retried with growing waits; permanent ones are not.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot import models as m
from bot.db import session
from bot.notify.content import Recipient
from bot.notify.email import POLICY, SendResult, Transport
from bot.notify.slack import SlackResult, SlackTransport

log = logging.getLogger(__name__)

FIRST_RETRY = timedelta(minutes=5)
LONGEST_WAIT = timedelta(hours=6)
MAX_ATTEMPTS = 6
INTERRUPTED = "interrupted while sending; not sent again so that nobody receives it twice"


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
    engine: Engine, transports: Transports, now: datetime, *, batch_size: int = 200
) -> DeliveryReport:
    """Sends what is due at `now`; safe to call again at any time, from a fresh process."""
    report = DeliveryReport()
    recover_interrupted(engine, now, report)
    if transports.email is not None:
        _deliver_email(engine, transports.email, now, batch_size, report)
    if transports.slack is not None:
        _deliver_slack(engine, transports.slack, now, batch_size, report)
    return report


def recover_interrupted(engine: Engine, now: datetime, report: DeliveryReport) -> None:
    """Rows a dead process left in 'sending': the first of each batch may have gone."""
    with session(engine) as s, s.begin():
        rows = s.exec(
            select(m.Outbox).where(m.Outbox.status == "sending").order_by(col(m.Outbox.id))
        ).all()
        seen: set[str | None] = set()
        for row in rows:
            if row.claim not in seen:
                seen.add(row.claim)
                row.status, row.error = "failed", INTERRUPTED
                report.interrupted += 1
                s.add(_event(row, "interrupted", now, INTERRUPTED))
                log.warning(
                    "outbox %s (%s) was interrupted while sending; not resent", row.id, row.kind
                )
            else:
                row.status = "pending"
            row.claim = None
            s.add(row)


def _claim(engine: Engine, channel: str, now: datetime, limit: int) -> tuple[str, list[m.Outbox]]:
    claim = uuid.uuid4().hex
    with session(engine) as s, s.begin():
        rows = s.exec(
            select(m.Outbox)
            .where(
                m.Outbox.channel == channel,
                m.Outbox.status == "pending",
                (col(m.Outbox.next_attempt_at).is_(None))
                | (col(m.Outbox.next_attempt_at) <= _utc(now)),
            )
            .order_by(col(m.Outbox.id))
            .limit(limit)
        ).all()
        for row in rows:
            row.status, row.claim = "sending", claim
            s.add(row)
    return claim, list(rows)


def _deliver_email(
    engine: Engine, transport: Transport, now: datetime, limit: int, report: DeliveryReport
) -> None:
    _claim_id, rows = _claim(engine, "email", now, limit)
    if not rows:
        return
    messages = [email.message_from_string(r.payload, policy=POLICY) for r in rows]

    def record(index: int, result: SendResult) -> None:
        _record(
            engine,
            rows[index].id,
            now,
            result.ok,
            result.error,
            result.permanent,
            result.message_id,
            report,
        )

    transport.send_batch(messages, on_result=record)  # type: ignore[arg-type]


def _deliver_slack(
    engine: Engine, transport: SlackTransport, now: datetime, limit: int, report: DeliveryReport
) -> None:
    _claim_id, rows = _claim(engine, "slack", now, limit)
    for row in rows:
        payload = json.loads(row.payload)
        result = _send_slack(transport, payload)
        _record(
            engine,
            row.id,
            now,
            result.ok,
            result.error,
            result.permanent,
            f"{result.channel}/{result.ts}" if result.ok else None,
            report,
        )


def _send_slack(transport: SlackTransport, payload: dict[str, Any]) -> SlackResult:
    if payload.get("channel"):
        return transport.post_channel(payload["channel"], payload["text"], payload["blocks"])
    who = payload["recipient"]
    recipient = Recipient(who["name"], who.get("email"), who.get("slack_id"))
    return transport.send_dm(recipient, payload["text"], payload["blocks"])


def _record(
    engine: Engine,
    row_id: int | None,
    now: datetime,
    ok: bool,
    error: str | None,
    permanent: bool,
    message_id: str | None,
    report: DeliveryReport,
) -> None:
    with session(engine) as s, s.begin():
        row = s.get(m.Outbox, row_id)
        assert row is not None
        row.attempts += 1
        row.claim = None
        if ok:
            row.status, row.sent_at, row.error = "sent", _utc(now), None
            row.message_id = message_id or row.message_id
            report.sent += 1
            s.add(_event(row, "sent", now, None))
        elif permanent or row.attempts >= MAX_ATTEMPTS:
            row.status, row.error = "failed", error
            report.failed += 1
            report.errors.append(f"{row.kind} to {row.recipient_key or '?'}: {error}")
            s.add(_event(row, "failed", now, error))
        else:
            row.status, row.error = "pending", error
            row.next_attempt_at = _utc(now + backoff(row.attempts))
            report.retrying += 1
            s.add(_event(row, "retrying", now, error))
        s.add(row)


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
