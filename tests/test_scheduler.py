"""`actionbot run`: the real command started, its first tick seen, stopped by SIGTERM."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import inspect

from bot.db import make_engine
from bot.rules import load_rules
from bot.scheduler import JOB_ID, JOBS_TABLE, MISFIRE_GRACE_SECONDS, make_scheduler
from tests.conftest import REPO
from tests.test_load import write

BOUND_SECONDS = 60  # an upper bound on waiting for a log line, not a clock we wait on


def test_the_job_is_one_coalescing_tick_kept_in_the_same_database(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    scheduler = make_scheduler(
        url, load_rules(REPO / "rules"), every_minutes=15, kind=BackgroundScheduler
    )
    scheduler.start(paused=True)
    try:
        [job] = scheduler.get_jobs()
        assert (job.id, job.coalesce, job.max_instances) == (JOB_ID, True, 1)
        assert job.misfire_grace_time == MISFIRE_GRACE_SECONDS
        assert job.func_ref == "bot.scheduler:tick_job"
        assert JOBS_TABLE in inspect(make_engine(url)).get_table_names()
    finally:
        scheduler.shutdown(wait=False)


def test_run_ticks_at_once_and_stops_cleanly_on_sigterm(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    write(data)
    env = {
        **os.environ,
        "ACTIONBOT_DATA_DIR": str(data),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.db'}",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "ACTIONBOT_RULES": str(REPO / "rules"),
        "LOG_LEVEL": "INFO",
    }
    env.pop("SLACK_BOT_TOKEN", None)
    subprocess.run(
        [sys.executable, "-m", "bot", "init"],
        env=env,
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--every", "60"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        assert _wait_for(proc, "tick at ", seen), "".join(seen)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=BOUND_SECONDS) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    seen.extend(proc.stdout.read().splitlines(keepends=True) if proc.stdout else [])
    text = "".join(seen)
    assert "Slack is off: SLACK_BOT_TOKEN is not set." in text
    assert "received SIGTERM; stopping after the running tick" in text
    assert "actionbot stopped" in text


def _wait_for(proc: subprocess.Popen[str], needle: str, seen: list[str]) -> bool:
    """Reads the child's output on a thread so a silent child cannot block the test forever."""
    assert proc.stdout is not None
    lines: queue.Queue[str] = queue.Queue()
    stream = proc.stdout

    def pump() -> None:
        for line in iter(stream.readline, ""):
            lines.put(line)
            if needle in line:
                return
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=BOUND_SECONDS)
        except queue.Empty:
            return False
        if not line:
            return False
        seen.append(line)
        if needle in line:
            return True
