"""Exporting a plan as a document a board reads: an Excel workbook, a Word document or a web page.

Each document is the plan in its own column layout (layout.py) behind a cover summary
(cover.py), as it stood on one day: progress entries written after that day are left out and
overdue is judged on it, and every page says which day that is. The XLSX and DOCX are written
so that `actionbot import` reads them back into the same plan (what the table cannot say
travels beside it: sidecar.py). `export_plan` is the runner: it reads the ladder and the
previous export from the database, writes the file and leaves the new snapshot in the audit
trail; everything it calls before that is pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path

from sqlmodel import Session

from bot.export.cover import (
    Cover,
    ExportSnapshot,
    build_cover,
    latest_snapshot,
    levels_on,
    record_export,
)
from bot.export.layout import PlanTable, as_of_view, plan_table
from bot.rules import Level
from bot.store import PlanView

__all__ = [
    "FORMATS",
    "ExportPathError",
    "build_document",
    "export_plan",
    "output_paths",
    "write_document",
]

FORMATS = ("xlsx", "docx", "html")


class ExportPathError(ValueError):
    """Where the files should go does not fit what is exported (said in words)."""


def build_document(
    plan: PlanView,
    day: date,
    now: datetime,
    levels: Mapping[int, Level],
    previous: ExportSnapshot | None,
    fmt: str,
) -> tuple[PlanTable, Cover, ExportSnapshot]:
    """The plan as it stood on `day`, as a table and a cover, and the snapshot to store."""
    view = as_of_view(plan, day)
    cover, snapshot = build_cover(view, day, now, levels, previous, fmt)
    return plan_table(view, day), cover, snapshot


def write_document(fmt: str, table: PlanTable, cover: Cover, path: Path) -> None:
    """Each writer is imported when asked for, so one format needs only its own library."""
    write: Callable[[PlanTable, Cover, Path], None]
    if fmt == "xlsx":
        from bot.export.xlsx import write_xlsx

        write = write_xlsx
    elif fmt == "docx":
        from bot.export.docx import write_docx

        write = write_docx
    elif fmt == "html":
        from bot.export.html import write_html

        write = write_html
    else:
        raise ValueError(f"cannot export as {fmt!r}; expected one of {', '.join(FORMATS)}")
    write(table, cover, path)


def export_plan(
    session: Session, plan: PlanView, fmt: str, day: date, now: datetime, path: Path
) -> Cover:
    """Writes one plan's document and records the export (the caller commits)."""
    previous = latest_snapshot(session, plan.id, now)
    table, cover, snapshot = build_document(plan, day, now, levels_on(session, now), previous, fmt)
    write_document(fmt, table, cover, path)
    record_export(session, plan.id, snapshot, path.name)
    return cover


def output_paths(plan_ids: Sequence[str], fmt: str, output: Path | None) -> list[Path]:
    """`PLAN-ID.FORMAT` for each plan, in the working folder or the folder given; a file name
    only for one plan. Named after the plan's id, `actionbot import` gives it back that id."""
    suffix = f".{fmt}"
    if output is not None and output.suffix.lower() == suffix:
        if len(plan_ids) != 1:
            raise ExportPathError(
                f"{len(plan_ids)} plans make {len(plan_ids)} files: give a folder, "
                "or one plan with --plan"
            )
        return [output]
    if output is not None and output.exists() and not output.is_dir():
        raise ExportPathError(f"{output} is a file; give a folder or a name ending {suffix}")
    folder = output or Path(".")
    return [folder / f"{plan_id}{suffix}" for plan_id in plan_ids]
