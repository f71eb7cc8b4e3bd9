"""Reading plans back out of the database as plain values for status, export and the engine.

Each plan is read with a handful of queries (actions, leads, milestones, progress), not one
per action, and turned into frozen views that carry names rather than ids, as people read them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from operator import attrgetter
from typing import Any, TypeVar

from sqlalchemy import select as sa_select
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
        by_action_ms[ms.action_id].append(_milestone_view(ms, leads))

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
        by_action_progress[p.action_id].append(_progress_view(p, ms_position))

    governance = session.exec(select(m.GovernanceLevel).where(m.GovernanceLevel.plan_id == plan_id))

    def section_label(section_id: int | None) -> str | None:
        s = sections.get(section_id) if section_id else None
        return f"{s.number} {s.title}" if s else None

    return _plan_view(
        plan,
        governance,
        leads,
        (
            _action_view(a, section_label, by_action_leads, by_action_ms, by_action_progress)
            for a in actions
        ),
    )


def iter_actions(plans: list[PlanView]) -> Iterator[tuple[PlanView, ActionView]]:
    for plan in plans:
        for action in plan.actions:
            yield plan, action


# --- some actions only: what a reminder shows ---------------------------------------------------

CHUNK = 500  # ids per `IN (...)`: well inside SQLite's and PostgreSQL's limits on parameters
T = TypeVar("T")


def load_actions(session: Session, action_ids: Iterable[int]) -> list[PlanView]:
    """Full views of the given actions only, each in a view of its plan holding just those
    (withdrawn ones left out, as `load_plans` does): plans and actions come in `load_plans`'
    order, so whatever lists them in that order lists them alike. Read in one pass over the
    ids, with only the people and groups these actions and their plans name.

    Rows are read as plain rows, not ORM objects: a tick reminding thousands of leads reads
    tens of thousands of rows only to copy them into views, and building and then reading
    ORM objects cost more than the queries (the views read the same names either way)."""
    some = _SomeActions(session, action_ids, _VIEWED[m.Action])
    if not some.actions:
        return []
    ids = [a.id for a in some.actions]
    action_leads = _plain_rows(session, m.ActionLead, "action_id", ids)
    milestones = _plain_rows(session, m.Milestone, "action_id", ids)
    progress = _plain_rows(session, m.ProgressEntry, "action_id", ids)
    governance = _plain_rows(session, m.GovernanceLevel, "plan_id", some.plan_ids)
    section_ids = sorted({a.section_id for a in some.actions if a.section_id})
    sections = {s.id: s for s in _plain_rows(session, m.Section, "id", section_ids)}
    leads = _SomeLeads(
        session,
        [(r.person_id, r.group_id) for r in (*action_leads, *governance)]
        + [(ms.lead_person_id, ms.lead_group_id) for ms in milestones],
    )
    by_action_leads = _lead_views(action_leads, leads)
    by_action_ms: dict[int, list[MilestoneView]] = defaultdict(list)
    ms_position: dict[int, int] = {}
    for ms in sorted(milestones, key=attrgetter("position", "occurrence")):
        ms_position[ms.id] = ms.position
        by_action_ms[ms.action_id].append(_milestone_view(ms, leads))
    by_action_progress: dict[int, list[ProgressView]] = defaultdict(list)
    for p in sorted(progress, key=attrgetter(*_PROGRESS_ORDER)):
        by_action_progress[p.action_id].append(_progress_view(p, ms_position))

    def section_label(section_id: int | None) -> str | None:
        s = sections.get(section_id) if section_id else None
        return f"{s.number} {s.title}" if s else None

    return some.views(
        governance,
        leads,
        lambda a: _action_view(a, section_label, by_action_leads, by_action_ms, by_action_progress),
    )


def load_for_reminders(session: Session, action_ids: Iterable[int]) -> list[PlanView]:
    """The given actions as reminders show them: `load_actions`' views, in its order, without
    what no reminder reads.

    A reminder shows each action's plan, ref and title and its latest progress entry, and goes
    to whom the action's leads reach; so these views carry the actions' leads and, of their
    progress, only the entry `compose.latest_progress` picks (with its text, without its
    author, RAG or milestone), and no other texts, notes, sections, milestones or governance:
    a tick reminding thousands of leads reads and builds a fraction of what `load_actions`
    would."""
    some = _SomeActions(session, action_ids, _SHOWN)
    if not some.actions:
        return []
    ids = [a.id for a in some.actions]
    action_leads = _plain_rows(session, m.ActionLead, "action_id", ids)
    leads = _SomeLeads(session, [(r.person_id, r.group_id) for r in action_leads])
    by_action_leads = _lead_views(action_leads, leads)
    latest: dict[int, tuple[date, PartialDate, Any]] = {}
    for p in sorted(
        _plain_rows(session, m.ProgressEntry, "action_id", ids, _LATEST),
        key=attrgetter(*_PROGRESS_ORDER),
    ):
        day = PartialDate.of(p.dated, p.precision)
        last_day = day.last_day()
        known = latest.get(p.action_id)
        if known is None or last_day >= known[0]:
            latest[p.action_id] = (last_day, day, p)
    progress = {
        action_id: (ProgressView(day, p.text, p.source, None, None, False, None),)
        for action_id, (_last, day, p) in latest.items()
    }
    return some.views(
        (),
        leads,
        lambda a: _chasing_view(
            a, a.plan_id, tuple(by_action_leads.get(a.id, ())), (), progress.get(a.id, ())
        ),
    )


def _chasing_view(
    a: Any,
    plan_id: str,
    leads: Sequence[LeadView],
    milestones: Sequence[MilestoneView],
    progress: Sequence[ProgressView],
) -> ActionView:
    """An action as chasing and digests read it: no description, outcomes or notes, which
    neither shows, so their columns are never read."""
    return ActionView(
        a.id,
        plan_id,
        a.ref,
        a.title,
        "",
        None,
        None,
        None,
        a.timescale,
        a.timescale_kind,
        a.due,
        a.status,
        a.rag,
        a.rag_set_by,
        (),
        tuple(leads),
        tuple(milestones),
        tuple(progress),
    )


class _SomeActions:
    """The rows of some actions (withdrawn ones left out) and of their plans, read for
    `load_actions` and `load_for_reminders`, and the plan views around them."""

    def __init__(self, session: Session, action_ids: Iterable[int], columns: tuple[str, ...]):
        session.flush()  # as an ORM query would: rows written in this session are read back
        ids = sorted(set(action_ids))
        rows = _plain_rows(session, m.Action, "id", ids, columns)
        self.actions = [a for a in rows if a.status != "withdrawn"]
        self.plan_ids = sorted({a.plan_id for a in self.actions})
        self.plans = {p.id: p for p in _plain_rows(session, m.Plan, "id", self.plan_ids)}

    def views(
        self,
        governance: Iterable[Any],
        leads: _Leads,
        action_view: Callable[[Any], ActionView],
    ) -> list[PlanView]:
        """Plans in `load_plans`' order, each with its actions in the plan's order."""
        by_plan: dict[str, list[Any]] = defaultdict(list)
        for a in sorted(self.actions, key=attrgetter("position")):
            by_plan[a.plan_id].append(a)
        return [
            _plan_view(self.plans[plan_id], governance, leads, map(action_view, by_plan[plan_id]))
            for plan_id in self.plan_ids
        ]


def _lead_views(action_leads: Sequence[Any], leads: _Leads) -> dict[int, list[LeadView]]:
    """Each action's leads, in the plan's order."""
    found: dict[int, list[LeadView]] = defaultdict(list)
    for al in sorted(action_leads, key=attrgetter("position")):
        view = leads.view(al.written, al.person_id, al.group_id)
        if view is not None:
            found[al.action_id].append(view)
    return found


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _plain_rows(
    session: Session,
    model: Any,
    column: str,
    values: Sequence[Any],
    columns: tuple[str, ...] | None = None,
) -> list[Any]:
    """Rows of `model`'s table whose `column` is one of `values` (in no particular order), as
    plain rows with the model's attribute names: only `columns` (by default those its full
    views show), since turning stored text into dates and times is much of the cost of
    reading a row."""
    table = _table(model)
    query = sa_select(*(table.c[name] for name in columns or _VIEWED[model]))
    conn = session.connection()
    return [
        row
        for chunk in _chunks(values)
        for row in conn.execute(query.where(table.c[column].in_(chunk))).all()
    ]


# The columns each table's views are built from (by `_Leads.view`, `_plan_view`, `_action_view`,
# `_milestone_view` and `_progress_view`), and those `load_actions` sorts and joins by.
_VIEWED: dict[Any, tuple[str, ...]] = {
    m.Action: (
        *("id", "plan_id", "position", "ref", "title", "text", "area_for_improvement"),
        *("key_risk", "section_id", "timescale", "timescale_kind", "due", "status", "rag"),
        *("rag_set_by", "notes"),
    ),
    m.Plan: ("id", "title", "version", "as_of", "layout", "notes", "rag_definitions"),
    m.ActionLead: ("action_id", "position", "written", "person_id", "group_id"),
    m.Milestone: (
        *("id", "action_id", "position", "occurrence", "text", "timescale", "kind", "due"),
        *("due_precision", "recurrence", "done", "depth", "lead_written", "lead_person_id"),
        *("lead_group_id", "start"),
    ),
    m.ProgressEntry: (
        *("id", "action_id", "dated", "precision", "source", "position", "text", "author"),
        *("rag", "completed", "milestone_id"),
    ),
    m.GovernanceLevel: ("plan_id", "level", "name", "person_id", "group_id"),
    m.Section: ("id", "number", "title"),
    m.LeadGroup: ("id", "key", "name", "organisation", "listed", "email", "contact_person_id"),
    m.Person: ("id", "key", "name", "organisation", "listed", "email", "slack_id", "away_until"),
}
# What `load_for_reminders` reads of an action (what `_action_view` copies, but the texts and
# the section) and of a progress entry (what picks the latest, and its text).
_SHOWN = (
    *("id", "plan_id", "position", "ref", "title", "timescale", "timescale_kind", "due"),
    *("status", "rag", "rag_set_by"),
)
_LATEST = ("id", "action_id", "dated", "precision", "source", "position", "text")
# The order `load_plans` lists an action's progress entries in.
_PROGRESS_ORDER = ("dated", "source", "position", "id")


def _milestone_view(ms: m.Milestone, leads: _Leads) -> MilestoneView:
    lead = (
        leads.view(ms.lead_written or "", ms.lead_person_id, ms.lead_group_id)
        if ms.lead_written
        else None
    )
    return MilestoneView(
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


_LADDER = {"operational_group": 0, "strategic_board": 1, "chair": 2}


def _plan_view(
    plan: m.Plan,
    governance: Iterable[m.GovernanceLevel],
    leads: _Leads,
    actions: Iterable[ActionView],
) -> PlanView:
    """A plan's view around the given action views; `governance` may hold other plans' rows."""
    levels = (
        GovernanceView(g.level, g.name, leads.view(g.name, g.person_id, g.group_id))
        for g in governance
        if g.plan_id == plan.id
    )
    return PlanView(
        plan.id,
        plan.title,
        plan.version,
        plan.as_of,
        plan.layout,
        tuple(plan.notes or ()),
        dict(plan.rag_definitions or {}),
        tuple(sorted(levels, key=lambda g: _LADDER.get(g.level, 9))),
        tuple(actions),
    )


def _action_view(
    a: m.Action,
    section_label: Callable[[int | None], str | None],
    leads: Mapping[int, list[LeadView]],
    milestones: Mapping[int, list[MilestoneView]],
    progress: Mapping[int, list[ProgressView]],
) -> ActionView:
    assert a.id is not None
    return ActionView(
        a.id,
        a.plan_id,
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
        tuple(leads.get(a.id, ())),
        tuple(milestones.get(a.id, ())),
        tuple(progress.get(a.id, ())),
    )


def _progress_view(p: m.ProgressEntry, ms_position: dict[int, int]) -> ProgressView:
    return ProgressView(
        PartialDate.of(p.dated, p.precision),  # type: ignore[arg-type]
        p.text,
        p.source,
        p.author,
        p.rag,
        p.completed,
        ms_position.get(p.milestone_id) if p.milestone_id else None,
    )


# --- every open action, as digests show them ------------------------------------------------------

RANGE = 5000  # ids per range read: memory per read grows with this


def load_for_digests(
    session: Session, also: Collection[str] = ()
) -> tuple[list[PlanView], dict[int, int]]:
    """Every plan with its open actions, and the others `also` names ("plan_id/ref", as a
    digest's snapshot keys them; withdrawn ones never), as digests and the chair's summary
    read them, and each action's number of progress entries.

    Digests show no texts, so these views carry none: an action's text, notes, area and risk,
    its milestones' texts and leads, and all but its latest progress entry are left out (that
    entry without its text). Everything a digest reads is there: titles, leads' names and
    organisations, deadlines, RAG, status and the latest progress date, so the same digest
    comes out as from `load_plans`, without holding every progress text of every action.
    """
    action = _table(m.Action)
    wanted_keys = set(also)
    plans = list(session.exec(select(m.Plan).order_by(col(m.Plan.id))))
    chosen: list[Any] = []
    for row in session.connection().execute(
        sa_select(
            action.c.id,
            action.c.plan_id,
            action.c.position,
            action.c.ref,
            action.c.title,
            action.c.timescale,
            action.c.timescale_kind,
            action.c.due,
            action.c.status,
            action.c.rag,
            action.c.rag_set_by,
        ).where(action.c.status != "withdrawn")
    ):
        if row.status in ("open", "ongoing") or f"{row.plan_id}/{row.ref}" in wanted_keys:
            chosen.append(row)
    ids = sorted(row.id for row in chosen)
    governance = list(session.exec(select(m.GovernanceLevel)))
    leads = _SharedLeads(session)
    by_action_leads = _digest_leads(session, ids, leads)
    by_action_ms = _digest_milestones(session, ids)
    latest, counts = _latest_entries(session, ids)

    by_plan: dict[str, list[Any]] = defaultdict(list)
    for row in sorted(chosen, key=lambda r: (r.plan_id, r.position)):
        by_plan[row.plan_id].append(row)
    views = [
        _plan_view(
            plan,
            governance,
            leads,
            (
                _chasing_view(
                    a,
                    plan.id,
                    by_action_leads.get(a.id, ()),
                    by_action_ms.get(a.id, ()),
                    (latest[a.id],) if a.id in latest else (),
                )
                for a in by_plan.get(plan.id, ())
            ),
        )
        for plan in plans
    ]
    return views, counts


def _table(model: Any) -> Any:
    return model.__table__


def _ranges(ids: Sequence[int]) -> Iterator[tuple[int, int, set[int]]]:
    """Sorted ids in slices of RANGE: (first, last, the slice), to read `BETWEEN first AND last`
    and keep the rows of the slice."""
    for start in range(0, len(ids), RANGE):
        part = ids[start : start + RANGE]
        yield part[0], part[-1], set(part)


class _SharedLeads(_Leads):
    """Every group and the persons that lead, reach or are contacted for something, read
    once; one LeadView per lead as written, shared by every action that names it."""

    def __init__(self, session: Session):  # noqa: D107
        self.groups = {g.id: g for g in session.exec(select(m.LeadGroup))}
        self.persons = {p.id: p for p in session.exec(select(m.Person))}
        self.cache: dict[tuple[str, int | None, int | None], LeadView | None] = {}

    def view(self, written: str, person_id: int | None, group_id: int | None) -> LeadView | None:
        key = (written, person_id, group_id)
        if key not in self.cache:
            self.cache[key] = super().view(written, person_id, group_id)
        return self.cache[key]


class _SomeLeads(_SharedLeads):
    """The persons and groups some rows name (and those groups' contacts), not all of them;
    one LeadView per lead as written, as `_SharedLeads` makes them."""

    def __init__(self, session: Session, named: Sequence[tuple[int | None, int | None]]):
        """`named`: the (person id, group id) of each lead the views show."""
        person_ids = {person_id for person_id, _ in named if person_id is not None}
        group_ids = sorted({group_id for _, group_id in named if group_id is not None})
        self.groups = {g.id: g for g in _plain_rows(session, m.LeadGroup, "id", group_ids)}
        person_ids |= {g.contact_person_id for g in self.groups.values() if g.contact_person_id}
        self.persons = {p.id: p for p in _plain_rows(session, m.Person, "id", sorted(person_ids))}
        self.cache = {}


def _digest_leads(
    session: Session, ids: Sequence[int], leads: _Leads
) -> dict[int, tuple[LeadView, ...]]:
    al = _table(m.ActionLead)
    found: dict[int, list[LeadView]] = defaultdict(list)
    for first, last, wanted in _ranges(ids):
        query = (
            sa_select(al.c.action_id, al.c.written, al.c.person_id, al.c.group_id)
            .where(al.c.action_id.between(first, last))
            .order_by(al.c.action_id, al.c.position)
        )
        for action_id, written, person_id, group_id in session.connection().execute(query):
            if action_id in wanted:
                view = leads.view(written, person_id, group_id)
                if view is not None:
                    found[action_id].append(view)
    return {action_id: tuple(views) for action_id, views in found.items()}


def _digest_milestones(
    session: Session, ids: Sequence[int]
) -> dict[int, tuple[MilestoneView, ...]]:
    ms = _table(m.Milestone)
    found: dict[int, list[MilestoneView]] = defaultdict(list)
    for first, last, wanted in _ranges(ids):
        query = (
            sa_select(
                ms.c.action_id,
                ms.c.position,
                ms.c.occurrence,
                ms.c.timescale,
                ms.c.kind,
                ms.c.due,
                ms.c.due_precision,
                ms.c.recurrence,
                ms.c.done,
                ms.c.depth,
                ms.c.start,
            )
            .where(ms.c.action_id.between(first, last))
            .order_by(ms.c.action_id, ms.c.position, ms.c.occurrence)
        )
        for row in session.connection().execute(query):
            if row.action_id in wanted:
                found[row.action_id].append(
                    MilestoneView(
                        row.position,
                        row.occurrence,
                        "",
                        row.timescale,
                        row.kind,
                        row.due,
                        row.due_precision,
                        row.recurrence,
                        row.done,
                        row.depth,
                        None,
                        row.start,
                    )
                )
    return {action_id: tuple(views) for action_id, views in found.items()}


def _latest_entries(
    session: Session, ids: Sequence[int]
) -> tuple[dict[int, ProgressView], dict[int, int]]:
    """Per action, the entry `compose.latest_progress` picks (the latest day it speaks of; of
    equals, the later listed), without its text; and how many entries there are."""
    pe = _table(m.ProgressEntry)
    latest: dict[int, tuple[date, Any]] = {}
    counts: dict[int, int] = defaultdict(int)
    for first, last, wanted in _ranges(ids):
        query = (
            sa_select(pe.c.action_id, pe.c.dated, pe.c.precision, pe.c.source)
            .where(pe.c.action_id.between(first, last))
            .order_by(pe.c.action_id, pe.c.dated, pe.c.source, pe.c.position, pe.c.id)
        )
        for row in session.connection().execute(query):
            if row.action_id not in wanted:
                continue
            counts[row.action_id] += 1
            day = PartialDate.of(row.dated, row.precision)  # type: ignore[arg-type]
            last_day = day.last_day()
            known = latest.get(row.action_id)
            if known is None or last_day >= known[0]:
                latest[row.action_id] = (last_day, (day, row.source))
    views = {
        action_id: ProgressView(day, "", source, None, None, False, None)
        for action_id, (_last, (day, source)) in latest.items()
    }
    return views, dict(counts)
