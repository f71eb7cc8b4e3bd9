"""Importing files into the database: every file is read and checked before anything is stored.

Plans and people arrive together (`actionbot init`) or one by one (`actionbot import`). All of
them are parsed first; if any is wrong, every problem is reported and the database is not
touched. Then they are stored in one transaction, people before plans so leads resolve.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import yaml
from sqlalchemy.engine import Engine

from bot.db import create_schema, session
from bot.people import PeopleFile, load_people_file, store_people
from bot.plans.canonical import Plan, load_plan_file
from bot.plans.load import LoadReport, store_plan
from bot.plans.partial_date import PartialDate
from bot.yamlfile import InputFileError, Problem

PLAN_SUFFIXES = (".yaml", ".yml", ".csv", ".xlsx", ".docx")


@dataclass(frozen=True)
class ReadFiles:
    people: list[tuple[Path, PeopleFile]]
    plans: list[tuple[Path, Plan]]


def is_people_file(path: Path) -> bool:
    """people.yaml is told from a plan by its top-level keys, so either may be imported."""
    if path.suffix not in (".yaml", ".yml"):
        return False
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):  # ValueError: 2018-02-30 read as a date
        return False  # reading it as a plan will report the problem properly
    return isinstance(data, dict) and ("people" in data or "groups" in data) and "id" not in data


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files as given; a folder stands for the plan files in it, in name order."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in PLAN_SUFFIXES))
        else:
            out.append(path)
    return out


def read_files(paths: Sequence[Path], as_of: PartialDate | None = None) -> ReadFiles:
    """Parses every file; raises InputFileError with the problems of all of them."""
    people: list[tuple[Path, PeopleFile]] = []
    plans: list[tuple[Path, Plan]] = []
    problems: list[Problem] = []
    for path in expand(paths):
        try:
            if not path.is_file():
                raise InputFileError([Problem(str(path), None, None, None, "no such file")])
            suffix = path.suffix.lower()
            if is_people_file(path):
                people.append((path, load_people_file(path)))
            elif suffix in (".yaml", ".yml"):
                plans.append((path, load_plan_file(path)))
            elif suffix in (".csv", ".xlsx", ".docx"):
                from bot.plans.tabular import read_plan_table

                plans.append((path, read_plan_table(path, as_of=as_of)))
            else:
                raise InputFileError(
                    [
                        Problem(
                            str(path),
                            None,
                            None,
                            None,
                            "not a plan file: expected one of " + ", ".join(PLAN_SUFFIXES),
                        )
                    ]
                )
        except InputFileError as exc:
            problems.extend(exc.problems)
    ids: dict[str, Path] = {}
    for path, plan in plans:
        if plan.id in ids:
            problems.append(
                Problem(
                    str(path),
                    None,
                    None,
                    "id",
                    f"plan id {plan.id!r} is also used by {ids[plan.id]}",
                )
            )
        ids.setdefault(plan.id, path)
    if problems:
        raise InputFileError(problems)
    return ReadFiles(people, plans)


def import_files(
    engine: Engine, paths: Sequence[Path], now: datetime, as_of: PartialDate | None = None
) -> list[LoadReport]:
    files = read_files(paths, as_of)
    create_schema(engine)
    reports = []
    with session(engine) as s, s.begin():
        for _path, people in files.people:
            store_people(s, people)
        for path, plan in files.plans:
            reports.append(store_plan(s, plan, now, imported_from=str(path)))
    return reports
