"""The evaluation cycle against one bare SQL query selecting the same due actions.

Timed: what `actionbot tick --dry-run` does before it prints (bot/cli.py `tick`): the schema
check, the check that there are plans, the streamed evaluation (bot/engine_input.py `evaluate`:
the actions read in keyset chunks with Core rows and decided chunk by chunk) at a fixed moment,
and reading the titles of the actions the reminders ask about. Baseline: one SQL query on the
same database selecting the open actions that need an update (an undone milestone, or the
action's own deadline, due within 5 working days, or no progress for 6 weeks), all rows fetched.

    python -m benchmarks.evaluate URL SIZE [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import text

from benchmarks.common import NOW, RULES, backend_of, best_of, emit, peak_rss_mb

# 5 working days before a deadline is 7 calendar days away at most (no bank holiday that week);
# 6 weeks quiet is 42 days.
DUE_QUERY = text(
    """
    SELECT a.id FROM action a
    WHERE a.status IN ('open', 'ongoing')
      AND (
        EXISTS (SELECT 1 FROM milestone ms
                WHERE ms.action_id = a.id AND NOT ms.done AND ms.due <= :soon)
        OR (a.due <= :soon AND NOT EXISTS (SELECT 1 FROM milestone ms2 WHERE ms2.action_id = a.id))
        OR NOT EXISTS (SELECT 1 FROM progress_entry p
                       WHERE p.action_id = a.id AND p.dated >= :quiet)
      )
    """
)


def bare_query(engine: Any) -> int:
    today = NOW.date()
    with engine.connect() as conn:
        rows = conn.execute(
            DUE_QUERY, {"soon": today + timedelta(days=7), "quiet": today - timedelta(days=42)}
        ).fetchall()
    return len(rows)


def evaluation(engine: Any, loaded: Any, phases: dict[str, float]) -> Any:
    """tick --dry-run's path (bot/cli.py): schema check, plans present, evaluate, titles."""
    from bot.cli import _batches, _titles
    from bot.db import create_schema, session
    from bot.engine_input import evaluate
    from bot.store import plan_ids

    t0 = time.perf_counter()
    create_schema(engine)
    with session(engine) as s:
        assert plan_ids(s)
    t1 = time.perf_counter()
    with session(engine) as s:
        decisions = evaluate(s, loaded.rules, NOW)
        t2 = time.perf_counter()
        for batch in _batches(decisions.reminders):  # as _print_decisions reads them
            _titles(s, {a.action_id for r in batch for a in r.asks})
    t3 = time.perf_counter()
    for name, seconds in (
        ("schema_check", t1 - t0),
        ("evaluate", t2 - t1),
        ("titles", t3 - t2),
    ):
        phases[name] = min(phases.get(name, seconds), seconds)
    return decisions


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("size", type=int)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from bot.db import make_engine
    from bot.rules import load_rules

    engine = make_engine(args.url)
    loaded = load_rules(RULES)
    # the baseline first: its memory is small, so the peak below is the evaluation's
    baseline, due = best_of(args.repeat, lambda: bare_query(engine))
    rss_before = peak_rss_mb()
    phases: dict[str, float] = {}
    cpu_started = time.process_time()
    seconds, decisions = best_of(args.repeat, lambda: evaluation(engine, loaded, phases))
    # this process's CPU time per run: less disturbed than wall time on a shared machine
    cpu = (time.process_time() - cpu_started) / max(args.repeat, 1)
    emit(
        "evaluate",
        args.size,
        backend_of(args.url),
        seconds,
        baseline,
        notes={
            **{k: round(v, 3) for k, v in phases.items()},
            "due_by_query": due,
            "actions_asked_about": len({a.action_id for r in decisions.reminders for a in r.asks}),
            "reminders": len(decisions.reminders),
            "escalations": len(decisions.escalations),
            "digests": len(decisions.digests),
            "cpu_seconds_mean": round(cpu, 3),
            "rss_before_mb": round(rss_before, 1),
            "repeat": args.repeat,
        },
    )


if __name__ == "__main__":
    main()
