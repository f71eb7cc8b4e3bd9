"""Settings from the environment and `.env`, checked once at start-up.

Everything has an embedded default so `actionbot demo` and `actionbot init` work on a fresh
clone; a bad value stops the program with a message naming the variable, not a traceback later.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATA_DIR = "data"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

# Every variable actionbot reads, with what it means; the README's table is checked against it.
VARIABLES: dict[str, str] = {
    "DATABASE_URL": "SQLAlchemy URL of the database; default sqlite:///<data dir>/actionbot.db",
    "ACTIONBOT_DATA_DIR": "folder holding plans/, people.yaml and the SQLite file; default data",
    "LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR; default INFO",
    "ACTIONBOT_RULES": "the escalation rules file (or a folder with one); default rules",
}


class SettingsError(Exception):
    """One or more settings are wrong; the message names each variable."""


@dataclass(frozen=True)
class Settings:
    database_url: str
    data_dir: Path
    log_level: str
    rules_path: Path = Path("rules")

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

    if problems:
        raise SettingsError("; ".join(problems))
    return Settings(
        database_url=database_url, data_dir=data_dir, log_level=log_level, rules_path=rules_path
    )


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(
        level=getattr(logging, settings.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
