"""Sending to Slack: direct messages to leads found by e-mail, and posts to group channels.

`SlackTransport` turns one message into the Web API calls Slack needs (`users.lookupByEmail`,
`conversations.open`, `chat.postMessage`) and every outcome into a `SlackResult` that says
whether trying again later could help, so the outbox can retry or give up without knowing Slack.

Waiting is never done with the real clock directly: the per-channel pace (Slack takes about one
message a second per channel) and the retry handlers' waits (`Retry-After` on a 429, back-off
on a 5xx or a dropped connection) go through an injected `sleep`, so tests run instantly and
can assert every wait. Message text is never logged above DEBUG.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.notify.content import Recipient

log = logging.getLogger(__name__)

Sleep = Callable[[float], object]
Clock = Callable[[], float]
Block = dict[str, Any]

# Errors that will come back however often the same message is sent: give up and say why.
PERMANENT_ERRORS = frozenset(
    {
        "users_not_found",
        "channel_not_found",
        "not_in_channel",
        "invalid_blocks",
        "invalid_blocks_format",
        "account_inactive",
        "is_archived",
        "msg_too_long",
        "no_text",
        "cannot_dm_bot",
        "no_slack_address",  # ours: the recipient has neither a Slack id nor an e-mail
    }
)
RATE_LIMIT_RETRIES = 2
MAX_RETRY_AFTER = 60.0  # a longer Retry-After is left to the outbox's next run, not slept here


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackConfig:
    """Where Slack messages go. `channels` maps a message kind to a channel id, so that a digest
    can also be posted to, say, the operational group's channel: {"operational-digest": "C123"}.
    """

    token: str = field(repr=False)  # kept out of logs and tracebacks
    base_url: str | None = None  # None: Slack itself; tests point this at a local server
    channels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "channels", MappingProxyType(dict(self.channels)))

    def channel_for(self, kind: str) -> str | None:
        return self.channels.get(kind)


# --- retries that wait through an injected sleep ---------------------------------------------


class _InjectedSleep(RetryHandler):
    """The library's handlers call `time.sleep` themselves; this waits through ours instead.

    Same contract as `RetryHandler.prepare_for_next_attempt`: ask for another attempt, wait,
    count the attempt. Only where the wait comes from differs.
    """

    def __init__(self, *args: Any, sleep: Sleep, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sleep = sleep

    def wait_seconds(
        self, state: RetryState, response: HttpResponse | None, error: Exception | None
    ) -> float:
        return self.interval_calculator.calculate_sleep_duration(state.current_attempt)

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        wait = self.wait_seconds(state, response, error)
        state.next_attempt_requested = True
        self._sleep(wait)
        state.increment_current_attempt()


class ConnectionRetry(_InjectedSleep, ConnectionErrorRetryHandler):
    """Retries a dropped connection once, after the library's back-off."""


class ServerErrorRetry(_InjectedSleep, ServerErrorRetryHandler):
    """Retries a 500 or 503 once, after the library's back-off."""


class RateLimitRetry(_InjectedSleep, RateLimitErrorRetryHandler):
    """Retries a 429 after the `Retry-After` Slack gave, plus up to a second of jitter, as the
    library does; a wait longer than `max_wait` is not slept here but reported as a failure.
    """

    def __init__(
        self,
        *,
        sleep: Sleep,
        max_retry_count: int = RATE_LIMIT_RETRIES,
        max_wait: float = MAX_RETRY_AFTER,
    ) -> None:
        super().__init__(max_retry_count=max_retry_count, sleep=sleep)
        self.max_wait = max_wait

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        limited = super()._can_retry(state=state, request=request, response=response, error=error)
        return limited and response is not None and retry_after(response) <= self.max_wait

    def wait_seconds(
        self, state: RetryState, response: HttpResponse | None, error: Exception | None
    ) -> float:
        if response is None:  # as the library: nothing to read a wait from
            raise error or RuntimeError("rate limited without a response")
        return retry_after(response) + random.random()


def _seconds(headers: Mapping[str, Any]) -> float:
    """Retry-After from a response's headers (60 s when it is missing or unreadable)."""
    for name, value in headers.items():
        if name.lower() == "retry-after" and value:
            try:
                return max(0.0, float(value[0] if isinstance(value, list) else value))
            except ValueError:
                break
    return 60.0


def retry_after(response: HttpResponse) -> float:
    """Seconds from the Retry-After header (1 if missing or unreadable, as the library assumes)."""
    for name, values in response.headers.items():
        if name.lower() == "retry-after" and values:
            value = values[0] if isinstance(values, list) else values
            try:
                return max(0.0, float(value))
            except ValueError:
                break
    return 1.0


def retry_handlers(sleep: Sleep = time.sleep) -> list[RetryHandler]:
    """Connection errors, 429s (twice) and 5xx, all waiting through `sleep`."""
    return [
        ConnectionRetry(sleep=sleep),
        RateLimitRetry(sleep=sleep),
        ServerErrorRetry(sleep=sleep),
    ]


def make_client(token: str, base_url: str | None = None, sleep: Sleep = time.sleep) -> WebClient:
    """A WebClient that retries what is worth retrying, waiting through `sleep`."""
    kwargs: dict[str, Any] = {}
    if base_url is not None:
        kwargs["base_url"] = base_url if base_url.endswith("/") else base_url + "/"
    return WebClient(token=token, retry_handlers=retry_handlers(sleep), **kwargs)


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackResult:
    """What happened to one message. `permanent` failures will fail again if sent again."""

    ok: bool
    channel: str | None = None
    ts: str | None = None  # Slack's id of the posted message, for threading and audit
    error: str | None = None
    permanent: bool = False
    retry_after: float | None = None  # seconds Slack asked us to wait (a 429 not waited out)


def failure(error: str, channel: str | None = None) -> SlackResult:
    return SlackResult(ok=False, channel=channel, error=error, permanent=error in PERMANENT_ERRORS)


def api_error_code(exc: SlackApiError) -> str:
    """Slack's error word ("channel_not_found"), or the HTTP status when the body had none."""
    response = exc.response
    data = response.data if isinstance(response.data, dict) else {}
    return str(data.get("error") or f"http_{response.status_code}")


# --- the transport ---------------------------------------------------------------------------


class SlackTransport:
    """Sends reminders as DMs and digests to channels, one message at a time.

    Caches per instance (one instance per sending run): user ids by e-mail, including "not on
    Slack", so a lead without Slack is looked up once per run rather than once per message; and
    the DM channel per user. Not safe to share between threads.
    """

    def __init__(
        self,
        client: WebClient,
        *,
        pace_seconds: float = 1.1,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.client = client
        self.pace_seconds = pace_seconds
        self._clock = clock
        self._sleep = sleep
        self._user_ids: dict[str, str | None] = {}
        self._dm_channels: dict[str, str] = {}
        self._last_post: dict[str, float] = {}

    @classmethod
    def from_config(
        cls,
        config: SlackConfig,
        *,
        pace_seconds: float = 1.1,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> SlackTransport:
        client = make_client(config.token, config.base_url, sleep=sleep)
        return cls(client, pace_seconds=pace_seconds, clock=clock, sleep=sleep)

    def user_id_for(self, email: str) -> str | None:
        """The Slack user with this e-mail, or None if there is none.

        Other failures (network, rate limit, bad token) raise slack_sdk's errors and are not
        cached, so the next message tries again.
        """
        key = email.strip().lower()
        if key not in self._user_ids:
            self._user_ids[key] = self._lookup(email.strip())
        return self._user_ids[key]

    def send_dm(self, recipient: Recipient, text: str, blocks: Sequence[Block]) -> SlackResult:
        """A direct message to one person, found by Slack id or else by e-mail."""
        try:
            user_id = self._user_id(recipient)
            if user_id is None:
                code = "no_slack_address" if recipient.email is None else "users_not_found"
                log.info("Slack DM not sent: recipient not on Slack (%s)", code)
                return failure(code)
            return self._post(self._open_dm(user_id), text, blocks)
        except (SlackClientError, OSError) as exc:
            return self._failed(exc, None)

    def post_channel(self, channel: str, text: str, blocks: Sequence[Block]) -> SlackResult:
        """A post to a channel the bot is in: a digest for a group, say."""
        try:
            return self._post(channel, text, blocks)
        except (SlackClientError, OSError) as exc:
            return self._failed(exc, channel)

    # -- steps --

    def _user_id(self, recipient: Recipient) -> str | None:
        if recipient.slack_id:
            return recipient.slack_id
        return self.user_id_for(recipient.email) if recipient.email else None

    def _lookup(self, email: str) -> str | None:
        try:
            response = self.client.users_lookupByEmail(email=email)
        except SlackApiError as exc:
            if api_error_code(exc) == "users_not_found":
                return None
            raise
        return str(response["user"]["id"])

    def _open_dm(self, user_id: str) -> str:
        if user_id not in self._dm_channels:
            response = self.client.conversations_open(users=user_id)
            self._dm_channels[user_id] = str(response["channel"]["id"])
        return self._dm_channels[user_id]

    def _post(self, channel: str, text: str, blocks: Sequence[Block]) -> SlackResult:
        self._wait_for_turn(channel)
        log.debug("Slack post to %s: %d blocks, text %r", channel, len(blocks), text)
        try:
            response = self.client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=list(blocks),
                unfurl_links=False,
                unfurl_media=False,
            )
        finally:
            self._last_post[channel] = self._clock()
        return SlackResult(ok=True, channel=str(response["channel"]), ts=str(response["ts"]))

    def _wait_for_turn(self, channel: str) -> None:
        """Keeps `pace_seconds` between two posts to one channel; other channels need no wait."""
        last = self._last_post.get(channel)
        if last is None:
            return
        wait = last + self.pace_seconds - self._clock()
        if wait > 0:
            self._sleep(wait)

    def _failed(self, exc: Exception, channel: str | None) -> SlackResult:
        # Only the error word and the channel are logged: the exception's text can quote the
        # message Slack echoed back.
        if isinstance(exc, SlackApiError):
            result = failure(api_error_code(exc), channel)
            response = exc.response
            if getattr(response, "status_code", None) == 429:
                headers = dict(getattr(response, "headers", None) or {})
                result = replace(result, retry_after=_seconds(headers))
        elif isinstance(exc, OSError):  # refused, reset, timed out: worth another try later
            result = failure(f"network: {type(exc).__name__}", channel)
        else:
            result = failure(f"client: {type(exc).__name__}", channel)
        level = logging.WARNING if result.permanent else logging.INFO
        log.log(level, "Slack send failed (%s, permanent=%s)", result.error, result.permanent)
        return result
