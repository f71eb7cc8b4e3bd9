"""Shared fixtures: real databases (a SQLite file and a PostgreSQL database made for the run).

On a machine without PostgreSQL the PostgreSQL variants skip with a reason saying how to get
one; under CI=true a skip is a failure, so nothing is silently left untested there.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot.notify.email import SmtpConfig
from tests.imap_server import HOW, ImapServer, dovecot_binary, running
from tests.smtp_server import Recorder, Server, start

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO.parent / "shared" / "seeds"
DATA = REPO / "data"
NOW = datetime(2019, 6, 3, 9, 0, tzinfo=UTC)

PG_ADMIN_URL = os.environ.get(
    "ACTIONBOT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PG_HOW = (
    "PostgreSQL is not reachable at {url} ({error}). Install and start one "
    "(Debian: apt-get install postgresql && pg_ctlcluster 15 main start; trust auth for "
    "user postgres on 127.0.0.1), or point ACTIONBOT_TEST_PG_URL at a server you can use."
)
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database of this test run's own, dropped at the end."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure to connect means "no server here"
        reason = PG_HOW.format(url=PG_ADMIN_URL, error=type(exc).__name__)
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    name = f"actionbot_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        from sqlalchemy.pool import NullPool

        # Close whatever the tests left open, then drop the database.
        create_engine(url, poolclass=NullPool).dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test gets an empty database on both backends."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    url = request.getfixturevalue("pg_database")
    _empty_postgres(url)
    yield url
    _empty_postgres(url)


def _empty_postgres(url: str) -> None:
    """Everything gone, the migrations' own bookkeeping included."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture
def server() -> Iterator[Server]:
    """A real SMTP server on loopback that records what it receives."""
    handler = Recorder()
    controller, port = start(handler)
    config = SmtpConfig(
        host="127.0.0.1", port=port, security="none", timeout=5, local_hostname="actionbot.test"
    )
    try:
        yield Server(handler, config)
    finally:
        controller.stop()


@pytest.fixture
def imap_server() -> Iterator[ImapServer]:
    """A real Dovecot on a free loopback port with an empty mailbox for bot@example.org
    (password secret); a new one for each test. Skips (fails under CI=true) without Dovecot."""
    if dovecot_binary() is None:
        pytest.skip(HOW)
    with running() as server:
        yield server


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """A clean environment for the CLI: no .env from the developer's checkout, data in tmp."""
    monkeypatch.chdir(tmp_path)
    for var in ("DATABASE_URL", "ACTIONBOT_DATA_DIR", "LOG_LEVEL"):
        monkeypatch.delenv(var, raising=False)
    return {}


# --- under CI a skipped test fails the run ------------------------------------------------

_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if IN_CI and _skipped and exitstatus == 0:
        session.exitstatus = 1


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # type: ignore[no-untyped-def]
    if IN_CI and _skipped:
        terminalreporter.write_line(
            f"CI=true: {len(_skipped)} test(s) skipped, which fails the run: "
            + ", ".join(_skipped[:10]),
            red=True,
        )
