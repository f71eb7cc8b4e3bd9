"""The data-quality report: what a business manager should fix before the bot chases anyone.

It reads what is stored (and, when given, the plan files on disk, which may hold problems an
import refused) and lists, by kind: leads nobody can be reached at, leads people.yaml does not
know, name variants that were merged into one person, actions without a lead, timescales that
could not be read or look wrong, and every decision the converters wrote into a plan's notes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.names import normalise, split_written
from bot.plans.timescale import parse_timescale
from bot.store import LeadView, PlanView
from bot.yamlfile import InputFileError

# The kinds of note the converters write, in the order the report shows them.
NOTE_KINDS = {
    "missing-ref": "Refs missing in the source",
    "split-lead": "Lead cells that ran several leads together",
    "suspicious-date": "Dates that look wrong",
    "undated-timescale": "Timescales without a date",
    "undated-progress": "Progress without a date",
    "page-break": "Cells joined across a page break",
    "not-a-rag": "RAG cells that are not a RAG",
    "no-lead": "Actions without a lead in the source",
    "sub-row": "Sub-rows numbered as actions",
}

CHECK_TITLES = {
    "file": "Plan files that cannot be imported",
    "failing-address": "Addresses that bounce",
    "no-contact": "Leads without contact details",
    "unlisted-lead": "Leads not in people.yaml",
    "name-variant": "Name variants merged",
    "no-lead": "Actions without a lead",
    "timescale": "Timescales that could not be read",
    "no-deadline": "Open actions with no dated deadline",
    "governance": "Governance levels without contact details",
    **NOTE_KINDS,
    "note": "Other notes in the plans",
}


@dataclass(frozen=True)
class Finding:
    kind: str
    plan: str | None
    ref: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return asdict(self)


def _reachable(lead: LeadView, contacts: dict[str, bool]) -> bool:
    if lead.email:
        return True
    return lead.kind == "group" and lead.contact is not None and contacts.get(lead.contact, False)


def check_plans(plans: Sequence[PlanView], person_contacts: dict[str, bool]) -> list[Finding]:
    """`person_contacts`: person name -> has an e-mail, for judging groups by their contact."""
    findings: list[Finding] = []
    unreachable: dict[str, list[str]] = defaultdict(list)
    unlisted: dict[str, list[str]] = defaultdict(list)
    variants: dict[tuple[str, str], list[str]] = defaultdict(list)

    for plan in plans:
        for a in plan.actions:
            where = f"{plan.id} {a.ref}"
            if not a.leads:
                findings.append(Finding("no-lead", plan.id, a.ref, "no lead is named"))
            for lead in a.leads:
                if not _reachable(lead, person_contacts):
                    unreachable[lead.name].append(where)
                if not lead.listed:
                    unlisted[lead.name].append(where)
                written_name, _org = split_written(lead.written)
                if normalise(written_name) != normalise(lead.name):
                    variants[(lead.written, lead.name)].append(where)
            for ms in a.milestones:
                if ms.timescale and ms.kind == "undated" and not _status_only(ms.timescale):
                    findings.append(
                        Finding(
                            "timescale", plan.id, a.ref, f"cannot read a date in {ms.timescale!r}"
                        )
                    )
            if a.status == "open" and a.due is None and not any(ms.due for ms in a.milestones):
                findings.append(
                    Finding(
                        "no-deadline",
                        plan.id,
                        a.ref,
                        "open, with no dated timescale to chase against",
                    )
                )
            for note in a.notes:
                finding = _note(plan.id, a.ref, note)
                if finding.kind == "no-lead" and not a.leads:
                    continue  # already reported above, from the data itself
                findings.append(finding)
        for note in plan.notes:
            findings.append(_note(plan.id, None, note))
        for level in plan.governance:
            if level.resolved is None or not _reachable(level.resolved, person_contacts):
                findings.append(
                    Finding(
                        "governance",
                        plan.id,
                        None,
                        f"{level.level.replace('_', ' ')} {level.name!r} has no "
                        "e-mail or contact person with one in people.yaml",
                    )
                )

    for name, places in sorted(unreachable.items()):
        findings.append(
            Finding("no-contact", None, None, f"{name}: no e-mail (leads {_places(places)})")
        )
    for name, places in sorted(unlisted.items()):
        findings.append(
            Finding(
                "unlisted-lead", None, None, f"{name}: not in people.yaml (leads {_places(places)})"
            )
        )
    for (written, name), places in sorted(variants.items()):
        findings.append(
            Finding("name-variant", None, None, f"{written!r} read as {name} ({_places(places)})")
        )
    order = list(CHECK_TITLES)
    return sorted(findings, key=lambda f: order.index(f.kind))


def check_addresses(failing: Sequence[tuple[str, str, str, str]]) -> list[Finding]:
    """(name, address, why, since) for each person whose mail bounced: until people.yaml gives
    a new address, reminders to them go nowhere."""
    return [
        Finding(
            "failing-address",
            None,
            None,
            f"{name}: mail to {address} bounces ({why}), since {since}",
        )
        for name, address, why, since in failing
    ]


def check_files(paths: Sequence[Path]) -> list[Finding]:
    """Problems in plan files on disk, which an import would refuse (e.g. duplicate refs)."""
    from bot.importing import read_files

    try:
        read_files(paths)
    except InputFileError as exc:
        return [Finding("file", None, p.ref, str(p)) for p in exc.problems]
    return []


def _status_only(timescale: str) -> bool:
    """ "Complete" or "In progress" says where a step stands, not when: nothing to fix."""
    ts = parse_timescale(timescale)
    return ts.complete or ts.in_progress


def _note(plan_id: str, ref: str | None, note: str) -> Finding:
    kind, sep, rest = note.partition(":")
    if sep and kind.strip() in NOTE_KINDS:
        return Finding(kind.strip(), plan_id, ref, rest.strip())
    return Finding("note", plan_id, ref, note)


def _places(where: list[str], most: int = 6) -> str:
    shown = ", ".join(where[:most])
    return shown + (f" and {len(where) - most} more" if len(where) > most else "")
