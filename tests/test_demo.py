"""`actionbot demo`: plans played forward with their later updates held back and replayed.

The small test plan runs on SQLite and PostgreSQL; the real plans run once through the
command itself for a month, and the outbox it leaves is read back as a person would.
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from bot import models as m
from bot.cli import app
from bot.db import make_engine, session
from bot.demo import DemoError, hold_back_progress, play, prepare_outbox, reply_moment, tick_moments
from bot.importing import import_files
from bot.plans.canonical import parse_plan
from bot.rules import load_rules
from bot.settings import load_settings
from tests.conftest import REPO
from tests.test_load import PLAN, write

LONDON = ZoneInfo("Europe/London")
START = date(2018, 9, 1)

# The test plan, with an action the plan has complete by a reply dated in the window.
DEMO_PLAN = (
    PLAN
    + """\
          - ref: "1.1.3"
            text: Publish the MASH leaflet
            leads: ["Kelly Cogger"]
            timescale: August 2018
            status: complete
            progress:
              - date: 2018-09-20
                text: Leaflet published on the MSCB site.
                completed: true
"""
)


def read(path: Path) -> EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[return-value]


def plain_text(msg: EmailMessage) -> str:
    body = msg.get_body(("plain",))
    assert body is not None
    return str(body.get_content())  # type: ignore[attr-defined]


def aware(moment: datetime) -> datetime:
    """SQLite gives stored UTC moments back without their zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


# --- pure parts -------------------------------------------------------------------------------


def test_a_reply_arrives_on_its_day_or_mid_month_or_mid_year():
    assert reply_moment(date(2018, 10, 5), "day", LONDON) == datetime(
        2018, 10, 5, 10, 30, tzinfo=LONDON
    )
    assert reply_moment(date(2018, 9, 1), "month", LONDON).date() == date(2018, 9, 15)
    assert reply_moment(date(2019, 1, 1), "year", LONDON).date() == date(2019, 7, 1)


def test_runs_open_each_day_and_meet_every_digest():
    rules = load_rules(REPO / "rules").rules
    moments = [at for _, at in tick_moments(rules, date(2018, 9, 24), date(2018, 10, 1))]
    local = [f"{at.astimezone(LONDON):%a %d %H:%M}" for at in moments]
    # one run a day when sending hours open (08:00, also the chair's Monday summary), the
    # operational digest at 09:00 on Monday, the strategic one three working days before the
    # board's meeting on the first Wednesday of October
    assert local == [
        "Mon 24 08:00",
        "Mon 24 09:00",
        "Tue 25 08:00",
        "Wed 26 08:00",
        "Thu 27 08:00",
        "Fri 28 08:00",
        "Fri 28 09:00",
        "Sat 29 08:00",
        "Sun 30 08:00",
    ]


def test_the_outbox_folder_is_refused_unless_the_demo_made_it(tmp_path: Path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "letter.eml").write_text("keep me")
    with pytest.raises(DemoError, match="not empty and was not made by `actionbot demo`"):
        prepare_outbox(mine)
    assert (mine / "letter.eml").read_text() == "keep me"

    demo = tmp_path / "demo"
    prepare_outbox(demo)
    (demo / "old.eml").write_text("from the last run")
    prepare_outbox(demo)
    assert list(demo.glob("*.eml")) == []


# --- the small plan, on both databases --------------------------------------------------------


@pytest.fixture
def loaded_db(database_url: str, tmp_path: Path):
    engine = make_engine(database_url)
    import_files(engine, write(tmp_path, DEMO_PLAN), datetime(2018, 9, 1, tzinfo=LONDON))
    return engine


def test_later_entries_are_held_back_and_a_completed_action_reopened(loaded_db):
    with session(loaded_db) as s, s.begin():
        held = hold_back_progress(s, datetime(2018, 9, 1, 8, tzinfo=LONDON), LONDON)
    assert [(r.dated, r.at.date(), r.completes_action) for r in held] == [
        (date(2018, 9, 1), date(2018, 9, 15), False),  # "2018-09": mid-month
        (date(2018, 9, 20), date(2018, 9, 20), True),
        (date(2018, 10, 5), date(2018, 10, 5), False),
    ]
    with session(loaded_db) as s:
        assert s.exec(select(m.ProgressEntry)).all() == []
        statuses = {a.ref: a.status for a in s.exec(select(m.Action))}
        assert statuses["1.1.3"] == "open"
        assert [p.as_of for p in s.exec(select(m.Plan))] == ["2018-09-01"]


def test_play_replays_replies_on_their_dates_and_dates_mail_when_sent(loaded_db, tmp_path):
    loaded = load_rules(REPO / "rules")
    settings = load_settings({"OUTBOX_DIR": str(tmp_path / "unused")}, env_file=None)
    outbox = tmp_path / "outbox"
    days: list[date] = []
    report = play(loaded_db, loaded, settings, START, date(2018, 11, 1), outbox, days.append)

    assert days == [START + timedelta(days=n) for n in range(61)]
    assert (report.held_back, report.replies) == (3, 3)
    with session(loaded_db) as s:
        entries = s.exec(select(m.ProgressEntry).order_by(col(m.ProgressEntry.recorded_at))).all()
        assert [
            (p.source, p.dated, aware(p.recorded_at).astimezone(LONDON).date()) for p in entries
        ] == [
            ("email", date(2018, 9, 1), date(2018, 9, 15)),
            ("email", date(2018, 9, 20), date(2018, 9, 20)),
            ("email", date(2018, 10, 5), date(2018, 10, 5)),
        ]
        assert {a.ref: a.status for a in s.exec(select(m.Action))}["1.1.3"] == "complete"
        runs = {aware(e.at) for e in s.exec(select(m.AuditEvent))}

    files = sorted(outbox.glob("*.eml"))
    assert files, "the demo wrote no mail"
    for path in files:
        msg = read(path)
        sent = parsedate_to_datetime(str(msg["Date"]))
        assert START <= sent.date() < date(2018, 11, 1), path.name
        assert path.name.startswith(f"{sent:%Y%m%d-%H%M%S}-")
    # nothing is sent at a moment no run happened
    assert {parsedate_to_datetime(str(read(p)["Date"])) for p in files} <= runs
    # 1.1.3 was asked about before its completing reply, never after it
    about_113 = [
        parsedate_to_datetime(str(msg["Date"]))
        for msg in map(read, files)
        if msg["X-Actionbot-Kind"] == "reminder" and "Action 1.1.3 " in plain_text(msg)
    ]
    assert about_113 and max(about_113) < datetime(2018, 9, 20, 10, 30, tzinfo=LONDON)


# --- the real plans, through the command ------------------------------------------------------


def later_entries_in(month_start: date, month_end: date) -> int:
    """Counted from the plan files themselves, not from anything the demo stored."""
    count = 0
    for path in sorted((REPO / "data" / "plans").glob("*.yaml")):
        plan = parse_plan(path.read_text(encoding="utf-8"), str(path))
        for _sections, action in plan.iter_actions():
            for p in action.progress:
                at = reply_moment(p.date.first_day(), p.date.precision, LONDON)
                if month_start <= at.date() < month_end and at > datetime(
                    2018, 9, 1, 8, tzinfo=LONDON
                ):
                    count += 1
    return count


def test_the_real_plans_played_through_september_2018(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'never-used.db'}")
    outbox = tmp_path / "outbox"
    result = CliRunner().invoke(
        app, ["demo", "--from", "2018-09-01", "--to", "2018-10-01", "--outbox", str(outbox)]
    )
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "never-used.db").exists()  # your own database is not touched

    by_kind: dict[str, list[EmailMessage]] = {}
    for path in sorted(outbox.glob("*.eml")):
        msg = read(path)
        by_kind.setdefault(str(msg["X-Actionbot-Kind"]), []).append(msg)
    reminded = {a.addr_spec for msg in by_kind["reminder"] for a in msg["To"].addresses}
    assert {"tracey.anstis@example.org", "kelly.cogger@example.org"} <= reminded
    mondays = [date(2018, 9, d) for d in (3, 10, 17, 24)]
    assert [
        parsedate_to_datetime(str(x["Date"])).date() for x in by_kind["operational-digest"]
    ] == mondays
    assert [
        parsedate_to_datetime(str(x["Date"])).date() for x in by_kind["chair-summary"]
    ] == mondays
    assert [
        f"{parsedate_to_datetime(str(x['Date'])):%d %H:%M}" for x in by_kind["strategic-digest"]
    ] == ["28 09:00"]  # three working days before Wednesday 3 October's board
    # the timeline counts what is in the folder, and the replies the plan files hold
    row = re.search(r"^Sep 2018\s+(\d+)\s+(\d+)\s+(\d+)", result.output, re.M)
    assert row, result.output
    replies, reminders, _ = map(int, row.groups())
    assert reminders == len(by_kind["reminder"])
    assert replies == later_entries_in(date(2018, 9, 1), date(2018, 10, 1))
    assert f"{len(list(outbox.glob('*.eml')))} messages are in {outbox}/" in result.output
