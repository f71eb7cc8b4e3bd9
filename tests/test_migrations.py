"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, text
from sqlmodel import SQLModel

from bot.cli import main
from bot.db import (
    FIRST_SCHEMA,
    UnversionedDatabaseError,
    alembic_config,
    create_schema,
    current_revision,
    make_engine,
    session,
)
from bot.store import load_plans


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


def _fill_first_schema(engine) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    """One row in every table of revision 0001, each column given a value of its type."""
    meta = MetaData()
    meta.reflect(engine)
    rows: dict[str, list[tuple]] = {}
    with engine.begin() as conn:
        for table in meta.sorted_tables:
            if table.name == "alembic_version":
                continue
            values = {c.name: _value(table.name, c) for c in table.columns}
            if "person_id" in values and table.c.group_id.nullable:
                values["group_id"] = None  # a lead or a name is a person's or a group's
            conn.execute(table.insert().values(**values))
            rows[table.name] = [tuple(r) for r in conn.execute(table.select())]
    return rows


def _value(table: str, column) -> object:  # type: ignore[no-untyped-def]
    for fk in column.foreign_keys:  # the value the row it points at was given
        target = fk.column
        return None if target.table.name == table else _value(target.table.name, target)
    kind = column.type.python_type
    if kind is int:
        return 1
    if kind is bool:
        return True
    if kind is datetime:
        return datetime(2018, 10, 1, 9, 0, tzinfo=UTC)
    if kind is date:
        return date(2018, 10, 1)
    if kind is str:
        return f"{table}.{column.name}"
    return None


def _read(engine, names) -> dict[str, list[tuple]]:  # type: ignore[no-untyped-def]
    meta = MetaData()
    meta.reflect(engine, only=list(names))
    with engine.connect() as conn:
        return {
            name: [tuple(r) for r in conn.execute(meta.tables[name].select())] for name in names
        }


def test_a_database_at_the_first_schema_is_upgraded_with_its_data(database_url: str):
    engine = make_engine(database_url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
    before = _fill_first_schema(engine)
    assert set(before) == FIRST_SCHEMA
    create_schema(engine)
    assert (
        current_revision(engine) == ScriptDirectory.from_config(alembic_config()).get_current_head()
    )
    after = _read(engine, before)
    for name, rows in before.items():
        width = len(rows[0])
        # the old columns hold what they held; any new ones come after them
        assert [r[:width] for r in after[name]] == rows, name


def test_a_database_made_before_migrations_is_recognised_and_upgraded(database_url: str):
    """actionbot's first releases made the first schema with create_all and no version table."""
    engine = make_engine(database_url)
    with engine.begin() as connection:
        command.upgrade(alembic_config(connection), "0001")
        connection.execute(text("DROP TABLE alembic_version"))
    before = _fill_first_schema(engine)
    create_schema(engine)
    after = _read(engine, before)
    assert all([r[: len(before[n][0])] for r in after[n]] == before[n] for n in before)
    with session(engine) as s:  # and the upgraded database is usable as it is now
        assert [p.id for p in load_plans(s)] == ["plan.id"]


def test_another_applications_database_is_refused_and_left_alone(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'theirs.db'}"
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total INTEGER)"))
    before = (tmp_path / "theirs.db").read_bytes()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setattr(sys, "argv", ["actionbot", "status"])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    assert (tmp_path / "theirs.db").read_bytes() == before
    with pytest.raises(UnversionedDatabaseError, match="is it another application's database"):
        create_schema(make_engine(url))
