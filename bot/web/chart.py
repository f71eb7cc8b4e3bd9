"""The dashboard's RAG-over-time chart: how many actions stood at each RAG, week by week (month
by month over a longer span), and how many were escalated above their lead, as inline SVG drawn
on the server: no script, nothing fetched from anywhere.

The RAG an action stood at on a day is the one the latest progress entry dated on or before
that day gave (a lead's reply, a plan's progress column), else the RAG the plan itself set,
from the plan's date; with neither it was "not rated". Escalation is read from the audit trail:
the level after the last `escalated` or `reset` event on or before the day. This module works
out the numbers and the shapes; templates/web/_chart.html.j2 only prints them.
"""

from __future__ import annotations

import calendar
import math
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, timedelta

from sqlmodel import Session, col, select

from bot import models as m
from bot.plans.partial_date import PartialDate
from bot.store import PlanView

WEEKLY_UP_TO = timedelta(weeks=26)  # a longer span is drawn month by month
MOST_POINTS = 30
LEAST_SPAN = timedelta(weeks=8)
LONGEST_SPAN = timedelta(days=2 * 365)
RAGS = ("red", "amber", "green", "unrated")  # bottom to top
COLOURS = {"red": "#d4351c", "amber": "#f47738", "green": "#00703c", "unrated": "#b1b4b6"}
NAMES = {"red": "Red", "amber": "Amber", "green": "Green", "unrated": "Not rated"}
LINE_COLOUR = "#1d70b8"

# the drawing, in SVG user units
WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 40, 16, 14, 40


@dataclass(frozen=True)
class Point:
    day: date
    red: int = 0
    amber: int = 0
    green: int = 0
    unrated: int = 0
    escalated: int = 0  # above the lead: operational group, strategic board or chair

    @property
    def total(self) -> int:
        return self.red + self.amber + self.green + self.unrated


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str  # what a pointer over it, or a screen reader, is told


@dataclass(frozen=True)
class Chart:
    points: tuple[Point, ...]
    step: str  # "week" | "month"
    width: int
    height: int
    bars: tuple[Bar, ...]
    line: str  # the escalated count as SVG polyline points, "x,y x,y …"
    dots: tuple[tuple[float, float, str], ...]
    x_labels: tuple[tuple[float, str], ...]
    y_ticks: tuple[tuple[float, int], ...]
    plot: tuple[float, float, float, float]  # left, top, right, bottom of the plotting area

    @property
    def empty(self) -> bool:
        return not any(p.total for p in self.points)

    @property
    def legend(self) -> tuple[tuple[str, str], ...]:
        return tuple((NAMES[r], COLOURS[r]) for r in RAGS)

    @property
    def line_colour(self) -> str:
        return LINE_COLOUR


def rag_over_time(s: Session, plans: list[PlanView], today: date) -> Chart:
    actions = [a for plan in plans for a in plan.actions if a.status != "withdrawn"]
    ids = [a.id for a in actions]
    plan_start = {p.id: PartialDate.parse(p.as_of).first_day() if p.as_of else None for p in plans}

    rags: dict[int, list[tuple[date, str]]] = defaultdict(list)
    for action in actions:
        if action.rag and action.rag_set_by == "plan":
            start = plan_start.get(action.plan_id)
            if start is not None:
                rags[action.id].append((start, action.rag))
    rows = s.exec(
        select(col(m.ProgressEntry.action_id), col(m.ProgressEntry.dated), col(m.ProgressEntry.rag))
        .where(col(m.ProgressEntry.action_id).in_(ids), col(m.ProgressEntry.rag).is_not(None))
        .order_by(col(m.ProgressEntry.dated), col(m.ProgressEntry.id))
    )
    for action_id, dated, rag in rows:
        rags[action_id].append((dated, rag or "unrated"))

    levels: dict[int, list[tuple[date, str]]] = defaultdict(list)
    events = s.exec(
        select(m.AuditEvent.action_id, m.AuditEvent.at, m.AuditEvent.level)
        .where(
            col(m.AuditEvent.action_id).in_(ids),
            col(m.AuditEvent.kind).in_(("escalated", "reset")),
        )
        .order_by(col(m.AuditEvent.at), col(m.AuditEvent.id))
    )
    for about, at, level in events:
        moment = at if at.tzinfo else at.replace(tzinfo=UTC)
        levels[about or 0].append((moment.date(), level or "lead"))

    known = [d for found in (*rags.values(), *levels.values()) for d, _ in found]
    known += [d for d in plan_start.values() if d is not None]
    days, step = _days(min(known, default=today), today)
    points = tuple(
        Point(
            day,
            **_tally(_at(rags.get(a.id, []), day, "unrated") for a in actions),
            escalated=sum(1 for a in actions if _at(levels.get(a.id, []), day, "lead") != "lead"),
        )
        for day in days
    )
    return _draw(points, step)


def _at(changes: list[tuple[date, str]], day: date, before: str) -> str:
    """The value the last change on or before `day` set (`changes` in date order)."""
    i = bisect_right([d for d, _ in changes], day)
    return changes[i - 1][1] if i else before


def _tally(found: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(RAGS, 0)
    for rag in found:
        counts[rag if rag in counts else "unrated"] += 1
    return counts


def _days(start: date, today: date) -> tuple[list[date], str]:
    """The days the chart stands on, ending today: week ends over half a year or less, else
    month ends; never more than MOST_POINTS of them."""
    start = max(min(start, today - LEAST_SPAN), today - LONGEST_SPAN)
    if today - start <= WEEKLY_UP_TO:
        weeks = (today - start).days // 7 + 1
        return [today - timedelta(weeks=k) for k in reversed(range(weeks))][-MOST_POINTS:], "week"
    days: list[date] = []
    year, month = start.year, start.month
    while (year, month) < (today.year, today.month):
        days.append(date(year, month, calendar.monthrange(year, month)[1]))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    days.append(today)
    return days[-MOST_POINTS:], "month"


def _draw(points: tuple[Point, ...], step: str) -> Chart:
    left, top, right, bottom = LEFT, TOP, WIDTH - RIGHT, HEIGHT - BOTTOM
    n = max(len(points), 1)
    slot = (right - left) / n
    width = slot * 0.7
    most = max([p.total for p in points] + [p.escalated for p in points] + [1])
    scale = (bottom - top) / most
    bars: list[Bar] = []
    line: list[str] = []
    dots: list[tuple[float, float, str]] = []
    for i, p in enumerate(points):
        x = left + i * slot + (slot - width) / 2
        y = float(bottom)
        for rag in RAGS:
            count = getattr(p, rag)
            if count:
                h = count * scale
                y -= h
                bars.append(
                    Bar(
                        _r(x),
                        _r(y),
                        _r(width),
                        _r(h),
                        COLOURS[rag],
                        f"{_label(p.day, step, long=True)}: {count} {NAMES[rag].lower()}",
                    )
                )
        cx, cy = _r(x + width / 2), _r(bottom - p.escalated * scale)
        line.append(f"{cx},{cy}")
        dots.append((cx, cy, f"{_label(p.day, step, long=True)}: {p.escalated} escalated"))
    every = max(1, math.ceil(n / 8))
    x_labels = tuple(
        (_r(left + i * slot + slot / 2), _label(p.day, step))
        for i, p in enumerate(points)
        if (len(points) - 1 - i) % every == 0
    )
    ticks = sorted({0, most // 2, most})
    y_ticks = tuple((_r(bottom - t * scale), t) for t in ticks)
    return Chart(
        points=points,
        step=step,
        width=WIDTH,
        height=HEIGHT,
        bars=tuple(bars),
        line=" ".join(line),
        dots=tuple(dots),
        x_labels=x_labels,
        y_ticks=y_ticks,
        plot=(left, top, right, bottom),
    )


def _label(day: date, step: str, long: bool = False) -> str:
    if step == "week" or long:
        return f"{day.day} {calendar.month_abbr[day.month]}" + (f" {day.year}" if long else "")
    return f"{calendar.month_abbr[day.month]} {day:%y}"


def _r(value: float) -> float:
    return round(value, 1)
