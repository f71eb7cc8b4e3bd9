"""`actionbot run`: APScheduler ticking the chase on a fixed interval in the process that
leads, and delivery of the outbox in every process (bot/instances.py says who leads).

This module (with the mail loop and the CLI's default for `--as-of`) reads the real clock. Each
tick decides from the stored state, so a missed run needs no catching up: the next one sees
everything still due (coalesce), and a run that fails is logged and tried again next time —
one bad run never stops the daemon.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

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
    """One chase at the real time now. Referenced by name so the job store can pickle it."""
    from bot.chasing import tick, transports_for
    from bot.db import make_engine
    from bot.rules import load_rules
    from bot.settings import load_settings

    try:
        settings = load_settings()
        loaded = load_rules(settings.rules_path)
        engine = make_engine(settings.database_url)
        tick(engine, loaded, settings, datetime.now(UTC), transports_for(settings))
    except Exception:  # noqa: BLE001 - the daemon outlives any one bad run
        log.exception("tick failed; the next one will try again")


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
