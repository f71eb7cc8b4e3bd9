"""The README and help stay true: every command documented, the CI command the README's own."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from bot.cli import app
from bot.settings import VARIABLES
from tests.conftest import REPO

README = (REPO / "README.md").read_text()
COMMANDS = sorted(
    [c.name or c.callback.__name__ for c in app.registered_commands]  # type: ignore[union-attr]
    + [
        f"{g.name} {c.name}"
        for g in app.registered_groups
        for c in g.typer_instance.registered_commands
    ]  # type: ignore[union-attr]
)


def test_there_are_commands():
    assert {
        "init",
        "import",
        "status",
        "check-data",
        "export",
        "demo",
        "convert",
        "tick",
        "rules check",
        "db upgrade",
    } <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example_and_is_in_the_readme(command: str):
    result = CliRunner().invoke(app, [*command.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert f"actionbot {command}" in README


def test_ci_runs_the_readme_test_command():
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    test_command = next(b for b in blocks if "pytest" in b)
    ci = (REPO / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == test_command


def test_every_setting_is_documented():
    example = (REPO / ".env.example").read_text()
    for name in VARIABLES:
        assert f"| `{name}` |" in README, name
        assert f"# {name}=" in example, name
