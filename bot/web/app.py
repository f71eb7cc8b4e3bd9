"""The web app: Starlette routes for the dashboard, the action pages, signing in, the update
page reminders link to, and (when Slack's HTTP mode is used) Slack's requests.

    GET  /                   the dashboard (?plan=ID for one plan)            signed in
    GET  /actions/{id}       one action and its whole history                 signed in
    GET  /sign-in            the sign-in form; POST it to be e-mailed a link
    GET  /sign-in/{token}    the e-mailed link: a button; POST it to sign in (once)
    POST /sign-out
    GET  /update/{token}     the update form a reminder links to; POST it to record the update
    POST /slack/events       Slack's events and interactivity, signatures checked by the app
    GET  /healthz            "ok", for a proxy or a test to know the app is up

`create_app` takes the clock (the update and sign-in links' expiry and the dashboard's day are
judged by it), so a test can run the app as on any day.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import (
    SlackRequestHandler,
    to_bolt_request,
    to_starlette_response,
)
from sqlalchemy.engine import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.delivery import Transports
from bot.rules import LoadedRules
from bot.settings import Settings
from bot.web.actions import action_view
from bot.web.auth import (
    SESSION_HOURS,
    StillAllowed,
    ask_for_link,
    sign_in_link,
    sign_in_page,
    sign_out,
)
from bot.web.dashboard import dashboard_page
from bot.web.pages import Web, render_page
from bot.web.update_page import update_page

EVENTS_PATH = "/slack/events"
SESSION_COOKIE = "actionbot_session"
# Pages hold the partnership's records: not cached, not framed, no scripts, and the tokens in
# sign-in and update links never leave in a Referer header.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' "
    "data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def wall_clock() -> datetime:
    return datetime.now(UTC)


def create_app(
    engine: Engine,
    settings: Settings,
    loaded: LoadedRules,
    *,
    clock: Callable[[], datetime] = wall_clock,
    transports: Transports | None = None,
    base_url: str | None = None,
    slack: App | None = None,
) -> Starlette:
    """The app. `base_url` (default WEB_BASE_URL) is where e-mailed links point; `transports`
    sends a sign-in link the moment it is asked for (otherwise the next delivery pass does);
    `slack` is the Bolt app to serve at /slack/events (see `mount_slack`)."""
    web_settings = settings.web
    web = Web(
        engine=engine,
        settings=settings,
        loaded=loaded,
        clock=clock,
        base_url=(base_url or web_settings.base_url or "").rstrip("/")
        or f"http://{web_settings.host}:{web_settings.port}",
        calendar=loaded.rules.working_calendar(),
        transports=transports,
    )
    routes = [
        Route("/", dashboard_page),
        Route("/actions/{action_id:int}", action_view),
        Route("/sign-in", sign_in_page, methods=["GET"]),
        Route("/sign-in", ask_for_link, methods=["POST"]),
        Route("/sign-in/{token}", sign_in_link, methods=["GET", "POST"]),
        Route("/sign-out", sign_out, methods=["POST"]),
        Route("/update/{token}", update_page, methods=["GET", "POST"]),
        Route(EVENTS_PATH, slack_events, methods=["POST"]),
        Route("/healthz", healthz),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=web_settings.secret.hex(),
                session_cookie=SESSION_COOKIE,
                max_age=SESSION_HOURS * 3600,
                same_site="lax",
                https_only=web_settings.secure,
            ),
            Middleware(StillAllowed, web=web),
        ],
        exception_handlers={HTTPException: _http_error},
    )
    app.state.web = web
    app.state.slack = None
    if slack is not None:
        mount_slack(app, slack)
    return app


def mount_slack(app: Starlette, slack: App) -> None:
    """Serves Slack's HTTP mode at /slack/events; each request's signature is checked by the
    Bolt app itself (bot/inbound/slack_app.py), so no session or CSRF token is involved."""
    app.state.slack = SlackRequestHandler(slack)


async def slack_events(request: Request) -> Response:
    handler: SlackRequestHandler | None = request.app.state.slack
    if handler is None:
        return PlainTextResponse("Slack is not served here", status_code=404)
    body = await request.body()
    # Bolt's dispatch blocks until the listener acknowledges: not on the event loop
    response = await run_in_threadpool(handler.app.dispatch, to_bolt_request(request, body))
    return to_starlette_response(response)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _http_error(request: Request, exc: Any) -> Response:
    status = getattr(exc, "status_code", 500)
    heading = "Page not found" if status == 404 else "That cannot be done here"
    return render_page(
        request,
        "problem",
        {"heading": heading, "words": "Check the address, or go back to the dashboard."},
        status=status,
    )


class SecurityHeaders:
    """Adds HEADERS to every response that does not set them itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, with_headers)
