"""What the measurements share: the fixed moment, settings, throw-away databases, the result line.

Each measurement runs in a child process of its own (`python -m benchmarks.<name> ...`) and
prints one JSON line starting with RESULT_PREFIX; its peak RSS is that child's own.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "rules"
LONDON = ZoneInfo("Europe/London")
# The generator's default "today" and the moment evaluation is decided for: a Monday, 10:00 in
# London, inside the rules' sending hours (outside them the engine decides almost nothing).
AS_OF = date(2026, 11, 16)
NOW = datetime(2026, 11, 16, 10, 0, tzinfo=LONDON)
REPLY_SECRET = "benchmark-secret-0123456789abcdef"
MAIL_FROM = "actionbot@bench.example.org"
PG_ADMIN_URL = os.environ.get(
    "ACTIONBOT_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
RESULT_PREFIX = "RESULT "
NAMES = ("evaluate", "deliver", "inbound", "idle")

T = TypeVar("T")


def peak_rss_mb() -> float:
    """This process's peak resident set so far (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def best_of(repeat: int, fn: Callable[[], T]) -> tuple[float, T]:
    """The fastest of `repeat` runs (the others are noise from the machine, not the code)."""
    best: tuple[float, T] | None = None
    for _ in range(max(repeat, 1)):
        run = timed(fn)
        if best is None or run[0] < best[0]:
            best = run
    assert best is not None
    return best


def emit(
    name: str,
    size: int,
    backend: str,
    seconds: float,
    baseline_seconds: float,
    *,
    peak_rss: float | None = None,
    ratio: float | None = None,
    notes: dict[str, Any] | None = None,
) -> None:
    """Prints the child's result line for the parent to collect."""
    result = {
        "name": name,
        "size": size,
        "backend": backend,
        "seconds": round(seconds, 4),
        "baseline_seconds": round(baseline_seconds, 4),
        "ratio": round(ratio if ratio is not None else seconds / baseline_seconds, 2),
        "peak_rss_mb": round(peak_rss if peak_rss is not None else peak_rss_mb(), 1),
        # the machine may be shared: the load average says how much else was running
        "notes": {**(notes or {}), "load1": round(os.getloadavg()[0], 2)},
    }
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def backend_of(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def bench_settings(url: str, outbox_dir: Path) -> Any:
    """Settings as the bot would read them, without the developer's .env."""
    from bot.settings import load_settings

    return load_settings(
        {
            "DATABASE_URL": url,
            "REPLY_SECRET": REPLY_SECRET,
            "MAIL_FROM": MAIL_FROM,
            "OUTBOX_DIR": str(outbox_dir),
            "ACTIONBOT_RULES": str(RULES),
        },
        env_file=None,
    )


# --- throw-away databases ---------------------------------------------------------------------


class Databases:
    """Databases made for one run: SQLite files in a temp folder, or PostgreSQL databases made
    on the server (like tests/conftest.py) and dropped at the end."""

    def __init__(self, backend: str, folder: Path) -> None:
        self.backend = backend
        self.folder = folder
        self.run = uuid.uuid4().hex[:8]
        self.made: list[str] = []

    def new(self, label: str, template: str | None = None) -> str:
        """A new empty database (or a copy of `template`, a URL this object made)."""
        if self.backend == "sqlite":
            path = self.folder / f"{label}.db"
            _remove(path)
            if template is not None:
                src = Path(template.removeprefix("sqlite:///"))
                for suffix in ("", "-wal", "-shm"):
                    if Path(str(src) + suffix).exists():
                        shutil.copyfile(str(src) + suffix, str(path) + suffix)
            url = f"sqlite:///{path}"
        else:
            from sqlalchemy.engine import make_url

            name = f"actionbot_bench_{self.run}_{label}"
            extra = f' TEMPLATE "{make_url(template).database}"' if template else ""
            self._admin(f'CREATE DATABASE "{name}"{extra}')
            url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        self.made.append(url)
        return url

    def drop(self, url: str) -> None:
        if url in self.made:
            self.made.remove(url)
        if self.backend == "sqlite":
            path = Path(url.removeprefix("sqlite:///"))
            _remove(path)
        else:
            from sqlalchemy.engine import make_url

            self._admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')

    def drop_all(self) -> None:
        for url in list(self.made):
            self.drop(url)

    def _admin(self, sql: str) -> None:
        from sqlalchemy import create_engine, text

        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(text(sql))
        finally:
            admin.dispose()


def _remove(path: Path) -> None:
    """A SQLite file and whatever sits beside it (-wal, -shm, a folder of locks)."""
    for f in path.parent.glob(path.name + "*"):
        if f.is_dir():
            shutil.rmtree(f, ignore_errors=True)
        else:
            f.unlink(missing_ok=True)


@contextmanager
def databases(backend: str, folder: Path) -> Iterator[Databases]:
    dbs = Databases(backend, folder)
    try:
        yield dbs
    finally:
        dbs.drop_all()


# --- children ---------------------------------------------------------------------------------


def run_step(module: str, *args: str, timeout: float = 6 * 3600) -> None:
    """Runs a preparing step (`python -m benchmarks.<module> args...`); raises if it fails."""
    cmd = [sys.executable, "-m", f"benchmarks.{module}", *args]
    print(f"  $ {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=REPO, stdout=subprocess.DEVNULL, timeout=timeout, check=True)


def run_child(module: str, *args: str, timeout: float = 6 * 3600) -> dict[str, Any]:
    """Runs `python -m benchmarks.<module> args...` and returns its result line."""
    cmd = [sys.executable, "-m", f"benchmarks.{module}", *args]
    print(f"  $ {' '.join(cmd[1:])}", file=sys.stderr, flush=True)
    proc = subprocess.run(
        cmd, cwd=REPO, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return dict(json.loads(line[len(RESULT_PREFIX) :]))
    raise RuntimeError(f"benchmarks.{module} {' '.join(args)} failed (exit {proc.returncode})")


def now_utc() -> datetime:
    return datetime.now(UTC)
