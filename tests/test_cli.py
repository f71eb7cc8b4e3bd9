"""The actionbot command on a small plan: what a business manager types and reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from tests.test_load import PEOPLE, PLAN

runner = CliRunner()


@pytest.fixture
def data_dir(env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    (data / "plans").mkdir(parents=True)
    (data / "people.yaml").write_text(PEOPLE)
    (data / "plans" / "test.yaml").write_text(PLAN)
    monkeypatch.setenv("ACTIONBOT_DATA_DIR", str(data))
    return data


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_init_then_status_json(data_dir: Path):
    code, output = invoke("init")
    assert code == 0, output
    assert "test-plan: 2 action(s) added, 0 updated, 2 progress entr(ies) added" in output
    assert (data_dir / "actionbot.db").is_file()
    code, output = invoke("status", "--as-of", "2018-12-10", "--json")
    assert code == 0, output
    rows = json.loads(output)
    assert [
        (
            r["ref"],
            r["leads"],
            r["due"],
            r["last_update"],
            r["days_overdue"],
            r["days_since_update"],
        )
        for r in rows
    ] == [
        ("1.1.1", ["Tracey Anstis", "Kelly Cogger"], "2018-07-31", "2018-10-05", 132, 66),
        ("1.1.2", ["Tracey Anstis"], "2018-11-30", None, 10, None),
    ]


def test_status_filters_by_lead_and_plan(data_dir: Path):
    invoke("init")
    code, output = invoke("status", "--lead", "kelly", "--json", "--as-of", "2018-12-10")
    assert [r["ref"] for r in json.loads(output)] == ["1.1.1"]
    code, output = invoke("status", "--plan", "nope")
    assert code == 2
    assert "no plan 'nope' in the database (plans: test-plan)" in output


def test_status_table_is_readable(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COLUMNS", "200")
    invoke("init")
    code, output = invoke("status", "--as-of", "2018-12-10")
    assert code == 0
    assert "Actions as of 10 Dec 2018" in output
    assert "Review the DAN process" in output and "2 action(s)" in output


def test_export_json_has_the_documented_shape(data_dir: Path, tmp_path: Path):
    invoke("init")
    code, output = invoke("export", "--format", "json", "-o", str(tmp_path / "out.json"))
    assert code == 0, output
    data = json.loads((tmp_path / "out.json").read_text())
    [plan] = data["plans"]
    assert list(plan) == ["id", "title", "actions"]
    first = plan["actions"][0]
    assert list(first) == [
        "ref",
        "title",
        "text",
        "leads",
        "timescale",
        "milestones",
        "due",
        "status",
        "rag",
        "progress",
    ]
    assert first["leads"] == [
        {"name": "Tracey Anstis", "organisation": "Kent Police"},
        {"name": "Kelly Cogger", "organisation": "Medway Council"},
    ]
    assert first["milestones"][0] == {
        "text": "Improve Framework-I reporting",
        "due": "2018-10-31",
        "lead": "Tracey Anstis",
        "done": False,
    }
    assert first["progress"] == [
        {"date": "2018-09", "text": "Framework-I reporting has been adapted.", "source": "import"},
        {"date": "2018-10-05", "text": "Audits introduced.", "source": "import"},
    ]
    assert (first["due"], first["status"], first["rag"]) == ("2019-07-31", "open", None)


def test_import_refuses_a_bad_file_and_says_where(data_dir: Path, tmp_path: Path):
    invoke("init")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        PLAN.replace("id: test-plan", "id: other").replace("date: 2018-09", "date: Sept 2018")
    )
    code, output = invoke("import", str(bad))
    assert code == 2
    assert "nothing was imported" in output
    line = PLAN.count("\n", 0, PLAN.index("date: 2018-09")) + 1
    assert (
        f"{bad}, line {line}, action 1.1.1: progress[1].date: expected a date like 2018-10 "
        "or 2018-10-05, got 'Sept 2018'"
    ) in output
    code, output = invoke("status", "--json")
    assert {r["plan"] for r in json.loads(output)} == {"test-plan"}


def test_check_data_lists_unlisted_leads_and_variants(data_dir: Path):
    (data_dir / "plans" / "test.yaml").write_text(
        PLAN.replace('leads: ["Tracey Anstis (Kent Police)"]', 'leads: ["Jo Newname (NPS)"]')
    )
    invoke("init")
    code, output = invoke("check-data", "--json")
    assert code == 0
    found = {(f["kind"], f["message"]) for f in json.loads(output)}
    assert ("no-contact", "Jo Newname: no e-mail (leads test-plan 1.1.2)") in found
    assert ("unlisted-lead", "Jo Newname: not in people.yaml (leads test-plan 1.1.2)") in found
    assert (
        "name-variant",
        "'Tracy Anstis, Kent Police' read as Tracey Anstis (test-plan 1.1.1)",
    ) in found
    assert invoke("check-data", "--strict")[0] == 1


def test_check_data_reports_a_plan_file_with_duplicate_refs(data_dir: Path):
    invoke("init")
    (data_dir / "plans" / "test.yaml").write_text(PLAN.replace('ref: "1.1.2"', 'ref: "1.1.1"'))
    code, output = invoke("check-data", "--json")
    files = [f for f in json.loads(output) if f["kind"] == "file"]
    assert len(files) == 1 and "duplicate ref" in files[0]["message"]


def test_bad_as_of_and_bad_settings_are_clear(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    code, output = invoke("status", "--as-of", "31/01/2019")
    assert code == 2 and "--as-of: expected a date like 2019-06-01, got '31/01/2019'" in output
    monkeypatch.setenv("DATABASE_URL", "mysql://x@y/z")
    code, output = invoke("status")
    assert code == 2 and "bad settings" in output and "DATABASE_URL" in output


def test_status_before_init_says_what_to_do(data_dir: Path):
    code, output = invoke("status")
    assert code == 2 and "run `actionbot init`" in output


def test_check_data_flags_unreadable_timescales_but_not_status_markers(data_dir: Path):
    plan = PLAN.replace("timescale: October 2018", "timescale: TBC").replace(
        "timescale: July 2017 - Complete; July 2018; July 2019", "timescale: Complete"
    )
    (data_dir / "plans" / "test.yaml").write_text(plan)
    invoke("init")
    code, output = invoke("check-data", "--json")
    timescales = [(f["ref"], f["message"]) for f in json.loads(output) if f["kind"] == "timescale"]
    assert timescales == [("1.1.1", "cannot read a date in 'TBC'")]
