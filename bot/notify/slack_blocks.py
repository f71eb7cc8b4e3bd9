"""Slack Block Kit payloads for reminders, digests and the chair's summary, as plain JSON values.

Pure functions from the values in `bot.notify.content` to `(text, blocks)`: `text` is the
fallback Slack shows in notifications and reads to screen readers, `blocks` the message itself.
Nothing here talks to Slack, so every payload can be checked in a test.

Two things make a payload safe to send whatever the plans contain:
- user text (titles, names, progress) is escaped the way Slack asks (`&`, `<`, `>`), so a title
  such as "<!channel>" is shown, never turned into a ping, and every mrkdwn object is
  `verbatim` so Slack does not link-ify or parse mentions on its own;
- Slack's limits (50 blocks a message, 3000 characters a text field, 150 in a header) are kept
  by dropping whole actions at the end and saying so, never by sending an invalid message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from bot.notify.content import (
    LEVEL_NAMES,
    ChairSummary,
    CountRow,
    Digest,
    DigestLine,
    Reminder,
    ReminderLine,
)
from bot.plans.partial_date import PartialDate

Block = dict[str, Any]

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_HEADER = 150
MAX_BLOCK_ID = 255
MAX_TITLE = 300  # an action title longer than this is cut in lists; the e-mail has it whole
MAX_EXCERPT = 280  # how much of the latest progress entry a reminder quotes
MAX_FALLBACK = 300  # the notification line; the blocks carry the rest

ADD_UPDATE = "add_update"  # action_id of the button; the reply flow listens for it
ELLIPSIS = "…"


# --- text ------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Slack's own rule for mrkdwn: these three are control characters, nothing else is.

    Escaping `<` and `>` is what stops `<!channel>` or `<@U123>` in a plan from pinging anyone.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """Shortens to `limit` characters with an ellipsis, never leaving half an `&amp;`."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS


def user(text: str, limit: int = MAX_TITLE) -> str:
    """User text ready for mrkdwn: cut to a readable length first, then escaped."""
    return escape(clip(" ".join(text.split()), limit))


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": clip(text, MAX_TEXT), "verbatim": True}


def plain(text: str, limit: int = MAX_TEXT) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit), "emoji": True}


def header(text: str) -> Block:
    return {"type": "header", "text": plain(text, MAX_HEADER)}


def section(text: str, **extra: Any) -> Block:
    return {"type": "section", "text": mrkdwn(text), **extra}


def context(text: str) -> Block:
    return {"type": "context", "elements": [mrkdwn(text)]}


def bullets(title: str, lines: Sequence[str], noun: str = "more") -> str:
    """A bold title over bullet lines, as many as fit in one text field, then "… and N more"."""
    out = f"*{title}*"
    for shown, line in enumerate(lines):
        rest = len(lines) - shown
        tail = f"\n{ELLIPSIS} and {rest} {noun}"
        if len(out) + 3 + len(line) + len(tail) > MAX_TEXT and rest > 1:
            return out + tail
        out += f"\n• {line}"
    return out


# --- words -----------------------------------------------------------------------------------


def day(d: date | datetime) -> str:
    """How a lead reads a date: "31 May 2019", the same as `PartialDate.human()`."""
    return PartialDate(d.year, d.month, d.day).human()


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def action_name(ref: str, title: str) -> str:
    """ "Action 2.3.3 — Monitor the effectiveness of MASH", escaped."""
    return f"Action {user(ref, 40)} — {user(title)}"


def due_words(due: date | None) -> str:
    return f"Due {day(due)}" if due is not None else "No timescale set"


def overdue_words(days_overdue: int | None) -> str | None:
    if days_overdue is None:
        return None
    if days_overdue > 0:
        return f"{plural(days_overdue, 'day')} overdue"
    if days_overdue == 0:
        return "due today"
    return f"due in {plural(-days_overdue, 'day')}"


def last_update_words(last: PartialDate | None) -> str:
    return f"last update {last.human()}" if last is not None else "no update yet"


def joined(*parts: str | None) -> str:
    return " · ".join(p for p in parts if p)


# --- fitting into Slack's limits -------------------------------------------------------------


def fit(
    head: list[Block], actions: Sequence[Sequence[Block]], tail: list[Block], more: str
) -> list[Block]:
    """Head, as many whole actions as fit, tail, and a last context block naming what was left.

    Each item of `actions` is the blocks of one action (an organisation's heading rides with its
    first action, so no heading is left alone at the end). `more` has `{n}` and `{noun}` in it.
    """
    room = MAX_BLOCKS - len(head) - len(tail)
    body: list[Block] = []
    shown = 0
    for blocks in actions:
        reserve = 0 if shown == len(actions) - 1 else 1  # for "… and N more", unless last
        if len(body) + len(blocks) + reserve > room:
            break
        body.extend(blocks)
        shown += 1
    n = len(actions) - shown
    if n == 0:
        return head + body + tail
    more_block = context(more.format(n=n, noun="action" if n == 1 else "actions"))
    return head + body + tail + [more_block]


def unique_block_ids(blocks: list[Block]) -> list[Block]:
    """Slack rejects a message whose block_ids repeat (the same ref in two plans would)."""
    seen: set[str] = set()
    for block in blocks:
        bid = block.get("block_id")
        if bid is None:
            continue
        candidate, n = bid, 1
        while candidate in seen:
            n += 1
            suffix = f"#{n}"
            candidate = bid[: MAX_BLOCK_ID - len(suffix)] + suffix
        block["block_id"] = candidate
        seen.add(candidate)
    return blocks


# --- reminder --------------------------------------------------------------------------------


def reminder_blocks(reminder: Reminder) -> tuple[str, list[Block]]:
    """A lead's reminder: one section per action, each with an "Add update" button."""
    lines = reminder.lines
    multi_plan = len({line.plan_title for line in lines}) > 1
    head = [header("Actions needing a progress update"), section(_greeting(reminder))]
    actions = [[_reminder_action(line, multi_plan)] for line in lines]
    tail = [context(_how_to_reply(reminder))]
    more = ELLIPSIS + " and {n} more {noun}: see the e-mail reminder"
    blocks = unique_block_ids(fit(head, actions, tail, more))
    return _reminder_fallback(reminder), blocks


def _greeting(reminder: Reminder) -> str:
    n = len(reminder.lines)
    them = "this action" if n == 1 else f"these {n} actions"
    text = f"Hello {user(reminder.recipient.name, 100)}, {them} you lead need a progress update."
    if reminder.reminder_number > 1:
        text += f" This is reminder {reminder.reminder_number}."
    return text


def _reminder_action(line: ReminderLine, multi_plan: bool) -> Block:
    status = joined(
        due_words(line.due), overdue_words(line.days_overdue), last_update_words(line.last_update)
    )
    rows = [f"*{action_name(line.ref, line.title)}*", status]
    if multi_plan:
        rows.insert(1, user(line.plan_title, 150))
    if line.milestone:
        rows.append(f"Step due: {user(line.milestone)}")
    if line.last_update_text:
        rows.append(f"> {user(line.last_update_text, MAX_EXCERPT)}")
    button = {
        "type": "button",
        "action_id": ADD_UPDATE,
        "text": plain("Add update", 75),
        "value": str(line.action_id),
    }
    block_id = clip(f"{ADD_UPDATE}:{line.action_id}:{line.ref}", MAX_BLOCK_ID)
    return section("\n".join(rows), block_id=block_id, accessory=button)


def _how_to_reply(reminder: Reminder) -> str:
    text = (
        "Press *Add update* beside an action and say what has been done, what is next and "
        "whether the date still holds; a line or two is enough."
    )
    if reminder.reply_address:
        text += f" Or e-mail your update to {escape(reminder.reply_address)}."
    return text


def _reminder_fallback(reminder: Reminder) -> str:
    lines = reminder.lines
    if not lines:
        return "No actions need an update."
    first = lines[0]
    text = f"Action {first.ref} — {first.title}"
    if len(lines) > 1:
        text += f" and {plural(len(lines) - 1, 'more action')}"
    return escape(clip(f"Progress update needed: {text}", MAX_FALLBACK))


# --- digest ----------------------------------------------------------------------------------


def digest_blocks(digest: Digest) -> tuple[str, list[Block]]:
    """A group's escalation digest: actions grouped by lead organisation, then what left."""
    head = [header(f"{digest.group}: escalation digest"), section(_digest_intro(digest))]
    tail = _digest_tail(digest)
    more = ELLIPSIS + " and {n} more {noun}: see the e-mail digest"
    blocks = unique_block_ids(fit(head, _digest_actions(digest.lines), tail, more))
    return _digest_fallback(digest), blocks


def _digest_intro(digest: Digest) -> str:
    n = len(digest.lines)
    text = f"{plural(n, 'action')} escalated to {escape(digest.group)}"
    text += ", grouped by lead organisation." if n else "."
    if digest.previous_at is not None:
        text += f" Changes since the last digest on {day(digest.previous_at)} are marked."
    return text


def _digest_actions(lines: Sequence[DigestLine]) -> list[list[Block]]:
    actions: list[list[Block]] = []
    for org, group in _by_organisation(lines):
        heading = section(f"*{user(org, 150) or 'No organisation'}* ({len(group)})")
        actions.append([heading, digest_section(group[0])])
        actions.extend([digest_section(line)] for line in group[1:])
    return actions


def _by_organisation(lines: Iterable[DigestLine]) -> list[tuple[str, list[DigestLine]]]:
    """Organisations in the order the digest lists them first; lines keep their order."""
    groups: dict[str, list[DigestLine]] = {}
    for line in lines:
        groups.setdefault(line.organisation, []).append(line)
    return list(groups.items())


def digest_section(line: DigestLine) -> Block:
    """Everything a group needs to decide on one escalated action, in one section."""
    rows = [
        f"*{action_name(line.ref, line.title)}*",
        joined(user(line.plan_title, 150), _leads(line)),
        joined(
            due_words(line.due),
            overdue_words(line.days_overdue),
            _unanswered(line.reminders_unanswered),
            last_update_words(line.last_update),
        ),
        joined(_rag_words(line), _level_words(line)),
    ]
    rows.append(_notes(line))
    return section("\n".join(r for r in rows if r))


def _notes(line: DigestLine) -> str:
    """Flags ("Green but overdue") with a warning sign, then what changed since last time."""
    flags = " · ".join(user(flag, 100) for flag in line.flags)
    change = f"_{user(line.change, 60)} since the last digest_" if line.change else ""
    return joined(f":warning: {flags}" if flags else None, change)


def _leads(line: DigestLine) -> str:
    if not line.leads:
        return "Lead: none named"
    names = [user(n, 80) + (f" ({user(org, 80)})" if org else "") for n, org in line.leads]
    return ("Lead: " if len(names) == 1 else "Leads: ") + ", ".join(names)


def _unanswered(n: int) -> str | None:
    return f"{plural(n, 'reminder')} unanswered" if n else None


def _rag_words(line: DigestLine) -> str:
    rag = f"RAG {line.rag.capitalize()}" if line.rag else "No RAG set"
    if line.rag and line.rag_set_by:
        rag += f" (set by {user(line.rag_set_by, 80)})"
    if line.suggested_rag and line.suggested_rag != line.rag:
        rag += f" · suggested {line.suggested_rag.capitalize()}"
    return rag


def _level_words(line: DigestLine) -> str | None:
    if line.level == "lead":
        return None
    text = f"with the {LEVEL_NAMES.get(line.level, line.level)}"
    return text + (f" since {day(line.level_since)}" if line.level_since else "")


def _digest_tail(digest: Digest) -> list[Block]:
    blocks: list[Block] = []
    if digest.left_the_list:
        lines = [user(item) for item in digest.left_the_list]
        blocks.append(section(bullets("Left the list since the last digest", lines)))
    if digest.proposed_dates:
        lines = [user(item) for item in digest.proposed_dates]
        blocks.append(section(bullets("Date changes asked for, to agree", lines)))
    if digest.set_aside:
        lines = [user(item) for item in digest.set_aside]
        blocks.append(section(bullets("Messages set aside, not recorded", lines)))
    return blocks


def _digest_fallback(digest: Digest) -> str:
    text = f"{digest.group} digest: {plural(len(digest.lines), 'action')} escalated"
    if digest.left_the_list:
        text += f", {len(digest.left_the_list)} left the list"
    return escape(clip(text + ".", MAX_FALLBACK))


# --- chair's summary -------------------------------------------------------------------------


def chair_summary_blocks(summary: ChairSummary) -> tuple[str, list[Block]]:
    """The chair's week: counts, what became overdue, what is longest overdue, what reached them."""
    title = "Weekly overdue summary"
    if summary.week_start is not None:
        title += f", week of {day(summary.week_start)}"
    # At most seven blocks: each list is one section, cut to fit by `bullets`.
    blocks = [header(title), section(_counts(summary)), *_chair_sections(summary)]
    return _chair_fallback(summary), blocks


def _counts(summary: ChairSummary) -> str:
    total = _count_words(summary.by_rag)
    return f"*Open actions*: {total}" if total else "*Open actions*: none"


def _count_words(row: CountRow) -> str:
    parts = [
        f"{row.red} red" if row.red else None,
        f"{row.amber} amber" if row.amber else None,
        f"{row.green} green" if row.green else None,
        f"{row.unrated} without a RAG" if row.unrated else None,
        f"*{row.overdue} overdue*" if row.overdue else None,
    ]
    return joined(*parts)


def _chair_sections(summary: ChairSummary) -> list[Block]:
    lists = [
        ("By organisation", [_org_row(r) for r in summary.by_organisation]),
        ("Newly overdue this week", [_chair_line(x) for x in summary.newly_overdue]),
        ("Longest overdue", [_chair_line(x) for x in summary.longest_overdue]),
        ("Reached the chair", [_chair_line(x) for x in summary.at_chair]),
        ("Movement", [user(m) for m in summary.movement]),
    ]
    return [section(bullets(title, lines)) for title, lines in lists if lines]


def _org_row(row: CountRow) -> str:
    return f"{user(row.label, 150)}: {_count_words(row) or 'nothing open'}"


def _chair_line(line: DigestLine) -> str:
    lead = user(line.leads[0][0], 80) if line.leads else "no lead named"
    return joined(
        action_name(line.ref, line.title),
        lead,
        user(line.organisation, 80),
        overdue_words(line.days_overdue),
    )


def _chair_fallback(summary: ChairSummary) -> str:
    text = joined(
        f"Weekly overdue summary: {summary.by_rag.overdue} overdue",
        f"{len(summary.newly_overdue)} newly overdue",
        f"{len(summary.at_chair)} reached the chair",
    )
    return clip(text, MAX_FALLBACK)
