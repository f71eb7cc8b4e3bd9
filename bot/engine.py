"""Deciding who is chased: a pure function of the plans' state, the rules and the time.

`decide(state, rules, now)` says which leads are reminded about which actions, which actions
move up the escalation ladder (or back down, after progress), and which digests are due. It
reads no clock, database or network, so the same inputs always give the same decisions, and a
run can be replayed for any moment. Storing and sending the decisions is the runner's job.

Why the decisions come out idempotent: every rule compares `now` with state the runner stores
after acting (the last reminder, the level and since when, the last digest), so running twice
at the same `now` after storing the first run's decisions decides nothing new, and a run after
a ten-day outage decides one reminder per action, not ten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

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


@dataclass(frozen=True)
class Lead:
    """Whoever a reminder for a lead reaches: a person, or the contact of a lead group."""

    key: str
    name: str
    away_until: date | None = None  # from an out-of-office reply


@dataclass(frozen=True)
class Deadline:
    text: str
    due: date | None
    done: bool = False
    recurrence: str | None = None  # "quarterly" ... for "Quarterly throughout 2017-20"
    start: date | None = None


@dataclass(frozen=True)
class Chase:
    """Where the chasing of one action stands, as the runner recorded it."""

    level: Level = Level.LEAD
    level_since: datetime | None = None
    reminders_unanswered: int = 0  # reminders sent since the last progress entry
    last_reminded_at: datetime | None = None
    snoozed_until: date | None = None
    progress_since_level: bool = False  # progress recorded after the action reached its level


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class State:
    actions: tuple[ActionState, ...]
    digests_last_sent: Mapping[str, datetime] = field(default_factory=dict)


# --- the decisions ------------------------------------------------------------------------------


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class RemindLead:
    lead: Lead
    asks: tuple[Ask, ...]


@dataclass(frozen=True)
class Escalate:
    action_id: int
    ref: str
    plan_id: str
    from_level: Level
    to_level: Level
    because: str  # the conditions that held, in words


@dataclass(frozen=True)
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


def decide(state: State, rules: Rules, now: datetime) -> Decisions:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    calendar = rules.working_calendar()
    resets = tuple(
        ResetLevel(a.id, a.ref, a.plan_id, a.chase.level)
        for a in state.actions
        if a.chase.level is not Level.LEAD and a.chase.progress_since_level
    )
    if not calendar.in_sending_window(now):
        return Decisions(resets=resets)
    # An action brought back to its lead is judged as it stands after that, in this same run.
    actions = apply(State(state.actions), Decisions(resets=resets), now).actions

    asks_by_lead: dict[str, list[Ask]] = {}
    leads: dict[str, Lead] = {}
    escalations: list[Escalate] = []
    for action in actions:
        plan_calendar = rules.working_calendar(action.plan_id)
        today = plan_calendar.today(now)
        need = needs_update(action, rules, plan_calendar, today)
        if need is None or not _chaseable(action, today):
            continue
        ask = Ask(
            action.id,
            action.ref,
            action.plan_id,
            need.reason,
            need.due,
            need.milestone,
            need.days_overdue,
            action.chase.level,
        )
        if _reminder_due(action, rules, plan_calendar, now):
            for lead in _present(action.leads, today):
                leads.setdefault(lead.key, lead)
                asks_by_lead.setdefault(lead.key, []).append(ask)
        step = _escalation(action, need, rules, plan_calendar, now)
        if step is not None:
            escalations.append(step)

    reminders = tuple(
        RemindLead(leads[key], tuple(asks)) for key, asks in sorted(asks_by_lead.items())
    )
    return Decisions(reminders, tuple(escalations), resets, _digests(state, rules, calendar, now))


def needs_update(
    action: ActionState, rules: Rules, calendar: WorkingCalendar, today: date
) -> Need | None:
    """The most pressing reason an action needs an update today (overdue before quiet)."""
    if action.status in _STOPPED:
        return None
    rule = rules.update_needed
    last = action.last_progress
    pending = [d for d in action.deadlines if not d.done and d.due is not None and not d.recurrence]
    nxt = min(pending, key=lambda d: d.due) if pending else None  # type: ignore[arg-type, return-value]
    if nxt is not None and nxt.due is not None:
        asked_from = rule.before_due.before(nxt.due, calendar)
        unanswered = last is None or last < asked_from
        if today > nxt.due and unanswered:
            return Need("overdue", nxt.due, nxt.text, (today - nxt.due).days)
        if today == nxt.due and unanswered and rule.at_due:
            return Need("due", nxt.due, nxt.text, 0)
        if asked_from <= today < nxt.due and unanswered:
            return Need("due-soon", nxt.due, nxt.text, None)
    for d in action.deadlines:
        period = _current_period(d, today)
        if period is not None:
            start, end = period
            if today >= rule.recurring_before_period_end.before(end, calendar) and (
                last is None or last < start
            ):
                return Need("period", end, d.text, None)
    if rule.quiet_after.elapsed(action.quiet_since, today, calendar):
        overdue = (today - nxt.due).days if nxt and nxt.due and today > nxt.due else None
        return Need("quiet", nxt.due if nxt else None, nxt.text if nxt else None, overdue)
    return None


_PERIOD_MONTHS = {"monthly": 1, "quarterly": 3, "six-monthly": 6, "annually": 12}


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


def _chaseable(action: ActionState, today: date) -> bool:
    snoozed = action.chase.snoozed_until is not None and today <= action.chase.snoozed_until
    return not snoozed and (not action.leads or bool(_present(action.leads, today)))


def _present(leads: tuple[Lead, ...], today: date) -> list[Lead]:
    return [lead for lead in leads if lead.away_until is None or today > lead.away_until]


def _reminder_due(
    action: ActionState, rules: Rules, calendar: WorkingCalendar, now: datetime
) -> bool:
    chase = action.chase
    if chase.reminders_unanswered >= rules.reminders.max_before_escalation:
        return False  # the ladder has it now; the lead hears again after replying
    if chase.last_reminded_at is None:
        return True
    gap = rules.reminders.gap(max(chase.reminders_unanswered, 1))
    last_day = calendar.today(chase.last_reminded_at)
    return gap.elapsed(last_day, calendar.today(now), calendar)


def _escalation(
    action: ActionState, need: Need, rules: Rules, calendar: WorkingCalendar, now: datetime
) -> Escalate | None:
    level = action.chase.level
    if level is Level.CHAIR:
        return None
    since = action.chase.level_since
    if since is not None and calendar.today(since) >= calendar.today(now):
        return None  # one step a day at most: the ladder is climbed, never jumped
    target = level.above()
    held = _conditions_hold(rules.escalation.step_to(target).when, action, need, calendar, now)
    if held is None:
        return None
    return Escalate(action.id, action.ref, action.plan_id, level, target, held)


def _conditions_hold(
    when: Condition, action: ActionState, need: Need, calendar: WorkingCalendar, now: datetime
) -> str | None:
    """Every given condition must hold; returns them in words, or None."""
    today = calendar.today(now)
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
    state: State, rules: Rules, calendar: WorkingCalendar, now: datetime
) -> tuple[SendDigest, ...]:
    out = []
    for kind in DIGEST_KINDS:
        schedule = getattr(rules.digests, kind)
        last = state.digests_last_sent.get(kind)
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
            chase = Chase(
                Level.LEAD,
                now,
                chase.reminders_unanswered,
                chase.last_reminded_at,
                chase.snoozed_until,
                False,
            )
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
