"""One e-mail in: matched to what it answers, checked, and recorded, quarantined or set aside.

The same function serves the IMAP poller and `actionbot ingest-email` (a message piped in by
a mail server), and decides everything in one database transaction, so a message is either
fully handled or not at all; the caller moves it out of the inbox only after that commit, and
a message delivered again (same Message-ID) is recognised and changes nothing.

What is trusted: the signed token in the plus-address it was sent to (an altered token matches
nothing), else its In-Reply-To/References against the Message-IDs actionbot sent; and then the
sender, who must be a lead of each action the reply speaks for, or a registered delegate. What
is not trusted: the subject, the display name, anything the message says about itself.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.utils import parseaddr
from typing import Literal

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot import models as m
from bot.db import session
from bot.inbound.mail import ParsedMail, parse_mail
from bot.inbound.record import (
    Answerer,
    Update,
    already_seen,
    answerers,
    log_inbound,
    person_for_email,
    record_updates,
)
from bot.inbound.sections import Section, split_sections
from bot.notify.content import Confirmation, Question, QuestionLine, Recipient, RecordedLine
from bot.notify.email import email_text, make_message_id
from bot.notify.render import Rendered, render
from bot.notify.tokens import reply_address, sign, token_from_address, verify
from bot.plans.partial_date import PartialDate
from bot.rules import LoadedRules
from bot.settings import MailSettings, Settings

log = logging.getLogger(__name__)

CHANNEL = "email"
# the audit events that tie an outbox message to the actions it was about
_ABOUT = ("reminded", "asked", "confirmed")

Stop = Callable[..., "Ingested"]  # logs the message's outcome and returns it
Outcome = Literal[
    "recorded", "duplicate", "quarantined", "asked", "auto-reply", "bounce", "ignored"
]


@dataclass(frozen=True)
class Ingested:
    outcome: Outcome
    reason: str | None = None
    refs: tuple[str, ...] = ()

    @property
    def folder(self) -> Literal["processed", "quarantine"]:
        return "quarantine" if self.outcome == "quarantined" else "processed"


def ingest_email(
    engine: Engine, raw: bytes, settings: Settings, loaded: LoadedRules, now: datetime
) -> Ingested:
    """Handles one raw message received at `now`. Never raises for anything the message holds:
    every outcome is recorded in the inbound log and returned."""
    mail = settings.mail
    assert mail is not None
    parsed = parse_mail(raw)
    message_id = parsed.message_id or _synthetic_id(raw)
    try:
        with session(engine) as s, s.begin():
            if already_seen(s, CHANNEL, message_id):
                result = Ingested("duplicate", "this message was handled before")
            else:
                result = _handle(s, parsed, message_id, mail, loaded, now)
    except IntegrityError:
        # another process recorded the same Message-ID between our check and our commit
        result = Ingested("duplicate", "this message was handled before")
    log.info(
        "e-mail %s from %s: %s%s",
        message_id,
        parsed.sender or "?",
        result.outcome,
        f" ({result.reason})" if result.reason else "",
    )
    return result


def _handle(
    s: Session,
    parsed: ParsedMail,
    message_id: str,
    mail: MailSettings,
    loaded: LoadedRules,
    now: datetime,
) -> Ingested:
    today = loaded.rules.working_calendar().today(now)

    def stop(outcome: Outcome, reason: str, **fields: object) -> Ingested:
        log_inbound(
            s,
            channel=CHANNEL,
            external_id=message_id,
            received_at=now,
            outcome=outcome,
            sender=parsed.sender,
            subject=parsed.subject[:200] or None,
            reason=reason,
            **fields,  # type: ignore[arg-type]
        )
        return Ingested(outcome, reason)

    if _from_ourselves(parsed.sender, mail):
        return stop("ignored", "sent by actionbot itself")
    if parsed.kind == "bounce":
        return _bounce(s, parsed, stop, now)

    matched = _match(s, parsed, mail)
    if isinstance(matched, str):
        return stop("quarantined", matched)
    action_ids, outbox_id = matched
    actions, plans = _actions(s, action_ids)
    if not actions:
        return stop("quarantined", "it answers a message about actions no longer in any plan")

    if parsed.kind == "auto-reply":
        return _auto_reply(s, parsed, actions, stop, today, now, outbox_id)

    sender = parsed.sender or ""
    allowed = answerers(s, [a.id for a in actions if a.id is not None])
    if not any(sender in allowed[a.id] for a in actions if a.id is not None):
        refs = ", ".join(a.ref for a in actions)
        return stop(
            "quarantined",
            f"{sender or 'an unknown sender'} is not a lead of {refs} or a delegate",
            action_ids=[a.id for a in actions],
            in_reply_to=outbox_id,
        )
    if not parsed.text.strip():
        return stop("ignored", "the reply holds no new text", in_reply_to=outbox_id)

    updates = _updates(parsed, actions)
    if updates is None:
        _ask_which(s, parsed, message_id, actions, plans, allowed, mail, now)
        return stop(
            "asked",
            "a reply about several actions that does not say which",
            action_ids=[a.id for a in actions],
            in_reply_to=outbox_id,
        )
    by_id = {a.id: a for a in actions}
    for update in updates:
        if sender not in allowed[update.action_id]:
            return stop(
                "quarantined",
                f"{sender} is not a lead of {by_id[update.action_id].ref} or a delegate",
                action_ids=[u.action_id for u in updates],
                in_reply_to=outbox_id,
            )
    who = allowed[updates[0].action_id][sender]
    recorded = record_updates(
        s,
        updates,
        source=CHANNEL,
        external_id=message_id,
        author=who.name,
        author_person_id=who.person_id,
        now=now,
        today=today,
    )
    _confirm(s, parsed, message_id, recorded.entries, recorded.actions, plans, who, mail, now)
    log_inbound(
        s,
        channel=CHANNEL,
        external_id=message_id,
        received_at=now,
        outcome="recorded",
        sender=sender,
        subject=parsed.subject[:200] or None,
        person_id=who.person_id,
        action_ids=[u.action_id for u in updates],
        in_reply_to=outbox_id,
    )
    return Ingested("recorded", None, tuple(by_id[u.action_id].ref for u in updates))


# --- matching -------------------------------------------------------------------------------


def _match(
    s: Session, parsed: ParsedMail, mail: MailSettings
) -> tuple[list[int], int | None] | str:
    """The actions a message answers and the outbox message it answers, or why it matches none."""
    secret = mail.reply_secret
    tokens = [
        t for t in (token_from_address(r, mail.reply_address) for r in parsed.recipients) if t
    ]
    if tokens:
        for token in tokens:
            verified = verify(secret, token)
            if verified is None:
                continue
            kind, ids = verified
            if kind == "m" and len(ids) == 1:
                about = _actions_of(s, ids[0])
                if about:
                    return about, ids[0]
            if kind == "a" and ids:
                return [ids[0]], _answered_outbox(s, parsed)
        return "the reply address's token was altered or is not one actionbot signed"
    outbox_id = _answered_outbox(s, parsed)
    if outbox_id is not None:
        about = _actions_of(s, outbox_id)
        if about:
            return about, outbox_id
    return "not a reply to a message from actionbot (no reply token, no known In-Reply-To)"


def _answered_outbox(s: Session, parsed: ParsedMail) -> int | None:
    if not parsed.references:
        return None
    rows = s.exec(
        select(m.Outbox).where(col(m.Outbox.message_id).in_(list(parsed.references)))
    ).all()
    # the message it answers directly (In-Reply-To comes first) rather than an older one
    order = {ref: i for i, ref in enumerate(parsed.references)}
    rows = sorted(rows, key=lambda r: order.get(r.message_id or "", len(order)))
    return rows[0].id if rows else None


def _actions_of(s: Session, outbox_id: int) -> list[int]:
    rows = s.exec(
        select(m.AuditEvent.action_id).where(
            m.AuditEvent.outbox_id == outbox_id, col(m.AuditEvent.kind).in_(_ABOUT)
        )
    ).all()
    return sorted({i for i in rows if i is not None})


def _actions(s: Session, action_ids: list[int]) -> tuple[list[m.Action], dict[str, str]]:
    """The actions still in a plan, in the order of `action_ids`, and their plans' titles (for
    the answer to the lead), in one query."""
    query = (
        select(m.Action, m.Plan.title)
        .join(m.Plan, col(m.Plan.id) == m.Action.plan_id)
        .where(col(m.Action.id).in_(action_ids))
    )
    rows: dict[int | None, m.Action] = {}
    titles: dict[str, str] = {}
    for action, title in s.exec(query):
        rows[action.id] = action
        titles[action.plan_id] = title
    return [rows[i] for i in action_ids if i in rows], titles


def _from_ourselves(sender: str | None, mail: MailSettings) -> bool:
    if not sender:
        return False
    own = {parseaddr(mail.sender)[1].lower(), mail.reply_address.lower()}
    return sender in own or token_from_address(sender, mail.reply_address) is not None


# --- what the reply says --------------------------------------------------------------------


def _updates(parsed: ParsedMail, actions: list[m.Action]) -> list[Update] | None:
    """One update per action the reply speaks for; None when it cannot be told which."""
    refs = [a.ref for a in actions]
    sections = split_sections(parsed.text, refs)
    if len(actions) == 1:
        [action] = actions
        return [
            Update(
                action.id,  # type: ignore[arg-type]
                parsed.text,
                rag=next((x.rag for x in sections if x.rag), None),
                completed=any(x.completed for x in sections),
                proposed=next((x.proposed for x in sections if x.proposed), None),
                attachments=parsed.attachments,
            )
        ]
    by_ref = {a.ref: a for a in actions}
    merged: dict[str, list[Section]] = {}
    for section in sections:
        if section.ref is not None and section.ref in by_ref:
            merged.setdefault(section.ref, []).append(section)
    if not merged:
        return None
    return [
        Update(
            by_ref[ref].id,  # type: ignore[arg-type]
            "\n\n".join(x.text.strip() for x in parts),
            rag=next((x.rag for x in parts if x.rag), None),
            completed=any(x.completed for x in parts),
            proposed=next((x.proposed for x in parts if x.proposed), None),
            attachments=parsed.attachments,
        )
        for ref, parts in merged.items()
    ]


# --- not a reply: bounces and out-of-office -------------------------------------------------


def _bounce(s: Session, parsed: ParsedMail, stop: Stop, now: datetime) -> Ingested:
    failed = [a.lower() for a in parsed.bounced]
    marked = []
    for address in failed:
        person = person_for_email(s, address)
        if person is not None:
            person.email_failing = parsed.why or "mail to this address bounced"
            person.email_failing_since = now.astimezone(UTC)
            s.add(person)
            marked.append(person.name)
    reason = f"delivery to {', '.join(failed) or 'an unknown address'} failed"
    if marked:
        reason += f" (marked failing: {', '.join(marked)})"
    return stop("bounce", reason)


def _auto_reply(
    s: Session,
    parsed: ParsedMail,
    actions: list[m.Action],
    stop: Stop,
    today: date,
    now: datetime,
    outbox_id: int | None,
) -> Ingested:
    person = person_for_email(s, parsed.sender or "")
    if person is None or parsed.away_until is None or parsed.away_until <= today:
        return stop("auto-reply", parsed.why or "an automatic reply", in_reply_to=outbox_id)
    person.away_until = parsed.away_until
    s.add(person)
    for action in actions:
        s.add(
            m.AuditEvent(
                at=now.astimezone(UTC),
                kind="away",
                action_id=action.id,
                plan_id=action.plan_id,
                person_key=person.key,
                until=parsed.away_until,
                detail=f"out-of-office reply: {person.name} is away; not reminded until after",
            )
        )
    return stop(
        "auto-reply",
        f"out of office until {parsed.away_until:%d %b %Y}",
        person_id=person.id,
        action_ids=[a.id for a in actions],
        in_reply_to=outbox_id,
    )


# --- answering the lead ---------------------------------------------------------------------


def _confirm(
    s: Session,
    parsed: ParsedMail,
    message_id: str,
    entries: list[m.ProgressEntry],
    actions: list[m.Action],
    plans: dict[str, str],
    who: Answerer,
    mail: MailSettings,
    now: datetime,
) -> None:
    secret = mail.reply_secret
    lines = tuple(
        RecordedLine(
            plan_title=plans.get(action.plan_id, action.plan_id),
            ref=action.ref,
            title=action.title,
            dated=entry.dated,
            text=entry.text,
            rag=entry.rag,  # type: ignore[arg-type]
            completed=entry.completed,
            proposed=PartialDate.parse(entry.proposed_due) if entry.proposed_due else None,
            reply_address=reply_address(
                mail.reply_address, sign(secret, "a", action.id or 0, who.person_id or 0)
            ),
        )
        for entry, action in zip(entries, actions, strict=True)
    )
    key = f"confirmation/{message_id}"
    content = Confirmation(key, _recipient(parsed, who), lines, parsed.subject, now)
    row = _queue(
        s, key, "confirmation", render("confirmation", content), parsed, message_id, mail, now
    )
    for action in actions:
        s.add(
            m.AuditEvent(
                at=now.astimezone(UTC),
                kind="confirmed",
                action_id=action.id,
                plan_id=action.plan_id,
                person_key=None,
                outbox_id=row.id,
                detail=f"reply from {who.email} recorded",
            )
        )


def _ask_which(
    s: Session,
    parsed: ParsedMail,
    message_id: str,
    actions: list[m.Action],
    plans: dict[str, str],
    allowed: dict[int, dict[str, Answerer]],
    mail: MailSettings,
    now: datetime,
) -> None:
    sender = parsed.sender or ""
    who = next(
        allowed[a.id][sender] for a in actions if a.id is not None and sender in allowed[a.id]
    )
    secret = mail.reply_secret
    lines = tuple(
        QuestionLine(
            plans.get(a.plan_id, a.plan_id),
            a.ref,
            a.title,
            reply_address(mail.reply_address, sign(secret, "a", a.id or 0, who.person_id or 0)),
        )
        for a in actions
    )
    key = f"question/{message_id}"
    content = Question(key, _recipient(parsed, who), lines, parsed.subject, now)
    row = _queue(s, key, "question", render("question", content), parsed, message_id, mail, now)
    for a in actions:
        s.add(
            m.AuditEvent(
                at=now.astimezone(UTC),
                kind="asked",
                action_id=a.id,
                plan_id=a.plan_id,
                outbox_id=row.id,
                detail=f"asked {who.email} which action a reply was about",
            )
        )


def _recipient(parsed: ParsedMail, who: Answerer) -> Recipient:
    return Recipient(who.name, parsed.sender or who.email)


def _queue(
    s: Session,
    key: str,
    kind: str,
    rendered: Rendered,
    parsed: ParsedMail,
    message_id: str,
    mail: MailSettings,
    now: datetime,
) -> m.Outbox:
    """A message in the lead's thread, stored in the outbox like any other. Written as text
    directly (`email_text`), not built and flattened by the email package: that was the
    largest cost of taking a reply in."""
    recipient = Recipient(parsed.sender_name or parsed.sender or "", parsed.sender)
    own_id = make_message_id(key, mail.domain)
    payload = email_text(
        rendered,
        kind=kind,
        sender=mail.sender,
        recipients=[recipient],
        reply_to=None,
        sent_at=now,
        message_id=own_id,
        in_reply_to=message_id,
    )
    row = m.Outbox(
        key=_short_key(key),
        kind=kind,
        channel="email",
        recipient_key=None,
        recipient=parsed.sender or "",
        subject=rendered.subject[:200],
        payload=payload,
        message_id=own_id,
        created_at=now.astimezone(UTC),
    )
    s.add(row)
    s.flush()
    return row


def _short_key(key: str) -> str:
    """Outbox keys hold a Message-ID here; a long one is cut and made unique by its hash."""
    if len(key) <= 200:
        return key
    return key[:180] + "#" + hashlib.sha256(key.encode()).hexdigest()[:16]


def _synthetic_id(raw: bytes) -> str:
    """A message without a Message-ID is still recognised when delivered twice: by its bytes."""
    return f"<sha256-{hashlib.sha256(raw).hexdigest()[:40]}@actionbot.invalid>"
