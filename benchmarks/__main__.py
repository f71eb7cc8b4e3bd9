"""`python -m benchmarks`: every figure beside its baseline, measured in the same run.

    python -m benchmarks                                   # evaluate 1k,10k,100k; deliver,
                                                           # inbound 10k; idle 100k; both backends
    python -m benchmarks --sizes 1000,100000 --backend sqlite --json
    python -m benchmarks --only evaluate --sizes 1000000 --backend sqlite

Each measurement runs in a child process of its own (its peak RSS is its own); the databases
are made for the run (SQLite files in a temp folder, PostgreSQL databases on the server named
by ACTIONBOT_BENCH_PG_URL, default postgres@127.0.0.1:5432) and removed at the end.
With --json each result is one JSON object per line:
{"name", "size", "backend", "seconds", "baseline_seconds", "ratio", "peak_rss_mb"}.
See benchmarks/RESULTS.md for what each figure means and what limits it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.common import NAMES, REPO, databases, run_child, run_step

KEYS = ("name", "size", "backend", "seconds", "baseline_seconds", "ratio", "peak_rss_mb")


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 1000,100000, got {text!r}") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"expected positive sizes, got {text!r}")
    return sizes


def _choices(allowed: tuple[str, ...]) -> Any:
    def parse(text: str) -> list[str]:
        chosen = [s.strip() for s in text.split(",") if s.strip()]
        wrong = [c for c in chosen if c not in allowed]
        if wrong or not chosen:
            raise argparse.ArgumentTypeError(f"expected some of {', '.join(allowed)}, got {text!r}")
        return chosen

    return parse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.split("\n\n")[0],
        epilog="Example: python -m benchmarks --sizes 1000,100000 --backend sqlite --json",
    )
    parser.add_argument(
        "--sizes", type=_sizes, default=[1000, 10_000, 100_000], help="actions, for evaluate"
    )
    parser.add_argument(
        "--backend",
        type=_choices(("sqlite", "postgresql")),
        default=["sqlite", "postgresql"],
        help="sqlite, postgresql or both (default both)",
    )
    parser.add_argument("--only", type=_choices(NAMES), default=list(NAMES), help="e.g. evaluate")
    parser.add_argument("--json", action="store_true", help="one JSON object per result line")
    parser.add_argument("--messages", type=int, default=10_000, help="for deliver and inbound")
    parser.add_argument("--idle-size", type=int, default=100_000, help="actions, for idle")
    parser.add_argument("--repeat", type=int, default=3, help="evaluate: best of this many")
    parser.add_argument("--keep", type=Path, default=None, help="a folder for SQLite files")
    args = parser.parse_args(argv)

    results: list[dict[str, Any]] = []

    def report(result: dict[str, Any]) -> None:
        results.append(result)
        if args.json:
            print(json.dumps({k: result[k] for k in KEYS}), flush=True)
        else:
            print(_row(result), file=sys.stderr, flush=True)
        print(f"    {_notes(result)}", file=sys.stderr, flush=True)

    folder = args.keep or Path(tempfile.mkdtemp(prefix="actionbot-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _run(args, folder, report)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    if not args.json:
        print(_table(results))


def _run(args: argparse.Namespace, folder: Path, report: Any) -> None:
    for backend in args.backend:
        print(f"[{backend}]", file=sys.stderr, flush=True)
        with databases(backend, folder) as dbs:
            if "evaluate" in args.only:
                for size in args.sizes:
                    url = dbs.new(f"evaluate_{size}")
                    run_step("generate", url, str(size))
                    repeat = args.repeat if size <= 100_000 else 1
                    report(run_child("evaluate", url, str(size), "--repeat", str(repeat)))
                    dbs.drop(url)
            if "deliver" in args.only or "inbound" in args.only:
                queued = dbs.new("messages")
                run_step("messages", queued, str(args.messages))
                if "deliver" in args.only:
                    url = dbs.new("deliver", template=queued)
                    with _sink() as port:
                        report(run_child("deliver", url, str(args.messages), str(port)))
                    dbs.drop(url)
                if "inbound" in args.only:
                    url = dbs.new("inbound", template=queued)
                    report(run_child("inbound", url, str(args.messages)))
                    dbs.drop(url)
                dbs.drop(queued)
            if "idle" in args.only:
                url = dbs.new(f"idle_{args.idle_size}")
                today = date.today().isoformat()
                run_step("generate", url, str(args.idle_size), "--as-of", today, "--steady")
                report(run_child("idle", url, str(args.idle_size)))
                dbs.drop(url)


class _sink:  # noqa: N801 - used as a context manager, reads like one
    """benchmarks/sink.py in its own process for the duration of a block."""

    def __enter__(self) -> int:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.sink"], cwd=REPO, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.proc.terminate()
            raise RuntimeError("the SMTP sink did not start")
        return int(line.split()[1])

    def __exit__(self, *_exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def _row(r: dict[str, Any]) -> str:
    return (
        f"{r['name']:<9} {r['size']:>9} {r['backend']:<10} {r['seconds']:>10.3f} "
        f"{r['baseline_seconds']:>10.4f} {r['ratio']:>8.2f} {r['peak_rss_mb']:>9.1f}"
    )


def _table(results: list[dict[str, Any]]) -> str:
    head = (
        f"{'name':<9} {'size':>9} {'backend':<10} {'seconds':>10} {'baseline':>10} "
        f"{'ratio':>8} {'peak MB':>9}"
    )
    lines = [head, "-" * len(head)]
    lines += [_row(r) for r in results]
    lines.append("")
    lines += [_notes(r) for r in results]
    return "\n".join(lines)


def _notes(r: dict[str, Any]) -> str:
    notes = ", ".join(f"{k}={v}" for k, v in r.get("notes", {}).items())
    return f"{r['name']} {r['size']} {r['backend']}: {notes}"


if __name__ == "__main__":
    main()
