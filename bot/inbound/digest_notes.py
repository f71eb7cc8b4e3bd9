"""What the replies leave for the operational group to see: new dates leads asked for, and
messages that changed nothing but someone should look at (quarantined, bounced).

Both are listed from the moment of the previous digest, so each item is shown once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, col, select

from bot import models as m
from bot.notify.render import human
from bot.plans.partial_date import PartialDate


def proposed_dates_since(s: Session, since: datetime | None) -> list[str]:
    query = (
        select(m.ProgressEntry, m.Action)
        .join(m.Action, col(m.Action.id) == m.ProgressEntry.action_id)
        .where(col(m.ProgressEntry.proposed_due).is_not(None))
        .order_by(col(m.ProgressEntry.recorded_at))
    )
    if since is not None:
        query = query.where(m.ProgressEntry.recorded_at > since.astimezone(UTC))
    items = []
    for entry, action in s.exec(query):
        asked = human(PartialDate.parse(entry.proposed_due or ""))
        now_due = f"now due {action.due:%d %b %Y}" if action.due else "no date set now"
        who = entry.author or "the lead"
        items.append(
            f"{action.plan_id} {action.ref} — {action.title}: {who} asks for {asked} "
            f"({now_due}), on {entry.dated:%d %b %Y}"
        )
    return items


def set_aside_since(s: Session, since: datetime | None) -> list[str]:
    query = (
        select(m.InboundMessage)
        .where(col(m.InboundMessage.outcome).in_(("quarantined", "bounce")))
        .order_by(col(m.InboundMessage.received_at))
    )
    if since is not None:
        query = query.where(m.InboundMessage.received_at > since.astimezone(UTC))
    items = []
    for row in s.exec(query):
        at = row.received_at if row.received_at.tzinfo else row.received_at.replace(tzinfo=UTC)
        what = "bounce" if row.outcome == "bounce" else "quarantined"
        items.append(
            f"{at:%d %b %Y %H:%M} {row.channel} from {row.sender or 'unknown'}: {what}, "
            f"{row.reason or 'no reason recorded'}"
        )
    return items
