"""Snoozing an action: the operational group agrees to stop chasing it until a date.

A snooze is a board decision ("wait for the new contract in March"), so it is kept in the audit
trail with who agreed it, like every other step of the chase, and read back by
`bot/chase_state.py`; the engine never chases a snoozed action.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlmodel import Session

from bot import models as m


def snooze(
    s: Session, action: m.Action, until: date, agreed_by: str, reason: str | None, now: datetime
) -> m.AuditEvent:
    """Until `until`, inclusive. A later snooze replaces an earlier one, so one that ended
    before today lifts it."""
    if not agreed_by.strip():
        raise ValueError("say who agreed the snooze (--by), e.g. 'MASH Operational Group'")
    detail = f"agreed by {agreed_by.strip()}" + (f": {reason.strip()}" if reason else "")
    event = m.AuditEvent(
        at=now.astimezone(UTC),
        kind="snoozed",
        action_id=action.id,
        plan_id=action.plan_id,
        until=until,
        detail=detail,
    )
    s.add(event)
    return event
