"""`actionbot demo`: the real plans played forward, so a new user sees months of chasing.

The plans in `data/` were written after the fact: their progress columns hold updates that,
on any day of the simulation, had not been written yet. The demo hides every entry dated
after the first simulated day and brings each back on its own date as the lead's e-mailed
reply, so the reminders, escalations and digests it produces are the ones the real
partnership would have had. Everything else is the real `tick`: the same engine, store and
delivery, with the clock replaced by the simulated moment and e-mail written to a folder.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bot import models as m
from bot.chasing import tick
from bot.db import session
from bot.delivery import Transports
from bot.notify.email import OutboxDirTransport
from bot.plans.partial_date import PartialDate
from bot.rules import LoadedRules, Rules, latest_fire
from bot.settings import Settings

# When a reply "arrives": mid-morning on its date; an entry dated only by month on the 15th,
# by year on 1 July (its middle), since the plan does not say which day it was written.
REPLY_TIME = time(10, 30)
MARKER = ".actionbot-demo"
SOURCE = "email"


class DemoError(Exception):
    """The demo cannot start: the message says what to change."""


@dataclass(frozen=True)
class Reply:
    """A progress entry held back until the simulated clock reaches the day it was written."""

    at: datetime
    action_id: int
    dated: date
    precision: str
    text: str
    author: str | None
    rag: str | None
    completed: bool
    milestone_id: int | None
    external_id: str
    completes_action: bool  # the plan has the action complete, and this is its last entry


def reply_moment(dated: date, precision: str, zone: ZoneInfo) -> datetime:
    day = {
        "day": dated,
        "month": dated.replace(day=15),
        "year": dated.replace(month=7, day=1),
    }[precision]
    return datetime.combine(day, REPLY_TIME, zone)


def tick_moments(rules: Rules, start: date, end: date) -> Iterator[tuple[date, datetime]]:
    """The simulated runs from `start` up to (not including) `end`, with their day: one when
    sending hours open and one at each digest's time. The daemon's 15-minute ticks would decide
    the same things between them, at many times the cost."""
    calendar = rules.working_calendar()
    zone = calendar.zone
    schedules = [rules.digests.operational, rules.digests.strategic, rules.digests.chair]
    day = start
    while day < end:
        opening = datetime.combine(day, calendar.start, zone)
        moments = {opening}
        night = datetime.combine(day, time(0, 0), zone)
        for schedule in schedules:
            fire = latest_fire(schedule, calendar, night + timedelta(days=1), night)
            if fire is not None:
                moments.add(max(fire, opening))
        for moment in sorted(moments):
            yield day, moment
        day += timedelta(days=1)


def prepare_outbox(folder: Path) -> None:
    """The demo's folder holds one run's messages. It empties a folder an earlier demo made,
    and refuses one it did not make, so pointing `--outbox` at the wrong place loses nothing."""
    marker = folder / MARKER
    if folder.exists() and any(folder.iterdir()) and not marker.exists():
        raise DemoError(
            f"--outbox {folder}: the folder is not empty and was not made by `actionbot demo`; "
            "give an empty or new folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.eml"):
        old.unlink()
    marker.write_text("Messages written by `actionbot demo`; the next demo run replaces them.\n")


def hold_back_progress(s: Session, start: datetime, zone: ZoneInfo) -> list[Reply]:
    """Removes the entries not yet written at `start` and returns them to be replayed.

    An action the plan marks complete is reopened until its last held-back entry comes in,
    and each plan's as-of date is moved back to the start, so its quiet clock starts there.
    """
    held: list[Reply] = []
    later: list[m.ProgressEntry] = []
    for p in s.exec(
        select(m.ProgressEntry).order_by(
            col(m.ProgressEntry.action_id), col(m.ProgressEntry.position)
        )
    ):
        if reply_moment(p.dated, p.precision, zone) > start:
            later.append(p)
    actions = {a.id: a for a in s.exec(select(m.Action))}
    last_of: dict[int, m.ProgressEntry] = {}
    for p in later:
        if p.dated >= last_of.get(p.action_id, p).dated:
            last_of[p.action_id] = p
    lead_names = _first_lead_names(s)
    for p in later:
        action = actions[p.action_id]
        completes = action.status == "complete" and last_of[p.action_id] is p
        held.append(
            Reply(
                at=reply_moment(p.dated, p.precision, zone),
                action_id=p.action_id,
                dated=p.dated,
                precision=p.precision,
                text=p.text,
                author=p.author or lead_names.get(p.action_id),
                rag=p.rag,
                completed=p.completed,
                milestone_id=p.milestone_id,
                external_id=f"demo:{p.external_id or p.id}",
                completes_action=completes,
            )
        )
        s.delete(p)
    for action_id in {r.action_id for r in held if r.completes_action}:
        actions[action_id].status = "open"
        s.add(actions[action_id])
    first_day = start.astimezone(zone).date()
    for plan in s.exec(select(m.Plan)):
        if plan.as_of is None or PartialDate.parse(plan.as_of).first_day() > first_day:
            plan.as_of = first_day.isoformat()
            s.add(plan)
    held.sort(key=lambda r: (r.at, r.action_id, r.external_id))
    return held


def record_replies(s: Session, replies: Iterable[Reply]) -> int:
    count = 0
    for r in replies:
        s.add(
            m.ProgressEntry(
                action_id=r.action_id,
                milestone_id=r.milestone_id,
                dated=r.dated,
                precision=r.precision,
                text=r.text,
                source=SOURCE,
                author=r.author,
                rag=r.rag,
                completed=r.completed,
                external_id=r.external_id,
                recorded_at=r.at.astimezone(UTC),
            )
        )
        if r.completes_action:
            action = s.get(m.Action, r.action_id)
            if action is not None:
                action.status = "complete"
                s.add(action)
        count += 1
    return count


@dataclass
class DemoReport:
    start: date
    end: date
    outbox: Path
    ticks: int = 0
    replies: int = 0
    held_back: int = 0
    # month ("2018-09") -> what happened in it
    months: dict[str, Counter[str]] = field(default_factory=dict)
    failed: int = 0


def play(
    engine: Engine,
    loaded: LoadedRules,
    settings: Settings,
    start: date,
    end: date,
    outbox: Path,
    on_day: Callable[[date], None] | None = None,
) -> DemoReport:
    """Plays the loaded database forward from `start` to `end` (exclusive)."""
    zone = ZoneInfo(loaded.rules.calendar.timezone)
    assert settings.mail is not None
    demo_settings = dataclasses.replace(
        settings, mail=dataclasses.replace(settings.mail, outbox_dir=outbox)
    )
    transports = Transports(email=OutboxDirTransport(outbox), slack=None)
    report = DemoReport(start, end, outbox)
    with session(engine) as s, s.begin():
        first_run = datetime.combine(start, loaded.rules.sending_hours.start, zone)
        pending = hold_back_progress(s, first_run, zone)
    report.held_back = len(pending)
    last_day: date | None = None
    for day, moment in tick_moments(loaded.rules, start, end):
        due = [r for r in pending if r.at <= moment]
        if due:
            pending = pending[len(due) :]
            with session(engine) as s, s.begin():
                report.replies += record_replies(s, due)
        result = tick(engine, loaded, demo_settings, moment, transports)
        report.ticks += 1
        if result.delivery is not None:
            report.failed += result.delivery.failed
        if on_day is not None and day != last_day:
            on_day(day)
        last_day = day
    report.months = timeline(engine, zone)
    return report


def timeline(engine: Engine, zone: ZoneInfo) -> dict[str, Counter[str]]:
    """Per month: messages written by kind, escalations by level, replies recorded."""
    months: dict[str, Counter[str]] = {}

    def bump(at: datetime, what: str) -> None:
        local = (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone)
        months.setdefault(f"{local:%Y-%m}", Counter())[what] += 1

    with session(engine) as s:
        for row in s.exec(select(m.Outbox).where(m.Outbox.status == "sent")):
            bump(row.created_at, row.kind)
        for e in s.exec(select(m.AuditEvent).where(m.AuditEvent.kind == "escalated")):
            bump(e.at, f"escalated:{e.level}")
        for p in s.exec(select(m.ProgressEntry).where(m.ProgressEntry.source == SOURCE)):
            bump(p.recorded_at, "reply")
    return dict(sorted(months.items()))


def _first_lead_names(s: Session) -> dict[int, str]:
    """The name a replayed entry is signed with when the plan did not say who wrote it."""
    names: dict[int, str] = {}
    rows = s.exec(
        select(m.ActionLead.action_id, m.ActionLead.written).order_by(
            col(m.ActionLead.action_id), col(m.ActionLead.position)
        )
    )
    for action_id, written in rows:
        names.setdefault(action_id, written)
    return names
