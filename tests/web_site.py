"""The web app on loopback for the web tests: the small test plan (tests/test_load.py), real
ticks that sent the reminders to the .eml folder, and the real app served by uvicorn on a free
port with a clock the test moves.

WEB_BASE_URL is a public address, as behind a proxy (http, so the session cookie is not
marked Secure); the links the app e-mails are opened on the loopback server with `local()`.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot import models as m
from bot.chasing import tick
from bot.db import make_engine, session
from bot.delivery import Transports
from bot.importing import import_files
from bot.notify.email import OutboxDirTransport
from bot.rules import LoadedRules, load_rules
from bot.settings import Settings, load_settings
from bot.web.serve import WebServer, start_web
from tests.conftest import REPO
from tests.test_load import PEOPLE, PLAN, write

LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2018, 11, 26, 10, 0, tzinfo=LONDON)
PUBLIC = "http://actionbot.test"
SECRET = "s3cret-for-the-web-tests-0123456789"
MANAGER = "business.manager@example.org"
# Sam leads nothing and is in no governance group: he may not sign in.
PEOPLE_WEB = PEOPLE.replace(
    "  - name: Ops Chair\n",
    "  - name: Sam Stranger\n    email: sam.stranger@example.org\n  - name: Ops Chair\n",
)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Site:
    engine: Engine
    settings: Settings
    rules: LoadedRules
    clock: Clock
    server: WebServer
    tmp: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def local(self, link: str) -> str:
        """A link the app e-mailed, opened on the loopback server."""
        assert link.startswith(PUBLIC + "/"), link
        return self.url + link.removeprefix(PUBLIC)

    def outbox(self, kind: str, recipient: str | None = None) -> list[m.Outbox]:
        with session(self.engine) as s:
            query = select(m.Outbox).where(m.Outbox.kind == kind, m.Outbox.channel == "email")
            if recipient is not None:
                query = query.where(m.Outbox.recipient.contains(recipient))  # type: ignore[attr-defined]
            return list(s.exec(query.order_by(col(m.Outbox.id))))

    def sign_in_link(self, address: str) -> str:
        """The link in the newest sign-in message the form queued for `address`."""
        [*_, row] = self.outbox("sign-in", address)
        found = re.search(re.escape(PUBLIC) + r"/sign-in/[a-z0-9]+", text_of(row))
        assert found, text_of(row)
        return self.local(found.group())

    def update_links(self, address: str) -> list[str]:
        """The update links in the newest reminder to `address`, in the order it lists them."""
        [*_, row] = self.outbox("reminder", address)
        links = re.findall(re.escape(PUBLIC) + r"/update/[a-z0-9]+", text_of(row))
        assert links, text_of(row)
        return [self.local(link) for link in links]


def text_of(row: m.Outbox) -> str:
    message = email.message_from_string(row.payload, policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    return str(body.get_content())


@contextmanager
def running_site(
    database_url: str,
    tmp_path: Path,
    ticks: Iterable[datetime] = (MONDAY,),
    *,
    after: timedelta = timedelta(hours=3),
    base_url: str = PUBLIC,
) -> Iterator[Site]:
    """The plan imported two months before MONDAY, a tick at each of `ticks` (reminders with
    update links), and the app serving as at `after` past the last tick."""
    engine = make_engine(database_url)
    import_files(engine, write(tmp_path, PLAN, PEOPLE_WEB), MONDAY - timedelta(days=60))
    settings = load_settings(
        {
            "REPLY_SECRET": SECRET,
            "OUTBOX_DIR": str(tmp_path / "outbox"),
            "MAIL_FROM": "actionbot@medway.example.org",
            "WEB_BASE_URL": base_url,
            "WEB_ADMINS": MANAGER,
        },
        env_file=None,
    )
    rules = load_rules(REPO / "rules")
    transports = Transports(email=OutboxDirTransport(tmp_path / "outbox"))
    moments = list(ticks)
    for moment in moments:
        tick(engine, rules, settings, moment, transports)
    clock = Clock(moments[-1] + after)
    server = start_web(
        engine, settings, rules, host="127.0.0.1", port=0, clock=clock, transports=transports
    )
    try:
        yield Site(engine, settings, rules, clock, server, tmp_path)
    finally:
        server.stop()
        engine.dispose()
