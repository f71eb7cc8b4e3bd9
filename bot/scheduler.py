"""`actionbot run`: APScheduler ticking the chase on a fixed interval in the process that
leads, and delivery of the outbox in every process (bot/instances.py says who leads).

This module (with the mail loop and the CLI's default for `--as-of`) reads the real clock. Each
tick decides from the stored state, so a missed run needs no catching up: the next one sees
everything still due (coalesce), and a run that fails is logged and tried again next time —
one bad run never stops the daemon.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType
from typing import cast

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.engine import Engine

from bot.instances import instance_for
from bot.rules import LoadedRules
from bot.settings import Settings

log = logging.getLogger(__name__)

JOB_ID = "actionbot-tick"
JOBS_TABLE = "apscheduler_jobs"
# A tick that could not start on time (the machine slept, the database was busy) still runs
# if it is at most this late; later than that, the next tick covers it.
MISFIRE_GRACE_SECONDS = 15 * 60


def tick_job() -> None:
    """One chase at the real time now, in a child process of its own. Referenced by name so
    the job store can pickle it.

    A tick over a large database reads and composes hundreds of megabytes; freed, that memory
    mostly stays with the process (CPython's arenas, malloc's heap), so a daemon that ticked
    in-process would idle at its biggest tick's size. The child takes it all with it. The
    daemon waits for the child, so a tick still never overlaps the next one, and a signal to
    stop still lets the running tick finish.
    """
    child = multiprocessing.get_context("spawn").Process(
        target=_tick_in_child, args=(os.getpid(),), name="actionbot-tick", daemon=False
    )
    child.start()
    child.join()
    if child.exitcode:
        log.error(
            "the tick's process ended with exit code %s; the next tick will try again",
            child.exitcode,
        )
    give_back_memory()


def _tick_in_child(daemon_pid: int) -> None:
    """The tick itself: logs as the daemon does, and finishes even when the daemon's process
    group is told to stop (the daemon decides when to stop, after the tick); but dies with the
    daemon if that is killed, as a tick running in the daemon would."""
    from bot.settings import configure_logging, load_settings

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != daemon_pid:  # the daemon was gone before that took hold
        return
    try:
        configure_logging(load_settings())
    except Exception:  # noqa: BLE001 - the tick reports bad settings itself, below
        pass
    tick_now()


def tick_now() -> None:
    """One chase at the real time now, in this process."""
    from bot.chasing import tick, transports_for
    from bot.db import make_engine
    from bot.rules import load_rules
    from bot.settings import load_settings

    try:
        settings = load_settings()
        loaded = load_rules(settings.rules_path)
        engine = make_engine(settings.database_url)
        try:
            tick(engine, loaded, settings, datetime.now(UTC), transports_for(settings))
        finally:
            engine.dispose()
    except Exception:  # noqa: BLE001 - the daemon outlives any one bad run
        log.exception("tick failed; the next one will try again")
    finally:
        give_back_memory()


def give_back_memory() -> None:
    """Returns what a tick used to the system, so the daemon idles at its own size.

    A tick's values are garbage once it is done, but CPython keeps freed memory in its own
    arenas and glibc's malloc keeps its heap: without this the daemon would sit at the tick's
    peak until the next one. `gc.collect()` frees the cycles; `malloc_trim(0)` (glibc only,
    skipped elsewhere) hands the free pages back.
    """
    gc.collect()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _die_with_parent() -> None:
    """Linux's PR_SET_PDEATHSIG: SIGKILL when the parent dies; skipped where there is none."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return cast(Callable[[int], int], trim)


def make_scheduler(
    database_url: str,
    loaded: LoadedRules,
    every_minutes: int,
    kind: type[BaseScheduler] = BlockingScheduler,
) -> BaseScheduler:
    """`kind` lets a test start the same scheduler in a background thread."""
    scheduler = kind(
        jobstores={"default": SQLAlchemyJobStore(url=database_url, tablename=JOBS_TABLE)},
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
        timezone=loaded.rules.calendar.timezone,
    )
    scheduler.add_job(
        "bot.scheduler:tick_job",
        "interval",
        minutes=every_minutes,
        id=JOB_ID,
        name="chase leads, escalate, send digests",
        replace_existing=True,
        next_run_time=datetime.now(UTC),
    )
    return scheduler


# How often a process that does not lead tries to take over, and how often the leader checks
# that its lock (its database session) is still there: a dead leader is replaced within
# STANDBY_SECONDS, a leader cut off from the database stops within WATCH_SECONDS.
STANDBY_SECONDS = 10.0
WATCH_SECONDS = 5.0

Stop = Callable[[], None]


def run(
    engine: Engine,
    settings: Settings,
    loaded: LoadedRules,
    every_minutes: int = 15,
    deliver_every_seconds: float = 60.0,
    when_leading: Callable[[], list[Stop]] = list,
) -> None:
    """Runs until SIGTERM or SIGINT. Every process delivers the outbox; the one that holds the
    leader lock also runs the scheduler (and whatever `when_leading` starts, e.g. reading the
    mailbox). On a signal, a running tick is let finish before the process stops."""
    instance = instance_for(engine)
    stopping = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping after the running tick", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info(
        "actionbot running as %s: a tick every %d minutes under rules %s",
        instance.owner,
        every_minutes,
        loaded.version,
    )
    delivering = threading.Thread(
        target=_deliver_loop,
        args=(engine, settings, deliver_every_seconds, stopping),
        name="actionbot-deliver",
        daemon=True,
    )
    delivering.start()
    said_standby = False
    while not stopping.is_set():
        if not instance.try_lead():
            if not said_standby:
                log.info("standing by: another actionbot process leads; delivering meanwhile")
                said_standby = True
            stopping.wait(STANDBY_SECONDS)
            continue
        said_standby = False
        log.info("leading: %s runs the scheduler", instance.owner)
        scheduler = make_scheduler(
            settings.database_url, loaded, every_minutes, kind=BackgroundScheduler
        )
        scheduler.start()
        extras = when_leading()
        while not stopping.is_set() and instance.still_leads():
            stopping.wait(WATCH_SECONDS)
        scheduler.shutdown(wait=True)
        for stop in extras:
            stop()
        instance.stop_leading()
        if not stopping.is_set():
            log.warning("lost the leader lock (database connection gone); standing by")
    delivering.join(timeout=30)
    instance.close()
    log.info("actionbot stopped")


def _deliver_loop(
    engine: Engine, settings: Settings, every_seconds: float, stopping: threading.Event
) -> None:
    """Sends what is due, whoever queued it; with several processes, batches spread by
    `SKIP LOCKED`. A failed pass is logged and the next one tries again."""
    from bot.chasing import transports_for
    from bot.delivery import deliver

    transports = transports_for(settings)
    while not stopping.wait(every_seconds):
        try:
            report = deliver(engine, transports, datetime.now(UTC))
        except Exception:  # noqa: BLE001 - the daemon outlives any one bad pass
            log.exception("delivery failed; the next pass will try again")
            continue
        if report.sent or report.failed or report.retrying or report.interrupted:
            log.info(
                "delivered: sent %d, failed %d, retrying %d, taken over from stopped processes %d",
                report.sent,
                report.failed,
                report.retrying,
                report.interrupted,
            )
