"""Rendering, storing and delivering reminders over SMTP, against plain smtplib sending the
same messages already built.

The database holds COUNT rendered reminders queued by benchmarks/messages.py. Baseline: those
messages, read from the outbox as bytes, sent with `smtplib.SMTP.sendmail` over one connection
to the sink on loopback (benchmarks/sink.py, its own process). Then the queued rows and their
audit events are removed and the same reminders are decided again (not timed). Timed, as a tick
does it: `store_decisions` (compose, render, build each e-mail, store outbox rows and audit
events, one transaction), then `deliver()` with an `SmtpTransport` to the same sink, called
again and again as the daemon would until no row is pending (each call claims one batch). The
notes give the two parts apart.

    python -m benchmarks.deliver URL COUNT SINK_PORT
"""

from __future__ import annotations

import argparse
import smtplib
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import text

from benchmarks.common import MAIL_FROM, NOW, RULES, backend_of, bench_settings, emit


def prebuilt(engine: Any) -> list[tuple[str, bytes]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT recipient, payload FROM outbox "
                "WHERE channel = 'email' AND status = 'pending' ORDER BY id"
            )
        ).fetchall()
    return [(r, p.encode("utf-8")) for r, p in rows]


def plain_smtplib(port: int, messages: list[tuple[str, bytes]]) -> float:
    started = time.perf_counter()
    smtp = smtplib.SMTP("127.0.0.1", port, local_hostname="baseline.bench")
    smtp.ehlo()
    for recipient, data in messages:
        smtp.sendmail(MAIL_FROM, [recipient], data)
    smtp.quit()
    return time.perf_counter() - started


def unqueue(engine: Any) -> None:
    """Back to the state before benchmarks/messages.py stored its reminders."""
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_event WHERE outbox_id IS NOT NULL"))
        conn.execute(text("DELETE FROM outbox"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    parser.add_argument("port", type=int)
    parser.add_argument("--batch-size", type=int, help="default: deliver()'s, BATCH_SIZE")
    args = parser.parse_args(argv)

    from benchmarks.messages import reminder_decisions
    from bot.chasing import store_decisions
    from bot.db import make_engine, session
    from bot.delivery import BATCH_SIZE, Transports, deliver
    from bot.notify.email import SmtpConfig, SmtpTransport
    from bot.rules import load_rules

    engine = make_engine(args.url)
    batch_size = args.batch_size or BATCH_SIZE
    messages = prebuilt(engine)
    cpu = time.process_time()
    baseline = plain_smtplib(args.port, messages)
    baseline_cpu = time.process_time() - cpu

    unqueue(engine)
    loaded = load_rules(RULES)
    settings = bench_settings(args.url, Path(tempfile.gettempdir()) / "actionbot-bench-outbox")
    with session(engine) as s, s.begin():
        decisions = reminder_decisions(s, len(messages), loaded)

    transport = SmtpTransport(
        SmtpConfig("127.0.0.1", args.port, "none", timeout=30, local_hostname="actionbot.bench")
    )
    transports = Transports(email=transport)
    sent = failed = calls = 0
    cpu = time.process_time()
    started = time.perf_counter()
    with session(engine) as s, s.begin():
        queued = store_decisions(s, decisions, NOW, loaded, settings, slack=False)
    stored = time.perf_counter() - started
    stored_cpu = time.process_time() - cpu
    while True:
        report = deliver(engine, transports, NOW, batch_size=batch_size)
        calls += 1
        sent += report.sent
        failed += report.failed + report.retrying
        if not (report.sent or report.failed or report.retrying):
            break
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    if queued != len(messages) or sent != len(messages):
        raise SystemExit(
            f"stored {queued} and deliver sent {sent} of {len(messages)} ({failed} failed)"
        )
    emit(
        "deliver",
        len(messages),
        backend_of(args.url),
        seconds,
        baseline,
        notes={
            "messages_per_second": round(sent / seconds, 1),
            "baseline_messages_per_second": round(len(messages) / baseline, 1),
            # this process's CPU time (the sink's is not counted): steadier on a shared machine
            "cpu_seconds": round(cpu, 2),
            "baseline_cpu_seconds": round(baseline_cpu, 3),
            "store_decisions_seconds": round(stored, 3),
            "store_decisions_cpu_seconds": round(stored_cpu, 2),
            "deliver_seconds": round(seconds - stored, 3),
            "deliver_cpu_seconds": round(cpu - stored_cpu, 2),
            "deliver_calls": calls,
            "batch_size": batch_size,
            "mean_payload_bytes": sum(len(d) for _, d in messages) // max(len(messages), 1),
        },
    )


if __name__ == "__main__":
    main()
