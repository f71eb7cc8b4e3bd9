"""What each message says, as plain values: the one input of every template and transport.

The engine decides who is told what; these values carry it to rendering (Jinja2 e-mail parts,
Slack blocks) so that e-mail and Slack say the same thing and a template can be rendered in a
test from sample values alone. Text in here is user text (action titles, progress, names): it
is escaped by whoever renders it, never here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

from bot.plans.partial_date import PartialDate

Kind = Literal[
    "reminder",
    "operational-digest",
    "strategic-digest",
    "chair-summary",
    "confirmation",
    "question",
    "sign-in",
]
Level = Literal["lead", "operational_group", "strategic_board", "chair"]
Reason = Literal["due-soon", "due", "overdue", "quiet", "period"]
Rag = Literal["red", "amber", "green"]

LEVEL_NAMES: dict[str, str] = {
    "lead": "Lead",
    "operational_group": "MASH Operational Group",
    "strategic_board": "MASH Strategic Board",
    "chair": "Chair",
}


@dataclass(frozen=True)
class Recipient:
    name: str
    email: str | None = None
    slack_id: str | None = None  # when known; otherwise Slack finds the user by e-mail
    on_behalf_of: str | None = None  # a group this person is the contact for


@dataclass(frozen=True)
class ReminderLine:
    """One action in a reminder: what a lead needs to see to answer without opening the plan."""

    plan_title: str
    ref: str
    title: str
    reason: Reason
    milestone: str | None  # the step that is due, as the plan words it
    due: date | None
    days_overdue: int | None
    last_update: PartialDate | None
    last_update_text: str | None  # the start of the latest progress entry, for context
    level: Level  # where the action stands on the escalation ladder
    reply_address: str | None  # per-action signed address: updates+TOKEN@…
    action_id: int = 0
    update_url: str | None = None  # the signed, expiring web page for an update (WEB_BASE_URL)


@dataclass(frozen=True)
class Reminder:
    """One message to one lead listing all their actions that need an update."""

    key: str  # unique outbox key, also the basis of the Message-ID
    recipient: Recipient
    lines: tuple[ReminderLine, ...]
    reply_address: str | None  # signed address for the whole message (Reply-To)
    sent_at: datetime
    reminder_number: int = 1  # how many reminders the lead has had for the most chased action


@dataclass(frozen=True)
class DigestLine:
    """One escalated action in a group's digest."""

    plan_title: str
    ref: str
    title: str
    leads: tuple[tuple[str, str | None], ...]  # (name, organisation)
    organisation: str  # what the digest groups by: the first lead's organisation
    due: date | None
    days_overdue: int | None
    last_update: PartialDate | None
    reminders_unanswered: int
    level: Level
    level_since: datetime | None
    rag: Rag | None
    rag_set_by: str | None
    suggested_rag: Rag | None
    flags: tuple[str, ...] = ()  # e.g. "Green but overdue"
    change: str | None = None  # since the last digest: "new", "moved up", "updated" …


@dataclass(frozen=True)
class Digest:
    """The operational group's or the strategic board's escalation digest."""

    key: str
    kind: Kind  # "operational-digest" | "strategic-digest"
    group: str  # "MASH Operational Group"
    recipients: tuple[Recipient, ...]
    lines: tuple[DigestLine, ...]
    left_the_list: tuple[str, ...]  # "JTAI 3 — updated 12 Jan 2019", since the last digest
    proposed_dates: tuple[str, ...]  # date changes asked for by leads, for agreement
    sent_at: datetime
    previous_at: datetime | None = None
    # replies that changed nothing and someone should look at: quarantined, bounced
    set_aside: tuple[str, ...] = ()


@dataclass(frozen=True)
class CountRow:
    label: str  # an organisation, or a RAG colour
    red: int = 0
    amber: int = 0
    green: int = 0
    unrated: int = 0
    overdue: int = 0


@dataclass(frozen=True)
class ChairSummary:
    """The chair's weekly overdue summary."""

    key: str
    recipients: tuple[Recipient, ...]
    by_rag: CountRow  # totals over every open action
    by_organisation: tuple[CountRow, ...]
    newly_overdue: tuple[DigestLine, ...]  # became overdue in the last week
    longest_overdue: tuple[DigestLine, ...]  # the ten that are most overdue
    at_chair: tuple[DigestLine, ...]  # what reached the chair
    movement: tuple[str, ...] = field(default=())  # "3 actions completed", "2 moved up"
    sent_at: datetime | None = None
    week_start: date | None = None
    # the unrated ones, by the RAG the plan's definitions suggest: most actions carry no RAG a
    # person set, and "64 not rated" alone tells the chair nothing
    unrated_suggested: CountRow | None = None


@dataclass(frozen=True)
class RecordedLine:
    """One progress entry made from a lead's reply, shown back so they can check it."""

    plan_title: str
    ref: str
    title: str
    dated: date
    text: str
    rag: Rag | None
    completed: bool
    proposed: PartialDate | None  # a new date asked for: goes to the operational group
    reply_address: str | None  # where to write to correct it


@dataclass(frozen=True)
class Confirmation:
    """The answer to a lead's reply, in its thread: what was recorded, on which action."""

    key: str
    recipient: Recipient
    lines: tuple[RecordedLine, ...]
    in_reply_to_subject: str
    sent_at: datetime


@dataclass(frozen=True)
class QuestionLine:
    plan_title: str
    ref: str
    title: str
    reply_address: str | None  # writing here answers about this action only


@dataclass(frozen=True)
class Question:
    """A reply to a reminder about several actions that did not say which one it was about:
    asked back rather than guessed."""

    key: str
    recipient: Recipient
    lines: tuple[QuestionLine, ...]
    in_reply_to_subject: str
    sent_at: datetime


@dataclass(frozen=True)
class SignIn:
    """A sign-in link for the web app, asked for on its sign-in page: it works once, soon."""

    key: str
    recipient: Recipient
    url: str
    minutes: int  # how long it works for
    sent_at: datetime
