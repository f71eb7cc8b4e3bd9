"""Slack replies in: the Add update button opens a form, the form and a reply in a one-action
reminder's thread are recorded for the action's lead or delegate, everyone else is refused.

Runs on SQLite and PostgreSQL with the small test plan after a real tick has sent the Slack
reminders to tests/slack_api.py's Web API on loopback. Requests go into the real Bolt app the
way Slack's HTTP mode sends them: a body signed with the signing secret, through
`app.dispatch(BoltRequest(...))`, so the signature check is the one production runs; its clock
is the fake one. Listeners run in a one-thread executor the test waits on.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.models.views import View
from slack_sdk.signature import Clock as SignatureClock
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot import models as m
from bot.chasing import tick
from bot.db import make_engine, session
from bot.delivery import Transports
from bot.importing import import_files
from bot.inbound.slack_app import build_app
from bot.inbound.slack_modal import read_date
from bot.inbound.slack_serve import EVENTS_PATH, SlackStartError, run_slack_http, start_slack
from bot.notify.email import OutboxDirTransport
from bot.notify.slack import SlackTransport, make_client
from bot.plans.partial_date import PartialDate
from bot.rules import LoadedRules, load_rules
from bot.settings import Settings, SettingsError, load_settings
from tests.conftest import REPO
from tests.slack_api import BOT_USER, TEAM, FakeSlackApi
from tests.test_load import PEOPLE, PLAN, write

LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2018, 11, 26, 10, 0, tzinfo=LONDON)
LATER = MONDAY + timedelta(hours=3)
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
NASTY = "Audits are monthly <!channel> & <@U0BOSS> *now*"

# Tracey is known to Slack by the id people.yaml gives her, under another e-mail; Dana is her
# delegate; Kelly is found by e-mail; Sam is on Slack but leads nothing.
PEOPLE_ON_SLACK = PEOPLE.replace(
    """  - name: Kelly Cogger""",
    """  - name: Dana Deputy
    email: dana.deputy@example.org
  - name: Sam Stranger
    email: sam.stranger@example.org
  - name: Kelly Cogger""",
).replace(
    "    variants: [Tracy Anstis]\n",
    "    variants: [Tracy Anstis]\n    slack_id: U0TRACEY\n    delegates: [Dana Deputy]\n",
)
USERS = {
    "kelly.cogger@example.org": "U0KELLY",
    "t.anstis@police.example.org": "U0TRACEY",
    "dana.deputy@example.org": "U0DANA",
    "sam.stranger@example.org": "U0SAM",
}


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class _SigClock(SignatureClock):
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock

    def now(self) -> float:
        return self.clock().timestamp()


@dataclass
class Bot:
    engine: Engine
    app: App
    api: FakeSlackApi
    clock: FakeClock
    executor: ThreadPoolExecutor
    rules: LoadedRules
    settings: Settings

    def settle(self) -> None:
        """Waits for the listeners still running after their acknowledgement."""
        self.executor.submit(lambda: None).result(timeout=10)


@pytest.fixture
def api() -> Iterator[FakeSlackApi]:
    server = FakeSlackApi(USERS).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def people() -> str:
    """The people file; a test may parametrize another."""
    return PEOPLE_ON_SLACK


@pytest.fixture
def bot(database_url: str, tmp_path: Path, api: FakeSlackApi, people: str) -> Iterator[Bot]:
    engine = make_engine(database_url)
    import_files(engine, write(tmp_path, PLAN, people), MONDAY - timedelta(days=60))
    settings = load_settings(
        {
            "OUTBOX_DIR": str(tmp_path / "outbox"),
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_API_URL": api.base_url,
            "SLACK_MODE": "http",
            "SLACK_SIGNING_SECRET": SECRET,
        },
        env_file=None,
    )
    rules = load_rules(REPO / "rules")
    slack = SlackTransport(make_client("xoxb-test", api.base_url), pace_seconds=0)
    outbox = OutboxDirTransport(tmp_path / "outbox")
    tick(engine, rules, settings, MONDAY, Transports(email=outbox, slack=slack))
    api.calls.clear()
    api.requests.clear()
    clock = FakeClock(LATER)
    executor = ThreadPoolExecutor(max_workers=1)
    client = make_client("xoxb-test", api.base_url)
    app = build_app(engine, settings, rules, clock=clock, client=client, executor=executor)
    try:
        yield Bot(engine, app, api, clock, executor, rules, settings)
    finally:
        executor.shutdown(wait=True)
        engine.dispose()


# --- requests as Slack sends them ------------------------------------------------------------


def signed(
    bot: Bot, body: str, *, at: datetime | None = None, secret: str = SECRET
) -> dict[str, list[str]]:
    timestamp = str(int((at or bot.clock()).timestamp()))
    verifier = SignatureVerifier(secret, clock=_SigClock(bot.clock))
    signature = verifier.generate_signature(timestamp=timestamp, body=body)
    assert signature is not None
    return {"x-slack-request-timestamp": [timestamp], "x-slack-signature": [signature]}


def dispatch(bot: Bot, body: str, content_type: str, **headers: Any) -> BoltResponse:
    all_headers = {"content-type": [content_type], **signed(bot, body)}
    all_headers.update({k.replace("_", "-"): [v] for k, v in headers.items()})
    response = bot.app.dispatch(BoltRequest(body=body, headers=all_headers))
    bot.settle()
    return response


def interaction(bot: Bot, payload: dict[str, Any]) -> BoltResponse:
    body = "payload=" + quote(json.dumps(payload))
    return dispatch(bot, body, "application/x-www-form-urlencoded")


def event(
    bot: Bot, event: dict[str, Any], event_id: str = "Ev0001", **headers: Any
) -> BoltResponse:
    body = json.dumps(
        {
            "token": "unused",
            "team_id": TEAM,
            "api_app_id": "A0ACTIONBOT",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(bot.clock().timestamp()),
            "event": event,
            "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
        }
    )
    return dispatch(bot, body, "application/json", **headers)


def press(bot: Bot, user: str, action_id: int, trigger: str = "T-1") -> BoltResponse:
    return interaction(
        bot,
        {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": user},
            "api_app_id": "A0ACTIONBOT",
            "trigger_id": trigger,
            "channel": {"id": "D" + user},
            "container": {"type": "message", "channel_id": "D" + user},
            "actions": [
                {
                    "type": "button",
                    "action_id": "add_update",
                    "block_id": f"add_update:{action_id}",
                    "value": str(action_id),
                    "action_ts": "1543237200.000100",
                }
            ],
        },
    )


def submit(
    bot: Bot,
    user: str,
    action_id: int | str,
    text: str,
    *,
    rag: str | None = None,
    completed: bool = False,
    new_date: str | None = None,
    view_id: str = "V0FORM1",
) -> BoltResponse:
    values = {
        "progress": {"text": {"type": "plain_text_input", "value": text}},
        "rag": {
            "rag": {
                "type": "static_select",
                "selected_option": {"value": rag, "text": {"type": "plain_text", "text": rag}}
                if rag
                else None,
            }
        },
        "completed": {
            "completed": {
                "type": "checkboxes",
                "selected_options": [{"value": "completed"}] if completed else [],
            }
        },
        "new_date": {"date": {"type": "plain_text_input", "value": new_date}},
    }
    metadata = json.dumps({"action_id": action_id})
    return interaction(
        bot,
        {
            "type": "view_submission",
            "team": {"id": TEAM},
            "user": {"id": user},
            "api_app_id": "A0ACTIONBOT",
            "view": {
                "id": view_id,
                "type": "modal",
                "callback_id": "add_update_form",
                "private_metadata": metadata,
                "state": {"values": values},
                "hash": "156772938.1827394",
            },
        },
    )


# --- what was stored and sent ----------------------------------------------------------------


def action_id(bot: Bot, ref: str) -> int:
    with session(bot.engine) as s:
        found = s.exec(select(m.Action).where(m.Action.ref == ref)).one().id
        assert found is not None
        return found


def entries(bot: Bot) -> list[m.ProgressEntry]:
    with session(bot.engine) as s:
        query = select(m.ProgressEntry).where(m.ProgressEntry.source == "slack")
        return list(s.exec(query.order_by(col(m.ProgressEntry.id))))


def inbound(bot: Bot) -> list[tuple[str, str | None, str | None]]:
    with session(bot.engine) as s:
        rows = s.exec(select(m.InboundMessage).order_by(col(m.InboundMessage.id))).all()
        return [(r.outcome, r.reason, r.sender) for r in rows]


def reminder_ts(bot: Bot, person_key: str) -> tuple[str, str]:
    """(DM channel, ts) of the Slack reminder a lead was sent."""
    with session(bot.engine) as s:
        row = s.exec(
            select(m.Outbox).where(
                m.Outbox.channel == "slack",
                m.Outbox.kind == "reminder",
                m.Outbox.recipient_key == person_key,
            )
        ).one()
    assert row.status == "sent" and row.message_id
    channel, _, ts = row.message_id.partition("/")
    return channel, ts


def posts(bot: Bot) -> list[dict[str, Any]]:
    return bot.api.bodies("chat.postMessage")


def shown(body: dict[str, Any]) -> str:
    """All the text of a message: its fallback and every block's."""
    blocks = body.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return "\n".join([str(body.get("text", "")), *(b["text"]["text"] for b in blocks)])


# --- the button --------------------------------------------------------------------------------


def test_the_button_opens_the_form_for_that_action(bot: Bot):
    target = action_id(bot, "1.1.1")
    response = press(bot, "U0KELLY", target, trigger="T-KELLY")

    assert response.status == 200
    [opened] = bot.api.bodies("views.open")
    assert opened["trigger_id"] == "T-KELLY"
    view = opened["view"] if isinstance(opened["view"], dict) else json.loads(opened["view"])
    assert json.loads(view["private_metadata"]) == {"action_id": target}
    assert "Action 1.1.1 — Improve Framework-I reporting" in view["blocks"][0]["text"]["text"]
    inputs = {b["block_id"]: b["element"]["type"] for b in view["blocks"] if b["type"] == "input"}
    assert inputs == {
        "progress": "plain_text_input",
        "rag": "static_select",
        "completed": "checkboxes",
        "new_date": "plain_text_input",
    }
    View(**view).validate_json()  # what Slack would reject, checked by slack_sdk's own model
    assert inbound(bot) == []


def test_the_button_refuses_someone_who_is_not_a_lead(bot: Bot):
    press(bot, "U0SAM", action_id(bot, "1.1.1"))

    assert bot.api.calls["views.open"] == 0
    [said] = bot.api.bodies("chat.postEphemeral")
    assert (said["user"], said["channel"]) == ("U0SAM", "DU0SAM")
    assert "only the lead of Action 1.1.1" in said["text"]
    assert inbound(bot) == [
        (
            "quarantined",
            "sam.stranger@example.org (U0SAM) is not a lead of 1.1.1 or a delegate",
            "sam.stranger@example.org (U0SAM)",
        )
    ]


# --- the form ----------------------------------------------------------------------------------


def test_the_form_is_recorded_confirmed_escaped_and_recorded_once(bot: Bot):
    response = submit(
        bot, "U0KELLY", action_id(bot, "1.1.1"), NASTY, rag="amber", completed=True,
        new_date="March 2019",
    )  # fmt: skip

    assert response.status == 200 and not response.body  # an empty ack closes the form
    [entry] = entries(bot)
    assert (entry.text, entry.author, entry.rag, entry.completed, entry.proposed_due) == (
        NASTY,
        "Kelly Cogger",
        "amber",
        True,
        "2019-03",
    )
    assert (entry.external_id, entry.dated) == ("V0FORM1", date(2018, 11, 26))
    with session(bot.engine) as s:
        action = s.exec(select(m.Action).where(m.Action.ref == "1.1.1")).one()
        assert (action.status, action.rag, action.rag_set_by) == (
            "complete",
            "amber",
            "Kelly Cogger",
        )
        logged = s.exec(select(m.InboundMessage)).one()
        assert (logged.channel, logged.external_id, logged.outcome) == (
            "slack",
            "V0FORM1",
            "recorded",
        )
    assert bot.api.bodies("conversations.open")[-1]["users"] == "U0KELLY"
    [confirmation] = posts(bot)
    text = shown(confirmation)
    assert confirmation["channel"] == "DU0KELLY"
    assert "Action 1.1.1 — Improve Framework-I reporting" in text
    assert "26 Nov 2018" in text
    assert "&lt;!channel&gt; &amp; &lt;@U0BOSS&gt;" in text and "<!channel>" not in text
    assert "RAG Amber" in text and "marked complete" in text and "Mar 2019" in text

    again = submit(bot, "U0KELLY", action_id(bot, "1.1.1"), NASTY, rag="amber")
    assert again.status == 200
    assert len(entries(bot)) == 1 and len(posts(bot)) == 1


def test_a_delegate_may_answer_and_an_unreadable_date_is_a_form_error(bot: Bot):
    target = action_id(bot, "1.1.2")
    response = submit(bot, "U0DANA", target, "Review booked.", new_date="when it suits")

    assert response.status == 200
    answer = json.loads(response.body)
    assert answer["response_action"] == "errors"
    assert "new_date" in answer["errors"] and "March 2019" in answer["errors"]["new_date"]
    assert entries(bot) == [] and inbound(bot) == []

    submit(bot, "U0DANA", target, "Review booked.", new_date="by end of January 2019")
    [entry] = entries(bot)
    assert (entry.author, entry.proposed_due, entry.rag) == ("Dana Deputy", "2019-01", None)


def test_a_form_from_someone_who_is_not_a_lead_is_refused_and_stores_nothing(bot: Bot):
    response = submit(bot, "U0SAM", action_id(bot, "1.1.1"), "All done, trust me.", rag="green")

    answer = json.loads(response.body)
    assert answer["response_action"] == "errors"
    assert "only the lead of Action 1.1.1" in answer["errors"]["progress"]
    assert entries(bot) == [] and posts(bot) == []
    assert inbound(bot) == [
        (
            "quarantined",
            "sam.stranger@example.org (U0SAM) is not a lead of 1.1.1 or a delegate",
            "sam.stranger@example.org (U0SAM)",
        )
    ]
    with session(bot.engine) as s:
        assert s.exec(select(m.Action).where(m.Action.ref == "1.1.1")).one().rag != "green"


def test_a_form_for_an_action_that_does_not_exist_is_refused(bot: Bot):
    response = submit(bot, "U0KELLY", "1.1.1; drop table", "Done.")

    assert json.loads(response.body)["response_action"] == "errors"
    assert entries(bot) == []
    assert [x[0] for x in inbound(bot)] == ["quarantined"]


# --- thread replies ----------------------------------------------------------------------------


def thread_reply(
    channel: str, user: str, thread_ts: str, text: str, ts: str = "1543237300.000200"
) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": channel,
        "channel_type": "im",
        "user": user,
        "text": text,
        "ts": ts,
        "thread_ts": thread_ts,
        "event_ts": ts,
    }


def test_a_reply_in_a_one_action_reminders_thread_is_recorded_once(bot: Bot):
    channel, ts = reminder_ts(bot, "kelly-cogger")
    reply = thread_reply(channel, "U0KELLY", ts, "Audits now monthly &amp; reported.\nRAG: green")

    first = event(bot, reply, event_id="Ev0KELLY")
    retried = event(bot, reply, event_id="Ev0KELLY", x_slack_retry_num="1")

    assert first.status == 200 and retried.status == 200
    [entry] = entries(bot)
    assert (entry.text, entry.rag, entry.author) == (
        "Audits now monthly & reported.\nRAG: green",
        "green",
        "Kelly Cogger",
    )
    assert entry.external_id == f"{channel}/1543237300.000200"
    [confirmation] = posts(bot)
    assert (confirmation["channel"], confirmation["thread_ts"]) == (channel, ts)
    assert "Action 1.1.1" in shown(confirmation) and "&amp; reported" in shown(confirmation)
    assert [x[0] for x in inbound(bot)] == ["recorded"]


def test_a_reply_in_a_several_action_reminders_thread_is_asked_about_not_recorded(bot: Bot):
    channel, ts = reminder_ts(bot, "tracey-anstis")
    assert channel == "DU0TRACEY"  # sent by her Slack id

    event(bot, thread_reply(channel, "U0TRACEY", ts, "All in hand, thanks."))

    assert entries(bot) == []
    [asked] = posts(bot)
    assert (asked["channel"], asked["thread_ts"]) == (channel, ts)
    assert "Add update" in asked["text"] and "1.1.1, 1.1.2" in asked["text"]
    assert [x[0] for x in inbound(bot)] == ["asked"]


def test_a_reply_from_someone_else_in_a_reminder_thread_is_refused(bot: Bot):
    channel, ts = reminder_ts(bot, "kelly-cogger")

    event(bot, thread_reply(channel, "U0SAM", ts, "Marking this green."))

    assert entries(bot) == [] and posts(bot) == []
    [said] = bot.api.bodies("chat.postEphemeral")
    assert (said["user"], said["thread_ts"]) == ("U0SAM", ts)
    assert inbound(bot)[0][:2] == (
        "quarantined",
        "sam.stranger@example.org (U0SAM) is not a lead of 1.1.1 or a delegate",
    )


def test_the_bots_own_messages_and_messages_outside_a_reminder_are_not_recorded(bot: Bot):
    channel, ts = reminder_ts(bot, "kelly-cogger")
    event(bot, thread_reply(channel, BOT_USER, ts, "Recorded on Action 1.1.1"), event_id="Ev1")
    assert inbound(bot) == [] and posts(bot) == []

    top_level = thread_reply(channel, "U0KELLY", ts, "Audits monthly", ts="1543237400.000300")
    del top_level["thread_ts"]
    event(bot, top_level, event_id="Ev2")
    assert entries(bot) == []
    [hint] = posts(bot)
    assert hint["thread_ts"] == "1543237400.000300" and "Add update" in hint["text"]
    assert inbound(bot)[0][:2] == ("ignored", "a direct message outside a reminder's thread")


KELLY_ON_SLACK_ONLY = PEOPLE_ON_SLACK.replace(
    "    email: kelly.cogger@example.org\n", "    slack_id: U0KELLY\n"
)


@pytest.mark.parametrize("people", [KELLY_ON_SLACK_ONLY], ids=["kelly-on-slack-only"])
def test_a_reminder_sent_only_by_slack_is_found_from_its_own_row(bot: Bot):
    """Without an e-mail row the "reminded" events point at the Slack row itself. Kelly has no
    e-mail address, and `answerers` lists people by address, so her reply is not accepted."""
    channel, ts = reminder_ts(bot, "kelly-cogger")
    with session(bot.engine) as s:
        assert s.exec(select(m.Outbox).where(m.Outbox.recipient_key == "kelly-cogger")).one()

    event(bot, thread_reply(channel, "U0KELLY", ts, "Audits monthly."))

    assert entries(bot) == []
    assert inbound(bot)[0][:2] == (
        "quarantined",
        "kelly.cogger@example.org (U0KELLY) is not a lead of 1.1.1 or a delegate",
    )


def test_socket_mode_requests_need_no_signature_and_reach_the_same_listeners(bot: Bot):
    channel, ts = reminder_ts(bot, "kelly-cogger")
    body = {
        "type": "event_callback",
        "team_id": TEAM,
        "event_id": "Ev0SOCKET",
        "event": thread_reply(channel, "U0KELLY", ts, "Audits monthly."),
    }

    response = bot.app.dispatch(BoltRequest(body=body, mode="socket_mode"))
    bot.settle()

    assert response.status == 200
    assert [e.text for e in entries(bot)] == ["Audits monthly."]


def test_start_slack_serves_http_mode_and_stops(bot: Bot):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = replace(bot.settings, slack_http_port=port)
    stop = start_slack(bot.engine, settings, bot.rules)
    try:
        forged = urllib.request.Request(
            f"http://127.0.0.1:{port}{EVENTS_PATH}",
            b'{"type": "event_callback"}',
            {"Content-Type": "application/json", "X-Slack-Signature": "v0=00"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged)
        assert refused.value.code == 401
    finally:
        stop()
    assert bot.api.calls["auth.test"] == 1  # the bot token is checked before serving


def test_start_slack_does_nothing_without_the_app_token_in_socket_mode(bot: Bot):
    settings = replace(bot.settings, slack_mode="socket", slack_app_token=None)
    start_slack(bot.engine, settings, bot.rules)()
    assert sum(bot.api.calls.values()) == 0


def test_start_slack_in_socket_mode_names_a_refused_app_token(bot: Bot):
    settings = replace(bot.settings, slack_mode="socket", slack_app_token="xapp-revoked")
    with pytest.raises(SlackStartError, match=r"SLACK_APP_TOKEN \(invalid_auth\)"):
        start_slack(bot.engine, settings, bot.rules)
    assert bot.api.calls["apps.connections.open"] == 1


def test_with_the_web_app_running_http_mode_is_served_by_it(bot: Bot):
    """`actionbot run` with WEB_BASE_URL: no server of Slack's own; the web app's /slack/events
    checks signatures (the app's own check) and reaches the same listeners."""
    from bot.web.serve import start_web

    mounted: list[App] = []
    start_slack(bot.engine, bot.settings, bot.rules, mount=mounted.append)()
    assert len(mounted) == 1 and bot.api.calls["auth.test"] == 1
    web = start_web(bot.engine, bot.settings, bot.rules, host="127.0.0.1", port=0)
    try:
        url = f"http://127.0.0.1:{web.port}{EVENTS_PATH}"
        with pytest.raises(urllib.error.HTTPError) as missing:  # not mounted yet: not served
            urllib.request.urlopen(urllib.request.Request(url, b"{}", {"X-Any": "thing"}))
        assert missing.value.code == 404
        web.mount_slack(bot.app)  # the test's app: its clock and executor
        body = "payload=" + quote(
            json.dumps(
                {
                    "type": "block_actions",
                    "team": {"id": TEAM},
                    "user": {"id": "U0KELLY"},
                    "trigger_id": "T-WEB",
                    "channel": {"id": "DU0KELLY"},
                    "actions": [{"action_id": "add_update", "value": str(action_id(bot, "1.1.1"))}],
                }
            )
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        good = {k: v[0] for k, v in signed(bot, body).items()}
        bad = {**good, "x-slack-signature": "v0=" + "0" * 64}
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url, body.encode(), headers | bad))
        assert refused.value.code == 401
        with urllib.request.urlopen(
            urllib.request.Request(url, body.encode(), headers | good)
        ) as r:
            assert r.status == 200
            assert "set-cookie" not in {k.lower() for k in r.headers}  # no session for Slack
        bot.settle()
        assert [b["trigger_id"] for b in bot.api.bodies("views.open")] == ["T-WEB"]
    finally:
        web.stop()


# --- requests that are not Slack's -------------------------------------------------------------


def test_a_forged_signature_is_rejected_and_nothing_is_stored(bot: Bot):
    channel, ts = reminder_ts(bot, "kelly-cogger")
    body = json.dumps({"type": "event_callback", "event_id": "Ev9", "team_id": TEAM,
                       "event": thread_reply(channel, "U0KELLY", ts, "Forged update")})  # fmt: skip
    headers = {"content-type": ["application/json"], **signed(bot, body, secret="not-the-secret")}

    response = bot.app.dispatch(BoltRequest(body=body, headers=headers))
    bot.settle()

    assert response.status == 401
    assert entries(bot) == [] and inbound(bot) == []
    assert sum(bot.api.calls.values()) == 0


def test_a_request_signed_more_than_five_minutes_ago_is_rejected(bot: Bot):
    body = "payload=" + quote(json.dumps({"type": "block_actions", "user": {"id": "U0KELLY"}}))
    headers = {
        "content-type": ["application/x-www-form-urlencoded"],
        **signed(bot, body, at=LATER - timedelta(minutes=5, seconds=1)),
    }

    assert bot.app.dispatch(BoltRequest(body=body, headers=headers)).status == 401
    bot.clock.now = LATER - timedelta(minutes=4)  # the same request, seen sooner, passes
    assert bot.app.dispatch(BoltRequest(body=body, headers=headers)).status != 401
    bot.settle()


def test_the_http_server_checks_signatures_and_serves_the_app(bot: Bot):
    server = run_slack_http(bot.app, 0, host="127.0.0.1")
    try:
        url = f"http://127.0.0.1:{server.port}{EVENTS_PATH}"
        body = "payload=" + quote(
            json.dumps(
                {
                    "type": "block_actions",
                    "team": {"id": TEAM},
                    "user": {"id": "U0KELLY"},
                    "trigger_id": "T-HTTP",
                    "channel": {"id": "DU0KELLY"},
                    "actions": [{"action_id": "add_update", "value": str(action_id(bot, "1.1.1"))}],
                }
            )
        )
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        good = {k: v[0] for k, v in signed(bot, body).items()}
        bad = {**good, "x-slack-signature": "v0=" + "0" * 64}
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url, body.encode(), headers | bad))
        assert refused.value.code == 401
        with urllib.request.urlopen(
            urllib.request.Request(url, body.encode(), headers | good)
        ) as r:
            assert r.status == 200
        bot.settle()
        assert [b["trigger_id"] for b in bot.api.bodies("views.open")] == ["T-HTTP"]
    finally:
        server.stop()


# --- pieces ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("March 2019", PartialDate(2019, 3)),
        ("31/03/2019", PartialDate(2019, 3, 31)),
        ("2019-04", PartialDate(2019, 4)),
        ("by the end of June 2019", PartialDate(2019, 6)),
        ("January - March 2019", PartialDate(2019, 3)),
    ],
)
def test_proposed_dates_are_read_as_leads_write_them(written: str, expected: PartialDate):
    assert read_date(written, date(2018, 11, 26)) == expected


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("soon", "Could not read 'soon' as a date"),
        ("March 2019 or April 2019", "Could not read"),
        ("October 2018", "Oct 2018 has passed"),
    ],
)
def test_unreadable_or_past_dates_are_explained(written: str, message: str):
    with pytest.raises(ValueError, match=message):
        read_date(written, date(2018, 11, 26))


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_MODE": "http"}, "SLACK_SIGNING_SECRET: required"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_MODE": "socket"}, "SLACK_APP_TOKEN: required"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_MODE": "rtm"}, "SLACK_MODE: expected socket or"),
        ({"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_BOT_TOKEN: required when SLACK_APP_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"}, "SLACK_APP_TOKEN: expected"),
        ({"SLACK_HTTP_PORT": "http"}, "SLACK_HTTP_PORT: expected a port number"),
    ],
)
def test_bad_slack_reply_settings_are_named(environ: dict[str, str], expected: str):
    with pytest.raises(SettingsError) as caught:
        load_settings(environ, env_file=None)
    assert expected in str(caught.value)


def test_slack_reply_secrets_are_kept_out_of_reprs():
    s = load_settings(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_APP_TOKEN": "xapp-hunter2",
            "SLACK_SIGNING_SECRET": "s3",
        },
        env_file=None,
    )
    assert (s.slack_mode, s.slack_app_token, s.slack_signing_secret) == (
        "socket",
        "xapp-hunter2",
        "s3",
    )
    assert "hunter2" not in repr(s) and "'s3'" not in repr(s)
    assert load_settings({"SLACK_BOT_TOKEN": "xoxb-1"}, env_file=None).slack_app_token is None
