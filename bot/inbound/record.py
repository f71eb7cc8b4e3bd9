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
from typing import Any

from sqlalchemy import func, literal_column, union_all
from sqlalchemy import select as sa_select
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
    contact, members and mailbox, milestone leads, and the delegates of any of those people.

    Reads only the rows these actions reach, in two or three queries whatever the size of the
    people table (their leads; the groups those name with their members; the people named,
    with their delegates): a reply must not cost more because the partnership has more people.
    """
    ids = sorted(set(action_ids))
    found: dict[int, dict[str, Answerer]] = {i: {} for i in ids}
    if not ids:
        return found
    s.flush()  # the queries below read through the session's connection, past its autoflush
    named = _leads(s, ids)
    groups, members = _groups(s, {g for _, p, g, _ in named if p is None and g is not None})
    person_ids = {p for _, p, _, _ in named if p is not None}
    person_ids |= {c for _, _, c in groups.values() if c is not None}
    person_ids |= {p for ps in members.values() for p in ps}
    persons, delegates = _persons(s, person_ids)

    def add(action_id: int, person_id: int | None, as_: str) -> None:
        if person_id is None or person_id not in persons:
            return
        name, email = persons[person_id]
        if email:
            found[action_id].setdefault(
                email.lower(), Answerer(email.lower(), person_id, name, as_)
            )
        for delegate_id, d_name, d_email in delegates.get(person_id, []):
            if d_email:
                found[action_id].setdefault(
                    d_email.lower(),
                    Answerer(d_email.lower(), delegate_id, d_name, f"delegate of {name}"),
                )

    def add_group(action_id: int, group_id: int) -> None:
        if group_id not in groups:
            return
        name, email, contact = groups[group_id]
        if email:
            found[action_id].setdefault(
                email.lower(), Answerer(email.lower(), None, name, f"mailbox of {name}")
            )
        add(action_id, contact, f"contact of {name}")
        for person_id in members.get(group_id, []):
            add(action_id, person_id, f"member of {name}")

    for action_id, person_id, group_id, as_ in named:
        if person_id is not None:
            add(action_id, person_id, as_)
        elif group_id is not None:
            add_group(action_id, group_id)
    return found


# SQLite allows 32,766 bound parameters a statement (999 before 3.32); stay well under either
_CHUNK = 500


def _chunks(values: Iterable[int]) -> list[list[int]]:
    wanted = sorted(set(values))
    return [wanted[i : i + _CHUNK] for i in range(0, len(wanted), _CHUNK)]


def _leads(s: Session, ids: list[int]) -> list[tuple[int, int | None, int | None, str]]:
    """(action, person, group, as what) for each lead of these actions: the actions' own leads,
    then their milestones' leads, each in the order stored (the first reason someone may answer
    is the one named)."""
    lead, ms = _table(m.ActionLead), _table(m.Milestone)
    rows: list[Any] = []
    for chunk in _chunks(ids):
        own = sa_select(
            lead.c.action_id,
            lead.c.person_id,
            lead.c.group_id,
            literal_column("0").label("kind"),
            lead.c.id.label("seq"),
        ).where(lead.c.action_id.in_(chunk))
        of_milestones = sa_select(
            ms.c.action_id, ms.c.lead_person_id, ms.c.lead_group_id, literal_column("1"), ms.c.id
        ).where(ms.c.action_id.in_(chunk))
        query = union_all(own, of_milestones).order_by("kind", "seq")
        rows += s.connection().execute(query).all()
    return [(a, p, g, "milestone lead" if kind else "lead") for a, p, g, kind, _ in rows]


def _groups(
    s: Session, group_ids: Iterable[int]
) -> tuple[dict[int, tuple[str, str | None, int | None]], dict[int, list[int]]]:
    """These groups' (name, mailbox, contact) and their members, in the order stored."""
    groups: dict[int, tuple[str, str | None, int | None]] = {}
    members: dict[int, list[int]] = {}
    g, gm = _table(m.LeadGroup), _table(m.GroupMember)
    for chunk in _chunks(group_ids):
        query = (
            sa_select(g.c.id, g.c.name, g.c.email, g.c.contact_person_id, gm.c.person_id)
            .select_from(g.outerjoin(gm, gm.c.group_id == g.c.id))
            .where(g.c.id.in_(chunk))
            .order_by(gm.c.id)
        )
        for group_id, name, email, contact, member in s.connection().execute(query):
            groups[group_id] = (name, email, contact)
            if member is not None:
                members.setdefault(group_id, []).append(member)
    return groups, members


def _persons(
    s: Session, person_ids: Iterable[int]
) -> tuple[dict[int, tuple[str, str | None]], dict[int, list[tuple[int, str, str | None]]]]:
    """These people's (name, address), and each one's delegates (id, name, address) in the
    order stored."""
    persons: dict[int, tuple[str, str | None]] = {}
    delegates: dict[int, list[tuple[int, str, str | None]]] = {}
    p, d = _table(m.Person), _table(m.Delegate)
    dp = p.alias("delegate_person")
    for chunk in _chunks(person_ids):
        query = (
            sa_select(p.c.id, p.c.name, p.c.email, d.c.delegate_id, dp.c.name, dp.c.email)
            .select_from(
                p.outerjoin(d, d.c.person_id == p.c.id).outerjoin(dp, dp.c.id == d.c.delegate_id)
            )
            .where(p.c.id.in_(chunk))
            .order_by(d.c.id)
        )
        for person_id, name, email, delegate_id, d_name, d_email in s.connection().execute(query):
            persons[person_id] = (name, email)
            if delegate_id is not None and d_name is not None:
                delegates.setdefault(person_id, []).append((delegate_id, d_name, d_email))
    return persons, delegates


def _table(model: Any) -> Any:
    """A model's table, for Core queries of only the columns wanted (no ORM objects)."""
    return model.__table__


def person_for_email(s: Session, address: str) -> m.Person | None:
    """The person whose address this is, whatever its case: an indexed `lower(email)` lookup
    (ix_person_email_lower). SQL's lower() folds only ASCII on SQLite, so an address with other
    letters that the index does not find is looked for the slow way, as Python folds it."""
    wanted = address.strip().lower()
    if not wanted:
        return None
    query = select(m.Person).where(func.lower(m.Person.email) == wanted).order_by(col(m.Person.id))
    for p in s.exec(query):
        if p.email and p.email.lower() == wanted:
            return p
    if wanted.isascii():
        return None
    for p in s.exec(
        select(m.Person).where(col(m.Person.email).is_not(None)).order_by(col(m.Person.id))
    ):
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
