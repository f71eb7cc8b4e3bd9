"""Deciding who is chased: a pure function of the plans' state, the rules and the time.

`decide(state, rules, now)` says which leads are reminded about which actions, which actions
move up the escalation ladder (or back down, after progress), and which digests are due. It
reads no clock, database or network, so the same inputs always give the same decisions, and a
run can be replayed for any moment. Storing and sending the decisions is the runner's job.

Why the decisions come out idempotent: every rule compares `now` with state the runner stores
after acting (the last reminder, the level and since when, the last digest), so running twice
at the same `now` after storing the first run's decisions decides nothing new, and a run after
a ten-day outage decides one reminder per action, not ten.

No action's decisions depend on another's, so the same deciding also runs over the plans a
chunk at a time (`decide_part` per chunk, then `merge`): a million actions are never held at
once, and `horizon` tells the reader which actions cannot need anything at a moment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import Any, Literal

from bot.rules import Condition, DigestSchedule, InvalidTransition, Level, Rules, latest_fire
from bot.workdays import WorkingCalendar

Reason = Literal["overdue", "due", "due-soon", "period", "quiet"]
DigestKind = Literal["operational", "strategic", "chair"]
DIGEST_KINDS: tuple[DigestKind, ...] = ("operational", "strategic", "chair")
# A digest that was never sent is sent only if its time came within this window, so a new
# installation does not send last Monday's digest on a Wednesday.
FIRST_DIGEST_WINDOW = timedelta(days=1)
# How far back to look for a missed digest when one was sent before.
DIGEST_LOOKBACK = timedelta(days=62)
_STOPPED = ("complete", "withdrawn")


# --- the state the engine reads ---------------------------------------------------------------


# The values the engine reads and decides are slotted: a run at a million actions makes and keeps
# hundreds of thousands of them, and a slotted one is a third the size.
@dataclass(frozen=True, slots=True)
class Lead:
    """Whoever a reminder for a lead reaches: a person, or the contact of a lead group."""

    key: str
    name: str
    away_until: date | None = None  # from an out-of-office reply


@dataclass(frozen=True, slots=True)
class Deadline:
    text: str
    due: date | None
    done: bool = False
    recurrence: str | None = None  # "quarterly" ... for "Quarterly throughout 2017-20"
    start: date | None = None


@dataclass(frozen=True, slots=True)
class Chase:
    """Where the chasing of one action stands, as the runner recorded it."""

    level: Level = Level.LEAD
    level_since: datetime | None = None
    reminders_unanswered: int = 0  # reminders sent since the last progress entry
    last_reminded_at: datetime | None = None
    snoozed_until: date | None = None
    progress_since_level: bool = False  # progress recorded after the action reached its level


@dataclass(frozen=True, slots=True)
class ActionState:
    id: int
    plan_id: str
    ref: str
    title: str
    status: str  # open | ongoing | complete | withdrawn
    leads: tuple[Lead, ...]
    deadlines: tuple[Deadline, ...]
    last_progress: date | None  # the latest day a progress entry speaks of
    quiet_since: date  # last_progress, or when the plan's last update round was
    chase: Chase = Chase()


def field_setters(cls: type) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of a slotted value's fields, in their order, to build many values fast: a
    frozen dataclass's own __init__ sets each field through object.__setattr__, three times
    slower, and a run at 100k actions builds a quarter of a million of them. Whoever builds
    one so (`object.__new__`, then every setter) makes the same value `cls(...)` makes."""
    return tuple(cls.__dict__[f.name].__set__ for f in fields(cls))


@dataclass(frozen=True)
class State:
    actions: tuple[ActionState, ...]
    digests_last_sent: Mapping[str, datetime] = field(default_factory=dict)


# --- the decisions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ask:
    """One action a reminder asks about, and why."""

    action_id: int
    ref: str
    plan_id: str
    reason: Reason
    due: date | None
    milestone: str | None
    days_overdue: int | None
    level: Level


@dataclass(frozen=True, slots=True)
class RemindLead:
    lead: Lead
    asks: tuple[Ask, ...]


@dataclass(frozen=True, slots=True)
class Escalate:
    action_id: int
    ref: str
    plan_id: str
    from_level: Level
    to_level: Level
    because: str  # the conditions that held, in words


@dataclass(frozen=True, slots=True)
class ResetLevel:
    """Progress was recorded on an escalated action: it goes back to its lead."""

    action_id: int
    ref: str
    plan_id: str
    from_level: Level


@dataclass(frozen=True)
class SendDigest:
    kind: DigestKind
    due_at: datetime  # the scheduled moment this digest stands for


@dataclass(frozen=True)
class Decisions:
    reminders: tuple[RemindLead, ...] = ()
    escalations: tuple[Escalate, ...] = ()
    resets: tuple[ResetLevel, ...] = ()
    digests: tuple[SendDigest, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.reminders or self.escalations or self.resets or self.digests)


# --- deciding -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    """Why an action needs an update today, or None when it does not."""

    reason: Reason
    due: date | None
    milestone: str | None
    days_overdue: int | None


# Where an action stands in the plans (plan id, its position there, its id): decisions list
# actions in this order however the actions were read, so reading in chunks changes nothing.
Place = tuple[str, int, int]


def decide(state: State, rules: Rules, now: datetime) -> Decisions:
    return decide_stream(
        [(("", i, a.id), a) for i, a in enumerate(state.actions)],
        state.digests_last_sent,
        rules,
        now,
    )


@dataclass
class Part:
    """What deciding some of the actions gave: all that is kept of them until every action has
    been decided, so the plans can be read and decided a chunk at a time."""

    resets: list[tuple[Place, ResetLevel]] = field(default_factory=list)
    asks: list[tuple[Place, Lead, Ask]] = field(default_factory=list)
    escalations: list[tuple[Place, Escalate]] = field(default_factory=list)


def decide_stream(
    actions: Iterable[tuple[Place, ActionState]],
    digests_last_sent: Mapping[str, datetime],
    rules: Rules,
    now: datetime,
) -> Decisions:
    """`decide` over actions that come one chunk after another (bot/engine_input.py reads them
    so): each is decided alone and dropped, and the same decisions come out as from deciding
    them all at once, in the order of their places."""
    _require_aware(now)
    return merge([decide_part(actions, rules, now)], digests_last_sent, rules, now)


def decide_part(actions: Iterable[tuple[Place, ActionState]], rules: Rules, now: datetime) -> Part:
    """The resets, asks and escalations of these actions; `merge` makes the decisions."""
    _require_aware(now)
    part = Part()
    resets, asks, escalations = part.resets, part.asks, part.escalations
    in_window = rules.working_calendar().in_sending_window(now)
    judges: dict[str, _Judge] = {}  # by plan
    shared: dict[WorkingCalendar, _Judge] = {}  # plans on one calendar share its answers
    for place, action in actions:
        chase = action.chase
        if chase.level is not Level.LEAD and chase.progress_since_level:
            resets.append((place, ResetLevel(action.id, action.ref, action.plan_id, chase.level)))
            # An action brought back to its lead is judged as it stands after that, in this run.
            chase = _back_to_lead(chase, now)
            action = replace(action, chase=chase)
        if not in_window:
            continue
        judge = judges.get(action.plan_id)
        if judge is None:
            calendar = rules.working_calendar(action.plan_id)
            judge = shared.get(calendar) or _Judge(rules, calendar, calendar.today(now))
            judges[action.plan_id] = shared[calendar] = judge
        need = judge.needs_update(action)
        if need is None:
            continue
        today = judge.today
        if chase.snoozed_until is not None and today <= chase.snoozed_until:
            continue
        present = [
            lead for lead in action.leads if lead.away_until is None or today > lead.away_until
        ]
        if action.leads and not present:
            continue
        if present and judge.reminder_due(chase):
            ask = Ask(
                action.id,
                action.ref,
                action.plan_id,
                need.reason,
                need.due,
                need.milestone,
                need.days_overdue,
                chase.level,
            )
            for lead in present:
                asks.append((place, lead, ask))
        step = judge.escalation(action, need)
        if step is not None:
            escalations.append((place, step))
    return part


def merge(
    parts: Iterable[Part], digests_last_sent: Mapping[str, datetime], rules: Rules, now: datetime
) -> Decisions:
    """The decisions of all the parts together: one reminder per lead with every action it is
    asked about, and the digests, decided once."""
    _require_aware(now)
    resets: list[tuple[Place, ResetLevel]] = []
    asks: list[tuple[Place, Lead, Ask]] = []
    escalations: list[tuple[Place, Escalate]] = []
    for part in parts:
        resets += part.resets
        asks += part.asks
        escalations += part.escalations
    by_place = itemgetter(0)
    calendar = rules.working_calendar()
    if not calendar.in_sending_window(now):
        return Decisions(resets=tuple(r for _, r in sorted(resets, key=by_place)))
    asks_by_lead: dict[str, list[Ask]] = {}
    leads: dict[str, Lead] = {}
    for _, lead, ask in sorted(asks, key=by_place):
        leads.setdefault(lead.key, lead)
        asks_by_lead.setdefault(lead.key, []).append(ask)
    reminders = tuple(
        RemindLead(leads[key], tuple(asks)) for key, asks in sorted(asks_by_lead.items())
    )
    return Decisions(
        reminders,
        tuple(e for _, e in sorted(escalations, key=by_place)),
        tuple(r for _, r in sorted(resets, key=by_place)),
        _digests(digests_last_sent, rules, calendar, now),
    )


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")


def needs_update(
    action: ActionState, rules: Rules, calendar: WorkingCalendar, today: date
) -> Need | None:
    """The most pressing reason an action needs an update today (overdue before quiet)."""
    return _Judge(rules, calendar, today).needs_update(action)


class _Judge:
    """The rules applied on one calendar's `today`. A run asks the same questions of the same
    few thousand days for every action ("5 working days before 30 Nov", "6 weeks after 2 Oct",
    "which local day was this reminder sent"), so each answer is worked out once and kept:
    deciding is then mostly comparing dates."""

    def __init__(self, rules: Rules, calendar: WorkingCalendar, today: date) -> None:
        self.rules = rules
        self.rule = rules.update_needed
        self.calendar = calendar
        self.today = today
        self._asked_from: dict[date, date] = {}
        self._period_asked: dict[date, date] = {}
        self._quiet: dict[date, bool] = {}
        self._days: dict[datetime, date] = {}
        self._gaps: dict[tuple[date, int], bool] = {}
        self._steps: dict[Level, Condition] = {}

    def needs_update(self, action: ActionState) -> Need | None:
        if action.status in _STOPPED:
            return None
        rule, today = self.rule, self.today
        last = action.last_progress
        nxt = None  # the first pending deadline due soonest, as min() would pick it
        for d in action.deadlines:
            if not d.done and d.due is not None and not d.recurrence:
                if nxt is None or d.due < nxt.due:  # type: ignore[operator]
                    nxt = d
        if nxt is not None and nxt.due is not None:
            due = nxt.due
            asked_from = self._asked_from.get(due)
            if asked_from is None:
                asked_from = self._asked_from[due] = rule.before_due.before(due, self.calendar)
            if last is None or last < asked_from:
                if today > due:
                    return Need("overdue", due, nxt.text, (today - due).days)
                if today == due and rule.at_due:
                    return Need("due", due, nxt.text, 0)
                if asked_from <= today < due:
                    return Need("due-soon", due, nxt.text, None)
        for d in action.deadlines:
            period = _current_period(d, today) if d.recurrence else None
            if period is not None:
                start, end = period
                asked = self._period_asked.get(end)
                if asked is None:
                    before = rule.recurring_before_period_end
                    asked = self._period_asked[end] = before.before(end, self.calendar)
                if today >= asked and (last is None or last < start):
                    return Need("period", end, d.text, None)
        quiet = self._quiet.get(action.quiet_since)
        if quiet is None:
            quiet = rule.quiet_after.elapsed(action.quiet_since, today, self.calendar)
            self._quiet[action.quiet_since] = quiet
        if quiet:
            overdue = (today - nxt.due).days if nxt and nxt.due and today > nxt.due else None
            return Need("quiet", nxt.due if nxt else None, nxt.text if nxt else None, overdue)
        return None

    def day_of(self, moment: datetime) -> date:
        day = self._days.get(moment)
        if day is None:
            day = self._days[moment] = self.calendar.today(moment)
        return day

    def reminder_due(self, chase: Chase) -> bool:
        reminders = self.rules.reminders
        if chase.reminders_unanswered >= reminders.max_before_escalation:
            return False  # the ladder has it now; the lead hears again after replying
        if chase.last_reminded_at is None:
            return True
        key = (self.day_of(chase.last_reminded_at), max(chase.reminders_unanswered, 1))
        due = self._gaps.get(key)
        if due is None:
            due = self._gaps[key] = reminders.gap(key[1]).elapsed(key[0], self.today, self.calendar)
        return due

    def escalation(self, action: ActionState, need: Need) -> Escalate | None:
        level = action.chase.level
        if level is Level.CHAIR:
            return None
        since = action.chase.level_since
        if since is not None and self.day_of(since) >= self.today:
            return None  # one step a day at most: the ladder is climbed, never jumped
        target = level.above()
        when = self._steps.get(target)
        if when is None:
            when = self._steps[target] = self.rules.escalation.step_to(target).when
        held = _conditions_hold(when, action, need, self.calendar, self.today)
        if held is None:
            return None
        return Escalate(action.id, action.ref, action.plan_id, level, target, held)


_PERIOD_MONTHS = {"monthly": 1, "quarterly": 3, "six-monthly": 6, "annually": 12}


@dataclass(frozen=True)
class Horizon:
    """Bounds outside which no action can need an update at a moment: a reader can leave an
    action in the database unless one of its deadlines or its progress falls within them, or
    it was ever escalated (it may go back to its lead). Wide by design: whatever falls within
    is still judged by `needs_update`. Each bound holds for every plan's calendar."""

    in_window: bool  # outside the sending hours only resets are decided
    today: date
    due_by: date  # a pending deadline after this is not asked about yet
    quiet_by: date  # progress dated after this keeps an action from being quiet
    periods: tuple[str, ...]  # the recurrences whose current period is asked about today


def horizon(rules: Rules, now: datetime) -> Horizon:
    _require_aware(now)
    rule = rules.update_needed
    calendars = {rules.working_calendar(p) for p in (None, *rules.plans)}
    due_by, quiet_by, periods = [], [], set()
    for calendar in calendars:
        today = calendar.today(now)
        # before_due.before(d) and quiet_after.after(d) grow with d: walk to the last day
        due = today
        while rule.before_due.before(due + timedelta(days=1), calendar) <= today:
            due += timedelta(days=1)
        due_by.append(due)
        quiet = today
        while not rule.quiet_after.elapsed(quiet, today, calendar):
            quiet -= timedelta(days=1)
        quiet_by.append(quiet)
        for kind in _PERIOD_MONTHS:
            period = _current_period(Deadline("", None, recurrence=kind), today)
            assert period is not None
            if today >= rule.recurring_before_period_end.before(period[1], calendar):
                periods.add(kind)
    calendar = rules.working_calendar()
    return Horizon(
        calendar.in_sending_window(now),
        calendar.today(now),
        max(due_by),
        max(quiet_by),
        tuple(sorted(periods)),
    )


def _current_period(deadline: Deadline, today: date) -> tuple[date, date] | None:
    """The period of a recurring timescale that `today` falls in, as (first day, last day)."""
    if deadline.recurrence not in _PERIOD_MONTHS or deadline.done:
        return None
    if deadline.start is not None and today < deadline.start:
        return None
    if deadline.due is not None and today > deadline.due:
        return None
    months = _PERIOD_MONTHS[deadline.recurrence]
    first_month = (today.month - 1) // months * months + 1
    start = date(today.year, first_month, 1)
    next_start = date(
        today.year + (first_month + months - 1) // 12, (first_month + months - 1) % 12 + 1, 1
    )
    return start, next_start - timedelta(days=1)


def _conditions_hold(
    when: Condition, action: ActionState, need: Need, calendar: WorkingCalendar, today: date
) -> str | None:
    """Every given condition must hold; returns them in words, or None."""
    said: list[str] = []
    if when.days_overdue is not None:
        if need.days_overdue is None or need.due is None:
            return None
        if not when.days_overdue.elapsed(need.due, today, calendar):
            return None
        said.append(f"{need.days_overdue} days overdue")
    if when.days_quiet is not None:
        if not when.days_quiet.elapsed(action.quiet_since, today, calendar):
            return None
        said.append(f"no progress since {action.quiet_since:%d %b %Y}")
    if when.reminders_unanswered is not None:
        if action.chase.reminders_unanswered < when.reminders_unanswered:
            return None
        said.append(f"{action.chase.reminders_unanswered} reminders unanswered")
    if when.days_at_previous_level is not None and action.chase.level_since is not None:
        since = calendar.today(action.chase.level_since)
        if not when.days_at_previous_level.elapsed(since, today, calendar):
            return None
        said.append(f"at {action.chase.level.value.replace('_', ' ')} since {since:%d %b %Y}")
    return ", ".join(said)


def _digests(
    digests_last_sent: Mapping[str, datetime],
    rules: Rules,
    calendar: WorkingCalendar,
    now: datetime,
) -> tuple[SendDigest, ...]:
    out = []
    for kind in DIGEST_KINDS:
        schedule = getattr(rules.digests, kind)
        last = digests_last_sent.get(kind)
        since = max(last, now - DIGEST_LOOKBACK) if last else now - FIRST_DIGEST_WINDOW
        fire = latest_fire(schedule, calendar, now, since)
        if fire is not None and not _next_one_due_today(schedule, calendar, now, fire):
            out.append(SendDigest(kind, fire))
    return tuple(out)


def _next_one_due_today(
    schedule: DigestSchedule, calendar: WorkingCalendar, now: datetime, fire: datetime
) -> bool:
    """A digest missed on an earlier day (the bot was down) waits for the next one of its kind
    when that is due later today, within the sending hours: one digest, not last week's now
    and today's an hour later. Either way it shows the actions as they stand."""
    today = calendar.today(now)
    if calendar.today(fire) >= today:
        return False
    closing = datetime.combine(today, calendar.end, calendar.zone)
    return closing > now and latest_fire(schedule, calendar, closing, now) is not None


# --- what storing the decisions does to the state ----------------------------------------------


def _back_to_lead(chase: Chase, now: datetime) -> Chase:
    return Chase(
        Level.LEAD,
        now,
        chase.reminders_unanswered,
        chase.last_reminded_at,
        chase.snoozed_until,
        False,
    )


def apply(state: State, decisions: Decisions, now: datetime) -> State:
    """The state after the runner has stored `decisions` made at `now`.

    The runner derives the same state from what it stores (outbox and audit rows); this pure
    version serves the demo's replay and the tests of the engine's promises.
    """
    reminded = {a.action_id for r in decisions.reminders for a in r.asks}
    moved = {e.action_id: e.to_level for e in decisions.escalations}
    reset = {r.action_id for r in decisions.resets}

    def advance(action: ActionState) -> ActionState:
        chase = action.chase
        if action.id in reset:
            chase = _back_to_lead(chase, now)
        if action.id in moved:
            if moved[action.id] is not chase.level.above():
                raise InvalidTransition(chase.level, f"move to {moved[action.id].value}")
            chase = Chase(
                moved[action.id],
                now,
                chase.reminders_unanswered,
                chase.last_reminded_at,
                chase.snoozed_until,
                False,
            )
        if action.id in reminded:
            chase = Chase(
                chase.level,
                chase.level_since,
                chase.reminders_unanswered + 1,
                now,
                chase.snoozed_until,
                chase.progress_since_level,
            )
        return (
            action
            if chase == action.chase
            else ActionState(
                action.id,
                action.plan_id,
                action.ref,
                action.title,
                action.status,
                action.leads,
                action.deadlines,
                action.last_progress,
                action.quiet_since,
                chase,
            )
        )

    sent = dict(state.digests_last_sent)
    for d in decisions.digests:
        sent[d.kind] = now
    return State(tuple(advance(a) for a in state.actions), sent)
