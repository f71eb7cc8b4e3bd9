"""Serving the web app with uvicorn: in the foreground for `actionbot serve`, or in a thread
beside the scheduler for `actionbot run` (like the Slack app, it returns a way to stop it)."""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType

import uvicorn
from slack_bolt import App
from sqlalchemy.engine import Engine
from starlette.applications import Starlette

from bot.delivery import Transports
from bot.rules import LoadedRules
from bot.settings import Settings
from bot.web.app import create_app, mount_slack, wall_clock

log = logging.getLogger(__name__)

STARTING_SECONDS = 10.0


class WebStartError(Exception):
    """The web app could not start; the message says why."""


@dataclass
class WebServer:
    app: Starlette
    server: uvicorn.Server = field(repr=False)
    thread: threading.Thread = field(repr=False)
    sock: socket.socket = field(repr=False)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def host(self) -> str:
        return str(self.sock.getsockname()[0])

    def mount_slack(self, slack: App) -> None:
        mount_slack(self.app, slack)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on `host`:`port` (0: any free port)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        raise WebStartError(f"the web app cannot listen on {host}:{port} ({exc})") from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise WebStartError(f"the web app cannot listen on {host}:{port} ({reason})") from None
    return sock


def _server(app: Starlette) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_config=None,  # actionbot's logging, as configured by the CLI
        access_log=False,  # paths hold tokens: never logged
        lifespan="off",
        server_header=False,
    )
    return uvicorn.Server(config)


def start_web(
    engine: Engine,
    settings: Settings,
    loaded: LoadedRules,
    *,
    host: str | None = None,
    port: int | None = None,
    clock: Callable[[], datetime] = wall_clock,
    transports: Transports | None = None,
    base_url: str | None = None,
) -> WebServer:
    """Serves the app in a daemon thread until `stop()`. `port` 0 takes any free port."""
    sock = listen(host or settings.web.host, settings.web.port if port is None else port)
    app = create_app(
        engine, settings, loaded, clock=clock, transports=transports, base_url=base_url
    )
    server = _server(app)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="actionbot-web", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + STARTING_SECONDS
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    web = WebServer(app, server, thread, sock)
    log.info("web app on %s:%d, links to %s", web.host, web.port, app.state.web.base_url)
    return web


def start_web_if_configured(
    engine: Engine, settings: Settings, loaded: LoadedRules
) -> WebServer | None:
    """For `actionbot run`: the web app beside the scheduler when WEB_BASE_URL is set, sending
    sign-in links at once; None otherwise."""
    if not settings.web.base_url:
        log.info("the web app is off: WEB_BASE_URL is not set")
        return None
    from bot.chasing import transports_for

    return start_web(engine, settings, loaded, transports=transports_for(settings))


def serve_forever(
    engine: Engine,
    settings: Settings,
    loaded: LoadedRules,
    *,
    host: str | None = None,
    port: int | None = None,
    transports: Transports | None = None,
    slack: Callable[[Starlette], None] | None = None,
) -> None:
    """`actionbot serve`: the app until SIGINT or SIGTERM, then a clean stop. `slack` mounts
    the Slack app, when there is one to serve."""
    host = host or settings.web.host
    port = settings.web.port if port is None else port
    base = settings.web.base_url or f"http://{host}:{port}"
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping the web app", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    web = start_web(
        engine, settings, loaded, host=host, port=port, transports=transports, base_url=base
    )
    try:
        if slack is not None:
            slack(web.app)
        while not stopping.wait(1.0):
            if not web.thread.is_alive():
                raise WebStartError("the web app stopped by itself; see the log above")
    finally:
        web.stop()
    log.info("web app stopped")
