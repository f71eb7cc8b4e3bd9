"""Is a mail a lead's reply, a machine's auto-reply, or a bounce? And what the machine said:
when the lead is back, which addresses failed.

A bounce is a delivery report (RFC 3464) or a failure notice from MAILER-DAEMON/postmaster. An
auto-reply is marked so in its headers (RFC 3834 `Auto-Submitted`, the older `X-Autoreply`
family, `Precedence`, Exchange's inbox-rules loop marker) or says so in its subject, in the
words Outlook, Gmail and Notes use across European languages. `X-Auto-Response-Suppress` on
an incoming mail means nothing here: real Outlook replies carry it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Literal

from bot.plans.timescale import find_dates

__all__ = ["CLASSIFYING_HEADERS", "DAEMONS", "away_until", "classify", "failed_recipients"]

Kind = Literal["reply", "auto-reply", "bounce"]

DAEMONS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}
_FAILURE_SUBJECT = re.compile(
    r"undeliverable|undelivered|delivery\s+status\s+notification\s*\(failure\)"
    r"|mail\s+delivery\s+(?:failed|failure|system)|returned\s+mail|delivery\s+failure"
    r"|failure\s+notice|could\s+not\s+be\s+delivered|non[\s-]*delivery",
    re.I,
)
_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Autoresponder")
_BULK_PRECEDENCE = {"bulk", "junk", "auto_reply", "auto-reply"}
# The headers `classify` reads (lowercased): decoding every header of a mail costs more than
# the rest of reading it, so the parser hands over only these.
CLASSIFYING_HEADERS = frozenset(
    {"auto-submitted", "precedence", "x-ms-exchange-inbox-rules-loop"}
    | {h.lower() for h in _AUTO_HEADERS}
)
# Subject openings of auto-replies; "[EXTERNAL]"-style tags a gateway adds may come first.
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:\[[^\]]*\]\s*)*(?:"
    r"automatic\s+reply|auto(?:matic)?[\s-]*(?:reply|response|responder|answer)|auto\s*:"
    r"|out\s+of\s+(?:the\s+)?office|ooo\s*:|away\s+from\s+(?:the\s+)?office"
    r"|abwesenheitsnotiz|automatische\s+antwort|abwesenheit\b"
    r"|r[ée]ponse\s+automatique|absent(?:e)?\s+du\s+bureau|absence\s+du\s+bureau"
    r"|respuesta\s+autom[áa]tica|fuera\s+de\s+(?:la\s+)?oficina"
    r"|risposta\s+automatica|fuori\s+(?:sede|ufficio)"
    r"|automatisch\s+antwoord|afwezigheidsbericht"
    r"|resposta\s+autom[áa]tica|fora\s+do\s+escrit[óo]rio"
    r"|automatiskt\s+svar|automatisk\s+svar|autosvar|automaattinen\s+vastaus"
    r"|automatyczna\s+odpowied[źz]|automatick[áa]\s+odpov[ěe][ďd]"
    r")",
    re.I,
)

# Words that put the date after them as the day the lead is back: "back on Monday 12
# November", "returning 3/12/2018", "until 5th December", "bis zum 16.11.2018".
_RETURN_WORD = re.compile(
    r"(?<![a-z])(?:back|return(?:ing|s)?|until|till|'til|resum(?:e|ing)|reopen(?:s|ing)?"
    r"|available\s+(?:again\s+)?(?:on|from)|in\s+the\s+office\s+(?:on|from)"
    r"|bis|zur[üu]ck|jusqu['’]?(?:au|à)|retour|hasta|fino\s+al|tot(?:\s+en\s+met)?|terug)"
    r"(?![a-z])[^.!?\n]{0,30}$",
    re.I,
)
# "from 5 November to 12 November", "from 5 to 12 November": the second date is the last day.
_TO_AFTER_DATE = re.compile(r"^\s*(?:to|until|till|-|–|—)\s*$", re.I)
_TO_AFTER_DAY = re.compile(
    r"(?<![0-9])[0-3]?[0-9](?:st|nd|rd|th)?\s*(?:to|until|till|-|–|—)\s*$", re.I
)
_YEAR_WRITTEN = re.compile(r"(?<![0-9])[0-9]{4}(?![0-9])|/[0-9]{2}(?![0-9])")

_ADDRESS = re.compile(
    r"(?<![A-Za-z0-9._%+'=-])[A-Za-z0-9._%+'=-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
)
# Where a bounce's own words stop and its copy of the original message begins.
_COPY_STARTS = re.compile(
    r"^(?:[-\s]*(?:this\s+is\s+a\s+copy\s+of|original\s+message|undelivered\s+message|"
    r"text\s+of\s+the\s+returned|returned\s+message|message\s+headers)|received:|return-path:"
    r"|reporting-mta:)",
    re.I | re.M,
)


def classify(
    headers: Mapping[str, str],
    *,
    sender: str | None,
    subject: str,
    report_type: str | None,
    report_actions: Sequence[str] = (),
) -> tuple[Kind, str | None]:
    """(kind, why): why names the signal that decided, e.g. "Auto-Submitted: auto-replied".

    A delivery report whose recipients were all only delayed (or delivered) is no bounce: the
    mail may still arrive, so it is an auto-reply.
    """
    h = {k.lower(): (k, v) for k, v in headers.items()}
    if report_type == "delivery-status":
        actions = {a.strip().lower().split()[0] for a in report_actions if a.strip()}
        if actions and not actions & {"failed"}:
            return "auto-reply", f"multipart/report delivery-status ({', '.join(sorted(actions))})"
        return "bounce", "multipart/report delivery-status"
    localpart = (sender or "").rpartition("@")[0] or (sender or "")
    if localpart.lower() in DAEMONS and _FAILURE_SUBJECT.search(subject):
        return "bounce", f"From {sender} with subject '{subject}'"
    if report_type == "disposition-notification":  # a read receipt
        return "auto-reply", "multipart/report disposition-notification"
    if "auto-submitted" in h:
        name, value = h["auto-submitted"]
        if value.strip().lower().split(";")[0].strip() not in ("no", ""):
            return "auto-reply", f"{name}: {value.strip()}"
    for header in _AUTO_HEADERS:
        if header.lower() in h:
            name, value = h[header.lower()]
            return "auto-reply", f"{name}: {value.strip()}".rstrip(": ")
    if "precedence" in h:
        name, value = h["precedence"]
        if value.strip().lower() in _BULK_PRECEDENCE:
            return "auto-reply", f"{name}: {value.strip()}"
    if "x-ms-exchange-inbox-rules-loop" in h:
        name, value = h["x-ms-exchange-inbox-rules-loop"]
        return "auto-reply", f"{name}: {value.strip()}"
    if _AUTO_SUBJECT.match(subject):
        return "auto-reply", f"subject '{subject}'"
    return "reply", None


def away_until(text: str, *, year: int | None, sent_on: date | None) -> date | None:
    """The first day-precise date the text gives as the end of the absence. A date written
    without a year takes `year`, and the next year if that would put it before `sent_on`
    (an auto-reply of 20 December saying "back on 3rd January")."""
    mentions = find_dates(text, default_year=year)
    for i, mention in enumerate(mentions):
        if mention.date.precision != "day":
            continue
        before = text[: mention.start]
        after_date = i > 0 and _TO_AFTER_DATE.match(text[mentions[i - 1].end : mention.start])
        if not (_RETURN_WORD.search(before[-60:]) or after_date or _TO_AFTER_DAY.search(before)):
            continue
        found = mention.date.first_day()
        if sent_on and found < sent_on and not _YEAR_WRITTEN.search(mention.text):
            found = _next_year(found)
        return found
    return None


def _next_year(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 1, day=28) + timedelta(days=1)


def failed_recipients(
    blocks: Sequence[Mapping[str, str]],
    text: str,
    *,
    listed: Sequence[str] = (),
    ignore: Iterable[str] = (),
) -> tuple[str, ...]:
    """From a delivery report's per-recipient blocks (Original-Recipient, then Final-Recipient,
    where the Action is "failed" or missing); else the addresses `listed` in Exim's
    X-Failed-Recipients; else those in the bounce's own text before its copy of the message,
    leaving out `ignore` (the bounce's own sender and recipients) and mailer daemons."""
    skip = {a.lower() for a in ignore}
    found: list[str] = []
    for block in blocks:
        action = block.get("action", "").strip().lower()
        if action and not action.startswith("failed"):
            continue
        for field in ("original-recipient", "final-recipient"):
            address = _report_address(block.get(field, ""))
            if address:
                found.append(address)
    if not blocks:
        found.extend(a.strip().lower() for a in listed if _ADDRESS.fullmatch(a.strip()))
    if not blocks and not found:
        copy = _COPY_STARTS.search(text)
        own_words = text[: copy.start()] if copy else text
        for m in _ADDRESS.finditer(own_words):
            address = m.group().strip(".").lower()
            if address not in skip and address.partition("@")[0] not in DAEMONS:
                found.append(address)
    return tuple(dict.fromkeys(found))


def _report_address(value: str) -> str | None:
    """ "rfc822; tracey@example.org" -> "tracey@example.org"."""
    kind, _, address = value.partition(";")
    if not address:
        address = kind
    elif kind.strip().lower() != "rfc822":
        return None
    address = address.strip().strip("<>").strip().lower()
    return address if _ADDRESS.fullmatch(address) else None
