"""The RAG an action's own record suggests, beside the RAG a person set, so a board sees both.

A lead's RAG is an opinion; the plan's deadlines, milestones and progress entries are the
record. The MSCB business plan defines its colours in words (its `rag_definitions`), and this
module reads those words as rules over the record, so a digest can show "set green, suggested
red" instead of leaving the board to spot a contradiction in a table of forty actions.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from bot.store import ActionView

__all__ = ["RECENT", "is_complete", "rag_flags", "suggest_rag"]

Rag = Literal["red", "amber", "green"]

# "Progress is being made" needs a progress entry recent enough to speak for the present.
RECENT = timedelta(days=90)
_STEP: dict[str, int] = {"green": 0, "amber": 1, "red": 2}


def suggest_rag(action: ActionView, today: date) -> Rag | None:
    """What the MSCB definitions say the action's RAG is on `today`; None when they cannot say.

    Red: "Work is significantly behind schedule and no progress has been made, and/or Progress
    has been made but the timescale has not been achieved." So: a deadline has passed (the
    action's timescale or any milestone's) and the action is not complete, whatever progress
    there was.

    Amber: "Progress is being made, progress is good and the action is likely to be achieved
    within timescale. Or the action has been completed but evidence is required to demonstrate
    achievement." So: nothing is overdue and there was a progress entry in the last 90 days or
    a deadline is still ahead; or the action is complete with no progress entry to show for it.

    Green: "The action has been completed and there is a record of evidence to support its
    completion." So: complete, with at least one progress entry as that record.

    A withdrawn action has no RAG to suggest; neither has one with no deadline ahead and no
    recent progress, since the definitions measure against a timescale or progress and there
    is neither.
    """
    if action.status == "withdrawn":
        return None
    if is_complete(action):
        return "green" if action.progress else "amber"
    if _deadline_missed(action, today):
        return "red"
    if _recent_progress(action, today) or _deadline_ahead(action, today):
        return "amber"
    return None


def is_complete(action: ActionView) -> bool:
    """Complete by its status, or because every milestone is done though nobody said so."""
    if action.status == "complete":
        return True
    return bool(action.milestones) and all(ms.done for ms in action.milestones)


def rag_flags(rag: str | None, suggested: str | None, days_overdue: int | None) -> tuple[str, ...]:
    """The contradictions between a set RAG and the record that a board should not miss.

    Only a RAG somebody set can contradict anything: an unrated action has no flags. "Green but
    overdue" is the sharpest case (green means "completed", yet a deadline is missed) and makes
    a second flag saying the same thing redundant; otherwise a RAG two steps from the suggested
    one (red against green) is flagged. One step apart is shown as "suggested" in the RAG
    column, not flagged: amber against red is a matter of judgement, red against green is not.
    """
    if rag not in _STEP:
        return ()
    if rag == "green" and days_overdue is not None and days_overdue > 0:
        return ("Green but overdue",)
    if suggested in _STEP and abs(_STEP[rag] - _STEP[suggested]) == 2:
        return (f"Set {rag}, suggested {suggested}",)
    return ()


def _deadline_missed(action: ActionView, today: date) -> bool:
    """The timescale has passed, or a milestone's date passed while it was left undone."""
    if action.due is not None and action.due < today:
        return True
    return any(not ms.done and ms.due is not None and ms.due < today for ms in action.milestones)


def _deadline_ahead(action: ActionView, today: date) -> bool:
    if action.due is not None and action.due >= today:
        return True
    return any(not ms.done and ms.due is not None and ms.due >= today for ms in action.milestones)


def _recent_progress(action: ActionView, today: date) -> bool:
    """Counted from the end of the period an entry gives: "(May 2019)" may mean the 31st."""
    return any(p.date.last_day() >= today - RECENT for p in action.progress)
