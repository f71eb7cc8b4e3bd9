"""The database tables: plans, their sections and actions, the people and groups who lead them,
milestones, dated progress entries and each plan's governance chain.

Identity is natural where the plans give one (a plan's id, an action's ref within its plan, a
person's key), so re-importing a plan updates rows instead of duplicating them. Progress entries
carry their source so an import can refresh its own entries and never touch a lead's reply.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Column, DateTime, Index, UniqueConstraint, func, text
from sqlmodel import Field, SQLModel


class Person(SQLModel, table=True):
    """A real person; every spelling of their name in any plan resolves to this one row."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)  # stable slug, e.g. "tracey-anstis"
    name: str
    organisation: str | None = None
    role: str | None = None
    email: str | None = None
    slack_id: str | None = Field(default=None, index=True)  # who a Slack reply is from
    listed: bool = True  # False: created by an import for a lead people.yaml does not know
    away_until: date | None = None  # from an out-of-office reply: not reminded until after
    # from a bounce: mail to `email` fails, and why; cleared when people.yaml changes the address
    email_failing: str | None = None
    email_failing_since: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


# bounces and out-of-office replies name a person by address, in whatever case the mail has it
Index("ix_person_email_lower", func.lower(Person.email))


class Delegate(SQLModel, table=True):
    """Someone people.yaml lets answer for a person (a deputy, a business support officer):
    their replies are accepted on that person's actions."""

    __table_args__ = (UniqueConstraint("person_id", "delegate_id"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    delegate_id: int = Field(foreign_key="person.id")


class LeadGroup(SQLModel, table=True):
    """A group that acts as a lead ("Policy and Procedures Sub Group") or a governance body;
    it is chased through its contact person."""

    __tablename__ = "lead_group"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True, index=True)
    name: str
    organisation: str | None = None
    email: str | None = None
    contact_person_id: int | None = Field(default=None, foreign_key="person.id")
    listed: bool = True


class GroupMember(SQLModel, table=True):
    __tablename__ = "group_member"
    __table_args__ = (UniqueConstraint("group_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    group_id: int = Field(foreign_key="lead_group.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    role: str | None = None


class NameVariant(SQLModel, table=True):
    """Every way a person or group is written in the plans, normalised, pointing at one row."""

    __tablename__ = "name_variant"
    __table_args__ = (
        CheckConstraint("(person_id IS NULL) <> (group_id IS NULL)", name="variant_one_target"),
    )

    id: int | None = Field(default=None, primary_key=True)
    normalised: str = Field(unique=True, index=True)
    written: str
    person_id: int | None = Field(default=None, foreign_key="person.id")
    group_id: int | None = Field(default=None, foreign_key="lead_group.id")


class Plan(SQLModel, table=True):
    id: str = Field(primary_key=True)  # slug, e.g. "jtai-2018"
    title: str
    version: str | None = None
    as_of: str | None = None  # the plan version's date, "2018-11"
    source: str | None = None
    layout: str | None = None
    rag_definitions: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON))
    notes: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    imported_from: str | None = None
    imported_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class GovernanceLevel(SQLModel, table=True):
    """One rung of a plan's escalation ladder above the leads."""

    __tablename__ = "governance_level"
    __table_args__ = (UniqueConstraint("plan_id", "level"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: str = Field(foreign_key="plan.id", index=True)
    level: str  # "operational_group" | "strategic_board" | "chair"
    name: str  # as written in the plan file
    person_id: int | None = Field(default=None, foreign_key="person.id")
    group_id: int | None = Field(default=None, foreign_key="lead_group.id")


class Section(SQLModel, table=True):
    """A priority objective or an improvement area within one."""

    __table_args__ = (UniqueConstraint("plan_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: str = Field(foreign_key="plan.id", index=True)
    parent_id: int | None = Field(default=None, foreign_key="section.id")
    number: str
    kind: str  # "objective" | "area"
    title: str
    position: int


class Action(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("plan_id", "ref"),
        Index("ix_action_status_due", "status", "due"),
    )

    id: int | None = Field(default=None, primary_key=True)
    plan_id: str = Field(foreign_key="plan.id", index=True)
    section_id: int | None = Field(default=None, foreign_key="section.id")
    ref: str
    position: int
    title: str
    area_for_improvement: str | None = None
    key_risk: str | None = None
    text: str
    timescale: str | None = None  # as written
    timescale_kind: str = "undated"  # dated | range | recurring | ongoing | undated
    due: date | None = None  # the final deadline
    status: str = "open"  # open | complete | ongoing | withdrawn
    rag: str | None = None
    rag_set_by: str | None = None
    rag_set_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    notes: list[str] = Field(default_factory=list, sa_column=Column(JSON))


class ActionLead(SQLModel, table=True):
    """A lead of an action as the plan wrote it, and who that resolved to."""

    __tablename__ = "action_lead"
    __table_args__ = (
        CheckConstraint("(person_id IS NULL) <> (group_id IS NULL)", name="lead_one_target"),
    )

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="action.id", index=True)
    position: int
    written: str
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    group_id: int | None = Field(default=None, foreign_key="lead_group.id", index=True)


class Milestone(SQLModel, table=True):
    """One deadline of an action. A timescale with several dates ("July 2017 - Complete;
    July 2018; July 2019") gives one row per date, sharing `position`."""

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="action.id", index=True)
    position: int  # 1-based place in the plan file's milestones
    occurrence: int = 1
    text: str
    timescale: str | None = None
    kind: str = "undated"
    start: date | None = None
    due: date | None = None
    due_precision: str | None = None  # "day" | "month" | "year"
    recurrence: str | None = None  # "quarterly" ... for recurring timescales
    done: bool = False
    depth: int = 0
    lead_written: str | None = None
    lead_person_id: int | None = Field(default=None, foreign_key="person.id")
    lead_group_id: int | None = Field(default=None, foreign_key="lead_group.id")


class ProgressEntry(SQLModel, table=True):
    """A dated update on an action, whatever it came from: the plan, an e-mail, Slack, the CLI."""

    __tablename__ = "progress_entry"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_progress_action_dated", "action_id", "dated"),
    )

    id: int | None = Field(default=None, primary_key=True)
    action_id: int = Field(foreign_key="action.id", index=True)
    milestone_id: int | None = Field(default=None, foreign_key="milestone.id")
    dated: date  # the first day of the period given; see `precision`
    precision: str  # "year" | "month" | "day": as precise as the source was
    text: str
    source: str  # import | email | slack | cli | web
    author: str | None = None
    author_person_id: int | None = Field(default=None, foreign_key="person.id")
    rag: str | None = None
    completed: bool = False
    external_id: str | None = None  # the raw message's id, for de-duplication and audit
    position: int = 0  # order within an import
    recorded_at: datetime = Field(sa_type=DateTime(timezone=True))
    # a new deadline the lead asked for: shown to the operational group for agreement, never
    # applied by itself ("2019-03" as precise as the lead wrote it)
    proposed_due: str | None = None


class AuditEvent(SQLModel, table=True):
    """Every step of the chasing, for the board's questions: who was told what, when, why, by
    which rules. The chase state (level, reminders unanswered, snooze) is read back from it,
    so there is one record of what happened, not a second copy that can disagree."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_action_kind_at", "action_id", "kind", "at"),
        # a reply names the message it answers; these rows say which actions that was about.
        # Partial: most events name no message, and statistics gathered while few did would
        # otherwise talk SQLite's planner out of using the index.
        Index(
            "ix_audit_outbox",
            "outbox_id",
            sqlite_where=text("outbox_id IS NOT NULL"),
            postgresql_where=text("outbox_id IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=DateTime(timezone=True))  # the moment decided for
    kind: str  # reminded | escalated | reset | snoozed | digest | sent | failed | ...
    action_id: int | None = Field(default=None, foreign_key="action.id")
    plan_id: str | None = None
    person_key: str | None = None  # whom it concerned: the lead reminded, the recipient
    level: str | None = None  # the escalation level after the event
    detail: str | None = None  # in words: "15 days overdue, 2 reminders unanswered"
    until: date | None = None  # snoozed/away until
    rules_version: str | None = None
    outbox_id: int | None = Field(default=None, foreign_key="outbox.id")
    data: str | None = None  # JSON: e.g. what a digest listed, so the next can say what changed


class Outbox(SQLModel, table=True):
    """A message decided and stored before it is sent: delivery reads from here, so a crash
    between deciding and sending loses nothing, and the unique key stops a second copy."""

    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        # a delivery pass takes the oldest pending rows of a channel (bot/delivery.py _claim)
        Index("ix_outbox_queue", "status", "channel", "id"),
        # a reply without its token is matched by the Message-ID it answers
        Index("ix_outbox_message_id", "message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)  # e.g. "reminder/kelly-cogger/2018-10-15T09:00"
    kind: str  # reminder, the digests, chair-summary, confirmation, question
    channel: str  # email | slack
    recipient_key: str | None = None
    recipient: str  # an e-mail address or a Slack user/channel id
    subject: str
    payload: str  # the rendered message: RFC 822 text for e-mail, JSON blocks for Slack
    message_id: str | None = None
    created_at: datetime = Field(sa_type=DateTime(timezone=True))  # the moment decided for
    status: str = "pending"  # pending | sending | sent | failed
    claim: str | None = None  # "owner/batch": the process and batch sending it; bot/delivery.py
    claimed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    sent_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    error: str | None = None


class InboundMessage(SQLModel, table=True):
    """Every message that came in and what became of it, whether or not it changed an action:
    the business manager's record of what was quarantined or not understood, and the guard
    that records a message delivered twice only once. Bodies are not kept here."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        UniqueConstraint("channel", "external_id"),
        Index("ix_inbound_outcome_received", "outcome", "received_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str  # email | slack | web
    external_id: str  # the Message-ID; a Slack event or view id; a web form's id
    received_at: datetime = Field(sa_type=DateTime(timezone=True))
    sender: str | None = None  # the From address; a Slack user id
    subject: str | None = None
    # recorded | quarantined | asked | auto-reply | bounce | ignored
    outcome: str
    reason: str | None = None  # in words, for the digest: "the token was altered"
    person_id: int | None = Field(default=None, foreign_key="person.id")
    action_ids: str | None = None  # JSON list of the actions it was recorded on or was about
    in_reply_to: int | None = Field(default=None, foreign_key="outbox.id")


class UsedLink(SQLModel, table=True):
    """A sign-in or update link that has done its one job. The token's hash is kept, never the
    token; the unique key refuses a second use, even by two requests at the same moment. A row
    can be deleted once `expires_at` has passed: the link is refused as expired by then anyway."""

    __tablename__ = "used_link"

    id: int | None = Field(default=None, primary_key=True)
    digest: str = Field(unique=True)  # SHA-256 of the token, hex
    kind: str  # sign-in | update
    email: str | None = None  # whom it was for
    used_at: datetime = Field(sa_type=DateTime(timezone=True))
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))


ALL_TABLES: list[Any] = [
    Person, LeadGroup, GroupMember, NameVariant, Plan, GovernanceLevel, Section, Action,
    ActionLead, Milestone, ProgressEntry, AuditEvent, Outbox, Delegate, InboundMessage, UsedLink,
]  # fmt: skip
