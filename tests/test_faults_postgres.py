"""Faults: PostgreSQL restarts (or stops for a moment) under a running bot.

The bot's engine is made before the restart and used after it, as a long-running
`actionbot run` would: a tick, then delivery, with the database going away before the run,
in the middle of storing a tick's decisions, and between the mail server taking a message and
the bot recording that it went. Nothing decided is lost, and nothing is sent twice.

The PostgreSQL here is a private one this module starts (initdb and pg_ctl from the machine's
PostgreSQL, on a free loopback port, data in a temporary folder), not the machine's shared
server on 5432: restarting that one would cut every other connection to it, the test run's own
admin connection and any other process using it at the time. Same binaries, same protocol.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import col, func, select

from bot import models as m
from bot.chasing import tick
from bot.db import make_engine, session
from bot.delivery import Transports, deliver
from bot.importing import import_files
from bot.notify.email import OnResult, SendResult, SmtpTransport
from bot.rules import load_rules
from bot.settings import load_settings
from tests.conftest import IN_CI, REPO
from tests.smtp_server import Server, free_port
from tests.test_chasing import MONDAY, SECRET
from tests.test_load import PLAN, write

pytestmark = pytest.mark.postgres

HOW = (
    "PostgreSQL's server programs (initdb, pg_ctl) are not installed, so the restart tests "
    "cannot start a PostgreSQL of their own (Debian: apt-get install postgresql)"
)


def _bin() -> Path | None:
    """The folder with initdb and pg_ctl: Debian keeps them off the PATH, per version."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).parent)
    return next(
        (d for d in candidates if (d / "initdb").exists() and (d / "pg_ctl").exists()), None
    )


class PrivatePostgres:
    """A PostgreSQL cluster of the tests' own: trust authentication for user postgres,
    listening on 127.0.0.1:`port` and a socket in its folder."""

    def __init__(self, bin_dir: Path, directory: Path, port: int) -> None:
        self.bin, self.directory, self.port = bin_dir, directory, port
        self.data = directory / "data"
        self.log = directory / "postgres.log"

    def admin_url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(
                f"{program} {' '.join(args)} failed ({done.returncode}): "
                f"{done.stdout}{done.stderr}\n{self.tail()}"
            )

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E",
            "UTF8", "--locale=C",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")
        self.wait_until_accepting()

    def restart(self) -> None:
        """A fast restart: every session is ended, as when the server is restarted for an
        upgrade; returns once it accepts connections again."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-m", "fast", "-l", str(self.log), "-w", "restart"
        )
        self.wait_until_accepting()

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def wait_until_accepting(self, tries: int = 200) -> None:
        """A bounded number of real connection attempts, 50 ms apart."""
        last: Exception | None = None
        for _ in range(tries):
            try:
                with psycopg.connect(
                    host="127.0.0.1", port=self.port, user="postgres", dbname="postgres"
                ) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last = exc
                time.sleep(0.05)
        raise RuntimeError(f"PostgreSQL on {self.port} did not come back: {last}\n{self.tail()}")

    def create_database(self) -> str:
        name = f"faults_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.admin_url(name)

    def tail(self, limit: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-limit:] if self.log.exists() else ""


@pytest.fixture(scope="module")
def postgres() -> Iterator[PrivatePostgres]:
    bin_dir = _bin()
    if bin_dir is None:
        if IN_CI:
            pytest.fail(HOW)
        pytest.skip(HOW)
    directory = Path(tempfile.mkdtemp(prefix="actionbot-pg-"))
    if os.geteuid() == 0:
        shutil.chown(directory, "postgres", "postgres")
    server = PrivatePostgres(bin_dir, directory, free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        try:
            server.stop("immediate")
        except RuntimeError:
            pass  # not running
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def bot(postgres: PrivatePostgres, tmp_path: Path):
    """The bot's engine, made once, with the test plan loaded; rules and settings."""
    engine = make_engine(postgres.create_database())
    import_files(engine, write(tmp_path, PLAN), MONDAY - timedelta(days=60))
    settings = load_settings(
        {
            "REPLY_SECRET": SECRET,
            "OUTBOX_DIR": str(tmp_path / "outbox"),
            "MAIL_FROM": "actionbot@medway.example.org",
        },
        env_file=None,
    )
    yield engine, load_rules(REPO / "rules"), settings
    engine.dispose()


def outbox(engine: Engine) -> list[tuple[str, int]]:
    with session(engine) as s:
        rows = s.exec(select(m.Outbox).order_by(col(m.Outbox.id))).all()
    return [(r.status, r.attempts) for r in rows]


def count(engine: Engine, model: type) -> int:
    with session(engine) as s:
        return int(s.exec(select(func.count()).select_from(model)).one())


def sent_events(engine: Engine) -> list[int]:
    """How many 'sent' audit events each outbox row has, in id order."""
    with session(engine) as s:
        rows = s.exec(select(m.Outbox.id).order_by(col(m.Outbox.id))).all()
        events = s.exec(select(m.AuditEvent.outbox_id).where(m.AuditEvent.kind == "sent")).all()
    return [list(events).count(row) for row in rows]


def received(server: Server) -> list[str]:
    return [str(r["message"]["Message-ID"]) for r in server.handler.received]


def sent_ids(engine: Engine) -> list[str]:
    with session(engine) as s:
        return list(
            s.exec(
                select(m.Outbox.message_id)
                .where(m.Outbox.channel == "email")
                .order_by(col(m.Outbox.id))
            )
        )


def test_an_engine_made_before_a_restart_works_after_it(bot, postgres, server: Server):
    engine, rules, settings = bot
    smtp = Transports(email=SmtpTransport(server.config))
    first = tick(engine, rules, settings, MONDAY, smtp)
    assert first.delivery is not None and first.delivery.sent == first.queued == 3

    postgres.restart()  # every connection in the engine's pool is now dead

    # the first use after it: the pool notices (pre-ping) and connects again
    later = tick(engine, rules, settings, MONDAY + timedelta(days=7), smtp)
    assert later.queued > 0 and later.delivery is not None
    assert later.delivery.sent == later.queued
    assert all(status == "sent" for status, _ in outbox(engine))
    assert received(server) == sent_ids(engine)  # each once, in order
    assert len(set(received(server))) == first.queued + later.queued


def test_a_restart_while_a_tick_stores_its_decisions(bot, postgres, server: Server):
    """The database goes away between the first statements of the run's one transaction and
    its outbox rows: the run fails with the database's error, nothing of it is stored, and the
    next run at the same moment decides and sends it all, once."""
    engine, rules, settings = bot
    smtp = Transports(email=SmtpTransport(server.config))
    restarted = []

    @event.listens_for(engine, "before_cursor_execute")
    def restart_before_the_outbox(conn, cursor, statement, parameters, context, many):  # type: ignore[no-untyped-def]
        if not restarted and statement.lstrip().upper().startswith("INSERT INTO OUTBOX"):
            restarted.append(statement)
            postgres.restart()

    with pytest.raises(OperationalError):
        tick(engine, rules, settings, MONDAY, smtp)
    event.remove(engine, "before_cursor_execute", restart_before_the_outbox)
    assert restarted
    assert count(engine, m.Outbox) == 0 and count(engine, m.AuditEvent) == 0
    assert server.handler.received == []

    again = tick(engine, rules, settings, MONDAY, smtp)
    assert again.queued == 3 and again.delivery is not None and again.delivery.sent == 3
    assert len(set(received(server))) == 3 == len(received(server))
    assert count(engine, m.AuditEvent) > 0


class ThenTheDatabase:
    """Wraps the real SMTP transport: right after the server accepts message `at`, and before
    the bot records it, the database is restarted (or stopped)."""

    def __init__(self, inner: SmtpTransport, at: int, do: Callable[[], None]) -> None:
        self.inner, self.at, self.do = inner, at, do

    def send_batch(
        self, messages: Sequence[EmailMessage], on_result: OnResult | None = None
    ) -> list[SendResult]:
        def record(index: int, result: SendResult) -> None:
            if index == self.at:
                self.do()
            if on_result is not None:
                on_result(index, result)

        return self.inner.send_batch(messages, on_result=record)


@pytest.mark.parametrize("at", [0, 1], ids=["before-the-first-record", "after-a-record"])
def test_a_restart_between_sending_and_recording(bot, postgres, server: Server, at: int):
    """At 1 the batch's results connection was in use before the restart, and the record
    after it finds that connection dead."""
    engine, rules, settings = bot
    transport = ThenTheDatabase(SmtpTransport(server.config), at=at, do=postgres.restart)
    result = tick(engine, rules, settings, MONDAY, Transports(email=transport))
    # the record after the restart went through on a new connection, once
    assert result.delivery is not None and result.delivery.sent == result.queued == 3
    assert outbox(engine) == [("sent", 1)] * 3
    assert sent_events(engine) == [1, 1, 1]
    smtp = Transports(email=SmtpTransport(server.config))
    assert deliver(engine, smtp, MONDAY + timedelta(hours=1)).sent == 0
    assert received(server) == sent_ids(engine)


def test_the_database_down_for_a_moment_while_delivering(bot, postgres, server: Server):
    engine, rules, settings = bot
    transport = ThenTheDatabase(SmtpTransport(server.config), at=0, do=postgres.stop)
    try:
        with pytest.raises(OperationalError):
            tick(engine, rules, settings, MONDAY, Transports(email=transport))
    finally:
        postgres.start()
    assert len(received(server)) == 1  # the first went; the bot could not record it
    smtp = Transports(email=SmtpTransport(server.config))
    for minutes in (1, 10, 60):  # the same running bot delivers again
        deliver(engine, smtp, MONDAY + timedelta(minutes=minutes))
    # nothing is left claimed by the batch that gave up ...
    statuses = [status for status, _ in outbox(engine)]
    assert "sending" not in statuses, statuses
    # ... nothing lost: every message has reached the server, the two after the first once
    # each (the first may have gone twice: the bot never learnt that it went)
    got, ids = received(server), sent_ids(engine)
    assert set(got) == set(ids)
    assert [got.count(mid) for mid in ids[1:]] == [1, 1] and got.count(ids[0]) <= 2
    assert statuses[0] in ("sent", "failed") and statuses[1:] == ["sent", "sent"]


def test_a_restart_is_a_real_restart(postgres: PrivatePostgres):
    """What the tests above rely on: after `restart` the server is a new one, and sessions
    from before it are gone."""

    def connect() -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=postgres.port, user="postgres", dbname="postgres"
        )

    with connect() as before:
        [started] = before.execute("SELECT pg_postmaster_start_time()").fetchone() or [None]
        postgres.restart()
        with pytest.raises(psycopg.OperationalError):
            before.execute("SELECT 1")
    with connect() as after:
        [again] = after.execute("SELECT pg_postmaster_start_time()").fetchone() or [None]
    assert started is not None and again is not None and again > started
