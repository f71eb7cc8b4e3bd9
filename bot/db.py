"""Opening the database and creating its tables; the same code serves SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, inspect
from sqlalchemy.engine import Connection, Engine, make_url
from sqlmodel import Session, create_engine

from bot import models  # noqa: F401  (registers the tables on SQLModel.metadata)


def make_engine(database_url: str) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(database_url, connect_args={"check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            # Foreign keys are off by default in SQLite; WAL lets the CLI read while the bot writes.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if url.database and url.database != ":memory:":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.close()

        return engine
    return create_engine(database_url, pool_pre_ping=True)


MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


class UnversionedDatabaseError(Exception):
    """A database made before actionbot had migrations: its schema cannot be upgraded in place."""


def create_schema(engine: Engine) -> None:
    """Brings the database to the newest schema through the migrations (a no-op when it is)."""
    with engine.begin() as connection:
        tables = set(inspect(connection).get_table_names())
        if "plan" in tables and "alembic_version" not in tables:
            raise UnversionedDatabaseError(
                f"{engine.url.render_as_string(hide_password=True)} was made by an actionbot "
                "from before schema migrations. It holds only what was imported from data/ "
                "(replies could not be recorded then), so move it aside and run `actionbot init` "
                "to make it again."
            )
        command.upgrade(alembic_config(connection), "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
