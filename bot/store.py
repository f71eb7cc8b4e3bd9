"""Reading plans back out of the database as plain values for status, export and the engine.

Each plan is read with a handful of queries (actions, leads, milestones, progress), not one
per action, and turned into frozen views that carry names rather than ids, as people read them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from bot import models as m
from bot.plans.partial_date import PartialDate


@dataclass(frozen=True)
class Reach:
    """Who a message for a lead reaches: the person, a group's contact, or its mailbox."""

    key: str
    name: str
    email: str | None
    slack_id: str | None
    away_until: date | None
    on_behalf_of: str | None = None  # the group, when a contact is written to for it


@dataclass(frozen=True)
class LeadView:
    written: str  # as the plan wrote it
    name: str  # the one person or group it resolved to
    organisation: str | None
    kind: str  # "person" | "group"
    key: str
    listed: bool  # in people.yaml
    email: str | None
    contact: str | None  # a group's contact person
    reaches: Reach | None = None


@dataclass(frozen=True)
class MilestoneView:
    position: int
    occurrence: int
    text: str
    timescale: str | None
    kind: str
    due: date | None
    due_precision: str | None
    recurrence: str | None
    done: bool
    depth: int
    lead: LeadView | None
    start: date | None = None


@dataclass(frozen=True)
class ProgressView:
    date: PartialDate
    text: str
    source: str
    author: str | None
    rag: str | None
    completed: bool
    milestone_position: int | None


@dataclass(frozen=True)
class ActionView:
    id: int
    plan_id: str
    ref: str
    title: str
    text: str
    area_for_improvement: str | None
    key_risk: str | None
    section: str | None
    timescale: str | None
    timescale_kind: str
    due: date | None
    status: str
    rag: str | None
    rag_set_by: str | None
    notes: tuple[str, ...]
    leads: tuple[LeadView, ...]
    milestones: tuple[MilestoneView, ...]
    progress: tuple[ProgressView, ...]  # oldest first

    @property
    def last_update(self) -> PartialDate | None:
        return max((p.date for p in self.progress), default=None, key=lambda d: d.last_day())

    @property
    def next_due(self) -> date | None:
        """The earliest deadline not yet met: what a lead is chased for first."""
        pending = [ms.due for ms in self.milestones if not ms.done and ms.due is not None]
        if pending:
            return min(pending)
        return None if self.milestones else self.due


@dataclass(frozen=True)
class GovernanceView:
    level: str
    name: str
    resolved: LeadView | None


@dataclass(frozen=True)
class PlanView:
    id: str
    title: str
    version: str | None
    as_of: str | None
    layout: str | None
    notes: tuple[str, ...]
    rag_definitions: dict[str, str]
    governance: tuple[GovernanceView, ...]
    actions: tuple[ActionView, ...]


class _Leads:
    """Person and group rows, read once per call and turned into LeadViews."""

    def __init__(self, session: Session):
        self.persons = {p.id: p for p in session.exec(select(m.Person))}
        self.groups = {g.id: g for g in session.exec(select(m.LeadGroup))}

    def view(self, written: str, person_id: int | None, group_id: int | None) -> LeadView | None:
        if person_id is not None:
            p = self.persons[person_id]
            return LeadView(
                written, p.name, p.organisation, "person", p.key, p.listed, p.email, None, _reach(p)
            )
        if group_id is not None:
            g = self.groups[group_id]
            contact = self.persons.get(g.contact_person_id) if g.contact_person_id else None
            if contact is not None:
                reaches = _reach(contact, on_behalf_of=g.name)
            elif g.email:
                reaches = Reach(g.key, g.name, g.email, None, None)
            else:
                reaches = None
            return LeadView(
                written,
                g.name,
                g.organisation,
                "group",
                g.key,
                g.listed,
                g.email,
                contact.name if contact else None,
                reaches,
            )
        return None


def _reach(p: m.Person, on_behalf_of: str | None = None) -> Reach:
    return Reach(p.key, p.name, p.email, p.slack_id, p.away_until, on_behalf_of)


def plan_ids(session: Session) -> list[str]:
    return list(session.exec(select(m.Plan.id).order_by(m.Plan.id)))


def load_plans(
    session: Session, plan_id: str | None = None, include_withdrawn: bool = False
) -> list[PlanView]:
    """Raises KeyError naming the plan when `plan_id` is not in the database."""
    ids = plan_ids(session)
    if plan_id is not None:
        if plan_id not in ids:
            raise KeyError(plan_id)
        ids = [plan_id]
    leads = _Leads(session)
    return [_load_plan(session, pid, leads, include_withdrawn) for pid in ids]


def _load_plan(session: Session, plan_id: str, leads: _Leads, include_withdrawn: bool) -> PlanView:
    plan = session.get(m.Plan, plan_id)
    assert plan is not None
    query = select(m.Action).where(m.Action.plan_id == plan_id).order_by(col(m.Action.position))
    actions = [a for a in session.exec(query) if include_withdrawn or a.status != "withdrawn"]
    ids = [a.id for a in actions]
    sections = {
        s.id: s for s in session.exec(select(m.Section).where(m.Section.plan_id == plan_id))
    }

    by_action_leads: dict[int, list[LeadView]] = defaultdict(list)
    for al in session.exec(
        select(m.ActionLead)
        .where(col(m.ActionLead.action_id).in_(ids))
        .order_by(col(m.ActionLead.position))
    ):
        view = leads.view(al.written, al.person_id, al.group_id)
        if view is not None:
            by_action_leads[al.action_id].append(view)

    by_action_ms: dict[int, list[MilestoneView]] = defaultdict(list)
    ms_position: dict[int, int] = {}
    for ms in session.exec(
        select(m.Milestone)
        .where(col(m.Milestone.action_id).in_(ids))
        .order_by(col(m.Milestone.position), col(m.Milestone.occurrence))
    ):
        assert ms.id is not None
        ms_position[ms.id] = ms.position
        lead = (
            leads.view(ms.lead_written or "", ms.lead_person_id, ms.lead_group_id)
            if ms.lead_written
            else None
        )
        by_action_ms[ms.action_id].append(
            MilestoneView(
                ms.position,
                ms.occurrence,
                ms.text,
                ms.timescale,
                ms.kind,
                ms.due,
                ms.due_precision,
                ms.recurrence,
                ms.done,
                ms.depth,
                lead,
                ms.start,
            )
        )

    by_action_progress: dict[int, list[ProgressView]] = defaultdict(list)
    for p in session.exec(
        select(m.ProgressEntry)
        .where(col(m.ProgressEntry.action_id).in_(ids))
        .order_by(
            col(m.ProgressEntry.dated),
            col(m.ProgressEntry.source),
            col(m.ProgressEntry.position),
            col(m.ProgressEntry.id),
        )
    ):
        by_action_progress[p.action_id].append(
            ProgressView(
                PartialDate.of(p.dated, p.precision),  # type: ignore[arg-type]
                p.text,
                p.source,
                p.author,
                p.rag,
                p.completed,
                ms_position.get(p.milestone_id) if p.milestone_id else None,
            )
        )

    governance = tuple(
        GovernanceView(g.level, g.name, leads.view(g.name, g.person_id, g.group_id))
        for g in session.exec(select(m.GovernanceLevel).where(m.GovernanceLevel.plan_id == plan_id))
    )
    order = {"operational_group": 0, "strategic_board": 1, "chair": 2}
    governance = tuple(sorted(governance, key=lambda g: order.get(g.level, 9)))

    def section_label(section_id: int | None) -> str | None:
        s = sections.get(section_id) if section_id else None
        return f"{s.number} {s.title}" if s else None

    return PlanView(
        plan.id,
        plan.title,
        plan.version,
        plan.as_of,
        plan.layout,
        tuple(plan.notes or ()),
        dict(plan.rag_definitions or {}),
        governance,
        tuple(
            ActionView(
                a.id,  # type: ignore[arg-type]
                plan_id,
                a.ref,
                a.title,
                a.text,
                a.area_for_improvement,
                a.key_risk,
                section_label(a.section_id),
                a.timescale,
                a.timescale_kind,
                a.due,
                a.status,
                a.rag,
                a.rag_set_by,
                tuple(a.notes or ()),
                tuple(by_action_leads[a.id]),  # type: ignore[index]
                tuple(by_action_ms[a.id]),  # type: ignore[index]
                tuple(by_action_progress[a.id]),  # type: ignore[index]
            )
            for a in actions
        ),
    )


def iter_actions(plans: list[PlanView]) -> Iterator[tuple[PlanView, ActionView]]:
    for plan in plans:
        for action in plan.actions:
            yield plan, action
