"""Reading a YAML input file into a validated model, with errors a person can act on.

Plans, people.yaml and the rules are all edited by hand. When one is wrong, the message names
the file, the line, the action ref (where there is one) and the field, and says what was
expected, so nobody has to read a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, said so that a person can find and fix it."""

    file: str
    line: int | None
    ref: str | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.ref is not None:
            where.append(f"action {self.ref}")
        head = ", ".join(where)
        return f"{head}: {self.field + ': ' if self.field else ''}{self.message}"


class InputFileError(Exception):
    """An input was refused; `problems` lists every reason found, not only the first."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class Located:
    """The YAML node tree beside the data, so an error path can be turned into a line."""

    def __init__(self, node: yaml.Node | None):
        self.node = node

    def line(self, loc: Sequence[str | int]) -> int | None:
        node = self.node
        best = node.start_mark.line + 1 if node is not None else None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                pair = next(((k, v) for k, v in node.value if k.value == part), None)
                if pair is None:
                    return best
                node = pair[1]
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return best
                node = node.value[part]
            else:
                return best
            best = node.start_mark.line + 1
        return best


def field_path(loc: Sequence[str | int], item_key: str = "actions") -> str:
    """('sections', 0, 'actions', 2, 'milestones', 1, 'due') -> 'milestones[2].due'.

    Only the part below the innermost item (an action) matters to the reader, who is told
    the item's ref separately; list positions are shown 1-based, as people count.
    """
    parts = list(loc)
    for i in range(len(parts) - 1, -1, -1):
        if parts[i] == item_key and i + 1 < len(parts) and isinstance(parts[i + 1], int):
            parts = parts[i + 2 :]
            break
    out = ""
    for p in parts:
        out += f"[{p + 1}]" if isinstance(p, int) else ("." if out else "") + str(p)
    return out or "(top level)"


def ref_at(data: Any, loc: Sequence[str | int], key: str = "ref") -> str | None:
    """The ref (or name) of the innermost list item on the error's path."""
    found = None
    node = data
    for part in loc:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(part, int) and isinstance(node, dict) and key in node:
            found = str(node[key])
    return found


def message(err: Any) -> str:
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return "unknown field"
    if err["type"] == "missing":
        return "required field is missing"
    given = err.get("input")
    if (isinstance(given, (str, int, float, bool)) or given is None) and ", got " not in msg:
        return f"{msg}, got {given!r}"
    return msg


M = TypeVar("M", bound=BaseModel)


def parse_model(
    text: str, file: str, model: type[M], item_key: str = "actions", ident: str = "ref"
) -> tuple[M, Any, Located]:
    """Parses and validates; raises InputFileError naming file, line, item and field."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        if isinstance(exc, yaml.reader.ReaderError):  # a control character, say: no mark
            line = text.count("\n", 0, exc.position) + 1
            code = exc.character if isinstance(exc.character, int) else ord(exc.character)
            problem = f"the character U+{code:04X} cannot be in a YAML file ({exc.reason})"
        problems = [Problem(file, line, None, None, f"not valid YAML: {problem}")]
        raise InputFileError(problems) from None
    except ValueError as exc:
        # PyYAML reads 2018-02-30 as a date and fails with a bare ValueError, without a line
        raise InputFileError([_unreadable(file, text, exc)]) from None
    if not isinstance(data, dict):
        raise InputFileError([Problem(file, 1, None, None, "expected a YAML mapping at the top")])
    located = Located(node)
    try:
        obj = model.model_validate(data)
    except ValidationError as exc:
        raise InputFileError(
            [
                Problem(
                    file,
                    located.line(err["loc"]),
                    ref_at(data, err["loc"], ident),
                    field_path(err["loc"], item_key),
                    message(err),
                )
                for err in exc.errors()
            ]
        ) from None
    return obj, data, located


def _unreadable(file: str, text: str, exc: ValueError) -> Problem:
    """The value YAML could not turn into what it looks like (a date with no such day)."""
    constructor = yaml.SafeLoader("")
    pending = [yaml.compose(text, Loader=yaml.SafeLoader)]  # depth first: the first in the file
    while pending:
        node = pending.pop()
        if isinstance(node, yaml.ScalarNode):
            try:
                constructor.construct_object(node)
            except ValueError as error:
                line = node.start_mark.line + 1
                what = "a date" if node.tag.endswith(":timestamp") else "a value"
                return Problem(file, line, None, None, f"not {what}: {node.value!r} ({error})")
        elif isinstance(node, yaml.MappingNode):
            pending.extend(reversed([n for pair in node.value for n in pair]))
        elif isinstance(node, yaml.SequenceNode):
            pending.extend(reversed(node.value))
    return Problem(file, None, None, None, f"cannot read a value: {exc}")


def read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems = [Problem(str(path), None, None, None, f"cannot read: {exc}")]
        raise InputFileError(problems) from None
