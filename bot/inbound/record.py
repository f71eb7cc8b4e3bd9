"""Recording a lead's answer, whichever way it came: who may answer for an action, and the
progress entry that an e-mail reply, a Slack modal or a thread reply all become.

Every channel ends here so an update has one shape (date received, text, source, author, RAG
and completion if given, a proposed date, the raw message's id) and one set of effects: the
quiet clock and the reminder count restart because the entry exists (see bot/chase_state.py),
a completion closes the action, a RAG the lead gives replaces the action's, and a proposed date
is kept for the operational group to agree — the deadline itself never moves on a reply.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlmodel import Session, col, select

from bot import models as m
from bot.plans.partial_date import PartialDate


@dataclass(frozen=True)
class Update:
    """One answer about one action, as the lead gave it."""

    action_id: int
    text: str
    rag: str | None = None
    completed: bool = False
    proposed: PartialDate | None = None
    attachments: tuple[str, ...] = ()


@dataclass(frozen=True)
class Answerer:
    """Someone whose answers count on an action, and why."""

    email: str  # lowercased
    person_id: int | None  # None for a group's own mailbox
    name: str
    as_: str  # "lead", "contact of X", "member of X", "delegate of Y", "mailbox of X"


@dataclass
class Recorded:
    entries: list[m.ProgressEntry] = field(default_factory=list)
    actions: list[m.Action] = field(default_factory=list)


def answerers(s: Session, action_ids: Iterable[int]) -> dict[int, dict[str, Answerer]]:
    """Per action, the addresses whose replies are accepted: person leads, a group lead's
    contact, members and mailbox, milestone leads, and the delegates of any of those people."""
    ids = sorted(set(action_ids))
    found: dict[int, dict[str, Answerer]] = {i: {} for i in ids}
    if not ids:
        return found
    persons = {p.id: p for p in s.exec(select(m.Person))}
    groups = {g.id: g for g in s.exec(select(m.LeadGroup))}
    members: dict[int, list[int]] = {}
    for gm in s.exec(select(m.GroupMember)):
        members.setdefault(gm.group_id, []).append(gm.person_id)
    delegates: dict[int, list[int]] = {}
    for d in s.exec(select(m.Delegate)):
        delegates.setdefault(d.person_id, []).append(d.delegate_id)

    def add(action_id: int, person_id: int | None, as_: str) -> None:
        person = persons.get(person_id) if person_id is not None else None
        if person is None:
            return
        if person.email:
            found[action_id].setdefault(
                person.email.lower(), Answerer(person.email.lower(), person.id, person.name, as_)
            )
        for delegate_id in delegates.get(person.id or -1, []):
            d = persons.get(delegate_id)
            if d is not None and d.email:
                found[action_id].setdefault(
                    d.email.lower(),
                    Answerer(d.email.lower(), d.id, d.name, f"delegate of {person.name}"),
                )

    def add_group(action_id: int, group_id: int) -> None:
        g = groups.get(group_id)
        if g is None:
            return
        if g.email:
            found[action_id].setdefault(
                g.email.lower(), Answerer(g.email.lower(), None, g.name, f"mailbox of {g.name}")
            )
        add(action_id, g.contact_person_id, f"contact of {g.name}")
        for person_id in members.get(group_id, []):
            add(action_id, person_id, f"member of {g.name}")

    leads = s.exec(select(m.ActionLead).where(col(m.ActionLead.action_id).in_(ids)))
    for lead in leads:
        if lead.person_id is not None:
            add(lead.action_id, lead.person_id, "lead")
        elif lead.group_id is not None:
            add_group(lead.action_id, lead.group_id)
    milestones = s.exec(select(m.Milestone).where(col(m.Milestone.action_id).in_(ids)))
    for ms in milestones:
        if ms.lead_person_id is not None:
            add(ms.action_id, ms.lead_person_id, "milestone lead")
        elif ms.lead_group_id is not None:
            add_group(ms.action_id, ms.lead_group_id)
    return found


def person_for_email(s: Session, address: str) -> m.Person | None:
    wanted = address.strip().lower()
    for p in s.exec(select(m.Person).where(col(m.Person.email).is_not(None))):
        if p.email and p.email.lower() == wanted:
            return p
    return None


def record_updates(
    s: Session,
    updates: Sequence[Update],
    *,
    source: str,
    external_id: str,
    author: str | None,
    author_person_id: int | None,
    now: datetime,
    today: date,
) -> Recorded:
    """Stores one progress entry per update, dated `today` (the partnership's day it came in).

    `external_id` is the raw message's id; with several updates from one message each entry's
    id gets the action's ref after a '#', so the same message delivered again is refused by
    the unique (source, external_id) constraint rather than recorded twice.
    """
    result = Recorded()
    several = len(updates) > 1
    for update in updates:
        action = s.get(m.Action, update.action_id)
        if action is None:
            raise ValueError(f"no action with id {update.action_id}")
        text = update.text.strip()
        if update.attachments:
            text += "\n\n[attached: " + ", ".join(update.attachments) + "]"
        entry = m.ProgressEntry(
            action_id=action.id,  # type: ignore[arg-type]
            dated=today,
            precision="day",
            text=text,
            source=source,
            author=author,
            author_person_id=author_person_id,
            rag=update.rag,
            completed=update.completed,
            external_id=f"{external_id}#{action.ref}" if several else external_id,
            recorded_at=now.astimezone(UTC),
            proposed_due=str(update.proposed) if update.proposed else None,
        )
        s.add(entry)
        if update.completed and action.status in ("open", "ongoing"):
            action.status = "complete"
        if update.rag:
            action.rag, action.rag_set_by = update.rag, author or "the lead"
        s.add(action)
        result.entries.append(entry)
        result.actions.append(action)
    s.flush()
    return result


def log_inbound(
    s: Session,
    *,
    channel: str,
    external_id: str,
    received_at: datetime,
    outcome: str,
    sender: str | None = None,
    subject: str | None = None,
    reason: str | None = None,
    person_id: int | None = None,
    action_ids: Sequence[int] = (),
    in_reply_to: int | None = None,
) -> m.InboundMessage:
    row = m.InboundMessage(
        channel=channel,
        external_id=external_id,
        received_at=received_at.astimezone(UTC),
        sender=sender,
        subject=subject,
        outcome=outcome,
        reason=reason,
        person_id=person_id,
        action_ids=json.dumps(sorted(action_ids)) if action_ids else None,
        in_reply_to=in_reply_to,
    )
    s.add(row)
    s.flush()
    return row


def already_seen(s: Session, channel: str, external_id: str) -> m.InboundMessage | None:
    return s.exec(
        select(m.InboundMessage).where(
            m.InboundMessage.channel == channel, m.InboundMessage.external_id == external_id
        )
    ).first()
