"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from bot.cli import main
from bot.db import (
    UnversionedDatabaseError,
    alembic_config,
    create_schema,
    current_revision,
    make_engine,
)


def test_migrations_match_the_models(database_url: str):
    engine = make_engine(database_url)
    create_schema(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def test_upgrade_is_idempotent_and_reaches_head(database_url: str):
    engine = make_engine(database_url)
    create_schema(engine)
    create_schema(engine)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert current_revision(engine) == head


def test_a_database_from_before_migrations_is_refused_with_what_to_do(tmp_path, monkeypatch):
    """An early actionbot made its tables with create_all; upgrading over them would fail
    half-way, so the command says what to do instead and touches nothing."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    SQLModel.metadata.create_all(make_engine(url))
    before = (tmp_path / "old.db").read_bytes()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr(sys, "argv", ["actionbot", "status"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    assert (tmp_path / "old.db").read_bytes() == before
    with pytest.raises(UnversionedDatabaseError, match="move it aside and run `actionbot init`"):
        create_schema(make_engine(url))
