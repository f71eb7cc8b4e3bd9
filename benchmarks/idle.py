"""The daemon's resident memory when idle, against a process that only imports the package.

`python -m bot run` is started against the database (generated with its "today" set to the
real date, so the first tick, at the real now, meets data of the right age), with the outbox
written to a temp folder, no SMTP, IMAP or Slack, and rules that make the first tick a busy
one at any hour (see BUSY). Once it has logged its first
"tick at ..." line it is left alone for a while, and its VmRSS (and VmHWM, the peak) is read
from /proc; then it gets SIGTERM. Baseline: `python -c "import bot.cli, bot.scheduler,
bot.chasing, bot.inbound.email_replies; input()"`, everything the daemon imports and no data.

Reported: peak_rss_mb is the daemon's idle VmRSS (the figure the goal is about), ratio is that
over the baseline's VmRSS, seconds is from the start to the end of the first tick, and
baseline_seconds is the bare process's start-up. The daemon runs each tick in a child process
(bot/scheduler.py); the notes give that child's peak too, sampled while it ran.

    python -m benchmarks.idle URL SIZE [--settle 15]
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from benchmarks.common import MAIL_FROM, REPLY_SECRET, REPO, RULES, backend_of, emit

BARE = "import sys, bot.cli, bot.scheduler, bot.chasing, bot.inbound.email_replies; print('ready', flush=True); sys.stdin.read()"  # noqa: E501
# never let the developer's environment point the daemon at a real server
UNSET = ("SMTP_", "IMAP_", "SLACK_", "DATABASE_URL", "ACTIONBOT_", "OUTBOX_DIR", "REPLY_")


def status_mb(pid: int) -> dict[str, float]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def children_peak_mb(pid: int) -> float:
    """The largest VmHWM among the process's children now (the tick runs in a child process
    of the daemon: its peak is what the machine needs while a tick runs); 0 when none."""
    peak = 0.0
    found: list[str] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):  # a child belongs to the thread that made it
        try:
            found += (task / "children").read_text().split()
        except OSError:
            continue
    for child in found:
        try:
            peak = max(peak, status_mb(int(child)).get("VmHWM", 0.0))
        except OSError:
            continue
    return peak


def _lines(stream: object, into: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put(line)


# The first tick must do a working day's full work whenever the benchmark runs (evenings and
# weekends included): the rules are the shipped ones with every hour of every day open for
# sending and both weekly digests due every minute, so that tick reminds, escalates and
# composes the operational digest and the chair's summary over all the actions.
BUSY = (
    (
        "working_days: [mon, tue, wed, thu, fri]",
        "working_days: [mon, tue, wed, thu, fri, sat, sun]",
    ),
    ("bank_holidays: england-and-wales", "bank_holidays: none"),
    ('start: "08:00"', 'start: "00:00"'),
    ('end: "18:00"', 'end: "23:59"'),
    ('cron: "0 9 * * mon"', 'cron: "* * * * *"'),
    ('cron: "0 8 * * mon"', 'cron: "* * * * *"'),
)


def busy_rules(folder: Path) -> Path:
    text = (RULES / "escalation.yaml").read_text()
    for old, new in BUSY:
        if old not in text:
            raise SystemExit(f"rules/escalation.yaml no longer says {old!r}: update BUSY")
        text = text.replace(old, new)
    path = folder / "rules" / "escalation.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path.parent


def daemon_env(url: str, outbox: Path, rules: Path = RULES) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(UNSET)}
    env.update(
        DATABASE_URL=url,
        OUTBOX_DIR=str(outbox),
        ACTIONBOT_RULES=str(rules),
        ACTIONBOT_DATA_DIR=str(outbox.parent / "data"),
        LOG_LEVEL="INFO",
        MAIL_FROM=MAIL_FROM,
        REPLY_SECRET=REPLY_SECRET,
        PYTHONPATH=str(REPO),
    )
    return env


def bare_process(env: dict[str, str], cwd: Path) -> tuple[float, float]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", BARE],
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    proc.stdout.readline()
    seconds = time.perf_counter() - started
    time.sleep(1)
    rss = status_mb(proc.pid)["VmRSS"]
    proc.stdin.close()
    proc.wait(timeout=30)
    return seconds, rss


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("size", type=int)
    parser.add_argument("--settle", type=float, default=15, help="seconds idle before reading")
    parser.add_argument("--timeout", type=float, default=3600, help="for the first tick")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="actionbot-idle-"))
    env = daemon_env(args.url, tmp / "outbox", busy_rules(tmp))
    started_at = datetime.now().astimezone().isoformat(timespec="seconds")
    baseline_seconds, baseline_rss = bare_process(env, tmp)

    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--every", "15"],
        cwd=tmp,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stderr, lines), daemon=True).start()
    tick_line = None
    tick_peak = 0.0
    try:
        while tick_line is None:
            remaining = args.timeout - (time.perf_counter() - started)
            if remaining <= 0 or proc.poll() is not None:
                raise SystemExit(f"no tick line (exit {proc.returncode}) after {args.timeout}s")
            tick_peak = max(tick_peak, children_peak_mb(proc.pid))
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if "tick at" in line or "tick failed" in line:
                tick_line = line.strip()
        first_tick = time.perf_counter() - started
        time.sleep(args.settle)
        after = status_mb(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    emit(
        "idle",
        args.size,
        backend_of(args.url),
        first_tick,
        baseline_seconds,
        peak_rss=after["VmRSS"],
        ratio=after["VmRSS"] / baseline_rss,
        notes={
            "idle_rss_mb": round(after["VmRSS"], 1),
            "daemon_peak_hwm_mb": round(after["VmHWM"], 1),
            # sampled every 0.5 s while the first tick ran, so a little under the true peak
            "tick_process_peak_hwm_mb": round(tick_peak, 1),
            "bare_import_rss_mb": round(baseline_rss, 1),
            "started_at": started_at,
            "tick_line": tick_line.split(": ", 1)[-1][:200],
        },
    )


if __name__ == "__main__":
    main()
