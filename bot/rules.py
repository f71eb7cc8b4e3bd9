"""The escalation rules (`rules/*.yaml`), loaded and checked into frozen values.

The rules are the partnership's policy, edited by a business manager: when a lead is reminded,
how often, when an action moves up to the operational group, the strategic board and the chair,
and when digests go out. A mistake is reported at load time with the file, line and key and
what was expected ("rules/escalation.yaml, line 12: reminders.repeat_every[1]: expected a
duration like '7 days' or '5 working days', got 'weekly-ish'"), never in the middle of a run.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from bot.workdays import WEEKDAYS, BankHolidays, WorkingCalendar, weekday_numbers
from bot.yamlfile import InputFileError, Problem, parse_model, read_text


class Level(StrEnum):
    """The escalation ladder; the values are the words used in rules files."""

    LEAD = "lead"
    OPERATIONAL_GROUP = "operational_group"
    STRATEGIC_BOARD = "strategic_board"
    CHAIR = "chair"

    def above(self) -> Level:
        """The next level up; the chair is the top and has none."""
        up = _ABOVE.get(self)
        if up is None:
            raise InvalidTransition(self, "escalate")
        return up


# each level's next one up, worked out once: every run asks for every escalated action
_ABOVE = dict(zip(Level, list(Level)[1:], strict=False))


class InvalidTransition(Exception):
    def __init__(self, level: Level, event: str):
        super().__init__(f"cannot {event} an action at level {level.value!r}")
        self.level, self.event = level, event


# --- durations ------------------------------------------------------------------------------

_DURATION = re.compile(
    r"^\s*(?P<n>\d+)\s*(?P<working>working\s+)?(?P<unit>day|days|week|weeks)\s*$", re.IGNORECASE
)


LONGEST_DAYS = 3653  # ten years


@dataclass(frozen=True)
class Duration:
    """A span as the rules say it: "7 days", "2 weeks", "5 working days"."""

    days: int
    working: bool = False

    @classmethod
    def parse(cls, value: Any) -> Duration:
        if isinstance(value, Duration):
            return value
        m = _DURATION.match(str(value)) if isinstance(value, (str, int)) else None
        if not m or (m["working"] and m["unit"].lower().startswith("week")):
            raise ValueError(
                f"expected a duration like '7 days', '2 weeks' or '5 working days', got {value!r}"
            )
        n = int(m["n"]) * (7 if m["unit"].lower().startswith("week") else 1)
        if n > LONGEST_DAYS:  # past this, date sums overflow mid-run; no policy needs it
            raise ValueError(f"expected a duration of at most 10 years, got {value!r}")
        return cls(n, bool(m["working"]))

    def before(self, day: date, calendar: WorkingCalendar) -> date:
        if self.working:
            return calendar.add_working_days(day, -self.days)
        return day - timedelta(days=self.days)

    def after(self, day: date, calendar: WorkingCalendar) -> date:
        if self.working:
            return calendar.add_working_days(day, self.days)
        return day + timedelta(days=self.days)

    def elapsed(self, start: date, end: date, calendar: WorkingCalendar) -> bool:
        """Has at least this long passed from `start` to `end`?"""
        return end >= self.after(start, calendar)

    def __str__(self) -> str:
        unit = "working day" if self.working else "day"
        return f"{self.days} {unit}{'' if self.days == 1 else 's'}"


DurationField = Annotated[Duration, BeforeValidator(Duration.parse)]


def _time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)  # YAML reads 08:00 as sexagesimal 480
    if not isinstance(value, str):  # a number past 23:59, yes/no, a list ...
        raise ValueError(f"expected a time like '08:00', got {value!r}")
    try:
        parsed = time.fromisoformat(str(value))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is not None:  # "2018-13" reads as 20:18 at UTC-13
        raise ValueError(f"expected a time like '08:00', got {value!r}")
    return parsed


TimeField = Annotated[time, BeforeValidator(_time)]


# --- the rules model ------------------------------------------------------------------------


class _Rules(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CalendarRules(_Rules):
    timezone: str = "Europe/London"
    working_days: tuple[Literal[WEEKDAYS], ...] = ("mon", "tue", "wed", "thu", "fri")  # type: ignore[valid-type]
    bank_holidays: BankHolidays = "england-and-wales"
    closures: tuple[date, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("expected a time zone like Europe/London") from None
        return value

    @field_validator("working_days", mode="before")
    @classmethod
    def _lower_days(cls, value: Any) -> Any:
        return [str(v).lower()[:3] for v in value] if isinstance(value, list) else value

    @field_validator("working_days")
    @classmethod
    def _some_days(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:  # every date sum would fail mid-run, so say so now
            raise ValueError("give at least one working day, e.g. [mon, tue, wed, thu, fri]")
        return value


class SendingHours(_Rules):
    start: TimeField = time(8, 0)
    end: TimeField = time(18, 0)

    @model_validator(mode="after")
    def _order(self) -> SendingHours:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        return self


class UpdateNeeded(_Rules):
    """When an action needs an update from its lead."""

    before_due: DurationField = Duration(5, working=True)  # ask this long before a deadline
    at_due: bool = True  # ask on the deadline if nothing came since the first ask
    quiet_after: DurationField = Duration(42)  # ask when no progress for this long
    recurring_before_period_end: DurationField = Duration(5, working=True)


class Reminders(_Rules):
    repeat_every: tuple[DurationField, ...] = (Duration(7),)  # gaps; the last one repeats
    max_before_escalation: int = Field(default=3, ge=1)

    @field_validator("repeat_every", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("repeat_every")
    @classmethod
    def _at_least_a_day(cls, value: tuple[Duration, ...]) -> tuple[Duration, ...]:
        if not value or any(d.days < 1 for d in value):
            raise ValueError("give at least one gap, each of at least 1 day")
        return value

    def gap(self, sent: int) -> Duration:
        """The wait after the `sent`-th reminder (1-based)."""
        return self.repeat_every[min(sent, len(self.repeat_every)) - 1]


class Condition(_Rules):
    """All of the given conditions must hold for the step to be taken."""

    days_overdue: DurationField | None = None
    days_quiet: DurationField | None = None
    reminders_unanswered: int | None = Field(default=None, ge=1)
    days_at_previous_level: DurationField | None = None

    @model_validator(mode="after")
    def _something(self) -> Condition:
        if all(v is None for v in self.model_dump().values()):
            raise ValueError(
                "give at least one of days_overdue, days_quiet, reminders_unanswered, "
                "days_at_previous_level"
            )
        return self


class Step(_Rules):
    when: Condition


class Escalation(_Rules):
    """lead → operational_group → strategic_board → chair; a step is never skipped."""

    operational_group: Step = Step(
        when=Condition(reminders_unanswered=2, days_overdue=Duration(14))
    )
    strategic_board: Step = Step(when=Condition(days_at_previous_level=Duration(28)))
    chair: Step = Step(when=Condition(days_at_previous_level=Duration(28)))

    def step_to(self, level: Level) -> Step:
        return getattr(self, level.value)  # type: ignore[no-any-return]


class DigestSchedule(_Rules):
    """When a digest goes out: a crontab line, or a number of working days before a meeting."""

    enabled: bool = True
    cron: str | None = None  # "0 9 * * mon": minute hour day-of-month month day-of-week
    meeting_day: str | None = None  # e.g. "2nd tue" (APScheduler's day expressions)
    meeting_time: TimeField = time(10, 0)
    before_meeting: DurationField = Duration(2, working=True)
    send_at: TimeField = time(9, 0)
    slack_channel: str | None = None

    @model_validator(mode="after")
    def _one_schedule(self) -> DigestSchedule:
        if self.enabled and (self.cron is None) == (self.meeting_day is None):
            raise ValueError("give either cron or meeting_day")
        if self.cron is not None:
            try:
                CronTrigger.from_crontab(self.cron)
            except ValueError as exc:
                raise ValueError(f"cron: {exc} (e.g. '0 9 * * mon')") from None
        if self.meeting_day is not None:
            try:
                CronTrigger(day=self.meeting_day)
            except ValueError as exc:
                raise ValueError(f"meeting_day: {exc} (e.g. '2nd tue', 'last fri')") from None
        return self


class Digests(_Rules):
    operational: DigestSchedule = DigestSchedule(cron="0 9 * * mon")
    strategic: DigestSchedule = DigestSchedule(meeting_day="1st wed")
    chair: DigestSchedule = DigestSchedule(cron="0 8 * * mon")


class PlanRules(_Rules):
    """What one plan does differently, e.g. a plan for a Scottish partnership."""

    bank_holidays: BankHolidays | None = None


class Rules(_Rules):
    version: Literal[1] = 1
    calendar: CalendarRules = CalendarRules()
    sending_hours: SendingHours = SendingHours()
    update_needed: UpdateNeeded = UpdateNeeded()
    reminders: Reminders = Reminders()
    escalation: Escalation = Escalation()
    digests: Digests = Digests()
    plans: dict[str, PlanRules] = {}

    def working_calendar(self, plan_id: str | None = None) -> WorkingCalendar:
        bank = self.calendar.bank_holidays
        if plan_id is not None and plan_id in self.plans and self.plans[plan_id].bank_holidays:
            bank = self.plans[plan_id].bank_holidays or bank
        return _shared(
            WorkingCalendar(
                timezone=self.calendar.timezone,
                working_days=weekday_numbers(self.calendar.working_days),
                bank_holidays=bank,
                closures=frozenset(self.calendar.closures),
                start=self.sending_hours.start,
                end=self.sending_hours.end,
            )
        )


@lru_cache(maxsize=64)
def _shared(calendar: WorkingCalendar) -> WorkingCalendar:
    """One instance per distinct calendar, so the working days it has worked out (its memo of
    "N working days before") serve every action and every run under the same rules."""
    return calendar


@dataclass(frozen=True)
class LoadedRules:
    """Rules with where they came from and a version, recorded on every decision they make."""

    rules: Rules
    source: str
    version: str  # a short hash of the file's bytes


def parse_rules(text: str, file: str = "rules.yaml") -> LoadedRules:
    rules, _data, _located = parse_model(text, file, Rules, item_key="", ident="")
    return LoadedRules(rules, file, hashlib.sha256(text.encode()).hexdigest()[:12])


def load_rules(path: str | Path) -> LoadedRules:
    """Reads one rules file, or the single `*.yaml` in a rules folder."""
    path = Path(path)
    if not path.exists():
        raise InputFileError(
            [
                Problem(
                    str(path),
                    None,
                    None,
                    None,
                    f"no rules file or folder here (looked in {path.resolve()}); run actionbot "
                    "from its folder, where rules/ is, or set ACTIONBOT_RULES to the rules file",
                )
            ]
        )
    if path.is_dir():
        files = sorted(path.glob("*.yaml"))
        if len(files) != 1:
            names = ", ".join(f.name for f in files) or "none"
            raise InputFileError(
                [
                    Problem(
                        str(path),
                        None,
                        None,
                        None,
                        f"expected exactly one rules file (*.yaml) in the folder, found {names}",
                    )
                ]
            )
        path = files[0]
    return parse_rules(read_text(path), str(path))


# --- digest schedules -----------------------------------------------------------------------


def latest_fire(
    schedule: DigestSchedule, calendar: WorkingCalendar, now: datetime, since: datetime
) -> datetime | None:
    """The latest moment in (since, now] at which this digest was due, if any.

    Pure: computed from the schedule, not remembered, so a scheduler that was down for ten
    days sends one digest when it comes back, not ten.
    """
    if not schedule.enabled:
        return None
    zone = calendar.zone
    found: datetime | None = None
    for fire in _fires(schedule, calendar, since, now):
        if since < fire <= now:
            found = fire
    return found.astimezone(zone) if found else None


def _fires(
    schedule: DigestSchedule, calendar: WorkingCalendar, since: datetime, now: datetime
) -> list[datetime]:
    zone = calendar.zone
    if schedule.cron is not None:
        trigger = CronTrigger.from_crontab(schedule.cron, timezone=zone)
        out: list[datetime] = []
        fire = trigger.get_next_fire_time(None, since)
        while fire is not None and fire <= now:
            out.append(fire)
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        return out
    trigger = CronTrigger(
        day=schedule.meeting_day,
        hour=schedule.meeting_time.hour,
        minute=schedule.meeting_time.minute,
        timezone=zone,
    )
    out = []
    # meetings up to a month and a half after `now` can have their digest due before `now`
    horizon = now + timedelta(days=45)
    meeting = trigger.get_next_fire_time(None, since)
    while meeting is not None and meeting <= horizon:
        day = schedule.before_meeting.before(meeting.date(), calendar)
        out.append(datetime.combine(day, schedule.send_at, zone))
        meeting = trigger.get_next_fire_time(meeting, meeting + timedelta(seconds=1))
    return out


def describe_ladder(rules: Rules) -> Mapping[Level, Condition]:
    return {level: rules.escalation.step_to(level).when for level in list(Level)[1:]}
