"""The lead's new words in a reply: quoted history, signature, "Sent from my iPhone" and the
corporate disclaimer cut off; the lead's paragraphs, line breaks and sign-off ("Thanks,
Tracey") kept as written. An HTML-only message is made text first (`html_to_text`).

Where the quoted history starts is found with mail-parser-reply's header patterns: attribution
lines ("On ... wrote:", "Le ... a écrit :", "Am ... schrieb ...:") and the "From: / Sent:"
block Outlook writes (also "**From:**" from HTML, "Von: / Gesendet:", "De : / Envoyé :") and
"-----Original Message-----". Its splitting and cleaning are not used, as checked with 1.36:
it hands back the quoted message itself when nothing was written above the quote; its
signature rules cut from "Thanks," or "Kind regards" and from any line starting "- ", which
drops a lead's sign-off and bullet lists; its disclaimer rules miss "This email and any
attachments", "CONFIDENTIALITY NOTICE" and "The information contained in this e-mail"; it
keeps lines quoted with ">" unless an attribution line comes first; and its Spanish pattern
never matches. So the rules here are: drop ">" lines, cut at the first history header (the
library's) or attribution (ours, also when wrapped onto a second line), at a "-- " line and
at a disclaimer, and drop "Sent from my iPhone"-style lines.
"""

from __future__ import annotations

import re

import html2text
from mailparser_reply.parser import EmailMessage

__all__ = ["html_to_text", "new_text"]

# Languages whose attribution lines and header blocks mark the start of the history.
_LANGUAGES = ["en", "de", "fr", "es", "it", "nl"]
_HISTORY = EmailMessage(text="", languages=list(_LANGUAGES)).HEADER_REGEX

# html2text escapes Markdown characters ("1\. ", "\- "); a progress entry wants them as written.
_MARKDOWN_ESCAPE = re.compile(r"\\([-+.\\`*_{}\[\]()#!])")
_MAX_CHARS = 200_000
# Lines too long to be a header line (or an attribution line, which starts with a word such
# as "On" and fits on 250 characters).
_LONG_LINE = re.compile(
    r"^(?:[^\n]{2000,}|(?:> ?)*(?:on|am|le|el|il|op|dne|den|w|på|el)\b[^\n]{250,})$", re.I | re.M
)
_QUOTED = re.compile(r"^[ \t]*>.*(?:\n|$)", re.M)
# An attribution line, maybe wrapped by the sender's client, with a date or time in it:
#   On Mon, 12 Nov 2018 at 09:05, actionbot <
#   updates+token@example.org> wrote:
_ATTRIBUTION = re.compile(
    r"^(?:on|le|am|el|il|op)\s(?=[^\n]*\d)[^\n]{4,200}(?:\n[^\n]{0,120}?)?"
    r"(?:wrote|a\s+écrit|schrieb[^\n]{0,80}|escribió|ha\s+scritto|schreef)\s*:[ \t]*$",
    re.I | re.M,
)
_SIGNATURE_LINE = re.compile(r"^--[ \t]*$", re.M)
_SENT_FROM = re.compile(
    r"^[ \t]*(?:sent\s+from\s+(?:my\s+[\w .'-]{2,40}|outlook(?:\s+for\s+\w+)?|mail\s+for\s+windows"
    r"(?:\s+\d+)?|yahoo\s+mail[\w .-]{0,30}|samsung[\w .-]{0,30})|get\s+outlook\s+for\s+\w+"
    r"|von\s+meinem\s+[\w .-]{2,30}\s+gesendet|envoyé\s+de\s+mon\s+[\w .-]{2,30})"
    r"[ \t]*(?:<[^>\n]*>)?[ \t]*(?:\n|$)",
    re.I | re.M,
)
_DISCLAIMER = re.compile(
    r"^[ \t*_]*(?:"
    r"this\s+e-?mail\s+and\s+any\s+(?:attachments?|files)"
    r"|this\s+(?:e-?mail|message|communication)(?:\s+and\s+any\s+attachments?)?"
    r"\s+(?:is|are|may\s+be|contains?)\s+(?:strictly\s+)?(?:confidential|private|privileged"
    r"|intended|information)"
    r"|confidentiality\s+notice|confidentiality\s*:"
    r"|the\s+information\s+(?:contained\s+)?in\s+this\s+(?:e-?mail|message|communication"
    r"|transmission)"
    r"|disclaimer\s*:|\**disclaimer\**\s*$"
    r"|important\s*:?\s+this\s+e-?mail)",
    re.I | re.M,
)
# What is left at the end once the history is cut: Outlook's "____" line, an <hr> as "* * *".
_RULE_LINE = re.compile(r"[_\-=]{5,}|(?:\*[ \t]*){3,}")
_BLANK_RUN = re.compile(r"\n{3,}")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Outlook's plain-text stand-in for an image in its HTML: "[cid:image001.png@01D480E6.5A3B2C10]".
_CID = re.compile(r"\[cid:[^\]\n]*\][ \t]*")


def new_text(body: str) -> str:
    """The new text of a plain-text (or HTML-converted) body, stripped; "" if nothing. Only the
    first 200,000 characters are read: no update is longer, and the rules stay quick."""
    text = _normalise(body[:_MAX_CHARS])
    text = _QUOTED.sub("", text)
    text = _cut_at_history(text)
    text = _cut(text, _SIGNATURE_LINE.search(text))
    text = _SENT_FROM.sub("", text)
    text = _cut(text, _DISCLAIMER.search(text))
    return _BLANK_RUN.sub("\n\n", _drop_trailing_rules(text)).strip()


def _normalise(body: str) -> str:
    text = body.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = _CID.sub("", _INVISIBLE.sub("", text))
    return "\n".join(line.rstrip() for line in text.split("\n"))


def _cut_at_history(text: str) -> str:
    starts = [m.start() for m in (_HISTORY.search(_masked(text)), _ATTRIBUTION.search(text)) if m]
    # The library's patterns may begin at the newline before the header line.
    return text[: min(starts)] if starts else text


def _masked(text: str) -> str:
    """The text with lines no header could be blanked out, offsets unchanged: the library's
    attribution patterns take time growing with the square of a line's length."""
    return _LONG_LINE.sub(lambda m: "\n" * len(m.group()), text)


def _drop_trailing_rules(text: str) -> str:
    lines = text.split("\n")
    while lines and (not lines[-1].strip() or _RULE_LINE.fullmatch(lines[-1].strip())):
        lines.pop()
    return "\n".join(lines)


def _cut(text: str, match: re.Match[str] | None) -> str:
    return text[: match.start()] if match else text


def html_to_text(html: str) -> str:
    """Plain text as a person would read the HTML: no wrapping, no images, no link targets."""
    converter = html2text.HTML2Text(bodywidth=0)
    converter.ignore_images = True
    converter.ignore_links = True
    converter.ignore_mailto_links = True
    converter.ignore_tables = True
    converter.ignore_emphasis = True  # "**Tracey Anstis**" is a signature, not Markdown
    converter.unicode_snob = True  # "£" and "é" as written, not "GBP" and "e"
    converter.single_line_break = True  # Outlook writes one <p> per line
    text = str(converter.handle(html))
    return _MARKDOWN_ESCAPE.sub(r"\1", text)
