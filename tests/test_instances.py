"""Several `actionbot run` processes on one PostgreSQL: one leads, all deliver, none sends a
message twice except in the documented window, and a killed leader is replaced.

Three real processes, a real SMTP sink on loopback (slow enough that batches take a while),
the leader killed with SIGKILL while it has a batch in hand.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlmodel import col, select

from bot import models as m
from bot.db import create_schema, make_engine, session
from bot.delivery import email_payload
from bot.instances import Instance
from bot.notify.content import Recipient
from bot.notify.email import build_email, make_message_id
from bot.notify.render import Rendered
from tests.conftest import REPO, _empty_postgres
from tests.smtp_server import Recorder, start
from tests.test_load import write

MESSAGES = 150
BOUND = 90.0  # seconds: an upper bound on waiting for the processes, not a clock we test


class SlowSink(Recorder):
    """Takes 40 ms over each message, as a real relay might, so a batch takes seconds."""

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        await asyncio.sleep(0.04)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def pg_url(pg_database: str):
    _empty_postgres(pg_database)
    yield pg_database
    _empty_postgres(pg_database)


def queue_messages(url: str, count: int) -> list[str]:
    engine = make_engine(url)
    now = datetime.now(UTC) - timedelta(minutes=1)
    ids = []
    with session(engine) as s, s.begin():
        for n in range(count):
            key = f"load-test/{n:04d}"
            message = build_email(
                Rendered(f"Message {n}", f"Body {n}\n", f"<p>Body {n}</p>"),
                kind="reminder",
                sender="actionbot@example.org",
                recipients=[Recipient(f"Lead {n}", f"lead{n}@example.org")],
                reply_to=None,
                sent_at=now,
                message_id=make_message_id(key, "example.org"),
            )
            ids.append(str(message["Message-ID"]))
            s.add(
                m.Outbox(
                    key=key,
                    kind="reminder",
                    channel="email",
                    recipient=f"lead{n}@example.org",
                    subject=f"Message {n}",
                    payload=email_payload(message),
                    message_id=str(message["Message-ID"]),
                    created_at=now,
                )
            )
    engine.dispose()
    return ids


def log_text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def wait_until(condition, what: str, bound: float = BOUND) -> None:  # type: ignore[no-untyped-def]
    """Polls a condition a bounded number of times (the processes run on the real clock)."""
    for _ in range(int(bound / 0.1)):
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}")


def test_three_processes_share_the_work_and_survive_the_leader_being_killed(
    pg_url: str, tmp_path: Path
):
    data = tmp_path / "data"
    data.mkdir()
    write(data)
    handler = SlowSink()
    controller, port = start(handler)
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "ACTIONBOT_DATA_DIR": str(data),
        "ACTIONBOT_RULES": str(REPO / "rules"),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_SECURITY": "none",
        "REPLY_SECRET": "s3cret-for-the-tests-0123456789",
        "MAIL_FROM": "actionbot@example.org",
        "LOG_LEVEL": "INFO",
    }
    for name in ("SLACK_BOT_TOKEN", "IMAP_HOST", "CI"):
        env.pop(name, None)
    subprocess.run(
        [sys.executable, "-m", "bot", "init"],
        env=env,
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    expected = queue_messages(pg_url, MESSAGES)
    logs = [tmp_path / f"bot{n}.log" for n in range(3)]
    procs = []
    for path in logs:
        with path.open("w") as out:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bot", "run", "--every", "60", "--deliver-every", "0.3"],
                    env=env,
                    cwd=tmp_path,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
    watcher = create_engine(pg_url)
    try:
        wait_until(lambda: sum("leading: " in log_text(p) for p in logs) == 1, "a leader")
        [leader] = [n for n, p in enumerate(logs) if "leading: " in log_text(p)]
        owner = re.search(r"leading: (\S+) runs the scheduler", log_text(logs[leader]))
        assert owner is not None

        # with a batch of the leader's in hand, part of it sent and part not ...
        def leaders_sending() -> int:
            with watcher.connect() as conn:
                return int(
                    conn.execute(
                        text(
                            "SELECT count(*) FROM outbox WHERE status = 'sending' AND claim LIKE :o"
                        ),
                        {"o": owner.group(1) + "/%"},
                    ).scalar()
                    or 0
                )

        wait_until(lambda: leaders_sending() > 0, "the leader to claim a batch")
        claimed = leaders_sending()

        def leader_is_mid_batch() -> bool:
            return 0 < leaders_sending() < claimed

        wait_until(leader_is_mid_batch, "the leader to be in the middle of a batch")
        procs[leader].send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        procs[leader].wait(timeout=10)

        # ... another process leads within 30 seconds, and everything is delivered
        others = [n for n in range(3) if n != leader]
        wait_until(
            lambda: any("leading: " in log_text(logs[n]) for n in others), "a new leader", 40
        )
        took_over_after = time.monotonic() - killed_at
        assert took_over_after < 30, took_over_after

        def all_sent() -> bool:
            with watcher.connect() as conn:
                return not conn.execute(
                    text("SELECT count(*) FROM outbox WHERE status <> 'sent'")
                ).scalar()

        wait_until(all_sent, "every outbox row to be sent")
        for n in others:
            procs[n].send_signal(signal.SIGTERM)
        for n in others:
            assert procs[n].wait(timeout=30) == 0, log_text(logs[n])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        controller.stop()
        watcher.dispose()

    received = Counter(str(r["message"]["Message-ID"]) for r in handler.received)
    with session(make_engine(pg_url)) as s:
        outbox_ids = [r.message_id for r in s.exec(select(m.Outbox).order_by(col(m.Outbox.id)))]
    assert set(expected) <= set(outbox_ids)
    missing = [mid for mid in outbox_ids if received[mid] == 0]
    twice = {mid: n for mid, n in received.items() if n > 1}
    assert missing == []  # every due message delivered
    assert sum(n - 1 for n in twice.values()) <= 1, twice  # at most one, by the killed process
    # the work was shared: more than one process delivered
    delivered_by = [n for n, p in enumerate(logs) if "delivered: sent" in log_text(p)]
    assert len(delivered_by) >= 2, [log_text(p)[-2000:] for p in logs]
    assert all("Traceback" not in log_text(logs[n]) for n in range(3) if n != leader)


def test_one_leader_at_a_time_and_the_dead_are_known(database_url: str):
    """Two processes' worth of Instance on each backend: the lead is exclusive, passes on when
    released, and a claim's owner counts as alive exactly while it holds its lock."""
    engine = make_engine(database_url)
    create_schema(engine)
    first, second = Instance(engine, owner="first-1"), Instance(engine, owner="second-2")
    try:
        assert first.try_lead() and first.still_leads()
        assert not second.try_lead()
        first.stop_leading()
        assert not first.still_leads() and second.try_lead()

        assert first.claim_name() == "first-1"
        assert second.is_alive("first-1") and not second.is_alive("never-started-3")
        first.close()
        assert not second.is_alive("first-1")
    finally:
        first.close()
        second.close()
