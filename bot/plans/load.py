"""Storing a canonical plan in the database, idempotently.

Re-importing a plan updates it in place: actions are matched by ref, sections by number,
milestones by position, imported progress entries by their place in the file. What came from
elsewhere (a lead's e-mail or Slack reply, an RAG or a completion they gave) is never deleted or
overwritten by an import. An action that disappears from the file is marked withdrawn, not
deleted, so its history stays.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, col, delete, select, update

from bot import models as m
from bot.people import Resolver
from bot.plans import canonical as c
from bot.plans.timescale import parse_timescale

IMPORT = "import"


@dataclass
class LoadReport:
    """What one plan's import changed, for the CLI to say."""

    plan_id: str
    added: int = 0
    updated: int = 0
    withdrawn: list[str] = field(default_factory=list)
    progress_added: int = 0
    progress_removed: int = 0


@dataclass(frozen=True)
class MilestoneRow:
    """A milestone of the file expanded to its dated occurrences, before storing."""

    position: int
    occurrence: int
    text: str
    timescale: str | None
    kind: str
    start: date | None
    due: date | None
    precision: str | None
    recurrence: str | None
    done: bool
    depth: int
    lead: str | None


def expand_milestone(position: int, ms: c.Milestone) -> list[MilestoneRow]:
    """One row per deadline: "July 2017 - Complete; July 2018; July 2019" is three."""
    ts = parse_timescale(ms.timescale) if ms.timescale else None
    kind = ts.kind if ts else "undated"

    def row(
        n: int, start: date | None, due: date | None, precision: str | None, done: bool
    ) -> MilestoneRow:
        return MilestoneRow(
            position,
            n,
            ms.text,
            ms.timescale,
            kind,
            start,
            due,
            precision,
            ts.recurrence if ts else None,
            done,
            ms.depth,
            ms.lead,
        )

    done_all = ms.done or bool(ts and ts.complete)
    if ms.due is not None:  # a person decided the date; it wins over the written one
        precision = ts.occurrences[-1].due.precision if ts and ts.occurrences else "day"
        return [row(1, None, ms.due, precision, done_all)]
    if ts and ts.occurrences:
        return [
            row(
                n,
                o.start.first_day() if o.start else None,
                o.due.last_day(),
                o.due.precision,
                done_all or o.done,
            )
            for n, o in enumerate(ts.occurrences, start=1)
        ]
    if ts and ts.kind == "recurring":
        return [row(1, ts.since.first_day() if ts.since else None, ts.due, None, done_all)]
    return [row(1, None, None, None, done_all)]


def action_milestones(action: c.Action) -> list[MilestoneRow]:
    if action.milestones:
        return [r for i, ms in enumerate(action.milestones, 1) for r in expand_milestone(i, ms)]
    if action.timescale:  # a timescale with no milestones is one milestone: the action itself
        title = action.title or action.text
        return expand_milestone(1, c.Milestone(text=title, timescale=action.timescale))
    return []


def timescale_kind(action: c.Action, rows: Iterable[MilestoneRow]) -> str:
    kinds = {r.kind for r in rows}
    if action.timescale:
        kinds.add(parse_timescale(action.timescale).kind)
    for kind in ("recurring", "dated", "range", "ongoing"):
        if kind in kinds:
            return "dated" if kind == "range" else kind
    return "undated"


def derived_status(action: c.Action, rows: list[MilestoneRow], kind: str) -> str:
    if action.status is not None:
        return action.status
    if rows and all(r.done for r in rows):
        return "complete"
    if any(p.completed for p in action.progress):
        return "complete"
    return "ongoing" if kind in ("ongoing", "recurring") else "open"


def store_plan(
    session: Session, plan: c.Plan, now: datetime, imported_from: str | None = None
) -> LoadReport:
    """Writes `plan` into the session's transaction; the caller commits or rolls back.

    What a file does not say is kept: a plan read from a table (an edited export, a
    spreadsheet) carries no governance, layout, RAG definitions or sections, and importing it
    must not wipe those from the plan already stored."""
    report = LoadReport(plan.id)
    resolver = Resolver(session)
    row = session.get(m.Plan, plan.id) or m.Plan(id=plan.id, title=plan.title)
    row.title, row.version, row.source = plan.title, plan.version, plan.source
    row.layout = plan.layout or row.layout
    row.as_of = plan.as_of.iso() if plan.as_of else None
    if plan.rag_definitions or not row.rag_definitions:
        row.rag_definitions = {str(k): v for k, v in plan.rag_definitions.items()}
    row.notes = list(plan.notes)
    row.imported_from, row.imported_at = imported_from, now
    session.add(row)
    session.flush()

    if any(plan.governance.model_dump().values()):
        _store_governance(session, plan, resolver)
    keep_sections = not plan.sections
    sections = {} if keep_sections else _store_sections(session, plan)
    existing = {a.ref: a for a in session.exec(select(m.Action).where(m.Action.plan_id == plan.id))}
    seen: set[str] = set()
    for position, (path, action) in enumerate(plan.iter_actions(), start=1):
        stored = existing.get(action.ref)
        section_id: int | None
        if path:
            section_id = sections[path[-1].number]
        else:
            section_id = stored.section_id if keep_sections and stored else None
        if stored is None:
            report.added += 1
        else:
            report.updated += 1
        _store_action(session, plan.id, action, stored, position, section_id, resolver, now, report)
        seen.add(action.ref)
    for ref, stored in existing.items():
        if ref not in seen and stored.status != "withdrawn":
            stored.status = "withdrawn"
            session.add(stored)
            report.withdrawn.append(ref)
    if not keep_sections:
        _drop_stale_sections(session, plan.id, set(sections.values()))
    session.flush()
    return report


def _store_governance(session: Session, plan: c.Plan, resolver: Resolver) -> None:
    wanted = {level: name for level, name in plan.governance.model_dump().items() if name}
    session.exec(
        delete(m.GovernanceLevel).where(  # type: ignore[call-overload]
            col(m.GovernanceLevel.plan_id) == plan.id
        )
    )
    for level, name in wanted.items():
        who = resolver.resolve(name)
        session.add(
            m.GovernanceLevel(
                plan_id=plan.id,
                level=level,
                name=name,
                person_id=who.person_id,
                group_id=who.group_id,
            )
        )


def _store_sections(session: Session, plan: c.Plan) -> dict[str, int]:
    existing = {
        s.number: s for s in session.exec(select(m.Section).where(m.Section.plan_id == plan.id))
    }
    ids: dict[str, int] = {}
    position = 0

    def walk(sections: list[c.Section], parent_id: int | None) -> None:
        nonlocal position
        for s in sections:
            position += 1
            row = existing.get(s.number) or m.Section(
                plan_id=plan.id, number=s.number, kind=s.kind, title=s.title, position=0
            )
            row.kind, row.title, row.position, row.parent_id = s.kind, s.title, position, parent_id
            session.add(row)
            session.flush()
            assert row.id is not None
            ids[s.number] = row.id
            walk(s.sections, row.id)

    walk(plan.sections, None)
    return ids


def _drop_stale_sections(session: Session, plan_id: str, keep: set[int]) -> None:
    stale = [
        s
        for s in session.exec(select(m.Section).where(m.Section.plan_id == plan_id))
        if s.id not in keep
    ]
    if not stale:
        return
    stale_ids = [s.id for s in stale]
    session.exec(
        update(m.Action)
        .where(col(m.Action.section_id).in_(stale_ids))  # type: ignore[call-overload]
        .values(section_id=None)
    )
    session.exec(
        update(m.Section)
        .where(col(m.Section.parent_id).in_(stale_ids))  # type: ignore[call-overload]
        .values(parent_id=None)
    )
    for s in stale:
        session.delete(s)


def _store_action(
    session: Session,
    plan_id: str,
    action: c.Action,
    stored: m.Action | None,
    position: int,
    section_id: int | None,
    resolver: Resolver,
    now: datetime,
    report: LoadReport,
) -> None:
    rows = action_milestones(action)
    kind = timescale_kind(action, rows)
    dues = [r.due for r in rows if r.due is not None]
    a = stored or m.Action(plan_id=plan_id, ref=action.ref, position=0, title="", text="")
    a.section_id, a.position = section_id, position
    a.title = action.title or short_title(action.text)
    a.area_for_improvement, a.key_risk = action.area_for_improvement, action.key_risk
    a.text, a.timescale, a.timescale_kind = action.text, action.timescale, kind
    a.due = action.due or (max(dues) if dues else None)
    a.notes = list(action.notes)
    session.add(a)
    session.flush()
    assert a.id is not None

    # A completion or RAG a lead gave in a reply outlives re-imports of the plan file.
    replied = session.exec(
        select(m.ProgressEntry).where(
            m.ProgressEntry.action_id == a.id, m.ProgressEntry.source != IMPORT
        )
    ).all()
    status = derived_status(action, rows, kind)
    if any(p.completed for p in replied):
        status = "complete"
    a.status = status
    if action.rag is not None:
        a.rag, a.rag_set_by = action.rag, action.rag_set_by or "plan"
        a.rag_set_at = now if stored is None or stored.rag != action.rag else a.rag_set_at
    elif a.rag_set_by in (None, "plan"):
        a.rag, a.rag_set_by, a.rag_set_at = None, None, None

    session.exec(delete(m.ActionLead).where(col(m.ActionLead.action_id) == a.id))  # type: ignore[call-overload]
    for i, written in enumerate(action.leads, start=1):
        who = resolver.resolve(written)
        session.add(
            m.ActionLead(
                action_id=a.id,
                position=i,
                written=written,
                person_id=who.person_id,
                group_id=who.group_id,
            )
        )

    milestone_ids = _store_milestones(session, a.id, rows, resolver)
    _store_progress(session, plan_id, a.id, action, milestone_ids, now, report)


def _store_milestones(
    session: Session, action_id: int, rows: list[MilestoneRow], resolver: Resolver
) -> dict[int, int]:
    """Returns {file position: id of its first occurrence} for linking progress entries."""
    existing = {
        (ms.position, ms.occurrence): ms
        for ms in session.exec(select(m.Milestone).where(m.Milestone.action_id == action_id))
    }
    first: dict[int, int] = {}
    for r in rows:
        ms = existing.pop((r.position, r.occurrence), None) or m.Milestone(
            action_id=action_id, position=r.position, occurrence=r.occurrence, text=""
        )
        who = resolver.resolve(r.lead) if r.lead else None
        ms.text, ms.timescale, ms.kind = r.text, r.timescale, r.kind
        ms.start, ms.due, ms.due_precision, ms.recurrence = (
            r.start,
            r.due,
            r.precision,
            r.recurrence,
        )
        ms.done, ms.depth, ms.lead_written = r.done, r.depth, r.lead
        ms.lead_person_id = who.person_id if who else None
        ms.lead_group_id = who.group_id if who else None
        session.add(ms)
        session.flush()
        assert ms.id is not None
        first.setdefault(r.position, ms.id)
    if existing:
        gone = [ms.id for ms in existing.values()]
        session.exec(
            update(m.ProgressEntry)  # type: ignore[call-overload]
            .where(col(m.ProgressEntry.milestone_id).in_(gone))
            .values(milestone_id=None)
        )
        for ms in existing.values():
            session.delete(ms)
    return first


def _store_progress(
    session: Session,
    plan_id: str,
    action_id: int,
    action: c.Action,
    milestone_ids: dict[int, int],
    now: datetime,
    report: LoadReport,
) -> None:
    existing = {
        p.external_id: p
        for p in session.exec(
            select(m.ProgressEntry).where(
                m.ProgressEntry.action_id == action_id, m.ProgressEntry.source == IMPORT
            )
        )
    }
    for k, entry in enumerate(action.progress, start=1):
        key = f"{plan_id}/{action.ref}#{k}"
        p = existing.pop(key, None)
        if p is None:
            report.progress_added += 1
            p = m.ProgressEntry(
                action_id=action_id,
                dated=entry.date.first_day(),
                precision=entry.date.precision,
                text=entry.text,
                source=IMPORT,
                external_id=key,
                recorded_at=now,
            )
        p.dated, p.precision, p.text = entry.date.first_day(), entry.date.precision, entry.text
        p.author, p.rag, p.completed, p.position = entry.author, entry.rag, entry.completed, k
        p.milestone_id = milestone_ids.get(entry.milestone) if entry.milestone else None
        session.add(p)
    for p in existing.values():
        report.progress_removed += 1
        session.delete(p)


def short_title(text: str, limit: int = 80) -> str:
    """The first sentence, cut on a word boundary: what a lead sees in a list of actions."""
    first = text.strip().split(". ")[0].split("\n")[0].strip()
    if len(first) <= limit:
        return first.rstrip(".")
    cut = first[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-–") + "…"
