"""Faults: Slack answers with bursts of 429s (Retry-After) and 500s.

A real `slack_sdk.WebClient` against the local Web API (tests/slack_api.py) on loopback, with
the transport's retry handlers waiting through an injected sleep that only records: nothing
here sleeps. Each message is still posted once; the waits asked for match Retry-After; a
Retry-After longer than the transport will wait is left to the outbox's next run. On SQLite
and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot import models as m
from bot.db import create_schema, make_engine, session
from bot.delivery import Transports, backoff, deliver, slack_payload
from bot.notify.content import Recipient
from bot.notify.slack import MAX_RETRY_AFTER, SlackTransport, make_client
from tests.slack_api import FakeSlackApi

T0 = datetime(2018, 10, 15, 9, 0, tzinfo=UTC)
USERS = {
    "kelly.cogger@example.org": "U1",
    "tracey.anstis@example.org": "U2",
    "tina.hughes@example.org": "U3",
    "emma.verchiolli@example.org": "U4",
}
CHANNEL = "C0OPS"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "Action 1.1.1"}}]


@pytest.fixture
def api() -> Iterator[FakeSlackApi]:
    server = FakeSlackApi(USERS, channels={CHANNEL}).start()
    try:
        yield server
    finally:
        server.stop()


class Waits:
    """An injected sleep and clock: records each wait and moves the clock on by it."""

    def __init__(self) -> None:
        self.asked: list[float] = []
        self.now = 1000.0

    def sleep(self, seconds: float) -> None:
        self.asked.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


def transports(api: FakeSlackApi, retries: Waits, pace: Waits) -> Transports:
    client = make_client("xoxb-test", api.base_url, sleep=retries.sleep)
    return Transports(slack=SlackTransport(client, clock=pace.clock, sleep=pace.sleep))


def queue(engine: Engine, to: list[str]) -> list[str]:
    """One Slack row per recipient (an e-mail address for a DM, else a channel); their texts."""
    create_schema(engine)
    texts = []
    with session(engine) as s, s.begin():
        for i, who in enumerate(to, start=1):
            text = f"message {i} for {who}"
            if "@" in who:
                payload = slack_payload(Recipient(who, who), None, text, BLOCKS)
            else:
                payload = slack_payload(None, who, text, BLOCKS)
            s.add(
                m.Outbox(
                    key=f"reminder/{i}/slack",
                    kind="reminder" if "@" in who else "operational-digest",
                    channel="slack",
                    recipient_key=who,
                    recipient=who,
                    subject=text,
                    payload=payload,
                    created_at=T0,
                )
            )
            texts.append(text)
    return texts


def outbox(engine: Engine) -> list[m.Outbox]:
    with session(engine) as s:
        return list(s.exec(select(m.Outbox).order_by(col(m.Outbox.id))).all())


def utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


def posted(api: FakeSlackApi) -> list[str]:
    return [str(body["text"]) for body in api.posted]


def within(waits: list[float], bases: list[float]) -> bool:
    """Each wait is its base plus the library's jitter of under a second."""
    return len(waits) == len(bases) and all(
        b <= w < b + 1 for w, b in zip(waits, bases, strict=True)
    )


def test_bursts_of_429s_and_500s_still_post_each_message_once(database_url: str, api: FakeSlackApi):
    engine = make_engine(database_url)
    kelly, tracey, tina, emma = USERS
    texts = queue(engine, [kelly, tracey, tina, CHANNEL, emma])
    api.post_script = [
        (429, "3"),  # kelly: rate limited twice, then posted
        (429, "5"),
        (200, None),
        (500, None),  # tracey: a server error, then posted
        (200, None),
        (429, str(int(MAX_RETRY_AFTER) * 2)),  # tina: asked to wait too long: left for later
        (503, None),  # the channel: unavailable, then rate limited, then posted
        (429, "2"),
        (200, None),
        (429, "1"),  # emma: rate limited three times: more than the transport retries
        (429, "1"),
        (429, "1"),
    ]
    retries, pace = Waits(), Waits()
    report = deliver(engine, transports(api, retries, pace), T0)
    assert (report.sent, report.failed, report.retrying) == (3, 0, 2)
    assert api.post_script == []
    assert posted(api) == [texts[0], texts[1], texts[3]]
    # the waits asked for: Retry-After for each 429, the library's back-off for each 5xx
    assert within(retries.asked, [3, 5, 0.5, 0.5, 2, 1, 1]), retries.asked
    assert pace.asked == []  # every message went to a different conversation

    rows = outbox(engine)
    assert [(r.status, r.attempts) for r in rows] == [
        ("sent", 1),
        ("sent", 1),
        ("pending", 1),
        ("sent", 1),
        ("pending", 1),
    ]
    for row in (rows[2], rows[4]):
        assert row.error == "ratelimited"
        assert utc(row.next_attempt_at) == T0 + backoff(1)

    calls = api.calls["chat.postMessage"]
    early = deliver(
        engine, transports(api, Waits(), Waits()), T0 + backoff(1) - timedelta(seconds=1)
    )
    assert early.sent == 0 and api.calls["chat.postMessage"] == calls  # not asked before time

    retries = Waits()
    report = deliver(engine, transports(api, retries, Waits()), T0 + backoff(1))
    assert (report.sent, report.failed, report.retrying) == (2, 0, 0)
    assert retries.asked == []
    assert posted(api) == [texts[0], texts[1], texts[3], texts[2], texts[4]]
    assert [r.status for r in outbox(engine)] == ["sent"] * 5

    assert deliver(engine, transports(api, Waits(), Waits()), T0 + timedelta(days=1)).sent == 0
    assert sorted(posted(api)) == sorted(texts)  # each once, none twice


def test_posts_to_one_channel_keep_their_pace_through_a_burst(database_url: str, api: FakeSlackApi):
    """Three digests to one channel, where Slack takes about one post a second: the pace is
    kept between posts, and a 429 or a 500 on the way is waited out on top of it."""
    engine = make_engine(database_url)
    texts = queue(engine, [CHANNEL, CHANNEL, CHANNEL])
    api.post_script = [(200, None), (429, "4"), (200, None), (500, None), (200, None)]
    waits = Waits()  # one clock for the pace and the retries, as real time would be
    client = make_client("xoxb-test", api.base_url, sleep=waits.sleep)
    transport = SlackTransport(client, pace_seconds=1.1, clock=waits.clock, sleep=waits.sleep)
    report = deliver(engine, Transports(slack=transport), T0)
    assert (report.sent, report.retrying) == (3, 0)
    assert posted(api) == texts
    pace, rate_limited, pace_again, server_error = waits.asked
    assert pace == pace_again == pytest.approx(1.1)
    assert within([rate_limited, server_error], [4, 0.5])


def test_a_429_then_a_500_in_one_call_is_left_to_the_next_run(database_url: str, api: FakeSlackApi):
    """The library's handlers share one count of retries per call: after a 429 was retried,
    a 500 is not (its handler allows one retry in all). The outbox tries it later, once."""
    engine = make_engine(database_url)
    [text] = queue(engine, [CHANNEL])
    api.post_script = [(429, "2"), (500, None)]
    waits = Waits()
    report = deliver(engine, transports(api, waits, Waits()), T0)
    assert (report.sent, report.retrying) == (0, 1) and api.posted == []
    assert within(waits.asked, [2])
    [row] = outbox(engine)
    assert (row.status, row.error) == ("pending", "internal_error")
    report = deliver(engine, transports(api, Waits(), Waits()), T0 + backoff(1))
    assert report.sent == 1 and posted(api) == [text]


def test_a_retry_after_longer_than_the_back_off_is_waited_out(database_url: str, api: FakeSlackApi):
    engine = make_engine(database_url)
    kelly = next(iter(USERS))
    queue(engine, [kelly])
    api.post_script = [(429, "900")]
    deliver(engine, transports(api, Waits(), Waits()), T0)
    [row] = outbox(engine)
    assert row.status == "pending"
    assert utc(row.next_attempt_at) >= T0 + timedelta(seconds=900)
