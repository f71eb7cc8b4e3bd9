"""A database holding COUNT reminders queued in the outbox the way a tick queues them, for the
delivery and inbound measurements.

Synthetic plans with 3 actions per reminder and COUNT·1.25 leads (each leading neighbouring
actions) are generated; then one `RemindLead` per lead (about one of the lead's open actions;
for three leads in ten, two or three; each with the reason `needs_update` gives) goes through
`bot.chasing.store_decisions`, which renders each reminder, signs its reply tokens and stores
the outbox row and the audit events, in one transaction, as `tick` does. The time
store_decisions took is printed.

    python -m benchmarks.messages URL COUNT
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import AS_OF, NOW, RULES, bench_settings


def queue_reminders(url: str, count: int) -> dict[str, float]:
    from benchmarks.generate import Shape, generate
    from bot.chasing import store_decisions
    from bot.db import make_engine, session
    from bot.rules import load_rules

    engine = make_engine(url)
    generate(engine, Shape(size=3 * count, leads=count * 5 // 4, as_of=AS_OF, local_leads=True))
    loaded = load_rules(RULES)
    settings = bench_settings(url, Path(tempfile.gettempdir()) / "actionbot-bench-outbox")
    with session(engine) as s, s.begin():
        decisions = reminder_decisions(s, count, loaded)
        started = time.perf_counter()
        queued = store_decisions(s, decisions, NOW, loaded, settings, slack=False)
        stored = time.perf_counter() - started
    engine.dispose()
    return {"queued": queued, "store_decisions_seconds": round(stored, 2)}


def reminder_decisions(s: Any, count: int, loaded: Any) -> Any:
    """`count` reminders, one per lead with an address: the `Decisions` queue_reminders stores
    (benchmarks/deliver.py makes them again, to time storing them)."""
    from bot.chase_state import load_state
    from bot.engine import Ask, Decisions, RemindLead, needs_update
    from bot.store import load_plans

    rules = loaded.rules
    plans = load_plans(s)
    state = load_state(s, plans)
    with_email = {
        lead.reaches.key
        for plan in plans
        for action in plan.actions
        for lead in action.leads
        if lead.reaches is not None and lead.reaches.email
    }
    asks: dict[str, list[Ask]] = {}
    leads = {}
    for action in state.actions:
        if action.status not in ("open", "ongoing"):
            continue
        calendar = rules.working_calendar(action.plan_id)
        need = needs_update(action, rules, calendar, calendar.today(NOW))
        for lead in action.leads[:1]:  # its first lead: next to their other actions
            if lead.key not in with_email or len(asks.get(lead.key, ())) >= _cap(lead.key):
                continue
            leads[lead.key] = lead
            asks.setdefault(lead.key, []).append(
                Ask(
                    action.id,
                    action.ref,
                    action.plan_id,
                    need.reason if need else "quiet",
                    need.due if need else None,
                    need.milestone if need else None,
                    need.days_overdue if need else None,
                    action.chase.level,
                )
            )
    keys = sorted(asks)[:count]
    if len(keys) < count:
        raise SystemExit(f"only {len(keys)} leads with an address and an open action")
    return Decisions(reminders=tuple(RemindLead(leads[k], tuple(asks[k])) for k in keys))


def _cap(key: str) -> int:
    """How many actions a lead's reminder asks about: one for most, up to three for some."""
    n = int(key.rsplit("-", 1)[-1]) % 10
    return 1 if n < 7 else 2 if n < 9 else 3


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("count", type=int)
    args = parser.parse_args(argv)
    info = queue_reminders(args.url, args.count)
    print(f"    queued: {json.dumps(info)}", file=sys.stderr, flush=True)
    print("QUEUED " + json.dumps(info), flush=True)


if __name__ == "__main__":
    main()
