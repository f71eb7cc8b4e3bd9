"""The status table: one row per action, with how overdue and how quiet it is on a given day.

Pure: it takes the plans as read and the day to judge them on (`--as-of`), so the same numbers
come out whenever it is run for that day.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

from bot.names import normalise
from bot.store import ActionView, PlanView


@dataclass(frozen=True)
class StatusRow:
    plan: str
    ref: str
    title: str
    leads: list[str]
    due: str | None  # the next deadline not yet met, YYYY-MM-DD
    last_update: str | None  # as precise as it was given: YYYY-MM or YYYY-MM-DD
    days_overdue: int | None
    days_since_update: int | None
    rag: str | None
    status: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def days_overdue(action: ActionView, as_of: date) -> int | None:
    if action.status in ("complete", "withdrawn"):
        return None
    due = action.next_due
    if due is None or as_of <= due:
        return None
    return (as_of - due).days


def days_since_update(action: ActionView, as_of: date) -> int | None:
    """Counted from the end of the period given: "(October 2018)" could mean the 31st."""
    last = action.last_update
    if last is None:
        return None
    return max(0, (as_of - last.last_day()).days)


def status_rows(plans: list[PlanView], as_of: date, lead: str | None = None) -> list[StatusRow]:
    wanted = normalise(lead) if lead else None
    rows = []
    for plan in plans:
        for a in plan.actions:
            if wanted and not any(
                wanted in normalise(x.name) or wanted in normalise(x.written) for x in a.leads
            ):
                continue
            last = a.last_update
            rows.append(
                StatusRow(
                    plan=plan.id,
                    ref=a.ref,
                    title=a.title,
                    leads=list(dict.fromkeys(x.name for x in a.leads)),
                    due=a.next_due.isoformat() if a.next_due else None,
                    last_update=last.iso() if last else None,
                    days_overdue=days_overdue(a, as_of),
                    days_since_update=days_since_update(a, as_of),
                    rag=a.rag,
                    status=a.status,
                )
            )
    return rows
