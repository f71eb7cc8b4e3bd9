"""The canonical plan: the one shape every importer produces and the database loader consumes.

A plan lives as one YAML file in `data/plans/` (documented in docs/plan-format.md). Every other
layout (the seed tables, CSV, XLSX, Word) is converted into this shape first, so validation,
name resolution and loading exist once. Validation errors name the file, the line, the action
ref and the field, so a business manager can fix the file without reading code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

from bot.plans.partial_date import PartialDate
from bot.yamlfile import InputFileError, Located, Problem, parse_model, read_text

__all__ = [
    "Plan",
    "Section",
    "Action",
    "Milestone",
    "Progress",
    "Governance",
    "Problem",
    "PlanFileError",
    "parse_plan",
    "load_plan_file",
    "dump_plan",
    "slugify",
]


def _to_partial_date(value: Any) -> PartialDate:
    if isinstance(value, int):  # YAML reads a bare 2018 as a number
        value = str(value)
    if isinstance(value, (str, date, PartialDate)):
        return PartialDate.parse(value)
    raise ValueError(f"expected a date like 2018-10 or 2018-10-05, got {value!r}")


PDate = Annotated[
    PartialDate,
    BeforeValidator(_to_partial_date),
    PlainSerializer(lambda d: d.iso(), return_type=str),
]

Rag = Literal["red", "amber", "green"]
Status = Literal["open", "complete", "ongoing"]
Source = Literal["import", "email", "slack", "cli", "web"]


def _strip_text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


Text = Annotated[str, BeforeValidator(_strip_text), Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Milestone(_Model):
    """A dated step of an action; the MSCB bullets are milestones with their own lead."""

    text: Text
    timescale: str | None = None  # as written, e.g. "March 2018 - Complete"
    due: date | None = None  # set only where a person decided the date (see the action's notes)
    lead: str | None = None  # as written; resolved through people.yaml
    done: bool = False
    depth: int = Field(default=0, ge=0, le=3)  # 1 for a sub-bullet


class Progress(_Model):
    """A dated progress entry: a paragraph of the plan's progress column, or a lead's reply."""

    date: PDate
    text: Text
    source: Source = "import"
    author: str | None = None
    milestone: int | None = Field(default=None, ge=1)  # 1-based index into the action's milestones
    rag: Rag | None = None
    completed: bool = False


class Action(_Model):
    ref: Text
    title: str | None = None  # short title; the text's first sentence when absent
    area_for_improvement: str | None = None
    key_risk: str | None = None
    text: Text
    leads: list[Text] = []
    timescale: str | None = None  # as written
    due: date | None = None  # set only where a person decided the date
    milestones: list[Milestone] = []
    status: Status | None = None  # derived from milestones and timescale when absent
    rag: Rag | None = None
    rag_set_by: str | None = None
    progress: list[Progress] = []
    notes: list[str] = []  # what a person resolved or must check; listed by check-data

    @field_validator("rag", mode="before")
    @classmethod
    def _lower_rag(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) and value.strip() else None


class Section(_Model):
    """A priority objective, or an improvement area within one (MSCB 1 → 1.1 → 1.1.1)."""

    number: Text
    kind: Literal["objective", "area"]
    title: Text
    sections: list[Section] = []
    actions: list[Action] = []


class Governance(_Model):
    """Who each level of the escalation ladder is; names resolve through people.yaml."""

    operational_group: str | None = None
    strategic_board: str | None = None
    chair: str | None = None


class Plan(_Model):
    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    title: Text
    version: str | None = None
    as_of: PDate | None = None  # the date of this version of the plan
    source: str | None = None
    layout: str | None = None  # column layout of the original, e.g. "jtai" or "mscb"
    rag_definitions: dict[Rag, str] = {}
    governance: Governance = Governance()
    sections: list[Section] = []
    actions: list[Action] = []
    notes: list[str] = []

    def iter_actions(self) -> Iterator[tuple[tuple[Section, ...], Action]]:
        """Every action in document order, with the sections it sits in (outermost first)."""

        def walk(path: tuple[Section, ...], sections: Sequence[Section]) -> Iterator[Any]:
            for s in sections:
                here = (*path, s)
                for a in s.actions:
                    yield here, a
                yield from walk(here, s.sections)

        for a in self.actions:
            yield (), a
        yield from walk((), self.sections)


# Kept under these names for the importers; the machinery is shared with people.yaml and rules.
PlanFileError = InputFileError


def _check_plan(plan: Plan, data: Any, located: Located, file: str) -> list[Problem]:
    """What pydantic cannot see: refs unique in the plan, progress pointing at a milestone."""
    problems: list[Problem] = []
    seen: dict[str, int | None] = {}

    def walk(sections: list[Section], loc: tuple[str | int, ...]) -> Iterator[Any]:
        for i, s in enumerate(sections):
            here = (*loc, "sections", i)
            for j, a in enumerate(s.actions):
                yield (*here, "actions", j), a
            yield from walk(s.sections, here)

    located_actions = [(("actions", j), a) for j, a in enumerate(plan.actions)]
    located_actions += list(walk(plan.sections, ()))
    for loc, action in located_actions:
        line = located.line((*loc, "ref"))
        if action.ref in seen:
            problems.append(
                Problem(
                    file,
                    line,
                    action.ref,
                    "ref",
                    f"duplicate ref: already used by the action at line {seen[action.ref]}",
                )
            )
        else:
            seen[action.ref] = line
        for k, entry in enumerate(action.progress):
            if entry.milestone is not None and entry.milestone > len(action.milestones):
                problems.append(
                    Problem(
                        file,
                        located.line((*loc, "progress", k, "milestone")),
                        action.ref,
                        f"progress[{k + 1}].milestone",
                        f"milestone {entry.milestone} does not exist "
                        f"(the action has {len(action.milestones)})",
                    )
                )
    return problems


def parse_plan(text: str, file: str = "<plan>") -> Plan:
    """Validates one canonical plan; raises PlanFileError listing every problem found."""
    plan, data, located = parse_model(text, file, Plan)
    problems = _check_plan(plan, data, located, file)
    if problems:
        raise PlanFileError(problems)
    return plan


def load_plan_file(path: str | Path) -> Plan:
    return parse_plan(read_text(path), str(path))


# --- writing --------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _str_presenter(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_presenter)

_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")


def dump_plan(plan: Plan) -> str:
    """The plan as canonical YAML, leaving out fields at their defaults so it stays readable."""
    data = plan.model_dump(mode="json", exclude_defaults=True)
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
