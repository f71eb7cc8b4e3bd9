"""Running one chase: decide, store the decisions, deliver what they queued.

The engine decides (pure); this module acts on its decisions. Everything a run decides is
stored in one transaction — audit events for reminders, escalations, resets and digests, and
outbox rows holding each rendered message — before anything is sent, so a crash between the
two loses nothing and sends nothing twice (see bot/delivery.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot import models as m
from bot.chase_state import chases_for, load_state
from bot.compose import (
    DigestSnapshot,
    Place,
    compose_chair_summary,
    compose_digest,
    compose_reminder,
    places,
)
from bot.db import session
from bot.delivery import DeliveryReport, Transports, deliver, slack_payload
from bot.engine import Chase, Decisions, DigestKind, RemindLead, SendDigest, State
from bot.engine_input import evaluate
from bot.inbound.digest_notes import proposed_dates_since, set_aside_since
from bot.notify.content import ChairSummary, Digest, Recipient
from bot.notify.email import (
    OutboxDirTransport,
    SmtpConfig,
    SmtpTransport,
    email_text,
    make_message_id,
)
from bot.notify.render import forget_templates, render
from bot.notify.slack import SlackTransport, make_client
from bot.notify.slack_blocks import chair_summary_blocks, digest_blocks, reminder_blocks
from bot.rules import LoadedRules
from bot.settings import MailSettings, Settings
from bot.store import PlanView, Reach, load_for_digests, load_for_reminders, load_plans
from bot.web.update_links import update_link_maker

log = logging.getLogger(__name__)

_DIGEST_LEVEL = {
    "operational": "operational_group",
    "strategic": "strategic_board",
    "chair": "chair",
}
_MESSAGE_KIND = {
    "operational": "operational-digest",
    "strategic": "strategic-digest",
    "chair": "chair-summary",
}


@dataclass(frozen=True)
class TickResult:
    decisions: Decisions
    queued: int  # outbox rows stored
    delivery: DeliveryReport | None


def transports_for(settings: Settings) -> Transports:
    """SMTP when a server is set, else the .eml outbox folder; Slack when a token is set."""
    mail = settings.mail
    assert mail is not None
    if mail.smtp_host:
        config = SmtpConfig(
            mail.smtp_host,
            mail.smtp_port,
            mail.smtp_security,  # type: ignore[arg-type]
            mail.smtp_username,
            mail.smtp_password,
        )
        email_transport: SmtpTransport | OutboxDirTransport = SmtpTransport(config)
    else:
        email_transport = OutboxDirTransport(mail.outbox_dir)
    slack = None
    if settings.slack_token:
        slack = SlackTransport(make_client(settings.slack_token, settings.slack_api_url))
    return Transports(email=email_transport, slack=slack)


def tick(
    engine: Engine,
    loaded: LoadedRules,
    settings: Settings,
    now: datetime,
    transports: Transports,
    *,
    send: bool = True,
) -> TickResult:
    """One evaluation at `now`: decide, store, and (unless `send` is False) deliver.

    The actions are read and decided a chunk at a time (bot/engine_input.py), so a run at a
    million actions holds their decisions, not the plans."""
    with session(engine) as s, s.begin():
        decisions = evaluate(s, loaded.rules, now)
        queued = store_decisions(
            s, decisions, now, loaded, settings, slack=transports.slack is not None
        )
    report = deliver(engine, transports, now) if send else None
    log.info(
        "tick at %s: %d reminder(s), %d escalation(s), %d back to lead, %d digest(s); %d queued%s",
        now.isoformat(),
        len(decisions.reminders),
        len(decisions.escalations),
        len(decisions.resets),
        len(decisions.digests),
        queued,
        f"; sent {report.sent}, failed {report.failed}, retrying {report.retrying}"
        if report
        else "",
    )
    return TickResult(decisions, queued, report)


def store_decisions(
    s: Session,
    decisions: Decisions,
    now: datetime,
    loaded: LoadedRules,
    settings: Settings,
    *,
    slack: bool,
) -> int:
    """Stores the audit events and the rendered outbox rows for `decisions`, reading from the
    database whatever the messages show: for reminders, the actions they ask about (and their
    chase state) only."""
    mail = settings.mail
    assert mail is not None
    if not decisions:
        return 0
    forget_templates()  # templates edited since the last tick are read again
    at = now.astimezone(UTC)
    queued = 0
    if decisions.digests:
        # Read before this run stores anything, so digests show the chase as it stood (this
        # run's reminders and escalations are not counted yet). What digests show, without
        # texts: every open action, and those the previous ones listed (to say why they left).
        previous = {d.kind: _previous_snapshot(s, d.kind) for d in decisions.digests}
        also = {key for snapshot in previous.values() if snapshot for key in snapshot.actions}
        views, counts = load_for_digests(s, also)
        digest_chases = chases_for(s, [a.id for plan in views for a in plan.actions])
    if decisions.reminders:
        reminded = {ask.action_id for d in decisions.reminders for ask in d.asks}
        plans = load_for_reminders(s, reminded)
        reaches = _reaches(plans)
        lead_keys = sorted({d.lead.key for d in decisions.reminders})
        person_ids = _person_ids(s, lead_keys)
        by_id = {p.id: p for p in plans}
        where = places(plans)
        chases = chases_for(s, reminded)
        update_link = update_link_maker(settings.web, now)
        writes = _Writes()
        writes.new_rows(
            s, now, [_reminder_rows(reaches[d.lead.key], now, slack) for d in decisions.reminders]
        )
        for decision in decisions.reminders:
            queued += _store_reminder(
                s,
                decision,
                by_id,
                reaches,
                person_ids,
                chases,
                now,
                loaded,
                mail,
                slack,
                update_link,
                where,
                writes,
            )
        writes.run(s)
    for e in decisions.escalations:
        s.add(
            m.AuditEvent(
                at=at,
                kind="escalated",
                action_id=e.action_id,
                plan_id=e.plan_id,
                level=e.to_level.value,
                detail=e.because,
                rules_version=loaded.version,
            )
        )
    for r in decisions.resets:
        s.add(
            m.AuditEvent(
                at=at,
                kind="reset",
                action_id=r.action_id,
                plan_id=r.plan_id,
                level="lead",
                detail=f"progress recorded; was at {r.from_level.value}",
                rules_version=loaded.version,
            )
        )
    for d in decisions.digests:
        queued += _store_digest(
            s, d, views, digest_chases, now, loaded, mail, slack, previous[d.kind], counts
        )
    return queued


def _person_ids(s: Session, keys: Sequence[str]) -> dict[str, int]:
    """The people among these lead keys (a group's key finds none), by key."""
    found: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        query = select(m.Person.key, m.Person.id).where(col(m.Person.key).in_(chunk))
        found.update({key: pid for key, pid in s.exec(query) if pid is not None})
    return found


def _reaches(plans: Sequence[PlanView]) -> dict[str, Reach]:
    found: dict[str, Reach] = {}
    for plan in plans:
        for action in plan.actions:
            for lead in action.leads:
                if lead.reaches is not None:
                    found.setdefault(lead.reaches.key, lead.reaches)
    return found


def _store_reminder(
    s: Session,
    decision: RemindLead,
    plans: Mapping[str, PlanView],
    reaches: Mapping[str, Reach],
    person_ids: Mapping[str, int],
    chases: Mapping[int, Chase],
    now: datetime,
    loaded: LoadedRules,
    mail: MailSettings,
    slack: bool,
    update_link: Callable[[int, int], str] | None,
    where: Mapping[int, Place] | None,
    writes: _Writes,
) -> int:
    """One reminder's outbox rows (stored already, empty, by `writes.new_rows`) and audit
    events; their contents and the events are left in `writes` for the caller to write."""
    reach = reaches[decision.lead.key]
    key = _reminder_key(reach, now)
    rows: list[int] = []
    email_row = writes.ids[key]
    content = compose_reminder(
        decision,
        plans,
        reach,
        now,
        reply_base=mail.reply_address,
        secret=mail.reply_secret,
        outbox_key=key,
        message_token_id=email_row,
        person_ids=person_ids,
        chases=chases,
        update_link=update_link,
        where=where,
    )  # type: ignore[arg-type]
    if reach.email:
        rendered = render("reminder", content)
        message_id = make_message_id(key, mail.domain)
        payload = email_text(
            rendered,
            kind="reminder",
            sender=mail.sender,
            recipients=[content.recipient],
            reply_to=content.reply_address,
            sent_at=now,
            message_id=message_id,
        )
        writes.fills.append(
            {"row": email_row, "subject": rendered.subject, "payload": payload, "mid": message_id}
        )
        rows.append(email_row)
    else:
        writes.drops.append({"row": email_row})
    if slack and (reach.email or reach.slack_id):
        text, blocks = reminder_blocks(content)
        slack_row = writes.ids[key + "/slack"]
        writes.fills.append(
            {
                "row": slack_row,
                "subject": text[:200],
                "payload": slack_payload(content.recipient, None, text, blocks),
                "mid": None,
            }
        )
        rows.append(slack_row)
    first = rows[0] if rows else None
    events = writes.events
    for ask in decision.asks:
        detail = ask.reason + (f", {ask.days_overdue} days overdue" if ask.days_overdue else "")
        events.append(
            {
                "at": now.astimezone(UTC),
                "kind": "reminded",
                "action_id": ask.action_id,
                "plan_id": ask.plan_id,
                "person_key": reach.key,
                "level": ask.level.value,
                "detail": detail if rows else detail + "; no address to send to",
                "rules_version": loaded.version,
                "outbox_id": first,
            }
        )
    return len(rows)


def _reminder_key(reach: Reach, now: datetime) -> str:
    return f"reminder/{reach.key}/{now.astimezone(UTC):%Y-%m-%dT%H:%M}"


def _reminder_rows(reach: Reach, now: datetime, slack: bool) -> list[tuple[str, str, str, str]]:
    """(key, channel, recipient key, recipient) of the outbox rows a reminder to `reach` gets,
    in the order they were stored one by one: e-mail (removed again without an address), then
    Slack."""
    key = _reminder_key(reach, now)
    rows = [(key, "email", reach.key, reach.email or "")]
    if slack and (reach.email or reach.slack_id):
        rows.append((key + "/slack", "slack", reach.key, reach.slack_id or reach.email or ""))
    return rows


@dataclass
class _Writes:
    """Reminders' outbox rows and audit events, written in one statement each: thousands of
    single INSERTs and UPDATEs cost more than the rows they wrote. The rows are stored first,
    empty, since a reminder's Reply-To is signed with its row's id; their contents follow."""

    ids: dict[str, int] = field(default_factory=dict)
    fills: list[dict[str, Any]] = field(default_factory=list)
    drops: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    def new_rows(
        self, s: Session, now: datetime, rows: Sequence[Sequence[tuple[str, str, str, str]]]
    ) -> None:
        at = now.astimezone(UTC)
        params = [
            {
                "key": key,
                "kind": "reminder",
                "channel": channel,
                "recipient_key": recipient_key,
                "recipient": recipient,
                "subject": "",
                "payload": "",
                "message_id": None,
                "created_at": at,
                "status": "pending",
                "attempts": 0,
            }
            for group in rows
            for key, channel, recipient_key, recipient in group
        ]
        if params:
            ids = s.connection().execute(_NEW_OUTBOXES, params).scalars().all()
            self.ids.update(zip([key for group in rows for key, *_ in group], ids, strict=True))

    def run(self, s: Session) -> None:
        conn = s.connection()
        for statement, params in (
            (_FILL_OUTBOX, self.fills),
            (_DROP_OUTBOX, self.drops),
            (_AUDIT, self.events),
        ):
            if params:
                conn.execute(statement, params)
            params.clear()


class _Unread:
    """`previous` not read yet."""


_UNREAD = _Unread()


def _store_digest(
    s: Session,
    d: SendDigest,
    plans: list[PlanView],
    state: State | Mapping[int, Chase],
    now: datetime,
    loaded: LoadedRules,
    mail: MailSettings,
    slack: bool,
    previous: DigestSnapshot | None | _Unread = _UNREAD,
    progress_counts: Mapping[int, int] | None = None,
) -> int:
    """`state` and `progress_counts` as bot/compose.py `compose_digest` takes them; `previous`
    the last snapshot of this kind, when the caller has read it already."""
    kind: DigestKind = d.kind
    message_kind = _MESSAGE_KIND[kind]
    key = f"{message_kind}/{d.due_at.astimezone(UTC):%Y-%m-%dT%H:%M}"
    recipients = _governance_recipients(plans, _DIGEST_LEVEL[kind])
    if isinstance(previous, _Unread):
        previous = _previous_snapshot(s, kind)
    calendar = loaded.rules.working_calendar()
    content: ChairSummary | Digest
    if kind == "chair":
        content, snapshot = compose_chair_summary(
            plans,
            state,
            now,
            recipients=recipients,
            previous=previous,
            key=key,
            calendar=calendar,
            progress_counts=progress_counts,
        )
        text, blocks = chair_summary_blocks(content)
    else:
        since = previous.at if previous else None
        content, snapshot = compose_digest(
            kind,
            plans,
            state,
            now,
            recipients=recipients,
            previous=previous,
            key=key,
            calendar=calendar,
            proposed_dates=proposed_dates_since(s, since) if kind == "operational" else (),
            set_aside=set_aside_since(s, since) if kind == "operational" else (),
            progress_counts=progress_counts,
        )
        text, blocks = digest_blocks(content)
    rendered = render(message_kind, content)
    rows = []
    addressed = [r for r in recipients if r.email]
    if addressed:
        message_id = make_message_id(key, mail.domain)
        payload = email_text(
            rendered,
            kind=message_kind,
            sender=mail.sender,
            recipients=addressed,
            reply_to=None,
            sent_at=now,
            message_id=message_id,
        )
        rows.append(
            _outbox(
                s,
                key,
                message_kind,
                "email",
                None,
                ", ".join(r.email or "" for r in addressed),
                now,
                subject=rendered.subject,
                payload=payload,
                message_id=message_id,
            )
        )
    channel = getattr(loaded.rules.digests, kind).slack_channel
    if slack and channel:
        rows.append(
            _outbox(
                s,
                key + "/slack",
                message_kind,
                "slack",
                None,
                channel,
                now,
                subject=text[:200],
                payload=slack_payload(None, channel, text, blocks),
            )
        )
    s.add(
        m.AuditEvent(
            at=now.astimezone(UTC),
            kind="digest",
            detail=kind,
            data=snapshot.to_json(),
            rules_version=loaded.version,
            outbox_id=rows[0] if rows else None,
        )
    )
    return len(rows)


def _governance_recipients(plans: Sequence[PlanView], level: str) -> list[Recipient]:
    """Who a level's digest goes to: each body's mailbox, else its contact person."""
    found: dict[str, Recipient] = {}
    for plan in plans:
        for g in plan.governance:
            if g.level != level or g.resolved is None:
                continue
            lead = g.resolved
            if lead.email:
                found.setdefault(lead.email, Recipient(lead.name, lead.email))
            elif lead.reaches is not None and lead.reaches.email:
                r = lead.reaches
                found.setdefault(r.email, Recipient(r.name, r.email, r.slack_id, lead.name))  # type: ignore[arg-type]
    return list(found.values())


def _previous_snapshot(s: Session, kind: str) -> DigestSnapshot | None:
    last = s.exec(
        select(m.AuditEvent)
        .where(m.AuditEvent.kind == "digest", m.AuditEvent.detail == kind)
        .order_by(col(m.AuditEvent.at).desc(), col(m.AuditEvent.id).desc())
    ).first()
    if last is None or not last.data:
        return None
    return DigestSnapshot.from_json(last.data)


def _outbox(
    s: Session,
    key: str,
    kind: str,
    channel: str,
    recipient_key: str | None,
    recipient: str,
    now: datetime,
    *,
    subject: str = "",
    payload: str = "",
    message_id: str | None = None,
) -> int:
    """Stores an outbox row at once (a reminder's Reply-To is signed with its id)."""
    row_id = (
        s.connection()
        .execute(
            _NEW_OUTBOX,
            {
                "key": key,
                "kind": kind,
                "channel": channel,
                "recipient_key": recipient_key,
                "recipient": recipient,
                "subject": subject,
                "payload": payload,
                "message_id": message_id,
                "created_at": now.astimezone(UTC),
                "status": "pending",
                "attempts": 0,
            },
        )
        .scalar_one()
    )
    return int(row_id)


# Statements built once: a tick may store thousands of rows, and building a statement each
# time cost more than running it.
_OUTBOX = cast(Table, m.Outbox.__table__)  # type: ignore[attr-defined]
_NEW_OUTBOX = insert(_OUTBOX).returning(_OUTBOX.c.id)
_NEW_OUTBOXES = insert(_OUTBOX).returning(_OUTBOX.c.id, sort_by_parameter_order=True)
_FILL_OUTBOX = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row"))
    .values(subject=bindparam("subject"), payload=bindparam("payload"), message_id=bindparam("mid"))
)
_DROP_OUTBOX = delete(_OUTBOX).where(_OUTBOX.c.id == bindparam("row"))
_AUDIT = insert(cast(Table, m.AuditEvent.__table__))  # type: ignore[attr-defined]


def send_digest_now(
    engine: Engine,
    loaded: LoadedRules,
    settings: Settings,
    now: datetime,
    kind: DigestKind,
    transports: Transports | None,
) -> str:
    """Builds one digest out of schedule; with no transports it is only rendered (a preview:
    nothing is stored). Returns its text part."""
    with session(engine) as s, s.begin():
        plans = load_plans(s)
        state = load_state(s, plans)
        _store_digest(
            s,
            SendDigest(kind, now),
            plans,
            state,
            now,
            loaded,
            settings.mail,  # type: ignore[arg-type]
            slack=transports is not None and transports.slack is not None,
        )
        text = _latest_text(s, kind)
        if transports is None:
            s.rollback()
            return text
    deliver(engine, transports, now)
    return text


def _latest_text(s: Session, kind: DigestKind) -> str:
    import email
    import email.policy

    row = s.exec(
        select(m.Outbox)
        .where(m.Outbox.kind == _MESSAGE_KIND[kind], m.Outbox.channel == "email")
        .order_by(col(m.Outbox.id).desc())
    ).first()
    if row is None:
        return "(no recipient with an e-mail address: nothing to show)"
    message = email.message_from_string(row.payload, policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    return str(body.get_content()) if body is not None else ""
