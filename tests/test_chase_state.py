"""The engine's input read back from the database: chase state derived from the audit trail.

Runs on SQLite and PostgreSQL, with a plan loaded the way `actionbot import` loads it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from bot import models as m
from bot.chase_state import load_state
from bot.cli import app
from bot.db import make_engine, session
from bot.importing import import_files
from bot.rules import Level
from tests.conftest import NOW
from tests.test_load import PEOPLE, PLAN, write

T0 = datetime(2018, 10, 1, 9, tzinfo=UTC)


def events(url: str, *rows: m.AuditEvent) -> None:
    with session(make_engine(url)) as s, s.begin():
        for row in rows:
            s.add(row)


def action_id(url: str, ref: str) -> int:
    with session(make_engine(url)) as s:
        found = s.exec(select(m.Action.id).where(m.Action.ref == ref)).one()
        assert found is not None
        return found


def progress(url: str, ref: str, recorded_at: datetime, text: str = "update") -> None:
    with session(make_engine(url)) as s, s.begin():
        s.add(
            m.ProgressEntry(
                action_id=action_id(url, ref),
                dated=recorded_at.date(),
                precision="day",
                text=text,
                source="email",
                external_id=f"<{text}-{recorded_at.isoformat()}>",
                recorded_at=recorded_at,
            )
        )


@pytest.fixture
def loaded(database_url: str, tmp_path: Path) -> str:
    plan = PLAN.replace(
        'leads: ["Tracey Anstis (Kent Police)"]', 'leads: ["MASH Operational Group"]'
    )
    import_files(make_engine(database_url), write(tmp_path, plan), NOW - timedelta(days=365))
    return database_url


def state(url: str):
    with session(make_engine(url)) as s:
        return {a.ref: a for a in load_state(s).actions}


def test_a_fresh_plan_is_at_its_leads_with_nothing_sent(loaded: str):
    a = state(loaded)["1.1.1"]
    assert a.chase.level is Level.LEAD and a.chase.reminders_unanswered == 0
    assert [lead.key for lead in a.leads] == ["tracey-anstis", "kelly-cogger"]
    assert a.last_progress == date(2018, 10, 5)
    assert [(d.due, d.done) for d in a.deadlines][:2] == [
        (date(2018, 10, 31), False),
        (date(2017, 7, 31), True),
    ]


def test_a_group_lead_is_reached_through_its_contact(loaded: str):
    b = state(loaded)["1.1.2"]
    assert [(lead.key, lead.name) for lead in b.leads] == [("ops-chair", "Ops Chair")]
    # no progress at all: quiet since the plan's own date (2018-11)
    assert (b.last_progress, b.quiet_since) == (None, date(2018, 11, 30))


def test_reminders_count_only_since_the_last_progress(loaded: str):
    aid = action_id(loaded, "1.1.1")
    events(
        loaded,
        m.AuditEvent(at=T0, kind="reminded", action_id=aid, person_key="tracey-anstis"),
        m.AuditEvent(at=T0, kind="reminded", action_id=aid, person_key="kelly-cogger"),
        m.AuditEvent(
            at=T0 + timedelta(days=7), kind="reminded", action_id=aid, person_key="tracey-anstis"
        ),
    )
    chase = state(loaded)["1.1.1"].chase
    # two runs (the first reached two leads), none answered
    assert (chase.reminders_unanswered, chase.last_reminded_at) == (2, T0 + timedelta(days=7))
    progress(loaded, "1.1.1", T0 + timedelta(days=3))
    assert state(loaded)["1.1.1"].chase.reminders_unanswered == 1


def test_level_snooze_and_progress_since_the_level(loaded: str):
    aid = action_id(loaded, "1.1.1")
    events(
        loaded,
        m.AuditEvent(at=T0, kind="escalated", action_id=aid, level="operational_group"),
        m.AuditEvent(
            at=T0 + timedelta(days=1), kind="snoozed", action_id=aid, until=date(2018, 11, 1)
        ),
    )
    chase = state(loaded)["1.1.1"].chase
    assert (chase.level, chase.level_since, chase.snoozed_until, chase.progress_since_level) == (
        Level.OPERATIONAL_GROUP,
        T0,
        date(2018, 11, 1),
        False,
    )
    progress(loaded, "1.1.1", T0 + timedelta(days=2))
    assert state(loaded)["1.1.1"].chase.progress_since_level is True
    events(
        loaded, m.AuditEvent(at=T0 + timedelta(days=3), kind="reset", action_id=aid, level="lead")
    )
    chase = state(loaded)["1.1.1"].chase
    assert (chase.level, chase.progress_since_level) == (Level.LEAD, False)


def test_digests_last_sent(loaded: str):
    events(
        loaded,
        m.AuditEvent(at=T0, kind="digest", detail="chair"),
        m.AuditEvent(at=T0 + timedelta(days=7), kind="digest", detail="chair"),
        m.AuditEvent(at=T0, kind="digest", detail="operational"),
    )
    with session(make_engine(loaded)) as s:
        assert load_state(s).digests_last_sent == {
            "chair": T0 + timedelta(days=7),
            "operational": T0,
        }


# --- the commands -------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def cli_data(env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = tmp_path / "data"
    (data / "plans").mkdir(parents=True)
    (data / "people.yaml").write_text(PEOPLE)
    (data / "plans" / "test.yaml").write_text(PLAN)
    monkeypatch.setenv("ACTIONBOT_DATA_DIR", str(data))
    from tests.conftest import REPO

    monkeypatch.setenv("ACTIONBOT_RULES", str(REPO / "rules"))
    return data


def test_tick_dry_run_says_who_would_be_chased(cli_data: Path):
    assert runner.invoke(app, ["init"]).exit_code == 0
    result = runner.invoke(app, ["tick", "--as-of", "2018-11-26T10:00", "--dry-run"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("As at Mon 26 Nov 2018 10:00 GMT under rules ")
    assert "  remind Kelly Cogger about 1 action(s):" in lines
    # the earliest deadline not met is the July 2018 MARAC report; progress came after it
    # was first asked for (5 Oct), but 52 days ago: quiet
    assert (
        "    test-plan 1.1.1 — Improve Framework-I reporting and increase audits "
        "(quiet, due 31 Jul 2018, 118 days overdue)"
    ) in lines
    assert "    test-plan 1.1.2 — Review the DAN process (due-soon, due 30 Nov 2018)" in lines
    assert "  send the operational digest (due Mon 26 Nov 09:00)" in lines
    # nothing was stored
    with session(make_engine(f"sqlite:///{cli_data / 'actionbot.db'}")) as s:
        assert s.exec(select(m.AuditEvent)).all() == []


def test_a_snooze_stops_the_chase_until_the_day_after_and_is_in_the_history(cli_data: Path):
    assert runner.invoke(app, ["init"]).exit_code == 0
    snoozed = runner.invoke(
        app,
        [
            "snooze",
            "1.1.1",
            "--until",
            "2018-12-03",
            "--by",
            "MASH Operational Group",
            "--reason",
            "waiting for the new audit tool",
            "--as-of",
            "2018-11-23T14:00",
        ],
    )
    assert snoozed.exit_code == 0, snoozed.output
    assert "test-plan 1.1.1: not chased until after 03 Dec 2018" in snoozed.output

    def reminded(moment: str) -> list[str]:
        result = runner.invoke(app, ["tick", "--as-of", moment, "--dry-run"])
        assert result.exit_code == 0, result.output
        return [line.split()[1] for line in result.output.splitlines() if line.startswith("    ")]

    assert reminded("2018-11-26T10:00") == ["1.1.2"]  # 1.1.1 waits; 1.1.2 is still asked for
    assert "1.1.1" in reminded("2018-12-04T10:00")
    history = runner.invoke(app, ["history", "1.1.1"]).output
    assert (
        "snoozed until 03 Dec 2018; agreed by MASH Operational Group: "
        "waiting for the new audit tool"
    ) in " ".join(history.split())

    no_one = runner.invoke(app, ["snooze", "1.1.1", "--until", "2018-12-03", "--by", " "])
    assert no_one.exit_code == 2 and "say who agreed the snooze" in no_one.output
    bad = runner.invoke(app, ["snooze", "1.1.1", "--until", "soon", "--by", "Ops"])
    assert bad.exit_code == 2 and "--until: expected a date like 2018-09-01" in bad.output


def test_tick_sends_to_the_outbox_folder_and_digest_previews(
    cli_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("OUTBOX_DIR", str(tmp_path / "outbox"))
    runner.invoke(app, ["init"])
    result = runner.invoke(app, ["tick", "--as-of", "2018-11-26T10:00"])
    assert result.exit_code == 0, result.output
    assert "queued 3 message(s); sent 3, failed 0, retrying later 0" in result.output
    assert f"e-mail is written to {tmp_path / 'outbox'}" in result.output
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 3
    preview = runner.invoke(
        app, ["digest", "operational", "--as-of", "2018-11-27T09:00", "--preview"]
    )
    assert preview.exit_code == 0, preview.output
    assert "MASH Operational Group" in preview.output
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 3  # a preview sends nothing


def test_rules_check_reports_problems_with_their_lines(cli_data: Path, tmp_path: Path):
    good = runner.invoke(app, ["rules", "check"])
    assert good.exit_code == 0 and "escalation.yaml: OK" in good.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "reminders:\n  repeat_every: [7 days, weekly-ish]\nescalation:\n  chair:\n    when: {}\n"
    )
    result = runner.invoke(app, ["rules", "check", str(bad)])
    assert result.exit_code == 2
    assert (
        f"{bad}, line 2: reminders.repeat_every[2]: expected a duration like '7 days', "
        "'2 weeks' or '5 working days', got 'weekly-ish'"
    ) in result.output
    assert f"{bad}, line 5: escalation.chair.when: give at least one of" in result.output
    missing = runner.invoke(app, ["rules", "check", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "no rules file or folder here" in missing.output
    assert "set ACTIONBOT_RULES" in " ".join(missing.output.split())


def test_history_shows_progress_reminders_escalations_and_sends_in_order(cli_data: Path):
    runner.invoke(app, ["init"])
    url = f"sqlite:///{cli_data / 'actionbot.db'}"
    aid = action_id(url, "1.1.1")
    with session(make_engine(url)) as s, s.begin():
        box = m.Outbox(
            key="reminder/kelly-cogger/x",
            kind="reminder",
            channel="email",
            recipient_key="kelly-cogger",
            recipient="kelly.cogger@example.org",
            subject="s",
            payload="p",
            created_at=T0,
        )
        s.add(box)
        s.flush()
        s.add(
            m.AuditEvent(
                at=T0,
                kind="reminded",
                action_id=aid,
                person_key="kelly-cogger",
                outbox_id=box.id,
                detail="overdue",
                rules_version="abc",
            )
        )
        s.add(
            m.AuditEvent(
                at=T0 + timedelta(minutes=1),
                kind="sent",
                outbox_id=box.id,
                person_key="kelly-cogger",
                detail="reminder by email",
            )
        )
        s.add(
            m.AuditEvent(
                at=T0 + timedelta(days=20),
                kind="escalated",
                action_id=aid,
                level="operational_group",
                detail="15 days overdue",
            )
        )
    result = runner.invoke(app, ["history", "1.1.1"])
    assert result.exit_code == 0, result.output
    lines = [" ".join(line.split()) for line in result.output.splitlines()]
    assert lines == [
        "test-plan 1.1.1 — Improve Framework-I reporting and increase audits (open)",
        "2018-09 progress [import] Framework-I reporting has been adapted.",
        "2018-10-01 09:00 reminded kelly-cogger; overdue; rules abc",
        "2018-10-01 09:01 sent kelly-cogger; reminder by email",
        "2018-10-05 progress [import] Audits introduced.",
        "2018-10-21 09:00 escalated now at operational group; 15 days overdue",
    ]
    assert runner.invoke(app, ["history", "9.9"]).exit_code == 2
