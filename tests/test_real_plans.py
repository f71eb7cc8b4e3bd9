"""Both real plans, as committed in data/, loaded into a real database and read back out.

This is the issue's "done when": every action of both plans in status and export, one person
per real person whatever the spelling, every dated timescale a milestone, every dated progress
paragraph its own entry. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from bot import models as m
from bot.db import make_engine, session
from bot.export_json import export_plans
from bot.importing import import_files
from bot.plans.canonical import load_plan_file
from bot.plans.timescale import parse_timescale
from bot.quality import check_plans
from bot.status import status_rows
from bot.store import load_plans
from tests.conftest import DATA, NOW

JTAI_REFS = ["PA.1", "PA.2", "PA.3"] + [str(i) for i in range(1, 26)]
MSCB_REFS = (
    "1.1.1 1.1.2 1.2.1 1.3.1 1.3.2 2.1.1 2.2.1 2.3.1 2.3.2 2.3.3 3.1.1 3.1.2 3.1.3 4.1.1 4.2.1 "
    "4.2.2 4.2.3 4.3.1 5.1.1 5.2.1 5.2.2 5.3.1 6.1.1 6.2.1 6.3.1 6.3.2 6.4.1 6.5.1 6.5.2 6.5.3 "
    "6.6.1 7.1 7.2 7.3 7.4 7.5 7.6"
).split()
FILES = {
    "jtai-2018": DATA / "plans" / "jtai-2018.yaml",
    "mscb-2017-20": DATA / "plans" / "mscb-2017-20.yaml",
}


@pytest.fixture
def loaded(database_url: str):
    engine = make_engine(database_url)
    import_files(engine, [DATA / "people.yaml", DATA / "plans"], NOW)
    with session(engine) as s:
        plans = {p.id: p for p in load_plans(s)}
        contacts = {p.name: bool(p.email) for p in s.exec(select(m.Person))}
    return engine, plans, contacts


def test_every_action_of_both_plans_is_in_status_and_export(loaded):
    _engine, plans, _ = loaded
    assert sorted(plans) == ["jtai-2018", "mscb-2017-20"]
    exported = {p["id"]: p for p in export_plans(list(plans.values()))["plans"]}
    assert [a["ref"] for a in exported["jtai-2018"]["actions"]] == JTAI_REFS
    assert [a["ref"] for a in exported["mscb-2017-20"]["actions"]] == MSCB_REFS
    rows = status_rows(list(plans.values()), date(2019, 6, 3))
    assert [r.ref for r in rows] == JTAI_REFS + MSCB_REFS


def test_one_person_per_real_person_and_everyone_reachable(loaded):
    _engine, plans, contacts = loaded
    leads = {x.name: x for p in plans.values() for a in p.actions for x in a.leads}
    assert "Tracy Anstis" not in leads and "Tracey Anstis" in leads
    written = {
        x.written
        for p in plans.values()
        for a in p.actions
        for x in a.leads
        if x.name == "Tracey Anstis"
    }
    assert written == {"Tracey Anstis (Kent Police)", "Tracy Anstis (Kent Police)"}
    findings = check_plans(list(plans.values()), contacts)
    kinds = {f.kind for f in findings}
    assert "unlisted-lead" not in kinds, [f.message for f in findings if f.kind == "unlisted-lead"]
    assert "no-contact" not in kinds, [f.message for f in findings if f.kind == "no-contact"]
    assert "governance" not in kinds
    # the one action the source gives no lead is reported, not hidden
    assert [(f.plan, f.ref) for f in findings if f.kind == "no-lead"] == [("mscb-2017-20", "6.2.1")]


@pytest.mark.parametrize("plan_id", sorted(FILES))
def test_every_dated_timescale_is_a_milestone_and_every_entry_is_kept(loaded, plan_id):
    _engine, plans, _ = loaded
    source = load_plan_file(FILES[plan_id])
    stored = {a.ref: a for a in plans[plan_id].actions}
    for _path, action in source.iter_actions():
        got = stored[action.ref]
        for i, ms in enumerate(action.milestones, start=1):
            rows = [x for x in got.milestones if x.position == i]
            assert rows and rows[0].text == ms.text, (action.ref, i)
            ts = parse_timescale(ms.timescale) if ms.timescale else None
            if ts and ts.occurrences:
                assert len(rows) == len(ts.occurrences), (action.ref, i, ms.timescale)
                assert all(r.due is not None for r in rows), (action.ref, i)
        expected = sorted((p.date.iso(), p.text) for p in action.progress)
        assert sorted((p.date.iso(), p.text) for p in got.progress) == expected, action.ref
        assert [x.written for x in got.leads] == action.leads


def test_reimporting_the_real_plans_changes_nothing(database_url: str, loaded):
    engine, plans, _ = loaded
    with session(engine) as s:
        before = (
            len(s.exec(select(m.ProgressEntry)).all()),
            len(s.exec(select(m.Milestone)).all()),
        )
    reports = import_files(engine, [DATA / "people.yaml", DATA / "plans"], NOW)
    assert all(r.added == 0 and r.progress_added == 0 and not r.withdrawn for r in reports)
    with session(engine) as s:
        after = (len(s.exec(select(m.ProgressEntry)).all()), len(s.exec(select(m.Milestone)).all()))
    assert after == before
