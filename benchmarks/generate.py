"""Synthetic plans straight into the database: N actions, M leads, dates and histories that look
like a partnership's, deterministic for a seed.

People and lead groups (some without an address, some away), plans of `plan_size` actions with
their governance ladder and sections, actions with one to three leads, milestones with due dates
spread around the as-of date (some done, some recurring), progress histories with realistic gaps
(imported month-precise entries, then e-mailed day-precise ones), and prior audit events
(reminders, escalations, snoozes, digests) so the chase state read back is not trivial.
`--steady` adds a reminder this morning for every open action (a daemon that has been
running: its next tick sends few reminders); `--local-leads` gives each lead a run of
neighbouring actions, mostly in one plan.

Rows go in with bulk inserts in chunks, ids chosen here, so 1M actions never sit in memory.

    python -m benchmarks.generate sqlite:////tmp/bench.db 100000 [--leads 5000] [--seed 1]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.engine import Connection, Engine

from benchmarks.common import AS_OF

FIRST = (
    "Tracey Kelly Sam Alex Priya Tom Hannah Omar Grace Daniel Fiona Raj Claire Mark Aisha "
    "Peter Lucy Chris Joanne Imran Sarah David Emma James Nadia Paul Ruth Gareth Sian Helen"
).split()
LAST = (
    "Anstis Cogger Patel Smith Jones Brown Khan Taylor Wilson Evans Thomas Roberts Walker "
    "Wright Hughes Edwards Green Hall Wood Clarke Ali Lewis Hill Price Moore Turner Cooper"
).split()
ORGS = (
    "Kent Police",
    "Medway Council Children's Services",
    "NHS Kent and Medway",
    "Medway Community Healthcare",
    "Kent Fire and Rescue",
    "National Probation Service",
    "Medway Safeguarding Children Partnership",
    "Education Safeguarding Team",
)
TOPICS = ("Policy and Procedures", "Training", "Quality Assurance", "Neglect", "Exploitation")
WORDS = (
    "review audit multi-agency MASH referral threshold training neglect strategy meeting "
    "information sharing protocol front door screening partners quality assurance dataset "
    "performance report escalation practice guidance early help assessment domestic abuse "
    "exploitation missing children supervision case files recording consent feedback staff "
    "attendance evaluation implementation timescales governance board operational group"
).split()
RAGS = (None, "red", "amber", "green", "blue")


@dataclass(frozen=True)
class Shape:
    size: int  # actions
    leads: int  # persons who lead actions
    plan_size: int = 200
    seed: int = 1
    as_of: date = AS_OF
    # each lead's actions next to each other (mostly in one plan) instead of spread over all
    local_leads: bool = False
    # a daemon that has been running: every open action's lead was reminded this morning
    steady: bool = False

    @property
    def groups(self) -> int:
        return max(3, self.leads // 25)

    @property
    def plans(self) -> int:
        return max(1, -(-self.size // self.plan_size))


def default_leads(size: int) -> int:
    """One lead for every 20 actions, as in the real plans (a lead carries a handful to dozens)."""
    return max(10, size // 20)


class _Writer:
    """Buffers rows per table and writes them in executemany chunks."""

    def __init__(self, conn: Connection, chunk: int = 20_000) -> None:
        self.conn = conn
        self.chunk = chunk
        self.rows: dict[Table, list[dict[str, Any]]] = {}
        self.order: list[Table] = []
        self.count = 0

    def add(self, table: Table, row: dict[str, Any]) -> None:
        if table not in self.rows:
            self.rows[table] = []
            self.order.append(table)
        buf = self.rows[table]
        buf.append(row)
        if len(buf) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        # parents before children: tables are flushed in the order they were first used
        for table in self.order:
            buf = self.rows[table]
            if buf:
                self.conn.execute(table.insert(), buf)
                self.count += len(buf)
                self.rows[table] = []


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _sentence(rng: random.Random, n: int) -> str:
    s = _words(rng, n)
    return s[0].upper() + s[1:] + "."


def _month(d: date) -> date:
    return d.replace(day=1)


def generate(engine: Engine, shape: Shape, *, quiet: bool = False) -> dict[str, int]:
    """Creates the schema (through the migrations, as the bot does) and fills it."""
    from bot import models as m
    from bot.db import create_schema

    create_schema(engine)
    rng = random.Random(shape.seed)
    a0 = shape.as_of
    t = {name: model.__table__ for name, model in _tables(m).items()}
    counts: dict[str, int] = dict.fromkeys(t, 0)
    started = time.perf_counter()

    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA synchronous=OFF")
        w = _Writer(conn)

        def add(name: str, row: dict[str, Any]) -> None:
            counts[name] += 1
            w.add(t[name], row)

        # people: persons 1..leads lead actions; a few more sit on the governance ladder
        persons = shape.leads + 3
        emails: list[str | None] = [None]
        for pid in range(1, persons + 1):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}.{pid}@example.org".lower() if rng.random() > 0.03 else None
            emails.append(email)
            away = None
            if rng.random() < 0.02:
                away = a0 + timedelta(days=rng.randint(-20, 20))
            add(
                "person",
                {
                    "id": pid,
                    "key": f"person-{pid:07d}",
                    "name": f"{first} {last}",
                    "organisation": rng.choice(ORGS),
                    "role": None,
                    "email": email,
                    "slack_id": None,
                    "listed": True,
                    "away_until": away,
                    "email_failing": None,
                    "email_failing_since": None,
                },
            )
        for pid in range(1, persons + 1):
            if rng.random() < 0.02:
                add(
                    "delegate",
                    {
                        "id": counts["delegate"] + 1,
                        "person_id": pid,
                        "delegate_id": rng.randint(1, persons),
                    },
                )
        for gid in range(1, shape.groups + 1):
            contact = rng.randint(1, shape.leads) if rng.random() < 0.8 else None
            add(
                "lead_group",
                {
                    "id": gid,
                    "key": f"group-{gid:05d}",
                    "name": f"{rng.choice(TOPICS)} Sub Group {gid}",
                    "organisation": rng.choice(ORGS),
                    "email": f"group-{gid}@example.org" if rng.random() < 0.5 else None,
                    "contact_person_id": contact,
                    "listed": True,
                },
            )
            for k, pid in enumerate(rng.sample(range(1, shape.leads + 1), 3)):
                add(
                    "group_member",
                    {
                        "id": counts["group_member"] + 1,
                        "group_id": gid,
                        "person_id": pid,
                        "role": "chair" if k == 0 else None,
                    },
                )
        w.flush()

        action_id = section_id = 0
        for p in range(1, shape.plans + 1):
            plan_id = f"bench-{p:05d}"
            n_actions = min(shape.plan_size, shape.size - (p - 1) * shape.plan_size)
            plan_as_of = a0 - timedelta(days=rng.randint(30, 240))
            add(
                "plan",
                {
                    "id": plan_id,
                    "title": f"Synthetic improvement plan {p}",
                    "version": "1",
                    "as_of": f"{plan_as_of:%Y-%m}",
                    "source": "benchmarks.generate",
                    "layout": None,
                    "rag_definitions": {"red": "off track", "green": "on track"},
                    "notes": [],
                    "imported_from": None,
                    "imported_at": datetime.combine(plan_as_of, datetime.min.time(), UTC),
                },
            )
            ladder = (
                ("operational_group", "MASH Operational Group", None, 1),
                ("strategic_board", "MASH Strategic Board", None, 2),
                ("chair", "Independent Chair", persons, None),
            )
            for level, name, person_id, group_id in ladder:
                add(
                    "governance_level",
                    {
                        "id": counts["governance_level"] + 1,
                        "plan_id": plan_id,
                        "level": level,
                        "name": name,
                        "person_id": person_id,
                        "group_id": group_id,
                    },
                )
            n_sections = max(1, n_actions // 20)
            first_section = section_id + 1
            for k in range(1, n_sections + 1):
                section_id += 1
                add(
                    "section",
                    {
                        "id": section_id,
                        "plan_id": plan_id,
                        "parent_id": None,
                        "number": str(k),
                        "kind": "objective",
                        "title": _sentence(rng, 5),
                        "position": k,
                    },
                )
            for k in range(1, n_actions + 1):
                action_id += 1
                section = (k - 1) * n_sections // n_actions
                _action(
                    rng,
                    add,
                    counts,
                    shape,
                    plan_id,
                    action_id,
                    first_section + section,
                    f"{section + 1}.{k}",
                    k,
                    emails,
                )
            if not quiet and p % 50 == 0:
                print(f"    {action_id} actions ...", file=sys.stderr, flush=True)

        # digests already sent last week, so this week's are due as in a running system
        monday = a0 - timedelta(days=a0.weekday())
        for kind, hour in (("operational", 9), ("chair", 8), ("strategic", 9)):
            add(
                "audit_event",
                _event(
                    counts,
                    datetime.combine(monday - timedelta(days=7), datetime.min.time(), UTC)
                    + timedelta(hours=hour),
                    "digest",
                    None,
                    None,
                    None,
                    None,
                    detail=kind,
                ),
            )
        w.flush()
        if engine.dialect.name == "postgresql":
            for name, table in t.items():
                if "id" in table.c and counts[name] and name != "plan":  # plan ids are slugs
                    conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"(SELECT max(id) FROM {table.name}))"
                        )
                    )
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    if not quiet:
        total = sum(counts.values())
        print(
            f"    generated {total} rows in {time.perf_counter() - started:.1f}s: "
            + ", ".join(f"{k} {v}" for k, v in counts.items() if v),
            file=sys.stderr,
            flush=True,
        )
    return counts


def _tables(m: Any) -> dict[str, Any]:
    return {
        "person": m.Person,
        "delegate": m.Delegate,
        "lead_group": m.LeadGroup,
        "group_member": m.GroupMember,
        "plan": m.Plan,
        "governance_level": m.GovernanceLevel,
        "section": m.Section,
        "action": m.Action,
        "action_lead": m.ActionLead,
        "milestone": m.Milestone,
        "progress_entry": m.ProgressEntry,
        "audit_event": m.AuditEvent,
    }


def _event(
    counts: dict[str, int],
    at: datetime,
    kind: str,
    action_id: int | None,
    plan_id: str | None,
    person_key: str | None,
    level: str | None,
    *,
    detail: str | None = None,
    until: date | None = None,
) -> dict[str, Any]:
    return {
        "id": counts["audit_event"] + 1,
        "at": at,
        "kind": kind,
        "action_id": action_id,
        "plan_id": plan_id,
        "person_key": person_key,
        "level": level,
        "detail": detail,
        "until": until,
        "rules_version": "1",
        "outbox_id": None,
        "data": None,
    }


def _action(
    rng: random.Random,
    add: Any,
    counts: dict[str, int],
    shape: Shape,
    plan_id: str,
    action_id: int,
    section_id: int,
    ref: str,
    position: int,
    emails: list[str | None],
) -> None:
    a0 = shape.as_of
    roll = rng.random()
    kind = (
        "dated"
        if roll < 0.6
        else "range"
        if roll < 0.7
        else "recurring"
        if roll < 0.8
        else "ongoing"
        if roll < 0.9
        else "undated"
    )
    due = a0 + timedelta(days=rng.randint(-270, 365)) if kind in ("dated", "range") else None
    roll = rng.random()
    status = "open" if roll < 0.7 else "complete" if roll < 0.85 else "ongoing"
    if status == "ongoing" and roll >= 0.95:
        status = "withdrawn"
    add(
        "action",
        {
            "id": action_id,
            "plan_id": plan_id,
            "section_id": section_id,
            "ref": ref,
            "position": position,
            "title": _sentence(rng, 6),
            "area_for_improvement": _sentence(rng, 8) if rng.random() < 0.3 else None,
            "key_risk": None,
            "text": _sentence(rng, 30),
            "timescale": f"{due:%B %Y}" if due else ("Quarterly" if kind == "recurring" else None),
            "timescale_kind": kind,
            "due": due,
            "status": status,
            "rag": rng.choice(RAGS),
            "rag_set_by": None,
            "rag_set_at": None,
            "notes": [],
        },
    )

    # leads: the first lead cycles through everyone, so every person leads something
    n_leads = 1 if rng.random() < 0.6 else 2 if rng.random() < 0.75 else 3
    lead_keys: list[str] = []
    for k in range(n_leads):
        if k > 0 and rng.random() < 0.1:
            person_id, group_id = None, rng.randint(1, shape.groups)
            written = f"group {group_id}"
        else:
            if k > 0:
                person_id = rng.randint(1, shape.leads)
            elif shape.local_leads:
                person_id = (action_id - 1) * shape.leads // shape.size + 1
            else:
                person_id = (action_id - 1) % shape.leads + 1
            group_id, written = None, f"person {person_id}"
            lead_keys.append(f"person-{person_id:07d}")
        add(
            "action_lead",
            {
                "id": counts["action_lead"] + 1,
                "action_id": action_id,
                "position": k + 1,
                "written": written,
                "person_id": person_id,
                "group_id": group_id,
            },
        )

    # milestones
    milestones: list[tuple[int, date | None]] = []
    if kind == "dated" and due is not None:
        n = rng.choice((1, 1, 2, 3))
        dues = sorted(due - timedelta(days=rng.randint(0, 300)) for _ in range(n - 1)) + [due]
        for k, d in enumerate(dues, 1):
            milestones.append((k, d))
            done = d < a0 - timedelta(days=30) and rng.random() < 0.6
            _milestone(add, counts, action_id, k, d, "dated", done, None, None, rng)
    elif kind == "range" and due is not None:
        _milestone(
            add, counts, action_id, 1, due, "range", False, None, due - timedelta(days=180), rng
        )
    elif kind == "recurring":
        start = a0 - timedelta(days=rng.randint(30, 400))
        _milestone(
            add,
            counts,
            action_id,
            1,
            start + timedelta(days=3 * 365),
            "recurring",
            False,
            "quarterly",
            start,
            rng,
        )
    elif rng.random() < 0.5:
        _milestone(add, counts, action_id, 1, None, kind, False, None, None, rng)

    # progress: walking back from the as-of date with gaps of two weeks to four months
    n = rng.choices((0, 1, 2, 3, 4, 6), (10, 20, 25, 20, 15, 10))[0]
    day = a0 - timedelta(days=rng.randint(0, 120))
    history = []
    for _ in range(n):
        history.append(day)
        day -= timedelta(days=rng.randint(14, 120))
    for k, d in enumerate(reversed(history)):
        recent = d > a0 - timedelta(days=90) and rng.random() < 0.6 and lead_keys
        pid = counts["progress_entry"] + 1
        add(
            "progress_entry",
            {
                "id": pid,
                "action_id": action_id,
                "milestone_id": None,
                "dated": d if recent else _month(d),
                "precision": "day" if recent else "month",
                "text": _sentence(rng, rng.randint(10, 60)),
                "source": "email" if recent else "import",
                "author": "lead" if recent else None,
                "author_person_id": None,
                "rag": rng.choice(RAGS),
                "completed": False,
                "external_id": f"<progress-{pid}@bench.example.org>" if recent else None,
                "position": k,
                "recorded_at": datetime.combine(d, datetime.min.time(), UTC)
                + timedelta(hours=rng.randint(8, 17)),
                "proposed_due": None,
            },
        )

    # the chase so far: reminders in the last weeks, some escalations, a few snoozes
    if status in ("open", "ongoing") and lead_keys:
        if rng.random() < 0.25:
            for r in range(rng.randint(1, 3)):
                at = datetime.combine(
                    a0 - timedelta(days=7 * (r + 1) + rng.randint(0, 3)), datetime.min.time(), UTC
                ) + timedelta(hours=9)
                add(
                    "audit_event",
                    _event(
                        counts,
                        at,
                        "reminded",
                        action_id,
                        plan_id,
                        lead_keys[0],
                        "lead",
                        detail="overdue",
                    ),
                )
        if shape.steady:
            at = datetime.combine(a0, datetime.min.time(), UTC) + timedelta(hours=9)
            add(
                "audit_event",
                _event(counts, at, "reminded", action_id, plan_id, lead_keys[0], "lead"),
            )
        roll = rng.random()
        if roll < 0.10:
            at = datetime.combine(
                a0 - timedelta(days=rng.randint(20, 90)), datetime.min.time(), UTC
            ) + timedelta(hours=9)
            add(
                "audit_event",
                _event(counts, at, "escalated", action_id, plan_id, None, "operational_group"),
            )
            if roll < 0.03:
                add(
                    "audit_event",
                    _event(
                        counts,
                        at + timedelta(days=29),
                        "escalated",
                        action_id,
                        plan_id,
                        None,
                        "strategic_board",
                    ),
                )
        if rng.random() < 0.01:
            at = datetime.combine(a0 - timedelta(days=10), datetime.min.time(), UTC)
            add(
                "audit_event",
                _event(
                    counts,
                    at,
                    "snoozed",
                    action_id,
                    plan_id,
                    None,
                    None,
                    until=a0 + timedelta(days=rng.randint(-5, 30)),
                ),
            )


def _milestone(
    add: Any,
    counts: dict[str, int],
    action_id: int,
    position: int,
    due: date | None,
    kind: str,
    done: bool,
    recurrence: str | None,
    start: date | None,
    rng: random.Random,
) -> None:
    add(
        "milestone",
        {
            "id": counts["milestone"] + 1,
            "action_id": action_id,
            "position": position,
            "occurrence": 1,
            "text": _sentence(rng, 8),
            "timescale": f"{due:%B %Y}" if due else None,
            "kind": kind,
            "start": start,
            "due": due,
            "due_precision": "month" if due else None,
            "recurrence": recurrence,
            "done": done,
            "depth": 0,
            "lead_written": None,
            "lead_person_id": None,
            "lead_group_id": None,
        },
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url", help="database URL (the database must exist and be empty)")
    parser.add_argument("size", type=int, help="number of actions")
    parser.add_argument("--leads", type=int, default=None, help="persons leading actions")
    parser.add_argument("--plan-size", type=int, default=200, help="actions per plan")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--as-of", default=AS_OF.isoformat(), help="the data's 'today'")
    parser.add_argument(
        "--steady", action="store_true", help="every open action was reminded on --as-of"
    )
    parser.add_argument(
        "--local-leads", action="store_true", help="a lead's actions next to each other"
    )
    args = parser.parse_args(argv)
    from bot.db import make_engine

    shape = Shape(
        args.size,
        args.leads or default_leads(args.size),
        args.plan_size,
        args.seed,
        date.fromisoformat(args.as_of),
        local_leads=args.local_leads,
        steady=args.steady,
    )
    engine = make_engine(args.url)
    generate(engine, shape)
    engine.dispose()


if __name__ == "__main__":
    main()
