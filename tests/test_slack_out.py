"""Slack out: Block Kit payloads from the content values, and the transport against a real
WebClient talking to a local Web API (tests/slack_api.py) on loopback.

Nothing here sleeps: the client's retry handlers and the transport's pacing wait through a
recording `sleep`, and `time.sleep` itself is made to fail the test if anything reaches it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from slack_sdk.models.blocks import Block as SdkBlock

from bot.notify.content import (
    ChairSummary,
    CountRow,
    Digest,
    DigestLine,
    Recipient,
    Reminder,
    ReminderLine,
)
from bot.notify.slack import (
    RateLimitRetry,
    SlackConfig,
    SlackResult,
    SlackTransport,
    make_client,
)
from bot.notify.slack_blocks import (
    ADD_UPDATE,
    MAX_BLOCKS,
    MAX_TEXT,
    chair_summary_blocks,
    digest_blocks,
    escape,
    reminder_blocks,
)
from bot.plans.partial_date import PartialDate
from tests.slack_api import FakeSlackApi

SENT = datetime(2019, 6, 3, 9, 0, tzinfo=UTC)
NASTY = "<!channel> *urgent* <@U123> & co"
LEAD = Recipient(name="Jane Smith", email="jane.smith@example.org")
DIGEST_CHANNEL = "C0OPGROUP"


# --- sample content --------------------------------------------------------------------------


def reminder_line(ref: str = "2.3.3", title: str = "Monitor the effectiveness of MASH", **kw: Any):
    values: dict[str, Any] = {
        "plan_title": "MSCB MASH action plan",
        "ref": ref,
        "title": title,
        "reason": "overdue",
        "milestone": None,
        "due": date(2019, 5, 31),
        "days_overdue": 12,
        "last_update": PartialDate(2018, 10, 14),
        "last_update_text": None,
        "level": "lead",
        "reply_address": None,
        "action_id": 42,
    }
    return ReminderLine(**(values | kw))


def reminder(*lines: ReminderLine, recipient: Recipient = LEAD) -> Reminder:
    return Reminder(
        key="reminder-1",
        recipient=recipient,
        lines=lines or (reminder_line(),),
        reply_address="updates+abc123@example.org",
        sent_at=SENT,
    )


def digest_line(n: int = 1, title: str = "Audit MASH referrals", **kw: Any) -> DigestLine:
    values: dict[str, Any] = {
        "plan_title": "JTAI action plan",
        "ref": f"JTAI {n}",
        "title": title,
        "leads": (("Sam Patel", "Police"), ("Ann Lee", "Health")),
        "organisation": ["Police", "Health", "Children's Services"][n % 3],
        "due": date(2019, 3, 31),
        "days_overdue": 60 + n,
        "last_update": PartialDate(2018, 10),
        "reminders_unanswered": 3,
        "level": "operational_group",
        "level_since": datetime(2019, 5, 20, tzinfo=UTC),
        "rag": "green",
        "rag_set_by": "Sam Patel",
        "suggested_rag": "red",
        "flags": ("Green but overdue",),
        "change": "new",
    }
    return DigestLine(**(values | kw))


def digest(*lines: DigestLine, left: tuple[str, ...] = ("JTAI 9 — updated 12 Jan 2019",)):
    return Digest(
        key="digest-1",
        kind="operational-digest",
        group="MASH Operational Group",
        recipients=(LEAD,),
        lines=lines or (digest_line(),),
        left_the_list=left,
        proposed_dates=(),
        sent_at=SENT,
        previous_at=datetime(2019, 5, 27, tzinfo=UTC),
    )


def chair_summary(*lines: DigestLine) -> ChairSummary:
    lines = lines or (digest_line(),)
    return ChairSummary(
        key="chair-1",
        recipients=(LEAD,),
        by_rag=CountRow("all", red=5, amber=3, green=10, unrated=2, overdue=7),
        by_organisation=(CountRow("Police", red=2, overdue=3), CountRow(NASTY, amber=1)),
        newly_overdue=lines,
        longest_overdue=lines,
        at_chair=lines[:1],
        movement=("3 actions completed",),
        sent_at=SENT,
        week_start=date(2019, 5, 27),
    )


# --- payload checks --------------------------------------------------------------------------


def text_objects(value: Any) -> Iterator[dict[str, Any]]:
    """Every Block Kit text object anywhere in a payload."""
    if isinstance(value, dict):
        if value.get("type") in ("mrkdwn", "plain_text") or isinstance(value.get("text"), str):
            yield value
        for child in value.values():
            yield from text_objects(child)
    elif isinstance(value, list):
        for child in value:
            yield from text_objects(child)


def assert_valid(text: str, blocks: list[dict[str, Any]]) -> None:
    """What Slack would reject, checked here and by slack_sdk's own block models."""
    json.dumps({"text": text, "blocks": blocks})
    assert text.strip()
    assert 0 < len(blocks) <= MAX_BLOCKS
    for obj in text_objects(blocks):
        assert obj["type"] in ("mrkdwn", "plain_text"), obj
        assert 0 < len(obj["text"]) <= MAX_TEXT
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    assert len(block_ids) == len(set(block_ids))
    for block in SdkBlock.parse_all(blocks):
        block.validate_json()


def all_text(text: str, blocks: list[dict[str, Any]]) -> str:
    return "\n".join([text, *(o["text"] for o in text_objects(blocks))])


# --- blocks: shape ---------------------------------------------------------------------------


def test_reminder_action_reads_as_the_plan_words_it_with_an_add_update_button() -> None:
    text, blocks = reminder_blocks(reminder())

    action = next(b for b in blocks if b.get("accessory"))
    assert action["text"]["text"] == (
        "*Action 2.3.3 — Monitor the effectiveness of MASH*\n"
        "Due 31 May 2019 · 12 days overdue · last update 14 Oct 2018"
    )
    button = action["accessory"]
    assert button["action_id"] == ADD_UPDATE
    assert button["value"] == "42"
    assert "2.3.3" in action["block_id"]
    assert blocks[-1]["type"] == "context"
    assert "Add update" in blocks[-1]["elements"][0]["text"]
    assert "updates+abc123@example.org" in blocks[-1]["elements"][0]["text"]
    assert "Action 2.3.3 — Monitor the effectiveness of MASH" in text
    assert_valid(text, blocks)


def test_reminder_quotes_the_last_update_and_the_step_due() -> None:
    line = reminder_line(milestone="Report to the board", last_update_text="Audit started.\nMore")
    _, blocks = reminder_blocks(reminder(line))

    rows = next(b for b in blocks if b.get("accessory"))["text"]["text"].split("\n")
    assert rows[2:] == ["Step due: Report to the board", "> Audit started. More"]


def test_same_ref_in_two_plans_gets_two_block_ids() -> None:
    lines = (reminder_line(action_id=0), reminder_line(action_id=0, plan_title="Other plan"))
    text, blocks = reminder_blocks(reminder(*lines))

    assert sum(1 for b in blocks if b.get("accessory")) == 2
    assert_valid(text, blocks)


def test_digest_groups_by_organisation_and_lists_what_left() -> None:
    lines = [digest_line(n) for n in range(1, 7)]
    text, blocks = digest_blocks(digest(*lines))

    sections = [b["text"]["text"] for b in blocks if b["type"] == "section"]
    headings = [s for s in sections if s.startswith("*") and "\n" not in s]
    assert headings == ["*Health* (2)", "*Children's Services* (2)", "*Police* (2)"]
    one = next(s for s in sections if "Action JTAI 1 —" in s)
    for words in (
        "Leads: Sam Patel (Police), Ann Lee (Health)",
        "Due 31 Mar 2019 · 61 days overdue · 3 reminders unanswered · last update Oct 2018",
        "RAG Green (set by Sam Patel) · suggested Red",
        "with the MASH Operational Group since 20 May 2019",
        ":warning: Green but overdue",
        "_new since the last digest_",
    ):
        assert words in one
    assert "Left the list since the last digest*\n• JTAI 9 — updated 12 Jan 2019" in sections[-1]
    assert text == "MASH Operational Group digest: 6 actions escalated, 1 left the list."
    assert_valid(text, blocks)


def test_chair_summary_has_counts_lists_and_what_reached_the_chair() -> None:
    text, blocks = chair_summary_blocks(chair_summary(digest_line(1), digest_line(2)))

    words = all_text(text, blocks)
    assert "5 red · 3 amber · 10 green · 2 without a RAG · *7 overdue*" in words
    for title in ("By organisation", "Newly overdue this week", "Longest overdue"):
        assert f"*{title}*" in words
    reached = next(b for b in blocks if "*Reached the chair*" in b.get("text", {}).get("text", ""))
    assert "Action JTAI 1 — Audit MASH referrals" in reached["text"]["text"]
    assert "Action JTAI 2" not in reached["text"]["text"]
    assert text.startswith("Weekly overdue summary: 7 overdue")
    assert_valid(text, blocks)


# --- blocks: Slack's limits ------------------------------------------------------------------


def test_digest_of_200_actions_fits_and_says_how_many_more() -> None:
    lines = [digest_line(n, title="Long title " * 40) for n in range(200)]
    text, blocks = digest_blocks(digest(*lines, left=tuple(f"JTAI {n} — done" for n in range(500))))

    assert_valid(text, blocks)
    shown = sum(1 for b in blocks if "Action JTAI" in b.get("text", {}).get("text", ""))
    last = blocks[-1]
    assert last["type"] == "context"
    more = last["elements"][0]["text"]
    assert more == f"… and {200 - shown} more actions: see the e-mail digest"
    assert shown > 20
    assert any("Left the list" in b.get("text", {}).get("text", "") for b in blocks)


def test_long_reminder_and_huge_texts_stay_within_limits() -> None:
    huge = "&" * 10_000
    lines = [reminder_line(str(n), title=huge, last_update_text=huge) for n in range(80)]
    text, blocks = reminder_blocks(reminder(*lines, recipient=Recipient(name=huge)))

    assert_valid(text, blocks)
    assert blocks[-1]["elements"][0]["text"].endswith("more actions: see the e-mail reminder")
    assert "&amp;" in blocks[2]["text"]["text"]


def test_exactly_fitting_digest_needs_no_more_block() -> None:
    # 2 head blocks + 1 tail; 1 organisation: heading + 46 actions = 47 blocks, 50 in all.
    lines = [digest_line(3 * n) for n in range(46)]
    text, blocks = digest_blocks(digest(*lines))

    assert len(blocks) == MAX_BLOCKS
    assert "more actions" not in blocks[-1].get("text", {}).get("text", "")
    assert_valid(text, blocks)

    text, blocks = digest_blocks(digest(*lines, digest_line(3 * 46)))
    assert blocks[-1]["elements"][0]["text"] == "… and 2 more actions: see the e-mail digest"
    assert_valid(text, blocks)


def test_chair_summary_with_many_lines_stays_within_limits() -> None:
    lines = [digest_line(n, title="x" * 500) for n in range(300)]
    text, blocks = chair_summary_blocks(chair_summary(*lines))

    assert_valid(text, blocks)
    assert "… and" in next(b for b in blocks if "Longest overdue" in str(b))["text"]["text"]


# --- blocks: escaping ------------------------------------------------------------------------


def test_escape_is_slacks_rule() -> None:
    assert escape("a & b < c > d") == "a &amp; b &lt; c &gt; d"


@pytest.mark.parametrize(
    "build",
    [
        lambda: reminder_blocks(
            reminder(
                reminder_line(title=NASTY, last_update_text=NASTY, milestone=NASTY),
                reminder_line(ref=NASTY, plan_title=NASTY),
                recipient=Recipient(name=NASTY),
            )
        ),
        lambda: digest_blocks(
            digest(
                digest_line(title=NASTY, leads=((NASTY, NASTY),), organisation=NASTY),
                digest_line(flags=(NASTY,), change=NASTY, rag_set_by=NASTY, plan_title=NASTY),
                left=(NASTY,),
            )
        ),
        lambda: chair_summary_blocks(
            chair_summary(digest_line(title=NASTY, leads=((NASTY, None),), organisation=NASTY))
        ),
    ],
    ids=["reminder", "digest", "chair-summary"],
)
def test_user_text_cannot_ping_anyone(build) -> None:
    text, blocks = build()

    payload = all_text(text, blocks)
    assert "<!channel>" not in payload and "<@U123>" not in payload
    assert "<" not in payload and ">" not in payload.replace("\n> ", "\n")
    assert "&lt;!channel&gt; *urgent* &lt;@U123&gt; &amp; co" in payload
    for obj in text_objects(blocks):
        if obj["type"] == "mrkdwn":
            assert obj["verbatim"] is True  # Slack must not parse mentions or links itself
    assert_valid(text, blocks)


def test_reminder_fallback_text_is_escaped() -> None:
    text, _ = reminder_blocks(reminder(reminder_line(title=NASTY)))

    assert text == "Progress update needed: Action 2.3.3 — " + escape(NASTY)


# --- transport against a local Web API -------------------------------------------------------


class Sleeps(list[float]):
    """A `sleep` that only writes down how long it was asked to wait."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture(autouse=True)
def no_real_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(seconds: float) -> None:
        raise AssertionError(f"real time.sleep({seconds}) called")

    monkeypatch.setattr(time, "sleep", refuse)


@pytest.fixture
def slack_api() -> Iterator[FakeSlackApi]:
    api = FakeSlackApi(users={LEAD.email or "": "U100"}, channels={DIGEST_CHANNEL, "C0OTHER"})
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def transport(slack_api: FakeSlackApi, sleeps: Sleeps) -> SlackTransport:
    client = make_client("xoxb-test", base_url=slack_api.base_url, sleep=sleeps)
    return SlackTransport(client, clock=lambda: 1000.0, sleep=sleeps)


def test_dm_sends_text_and_blocks_to_the_channel_conversations_open_gave(
    transport: SlackTransport, slack_api: FakeSlackApi
) -> None:
    text, blocks = reminder_blocks(reminder())

    result = transport.send_dm(LEAD, text, blocks)

    assert result == SlackResult(ok=True, channel="DU100", ts="1559552400.000001")
    assert slack_api.bodies("users.lookupByEmail") == [{"email": "jane.smith@example.org"}]
    assert slack_api.bodies("conversations.open") == [{"users": "U100"}]
    (post,) = slack_api.bodies("chat.postMessage")
    assert post["channel"] == "DU100"
    assert post["text"] == text
    assert post["blocks"] == blocks
    assert set(slack_api.auth_headers) == {"Bearer xoxb-test"}


def test_lookup_by_email_is_cached_per_transport(
    transport: SlackTransport, slack_api: FakeSlackApi
) -> None:
    text, blocks = reminder_blocks(reminder())

    first = transport.send_dm(LEAD, text, blocks)
    second = transport.send_dm(Recipient("Jane", email="Jane.Smith@Example.org"), text, blocks)

    assert first.ok and second.ok
    assert slack_api.calls["users.lookupByEmail"] == 1
    assert slack_api.calls["conversations.open"] == 1
    assert slack_api.calls["chat.postMessage"] == 2


def test_known_slack_id_needs_no_lookup(transport: SlackTransport, slack_api: FakeSlackApi) -> None:
    result = transport.send_dm(Recipient("Sam", slack_id="U200"), "hello", [])

    assert result.ok and result.channel == "DU200"
    assert slack_api.calls["users.lookupByEmail"] == 0


def test_lead_not_on_slack_fails_permanently_and_is_asked_once(
    transport: SlackTransport, slack_api: FakeSlackApi
) -> None:
    nobody = Recipient("Nobody", email="nobody@example.org")

    results = [transport.send_dm(nobody, "hello", []) for _ in range(2)]

    expected = SlackResult(ok=False, error="users_not_found", permanent=True)
    assert results == [expected, expected]
    assert transport.user_id_for("nobody@example.org") is None
    assert slack_api.calls["users.lookupByEmail"] == 1
    assert slack_api.calls["conversations.open"] == 0
    assert slack_api.calls["chat.postMessage"] == 0


def test_recipient_without_address_fails_permanently(transport: SlackTransport) -> None:
    result = transport.send_dm(Recipient("No address"), "hello", [])

    assert result == SlackResult(ok=False, error="no_slack_address", permanent=True)


def test_429_is_retried_once_after_retry_after_through_the_injected_sleep(
    transport: SlackTransport, slack_api: FakeSlackApi, sleeps: Sleeps
) -> None:
    slack_api.rate_limited_posts = 1

    result = transport.post_channel(DIGEST_CHANNEL, "digest", [])

    assert result.ok
    assert slack_api.calls["chat.postMessage"] == 2
    assert len(sleeps) == 1 and 2 <= sleeps[0] < 3


def test_429_beyond_the_retries_is_a_temporary_failure(
    transport: SlackTransport, slack_api: FakeSlackApi, sleeps: Sleeps
) -> None:
    slack_api.rate_limited_posts = 5

    result = transport.post_channel(DIGEST_CHANNEL, "digest", [])

    # the wait Slack asked for goes back with the failure, for the outbox to honour
    assert result == SlackResult(
        ok=False, channel=DIGEST_CHANNEL, error="ratelimited", permanent=False, retry_after=2.0
    )
    assert slack_api.calls["chat.postMessage"] == 3  # the first try and two retries
    assert len(sleeps) == 2


def test_long_retry_after_is_left_to_the_next_run(slack_api: FakeSlackApi, sleeps: Sleeps) -> None:
    client = make_client("xoxb-test", base_url=slack_api.base_url, sleep=sleeps)
    (limit,) = [h for h in client.retry_handlers if isinstance(h, RateLimitRetry)]
    limit.max_wait = 30
    slack_api.rate_limited_posts, slack_api.retry_after = 1, "120"

    result = SlackTransport(client, sleep=sleeps).post_channel(DIGEST_CHANNEL, "digest", [])

    assert (result.ok, result.error, result.permanent) == (False, "ratelimited", False)
    assert slack_api.calls["chat.postMessage"] == 1
    assert sleeps == []


def test_server_error_is_retried_then_temporary(
    transport: SlackTransport, slack_api: FakeSlackApi, sleeps: Sleeps
) -> None:
    slack_api.failing_posts = 2

    result = transport.post_channel(DIGEST_CHANNEL, "digest", [])

    assert (result.ok, result.error, result.permanent) == (False, "internal_error", False)
    assert slack_api.calls["chat.postMessage"] == 2
    assert len(sleeps) == 1


def test_network_error_is_temporary_and_retried_through_the_injected_sleep(
    slack_api: FakeSlackApi, sleeps: Sleeps
) -> None:
    url = slack_api.base_url
    slack_api.stop()  # nothing listens on that port any more
    transport = SlackTransport(make_client("xoxb-test", base_url=url, sleep=sleeps), sleep=sleeps)

    result = transport.post_channel(DIGEST_CHANNEL, "digest", [])

    assert not result.ok and not result.permanent
    assert result.error is not None and result.error.startswith("network: ")
    assert len(sleeps) == 1


def test_unknown_channel_is_permanent(transport: SlackTransport) -> None:
    result = transport.post_channel("C0GONE", "digest", [])

    assert result == SlackResult(
        ok=False, channel="C0GONE", error="channel_not_found", permanent=True
    )


def test_digest_of_200_actions_is_accepted_through_the_client(
    transport: SlackTransport, slack_api: FakeSlackApi
) -> None:
    text, blocks = digest_blocks(digest(*(digest_line(n) for n in range(200))))

    assert transport.post_channel(DIGEST_CHANNEL, text, blocks).ok
    (post,) = slack_api.bodies("chat.postMessage")
    assert len(post["blocks"]) <= MAX_BLOCKS
    assert post["blocks"] == blocks


# --- pacing ----------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def paced(slack_api: FakeSlackApi, sleeps: Sleeps, clock: FakeClock) -> SlackTransport:
    client = make_client("xoxb-test", base_url=slack_api.base_url, sleep=sleeps)
    return SlackTransport(client, pace_seconds=1.1, clock=clock, sleep=sleeps)


def test_two_posts_to_one_channel_wait_the_pace(paced: SlackTransport, sleeps: Sleeps) -> None:
    assert paced.post_channel(DIGEST_CHANNEL, "one", []).ok
    assert paced.post_channel(DIGEST_CHANNEL, "two", []).ok

    assert sleeps == [pytest.approx(1.1)]


def test_posts_to_different_channels_do_not_wait(paced: SlackTransport, sleeps: Sleeps) -> None:
    assert paced.post_channel(DIGEST_CHANNEL, "one", []).ok
    assert paced.post_channel("C0OTHER", "two", []).ok
    assert paced.send_dm(LEAD, "three", []).ok

    assert sleeps == []


def test_pace_counts_the_time_already_gone(
    paced: SlackTransport, sleeps: Sleeps, clock: FakeClock
) -> None:
    paced.post_channel(DIGEST_CHANNEL, "one", [])
    clock.now += 0.5
    paced.post_channel(DIGEST_CHANNEL, "two", [])
    clock.now += 5
    paced.post_channel(DIGEST_CHANNEL, "three", [])

    assert sleeps == [pytest.approx(0.6)]


def test_dms_to_one_lead_are_paced_too(paced: SlackTransport, sleeps: Sleeps) -> None:
    paced.send_dm(LEAD, "one", [])
    paced.send_dm(LEAD, "two", [])

    assert sleeps == [pytest.approx(1.1)]


# --- configuration ---------------------------------------------------------------------------


def test_config_is_frozen_and_keeps_the_token_out_of_its_repr() -> None:
    channels = {"operational-digest": "C123"}
    config = SlackConfig(token="xoxb-secret", channels=channels)
    channels["strategic-digest"] = "C456"

    assert config.channel_for("operational-digest") == "C123"
    assert config.channel_for("strategic-digest") is None
    assert "xoxb-secret" not in repr(config)
    with pytest.raises(TypeError):
        config.channels["x"] = "C9"  # type: ignore[index]


def test_transport_from_config_talks_to_the_configured_server(
    slack_api: FakeSlackApi, sleeps: Sleeps
) -> None:
    base = slack_api.base_url.rstrip("/")  # the missing trailing slash is added
    config = SlackConfig(token="xoxb-test", base_url=base, channels={"x": DIGEST_CHANNEL})
    transport = SlackTransport.from_config(config, sleep=sleeps)

    assert transport.post_channel(config.channel_for("x") or "", "hi", []).ok
    assert slack_api.calls["chat.postMessage"] == 1
