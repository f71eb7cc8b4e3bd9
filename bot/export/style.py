"""What the three export formats share in looks and words: RAG colours, dates, the notes.

RAG colours are the ones the e-mails use (bot/notify/render.py, GOV.UK's red, orange and
green); a RAG the record only suggests is shown in a pale tint of its colour, in italics and
with the word "suggested", so it is never mistaken for a rating somebody gave.
"""

from __future__ import annotations

from datetime import date

from bot.export.cover import Cover
from bot.notify.render import RAG_COLOURS

__all__ = [
    "HEADER_FILL",
    "HEADER_TEXT",
    "RAG_FILLS",
    "SECTION_FILL",
    "SUGGESTED_FILLS",
    "SUGGESTED_NOTE",
    "about",
    "due_text",
    "hex_colour",
]

RAG_FILLS: dict[str, tuple[str, str]] = dict(RAG_COLOURS)  # rag -> (background, text)
SUGGESTED_FILLS: dict[str, tuple[str, str]] = {
    "red": ("#f2b8ae", "#0b0c0c"),
    "amber": ("#fbd0b3", "#0b0c0c"),
    "green": ("#a9d3bf", "#0b0c0c"),
}
HEADER_FILL = "#1d3557"
HEADER_TEXT = "#ffffff"
SECTION_FILL = "#e8eaec"
SUGGESTED_NOTE = (
    "A RAG marked “suggested” (pale, in italics) is what the action's own record says on this "
    "day, where nobody has rated it: red when a deadline has passed and it is not complete, "
    "amber when there was progress in the last 90 days or a deadline is still ahead, green "
    "when it is complete with a progress entry to show for it. Only a RAG a person set is "
    "read back by actionbot import."
)


def about(cover: Cover) -> str:
    """The line under the title: which plan, when exported, what "as of" means."""
    version = f", version {cover.version}" if cover.version else ""
    made = cover.made_at
    return (
        f"Plan {cover.plan_id}{version}. Exported by actionbot on {made.day} {made:%B %Y} at "
        f"{made:%H:%M} UTC. Progress entries written after {cover.as_of} are left out; "
        "overdue is judged on that day."
    )


def hex_colour(colour: str) -> str:
    """ "#d4351c" as Excel and Word want it: "D4351C"."""
    return colour.lstrip("#").upper()


def due_text(due: date | None) -> str:
    return f"{due.day} {due:%b %Y}" if due else "none"
