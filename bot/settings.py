"""Settings from the environment and `.env`, checked once at start-up.

Everything has an embedded default so `actionbot demo` and `actionbot init` work on a fresh
clone; a bad value stops the program with a message naming the variable, not a traceback later.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.inbound.imap import LOOPBACK_HOSTS, ImapConfig
from bot.inbound.imap import Security as ImapSecurity

DEFAULT_DATA_DIR = "data"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# Every variable actionbot reads, with what it means; the README's table is checked against it.
VARIABLES: dict[str, str] = {
    "DATABASE_URL": "SQLAlchemy URL of the database; default sqlite:///<data dir>/actionbot.db",
    "ACTIONBOT_DATA_DIR": "folder holding plans/, people.yaml and the SQLite file; default data",
    "LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR; default INFO",
    "ACTIONBOT_RULES": "the escalation rules file (or a folder with one); default rules",
    "OUTBOX_DIR": "where e-mail is written as .eml files while SMTP_HOST is unset; "
    "default <data dir>/outbox",
    "SMTP_HOST": "the mail server; unset: e-mail is written to OUTBOX_DIR instead",
    "SMTP_PORT": "default 587 (465 with SMTP_SECURITY=ssl)",
    "SMTP_SECURITY": "starttls, ssl or none; default starttls",
    "SMTP_USERNAME": "login name, if the server wants one",
    "SMTP_PASSWORD": "its password (secret)",
    "MAIL_FROM": "the From address; default actionbot@example.org",
    "REPLY_ADDRESS": "where replies go, as updates+TOKEN@…; default updates@<MAIL_FROM domain>",
    "REPLY_SECRET": "the key that signs reply tokens (secret); required with SMTP_HOST",
    "SLACK_BOT_TOKEN": "xoxb- token; unset: Slack is off",
    "SLACK_API_URL": "the Slack Web API base URL; default Slack's own",
    "SLACK_MODE": "how Slack reaches actionbot: socket (default) or http",
    "SLACK_APP_TOKEN": "xapp- app-level token for Socket Mode (secret); unset: Slack replies "
    "are off in socket mode",
    "SLACK_SIGNING_SECRET": "the app's signing secret (secret); required with SLACK_MODE=http",
    "SLACK_HTTP_PORT": "the port Slack's requests are served on with SLACK_MODE=http; default 3000",
    "IMAP_HOST": "the mail server replies are read from; unset: replies are not read by IMAP",
    "IMAP_PORT": "default 993 (143 with IMAP_SECURITY=starttls or none)",
    "IMAP_SECURITY": "ssl, starttls or none (none only to this machine); default ssl",
    "IMAP_USERNAME": "login name; required with IMAP_HOST",
    "IMAP_PASSWORD": "its password (secret); required with IMAP_HOST",
    "IMAP_FOLDER": "the folder replies arrive in; default INBOX",
    "WEB_BASE_URL": "the web app's address as people reach it (https://actionbot.example.org); "
    "set: reminders carry update links and `run` serves the web app",
    "WEB_HOST": "the address the web app listens on; default 127.0.0.1",
    "WEB_PORT": "the web app's port; default 8080",
    "WEB_SECRET": "the key that signs web links and sign-in cookies (secret; 16+ characters); "
    "default derived from REPLY_SECRET",
    "WEB_ADMINS": "e-mail addresses, comma-separated, of business managers who may sign in "
    "to the web app beside the governance groups",
}
# Reply tokens made with this key prove nothing: it is for the outbox-folder demo only.
DEMO_REPLY_SECRET = "actionbot-demo-secret-not-for-real-mail"


class SettingsError(Exception):
    """One or more settings are wrong; the message names each variable."""


@dataclass(frozen=True)
class MailSettings:
    sender: str
    reply_address: str
    reply_secret: bytes = field(repr=False)
    outbox_dir: Path
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: str = "starttls"
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)

    @property
    def domain(self) -> str:
        return self.sender.rpartition("@")[2].strip("> ") or "localhost"


@dataclass(frozen=True)
class WebSettings:
    """The web app (bot/web): where people reach it, where it listens, what signs its links."""

    base_url: str | None = None  # None: no update links in reminders, `run` serves no web app
    host: str = "127.0.0.1"
    port: int = 8080
    secret: bytes = field(default=b"", repr=False)
    admins: tuple[str, ...] = ()  # lowercased e-mail addresses

    @property
    def secure(self) -> bool:
        """Served over https: cookies are then sent over https only."""
        return (self.base_url or "").startswith("https://")


@dataclass(frozen=True)
class Settings:
    database_url: str
    data_dir: Path
    log_level: str
    rules_path: Path = Path("rules")
    mail: MailSettings | None = None
    slack_token: str | None = field(default=None, repr=False)
    slack_api_url: str | None = None
    slack_mode: str = "socket"  # socket | http: how Slack's events and button presses arrive
    slack_app_token: str | None = field(default=None, repr=False)
    slack_signing_secret: str | None = field(default=None, repr=False)
    slack_http_port: int = 3000
    imap: ImapConfig | None = None  # None: replies are not read by IMAP
    web: WebSettings = field(default_factory=WebSettings)

    @property
    def plans_dir(self) -> Path:
        return self.data_dir / "plans"

    @property
    def people_file(self) -> Path:
        return self.data_dir / "people.yaml"


def load_settings(
    environ: Mapping[str, str] | None = None, env_file: str | Path | None = ".env"
) -> Settings:
    """Reads `environ` (default: the process environment) over the values in `env_file`."""
    values: dict[str, str] = {}
    if env_file is not None and Path(env_file).is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)

    problems: list[str] = []
    data_dir = Path(values.get("ACTIONBOT_DATA_DIR") or DEFAULT_DATA_DIR)
    if data_dir.exists() and not data_dir.is_dir():
        problems.append(f"ACTIONBOT_DATA_DIR: {data_dir} exists and is not a folder")

    database_url = values.get("DATABASE_URL") or f"sqlite:///{data_dir / 'actionbot.db'}"
    try:
        url = make_url(database_url)
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            problems.append(
                f"DATABASE_URL: expected a sqlite:/// or postgresql+psycopg:// URL, "
                f"got the {url.get_backend_name()!r} backend"
            )
        elif url.get_backend_name() == "postgresql" and url.get_driver_name() != "psycopg":
            problems.append(
                "DATABASE_URL: PostgreSQL URLs must name the psycopg driver, "
                "e.g. postgresql+psycopg://user@127.0.0.1:5432/actionbot"
            )
    except ArgumentError:
        problems.append(
            "DATABASE_URL: not a database URL (expected e.g. sqlite:///data/actionbot.db "
            "or postgresql+psycopg://user@host:5432/actionbot)"
        )

    log_level = (values.get("LOG_LEVEL") or "INFO").upper()
    if log_level not in LOG_LEVELS:
        problems.append(f"LOG_LEVEL: expected one of {', '.join(LOG_LEVELS)}, got {log_level!r}")

    rules_path = Path(values.get("ACTIONBOT_RULES") or "rules")  # checked when it is read
    mail = _mail(values, data_dir, problems)
    slack_token = values.get("SLACK_BOT_TOKEN") or None
    if slack_token is not None and not slack_token.startswith("xoxb-"):
        problems.append("SLACK_BOT_TOKEN: expected a bot token starting xoxb-")
    slack_mode, slack_app_token, slack_secret, slack_port = _slack_in(values, slack_token, problems)
    imap = _imap(values, problems)
    web = _web(values, mail.reply_secret, problems)

    if problems:
        raise SettingsError("; ".join(problems))
    return Settings(
        database_url=database_url,
        data_dir=data_dir,
        log_level=log_level,
        rules_path=rules_path,
        mail=mail,
        slack_token=slack_token,
        slack_api_url=values.get("SLACK_API_URL") or None,
        slack_mode=slack_mode,
        slack_app_token=slack_app_token,
        slack_signing_secret=slack_secret,
        slack_http_port=slack_port,
        imap=imap,
        web=web,
    )


_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def _mail(values: Mapping[str, str], data_dir: Path, problems: list[str]) -> MailSettings:
    sender = values.get("MAIL_FROM") or "actionbot@example.org"
    if not _ADDRESS.match(sender):
        problems.append(f"MAIL_FROM: expected an e-mail address, got {sender!r}")
    domain = sender.rpartition("@")[2]
    reply = values.get("REPLY_ADDRESS") or f"updates@{domain}"
    if not _ADDRESS.match(reply) or "+" in reply.partition("@")[0]:
        problems.append(f"REPLY_ADDRESS: expected an address without '+', got {reply!r}")
    host = values.get("SMTP_HOST") or None
    security = (values.get("SMTP_SECURITY") or "starttls").lower()
    if security not in ("starttls", "ssl", "none"):
        problems.append(f"SMTP_SECURITY: expected starttls, ssl or none, got {security!r}")
    port_text = values.get("SMTP_PORT") or ("465" if security == "ssl" else "587")
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else 0
    if not port:
        problems.append(f"SMTP_PORT: expected a port number, got {port_text!r}")
    secret = values.get("REPLY_SECRET") or ""
    if host and len(secret) < 16:
        problems.append(
            "REPLY_SECRET: required (16 characters or more) when SMTP_HOST is set; make one "
            "with: python3 -c 'import secrets; print(secrets.token_hex(32))'"
        )
    return MailSettings(
        sender=sender,
        reply_address=reply,
        reply_secret=(secret or DEMO_REPLY_SECRET).encode(),
        outbox_dir=Path(values.get("OUTBOX_DIR") or data_dir / "outbox"),
        smtp_host=host,
        smtp_port=port,
        smtp_security=security,
        smtp_username=values.get("SMTP_USERNAME") or None,
        smtp_password=values.get("SMTP_PASSWORD") or None,
    )


def _web(values: Mapping[str, str], reply_secret: bytes, problems: list[str]) -> WebSettings:
    base = (values.get("WEB_BASE_URL") or "").strip().rstrip("/") or None
    if base is not None and not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", base):
        problems.append(
            f"WEB_BASE_URL: expected an address like https://actionbot.example.org, got {base!r}"
        )
    port_text = values.get("WEB_PORT") or "8080"
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else 0
    if not port:
        problems.append(f"WEB_PORT: expected a port number, got {port_text!r}")
    secret = values.get("WEB_SECRET") or ""
    if secret and len(secret) < 16:
        problems.append("WEB_SECRET: too short; use 16 characters or more")
    admins = tuple(
        a.strip().lower() for a in (values.get("WEB_ADMINS") or "").split(",") if a.strip()
    )
    for address in admins:
        if not _ADDRESS.match(address):
            problems.append(f"WEB_ADMINS: expected e-mail addresses, got {address!r}")
    return WebSettings(
        base_url=base,
        host=values.get("WEB_HOST") or "127.0.0.1",
        port=port or 8080,
        # Its own key, or one derived from REPLY_SECRET: a web link is never a reply token.
        secret=secret.encode()
        if secret
        else hmac.new(reply_secret, b"actionbot web", hashlib.sha256).digest(),
        admins=admins,
    )


def _imap(values: Mapping[str, str], problems: list[str]) -> ImapConfig | None:
    found = len(problems)
    security = (values.get("IMAP_SECURITY") or "ssl").lower()
    if security not in ("ssl", "starttls", "none"):
        problems.append(f"IMAP_SECURITY: expected ssl, starttls or none, got {security!r}")
    port_text = values.get("IMAP_PORT") or ("993" if security == "ssl" else "143")
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else 0
    if not port:
        problems.append(f"IMAP_PORT: expected a port number, got {port_text!r}")
    folder = values.get("IMAP_FOLDER") or "INBOX"
    if folder in ("Processed", "Quarantine"):
        problems.append(
            f"IMAP_FOLDER: {folder} is where handled replies are moved to; "
            "name the folder they arrive in (usually INBOX)"
        )
    host = values.get("IMAP_HOST") or None
    if host is None:
        return None
    if security == "none" and host not in LOOPBACK_HOSTS:
        problems.append(
            f"IMAP_SECURITY: none would send the password to {host} unencrypted; "
            "use ssl or starttls (none is only for a server on this machine: "
            f"{', '.join(LOOPBACK_HOSTS)})"
        )
    username = values.get("IMAP_USERNAME") or ""
    password = values.get("IMAP_PASSWORD") or ""
    for name, value in (("IMAP_USERNAME", username), ("IMAP_PASSWORD", password)):
        if not value:
            problems.append(f"{name}: required when IMAP_HOST is set")
    if len(problems) > found:
        return None
    return ImapConfig(
        host=host,
        port=port,
        username=username,
        password=password,
        security=cast(ImapSecurity, security),
        folder=folder,
    )


def _slack_in(
    values: Mapping[str, str], bot_token: str | None, problems: list[str]
) -> tuple[str, str | None, str | None, int]:
    """Slack replies in: Socket Mode needs the app token, HTTP mode the signing secret, and both
    the bot token. With only SLACK_BOT_TOKEN set (and no SLACK_MODE) Slack is send-only."""
    explicit = values.get("SLACK_MODE") or None
    mode = (explicit or "socket").lower()
    if mode not in ("socket", "http"):
        problems.append(f"SLACK_MODE: expected socket or http, got {mode!r}")
    app_token = values.get("SLACK_APP_TOKEN") or None
    if app_token is not None and not app_token.startswith("xapp-"):
        problems.append("SLACK_APP_TOKEN: expected an app-level token starting xapp-")
    secret = values.get("SLACK_SIGNING_SECRET") or None
    port_text = values.get("SLACK_HTTP_PORT") or "3000"
    port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else 0
    if not port:
        problems.append(f"SLACK_HTTP_PORT: expected a port number, got {port_text!r}")
    if bot_token is None:
        for name in ("SLACK_MODE", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
            if values.get(name):
                problems.append(f"SLACK_BOT_TOKEN: required when {name} is set")
                break
    elif mode == "http" and secret is None:
        problems.append("SLACK_SIGNING_SECRET: required when SLACK_MODE=http")
    elif mode == "socket" and explicit and app_token is None:
        problems.append("SLACK_APP_TOKEN: required when SLACK_MODE=socket")
    return mode, app_token, secret, port or 3000


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Schema upgrades run before every command; their chatter is for DEBUG only.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
