"""The whole state as JSON in the documented shape, so other tools can read the plans.

The shape is a promise to those tools (README, "Export"): change it only by adding keys.
"""

from __future__ import annotations

from typing import Any

from bot.store import ActionView, PlanView


def export_plans(plans: list[PlanView]) -> dict[str, Any]:
    return {
        "plans": [
            {"id": p.id, "title": p.title, "actions": [_action(a) for a in p.actions]}
            for p in plans
        ]
    }


def _action(a: ActionView) -> dict[str, Any]:
    return {
        "ref": a.ref,
        "title": a.title,
        "text": a.text,
        "leads": [
            {"name": name, "organisation": org}
            for name, org in dict.fromkeys((x.name, x.organisation) for x in a.leads)
        ],
        "timescale": a.timescale,
        "milestones": [
            {
                "text": ms.text,
                "due": ms.due.isoformat() if ms.due else None,
                "lead": ms.lead.name if ms.lead else None,
                "done": ms.done,
            }
            for ms in a.milestones
        ],
        "due": a.due.isoformat() if a.due else None,
        "status": a.status,
        "rag": a.rag,
        "progress": [
            {"date": p.date.iso(), "text": p.text, "source": p.source} for p in a.progress
        ],
    }
