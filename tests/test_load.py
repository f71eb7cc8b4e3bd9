"""Storing plans: idempotent re-import, replies kept, failed imports leave the database as it was.

Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlmodel import func, select

from bot import models as m
from bot.db import create_schema, make_engine, session
from bot.importing import import_files
from bot.store import load_plans
from bot.yamlfile import InputFileError
from tests.conftest import NOW

PEOPLE = """\
people:
  - name: Tracey Anstis
    organisation: Kent Police
    email: tracey.anstis@example.org
    variants: [Tracy Anstis]
  - name: Kelly Cogger
    organisation: Medway Council
    email: kelly.cogger@example.org
  - name: Ops Chair
    email: ops.chair@example.org
groups:
  - name: MASH Operational Group
    contact: Ops Chair
    members: [Kelly Cogger, Tracey Anstis]
"""

PLAN = """\
id: test-plan
title: Test plan
as_of: 2018-11
governance:
  operational_group: MASH Operational Group
sections:
  - number: "1"
    kind: objective
    title: Make the front door work
    sections:
      - number: "1.1"
        kind: area
        title: Information sharing
        actions:
          - ref: "1.1.1"
            text: Improve Framework-I reporting and increase audits
            leads: ["Tracy Anstis, Kent Police", "Kelly Cogger (Medway Council)"]
            milestones:
              - text: Improve Framework-I reporting
                timescale: October 2018
                lead: Tracy Anstis
              - text: MARAC Annual Report to PMQA
                timescale: July 2017 - Complete; July 2018; July 2019
            progress:
              - date: 2018-09
                text: Framework-I reporting has been adapted.
                milestone: 1
              - date: 2018-10-05
                text: Audits introduced.
          - ref: "1.1.2"
            text: Review the DAN process
            leads: ["Tracey Anstis (Kent Police)"]
            timescale: November 2018
"""


def write(tmp_path: Path, plan: str = PLAN, people: str = PEOPLE) -> list[Path]:
    (tmp_path / "plans").mkdir(exist_ok=True)
    (tmp_path / "people.yaml").write_text(people)
    (tmp_path / "plans" / "test.yaml").write_text(plan)
    return [tmp_path / "people.yaml", tmp_path / "plans"]


def counts(url: str) -> dict[str, int]:
    engine = make_engine(url)
    with session(engine) as s:
        return {
            t.__name__: s.exec(select(func.count()).select_from(t)).one()
            for t in (
                m.Person,
                m.LeadGroup,
                m.NameVariant,
                m.Action,
                m.ActionLead,
                m.Milestone,
                m.ProgressEntry,
                m.Section,
                m.GovernanceLevel,
                m.GroupMember,
            )
        }


def test_plan_is_stored_with_leads_resolved_to_one_person(database_url: str, tmp_path: Path):
    import_files(make_engine(database_url), write(tmp_path), NOW)
    with session(make_engine(database_url)) as s:
        [plan] = load_plans(s)
    a, b = plan.actions
    assert (a.ref, a.section) == ("1.1.1", "1.1 Information sharing")
    assert [lead.name for lead in a.leads] == ["Tracey Anstis", "Kelly Cogger"]
    assert [lead.written for lead in a.leads] == [
        "Tracy Anstis, Kent Police",
        "Kelly Cogger (Medway Council)",
    ]
    # "Tracy Anstis, Kent Police" and "Tracey Anstis (Kent Police)" are one person
    assert a.leads[0].key == b.leads[0].key == "tracey-anstis"
    assert [(p.date.iso(), p.text) for p in a.progress] == [
        ("2018-09", "Framework-I reporting has been adapted."),
        ("2018-10-05", "Audits introduced."),
    ]
    assert a.progress[0].milestone_position == 1
    assert [g.resolved.name for g in plan.governance if g.resolved] == ["MASH Operational Group"]


def test_a_timescale_with_several_dates_is_one_milestone_per_date(database_url, tmp_path):
    import_files(make_engine(database_url), write(tmp_path), NOW)
    with session(make_engine(database_url)) as s:
        [plan] = load_plans(s)
    a, b = plan.actions
    assert [(ms.position, ms.occurrence, ms.due, ms.done) for ms in a.milestones] == [
        (1, 1, date(2018, 10, 31), False),
        (2, 1, date(2017, 7, 31), True),
        (2, 2, date(2018, 7, 31), False),
        (2, 3, date(2019, 7, 31), False),
    ]
    assert a.milestones[0].lead is not None and a.milestones[0].lead.name == "Tracey Anstis"
    assert a.due == date(2019, 7, 31)
    assert a.next_due == date(2018, 7, 31)  # the earliest deadline not yet met
    # an action with a timescale and no milestones is its own milestone
    assert [(ms.text, ms.due) for ms in b.milestones] == [
        ("Review the DAN process", date(2018, 11, 30))
    ]


def test_reimport_is_idempotent(database_url: str, tmp_path: Path):
    paths = write(tmp_path)
    engine = make_engine(database_url)
    first = import_files(engine, paths, NOW)
    before = counts(database_url)
    with session(engine) as s:
        ids = sorted(a.id for a in s.exec(select(m.Action)))
    second = import_files(engine, paths, NOW + timedelta(days=1))
    assert counts(database_url) == before
    with session(engine) as s:
        assert sorted(a.id for a in s.exec(select(m.Action))) == ids
    assert (first[0].added, first[0].updated) == (2, 0)
    assert (second[0].added, second[0].updated, second[0].progress_added) == (0, 2, 0)


def test_reimport_keeps_replies_and_their_completion(database_url: str, tmp_path: Path):
    paths = write(tmp_path)
    engine = make_engine(database_url)
    import_files(engine, paths, NOW)
    with session(engine) as s, s.begin():
        action = s.exec(select(m.Action).where(m.Action.ref == "1.1.2")).one()
        s.add(
            m.ProgressEntry(
                action_id=action.id,
                dated=date(2019, 1, 14),
                precision="day",
                text="Done: DAN process reviewed.",
                source="email",
                external_id="<abc@example.org>",
                completed=True,
                recorded_at=NOW,
            )
        )
        action.rag, action.rag_set_by = "green", "email"
        s.add(action)
    # the business manager edits the plan file: one imported entry fewer, new text
    edited = PLAN.replace(
        """              - date: 2018-10-05
                text: Audits introduced.
""",
        "",
    ).replace("Review the DAN process", "Review the DAN process with partners")
    report = import_files(engine, write(tmp_path, edited), NOW)[0]
    assert report.progress_removed == 1
    with session(engine) as s:
        [plan] = load_plans(s)
    a, b = plan.actions
    assert [p.text for p in a.progress] == ["Framework-I reporting has been adapted."]
    assert [(p.source, p.text) for p in b.progress] == [("email", "Done: DAN process reviewed.")]
    assert b.text == "Review the DAN process with partners"
    assert (b.status, b.rag, b.rag_set_by) == ("complete", "green", "email")


def test_action_removed_from_the_file_is_withdrawn_not_deleted(database_url, tmp_path):
    engine = make_engine(database_url)
    import_files(engine, write(tmp_path), NOW)
    without = PLAN[: PLAN.index('          - ref: "1.1.2"')]
    report = import_files(engine, write(tmp_path, without), NOW)[0]
    assert report.withdrawn == ["1.1.2"]
    with session(engine) as s:
        [plan] = load_plans(s)
        assert [a.ref for a in plan.actions] == ["1.1.1"]
        [everything] = load_plans(s, include_withdrawn=True)
    assert [(a.ref, a.status) for a in everything.actions][-1] == ("1.1.2", "withdrawn")


def test_failed_import_touches_nothing(database_url: str, tmp_path: Path):
    engine = make_engine(database_url)
    import_files(engine, write(tmp_path), NOW)
    before = counts(database_url)
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        PLAN.replace("id: test-plan", "id: other").replace(
            "text: Review the DAN process", "text: Review the DAN process\n            rag: purple"
        )
    )
    good_change = tmp_path / "changed.yaml"
    good_change.write_text(PLAN.replace("Make the front door work", "Changed"))
    with pytest.raises(InputFileError) as caught:
        import_files(engine, [good_change, bad], NOW)
    [problem] = caught.value.problems
    assert (problem.file, problem.ref, problem.field) == (str(bad), "1.1.2", "rag")
    assert problem.line == PLAN.count("\n", 0, PLAN.index("Review the DAN process")) + 2
    assert counts(database_url) == before
    with session(engine) as s:
        assert s.exec(select(m.Section.title).where(m.Section.number == "1")).one() == (
            "Make the front door work"
        )


def test_unlisted_lead_is_loaded_without_contact(database_url: str, tmp_path: Path):
    engine = make_engine(database_url)
    plan = PLAN.replace(
        'leads: ["Tracey Anstis (Kent Police)"]',
        'leads: ["Jo Newname (NPS)", "Learning Lessons Sub Group"]',
    )
    import_files(engine, write(tmp_path, plan), NOW)
    with session(engine) as s:
        [p] = load_plans(s)
    leads = p.actions[1].leads
    assert [(x.name, x.organisation, x.kind, x.listed, x.email) for x in leads] == [
        ("Jo Newname", "NPS", "person", False, None),
        ("Learning Lessons Sub Group", None, "group", False, None),
    ]


def test_people_file_naming_one_variant_twice_is_refused(tmp_path: Path):
    people = PEOPLE.replace("variants: [Tracy Anstis]", "variants: [Kelly Cogger]")
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(InputFileError) as caught:
        import_files(engine, write(tmp_path, people=people), NOW)
    assert "'Kelly Cogger' names both 'Tracey Anstis' and 'Kelly Cogger'" in str(caught.value)
    assert (caught.value.problems[0].line, caught.value.problems[0].field) == (6, "people[2]")


def test_schema_can_be_created_twice(database_url: str):
    engine = make_engine(database_url)
    create_schema(engine)
    create_schema(engine)
