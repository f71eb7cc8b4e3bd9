"""What each message says, composed from the plans and the chase state: reminders, digests, summary.

The engine decides that a lead is reminded or a digest is due; this module turns that decision
and the plans as read into the content values the templates render, with nothing else to look
up: the reply addresses are signed here, days overdue are counted on the partnership's own
calendar day, and each digest is compared with the snapshot the previous one left, so a board
reads what changed since it last met rather than the same list again. Pure: no database, clock
or network; `now` and the previous snapshot are passed in, and the new snapshot is handed back
for the runner to store.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal

from bot.engine import Ask, Chase, RemindLead, State
from bot.notify.content import (
    LEVEL_NAMES,
    ChairSummary,
    CountRow,
    Digest,
    DigestLine,
    Recipient,
    Reminder,
    ReminderLine,
)
from bot.notify.content import Level as LevelWord
from bot.notify.content import Rag as RagWord
from bot.notify.render import excerpt
from bot.notify.tokens import reply_address, sign
from bot.plans.partial_date import PartialDate
from bot.rules import Level
from bot.status import days_overdue
from bot.store import ActionView, PlanView, ProgressView, Reach
from bot.suggested_rag import rag_flags, suggest_rag
from bot.workdays import WorkingCalendar

__all__ = [
    "DIGEST_LEVELS",
    "DigestSnapshot",
    "SnapshotEntry",
    "chases_by_action",
    "compose_chair_summary",
    "compose_digest",
    "compose_reminder",
    "latest_progress",
    "organisation",
    "places",
    "snapshot_key",
]

DigestKind = Literal["operational", "strategic"]

# An action that reached the chair is still the strategic board's business: the chair chairs
# the board, and the board is where the partners answer for it. So the board's digest lists
# both levels, and each line says which one the action is at.
DIGEST_LEVELS: dict[DigestKind, frozenset[Level]] = {
    "operational": frozenset({Level.OPERATIONAL_GROUP}),
    "strategic": frozenset({Level.STRATEGIC_BOARD, Level.CHAIR}),
}
_DIGEST_MESSAGE_KIND: dict[DigestKind, Literal["operational-digest", "strategic-digest"]] = {
    "operational": "operational-digest",
    "strategic": "strategic-digest",
}
_GROUP_LEVEL: dict[DigestKind, Level] = {
    "operational": Level.OPERATIONAL_GROUP,
    "strategic": Level.STRATEGIC_BOARD,
}
_LEVEL_WORD: dict[Level, LevelWord] = {
    Level.LEAD: "lead",
    Level.OPERATIONAL_GROUP: "operational_group",
    Level.STRATEGIC_BOARD: "strategic_board",
    Level.CHAIR: "chair",
}
_LEVEL_IN_WORDS = {
    Level.LEAD: "its lead",
    Level.OPERATIONAL_GROUP: "operational group",
    Level.STRATEGIC_BOARD: "strategic board",
    Level.CHAIR: "chair",
}
_RANK = {level: rank for rank, level in enumerate(Level)}
_RAGS: dict[str, RagWord] = {"red": "red", "amber": "amber", "green": "green"}
_OPEN = ("open", "ongoing")
NO_LEAD = "No lead"
# With no snapshot to compare with, "newly overdue" means overdue by no more than a week.
NEWLY_OVERDUE = timedelta(days=7)
LONGEST_OVERDUE = 10
TITLE_IN_LISTS = 60  # characters of an action's title in "left the list" lines
_NO_IDS: Mapping[str, int] = MappingProxyType({})
_NO_CHASES: Mapping[int, Chase] = MappingProxyType({})


# --- the snapshot a digest leaves for the next one ---------------------------------------------


@dataclass(frozen=True)
class SnapshotEntry:
    """One action as a digest or summary showed it, to tell next time what changed."""

    level: Level
    last_update_iso: str | None
    days_overdue: int | None
    progress_entries: int | None = None  # to count the progress entries recorded since
    label: str | None = None  # "JTAI 3 — Improve data reporting…", in case the action goes


@dataclass(frozen=True)
class DigestSnapshot:
    """What one digest or summary listed, keyed "plan_id/ref"; stored as text by the runner."""

    at: datetime
    actions: Mapping[str, SnapshotEntry] = field(default_factory=dict)

    def to_json(self) -> str:
        # Keys keep the order the digest listed them in, so "left the list" keeps it too.
        return json.dumps(
            {
                "version": 1,
                "at": self.at.isoformat(),
                "actions": {key: asdict(entry) for key, entry in self.actions.items()},
            },
            ensure_ascii=False,
        )

    @classmethod
    def from_json(cls, text: str) -> DigestSnapshot:
        """Raises ValueError saying what is wrong when the stored text is not a snapshot."""
        try:
            data = json.loads(text)
            at = datetime.fromisoformat(data["at"])
            actions = {key: _entry(value) for key, value in data["actions"].items()}
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"not a digest snapshot: {type(exc).__name__}: {exc}") from None
        if at.tzinfo is None:
            raise ValueError(f"not a digest snapshot: 'at' has no time zone: {data['at']!r}")
        return cls(at, actions)


def _entry(value: Mapping[str, Any]) -> SnapshotEntry:
    return SnapshotEntry(
        level=Level(value["level"]),
        last_update_iso=value["last_update_iso"],
        days_overdue=value["days_overdue"],
        progress_entries=value.get("progress_entries"),
        label=value.get("label"),
    )


def snapshot_key(action: ActionView) -> str:
    """Plan and ref, not the database id: a snapshot outlives a database rebuilt from files."""
    return f"{action.plan_id}/{action.ref}"


def chases_by_action(state: State) -> dict[int, Chase]:
    """The `chases` a reminder counts its number from, as the state read them back."""
    return {a.id: a.chase for a in state.actions}


# --- a reminder to one lead ----------------------------------------------------------------------


def compose_reminder(
    decision: RemindLead,
    plans: Mapping[str, PlanView],
    reach: Reach,
    now: datetime,
    *,
    reply_base: str | None,
    secret: bytes,
    outbox_key: str,
    message_token_id: int | None = None,
    person_ids: Mapping[str, int] = _NO_IDS,
    chases: Mapping[int, Chase] = _NO_CHASES,
    update_link: Callable[[int, int], str] | None = None,
    where: Mapping[int, Place] | None = None,
) -> Reminder:
    """One reminder listing every action the decision asks the lead about.

    Actions come in the order of `plans`, then as each plan lists them, so a lead with actions
    in two plans reads each plan's together. Each action gets its own signed reply address
    (action id and the lead's person id, 0 when the lead is not a known person), so a reply
    to it is matched without trusting the subject; the message's Reply-To is signed with
    `message_token_id` (the outbox row) when the runner has one. `update_link(action id,
    person id)` makes each action's web update link (bot/web/update_links.py), for a lead who
    is a known person, when the web app has an address. `where` is `places(plans.values())`,
    for a caller composing many reminders from the same plans to make once.
    """
    _require_aware(now)
    person_id = person_ids.get(decision.lead.key, 0)
    if where is None:
        where = places(plans.values())
    for ask in decision.asks:
        if ask.action_id not in where:
            raise ValueError(
                f"the reminder to {decision.lead.name} asks about action {ask.ref} of plan "
                f"{ask.plan_id}, which is not among the plans given"
            )
    asks = sorted(decision.asks, key=lambda ask: where[ask.action_id][0])
    lines = tuple(
        _reminder_line(ask, *where[ask.action_id][1:], reply_base, secret, person_id, update_link)
        for ask in asks
    )
    chased = [chases.get(ask.action_id, Chase()).reminders_unanswered for ask in asks]
    message_address = None
    if reply_base is not None and message_token_id is not None:
        message_address = reply_address(reply_base, sign(secret, "m", message_token_id))
    return Reminder(
        key=outbox_key,
        recipient=Recipient(reach.name, reach.email, reach.slack_id, reach.on_behalf_of),
        lines=lines,
        reply_address=message_address,
        sent_at=now,
        reminder_number=max(chased, default=0) + 1,
    )


Place = tuple[tuple[int, int], PlanView, ActionView]


def places(plans: Iterable[PlanView]) -> dict[int, Place]:
    """Each action by id, with its place: (plan's position, action's position in the plan)."""
    return {
        action.id: ((p, a), plan, action)
        for p, plan in enumerate(plans)
        for a, action in enumerate(plan.actions)
    }


def _reminder_line(
    ask: Ask,
    plan: PlanView,
    action: ActionView,
    reply_base: str | None,
    secret: bytes,
    person_id: int,
    update_link: Callable[[int, int], str] | None = None,
) -> ReminderLine:
    latest = latest_progress(action)
    text = excerpt(latest.text) if latest else ""
    address = None
    if reply_base is not None:
        address = reply_address(reply_base, sign(secret, "a", action.id, person_id))
    return ReminderLine(
        plan_title=plan.title,
        ref=action.ref,
        title=action.title,
        reason=ask.reason,
        milestone=ask.milestone,
        due=ask.due,
        days_overdue=ask.days_overdue,
        last_update=latest.date if latest else None,
        last_update_text=text or None,
        level=_LEVEL_WORD[ask.level],
        reply_address=address,
        action_id=action.id,
        update_url=update_link(action.id, person_id) if update_link and person_id else None,
    )


def latest_progress(action: ActionView) -> ProgressView | None:
    """The entry speaking of the latest day; of two equally late, the later-listed (the reply
    that came in after the plan's "(October 2018)" says more than the plan did)."""
    latest: ProgressView | None = None
    for entry in action.progress:
        if latest is None or entry.date.last_day() >= latest.date.last_day():
            latest = entry
    return latest


# --- the operational group's and the strategic board's digest ----------------------------------


def compose_digest(
    kind: DigestKind,
    plans: Sequence[PlanView],
    state: State | Mapping[int, Chase],
    now: datetime,
    *,
    recipients: Sequence[Recipient],
    previous: DigestSnapshot | None,
    key: str,
    calendar: WorkingCalendar,
    proposed_dates: Sequence[str] = (),
    set_aside: Sequence[str] = (),
    progress_counts: Mapping[int, int] | None = None,
) -> tuple[Digest, DigestSnapshot]:
    """The open actions escalated to this group, and the snapshot the next digest compares with.

    Lines are grouped by the first lead's organisation and, within one, the most overdue come
    first, since that is the order a meeting takes them in. Each says what changed since the
    previous digest ("new", "moved up", "updated"); with no previous digest nothing is marked,
    because everything being "new" tells a group nothing. Actions the previous digest listed
    and this one does not are listed apart, with the reason when the state tells it.

    `state` may be the chases by action id alone, and `progress_counts` each action's number
    of progress entries when the views carry only the latest (bot/store.py
    `load_for_digests`).
    """
    today = calendar.today(now)
    levels = DIGEST_LEVELS[kind]
    chases = _chases(state)
    rows: list[tuple[DigestLine, str, SnapshotEntry]] = []
    for plan, action, chase in _open_actions(plans, chases):
        if chase.level in levels:
            line = _digest_line(plan, action, chase, today, _change(previous, action, chase))
            entry = _snapshot_entry(plan, action, chase, today, progress_counts)
            rows.append((line, snapshot_key(action), entry))
    rows.sort(key=lambda row: _by_organisation(row[0]))
    snapshot = DigestSnapshot(now, {name: entry for _line, name, entry in rows})
    left = () if previous is None else _left_the_list(previous, snapshot, plans, chases, levels)
    digest = Digest(
        key=key,
        kind=_DIGEST_MESSAGE_KIND[kind],
        group=_group_name(plans, _GROUP_LEVEL[kind]),
        recipients=tuple(recipients),
        lines=tuple(line for line, _name, _entry in rows),
        left_the_list=left,
        proposed_dates=tuple(proposed_dates),
        sent_at=now,
        previous_at=previous.at if previous else None,
        set_aside=tuple(set_aside),
    )
    return digest, snapshot


def _actions(plans: Iterable[PlanView]) -> Iterator[tuple[PlanView, ActionView]]:
    for plan in plans:
        for action in plan.actions:
            yield plan, action


def _open_actions(
    plans: Iterable[PlanView], chases: Mapping[int, Chase]
) -> Iterator[tuple[PlanView, ActionView, Chase]]:
    """Actions still to be done, and where their chasing stands; a complete action is nobody's
    business on the ladder any more, whatever level it was left at."""
    for plan, action in _actions(plans):
        if action.status in _OPEN:
            yield plan, action, chases.get(action.id, Chase())


def _digest_line(
    plan: PlanView, action: ActionView, chase: Chase, today: date, change: str | None = None
) -> DigestLine:
    overdue = days_overdue(action, today)
    rag = _RAGS.get(action.rag or "")
    suggested = suggest_rag(action, today)
    latest = latest_progress(action)
    return DigestLine(
        plan_title=plan.title,
        ref=action.ref,
        title=action.title,
        leads=tuple(dict.fromkeys((lead.name, lead.organisation) for lead in action.leads)),
        organisation=organisation(action),
        due=action.next_due,
        days_overdue=overdue,
        last_update=latest.date if latest else None,
        reminders_unanswered=chase.reminders_unanswered,
        level=_LEVEL_WORD[chase.level],
        level_since=chase.level_since,
        rag=rag,
        rag_set_by=action.rag_set_by if rag else None,
        suggested_rag=suggested,
        flags=rag_flags(rag, suggested, overdue),
        change=change,
    )


def organisation(action: ActionView) -> str:
    """What digests group an action under: its first lead's organisation.

    A lead with no organisation (a group such as a panel) stands for itself, so its actions
    are grouped under its name rather than lost among "No lead".
    """
    if not action.leads:
        return NO_LEAD
    first = action.leads[0]
    return first.organisation or first.name


def _by_organisation(line: DigestLine) -> tuple[str, int]:
    # Lower case, as the templates' groupby sorts, so the groups come out in this order.
    return line.organisation.lower(), -_overdue(line)


def _overdue(line: DigestLine) -> int:
    return line.days_overdue if line.days_overdue is not None else -1


def _change(previous: DigestSnapshot | None, action: ActionView, chase: Chase) -> str | None:
    if previous is None:
        return None
    before = previous.actions.get(snapshot_key(action))
    if before is None:
        return "new"
    if _RANK[chase.level] > _RANK[before.level]:
        return "moved up"
    if _newer(latest_progress(action), before.last_update_iso):
        return "updated"
    return None


def _newer(latest: ProgressView | None, before_iso: str | None) -> bool:
    if latest is None:
        return False
    if before_iso is None:
        return True
    return latest.date.last_day() > PartialDate.parse(before_iso).last_day()


def _snapshot_entry(
    plan: PlanView,
    action: ActionView,
    chase: Chase,
    today: date,
    progress_counts: Mapping[int, int] | None = None,
) -> SnapshotEntry:
    latest = latest_progress(action)
    return SnapshotEntry(
        level=chase.level,
        last_update_iso=latest.date.iso() if latest else None,
        days_overdue=days_overdue(action, today),
        progress_entries=_entries(action, progress_counts),
        label=_label(plan, action),
    )


def _entries(action: ActionView, progress_counts: Mapping[int, int] | None) -> int:
    if progress_counts is None:
        return len(action.progress)
    return progress_counts.get(action.id, 0)


def _chases(state: State | Mapping[int, Chase]) -> Mapping[int, Chase]:
    return chases_by_action(state) if isinstance(state, State) else state


def _label(plan: PlanView, action: ActionView) -> str:
    """How a list names an action in one line: "JTAI 3 — Improve data reporting…"."""
    return f"{_plan_short_name(plan)} {action.ref} — {excerpt(action.title, TITLE_IN_LISTS)}"


def _plan_short_name(plan: PlanView) -> str:
    """ "JTAI" for the "JTAI Response Action Plan"; "Action" when the title has no acronym."""
    first = plan.title.split()[0] if plan.title.split() else ""
    return first if first.isalpha() and first.isupper() and len(first) >= 2 else "Action"


def _left_the_list(
    previous: DigestSnapshot,
    current: DigestSnapshot,
    plans: Sequence[PlanView],
    chases: Mapping[int, Chase],
    levels: frozenset[Level],
) -> tuple[str, ...]:
    found = {snapshot_key(action): (plan, action) for plan, action in _actions(plans)}
    return tuple(
        _why_left(key, entry, found.get(key), chases, levels)
        for key, entry in previous.actions.items()
        if key not in current.actions
    )


def _why_left(
    key: str,
    entry: SnapshotEntry,
    found: tuple[PlanView, ActionView] | None,
    chases: Mapping[int, Chase],
    levels: frozenset[Level],
) -> str:
    """The most telling reason an action is off the list, as far as the state can tell it."""
    if found is None:
        return f"{entry.label or key} — withdrawn or taken out of the plan"
    plan, action = found
    label = _label(plan, action)
    level = chases.get(action.id, Chase()).level
    latest = latest_progress(action)
    if action.status == "withdrawn":
        return f"{label} — withdrawn"
    if action.status == "complete":
        return f"{label} — completed"
    if _RANK[level] > max(_RANK[lv] for lv in levels):
        return f"{label} — moved up to the {_LEVEL_IN_WORDS[level]}"
    if _newer(latest, entry.last_update_iso) and latest is not None:
        return f"{label} — updated {latest.date.human()}"
    if level is Level.LEAD:
        return f"{label} — back with its lead"
    return f"{label} — now with the {_LEVEL_IN_WORDS[level]}"


def _group_name(plans: Sequence[PlanView], level: Level) -> str:
    """The group as the plans name it, when they agree; the ladder's own word otherwise."""
    names = {
        g.resolved.name if g.resolved else g.name
        for plan in plans
        for g in plan.governance
        if g.level == level.value
    }
    return names.pop() if len(names) == 1 else LEVEL_NAMES[level.value]


# --- the chair's weekly summary ----------------------------------------------------------------


def compose_chair_summary(
    plans: Sequence[PlanView],
    state: State | Mapping[int, Chase],
    now: datetime,
    *,
    recipients: Sequence[Recipient],
    previous: DigestSnapshot | None,
    key: str,
    calendar: WorkingCalendar,
    progress_counts: Mapping[int, int] | None = None,
) -> tuple[ChairSummary, DigestSnapshot]:
    """Every open action counted, the worst named, and what moved since last week's summary.

    Each action is counted once, under its first lead's organisation, so the organisations'
    rows add up to the total. The snapshot covers every open action, so next week can tell
    what was completed, moved up the ladder, was updated or became overdue. `state` and
    `progress_counts` as for `compose_digest`.
    """
    today = calendar.today(now)
    chases = _chases(state)
    open_actions = list(_open_actions(plans, chases))
    lines = {
        snapshot_key(action): _digest_line(plan, action, chase, today)
        for plan, action, chase in open_actions
    }
    before = previous.actions if previous else {}
    newly = _most_overdue_first(
        line for k, line in lines.items() if _newly_overdue(line, before.get(k))
    )
    snapshot = DigestSnapshot(
        now,
        {
            snapshot_key(action): _snapshot_entry(plan, action, chase, today, progress_counts)
            for plan, action, chase in open_actions
        },
    )
    summary = ChairSummary(
        key=key,
        recipients=tuple(recipients),
        by_rag=_count("All open actions", lines.values()),
        by_organisation=tuple(
            _count(name, [line for line in lines.values() if line.organisation == name])
            for name in sorted({line.organisation for line in lines.values()}, key=str.lower)
        ),
        newly_overdue=newly,
        longest_overdue=_most_overdue_first(lines.values(), only_overdue=True)[:LONGEST_OVERDUE],
        at_chair=_most_overdue_first(
            line for line in lines.values() if line.level == _LEVEL_WORD[Level.CHAIR]
        ),
        movement=()
        if previous is None
        else _movement(previous, plans, chases, len(newly), progress_counts),
        sent_at=now,
        week_start=today - timedelta(days=today.weekday()),
        unrated_suggested=_count_suggested(line for line in lines.values() if not line.rag),
    )
    return summary, snapshot


def _most_overdue_first(
    lines: Iterable[DigestLine], only_overdue: bool = False
) -> tuple[DigestLine, ...]:
    """Most overdue first; equally overdue actions stay in plan order."""
    chosen = [line for line in lines if not only_overdue or _overdue(line) > 0]
    return tuple(sorted(chosen, key=lambda line: -_overdue(line)))


def _newly_overdue(line: DigestLine, before: SnapshotEntry | None) -> bool:
    """Overdue now and not last time; an action last week's summary did not have (a plan
    imported since, say) counts when it is overdue by a week at most, not by a year."""
    if _overdue(line) <= 0:
        return False
    if before is None:
        return _overdue(line) <= NEWLY_OVERDUE.days
    return before.days_overdue is None or before.days_overdue <= 0


def _count(label: str, lines: Iterable[DigestLine]) -> CountRow:
    """RAG as a person set it (unrated when nobody did), and how many are overdue."""
    listed = list(lines)
    rags = Counter(line.rag or "unrated" for line in listed)
    return CountRow(
        label,
        red=rags["red"],
        amber=rags["amber"],
        green=rags["green"],
        unrated=rags["unrated"],
        overdue=sum(1 for line in listed if _overdue(line) > 0),
    )


def _count_suggested(lines: Iterable[DigestLine]) -> CountRow:
    listed = list(lines)
    rags = Counter(line.suggested_rag or "unrated" for line in listed)
    return CountRow(
        "Not rated, by suggested RAG",
        red=rags["red"],
        amber=rags["amber"],
        green=rags["green"],
        unrated=rags["unrated"],
        overdue=sum(1 for line in listed if _overdue(line) > 0),
    )


def _movement(
    previous: DigestSnapshot,
    plans: Sequence[PlanView],
    chases: Mapping[int, Chase],
    newly_overdue: int,
    progress_counts: Mapping[int, int] | None = None,
) -> tuple[str, ...]:
    """Counted over the actions last week's summary had: a plan imported since is not news."""
    found = {snapshot_key(action): action for _, action in _actions(plans)}
    completed = moved_up = recorded = 0
    for key, entry in previous.actions.items():
        action = found.get(key)
        if action is None:
            continue
        completed += action.status == "complete"
        moved_up += _RANK[chases.get(action.id, Chase()).level] > _RANK[entry.level]
        if entry.progress_entries is not None:
            recorded += max(0, _entries(action, progress_counts) - entry.progress_entries)
    said = (
        (completed, f"{completed} action{_s(completed)} completed"),
        (moved_up, f"{moved_up} moved up the ladder"),
        (recorded, f"{recorded} progress {'entry' if recorded == 1 else 'entries'} recorded"),
        (newly_overdue, f"{newly_overdue} newly overdue"),
    )
    return tuple(words for n, words in said if n)


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
