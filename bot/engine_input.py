"""The engine's own input, read a chunk of actions at a time: only what `decide` looks at.

`load_state` (bot/chase_state.py) builds the whole plans as views, with every progress text,
and holds them all: at a million actions that is gigabytes. Deciding needs far less per action
(its leads' keys and names, its deadlines, the latest day a progress entry speaks of and the
chase counters), and no action's decisions depend on another's, so the actions are read with
the driver's plain rows in keyset chunks by id, decided, and dropped; only the asks, escalations and
resets are kept (bot/engine.py `decide_part`/`merge`). The values built are the same
`ActionState`s `load_state` gives, which tests/test_engine_input.py checks.

Actions that cannot lead to a decision are left in the database: withdrawn ones (the plans as
loaded leave them out), complete ones unless they were ever escalated (a complete action still
goes back to its lead after progress), and those whose deadlines and progress lie outside the
moment's `horizon` (bot/engine.py), a bound `needs_update` itself never crosses.
"""

from __future__ import annotations

import gc
import json
from calendar import monthrange
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache, partial
from typing import Any, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
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
    field_setters,
    horizon,
    merge,
)
from bot.plans.partial_date import PartialDate
from bot.rules import Level, Rules

CHUNK = 5000  # actions read and decided at a time: memory grows with this, not the plans

_NO_CHASE = Chase()

# the values built per action, built as bot/engine.py `field_setters` says
_new = object.__new__
_TEXT, _DUE, _DONE, _RECURRENCE, _START = field_setters(Deadline)
(
    _ID,
    _PLAN_ID,
    _REF,
    _TITLE,
    _STATUS,
    _LEADS,
    _DEADLINES,
    _LAST_PROGRESS,
    _QUIET_SINCE,
    _CHASE,
) = field_setters(ActionState)


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
# the ids of a chunk's actions that are read, as JSON text (see _Span)
_IDS: BindParameter[str] = bindparam("ids", "[]", type_=String)


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
    if conn.dialect.name == "postgresql":
        # The filter below is estimated dear enough for PostgreSQL to JIT-compile it for every
        # chunk, which took half of its 50 ms at 100k; run as it is, it is never that dear.
        # LOCAL: until this transaction ends, and it only changes how fast, not what is read.
        conn.exec_driver_sql("SET LOCAL jit = off")
    plan_dates = {
        plan_id: PartialDate.parse(as_of).last_day() if as_of else None
        for plan_id, as_of in conn.execute(select(_PLAN.c.id, _PLAN.c.as_of)).all()
    }
    reaches = _reaches(conn)
    fetched = _pipelined(conn, chunk, needed) if _pipelines(conn) else _fetch(conn, chunk, needed)
    for rows in fetched:
        yield _chunk(rows, plan_dates, reaches)


def _wanted(conn: Connection, needed: Horizon | None) -> _Compiled:
    """The actions of a chunk's id range that are read, with what `_chunk` needs of them."""
    a = _ACTION
    query = (
        select(a.c.id, a.c.plan_id, a.c.position, a.c.ref, a.c.title, a.c.status, a.c.due)
        .where(a.c.id.between(_FIRST, _LAST), a.c.status != "withdrawn")
        .order_by(a.c.id)
    )
    if needed is not None:
        query = query.where(_may_need(needed))
    # compiled here, not kept by name: the horizon's dates are bound into it
    return _compile(conn, query)


def _pipelines(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql" or conn.dialect.driver != "psycopg":
        return False
    import psycopg

    return psycopg.Pipeline.is_supported()


def _pipelined(conn: Connection, chunk: int, needed: Horizon | None) -> Iterator[_Rows]:
    """`_fetch` on PostgreSQL, with each chunk's six queries sent before the chunk ahead of
    it is decided (psycopg's pipeline mode): the server works on them meanwhile, instead of
    this process waiting for it (at 100k the server's part was a third of the reading; about
    a third of that is hidden so, the rest waits on full socket buffers). Each chunk's queries
    depend on its id range alone (on PostgreSQL `_Span` reads whole ranges), so the ranges,
    `chunk` ids each as `_fetch` makes them, are read first in one query. A thread reading
    ahead did not help: psycopg takes the GIL back each time the socket has more, and with
    deciding holding it, the reading thread waited 5 ms each time."""
    a = _ACTION
    numbered = select(a.c.id, func.row_number().over(order_by=a.c.id).label("n")).subquery()
    starts = [
        first
        for (first,) in _raw(
            conn,
            select(numbered.c.id).where((numbered.c.n - 1) % chunk == 0).order_by(numbered.c.id),
        )
    ]
    if not starts:
        return
    (top,) = conn.execute(select(func.max(a.c.id))).one()
    ranges = [(first, after - 1) for first, after in zip(starts, starts[1:], strict=False)]
    ranges.append((starts[-1], top))
    span = _Span(0, 0, None)
    queries = [
        _wanted(conn, needed),
        *(
            _compiled(conn, partial(query, span), name)
            for query, name in (
                (_leads_query, "leads"),
                (_deadlines_query, "deadlines"),
                (_progress_query, "progress"),
                (_reminded_query, "reminded"),
                (_steps_query, "steps"),
            )
        ),
    ]
    driver = conn.connection.dbapi_connection
    assert driver is not None

    def send(first: int, last: int) -> list[Any]:
        cursors = []
        for sql, order, defaults in queries:
            values = {**defaults, "first": first, "last": last}
            cursor = driver.cursor(binary=True)  # fewer bytes, and read without parsing
            cursor.execute(sql, tuple(values[n] for n in order) if order is not None else values)
            cursors.append(cursor)
        return cursors

    with driver.pipeline():  # type: ignore[attr-defined]
        pending = send(*ranges[0])
        for following in [*ranges[1:], None]:
            current = pending
            if following is not None:
                pending = send(*following)
            rows = []
            for cursor in current:
                rows.append(list(cursor.fetchall()))
                cursor.close()
            if rows[0]:
                yield _Rows(*rows)


@dataclass(frozen=True, slots=True)
class _Rows:
    """One chunk's rows as the driver gave them, which `_chunk` makes its actions of."""

    actions: list[Any]
    leads: list[Any]
    deadlines: list[Any]
    progress: list[Any]
    reminded: list[Any]
    steps: list[Any]


def _fetch(conn: Connection, chunk: int, needed: Horizon | None) -> Generator[_Rows, None, None]:
    """Each chunk's rows: its id range, the actions of it that are read, then their leads,
    deadlines, progress and chase events, a query each."""
    a = _ACTION
    # the next `chunk` ids (how many, the first and the last), then those of them needed:
    # each test below looks only at the rows of this id range (PostgreSQL would otherwise
    # hash whole tables for every chunk)
    next_ids = (
        select(a.c.id)
        .where(a.c.id > bindparam("after", 0, type_=Integer))
        .order_by(a.c.id)
        .limit(bindparam("chunk", chunk, type_=Integer))
        .subquery()
    )
    ids = next_ids.c.id
    window = cast("Select[Any]", select(func.min(ids), func.max(ids), func.count(ids)))
    wanted = _wanted(conn, needed)
    last = 0
    while True:
        ((first, last, ranged),) = _raw(conn, window, "window", after=last, chunk=chunk)
        if not ranged:
            return
        actions = _run(conn, wanted, first=first, last=last)
        if actions:
            span = _Span.of(conn, first, last, [row[0] for row in actions], ranged)
            yield _Rows(
                actions,
                span.rows(conn, _leads_query, "leads"),
                span.rows(conn, _deadlines_query, "deadlines"),
                span.rows(conn, _progress_query, "progress"),
                span.rows(conn, _reminded_query, "reminded"),
                span.rows(conn, _steps_query, "steps"),
            )
        if ranged < chunk:
            return


def _may_need(h: Horizon) -> ColumnElement[bool]:
    """`needs_update` can only say yes to an action with no progress dated after the quiet
    bound, a pending deadline due by the horizon, or a recurring one whose period is being
    asked about; and only escalated actions can be reset. The tests run in that order, the
    cheapest first (progress by the index on action and date): most actions are quiet, and
    the first test that holds spares the others."""
    a, ms, pe, e = _ACTION, _MILESTONE, _PROGRESS, _EVENT
    ever_escalated = exists().where(
        e.c.action_id == a.c.id,
        e.c.action_id.between(_FIRST, _LAST),
        e.c.kind.in_(LEVEL_EVENTS),
    )
    if not h.in_window:
        return ever_escalated
    quiet = ~exists().where(
        pe.c.action_id == a.c.id,
        pe.c.action_id.between(_FIRST, _LAST),
        pe.c.dated > h.quiet_by,
    )
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
    tests = [quiet, deadline_due, own_due]
    if h.periods:  # on most days no period is asked about, and the test is left out
        tests.append(
            exists().where(
                undone,
                ms.c.recurrence.in_(h.periods),
                or_(ms.c.start.is_(None), ms.c.start <= h.today),
                or_(ms.c.due.is_(None), ms.c.due >= h.today),
            )
        )
    may_be_asked = and_(a.c.status != "complete", or_(*tests))
    return or_(may_be_asked, ever_escalated)


@dataclass(frozen=True)
class _Span:
    """A chunk's id range and, on SQLite, when the filter left some of its actions out, the ids
    of those read: the queries for their leads, deadlines, progress and chase then skip the
    others' rows (a third of them at 100k), which SQLite and Python pay for per row. Not on
    PostgreSQL: there `= ANY(ids)` made each query slower than reading the whole range, and
    the progress join of the reminder runs fifty times slower (measured at 100k)."""

    first: int
    last: int
    ids: str | None  # as JSON text, bound to each query

    @classmethod
    def of(cls, conn: Connection, first: int, last: int, read: list[int], ranged: int) -> _Span:
        every = len(read) == ranged or conn.dialect.name != "sqlite"
        return cls(first, last, None if every else json.dumps(read))

    def holds(self, column: Any) -> ColumnElement[bool]:
        in_range = cast(ColumnElement[bool], column.between(_FIRST, _LAST))
        if self.ids is None:
            return in_range
        listed: Select[Any] = select(literal_column("value")).select_from(func.json_each(_IDS))
        return and_(in_range, column.in_(listed))

    def rows(self, conn: Connection, query: Callable[[_Span], Select[Any]], name: str) -> list[Any]:
        """The rows of `query(self)`, built and compiled for the first chunk only."""
        if self.ids is None:
            known = _compiled(conn, lambda: query(self), name)
            return _run(conn, known, first=self.first, last=self.last)
        known = _compiled(conn, lambda: query(self), name + "/ids")
        return _run(conn, known, first=self.first, last=self.last, ids=self.ids)


_Compiled = tuple[str, tuple[str, ...] | None, dict[str, Any]]
# each raw query compiled once per dialect (see _raw)
_COMPILED: dict[tuple[str, str, str], _Compiled] = {}


def _raw(conn: Connection, query: Select[Any], name: str = "", **params: Any) -> list[Any]:
    """All rows as the driver gives them: SQLAlchemy's row objects and type processing cost
    more than the rest of reading. Dates and datetimes come back as ISO text from SQLite (see
    _day and _moment). A `name` keeps the compiled statement for the next chunk."""
    known = _compiled(conn, lambda: query, name) if name else _compile(conn, query)
    return _run(conn, known, **params)


def _compiled(conn: Connection, query: Callable[[], Select[Any]], name: str) -> _Compiled:
    where = (name, conn.dialect.name, conn.dialect.driver)
    known = _COMPILED.get(where)
    if known is None:
        known = _COMPILED[where] = _compile(conn, query())
    return known


def _compile(conn: Connection, query: Select[Any]) -> _Compiled:
    """The statement as the driver takes it. Only numbers, words and dates may be bound:
    SQLite's driver is given dates as the ISO text SQLAlchemy stores them as."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
    defaults = dict(compiled.construct_params())
    for key, value in defaults.items():
        if isinstance(value, datetime):
            raise TypeError(f"{key}: datetimes are not bound raw")
        if isinstance(value, date) and conn.dialect.name == "sqlite":
            defaults[key] = value.isoformat()
    return str(compiled), order, defaults


def _run(conn: Connection, known: _Compiled, **params: Any) -> list[Any]:
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


_MOMENTS: dict[str, datetime] = {}  # SQLite's text to its moment: a run's reminders share a few


def _moment(value: Any) -> datetime | None:
    """SQLite hands datetimes back as text without their zone; they were stored in UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    moment = _MOMENTS.get(value)
    if moment is None:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        if len(_MOMENTS) < 100_000:
            _MOMENTS[value] = moment
    return moment


def _chunk(
    rows: _Rows,
    plan_dates: dict[str, date | None],
    reaches: tuple[dict[int, Lead], dict[int, Lead]],
) -> list[tuple[Place, ActionState]]:
    leads = _leads(rows.leads, reaches)
    deadlines = _deadlines(rows.deadlines)
    progress = _latest_progress(rows.progress)
    chases = _chases(rows.reminded, rows.steps, progress)
    out = []
    for action_id, plan_id, position, ref, title, status, due in rows.actions:
        days = deadlines.get(action_id, ())
        if not days and due is not None:
            days = (Deadline(title, _day(due)),)
        latest = progress.get(action_id)
        last_day = latest[0] if latest else None
        state = _new(ActionState)
        _ID(state, action_id)
        _PLAN_ID(state, plan_id)
        _REF(state, ref)
        _TITLE(state, title)
        _STATUS(state, status)
        _LEADS(state, leads.get(action_id, ()))
        _DEADLINES(state, days)
        _LAST_PROGRESS(state, last_day)
        _QUIET_SINCE(state, last_day or plan_dates.get(plan_id) or date.min)
        _CHASE(state, chases.get(action_id, _NO_CHASE))
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


def _leads_query(span: _Span) -> Select[Any]:
    al = _LEAD
    return (
        select(al.c.action_id, al.c.person_id, al.c.group_id)
        .where(span.holds(al.c.action_id))
        .order_by(al.c.action_id, al.c.position, al.c.id)
    )


def _leads(
    rows: list[Any], reaches: tuple[dict[int, Lead], dict[int, Lead]]
) -> dict[int, tuple[Lead, ...]]:
    """Whom each action's reminders reach, each once, in the plan's order of its leads."""
    persons, groups = reaches
    found: dict[int, dict[str, Lead]] = {}
    for action_id, person_id, group_id in rows:
        if person_id is not None:
            lead = persons[person_id]
        elif group_id is not None and group_id in groups:
            lead = groups[group_id]
        else:
            continue
        found.setdefault(action_id, {}).setdefault(lead.key, lead)
    return {action_id: tuple(by_key.values()) for action_id, by_key in found.items()}


def _deadlines_query(span: _Span) -> Select[Any]:
    ms = _MILESTONE
    return (
        select(ms.c.action_id, ms.c.text, ms.c.due, ms.c.done, ms.c.recurrence, ms.c.start)
        .where(span.holds(ms.c.action_id))
        .order_by(ms.c.action_id, ms.c.position, ms.c.occurrence, ms.c.id)
    )


def _deadlines(rows: list[Any]) -> dict[int, tuple[Deadline, ...]]:
    """Each action's deadlines in the plan's order (the rows come by action, in that order)."""
    found: dict[int, tuple[Deadline, ...]] = {}
    current: int | None = None
    days: list[Deadline] = []
    day = _DAYS.get
    for action_id, text, due, done, recurrence, start in rows:
        if action_id != current:
            if days:
                found[cast(int, current)] = tuple(days)
            current, days = action_id, []
        deadline = _new(Deadline)
        _TEXT(deadline, text)
        _DUE(deadline, None if due is None else day(due) or _day(due))
        _DONE(deadline, bool(done))
        _RECURRENCE(deadline, recurrence)
        _START(deadline, None if start is None else day(start) or _day(start))
        days.append(deadline)
    if days:
        found[cast(int, current)] = tuple(days)
    return found


def _progress_query(span: _Span) -> Select[Any]:
    pe = _PROGRESS

    def latest(*precisions: str) -> Any:
        return func.max(case((pe.c.precision.in_(precisions), pe.c.dated)))

    return (
        select(
            pe.c.action_id,
            latest("day"),
            latest("month"),
            func.max(case((pe.c.precision.not_in(("day", "month")), pe.c.dated))),
            func.max(pe.c.recorded_at),
        )
        .where(span.holds(pe.c.action_id))
        .group_by(pe.c.action_id)
    )


def _latest_progress(rows: list[Any]) -> dict[int, tuple[date, Any]]:
    """Per action: the latest day its progress entries speak of, and when the latest was
    recorded (as the driver gives it: only escalated actions need it as a datetime). A
    month-precise entry speaks of its month's last day, so the latest day is taken over each
    precision's latest entry, not from the latest `dated` alone."""
    found: dict[int, tuple[date, Any]] = {}
    for action_id, day, month, year, recorded in rows:
        newest = _day(day)
        for value, precision in ((month, "month"), (year, "year")):
            if value is not None:
                end = _last_day(value, precision)
                if newest is None or end > newest:
                    newest = end
        assert newest is not None  # grouped rows have at least one entry
        found[action_id] = (newest, recorded)
    return found


@lru_cache(maxsize=65536)
def _last_day(value: date | str, precision: str) -> date:
    """PartialDate.of(dated, precision).last_day(), without making one per row: a few
    thousand distinct months and years."""
    dated = value if isinstance(value, date) else date.fromisoformat(value)
    if precision == "day":
        return dated
    if precision == "month":
        return date(dated.year, dated.month, _days_in(dated.year, dated.month))
    return date(dated.year, 12, 31)


@lru_cache(maxsize=4096)
def _days_in(year: int, month: int) -> int:
    return monthrange(year, month)[1]


def _reminded_query(span: _Span) -> Select[Any]:
    e = _EVENT
    return (
        select(e.c.action_id, e.c.at)
        .where(span.holds(e.c.action_id), e.c.kind == "reminded")
        .group_by(e.c.action_id, e.c.at)
        .order_by(e.c.action_id, e.c.at)
    )


def _steps_query(span: _Span) -> Select[Any]:
    e = _EVENT
    return (
        select(e.c.action_id, e.c.kind, e.c.at, e.c.level, e.c.until)
        .where(span.holds(e.c.action_id), e.c.kind.in_(("snoozed", *LEVEL_EVENTS)))
        .where(or_(e.c.kind == "snoozed", and_(e.c.level.is_not(None), e.c.level != "")))
        .order_by(e.c.action_id, e.c.at, e.c.id)
    )


def _chases(
    reminded: list[Any], steps: list[Any], progress: dict[int, tuple[date, Any]]
) -> dict[int, Chase]:
    """The chase state `load_state` reads back from the audit trail: reminder runs (one per
    distinct moment) counted after the latest progress recorded, which `progress` already
    holds, so the runs are read from the index on (action, kind, moment) alone; the few level
    and snooze events read as they are."""
    runs: dict[int, tuple[datetime | None, int]] = {}
    current: int | None = None
    answered: datetime | None = None
    moment: datetime | None = None
    count = 0
    for action_id, at in reminded:  # by action, then moment
        if action_id != current:
            if current is not None:
                runs[current] = (moment, count)
            current, count = action_id, 0
            latest = progress.get(action_id)
            answered = _moment(latest[1]) if latest else None
        moment = _moment(at)
        if answered is None or (moment is not None and moment > answered):
            count += 1
    if current is not None:
        runs[current] = (moment, count)
    levels: dict[int, tuple[Level, datetime | None]] = {}
    snoozes: dict[int, date | None] = {}
    for action_id, kind, at, level, until in steps:
        if kind == "snoozed":
            snoozes[action_id] = _day(until)
        else:
            levels[action_id] = (Level(level), _moment(at))

    chases: dict[int, Chase] = {}
    for action_id in runs.keys() | levels.keys() | snoozes.keys():
        last_run, unanswered = runs.get(action_id, (None, 0))
        level, since = levels.get(action_id, (Level.LEAD, None))
        latest = progress.get(action_id)
        answered_at = _moment(latest[1]) if latest and level is not Level.LEAD else None
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
