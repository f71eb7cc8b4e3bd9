"""Reading the bot's mailbox: each new message taken in, then moved out of the inbox.

`poll_mail` is one pass (the `fetch-mail` command, and each turn of the loop): every message is
handled by `ingest_email` in its own transaction and only then moved to Processed or
Quarantine, so a crash between the commit and the move leaves the message in the inbox to be
seen again, where its Message-ID marks it as done: nothing lost, nothing recorded twice.
Confirmations the replies queued are delivered at once rather than at the next tick.

`start_mail_loop` runs that pass beside the scheduler in `actionbot run`, waking early when the
server's IDLE says mail came; a failed pass is logged and the next one tries again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from bot.chasing import transports_for
from bot.delivery import deliver
from bot.inbound.email_replies import ingest_email
from bot.inbound.imap import MailboxPoller, Outcome, PollReport
from bot.rules import LoadedRules
from bot.settings import Settings

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def poll_mail(
    engine: Engine,
    settings: Settings,
    loaded: LoadedRules,
    poller: MailboxPoller,
    clock: Clock,
    *,
    send: bool = True,
) -> PollReport:
    recorded = 0

    def handle(raw: bytes, _uid: str) -> Outcome:
        nonlocal recorded
        result = ingest_email(engine, raw, settings, loaded, clock())
        recorded += result.outcome in ("recorded", "asked")
        return result.folder

    report = poller.poll_once(handle)
    if recorded and send:
        deliver(engine, transports_for(settings), clock())
    if report.handed or report.errors:
        log.info(
            "mail: %d new, %d processed, %d quarantined, %d failed%s",
            len(report.handed),
            len(report.processed),
            len(report.quarantined),
            len(report.failed),
            f"; {'; '.join(report.errors)}" if report.errors else "",
        )
    return report


def start_mail_loop(
    engine: Engine,
    settings: Settings,
    loaded: LoadedRules,
    every_seconds: float = 120.0,
    clock: Clock = lambda: datetime.now(UTC),
) -> Callable[[], None]:
    """Polls in a background thread until the returned function is called."""
    assert settings.imap is not None
    poller = MailboxPoller(settings.imap)
    stopping = threading.Event()

    def loop() -> None:
        while not stopping.is_set():
            try:
                poll_mail(engine, settings, loaded, poller, clock)
            except Exception:  # noqa: BLE001 - one bad pass never stops the reading
                log.exception("mail: the pass failed; the next one will try again")
            if stopping.is_set():
                break
            started = time.monotonic()
            if not poller.wait_for_mail(every_seconds):
                # IDLE timed out, or the server has none (it returns at once): either way the
                # next pass is due `every_seconds` after this wait began
                stopping.wait(max(0.0, every_seconds - (time.monotonic() - started)))
        poller.close()

    thread = threading.Thread(target=loop, name="actionbot-mail", daemon=True)
    thread.start()
    log.info("reading replies from %s every %d s", settings.imap.host, every_seconds)

    def stop() -> None:
        stopping.set()
        thread.join(timeout=5)

    return stop
