"""`actionbot run`: APScheduler in the foreground, ticking the chase on a fixed interval.

This is the only module (with the CLI's default for `--as-of`) that reads the real clock. Each
tick decides from the stored state, so a missed run needs no catching up: the next one sees
everything still due (coalesce), and a run that fails is logged and tried again next time —
one bad run never stops the daemon.
"""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime
from types import FrameType

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler

from bot.rules import LoadedRules

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


def run(database_url: str, loaded: LoadedRules, every_minutes: int = 15) -> None:
    """Runs until SIGTERM or SIGINT, then lets a running tick finish and stops."""
    scheduler = make_scheduler(database_url, loaded, every_minutes)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping after the running tick", signal.Signals(signum).name)
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "actionbot running: a tick every %d minutes under rules %s", every_minutes, loaded.version
    )
    scheduler.start()
    log.info("actionbot stopped")
