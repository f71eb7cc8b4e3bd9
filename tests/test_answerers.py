"""Who may answer for an action, and whose address a bounce or an out-of-office reply names:
read from only the rows an action reaches, whatever else the people table holds.

Runs on SQLite and PostgreSQL with a plan whose actions are led by a person with a delegate, a
group (mailbox, contact, members, a member's delegate) and a milestone lead, beside people and
groups that lead nothing here.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlmodel import select

from bot import models as m
from bot.db import make_engine, session
from bot.importing import import_files
from bot.inbound.record import answerers, person_for_email
from tests.test_load import write

LONDON = ZoneInfo("Europe/London")

PEOPLE = """\
people:
  - name: Pat Lead
    email: Pat.Lead@Example.org
    delegates: [Dee Deputy]
  - name: Dee Deputy
    email: dee.deputy@example.org
  - name: Cat Contact
    email: cat.contact@example.org
  - name: Mo Member
    email: mo.member@example.org
    delegates: [Sam Support]
  - name: Sam Support
    email: sam.support@example.org
  - name: Nia Noaddress
  - name: Quinn Milestone
    email: QUINN.MILESTONE@example.org
  - name: Zoë Ünal
    email: ZOË.ÜNAL@example.org
  - name: Una Unrelated
    email: una.unrelated@example.org
    delegates: [Dee Deputy]
groups:
  - name: Safeguarding Sub Group
    email: subgroup@example.org
    contact: Cat Contact
    members: [Mo Member, Nia Noaddress, Pat Lead]
  - name: Other Group
    email: other@example.org
    contact: Una Unrelated
    members: [Una Unrelated]
"""

PLAN = """\
id: answer-plan
title: Answer plan
as_of: 2018-11
sections:
  - number: "1"
    kind: objective
    title: Leads
    actions:
      - ref: "1.1"
        text: Led by a person with a delegate and by a group
        leads: ["Pat Lead", "Safeguarding Sub Group"]
        milestones:
          - text: A milestone of its own lead
            timescale: October 2018
            lead: Quinn Milestone
          - text: A milestone led by a member of the group that leads the action
            timescale: December 2018
            lead: Mo Member
      - ref: "1.2"
        text: Led by the group alone
        leads: ["Safeguarding Sub Group"]
        timescale: November 2018
      - ref: "1.3"
        text: Led by someone with no address, and by Zoë
        leads: ["Nia Noaddress", "Zoë Ünal"]
        timescale: November 2018
"""


@pytest.fixture
def engine(database_url: str, tmp_path: Path):
    engine = make_engine(database_url)
    import_files(engine, write(tmp_path, PLAN, PEOPLE), datetime(2018, 9, 1, 9, 0, tzinfo=LONDON))
    return engine


def _ids(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with session(engine) as s:
        return {a.ref: a.id for a in s.exec(select(m.Action)) if a.id is not None}


def test_each_action_has_its_leads_their_delegates_and_its_groups_people(engine):
    ids = _ids(engine)
    with session(engine) as s:
        found = answerers(s, [ids["1.1"], ids["1.2"], ids["1.3"], ids["1.1"]])
    named = {ref: {a: (w.name, w.as_) for a, w in found[ids[ref]].items()} for ref in ids}
    # the first reason someone may answer is the one kept: the action's leads (and their
    # groups' people) before its milestones' leads
    assert named["1.1"] == {
        "pat.lead@example.org": ("Pat Lead", "lead"),
        "dee.deputy@example.org": ("Dee Deputy", "delegate of Pat Lead"),
        "subgroup@example.org": ("Safeguarding Sub Group", "mailbox of Safeguarding Sub Group"),
        "cat.contact@example.org": ("Cat Contact", "contact of Safeguarding Sub Group"),
        "mo.member@example.org": ("Mo Member", "member of Safeguarding Sub Group"),
        "sam.support@example.org": ("Sam Support", "delegate of Mo Member"),
        "quinn.milestone@example.org": ("Quinn Milestone", "milestone lead"),
    }
    assert named["1.2"] == {
        "subgroup@example.org": ("Safeguarding Sub Group", "mailbox of Safeguarding Sub Group"),
        "cat.contact@example.org": ("Cat Contact", "contact of Safeguarding Sub Group"),
        "mo.member@example.org": ("Mo Member", "member of Safeguarding Sub Group"),
        "sam.support@example.org": ("Sam Support", "delegate of Mo Member"),
        "pat.lead@example.org": ("Pat Lead", "member of Safeguarding Sub Group"),
        "dee.deputy@example.org": ("Dee Deputy", "delegate of Pat Lead"),
    }
    assert named["1.3"] == {"zoë.ünal@example.org": ("Zoë Ünal", "lead")}
    with session(engine) as s:
        people = {p.name: p.id for p in s.exec(select(m.Person))}
    mailbox = found[ids["1.1"]]["subgroup@example.org"]
    assert mailbox.person_id is None
    assert found[ids["1.1"]]["sam.support@example.org"].person_id == people["Sam Support"]
    with session(engine) as s:
        assert answerers(s, []) == {}
        assert answerers(s, [999_999]) == {999_999: {}}


def test_a_person_is_found_by_address_whatever_its_case(engine):
    with session(engine) as s:
        for address, name in [
            ("pat.lead@example.org", "Pat Lead"),
            (" PAT.LEAD@EXAMPLE.ORG ", "Pat Lead"),
            ("quinn.milestone@example.org", "Quinn Milestone"),
            ("zoë.ünal@example.org", "Zoë Ünal"),  # beyond ASCII, which SQLite's lower() keeps
            ("ZOË.ÜNAL@EXAMPLE.ORG", "Zoë Ünal"),
        ]:
            person = person_for_email(s, address)
            assert person is not None and person.name == name, address
        assert person_for_email(s, "subgroup@example.org") is None  # a group's, not a person's
        assert person_for_email(s, "nobody@example.org") is None
        assert person_for_email(s, "") is None


def test_the_address_lookup_reads_the_index_on_sqlite(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    import_files(engine, write(tmp_path, PLAN, PEOPLE), datetime(2018, 9, 1, 9, 0, tzinfo=LONDON))
    with engine.connect() as conn:
        plan = conn.execute(
            text("EXPLAIN QUERY PLAN SELECT id FROM person WHERE lower(email) = :a"),
            {"a": "pat.lead@example.org"},
        ).all()
    assert any("ix_person_email_lower" in str(row) for row in plan), plan
