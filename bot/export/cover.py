"""The cover of an exported plan: counts by RAG and organisation, what is overdue or escalated,
and what changed since the plan was last exported.

Each export leaves a snapshot of what it showed in the audit trail (an `export` event whose
detail is the plan's id), and the next export of that plan compares with the latest one made
on or before its own moment, so a board reading this week's copy sees what moved since last
month's. Building the cover is pure (`build_cover`); reading the escalation levels and the
previous snapshot, and storing the new one, are the few functions at the end.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime

from sqlmodel import Session, col, select

from bot import models as m
from bot.chase_state import LEVEL_EVENTS
from bot.compose import organisation
from bot.notify.content import LEVEL_NAMES
from bot.rules import Level
from bot.status import days_overdue
from bot.store import ActionView, PlanView
from bot.suggested_rag import suggest_rag

__all__ = [
    "ActionSnapshot",
    "CountRow",
    "Cover",
    "ExportSnapshot",
    "ListedAction",
    "build_cover",
    "latest_snapshot",
    "levels_on",
    "record_export",
]

log = logging.getLogger(__name__)

RAGS = ("red", "amber", "green")
NO_RAG = "none"
_OPEN = ("open", "ongoing")
_RANK = {level: rank for rank, level in enumerate(Level)}
SNAPSHOT_VERSION = 1


@dataclass(frozen=True)
class CountRow:
    """Actions counted by the RAG shown: the one a person set, else the one suggested."""

    label: str
    actions: int
    rags: Mapping[str, int]  # red, amber, green, none
    suggested: Mapping[str, int]  # how many of those are only suggested
    overdue: int
    escalated: int

    def rag_text(self, rag: str) -> str:
        """ "12", or "12 (10 suggested)" when some of them nobody has rated."""
        n, s = self.rags.get(rag, 0), self.suggested.get(rag, 0)
        return f"{n} ({s} suggested)" if s else str(n)

    def cells(self) -> list[str]:
        """The row as the cover's table shows it, in the documents' column order."""
        return [
            self.label,
            str(self.actions),
            self.rag_text("red"),
            self.rag_text("amber"),
            self.rag_text("green"),
            str(self.rags.get("none", 0)),
            str(self.overdue),
            str(self.escalated),
        ]


@dataclass(frozen=True)
class ListedAction:
    ref: str
    title: str
    leads: str
    due: date | None
    days_overdue: int | None
    level: str  # who holds it: "Lead", "MASH Operational Group", ...
    last_update: str | None  # "Nov 2018"


@dataclass(frozen=True)
class Cover:
    title: str
    plan_id: str
    version: str | None
    day: date  # as of
    made_at: datetime
    rag_definitions: tuple[tuple[str, str], ...]  # (rag, what the plan says it means)
    total: CountRow
    by_organisation: tuple[CountRow, ...]
    overdue: tuple[ListedAction, ...]  # most overdue first
    escalated: tuple[ListedAction, ...]
    changes: tuple[str, ...]
    previous: ExportSnapshot | None

    @property
    def as_of(self) -> str:
        """ "14 January 2019": how every page of the export says which day it shows."""
        return f"{self.day.day} {self.day:%B %Y}"

    @property
    def since(self) -> str:
        """The heading over `changes`."""
        if self.previous is None:
            return "Changes since the last export"
        p = self.previous
        return f"Changes since the export as of {p.day.day} {p.day:%B %Y}"


# --- the snapshot an export leaves ------------------------------------------------------------


@dataclass(frozen=True)
class ActionSnapshot:
    title: str
    rag: str | None
    suggested: str | None
    status: str
    level: str
    progress_entries: int
    last_update: str | None
    days_overdue: int | None


@dataclass(frozen=True)
class ExportSnapshot:
    at: datetime
    day: date
    format: str
    actions: Mapping[str, ActionSnapshot] = field(default_factory=dict)  # by ref, in plan order

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": SNAPSHOT_VERSION,
                "at": self.at.isoformat(),
                "day": self.day.isoformat(),
                "format": self.format,
                "actions": {ref: asdict(a) for ref, a in self.actions.items()},
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> ExportSnapshot:
        """Raises ValueError saying what is wrong when the stored text is not a snapshot."""
        try:
            data = json.loads(text)
            return cls(
                at=datetime.fromisoformat(data["at"]),
                day=date.fromisoformat(data["day"]),
                format=data["format"],
                actions={ref: ActionSnapshot(**a) for ref, a in data["actions"].items()},
            )
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"not an export snapshot: {type(exc).__name__}: {exc}") from None


# --- building the cover (pure) ----------------------------------------------------------------


def build_cover(
    plan: PlanView,
    day: date,
    now: datetime,
    levels: Mapping[int, Level],
    previous: ExportSnapshot | None,
    fmt: str,
) -> tuple[Cover, ExportSnapshot]:
    """The cover of `plan` (already cut to `day`) and the snapshot the next export compares
    with. `levels` gives each escalated action's level on the ladder; absent means its lead."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    level_words = _level_words(plan)
    facts = [_Facts.of(a, day, levels.get(a.id, Level.LEAD)) for a in plan.actions]
    by_org: dict[str, list[_Facts]] = {}
    for f in facts:
        by_org.setdefault(f.organisation, []).append(f)
    snapshot = ExportSnapshot(
        now,
        day,
        fmt,
        {
            f.action.ref: ActionSnapshot(
                title=f.action.title,
                rag=f.rag,
                suggested=f.suggested,
                status=f.action.status,
                level=f.level.value,
                progress_entries=len(f.action.progress),
                last_update=f.last_update,
                days_overdue=f.overdue,
            )
            for f in facts
        },
    )
    overdue = sorted((f for f in facts if f.is_overdue), key=lambda f: -(f.overdue or 0))
    cover = Cover(
        title=plan.title,
        plan_id=plan.id,
        version=plan.version,
        day=day,
        made_at=now,
        rag_definitions=tuple(
            (rag, plan.rag_definitions[rag]) for rag in RAGS if rag in plan.rag_definitions
        ),
        total=_count("All actions", facts),
        by_organisation=tuple(_count(name, by_org[name]) for name in sorted(by_org, key=str.lower)),
        overdue=tuple(f.listed(level_words) for f in overdue),
        escalated=tuple(f.listed(level_words) for f in facts if f.is_escalated),
        changes=_changes(previous, snapshot, level_words),
        previous=previous,
    )
    return cover, snapshot


@dataclass(frozen=True)
class _Facts:
    action: ActionView
    organisation: str
    rag: str | None
    suggested: str | None
    overdue: int | None
    level: Level
    last_update: str | None

    @classmethod
    def of(cls, a: ActionView, day: date, level: Level) -> _Facts:
        last = a.last_update
        return cls(
            a,
            organisation(a),
            a.rag if a.rag in RAGS else None,
            suggest_rag(a, day),
            days_overdue(a, day),
            level,
            last.iso() if last else None,
        )

    @property
    def shown(self) -> str:
        return self.rag or self.suggested or NO_RAG

    @property
    def is_overdue(self) -> bool:
        return self.overdue is not None and self.overdue > 0

    @property
    def is_escalated(self) -> bool:
        return self.action.status in _OPEN and self.level is not Level.LEAD

    def listed(self, level_words: Mapping[str, str]) -> ListedAction:
        a = self.action
        last = a.last_update
        return ListedAction(
            ref=a.ref,
            title=a.title,
            leads=", ".join(dict.fromkeys(lead.name for lead in a.leads)) or "No lead",
            due=a.next_due,
            days_overdue=self.overdue,
            level=level_words[self.level.value],
            last_update=last.human() if last else None,
        )


def _count(label: str, facts: Iterable[_Facts]) -> CountRow:
    listed = list(facts)
    return CountRow(
        label,
        actions=len(listed),
        rags=Counter(f.shown for f in listed),
        suggested=Counter(f.shown for f in listed if f.rag is None and f.suggested),
        overdue=sum(f.is_overdue for f in listed),
        escalated=sum(f.is_escalated for f in listed),
    )


def _level_words(plan: PlanView) -> dict[str, str]:
    """The ladder's rungs as this plan names them ("MASH Operational Group")."""
    words = dict(LEVEL_NAMES)
    for g in plan.governance:
        words[g.level] = g.resolved.name if g.resolved else g.name
    return words


def _changes(
    previous: ExportSnapshot | None, now: ExportSnapshot, level_words: Mapping[str, str]
) -> tuple[str, ...]:
    """What moved since the previous export, a line per kind of change, refs in plan order."""
    if previous is None:
        return ("This is the first export of the plan: there is nothing to compare with.",)
    before, after = previous.actions, now.actions
    lines: list[str] = []

    def say(words: str, refs: list[str]) -> None:
        if refs:
            lines.append(f"{words}: {', '.join(refs)}")

    kept = [ref for ref in after if ref in before]
    say("New actions", [ref for ref in after if ref not in before])
    say("No longer in the plan", [ref for ref in before if ref not in after])
    recorded = {ref: after[ref].progress_entries - before[ref].progress_entries for ref in kept}
    more = {ref: n for ref, n in recorded.items() if n > 0}
    if more:
        total = sum(more.values())
        lines.append(
            f"{total} progress {'entry' if total == 1 else 'entries'} recorded: "
            + ", ".join(f"{ref} ({n})" if n > 1 else ref for ref, n in more.items())
        )
    say(
        "Completed",
        [r for r in kept if after[r].status == "complete" and before[r].status != "complete"],
    )
    say(
        "Newly overdue",
        [
            f"{r} ({after[r].days_overdue} days)"
            for r in kept
            if (after[r].days_overdue or 0) > 0 and not (before[r].days_overdue or 0) > 0
        ],
    )
    say(
        "No longer overdue",
        [r for r in kept if (before[r].days_overdue or 0) > 0 and not after[r].days_overdue],
    )
    say(
        "RAG changed",
        [
            f"{r} {before[r].rag or 'not set'} → {after[r].rag or 'not set'}"
            for r in kept
            if before[r].rag != after[r].rag
        ],
    )
    say(
        "Suggested RAG changed (not rated)",
        [
            f"{r} {before[r].suggested or 'none'} → {after[r].suggested or 'none'}"
            for r in kept
            if after[r].rag is None and before[r].suggested != after[r].suggested
        ],
    )

    def held_by(r: str) -> str:
        level = after[r].level
        return "its lead" if level == Level.LEAD.value else f"the {level_words[level]}"

    def rank(snapshot: ActionSnapshot) -> int:
        return _RANK[Level(snapshot.level)]

    say(
        "Moved up the ladder",
        [f"{r} (now with {held_by(r)})" for r in kept if rank(after[r]) > rank(before[r])],
    )
    say(
        "Back down the ladder",
        [f"{r} (now with {held_by(r)})" for r in kept if rank(after[r]) < rank(before[r])],
    )
    return tuple(lines) or ("Nothing has changed.",)


# --- reading and storing (the runner's part) ---------------------------------------------------


def levels_on(session: Session, moment: datetime) -> dict[int, Level]:
    """Each action's level on the ladder at `moment`, read as bot/chase_state.py reads it (the
    latest escalated or reset event), leaving out events after it so --as-of shows the past."""
    query = (
        select(m.AuditEvent)
        .where(col(m.AuditEvent.action_id).is_not(None), col(m.AuditEvent.kind).in_(LEVEL_EVENTS))
        .order_by(col(m.AuditEvent.at), col(m.AuditEvent.id))
    )
    levels: dict[int, Level] = {}
    for event in session.exec(query):
        if event.level and _aware(event.at) <= moment:
            levels[event.action_id] = Level(event.level)  # type: ignore[index]
    return levels


def latest_snapshot(session: Session, plan_id: str, moment: datetime) -> ExportSnapshot | None:
    """The snapshot of the plan's latest export made on or before `moment`."""
    query = (
        select(m.AuditEvent)
        .where(m.AuditEvent.kind == "export", m.AuditEvent.detail == plan_id)
        .order_by(col(m.AuditEvent.at).desc(), col(m.AuditEvent.id).desc())
    )
    for event in session.exec(query):
        if _aware(event.at) > moment or not event.data:
            continue
        try:
            return ExportSnapshot.from_json(event.data)
        except ValueError as exc:
            log.warning("export event %s of plan %s is unreadable: %s", event.id, plan_id, exc)
    return None


def record_export(session: Session, plan_id: str, snapshot: ExportSnapshot, file: str) -> None:
    """The audit row the next export compares with; the caller commits."""
    session.add(
        m.AuditEvent(
            at=snapshot.at,
            kind="export",
            plan_id=plan_id,
            detail=plan_id,
            data=json.dumps({**json.loads(snapshot.to_json()), "file": file}, ensure_ascii=False),
        )
    )


def _aware(moment: datetime) -> datetime:
    """SQLite hands datetimes back without their zone; they were stored in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
