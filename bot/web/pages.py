"""What every page handler shares: the app's dependencies, and rendering a page from
templates/web/ in the same kind of Jinja2 sandbox as the e-mails (StrictUndefined, so a typo
fails a test), with every value escaped: titles, progress and names are user text.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse

from bot.delivery import Transports
from bot.notify.content import LEVEL_NAMES
from bot.notify.render import TEMPLATES, days, excerpt, human, rag_colours
from bot.rules import LoadedRules
from bot.settings import Settings
from bot.workdays import WorkingCalendar

Clock = Callable[[], datetime]
SOURCES = {
    "import": "the plan",
    "email": "e-mail",
    "slack": "Slack",
    "web": "the web",
    "cli": "the command line",
}


@dataclass(frozen=True)
class Web:
    """The app's dependencies, kept on `app.state.web`."""

    engine: Engine
    settings: Settings
    loaded: LoadedRules
    clock: Clock
    base_url: str  # where links in e-mails point: WEB_BASE_URL, or where `serve` listens
    calendar: WorkingCalendar
    transports: Transports | None = None  # sends a sign-in link at once; None: `run` does

    @property
    def secret(self) -> bytes:
        return self.settings.web.secret

    def today(self, now: datetime | None = None) -> date:
        return self.calendar.today(now or self.clock())


@dataclass(frozen=True)
class Refused:
    """Why a link or a form is refused, as its page says it."""

    status: int
    heading: str
    words: str


def refused_page(
    request: Request, refused: Refused, again: str | None = None, again_words: str | None = None
) -> HTMLResponse:
    context: dict[str, Any] = {"heading": refused.heading, "words": refused.words}
    if again:
        context.update(again=again, again_words=again_words or "Try again")
    return render_page(request, "problem", context, status=refused.status)


def web_of(request: Request) -> Web:
    web: Web = request.app.state.web
    return web


def render_page(
    request: Request, name: str, context: Mapping[str, Any], status: int = 200
) -> HTMLResponse:
    """templates/web/NAME.html.j2 with the layout's own variables added."""
    from bot.web.auth import csrf_token, signed_in  # auth renders pages too

    web = web_of(request)
    full = {
        "visitor": signed_in(request),
        "csrf": csrf_token(request),
        "zone": web.calendar.zone,
        "level_names": LEVEL_NAMES,
        "sources": SOURCES,
        "path": request.url.path,
        **context,
    }
    html = environment().get_template(f"web/{name}.html.j2").render(full)
    return HTMLResponse(html, status_code=status)


def environment(templates: Path | None = None) -> SandboxedEnvironment:
    return _environment((templates or TEMPLATES).resolve())


@functools.cache
def _environment(folder: Path) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        autoescape=True,  # every web page is HTML, and everything shown may be user text
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        human=human, days=days, excerpt=excerpt, rag_colours=rag_colours, moment=moment
    )
    return env


def moment(value: datetime | None, zone: Any = None) -> str:
    """ "26 Nov 2018, 13:00" in the partnership's time zone; stored times without a zone are
    UTC (SQLite gives them back so)."""
    if value is None:
        return "—"
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    local = aware.astimezone(zone) if zone is not None else aware
    return f"{human(local)}, {local:%H:%M}"
