"""What the web pages show, read from the database as plain values: the dashboard's counts and
lists, and one action's whole story (progress, messages sent, replies, escalations).

No web here: each function takes a session and the day (or moment) to judge by, so a page
shows the same thing for the same database and day, and a test needs no server.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from sqlmodel import Session, col, select

from bot import models as m
from bot.chase_state import load_state
from bot.compose import latest_progress, organisation
from bot.engine import Chase
from bot.history import history
from bot.plans.partial_date import PartialDate
from bot.rules import Level
from bot.status import days_overdue
from bot.store import ActionView, PlanView, load_plans
from bot.suggested_rag import suggest_rag
from bot.web.chart import Chart, rag_over_time

NO_OBJECTIVE = "Not under an objective"
RECENT_UPDATES = 8
_RANK = {level.value: rank for rank, level in enumerate(Level)}
_LIVE = ("open", "ongoing", "complete")
_RAGS = ("red", "amber", "green")


@dataclass(frozen=True)
class RagCount:
    label: str
    red: int = 0
    amber: int = 0
    green: int = 0
    unrated: int = 0
    overdue: int = 0
    complete: int = 0

    @property
    def total(self) -> int:
        return self.red + self.amber + self.green + self.unrated


@dataclass(frozen=True)
class ActionRow:
    """One action as a list on the dashboard shows it."""

    id: int
    plan_id: str
    plan_title: str
    ref: str
    title: str
    leads: str  # "Tracey Anstis (Kent Police), Kelly Cogger (Medway Council)"
    organisation: str
    objective: str
    due: date | None
    days_overdue: int | None
    last_update: PartialDate | None
    rag: str | None
    rag_set_by: str | None
    suggested_rag: str | None
    level: str  # lead | operational_group | strategic_board | chair
    level_since: datetime | None
    reminders_unanswered: int
    status: str


@dataclass(frozen=True)
class RecentUpdate:
    action_id: int
    ref: str
    title: str
    dated: date
    text: str
    source: str
    author: str | None
    rag: str | None
    completed: bool


@dataclass(frozen=True)
class PlanRags:
    plan_id: str
    title: str
    objectives: tuple[RagCount, ...]


@dataclass(frozen=True)
class Dashboard:
    today: date
    plans: tuple[tuple[str, str], ...]  # every plan (id, title), for choosing one
    plan_id: str | None  # the one shown; None: all
    total: RagCount
    # the actions nobody rated, by the RAG the plans' definitions suggest from the record
    unrated_suggested: RagCount
    by_objective: tuple[PlanRags, ...]
    by_organisation: tuple[RagCount, ...]
    overdue: tuple[ActionRow, ...]  # most overdue first
    ladder: tuple[ActionRow, ...]  # being chased or escalated: highest level first
    recent: tuple[RecentUpdate, ...]  # the latest updates leads gave, newest first
    chart: Chart


def dashboard(s: Session, today: date, plan_id: str | None = None) -> Dashboard:
    """Raises KeyError when `plan_id` names no plan."""
    plans = load_plans(s, plan_id)
    titles = {p.id: p.title for p in s.exec(select(m.Plan).order_by(col(m.Plan.id)))}
    chases = {a.id: a.chase for a in load_state(s, plans).actions}
    objectives = _objectives(s, [a.id for p in plans for a in p.actions])
    rows = [
        _row(plan, action, chases.get(action.id, Chase()), objectives, today)
        for plan in plans
        for action in plan.actions
        if action.status in _LIVE
    ]
    by_objective = tuple(
        PlanRags(
            plan.id,
            plan.title,
            _counts_by(
                (r for r in rows if r.plan_id == plan.id), lambda r: r.objective, keep_order=True
            ),
        )
        for plan in plans
    )
    overdue = sorted(
        (r for r in rows if r.days_overdue and r.status != "complete"),
        key=lambda r: -(r.days_overdue or 0),
    )
    chased = [
        r
        for r in rows
        if r.status != "complete" and (r.level != "lead" or r.reminders_unanswered > 0)
    ]
    chased.sort(
        key=lambda r: (
            -_RANK[r.level],
            r.level_since.timestamp() if r.level_since else 0.0,
            -r.reminders_unanswered,
        )
    )
    return Dashboard(
        today=today,
        plans=tuple(titles.items()),
        plan_id=plan_id,
        total=_count("All actions", rows),
        unrated_suggested=_count(
            "Not rated, by suggested RAG",
            (replace(r, rag=r.suggested_rag) for r in rows if r.rag not in _RAGS),
        ),
        by_objective=by_objective,
        by_organisation=_counts_by(rows, lambda r: r.organisation),
        overdue=tuple(overdue),
        ladder=tuple(chased),
        recent=_recent(s, [p.id for p in plans]),
        chart=rag_over_time(s, plans, today),
    )


def _row(
    plan: PlanView, action: ActionView, chase: Chase, objectives: dict[int, str], today: date
) -> ActionRow:
    latest = latest_progress(action)
    return ActionRow(
        id=action.id,
        plan_id=plan.id,
        plan_title=plan.title,
        ref=action.ref,
        title=action.title,
        leads=leads_in_words(action),
        organisation=organisation(action),
        objective=objectives.get(action.id, NO_OBJECTIVE),
        due=action.next_due,
        days_overdue=days_overdue(action, today),
        last_update=latest.date if latest else None,
        rag=action.rag,
        rag_set_by=action.rag_set_by if action.rag else None,
        suggested_rag=suggest_rag(action, today),
        level=chase.level.value,
        level_since=chase.level_since,
        reminders_unanswered=chase.reminders_unanswered,
        status=action.status,
    )


def leads_in_words(action: ActionView) -> str:
    named = dict.fromkeys(
        f"{lead.name} ({lead.organisation})" if lead.organisation else lead.name
        for lead in action.leads
    )
    return ", ".join(named) or "no lead named"


def _objectives(s: Session, action_ids: Sequence[int]) -> dict[int, str]:
    """Each action's priority objective: the top of its section's tree, "1 Make the front door
    work" for an action under area 1.1."""
    sections = {x.id: x for x in s.exec(select(m.Section))}

    def top(section_id: int | None) -> str | None:
        found = sections.get(section_id) if section_id is not None else None
        for _ in range(len(sections)):  # a loop in the tree cannot hang a page
            parent = sections.get(found.parent_id) if found and found.parent_id else None
            if parent is None:
                break
            found = parent
        return f"{found.number} {found.title}" if found is not None else None

    result: dict[int, str] = {}
    for action_id, section_id in s.exec(
        select(m.Action.id, m.Action.section_id).where(col(m.Action.id).in_(list(action_ids)))
    ):
        label = top(section_id)
        if action_id is not None and label:
            result[action_id] = label
    return result


def _count(label: str, rows: Iterable[ActionRow]) -> RagCount:
    listed = list(rows)
    rags = Counter(r.rag if r.rag in _RAGS else "unrated" for r in listed)
    return RagCount(
        label,
        red=rags["red"],
        amber=rags["amber"],
        green=rags["green"],
        unrated=rags["unrated"],
        overdue=sum(1 for r in listed if r.days_overdue and r.status != "complete"),
        complete=sum(1 for r in listed if r.status == "complete"),
    )


def _counts_by(rows: Iterable[ActionRow], key, keep_order: bool = False) -> tuple[RagCount, ...]:  # type: ignore[no-untyped-def]
    groups: dict[str, list[ActionRow]] = {}
    for r in rows:
        groups.setdefault(key(r), []).append(r)
    labels = list(groups) if keep_order else sorted(groups, key=str.lower)
    return tuple(_count(label, groups[label]) for label in labels)


def _recent(s: Session, plans: Sequence[str]) -> tuple[RecentUpdate, ...]:
    query = (
        select(m.ProgressEntry, m.Action)
        .join(m.Action, col(m.Action.id) == m.ProgressEntry.action_id)
        .where(m.ProgressEntry.source != "import", col(m.Action.plan_id).in_(list(plans)))
        .order_by(col(m.ProgressEntry.recorded_at).desc(), col(m.ProgressEntry.id).desc())
        .limit(RECENT_UPDATES)
    )
    return tuple(
        RecentUpdate(
            a.id or 0, a.ref, a.title, p.dated, p.text, p.source, p.author, p.rag, p.completed
        )
        for p, a in s.exec(query)
    )


# --- one action ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressRow:
    when: str  # as precise as the source: "2018-09", "2018-11-26"
    dated: PartialDate
    text: str
    source: str
    author: str | None
    rag: str | None
    completed: bool
    proposed_due: PartialDate | None
    recorded_at: datetime | None


@dataclass(frozen=True)
class Event:
    """A step of the chasing from the audit trail, or a reply that came in."""

    at: datetime
    what: str  # reminded | escalated | reset | sent | failed | confirmed | reply ...
    text: str


@dataclass(frozen=True)
class MessageRow:
    id: int
    kind: str
    channel: str
    recipient: str
    subject: str
    created_at: datetime
    status: str
    sent_at: datetime | None
    error: str | None


@dataclass(frozen=True)
class ReplyRow:
    received_at: datetime
    channel: str
    sender: str | None
    subject: str | None
    outcome: str
    reason: str | None


@dataclass(frozen=True)
class ActionPage:
    plan_id: str
    plan_title: str
    objective: str | None
    action: ActionView
    leads: str
    today: date
    days_overdue: int | None
    suggested_rag: str | None
    chase: Chase
    progress: tuple[ProgressRow, ...]  # newest first
    events: tuple[Event, ...]  # newest first
    messages: tuple[MessageRow, ...]  # newest first
    replies: tuple[ReplyRow, ...]  # newest first


def action_page(s: Session, action_id: int, today: date) -> ActionPage | None:
    row = s.get(m.Action, action_id)
    if row is None or row.status == "withdrawn":
        return None
    [plan] = load_plans(s, row.plan_id)
    action = next((a for a in plan.actions if a.id == action_id), None)
    if action is None:
        return None
    chase = next((a.chase for a in load_state(s, [plan]).actions if a.id == action_id), Chase())
    entries = s.exec(
        select(m.ProgressEntry)
        .where(m.ProgressEntry.action_id == action_id)
        .order_by(col(m.ProgressEntry.dated).desc(), col(m.ProgressEntry.id).desc())
    ).all()
    progress = tuple(
        ProgressRow(
            PartialDate.of(p.dated, p.precision).iso(),  # type: ignore[arg-type]
            PartialDate.of(p.dated, p.precision),  # type: ignore[arg-type]
            p.text,
            p.source,
            p.author,
            p.rag,
            p.completed,
            PartialDate.parse(p.proposed_due) if p.proposed_due else None,
            p.recorded_at if p.source != "import" else None,
        )
        for p in entries
    )
    replies = _replies(s, action_id)
    events = [
        Event(datetime.fromisoformat(e.sort_key), e.what, e.text)
        for e in history(s, row)
        if e.what != "progress"
    ]
    events += [
        Event(r.received_at, "reply", _reply_words(r)) for r in replies if r.outcome != "recorded"
    ]
    events.sort(key=lambda e: _utc_key(e.at), reverse=True)
    objective = _objectives(s, [action_id]).get(action_id)
    return ActionPage(
        plan_id=plan.id,
        plan_title=plan.title,
        objective=objective,
        action=action,
        leads=leads_in_words(action),
        today=today,
        days_overdue=days_overdue(action, today),
        suggested_rag=suggest_rag(action, today),
        chase=chase,
        progress=progress,
        events=tuple(events),
        messages=_messages(s, action_id),
        replies=tuple(replies),
    )


def _utc_key(at: datetime) -> float:
    """SQLite hands datetimes back without their zone; they were stored in UTC."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


def _messages(s: Session, action_id: int) -> tuple[MessageRow, ...]:
    outbox_ids = {
        i
        for i in s.exec(
            select(m.AuditEvent.outbox_id).where(
                m.AuditEvent.action_id == action_id, col(m.AuditEvent.outbox_id).is_not(None)
            )
        )
        if i is not None
    }
    if not outbox_ids:
        return ()
    rows = s.exec(select(m.Outbox).where(col(m.Outbox.id).in_(sorted(outbox_ids)))).all()
    # a Slack copy of a reminder is stored beside its e-mail row and shares its key
    keys = {r.key + "/slack" for r in rows}
    rows = [*rows, *s.exec(select(m.Outbox).where(col(m.Outbox.key).in_(sorted(keys))))]
    unique = {r.id: r for r in rows}
    return tuple(
        MessageRow(
            r.id or 0,
            r.kind,
            r.channel,
            r.recipient,
            r.subject,
            r.created_at,
            r.status,
            r.sent_at,
            r.error,
        )
        for r in sorted(unique.values(), key=lambda r: (_utc_key(r.created_at), r.id), reverse=True)
    )


def _replies(s: Session, action_id: int) -> list[ReplyRow]:
    """Every message that came in about the action, whatever became of it."""
    candidates = s.exec(
        select(m.InboundMessage)
        .where(col(m.InboundMessage.action_ids).contains(str(action_id)))
        .order_by(col(m.InboundMessage.received_at).desc(), col(m.InboundMessage.id).desc())
    ).all()
    return [
        ReplyRow(r.received_at, r.channel, r.sender, r.subject, r.outcome, r.reason)
        for r in candidates
        if action_id in json.loads(r.action_ids or "[]")
    ]


def _reply_words(r: ReplyRow) -> str:
    who = f" from {r.sender}" if r.sender else ""
    return f"{r.channel}{who}: {r.outcome}" + (f" ({r.reason})" if r.reason else "")
