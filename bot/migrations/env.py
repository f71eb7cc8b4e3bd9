"""Alembic's entry point, run by `bot.db.upgrade`; it migrates the connection it is given."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from bot import models  # noqa: F401  (registers the tables)

config = context.config
target_metadata = SQLModel.metadata


def include_object(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    """APScheduler keeps its own table in the same database; it is not ours to migrate."""
    return not (type_ == "table" and name == "apscheduler_jobs")


def run_migrations_online() -> None:
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite can only change a table by copying it
        compare_type=True,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
