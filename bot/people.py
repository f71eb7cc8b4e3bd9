"""People and groups (`data/people.yaml`), and resolving the names plans write to one of them.

Plans spell leads as they please: "Tracy Anstis, Kent Police", "Tracey Anstis (Kent Police)",
"Learning & Development Sub Group". Chasing needs one person per real person, so every written
form is normalised and looked up among the variants people.yaml lists. A lead nobody listed is
still loaded (as an "unlisted" person or group without contact details) so the plan is never
refused for it; `check-data` lists it for the business manager to add.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session, col, delete, select

from bot.models import Delegate, GroupMember, LeadGroup, NameVariant, Person
from bot.names import normalise, split_written
from bot.plans.canonical import slugify
from bot.yamlfile import InputFileError, Problem, parse_model, read_text


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PersonEntry(_Entry):
    name: str = Field(min_length=1)
    key: str | None = None
    organisation: str | None = None
    role: str | None = None
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    slack_id: str | None = None
    variants: list[str] = []
    # people who may answer for this person (a deputy, a business support officer)
    delegates: list[str] = []


class GroupEntry(_Entry):
    name: str = Field(min_length=1)
    key: str | None = None
    organisation: str | None = None
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    contact: str | None = None  # a person's name; chasing a group goes to them
    members: list[str] = []
    variants: list[str] = []


class PeopleFile(_Entry):
    people: list[PersonEntry] = []
    groups: list[GroupEntry] = []


# Words that say a lead is a group, not a person, when people.yaml does not know it.
_GROUP_WORDS = re.compile(
    r"\b(group|board|panel|team|executive|champions|members|committee|subgroup|forum|"
    r"health|police|marac)\b",
    re.IGNORECASE,
)


def parse_people(text: str, file: str = "people.yaml") -> PeopleFile:
    people, _data, located = parse_model(text, file, PeopleFile, item_key="people", ident="name")
    problems: list[Problem] = []
    owner: dict[str, str] = {}
    entries: list[tuple[str, int, PersonEntry | GroupEntry]] = [
        ("people", i, e) for i, e in enumerate(people.people)
    ] + [("groups", i, e) for i, e in enumerate(people.groups)]
    for kind, i, entry in entries:
        for written in _all_names(entry):
            norm = normalise(written)
            if norm in owner and owner[norm] != entry.name:
                problems.append(
                    Problem(
                        file,
                        located.line((kind, i)),
                        None,
                        f"{kind}[{i + 1}]",
                        f"{written!r} names both {owner[norm]!r} and {entry.name!r}",
                    )
                )
            owner.setdefault(norm, entry.name)
    persons = {normalise(n) for p in people.people for n in _all_names(p)}
    for i, person in enumerate(people.people):
        for name in person.delegates:
            if normalise(name) not in persons:
                problems.append(
                    Problem(
                        file,
                        located.line(("people", i)),
                        None,
                        f"people[{i + 1}].delegates",
                        f"{name!r} is not a person in this file",
                    )
                )
    for i, g in enumerate(people.groups):
        for who in [g.contact, *g.members]:
            if who is not None and normalise(who) not in persons:
                problems.append(
                    Problem(
                        file,
                        located.line(("groups", i)),
                        None,
                        f"groups[{i + 1}]",
                        f"{who!r} is not a person in this file",
                    )
                )
    if problems:
        raise InputFileError(problems)
    return people


def load_people_file(path: str | Path) -> PeopleFile:
    return parse_people(read_text(path), str(path))


def _all_names(entry: PersonEntry | GroupEntry) -> Iterable[str]:
    yield entry.name
    yield from entry.variants
    if entry.organisation:
        yield f"{entry.name} ({entry.organisation})"


def store_people(session: Session, people: PeopleFile) -> None:
    """Upserts people and groups by key; their variants are replaced, never duplicated."""
    persons: dict[str, Person] = {}
    for entry in people.people:
        key = entry.key or slugify(entry.name)
        row = session.exec(select(Person).where(Person.key == key)).first()
        row = row or Person(key=key, name="")
        row.name, row.organisation, row.role = entry.name, entry.organisation, entry.role
        if row.email != entry.email:  # a new address is worth trying, whatever the old did
            row.email_failing, row.email_failing_since = None, None
        row.email, row.slack_id, row.listed = entry.email, entry.slack_id, True
        session.add(row)
        persons[normalise(entry.name)] = row
        for v in entry.variants:
            persons[normalise(v)] = row
    session.flush()
    for g in people.groups:
        key = g.key or slugify(g.name)
        group = session.exec(select(LeadGroup).where(LeadGroup.key == key)).first()
        group = group or LeadGroup(key=key, name="")
        group.name, group.organisation, group.email = g.name, g.organisation, g.email
        group.contact_person_id = persons[normalise(g.contact)].id if g.contact else None
        group.listed = True
        session.add(group)
        session.flush()
        assert group.id is not None
        session.exec(delete(GroupMember).where(col(GroupMember.group_id) == group.id))
        for member in g.members:
            person_id = persons[normalise(member)].id
            assert person_id is not None
            session.add(GroupMember(group_id=group.id, person_id=person_id))
        _set_variants(session, _all_names(g), group_id=group.id)
    for entry in people.people:
        person_id = persons[normalise(entry.name)].id
        _set_variants(session, _all_names(entry), person_id=person_id)
        session.exec(delete(Delegate).where(col(Delegate.person_id) == person_id))
        for who in entry.delegates:
            delegate_id = persons[normalise(who)].id
            assert person_id is not None and delegate_id is not None
            session.add(Delegate(person_id=person_id, delegate_id=delegate_id))
    session.flush()


def _set_variants(
    session: Session,
    names: Iterable[str],
    person_id: int | None = None,
    group_id: int | None = None,
) -> None:
    for written in names:
        norm = normalise(written)
        row = session.exec(select(NameVariant).where(NameVariant.normalised == norm)).first()
        if row is None:
            row = NameVariant(normalised=norm, written=written)
        row.written, row.person_id, row.group_id = written, person_id, group_id
        session.add(row)


@dataclass(frozen=True)
class Resolved:
    """Who a written lead turned out to be."""

    written: str
    person_id: int | None
    group_id: int | None
    name: str  # the canonical name
    listed: bool  # False: not in people.yaml, created from the plan's own words


class Resolver:
    """Resolves written names within one session, creating unlisted leads when it must."""

    def __init__(self, session: Session):
        self.session = session
        self._cache: dict[str, Resolved] = {}

    def resolve(self, written: str) -> Resolved:
        norm = normalise(written)
        if norm not in self._cache:
            self._cache[norm] = self._lookup(written) or self._create(written)
        return self._cache[norm]

    def _lookup(self, written: str) -> Resolved | None:
        name, org = split_written(written)
        for candidate in (written, name):
            variant = self.session.exec(
                select(NameVariant).where(NameVariant.normalised == normalise(candidate))
            ).first()
            if variant is not None:
                return self._resolved(written, variant.person_id, variant.group_id)
        return None

    def _resolved(self, written: str, person_id: int | None, group_id: int | None) -> Resolved:
        if person_id is not None:
            person = self.session.get(Person, person_id)
            assert person is not None
            return Resolved(written, person_id, None, person.name, person.listed)
        group = self.session.get(LeadGroup, group_id)
        assert group is not None
        return Resolved(written, None, group_id, group.name, group.listed)

    def _create(self, written: str) -> Resolved:
        name, org = split_written(written)
        key = "unlisted-" + slugify(name)
        variant = NameVariant(normalised=normalise(written), written=written)
        if _GROUP_WORDS.search(name):
            group = self.session.exec(select(LeadGroup).where(LeadGroup.key == key)).first()
            if group is None:
                group = LeadGroup(key=key, name=name, organisation=org, listed=False)
                self.session.add(group)
                self.session.flush()
            variant.group_id = group.id
        else:
            person = self.session.exec(select(Person).where(Person.key == key)).first()
            if person is None:
                person = Person(key=key, name=name, organisation=org, listed=False)
                self.session.add(person)
                self.session.flush()
            variant.person_id = person.id
        self.session.add(variant)
        bare = normalise(name)
        if (
            bare != variant.normalised
            and self.session.exec(select(NameVariant).where(NameVariant.normalised == bare)).first()
            is None
        ):
            # so "Jo Bloggs" later finds the "Jo Bloggs (Council)" this plan introduced
            self.session.add(
                NameVariant(
                    normalised=bare,
                    written=name,
                    person_id=variant.person_id,
                    group_id=variant.group_id,
                )
            )
        self.session.flush()
        return self._resolved(written, variant.person_id, variant.group_id)
