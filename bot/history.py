"""One action's history for `actionbot history REF`: progress, reminders, escalations, sends.

The board's question is "what happened with this action, and who was told when?"; the answer
is one timeline merged from the progress entries and the audit trail, in time order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from bot import models as m
from bot.plans.partial_date import PartialDate


@dataclass(frozen=True)
class Entry:
    when: str  # as precise as known: "2018-10" for a plan's progress, a moment for events
    sort_key: str
    what: str  # progress | reminded | escalated | sent | failed ...
    text: str


class AmbiguousRef(Exception):
    def __init__(self, ref: str, plans: list[str]):
        super().__init__(f"action {ref!r} is in several plans ({', '.join(plans)}): add --plan")


def find_action(s: Session, ref: str, plan_id: str | None) -> m.Action | None:
    query = select(m.Action).where(m.Action.ref == ref)
    if plan_id is not None:
        query = query.where(m.Action.plan_id == plan_id)
    found = s.exec(query).all()
    if len(found) > 1:
        raise AmbiguousRef(ref, sorted(a.plan_id for a in found))
    return found[0] if found else None


def history(s: Session, action: m.Action) -> list[Entry]:
    entries = [
        Entry(
            PartialDate.of(p.dated, p.precision).iso(),  # type: ignore[arg-type]
            p.dated.isoformat(),
            "progress",
            f"[{p.source}{', ' + p.author if p.author else ''}] {p.text}",
        )
        for p in s.exec(select(m.ProgressEntry).where(m.ProgressEntry.action_id == action.id))
    ]
    events = s.exec(
        select(m.AuditEvent)
        .where(m.AuditEvent.action_id == action.id)
        .order_by(col(m.AuditEvent.at), col(m.AuditEvent.id))
    ).all()
    outbox_ids = {e.outbox_id for e in events if e.outbox_id is not None}
    sends = s.exec(
        select(m.AuditEvent).where(
            col(m.AuditEvent.outbox_id).in_(outbox_ids), col(m.AuditEvent.action_id).is_(None)
        )
    ).all()
    for e in [*events, *sends]:
        entries.append(Entry(_moment(e.at), e.at.isoformat(), e.kind, _describe(e)))
    return sorted(entries, key=lambda x: (x.sort_key, x.what != "progress"))


def _describe(e: m.AuditEvent) -> str:
    parts = []
    if e.person_key:
        parts.append(e.person_key)
    if e.kind in ("escalated", "reset") and e.level:
        parts.append(f"now at {e.level.replace('_', ' ')}")
    if e.until:
        parts.append(f"until {e.until:%d %b %Y}")
    if e.detail:
        parts.append(e.detail)
    if e.rules_version:
        parts.append(f"rules {e.rules_version}")
    return "; ".join(parts)


def _moment(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M")
