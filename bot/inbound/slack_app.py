"""Slack replies in: the Add update button and its form, and replies in a reminder's thread,
each checked against the action's leads and recorded as a progress entry like an e-mail reply.

`build_app` wires a slack-bolt App; bot/inbound/slack_serve.py runs it in Socket Mode or over
HTTP. What is trusted:
- an HTTP request only with a valid signature at most 5 minutes old, checked against the
  injected clock before anything else runs (Socket Mode requests come over the connection the
  app token opened and carry none);
- the form's `private_metadata` names the action, nothing more: who may answer is decided again
  on submission, from the Slack user (Person.slack_id, else their profile's e-mail through
  users.info) against `answerers` — the action's lead or a delegate;
- a thread reply is about the actions of the reminder whose Slack message starts the thread
  (the outbox row's `message_id` is "channel/ts"), and is recorded only if that is one action.

Each message or form is handled in one transaction; the Slack message's channel/ts (or the
form's view id) is its inbound id, so an event Slack retries records nothing new. Replies to
the lead are sent after the commit. Message text is never logged above DEBUG.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.signature import Clock as SignatureClock
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot import models as m
from bot.db import session
from bot.inbound.record import (
    Answerer,
    Update,
    already_seen,
    answerers,
    log_inbound,
    record_updates,
)
from bot.inbound.sections import split_sections
from bot.inbound.slack_modal import (
    CALLBACK_ID,
    NOT_A_REMINDER,
    TEXT_BLOCK,
    FormAnswer,
    Recorded,
    action_of,
    add_update_view,
    confirmation,
    read_form,
    refusal,
    refusal_plain,
    which_action,
)
from bot.notify.slack import api_error_code, make_client
from bot.notify.slack_blocks import ADD_UPDATE, Block, section
from bot.plans.partial_date import PartialDate
from bot.rules import LoadedRules
from bot.settings import Settings

log = logging.getLogger(__name__)

CHANNEL = "slack"
Clock = Callable[[], datetime]
USER_CACHE = timedelta(hours=1)  # how long a Slack user's profile e-mail is trusted unasked
# Message subtypes that are a person writing: a plain message, one with files, one also sent
# to the channel. Edits, deletions and joins are not replies.
_WRITTEN = (None, "file_share", "thread_broadcast")


def wall_clock() -> datetime:
    return datetime.now(UTC)


# --- checking HTTP requests --------------------------------------------------------------------


class _VerifierClock(SignatureClock):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock().timestamp()


class VerifySignature(Middleware):
    """Bolt's request check with our clock, and without logging the refused body (bolt's own
    logs it at INFO). No signing secret: every HTTP request is refused; Socket Mode passes."""

    def __init__(self, signing_secret: str | None, clock: Clock) -> None:
        self._verifier = (
            SignatureVerifier(signing_secret, clock=_VerifierClock(clock))
            if signing_secret
            else None
        )

    def process(
        self,
        *,
        req: BoltRequest,
        resp: BoltResponse,
        next: Callable[[], BoltResponse],  # noqa: A002 - the name bolt calls it by
    ) -> BoltResponse | None:
        if req.mode == "socket_mode":
            return next()
        timestamp = req.headers.get("x-slack-request-timestamp", ["0"])[0]
        signature = req.headers.get("x-slack-signature", [""])[0]
        try:
            valid = self._verifier is not None and self._verifier.is_valid(
                req.raw_body, timestamp, signature
            )
        except ValueError:  # a timestamp that is not a number
            valid = False
        if valid:
            return next()
        log.info(
            "Slack request refused: %s",
            "no SLACK_SIGNING_SECRET to check it with"
            if self._verifier is None
            else "bad signature, or a timestamp more than 5 minutes off",
        )
        return BoltResponse(status=401, body={"error": "invalid request"})


# --- who is writing --------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackUser:
    id: str
    email: str | None  # lowercased, from the Slack profile; None when Slack did not say
    name: str | None = None

    @property
    def sender(self) -> str:
        """How the inbound log names them: "kelly@example.org (U0KELLY)", or the id alone."""
        return f"{self.email} ({self.id})" if self.email else self.id


class Directory:
    """Slack users' profile e-mails by user id, from users.info, each kept for an hour.

    A failed look-up is not cached: the user is matched by Person.slack_id alone this time.
    Shared by the listener threads, hence the lock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._cache: dict[str, tuple[SlackUser, datetime]] = {}
        self._lock = threading.Lock()

    def get(self, client: WebClient, user_id: str) -> SlackUser:
        now = self._clock()
        with self._lock:
            hit = self._cache.get(user_id)
        if hit is not None and now - hit[1] < USER_CACHE:
            return hit[0]
        try:
            response = client.users_info(user=user_id)
        except SlackApiError as exc:
            log.warning("users.info for %s failed (%s)", user_id, api_error_code(exc))
            return SlackUser(user_id, None)
        found = _slack_user(user_id, response.get("user") or {})
        with self._lock:
            self._cache[user_id] = (found, now)
        return found


def _slack_user(user_id: str, data: Mapping[str, Any]) -> SlackUser:
    profile = data.get("profile") or {}
    email = str(profile.get("email") or "").strip().lower() or None
    name = profile.get("real_name") or data.get("real_name") or data.get("name")
    return SlackUser(user_id, email, str(name) if name else None)


def answerer_for(s: Session, allowed: Mapping[str, Answerer], who: SlackUser) -> Answerer | None:
    """Who `who` is among those allowed to answer for an action, if anyone: by the Slack id
    people.yaml gives them, else by their Slack profile's e-mail."""
    person = s.exec(select(m.Person).where(m.Person.slack_id == who.id)).first()
    if person is not None:
        for answerer in allowed.values():
            if answerer.person_id == person.id:
                return answerer
    return allowed.get(who.email) if who.email else None


# --- what to say back, sent after the commit -------------------------------------------------


@dataclass(frozen=True)
class Say:
    """A message to the Slack user: in a DM (or a thread of it), or seen only by them."""

    text: str
    blocks: list[Block] | None = None
    thread_ts: str | None = None
    ephemeral: bool = False


# --- the app ---------------------------------------------------------------------------------


def build_app(
    engine: Engine,
    settings: Settings,
    loaded_rules: LoadedRules,
    *,
    clock: Clock = wall_clock,
    client: WebClient | None = None,
    executor: Executor | None = None,
) -> App:
    """The Bolt app with actionbot's listeners. `client` defaults to one for SLACK_BOT_TOKEN and
    SLACK_API_URL; `executor` runs listeners after the acknowledgement (bolt's own pool by
    default; a test passes one it can wait on)."""
    if client is None:
        if settings.slack_token is None:
            raise ValueError("Slack replies need SLACK_BOT_TOKEN")
        client = make_client(settings.slack_token, settings.slack_api_url)
    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret or "",
        token_verification_enabled=False,  # auth.test on the first request, not on building
        request_verification_enabled=False,  # VerifySignature instead, with our clock
        before_authorize=VerifySignature(settings.slack_signing_secret, clock),
        listener_executor=executor,
        logger=logging.getLogger("bot.inbound.slack_bolt"),
    )
    listeners = _Listeners(engine, loaded_rules, clock)
    app.action(ADD_UPDATE)(listeners.add_update_pressed)
    app.view_submission(CALLBACK_ID)(listeners.form_submitted)
    app.event("message")(listeners.message)
    return app


class _Listeners:
    def __init__(self, engine: Engine, loaded: LoadedRules, clock: Clock) -> None:
        self.engine = engine
        self.calendar = loaded.rules.working_calendar()
        self.clock = clock
        self.directory = Directory(clock)

    # -- the Add update button --

    def add_update_pressed(self, ack: Any, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user_id = str(body["user"]["id"])
        trigger_id = str(body.get("trigger_id") or "")
        value = str((body.get("actions") or [{}])[0].get("value") or "")
        action_id = int(value) if value.isdigit() else None
        who = self.directory.get(client, user_id)
        now = self.clock()
        view: dict[str, Any] | None = None
        with session(self.engine) as s, s.begin():
            action = s.get(m.Action, action_id) if action_id is not None else None
            if action is None or action.id is None:
                reason, refs = "an Add update button for an action no longer in any plan", []
            else:
                refs = [action.ref]
                allowed = answerers(s, [action.id])[action.id]
                if answerer_for(s, allowed, who) is not None:
                    plan = s.get(m.Plan, action.plan_id)
                    title = plan.title if plan else action.plan_id
                    view = add_update_view(action.id, action.ref, action.title, title, action.due)
                reason = f"{who.sender} is not a lead of {action.ref} or a delegate"
            if view is None:
                log_inbound(
                    s,
                    channel=CHANNEL,
                    external_id=f"button/{trigger_id or now.isoformat()}",
                    received_at=now,
                    outcome="quarantined",
                    sender=who.sender,
                    subject="Add update button",
                    reason=reason,
                    action_ids=[action_id] if refs and action_id is not None else [],
                )
        if view is None:
            log.info("Slack Add update from %s refused: %s", user_id, reason)
            channel = (body.get("channel") or {}).get("id")
            _send(client, user_id, channel, Say(refusal(refs), ephemeral=True))
            return
        try:
            client.views_open(trigger_id=trigger_id, view=view)
        except SlackApiError as exc:  # an expired trigger (3 s), say: the lead presses again
            log.warning("Slack form for %s not opened (%s)", user_id, api_error_code(exc))

    # -- the form coming back --

    def form_submitted(self, ack: Any, body: dict[str, Any], client: WebClient) -> None:
        view = body["view"]
        user_id = str(body["user"]["id"])
        view_id = str(view.get("id") or "")
        now = self.clock()
        answer = read_form((view.get("state") or {}).get("values") or {}, self.calendar.today(now))
        if isinstance(answer, dict):
            ack(response_action="errors", errors=answer)
            return
        who = self.directory.get(client, user_id)
        action_id = action_of(view.get("private_metadata"))
        try:
            with session(self.engine) as s, s.begin():
                outcome = self._record_form(s, view_id, action_id, answer, who, now)
        except IntegrityError:  # the same form, recorded by another thread a moment ago
            outcome = None
        if isinstance(outcome, str):
            ack(response_action="errors", errors={TEXT_BLOCK: outcome})
            return
        ack()
        if outcome is not None:
            _send(client, user_id, None, outcome)

    def _record_form(
        self,
        s: Session,
        view_id: str,
        action_id: int | None,
        answer: FormAnswer,
        who: SlackUser,
        now: datetime,
    ) -> Say | str | None:
        """What to tell the lead (a Say), a refusal for the form, or None for a repeat."""
        seen = already_seen(s, CHANNEL, view_id)
        if seen is not None:
            log.info("Slack form %s from %s: handled before", view_id, who.id)
            return refusal_plain([]) if seen.outcome == "quarantined" else None
        action = s.get(m.Action, action_id) if action_id is not None else None

        def quarantine(reason: str, refs: list[str]) -> str:
            log_inbound(
                s,
                channel=CHANNEL,
                external_id=view_id,
                received_at=now,
                outcome="quarantined",
                sender=who.sender,
                subject="Add update form",
                reason=reason,
                action_ids=[action_id] if action_id is not None and refs else [],
            )
            log.info("Slack form %s from %s: quarantined (%s)", view_id, who.id, reason)
            return refusal_plain(refs)

        if action is None or action.id is None:
            return quarantine("an Add update form for an action no longer in any plan", [])
        allowed = answerers(s, [action.id])[action.id]
        answerer = answerer_for(s, allowed, who)
        if answerer is None:
            return quarantine(
                f"{who.sender} is not a lead of {action.ref} or a delegate", [action.ref]
            )
        update = Update(
            action.id, answer.text, answer.rag, answer.completed, answer.proposed, attachments=()
        )
        entry = self._record(s, [update], view_id, who, answerer, now, "Add update form", None)
        log.info("Slack form %s from %s: recorded (%s)", view_id, who.id, action.ref)
        text, blocks = confirmation(_recorded(action, entry))
        return Say(text, blocks)

    # -- messages in the bot's DMs --

    def message(self, event: dict[str, Any], client: WebClient) -> None:
        if (
            event.get("channel_type") != "im"
            or event.get("bot_id")
            or event.get("subtype") not in _WRITTEN
            or not event.get("user")
        ):
            return
        user_id, channel, ts = str(event["user"]), str(event["channel"]), str(event["ts"])
        external_id = f"{channel}/{ts}"
        with session(self.engine) as s:
            if already_seen(s, CHANNEL, external_id):
                log.info("Slack message %s: handled before (a retry)", external_id)
                return
        who = self.directory.get(client, user_id)
        now = self.clock()
        try:
            with session(self.engine) as s, s.begin():
                say = self._thread_reply(s, event, external_id, who, now)
        except IntegrityError:  # a retry handled by another thread a moment ago
            log.info("Slack message %s: handled before (a retry)", external_id)
            return
        _send(client, user_id, channel, say)

    def _thread_reply(
        self, s: Session, event: dict[str, Any], external_id: str, who: SlackUser, now: datetime
    ) -> Say:
        channel, ts = str(event["channel"]), str(event["ts"])
        thread = event.get("thread_ts")

        def stop(outcome: str, reason: str, say: Say, **fields: Any) -> Say:
            log_inbound(
                s,
                channel=CHANNEL,
                external_id=external_id,
                received_at=now,
                outcome=outcome,
                sender=who.sender,
                subject="Slack message",
                reason=reason,
                **fields,
            )
            log.info("Slack message %s from %s: %s (%s)", external_id, who.id, outcome, reason)
            return say

        if not thread or thread == ts:
            return stop("ignored", "a direct message outside a reminder's thread", _hint(ts))
        reminder = _reminder(s, channel, str(thread))
        if reminder is None:
            return stop("ignored", "a reply in a thread that is not a reminder's", _hint(thread))
        action_ids = _actions_of(s, reminder)
        actions = [a for a in (s.get(m.Action, i) for i in action_ids) if a and a.id is not None]
        if not actions:
            return stop(
                "quarantined",
                "it answers a reminder about actions no longer in any plan",
                _hint(thread),
                in_reply_to=reminder.id,
            )
        ids = [a.id for a in actions if a.id is not None]
        refs = [a.ref for a in actions]
        allowed = answerers(s, ids)
        found = {i: answerer_for(s, allowed[i], who) for i in ids}
        if not any(found.values()):
            return stop(
                "quarantined",
                f"{who.sender} is not a lead of {', '.join(refs)} or a delegate",
                Say(refusal(refs), thread_ts=thread, ephemeral=True),
                action_ids=ids,
                in_reply_to=reminder.id,
            )
        text = _plain_text(str(event.get("text") or ""))
        files = tuple(str(f.get("name") or "a file") for f in event.get("files") or ())
        if not text.strip() and not files:
            return stop(
                "ignored", "the reply holds no text", _hint(thread), in_reply_to=reminder.id
            )
        if len(actions) > 1:
            return stop(
                "asked",
                "a reply in the thread of a reminder about several actions",
                Say(which_action(refs), thread_ts=thread),
                action_ids=ids,
                in_reply_to=reminder.id,
            )
        [action] = actions
        answerer = found[ids[0]]
        assert answerer is not None  # one action, and any() above found them on it
        today = self.calendar.today(now)
        parts = split_sections(text, [action.ref], default_year=today.year)
        update = Update(
            ids[0],
            text,
            rag=next((x.rag for x in parts if x.rag), None),
            completed=any(x.completed for x in parts),
            proposed=next((x.proposed for x in parts if x.proposed), None),
            attachments=files,
        )
        entry = self._record(
            s, [update], external_id, who, answerer, now, "Slack thread reply", reminder.id
        )
        log.info("Slack message %s from %s: recorded (%s)", external_id, who.id, action.ref)
        reply_text, blocks = confirmation(_recorded(action, entry))
        return Say(reply_text, blocks, thread_ts=thread)

    # -- recording --

    def _record(
        self,
        s: Session,
        updates: list[Update],
        external_id: str,
        who: SlackUser,
        answerer: Answerer,
        now: datetime,
        subject: str,
        in_reply_to: int | None,
    ) -> m.ProgressEntry:
        recorded = record_updates(
            s,
            updates,
            source=CHANNEL,
            external_id=external_id,
            author=answerer.name,
            author_person_id=answerer.person_id,
            now=now,
            today=self.calendar.today(now),
        )
        log_inbound(
            s,
            channel=CHANNEL,
            external_id=external_id,
            received_at=now,
            outcome="recorded",
            sender=who.sender,
            subject=subject,
            person_id=answerer.person_id,
            action_ids=[u.action_id for u in updates],
            in_reply_to=in_reply_to,
        )
        for action in recorded.actions:
            s.add(
                m.AuditEvent(
                    at=now.astimezone(UTC),
                    kind="confirmed",
                    action_id=action.id,
                    plan_id=action.plan_id,
                    detail=f"update from {who.sender} recorded from Slack; confirmed in Slack",
                )
            )
        return recorded.entries[0]


# --- helpers ---------------------------------------------------------------------------------


def _reminder(s: Session, channel: str, thread_ts: str) -> m.Outbox | None:
    """The Slack reminder whose message starts this thread: delivery stores "channel/ts"."""
    return s.exec(
        select(m.Outbox).where(
            m.Outbox.channel == CHANNEL,
            m.Outbox.kind == "reminder",
            m.Outbox.message_id == f"{channel}/{thread_ts}",
        )
    ).first()


def _actions_of(s: Session, reminder: m.Outbox) -> list[int]:
    """The actions a Slack reminder asked about. The "reminded" events point at the first row
    stored for the reminder: the e-mail row (whose key the Slack row's lacks "/slack") when
    the lead has an address, else the Slack row itself."""
    ids = [reminder.id]
    sibling = s.exec(
        select(m.Outbox.id).where(m.Outbox.key == reminder.key.removesuffix("/slack"))
    ).first()
    if sibling is not None:
        ids.append(sibling)
    rows = s.exec(
        select(m.AuditEvent.action_id).where(
            col(m.AuditEvent.outbox_id).in_(ids), m.AuditEvent.kind == "reminded"
        )
    ).all()
    return sorted({i for i in rows if i is not None})


def _recorded(action: m.Action, entry: m.ProgressEntry) -> Recorded:
    return Recorded(
        ref=action.ref,
        title=action.title,
        dated=entry.dated,
        text=entry.text,
        rag=entry.rag,
        completed=entry.completed,
        proposed=PartialDate.parse(entry.proposed_due) if entry.proposed_due else None,
    )


def _hint(thread_ts: str) -> Say:
    return Say(NOT_A_REMINDER, [section(NOT_A_REMINDER)], thread_ts=thread_ts)


_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def _plain_text(text: str) -> str:
    """A Slack message's text as the person typed it: links and mentions to their labels,
    Slack's three escapes undone. Stored like this and escaped again wherever shown."""

    def label(found: re.Match[str]) -> str:
        target, shown = found.group(1), found.group(2)
        if shown:
            return shown
        return target.removeprefix("mailto:") if target[:1] not in "@#!" else target

    text = _LINK.sub(label, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _send(client: WebClient, user_id: str, channel: str | None, say: Say) -> None:
    """Sends what the lead is told; a failure is logged, never undoes what was recorded."""
    try:
        if channel is None:
            channel = str(client.conversations_open(users=user_id)["channel"]["id"])
        blocks = say.blocks if say.blocks is not None else [section(say.text)]
        extra: dict[str, Any] = {"thread_ts": say.thread_ts} if say.thread_ts else {}
        if say.ephemeral:
            client.chat_postEphemeral(
                channel=channel, user=user_id, text=say.text, blocks=blocks, **extra
            )
        else:
            client.chat_postMessage(
                channel=channel,
                text=say.text,
                blocks=blocks,
                unfurl_links=False,
                unfurl_media=False,
                **extra,
            )
    except SlackApiError as exc:
        log.warning("Slack reply to %s not sent (%s)", user_id, api_error_code(exc))
    except (SlackClientError, OSError) as exc:
        log.warning("Slack reply to %s not sent (%s)", user_id, type(exc).__name__)
