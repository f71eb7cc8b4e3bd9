"""The engine's own input, read a chunk of actions at a time: only what `decide` looks at.

`load_state` (bot/chase_state.py) builds the whole plans as views, with every progress text,
and holds them all: at a million actions that is gigabytes. Deciding needs far less per action
(its leads' keys and names, its deadlines, the latest day a progress entry speaks of and the
chase counters), and no action's decisions depend on another's, so the actions are read with
plain Core rows in keyset chunks by id, decided, and dropped; only the asks, escalations and
resets are kept (bot/engine.py `decide_part`/`merge`). The values built are the same
`ActionState`s `load_state` gives, which tests/test_engine_input.py checks.

Actions that cannot lead to a decision are left in the database: withdrawn ones (the plans as
loaded leave them out), complete ones unless they were ever escalated (a complete action still
goes back to its lead after progress), and those whose deadlines and progress lie outside the
moment's `horizon` (bot/engine.py), a bound `needs_update` itself never crosses.
"""

from __future__ import annotations

import gc
from calendar import monthrange
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    Table,
    and_,
    bindparam,
    case,
    distinct,
    exists,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.engine import Connection
from sqlmodel import Session

from bot import models as m
from bot.chase_state import LEVEL_EVENTS, digests_last_sent
from bot.engine import (
    ActionState,
    Chase,
    Deadline,
    Decisions,
    Horizon,
    Lead,
    Place,
    decide_part,
    horizon,
    merge,
)
from bot.plans.partial_date import PartialDate
from bot.rules import Level, Rules

CHUNK = 5000  # actions read and decided at a time: memory grows with this, not the plans

_NO_CHASE = Chase()


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


_ACTION = _table(m.Action)
_LEAD = _table(m.ActionLead)
_PERSON = _table(m.Person)
_GROUP = _table(m.LeadGroup)
_MILESTONE = _table(m.Milestone)
_PROGRESS = _table(m.ProgressEntry)
_EVENT = _table(m.AuditEvent)
_PLAN = _table(m.Plan)
# a chunk's id range, bound when its queries run
_FIRST: BindParameter[int] = bindparam("first", 0, type_=Integer)
_LAST: BindParameter[int] = bindparam("last", 0, type_=Integer)


def evaluate(s: Session, rules: Rules, now: datetime, *, chunk: int = CHUNK) -> Decisions:
    """What `decide(load_state(s), rules, now)` decides, read and decided a chunk at a time."""
    needed = horizon(rules, now)
    with _collector_paused():
        parts = (decide_part(placed, rules, now) for placed in read_actions(s, chunk, needed))
        return merge(parts, digests_last_sent(s), rules, now)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cycle collector off while reading and deciding: the values made here hold no
    cycles, and with a hundred thousand of them made and the asks kept, its repeated passes
    over everything still alive cost as much as the reading itself (half the time at 100k)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def read_actions(
    s: Session, chunk: int = CHUNK, needed: Horizon | None = None
) -> Iterator[list[tuple[Place, ActionState]]]:
    """The actions `load_state` gives, `chunk` at a time in id order, each with its place in
    the plans; with `needed`, only those that may need an update within that horizon, or that
    were ever escalated (they may go back to their leads, complete or not)."""
    conn = s.connection()
    plan_dates = {
        plan_id: PartialDate.parse(as_of).last_day() if as_of else None
        for plan_id, as_of in conn.execute(select(_PLAN.c.id, _PLAN.c.as_of)).all()
    }
    a = _ACTION
    # the next `chunk` ids, then those of them needed: each test below looks only at the rows
    # of this id range (PostgreSQL would otherwise hash whole tables for every chunk)
    window = select(a.c.id).where(a.c.id > bindparam("after")).order_by(a.c.id).limit(chunk)
    query = (
        select(a.c.id, a.c.plan_id, a.c.position, a.c.ref, a.c.title, a.c.status, a.c.due)
        .where(a.c.id.between(_FIRST, _LAST), a.c.status != "withdrawn")
        .order_by(a.c.id)
    )
    if needed is not None:
        query = query.where(_may_need(needed))
    reaches = _reaches(conn)
    last = 0
    while True:
        ids = conn.execute(window, {"after": last}).scalars().all()
        if not ids:
            return
        first, last = ids[0], ids[-1]
        rows = list(conn.execute(query, {"first": first, "last": last}).all())
        if rows:
            yield _chunk(conn, rows, first, last, plan_dates, reaches)
        if len(ids) < chunk:
            return


def _may_need(h: Horizon) -> ColumnElement[bool]:
    """`needs_update` can only say yes to an action with a pending deadline due by the
    horizon, a recurring one whose period is being asked about, or no progress dated after
    the quiet bound; and only escalated actions can be reset."""
    a, ms, pe, e = _ACTION, _MILESTONE, _PROGRESS, _EVENT
    ever_escalated = exists().where(
        e.c.action_id == a.c.id,
        e.c.action_id.between(_FIRST, _LAST),
        e.c.kind.in_(LEVEL_EVENTS),
    )
    if not h.in_window:
        return ever_escalated
    undone = and_(ms.c.action_id == a.c.id, ms.c.action_id.between(_FIRST, _LAST), not_(ms.c.done))
    deadline_due = exists().where(
        undone,
        ms.c.due <= h.due_by,
        or_(ms.c.recurrence.is_(None), ms.c.recurrence == ""),
    )
    own_due = and_(
        a.c.due <= h.due_by,
        ~exists().where(ms.c.action_id == a.c.id, ms.c.action_id.between(_FIRST, _LAST)),
    )
    period = exists().where(
        undone,
        ms.c.recurrence.in_(h.periods or ("",)),
        or_(ms.c.start.is_(None), ms.c.start <= h.today),
        or_(ms.c.due.is_(None), ms.c.due >= h.today),
    )
    quiet = ~exists().where(
        pe.c.action_id == a.c.id,
        pe.c.action_id.between(_FIRST, _LAST),
        pe.c.dated > h.quiet_by,
    )
    may_be_asked = and_(a.c.status != "complete", or_(deadline_due, own_due, period, quiet))
    return or_(may_be_asked, ever_escalated)


# each raw query compiled once per dialect (see _raw)
_COMPILED: dict[tuple[str, str, str], tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}


def _raw(conn: Connection, query: Select[Any], name: str = "", **params: Any) -> list[Any]:
    """All rows as the driver gives them: SQLAlchemy's row objects and type processing cost
    more than the rest of reading. Only for queries binding numbers and words; dates and
    datetimes come back as ISO text from SQLite (see _day and _moment). A `name` keeps the
    compiled statement for the next chunk."""
    where = (name, conn.dialect.name, conn.dialect.driver)
    known = _COMPILED.get(where) if name else None
    if known is None:
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
        known = (str(compiled), order, dict(compiled.construct_params()))
        if name:
            _COMPILED[where] = known
    sql, order, defaults = known
    values = {**defaults, **params}
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, tuple(values[n] for n in order) if order is not None else values)
        return list(cursor.fetchall())
    finally:
        cursor.close()


_DAYS: dict[Any, date] = {}  # ISO text (or a date) to its date: a few thousand distinct days


def _day(value: Any) -> date | None:
    if value is None:
        return None
    day = _DAYS.get(value)
    if day is None:
        day = value if isinstance(value, date) else date.fromisoformat(value)
        if len(_DAYS) < 100_000:
            _DAYS[value] = day
    return day


def _moment(value: Any) -> datetime | None:
    """SQLite hands datetimes back as text without their zone; they were stored in UTC."""
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _chunk(
    conn: Connection,
    rows: list[Any],
    first: int,
    last: int,
    plan_dates: dict[str, date | None],
    reaches: tuple[dict[int, Lead], dict[int, Lead]],
) -> list[tuple[Place, ActionState]]:
    leads = _leads(conn, first, last, reaches)
    deadlines = _deadlines(conn, first, last)
    progress = _latest_progress(conn, first, last)
    chases = _chases(conn, first, last, progress)
    out = []
    for action_id, plan_id, position, ref, title, status, due in rows:
        days = deadlines.get(action_id, ())
        if not days and due is not None:
            days = (Deadline(title, due),)
        latest = progress.get(action_id)
        last_day = latest[0] if latest else None
        state = ActionState(
            action_id,
            plan_id,
            ref,
            title,
            status,
            leads.get(action_id, ()),
            days,
            last_day,
            last_day or plan_dates.get(plan_id) or date.min,
            chases.get(action_id, _NO_CHASE),
        )
        out.append(((plan_id, position, action_id), state))
    return out


def _reaches(conn: Connection) -> tuple[dict[int, Lead], dict[int, Lead]]:
    """Whom a lead reaches, per person and per group, as `load_plans` resolves it: a person,
    a group's contact person, or a group's own mailbox (a group with neither reaches nobody).
    Read once per run: far fewer rows than the actions' leads, and each Lead value shared."""
    p, g = _PERSON, _GROUP
    persons = {
        pid: Lead(key, name, _day(away))
        for pid, key, name, away in _raw(conn, select(p.c.id, p.c.key, p.c.name, p.c.away_until))
    }
    groups = {}
    for gid, key, name, email, contact in _raw(
        conn, select(g.c.id, g.c.key, g.c.name, g.c.email, g.c.contact_person_id)
    ):
        if contact is not None and contact in persons:
            groups[gid] = persons[contact]
        elif email:
            groups[gid] = Lead(key, name, None)
    return persons, groups


def _leads(
    conn: Connection, first: int, last: int, reaches: tuple[dict[int, Lead], dict[int, Lead]]
) -> dict[int, tuple[Lead, ...]]:
    """Whom each action's reminders reach, each once, in the plan's order of its leads."""
    al = _LEAD
    persons, groups = reaches
    query = (
        select(al.c.action_id, al.c.person_id, al.c.group_id)
        .where(al.c.action_id.between(_FIRST, _LAST))
        .order_by(al.c.action_id, al.c.position, al.c.id)
    )
    found: dict[int, dict[str, Lead]] = {}
    for action_id, person_id, group_id in _raw(conn, query, "leads", first=first, last=last):
        if person_id is not None:
            lead = persons[person_id]
        elif group_id is not None and group_id in groups:
            lead = groups[group_id]
        else:
            continue
        found.setdefault(action_id, {}).setdefault(lead.key, lead)
    return {action_id: tuple(by_key.values()) for action_id, by_key in found.items()}


def _deadlines(conn: Connection, first: int, last: int) -> dict[int, tuple[Deadline, ...]]:
    ms = _MILESTONE
    query = (
        select(ms.c.action_id, ms.c.text, ms.c.due, ms.c.done, ms.c.recurrence, ms.c.start)
        .where(ms.c.action_id.between(_FIRST, _LAST))
        .order_by(ms.c.action_id, ms.c.position, ms.c.occurrence, ms.c.id)
    )
    found: dict[int, list[Deadline]] = {}
    rows = _raw(conn, query, "deadlines", first=first, last=last)
    for action_id, text, due, done, recurrence, start in rows:
        found.setdefault(action_id, []).append(
            Deadline(text, _day(due), bool(done), recurrence, _day(start))
        )
    return {action_id: tuple(days) for action_id, days in found.items()}


def _latest_progress(
    conn: Connection, first: int, last: int
) -> dict[int, tuple[date, datetime | None]]:
    """Per action: the latest day its progress entries speak of, and when the latest was
    recorded. A month-precise entry speaks of its month's last day, so the latest day is taken
    over each precision's latest entry, not from the latest `dated` alone."""
    pe = _PROGRESS

    def latest(*precisions: str) -> Any:
        return func.max(case((pe.c.precision.in_(precisions), pe.c.dated)))

    query = (
        select(
            pe.c.action_id,
            latest("day"),
            latest("month"),
            func.max(case((pe.c.precision.not_in(("day", "month")), pe.c.dated))),
            func.max(pe.c.recorded_at),
        )
        .where(pe.c.action_id.between(_FIRST, _LAST))
        .group_by(pe.c.action_id)
    )
    found: dict[int, tuple[date, datetime | None]] = {}
    for action_id, day, month, year, recorded in _raw(
        conn, query, "progress", first=first, last=last
    ):
        days = [_last_day(d, p) for d, p in ((day, "day"), (month, "month"), (year, "year"))
                if d is not None]  # fmt: skip
        found[action_id] = (max(days), _moment(recorded))
    return found


def _last_day(value: date | str, precision: str) -> date:
    """PartialDate.of(dated, precision).last_day(), without making one per row."""
    dated = value if isinstance(value, date) else date.fromisoformat(value)
    if precision == "day":
        return dated
    if precision == "month":
        return date(dated.year, dated.month, _days_in(dated.year, dated.month))
    return date(dated.year, 12, 31)


@lru_cache(maxsize=4096)
def _days_in(year: int, month: int) -> int:
    return monthrange(year, month)[1]


def _chases(
    conn: Connection,
    first: int,
    last: int,
    progress: dict[int, tuple[date, datetime | None]],
) -> dict[int, Chase]:
    """The chase state `load_state` reads back from the audit trail: reminder runs counted and
    dated by grouped SQL, the few level and snooze events read as they are."""
    e, pe = _EVENT, _PROGRESS
    in_chunk = e.c.action_id.between(_FIRST, _LAST)
    answered = (
        select(pe.c.action_id, func.max(pe.c.recorded_at).label("at"))
        .where(pe.c.action_id.between(_FIRST, _LAST))
        .group_by(pe.c.action_id)
        .subquery()
    )
    unanswered_run = case((or_(answered.c.at.is_(None), e.c.at > answered.c.at), e.c.at))
    reminded = (
        select(e.c.action_id, func.max(e.c.at), func.count(distinct(unanswered_run)))
        .select_from(e.outerjoin(answered, answered.c.action_id == e.c.action_id))
        .where(in_chunk, e.c.kind == "reminded")
        .group_by(e.c.action_id)
    )
    runs: dict[int, tuple[datetime | None, int]] = {
        action_id: (_moment(at), count)
        for action_id, at, count in _raw(conn, reminded, "reminded", first=first, last=last)
    }
    levels: dict[int, tuple[Level, datetime | None]] = {}
    snoozes: dict[int, date | None] = {}
    steps = (
        select(e.c.action_id, e.c.kind, e.c.at, e.c.level, e.c.until)
        .where(in_chunk, e.c.kind.in_(("snoozed", *LEVEL_EVENTS)))
        .where(or_(e.c.kind == "snoozed", and_(e.c.level.is_not(None), e.c.level != "")))
        .order_by(e.c.action_id, e.c.at, e.c.id)
    )
    for action_id, kind, at, level, until in _raw(conn, steps, "steps", first=first, last=last):
        if kind == "snoozed":
            snoozes[action_id] = _day(until)
        else:
            levels[action_id] = (Level(level), _moment(at))

    chases: dict[int, Chase] = {}
    for action_id in runs.keys() | levels.keys() | snoozes.keys():
        last_run, unanswered = runs.get(action_id, (None, 0))
        level, since = levels.get(action_id, (Level.LEAD, None))
        latest = progress.get(action_id)
        answered_at = latest[1] if latest else None
        chases[action_id] = Chase(
            level=level,
            level_since=since,
            reminders_unanswered=unanswered,
            last_reminded_at=last_run,
            snoozed_until=snoozes.get(action_id),
            progress_since_level=(
                level is not Level.LEAD
                and answered_at is not None
                and since is not None
                and answered_at > since
            ),
        )
    return chases
