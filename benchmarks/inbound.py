"""Taking in reply e-mails, against bare `email.message_from_bytes` over the same bytes.

The database holds COUNT reminders queued by benchmarks/messages.py. One reply per reminder is
made from the realistic messages in tests/mail/ (Outlook, Gmail, Apple Mail, iPhone, Latin-1,
HTML-only, an attachment, a reply about several actions, out-of-office replies, bounces),
re-addressed as tests/test_mail_in.py does: From the lead, To the reminder's signed Reply-To,
In-Reply-To its Message-ID, a Message-ID of its own. Timed: `ingest_email` for each, one after
the other (matched, checked, cleaned, recorded, confirmation queued, each in its transaction).
Baseline: `email.message_from_bytes(raw)` (the default compat32 policy) for each message that
was taken in. Taking in stops after --max-seconds (default 600), a guard for slow machines and
regressions: the rate per message does not change along the way (10k replies take 1-2.5
minutes on this machine since a reply reads only the rows it needs; see RESULTS.md).

    python -m benchmarks.inbound URL COUNT
"""

from __future__ import annotations

import argparse
import email
import email.policy
import random
import shutil
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text

from benchmarks.common import NOW, REPO, backend_of, bench_settings, emit

CORPUS = REPO / "tests" / "mail"
# how often each kind of message arrives: mostly real answers, some auto-replies and bounces
STYLES = {
    "outlook_desktop.eml": 20,
    "gmail.eml": 18,
    "iphone.eml": 14,
    "apple_mail.eml": 10,
    "outlook_web_html.eml": 10,
    "latin1.eml": 5,
    "attachment.eml": 5,
    "multi_action.eml": 6,
    "ooo_exchange.eml": 5,
    "ooo_french.eml": 2,
    "ooo_german.eml": 1,
    "bounce_dsn.eml": 2,
    "bounce_exim.eml": 1,
    "garbage.eml": 1,
}
BOUNCES = ("bounce_dsn.eml", "bounce_exim.eml", "garbage.eml")


def replies(engine: Any, count: int, seed: int = 1) -> list[bytes]:
    with engine.connect() as conn:
        payloads = [
            p
            for (p,) in conn.execute(
                text("SELECT payload FROM outbox WHERE kind = 'reminder' ORDER BY id LIMIT :n"),
                {"n": count},
            )
        ]
    corpus = {name: (CORPUS / name).read_bytes() for name in STYLES}
    rng = random.Random(seed)
    names = rng.choices(list(STYLES), list(STYLES.values()), k=len(payloads))
    out = []
    for i, (payload, name) in enumerate(zip(payloads, names, strict=True)):
        reminder = email.message_from_string(payload, policy=email.policy.default)
        headers = {"Message-ID": f"<bench-reply-{i}@mail.example.org>"}
        if name not in BOUNCES:
            headers |= {
                "From": str(reminder["To"]),
                "To": str(reminder["Reply-To"]),
                "In-Reply-To": str(reminder["Message-ID"]),
                "References": str(reminder["Message-ID"]),
            }
        out.append(readdressed(corpus[name], headers))
    return out


def readdressed(raw: bytes, headers: dict[str, str]) -> bytes:
    """`raw` with `headers` replaced, its other bytes untouched (some corpus messages are not
    valid enough for the email package to write back)."""
    eol = b"\r\n" if b"\r\n" in raw[:200] else b"\n"
    head, sep, body = raw.partition(eol + eol)
    names = {h.lower().encode() for h in headers}
    kept: list[bytes] = []
    dropping = False
    for line in head.split(eol):
        if line[:1] in (b" ", b"\t"):
            if not dropping:
                kept.append(line)
            continue
        dropping = line.split(b":", 1)[0].strip().lower() in names
        if not dropping:
            kept.append(line)
    new = [f"{k}: {v}".encode() for k, v in headers.items()]
    return eol.join(new + kept) + sep + body


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=600,
        help="stop taking messages in after this long and report the rate so far",
    )
    args = parser.parse_args(argv)

    from benchmarks.common import RULES
    from bot.db import make_engine
    from bot.inbound.email_replies import ingest_email
    from bot.rules import load_rules

    engine = make_engine(args.url)
    raws = replies(engine, args.count)
    outbox = Path(tempfile.mkdtemp(prefix="actionbot-bench-"))  # nothing is written there
    settings = bench_settings(args.url, outbox)
    loaded = load_rules(RULES)
    later = NOW + timedelta(hours=3)

    outcomes: Counter[str] = Counter()
    cpu = time.process_time()
    started = time.perf_counter()
    done = 0
    for raw in raws:
        outcomes[ingest_email(engine, raw, settings, loaded, later).outcome] += 1
        done += 1
        if time.perf_counter() - started > args.max_seconds:
            break  # the rate is known; the rest would only confirm it (see RESULTS.md)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu

    # the baseline over exactly the messages taken in
    cpu_b = time.process_time()
    started = time.perf_counter()
    for raw in raws[:done]:
        email.message_from_bytes(raw)
    baseline = time.perf_counter() - started
    baseline_cpu = time.process_time() - cpu_b
    shutil.rmtree(outbox, ignore_errors=True)
    emit(
        "inbound",
        done,
        backend_of(args.url),
        seconds,
        baseline,
        notes={
            "messages_per_second": round(done / seconds, 2),
            "baseline_messages_per_second": round(done / baseline, 1),
            "replies_made": len(raws),
            "stopped_at_time_budget": done < len(raws),
            "cpu_seconds": round(cpu, 2),  # this process's (PostgreSQL's work is not counted)
            "baseline_cpu_seconds": round(baseline_cpu, 3),
            **{f"outcome_{k}": v for k, v in sorted(outcomes.items())},
        },
    )


if __name__ == "__main__":
    main()
