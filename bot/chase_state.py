"""The engine's input read from the database: the plans as they stand, and the chasing so far.

The chase state is not stored as counters beside the actions: it is read back from the audit
trail (reminded, escalated, reset, snoozed, digest events) and the progress entries, so what
the board is shown happened and what the engine acts on can never disagree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime

from sqlmodel import Session, col, func, select

from bot import models as m
from bot.engine import ActionState, Chase, Deadline, Lead, State
from bot.plans.partial_date import PartialDate
from bot.rules import Level
from bot.store import ActionView, PlanView, load_plans

LEVEL_EVENTS = ("escalated", "reset")


def load_state(session: Session, plans: list[PlanView] | None = None) -> State:
    plans = load_plans(session) if plans is None else plans
    chases = _chases(session)
    actions: list[ActionState] = []
    for plan in plans:
        plan_start = PartialDate.parse(plan.as_of).last_day() if plan.as_of else None
        for a in plan.actions:
            actions.append(action_state(a, chases.get(a.id, Chase()), plan_start))
    return State(tuple(actions), digests_last_sent(session))


def action_state(a: ActionView, chase: Chase, plan_date: date | None) -> ActionState:
    last = max((p.date.last_day() for p in a.progress), default=None)
    leads: dict[str, Lead] = {}
    for lead in a.leads:
        if lead.reaches is not None:
            r = lead.reaches
            leads.setdefault(r.key, Lead(r.key, r.name, r.away_until))
    deadlines = tuple(
        Deadline(ms.text, ms.due, ms.done, ms.recurrence, ms.start) for ms in a.milestones
    )
    if not deadlines and a.due is not None:
        deadlines = (Deadline(a.title, a.due),)
    quiet_since = last or plan_date or date.min
    return ActionState(
        a.id,
        a.plan_id,
        a.ref,
        a.title,
        a.status,
        tuple(leads.values()),
        deadlines,
        last,
        quiet_since,
        chase,
    )


def chases_for(session: Session, action_ids: Iterable[int]) -> dict[int, Chase]:
    """The chase state of the given actions only (those with none are left out)."""
    ids = sorted(set(action_ids))
    found: dict[int, Chase] = {}
    for start in range(0, len(ids), _CHUNK):
        found.update(_chases(session, ids[start : start + _CHUNK]))
    return found


_CHUNK = 500  # ids per `IN (...)`


def _chases(session: Session, action_ids: Sequence[int] | None = None) -> dict[int, Chase]:
    """Per action: level and since when, reminders since the last progress, snooze."""
    progress_query = select(m.ProgressEntry.action_id, func.max(m.ProgressEntry.recorded_at))
    if action_ids is not None:
        progress_query = progress_query.where(col(m.ProgressEntry.action_id).in_(action_ids))
    progress_at: dict[int, datetime] = {
        action_id: at
        for action_id, at in session.exec(progress_query.group_by(col(m.ProgressEntry.action_id)))
    }
    events: dict[int, list[m.AuditEvent]] = defaultdict(list)
    query = (
        select(m.AuditEvent)
        .where(
            col(m.AuditEvent.action_id).is_not(None),
            col(m.AuditEvent.kind).in_(("reminded", "snoozed", *LEVEL_EVENTS)),
        )
        .order_by(col(m.AuditEvent.at), col(m.AuditEvent.id))
    )
    if action_ids is not None:
        query = query.where(col(m.AuditEvent.action_id).in_(action_ids))
    for event in session.exec(query):
        events[event.action_id].append(event)  # type: ignore[index]

    chases: dict[int, Chase] = {}
    for action_id, evs in events.items():
        answered = _aware(progress_at.get(action_id))
        level, since = Level.LEAD, None
        for e in evs:
            if e.kind in LEVEL_EVENTS and e.level:
                level, since = Level(e.level), _aware(e.at)
        # one reminder run per moment, however many leads it reached
        runs = sorted(
            {e.at if e.at.tzinfo else e.at.replace(tzinfo=UTC) for e in evs if e.kind == "reminded"}
        )
        unanswered = [r for r in runs if answered is None or r > answered]
        snoozes = [e.until for e in evs if e.kind == "snoozed"]
        chases[action_id] = Chase(
            level=level,
            level_since=since,
            reminders_unanswered=len(unanswered),
            last_reminded_at=runs[-1] if runs else None,
            snoozed_until=snoozes[-1] if snoozes else None,
            progress_since_level=(
                level is not Level.LEAD
                and answered is not None
                and since is not None
                and answered > since
            ),
        )
    return chases


def digests_last_sent(session: Session) -> dict[str, datetime]:
    rows = session.exec(
        select(m.AuditEvent.detail, func.max(m.AuditEvent.at))
        .where(m.AuditEvent.kind == "digest")
        .group_by(m.AuditEvent.detail)
    )
    return {kind: _aware(at) for kind, at in rows if kind}  # type: ignore[misc]


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without their zone; they were stored in UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)
