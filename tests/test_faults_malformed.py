"""Faults: a plan file, the rules file and an inbound e-mail, each malformed in many ways.

Hypothesis mutates real inputs (the plans in data/plans/, the small test plan, the rules in
rules/escalation.yaml, the mail corpus in tests/mail/) by deleting and repeating lines,
swapping characters, putting a value of the wrong type or a bad date where a value was. Each
result is either taken in as it is, or refused with the project's InputFileError naming the
file and the line; never another exception. A refused import leaves every stored row as it
was; an inbound message never raises out of `ingest_email`, and one that is not a genuine
reply changes no action. Runs are bounded (tens of examples each) to keep the suite quick.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel, col, select

from bot import models as m
from bot.chasing import tick
from bot.db import make_engine, session
from bot.delivery import Transports
from bot.engine import State, decide
from bot.importing import import_files, read_files
from bot.inbound.email_replies import ingest_email
from bot.notify.email import MemoryTransport
from bot.plans.canonical import parse_plan
from bot.rules import LoadedRules, load_rules, parse_rules
from bot.settings import load_settings
from bot.yamlfile import InputFileError
from tests.conftest import DATA, REPO
from tests.test_engine import action, at
from tests.test_load import PLAN

MAIL = Path(__file__).parent / "mail"
RULES_TEXT = (REPO / "rules" / "escalation.yaml").read_text()
MONDAY = at(date(2018, 11, 26), 10)
FEW = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- mutating text ---------------------------------------------------------------------------

# Values of the wrong type or shape, and dates that are no dates, put where a value was.
WRONG = [
    "",
    "[]",
    "{}",
    "-1",
    "0",
    "99999999999999999999",
    "3.5",
    "yes",
    "null",
    '""',
    "[1, 2]",
    "{a: b}",
    "- item",
    "2018-13",
    "2018-02-30",
    "0000-00-00",
    "31/02/2019",
    "9999-99",
    "25:61",
    "not a date",
    "!!binary aGk=",
    "!!python/object:os.system x",
    "&anchor",
    "*nowhere",
    "'unterminated",
    '"unterminated',
    "{",
    "]",
    "|",
    "%",
    "@",
    "`",
    "\t",
    "x" * 300,
    "9999999999 days",
    "99999 weeks",
    "0 days",
    "5 working weeks",
]
BAD_DATES = ["2018-00", "2018-13", "2018-02-30", "18-10-05", "2018/10/05", "0000-01", "2018-1-1"]
_VALUE = re.compile(r"^(?P<head>\s*(?:- )?[A-Za-z_]+:)[ \t]*(?P<value>\S.*)?$")
_DATE = re.compile(r"\b\d{4}-\d{2}(?:-\d{2})?\b")


def mutate(data: st.DataObject, original: str) -> str:
    """One to three edits of the kinds a hand-edited file goes wrong in."""
    lines = original.splitlines(keepends=True)
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        if not lines:
            break
        i = data.draw(st.integers(0, len(lines) - 1), label="line")
        edit = data.draw(
            st.sampled_from(
                ["delete", "repeat", "swap", "wrong", "date", "indent", "dedent", "char"]
            ),
            label="edit",
        )
        line = lines[i]
        if edit == "delete":
            del lines[i]
        elif edit == "repeat":
            lines.insert(i, line)
        elif edit == "swap" and len(line) > 2:
            j = data.draw(st.integers(0, len(line) - 3), label="at")
            lines[i] = line[:j] + line[j + 1] + line[j] + line[j + 2 :]
        elif edit == "wrong" and (found := _VALUE.match(line.rstrip("\n"))):
            lines[i] = f"{found['head']} {data.draw(st.sampled_from(WRONG), label='value')}\n"
        elif edit == "date" and (dates := _DATE.findall(line)):
            bad = data.draw(st.sampled_from(BAD_DATES), label="date")
            lines[i] = line.replace(data.draw(st.sampled_from(dates), label="which"), bad, 1)
        elif edit == "indent":
            lines[i] = "  " + line
        elif edit == "dedent":
            lines[i] = line[2:] if line.startswith("  ") else line.lstrip()
        elif edit == "char":
            j = data.draw(st.integers(0, len(line)), label="at")
            c = data.draw(st.sampled_from([":", "-", "#", "'", '"', "[", "{", "\t", "\x00"]))
            lines[i] = line[:j] + c + line[j:]
    return "".join(lines)


def excerpt(path: Path, actions: int) -> str:
    """A real plan cut after its first few actions, where the cut leaves a valid plan: still
    the plan's own text, small enough that parsing it a few dozen times stays quick."""
    lines = path.read_text().splitlines(keepends=True)
    items = [i for i, line in enumerate(lines) if re.match(r"^\s*- (ref|number):", line)]
    for end in items[actions:]:
        text = "".join(lines[:end])
        try:
            parse_plan(text, str(path))
        except InputFileError:
            continue  # the cut left a list empty (`actions:` with nothing after it)
        return text
    return "".join(lines)


PLANS = {
    "test plan": PLAN,
    "jtai-2018 (first actions)": excerpt(DATA / "plans" / "jtai-2018.yaml", 4),
    "mscb-2017-20 (first actions)": excerpt(DATA / "plans" / "mscb-2017-20.yaml", 4),
}


def check_refusal(exc: InputFileError, path: Path, text: str) -> None:
    """Clear: every problem names the file and a line in it, and says something."""
    assert exc.problems, exc
    assert str(path) in str(exc)
    for problem in exc.problems:
        assert problem.file == str(path), problem
        assert problem.line is not None and 1 <= problem.line <= text.count("\n") + 2, problem
        assert problem.message.strip(), problem


def dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row of every table, in key order."""
    out = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            keys = ", ".join(c.name for c in table.primary_key.columns) or "1"
            rows = conn.execute(text(f'SELECT * FROM "{table.name}" ORDER BY {keys}'))
            out[table.name] = [tuple(r) for r in rows]
    return out


# --- plans -----------------------------------------------------------------------------------


@pytest.fixture
def stored(database_url: str, tmp_path: Path) -> Engine:
    """A database holding the people and the test plan already."""
    engine = make_engine(database_url)
    (tmp_path / "plans").mkdir()
    (tmp_path / "plans" / "test.yaml").write_text(PLAN)
    import_files(engine, [DATA / "people.yaml", tmp_path / "plans"], MONDAY)
    return engine


@FEW
@given(data=st.data())
def test_a_malformed_plan_is_refused_clearly_and_stores_nothing(
    stored: Engine, tmp_path: Path, data: st.DataObject
):
    name = data.draw(st.sampled_from(sorted(PLANS)), label="plan")
    changed = mutate(data, PLANS[name])
    path = tmp_path / "plans" / "edited.yaml"
    path.write_text(changed, encoding="utf-8")
    before = dump(stored)
    try:
        import_files(stored, [path], MONDAY)  # its leads are found among the people stored
    except InputFileError as exc:
        check_refusal(exc, path, changed)
        assert dump(stored) == before


def test_a_refused_import_of_several_files_stores_none_of_them(stored: Engine, tmp_path: Path):
    """A good file beside a bad one: neither is stored, the good one's changes included."""
    good = tmp_path / "good.yaml"
    good.write_text(PLAN.replace("Review the DAN process", "Review the DAN process again"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        PLAN.replace("id: test-plan", "id: other-plan").replace("as_of: 2018-11", "as_of: 2018-13")
    )
    before = dump(stored)
    with pytest.raises(InputFileError) as caught:
        import_files(stored, [DATA / "people.yaml", good, bad], MONDAY)
    check_refusal(caught.value, bad, bad.read_text())
    assert dump(stored) == before


# Found by the test above: each raised something other than InputFileError (ValueError from
# YAML itself, for a date with no such day), or named no line.
FOUND_IN_PLANS = [
    ("date: 2018-10-05", "date: 2018-02-30", 28),
    ("as_of: 2018-11", "as_of: 2018-11-31", 3),
    ("date: 2018-10-05", "date: 2018-10-05\x00", 28),  # a character YAML refuses
]


@pytest.mark.parametrize(("was", "now", "line"), FOUND_IN_PLANS, ids=repr)
def test_plans_that_used_to_fail_unclearly_are_refused_clearly(
    tmp_path: Path, was: str, now: str, line: int
):
    assert was in PLAN
    path = tmp_path / "test.yaml"
    path.write_text(PLAN.replace(was, now), encoding="utf-8")
    with pytest.raises(InputFileError) as caught:
        read_files([path])  # as `actionbot import` does, before it opens the database
    check_refusal(caught.value, path, path.read_text())
    assert [p.line for p in caught.value.problems] == [line]


# --- rules -----------------------------------------------------------------------------------


def usable(loaded: LoadedRules) -> None:
    """Rules that load must be able to drive a run: checked at load time, not mid-run."""
    rules = loaded.rules
    state = State(
        (action(1, due=date(2018, 10, 19)), action(2, due=None, quiet_since=date(2018, 6, 1))),
        {},
    )
    for day in (date(2018, 10, 15), date(2018, 10, 19), date(2018, 12, 25)):
        decide(state, rules, at(day, 10))
    calendar = rules.working_calendar()
    calendar.next_sending_time(at(date(2018, 10, 20), 12))


@settings(FEW, max_examples=100)
@given(data=st.data())
def test_a_malformed_rules_file_is_refused_clearly_or_works(tmp_path: Path, data: st.DataObject):
    changed = mutate(data, RULES_TEXT)
    path = tmp_path / "escalation.yaml"
    path.write_text(changed, encoding="utf-8")
    try:
        loaded = load_rules(path)
    except InputFileError as exc:
        check_refusal(exc, path, changed)
    else:
        usable(loaded)


# Found by these tests: each loaded, then failed in the middle of a run (or at load with an
# error other than InputFileError).
FOUND = [
    ("working_days: [mon, tue, wed, thu, fri]", "working_days: []", 19),  # no date sums
    ('start: "08:00"', "start: 99999999999999999999", 25),  # OverflowError
    ('start: "08:00"', "start: 2018-13", 25),  # read as 20:18 at UTC-13: TypeError
    ('end: "18:00"', "end: yes", 26),  # read as 00:01
    ("quiet_after: 6 weeks", "quiet_after: 9999999999 days", 32),  # OverflowError mid-run
    ("closures: []", "closures: [2018-02-30]", 21),  # ValueError from YAML itself
]


@pytest.mark.parametrize(("was", "now", "line"), FOUND, ids=[f[1] for f in FOUND])
def test_rules_that_used_to_fail_mid_run_are_refused_when_loaded(was: str, now: str, line: int):
    assert was in RULES_TEXT
    changed = RULES_TEXT.replace(was, now)
    with pytest.raises(InputFileError) as caught:
        parse_rules(changed, "rules/escalation.yaml")
    check_refusal(caught.value, Path("rules/escalation.yaml"), changed)
    [problem] = caught.value.problems
    assert problem.line == line, problem


# --- inbound e-mail --------------------------------------------------------------------------


@pytest.fixture
def chased(database_url: str, tmp_path: Path) -> Iterator[tuple]:
    """The test plan loaded and a chase run: Kelly's reminder is out, waiting for her reply."""
    from tests.test_load import PEOPLE, write

    engine = make_engine(database_url)
    import_files(engine, write(tmp_path, PLAN, PEOPLE), MONDAY - timedelta(days=60))
    conf = load_settings(
        {
            "REPLY_SECRET": "s3cret-for-the-tests-0123456789",
            "OUTBOX_DIR": str(tmp_path / "outbox"),
            "MAIL_FROM": "actionbot@medway.example.org",
        },
        env_file=None,
    )
    rules = load_rules(REPO / "rules")
    memory = MemoryTransport()
    tick(engine, rules, conf, MONDAY, Transports(email=memory))
    [kelly] = [msg for msg in memory.sent if "kelly" in str(msg["To"])]
    yield engine, rules, conf, kelly


# every message of the corpus but the one that is garbage already (it has no headers left to
# address; it is fed in as it is, and mutated, below)
CORPUS = sorted(p.name for p in MAIL.glob("*.eml") if p.name != "garbage.eml")


def reply(name: str, reminder: EmailMessage, message_id: str) -> bytes:
    """A corpus message sent by Kelly in answer to her reminder, with its own Message-ID."""
    from tests.test_mail_in import KELLY, addressed

    msg = email.message_from_bytes(addressed(name, reminder, KELLY), policy=email.policy.compat32)
    del msg["Message-ID"]
    msg["Message-ID"] = message_id
    return msg.as_bytes()


def mutate_bytes(data: st.DataObject, raw: bytes) -> bytes:
    out = bytearray(raw)
    for _ in range(data.draw(st.integers(0, 6), label="edits")):
        at_ = data.draw(st.integers(0, len(out)), label="at")
        edit = data.draw(st.sampled_from(["flip", "cut", "insert", "truncate", "repeat"]))
        if edit == "flip" and at_ < len(out):
            out[at_] = data.draw(st.integers(0, 255), label="byte")
        elif edit == "cut":
            del out[at_ : at_ + data.draw(st.integers(1, 200), label="length")]
        elif edit == "insert":
            out[at_:at_] = data.draw(
                st.sampled_from(
                    [b"\r\n", b"\n\n", b"--", b"=?utf-8?B?", b"?=", b"<", b":", b"\x00", b"\xff"]
                )
                | st.binary(max_size=20),
                label="piece",
            )
        elif edit == "truncate":
            del out[at_:]
        elif edit == "repeat":
            out[at_:at_] = out[max(0, at_ - 50) : at_] * 3
    return bytes(out)


def actions_and_progress(engine: Engine) -> tuple[list, list]:
    with session(engine) as s:
        actions = [
            (a.id, a.status, a.rag, a.due, a.title)
            for a in s.exec(select(m.Action).order_by(col(m.Action.id)))
        ]
        progress = [
            (p.id, p.action_id, p.text)
            for p in s.exec(select(m.ProgressEntry).order_by(col(m.ProgressEntry.id)))
        ]
    return actions, progress


def inbound_count(engine: Engine) -> int:
    with session(engine) as s:
        return len(s.exec(select(m.InboundMessage.id)).all())


@FEW
@given(data=st.data())
def test_a_malformed_reply_never_raises_and_only_a_genuine_one_is_recorded(
    chased: tuple, data: st.DataObject
):
    engine, rules, conf, kelly = chased
    name = data.draw(st.sampled_from(CORPUS), label="message")
    serial = data.draw(st.integers(0, 10**9), label="serial")
    raw = mutate_bytes(data, reply(name, kelly, f"<fuzz-{serial}@mail.example.org>"))
    actions, progress = actions_and_progress(engine)
    logged = inbound_count(engine)

    result = ingest_email(engine, raw, conf, rules, MONDAY + timedelta(hours=3))

    after_actions, after_progress = actions_and_progress(engine)
    if result.outcome == "duplicate":
        assert inbound_count(engine) == logged
    else:
        assert inbound_count(engine) == logged + 1  # every message is logged, once
    if result.outcome == "recorded":
        assert len(after_progress) == len(progress) + len(result.refs)
    else:
        assert (after_actions, after_progress) == (actions, progress)


@FEW
@given(data=st.data())
def test_garbage_in_changes_no_action(chased: tuple, data: st.DataObject):
    engine, rules, conf, _kelly = chased
    garbage = (MAIL / "garbage.eml").read_bytes()
    if data.draw(st.booleans(), label="random bytes"):
        raw = data.draw(st.binary(max_size=3000), label="raw")
    else:
        raw = mutate_bytes(data, garbage)
    before = actions_and_progress(engine)
    result = ingest_email(engine, raw, conf, rules, MONDAY + timedelta(hours=3))
    assert result.outcome != "recorded"
    assert actions_and_progress(engine) == before
