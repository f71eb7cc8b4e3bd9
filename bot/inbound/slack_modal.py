"""The Slack side of a lead's answer as JSON values: the Add update form, its answers read back,
and the short messages the reply flow sends (confirmation, refusal, "which action?").

Pure functions, like bot/notify/slack_blocks.py: nothing here talks to Slack or the database.
Plan text and the lead's own words are escaped wherever they are shown again in mrkdwn, so an
update saying "<!channel>" is quoted, never a ping. Form errors are plain text, shown as typed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot.notify.slack_blocks import (
    MAX_TEXT,
    Block,
    action_name,
    clip,
    day,
    due_words,
    escape,
    joined,
    plain,
    section,
    user,
)
from bot.plans.partial_date import PartialDate
from bot.plans.timescale import find_dates

CALLBACK_ID = "add_update_form"  # the form's callback_id; its submission is routed by it
TEXT_BLOCK, RAG_BLOCK, DONE_BLOCK, DATE_BLOCK = "progress", "rag", "completed", "new_date"
TEXT_INPUT, RAG_INPUT, DONE_INPUT, DATE_INPUT = "text", "rag", "completed", "date"
RAGS = ("red", "amber", "green")
MAX_INPUT = 3000  # what the text box takes; a progress entry has room for more
MAX_QUOTE = 1500  # how much of the update a confirmation quotes back

# Around a date typed into the form: "by March 2019", "end of June", "(31/03/2019)".
_BEFORE_DATE = re.compile(r"^[\s,.;:()\-–—]*(?:(?:by|the|end|of|early|mid|late|in)\s+)*$", re.I)
_AFTER_DATE = re.compile(r"^[\s,.;:()]*$")


# --- the form --------------------------------------------------------------------------------


def add_update_view(
    action_id: int, ref: str, title: str, plan_title: str, due: date | None
) -> dict[str, Any]:
    """The modal the Add update button opens. `private_metadata` names the action and nothing
    else: who may answer for it is decided again when the form comes back."""
    about = "\n".join([f"*{action_name(ref, title)}*", user(plan_title, 150), due_words(due)])
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "private_metadata": json.dumps({"action_id": action_id}),
        "title": plain("Add update", 24),
        "submit": plain("Record update", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            section(about),
            {
                "type": "input",
                "block_id": TEXT_BLOCK,
                "label": plain("Progress"),
                "element": {
                    "type": "plain_text_input",
                    "action_id": TEXT_INPUT,
                    "multiline": True,
                    "max_length": MAX_INPUT,
                    "placeholder": plain("What has been done, what is next?", 150),
                },
            },
            {
                "type": "input",
                "block_id": RAG_BLOCK,
                "optional": True,
                "label": plain("RAG status"),
                "element": {
                    "type": "static_select",
                    "action_id": RAG_INPUT,
                    "placeholder": plain("Red, amber or green", 150),
                    "options": [
                        {"text": plain(rag.capitalize(), 75), "value": rag} for rag in RAGS
                    ],
                },
            },
            {
                "type": "input",
                "block_id": DONE_BLOCK,
                "optional": True,
                "label": plain("Completed"),
                "element": {
                    "type": "checkboxes",
                    "action_id": DONE_INPUT,
                    "options": [
                        {"text": plain("This action is complete", 75), "value": "completed"}
                    ],
                },
            },
            {
                "type": "input",
                "block_id": DATE_BLOCK,
                "optional": True,
                "label": plain("Proposed new date"),
                "hint": plain(
                    "Only if the date no longer holds. The operational group agrees a new "
                    "date; the deadline does not move until then.",
                    2000,
                ),
                "element": {
                    "type": "plain_text_input",
                    "action_id": DATE_INPUT,
                    "max_length": 60,
                    "placeholder": plain("e.g. March 2019", 150),
                },
            },
        ],
    }


def action_of(private_metadata: str | None) -> int | None:
    """The action id the form was opened for, or None if the metadata is not ours."""
    try:
        value = json.loads(private_metadata or "")
    except ValueError:
        return None
    action_id = value.get("action_id") if isinstance(value, dict) else None
    return action_id if isinstance(action_id, int) and not isinstance(action_id, bool) else None


@dataclass(frozen=True)
class FormAnswer:
    text: str
    rag: str | None
    completed: bool
    proposed: PartialDate | None


def read_form(values: Mapping[str, Any], today: date) -> FormAnswer | dict[str, str]:
    """The submitted form as an answer, or the errors to show beside its fields (block id ->
    message), which Slack displays without closing the form."""
    text = str(_input(values, TEXT_BLOCK, TEXT_INPUT).get("value") or "").strip()
    selected = _input(values, RAG_BLOCK, RAG_INPUT).get("selected_option") or {}
    rag = selected.get("value") if isinstance(selected, dict) else None
    ticked = _input(values, DONE_BLOCK, DONE_INPUT).get("selected_options") or []
    completed = any(isinstance(o, dict) and o.get("value") == "completed" for o in ticked)
    written = str(_input(values, DATE_BLOCK, DATE_INPUT).get("value") or "").strip()

    errors: dict[str, str] = {}
    if not text:
        errors[TEXT_BLOCK] = "Say what has been done, in a line or two."
    if rag is not None and rag not in RAGS:
        errors[RAG_BLOCK] = "Choose red, amber or green."
        rag = None
    proposed = None
    if written:
        try:
            proposed = read_date(written, today)
        except ValueError as exc:
            errors[DATE_BLOCK] = str(exc)
    if errors:
        return errors
    return FormAnswer(text, rag, completed, proposed)


def read_date(text: str, today: date) -> PartialDate:
    """A proposed date as a lead types it: "March 2019", "31/03/2019", "end of June", "2019-03".

    Without a year, the year of `today`. A range means its end. Raises ValueError with the
    message the form shows."""
    try:
        found = PartialDate.parse(text)
    except ValueError:
        mentions = find_dates(text, default_year=today.year)
        if len(mentions) != 1 or not (
            _BEFORE_DATE.match(text[: mentions[0].start])
            and _AFTER_DATE.match(text[mentions[0].end :])
        ):
            raise ValueError(
                f"Could not read {clip(text, 40)!r} as a date: write it like "
                "March 2019 or 31/03/2019."
            ) from None
        found = mentions[0].date
    if found.last_day() < today:
        raise ValueError(f"{found.human()} has passed: give a date from today on.")
    return found


def _input(values: Mapping[str, Any], block_id: str, action_id: str) -> dict[str, Any]:
    block = values.get(block_id)
    element = block.get(action_id) if isinstance(block, dict) else None
    return element if isinstance(element, dict) else {}


# --- what the lead is told -------------------------------------------------------------------


@dataclass(frozen=True)
class Recorded:
    """One progress entry as the confirmation describes it."""

    ref: str
    title: str
    dated: date
    text: str
    rag: str | None
    completed: bool
    proposed: PartialDate | None


def confirmation(recorded: Recorded) -> tuple[str, list[Block]]:
    """ "Recorded on Action 1.1.1 — … on 26 Nov 2018:" and the update quoted back."""
    head = f"Recorded on *{action_name(recorded.ref, recorded.title)}* on {day(recorded.dated)}:"
    quote = "\n".join("> " + line for line in escape(clip(recorded.text, MAX_QUOTE)).splitlines())
    extras = joined(
        f"RAG {recorded.rag.capitalize()}" if recorded.rag else None,
        "marked complete" if recorded.completed else None,
        f"new date asked for: {recorded.proposed.human()} (the operational group agrees it)"
        if recorded.proposed
        else None,
    )
    body = "\n".join(x for x in (head, quote, extras) if x)
    text = f"Update recorded on Action {recorded.ref} on {day(recorded.dated)}."
    return escape(text), [section(clip(body, MAX_TEXT))]


def refusal(refs: list[str]) -> str:
    """Said to someone who is not a lead or delegate of the action(s); refs only, escaped."""
    names = ", ".join(f"Action {r}" for r in refs) or "this action"
    return escape(
        f"Sorry, only the lead of {names} or someone they have delegated to can add updates, "
        "so nothing was recorded. If that should be you, ask the plan's coordinator to add "
        "the e-mail address of your Slack profile to the people list."
    )


def refusal_plain(refs: list[str]) -> str:
    """The same, as the plain text a form error is shown in."""
    names = ", ".join(f"Action {r}" for r in refs) or "this action"
    return (
        f"Sorry, only the lead of {names} or their delegate can add updates; nothing was recorded."
    )


def which_action(refs: list[str]) -> str:
    return escape(
        f"This reminder is about {len(refs)} actions ({', '.join(refs)}), so this reply was "
        "not recorded: I cannot tell which action it is about. Please press *Add update* "
        "beside the action instead."
    )


NOT_A_REMINDER = (
    "This message was not recorded. To add an update, press *Add update* beside the action in "
    "a reminder, or reply in the thread of a reminder about one action."
)
