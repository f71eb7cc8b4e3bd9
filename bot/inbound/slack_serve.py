"""Running the Slack app beside the scheduler: Socket Mode (the default: an outgoing WebSocket,
no public URL) or HTTP (Slack posts to /slack/events; every request's signature is checked).

Both start in background threads and return a function that stops them, so `actionbot run`
can start Slack, run APScheduler in the foreground, and stop Slack when the scheduler stops:

    stop_slack = start_slack(engine, settings, loaded)
    try:
        run_scheduler(...)
    finally:
        stop_slack()
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy.engine import Engine

from bot.inbound.slack_app import build_app
from bot.notify.slack import api_error_code, make_client
from bot.rules import LoadedRules
from bot.settings import Settings

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"  # the Request URL to give Slack: https://<your host>/slack/events
Stop = Callable[[], None]


class SlackStartError(Exception):
    """Slack replies could not be started; the message says which setting to look at."""


def start_slack(
    engine: Engine,
    settings: Settings,
    loaded: LoadedRules,
    mount: Callable[[App], None] | None = None,
) -> Stop:
    """Starts Slack replies in the mode SLACK_MODE names and returns the function that stops
    them. With Slack off (no SLACK_BOT_TOKEN), or Socket Mode without SLACK_APP_TOKEN, nothing
    starts and the returned function does nothing. In HTTP mode, `mount` hands the app to the
    web app (bot/web), which serves /slack/events itself; without it a small server of its own
    listens on SLACK_HTTP_PORT. Raises SlackStartError when Slack refuses the bot token or the
    app token."""
    if settings.slack_token is None:
        log.info("Slack replies are off: SLACK_BOT_TOKEN is not set")
        return _nothing
    if settings.slack_mode == "socket" and settings.slack_app_token is None:
        log.warning(
            "Slack replies are off: SLACK_APP_TOKEN is not set, so the Add update buttons in "
            "Slack reminders will not answer (set it, or SLACK_MODE=http)"
        )
        return _nothing
    client = make_client(settings.slack_token, settings.slack_api_url)
    try:
        client.auth_test()
    except SlackApiError as exc:
        raise SlackStartError(
            f"Slack did not accept SLACK_BOT_TOKEN ({api_error_code(exc)})"
        ) from None
    except (SlackClientError, OSError) as exc:
        raise SlackStartError(f"could not reach Slack ({type(exc).__name__})") from None
    app = build_app(engine, settings, loaded, client=client)
    if settings.slack_mode == "http" and mount is not None:
        mount(app)
        log.info("Slack replies: HTTP, served by the web app at %s", EVENTS_PATH)
        return _nothing
    if settings.slack_mode == "http":
        server = run_slack_http(app, settings.slack_http_port)
        log.info("Slack replies: HTTP on port %d, path %s", server.port, EVENTS_PATH)
        return server.stop
    assert settings.slack_app_token is not None
    stop = run_slack_socket(app, settings.slack_app_token)
    log.info("Slack replies: Socket Mode connected")
    return stop


def run_slack_socket(app: App, app_token: str) -> Stop:
    """Connects over Socket Mode without blocking; the client reconnects by itself."""
    handler = SocketModeHandler(app, app_token)
    try:
        handler.connect()
    except SlackApiError as exc:
        handler.close()
        raise SlackStartError(
            f"Slack did not accept SLACK_APP_TOKEN ({api_error_code(exc)})"
        ) from None
    except (SlackClientError, OSError) as exc:
        handler.close()
        raise SlackStartError(f"could not open Socket Mode ({type(exc).__name__})") from None
    return handler.close


@dataclass
class SlackHttpServer:
    """A small threaded WSGI server for the app, in a daemon thread."""

    server: WSGIServer
    thread: threading.Thread = field(repr=False)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def run_slack_http(app: App, port: int, host: str = "0.0.0.0") -> SlackHttpServer:  # noqa: S104
    """Serves POST /slack/events on `port` (0: any free port) until stopped. Plain HTTP: put it
    behind the HTTPS proxy that Slack's Request URL points at."""
    server = make_server(
        host,
        port,
        SlackRequestHandler(app, path=EVENTS_PATH),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="slack-http", daemon=True
    )
    thread.start()
    return SlackHttpServer(server, thread)


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    """wsgiref writes every request to stderr; ours go to the log, at DEBUG."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        log.debug("Slack HTTP: " + format, *args)


def _nothing() -> None:
    return None
