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
            # In WAL mode synchronous=NORMAL still leaves the database consistent when the
            # process crashes (only a power cut can lose the last commits), and drops the fsync
            # from every commit: delivery commits once per message sent.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if url.database and url.database != ":memory:":
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
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
    """A database without migration records whose tables are not the first schema's."""


# The tables of the first schema (revision 0001), which actionbot made with `create_all` before
# it had migrations: a database holding exactly these is recorded as being at 0001 and upgraded.
FIRST_SCHEMA = frozenset(
    {
        "person", "plan", "lead_group", "section", "action", "governance_level",
        "group_member", "name_variant", "action_lead", "milestone", "progress_entry",
    }
)  # fmt: skip


def create_schema(engine: Engine) -> None:
    """Brings the database to the newest schema through the migrations (a no-op when it is)."""
    with engine.begin() as connection:
        tables = set(inspect(connection).get_table_names()) - {"apscheduler_jobs"}
        config = alembic_config(connection)
        if tables and "alembic_version" not in tables:
            if tables != FIRST_SCHEMA:
                raise UnversionedDatabaseError(
                    f"{engine.url.render_as_string(hide_password=True)} has tables but no "
                    "record of its schema version, and they are not those of actionbot's first "
                    f"schema (found {', '.join(sorted(tables))}); is it another application's "
                    "database? Point DATABASE_URL at an empty or actionbot database."
                )
            command.stamp(config, "0001")  # made before migrations: the first schema
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def session(engine: Engine) -> Session:
    return Session(engine, expire_on_commit=False)
