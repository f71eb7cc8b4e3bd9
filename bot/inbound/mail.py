"""One raw RFC 822 reply -> a `ParsedMail`: who sent it to which address, what it answers, what
kind of mail it is, and the lead's new words with the quoted history cut off.

Pure: no database, no network, no clock. `parse_mail` never raises, whatever the bytes: mail
comes from anyone, and one broken message must not stop a mailbox from being read. A header
that cannot be parsed is read raw, a part that cannot be decoded is skipped, and an unknown
charset falls back to UTF-8 (then Windows-1252, which is what "iso-8859-1" usually means).

Where the pieces live: `autoreply` says reply, auto-reply or bounce (and reads a return date or
the failed addresses), `clean` turns HTML into text and cuts quotes, signatures and
disclaimers, `sections` splits a reply about several actions.
"""

from __future__ import annotations

import codecs
import email
import email.header
import email.policy
import email.utils
import functools
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import Message
from typing import Any, Literal, TypeVar

from bot.inbound.autoreply import CLASSIFYING_HEADERS, away_until, classify, failed_recipients
from bot.inbound.autoreply import DAEMONS as _DAEMONS
from bot.inbound.clean import html_to_text, new_text

__all__ = ["MailKind", "ParsedMail", "parse_mail"]

log = logging.getLogger(__name__)

MailKind = Literal["reply", "auto-reply", "bounce"]

# Headers naming where the mail was delivered, in the order `recipients` lists them.
_RECIPIENT_HEADERS = ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To")
_RECIPIENT_FIELDS = {"final-recipient", "original-recipient"}
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
# Nested multiparts deeper than this are a crafted message, not a reply.
_MAX_DEPTH = 20
# Charsets that senders declare for text that is really Windows-1252 (curly quotes, the euro).
_LATIN_1 = {"latin_1", "iso8859_1", "ascii"}
_UTF_8 = {"utf_8"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_MANY_BLANK_LINES = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")

T = TypeVar("T")


class _RememberedHeaders(HeaderRegistry):
    """policy.default's header classes, each (name, value) parsed once. The email package
    parses a header again on every read (Content-Type a dozen times a message, by the parser
    itself and by every part's content-type, charset and filename), and most mail carries the
    same few Content-Type values: this was most of the cost of reading a reply. Parsed headers
    are immutable, so one can serve every read; a long value is parsed afresh each time, so
    what is remembered stays small whatever arrives."""

    def __call__(self, name: str, value: str) -> BaseHeader:
        if len(value) > _LONGEST_REMEMBERED:
            return super().__call__(name, value)  # type: ignore[no-any-return]
        return self._remembered(name, value)

    @functools.cached_property
    def _remembered(self) -> Callable[[str, str], BaseHeader]:
        return functools.lru_cache(maxsize=2048)(super().__call__)


_LONGEST_REMEMBERED = 1000
_POLICY = email.policy.default.clone(header_factory=_RememberedHeaders())


@dataclass(frozen=True)
class ParsedMail:
    message_id: str | None  # "<...@...>" as in the header; None if absent
    sender: str | None  # From address, lowercased addr-spec
    sender_name: str | None
    recipients: tuple[str, ...]  # To, Cc, Delivered-To, X-Original-To, Envelope-To, lowercased
    references: tuple[str, ...]  # In-Reply-To then References, "<...>" form, deduplicated
    subject: str  # decoded, whitespace collapsed
    sent_at: datetime | None  # Date header, timezone-aware
    kind: MailKind
    why: str | None  # for an auto-reply or bounce: the signal that said so
    away_until: date | None  # for an auto-reply: the return date its text gives
    bounced: tuple[str, ...]  # for a bounce: the addresses that failed
    text: str  # the new text only: no quoted history, signature or disclaimer
    attachments: tuple[str, ...]  # file names of attachments (not inline body parts)


def parse_mail(raw: bytes) -> ParsedMail:
    """Best effort, never an exception: a message that cannot be read at all comes back as a
    reply with no headers and no text."""
    try:
        msg = email.message_from_bytes(bytes(raw), policy=_POLICY)
        return _parse(msg)
    except Exception:  # the stdlib parser's failure modes are many and undocumented
        log.warning("unreadable message (%d bytes)", len(raw) if raw else 0, exc_info=True)
        return ParsedMail(None, None, None, (), (), "", None, "reply", None, None, (), "", ())


def _parse(msg: Message) -> ParsedMail:
    sender_name, sender = _first_address(msg, "From")
    recipients = _unique(addr for h in _RECIPIENT_HEADERS for _, addr in _addresses(msg, h))
    subject = " ".join(_header(msg, "Subject").split())
    sent_at = _guard(lambda: _date(_header(msg, "Date")), None)
    body = _guard(lambda: _body_text(msg), "")
    text = _guard(lambda: new_text(body), body.strip())
    headers = {
        name: _header(msg, name)
        for name in _named_headers(msg)
        if name.lower() in CLASSIFYING_HEADERS
    }
    report_type = _guard(lambda: _report_type(msg), None)
    no_blocks: list[dict[str, str]] = []
    blocks = _guard(lambda: _status_blocks(msg), no_blocks) if report_type else no_blocks
    kind, why = classify(
        headers,
        sender=sender,
        subject=subject,
        report_type=report_type,
        report_actions=[b["action"] for b in blocks if "action" in b],
    )
    until = None
    if kind == "auto-reply":
        year = sent_at.year if sent_at else None
        sent_on = sent_at.date() if sent_at else None
        until = _guard(lambda: away_until(text, year=year, sent_on=sent_on), None)
    bounced: tuple[str, ...] = ()
    if kind == "bounce":
        ours = {a for a in (*recipients, sender) if a}
        recipient_blocks = [b for b in blocks if _RECIPIENT_FIELDS & b.keys()]
        listed = [a for _, a in _addresses(msg, "X-Failed-Recipients")]
        bounced = _guard(
            lambda: failed_recipients(recipient_blocks, body, listed=listed, ignore=ours), ()
        )
    return ParsedMail(
        message_id=_message_id(_header(msg, "Message-ID")),
        sender=sender,
        sender_name=sender_name,
        recipients=recipients,
        references=_unique(
            _MESSAGE_ID.findall(_header(msg, "In-Reply-To"))
            + [i for v in _headers(msg, "References") for i in _MESSAGE_ID.findall(v)]
        ),
        subject=subject,
        sent_at=sent_at,
        kind=kind,
        why=why,
        away_until=until,
        bounced=bounced,
        text=text,
        attachments=tuple(_guard(lambda: list(_attachment_names(msg)), [])),
    )


def _guard(read: Callable[[], T], default: T) -> T:
    """`read()`, or `default` when a malformed message makes the email package raise."""
    try:
        return read()
    except Exception:  # any parser error: this field is lost, the rest of the mail is not
        log.debug("unreadable part of a message", exc_info=True)
        return default


def _unique(items: Iterator[str] | list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(i for i in items if i))


# --- headers --------------------------------------------------------------------------------


def _clean_str(value: str) -> str:
    """Raw 8-bit header bytes arrive as surrogate escapes: read them as UTF-8, else cp1252.
    Control characters go (PostgreSQL refuses NUL in text)."""
    try:
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = value.encode("utf-8", "replace")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", "replace")
    return _CONTROL.sub("", text)


def _headers(msg: Message, name: str) -> list[str]:
    """Every value of a header, decoded; one the parser chokes on is decoded by hand."""
    try:
        return [_clean_str(str(v)) for v in msg.get_all(name) or []]
    except Exception:  # a malformed header raises on access under policy.default
        pass
    values: list[str] = []
    try:
        raw_items = [(str(k), str(v)) for k, v in msg.raw_items()]
    except Exception:  # nothing more to be had from this message's headers
        return values
    for key, value in raw_items:
        if key.lower() == name.lower():
            try:
                value = _decode_words(value)
            except Exception:  # encoded words the decoder refuses: keep them as written
                pass
            values.append(_clean_str(value))
    return values


def _decode_words(value: str) -> str:
    return str(email.header.make_header(email.header.decode_header(value)))


def _header(msg: Message, name: str) -> str:
    values = _headers(msg, name)
    return values[0] if values else ""


def _named_headers(msg: Message) -> set[str]:
    try:
        return {str(key) for key in msg.keys()}
    except Exception:  # a message whose header list cannot be read has none for us
        return set()


def _addresses(msg: Message, name: str) -> list[tuple[str, str]]:
    """(display name, lowercased addr-spec) for each address in every `name` header."""
    found: list[tuple[str, str]] = []
    try:
        headers: list[Any] = msg.get_all(name) or []
        for header in headers:
            for address in header.addresses:  # policy.default's address headers
                found.append((_clean_str(address.display_name), _clean_str(address.addr_spec)))
    except Exception:  # not an address header (Delivered-To), or one the parser refused
        found = [(n, a) for n, a in email.utils.getaddresses(_headers(msg, name))]
    result = []
    for display_name, addr in found:
        addr = addr.strip().strip("<>").lower()
        if _looks_like_address(addr):
            result.append((" ".join(display_name.split()), addr))
    return result


def _looks_like_address(addr: str) -> bool:
    """local@domain; a bare local part only for the daemons ("From: MAILER-DAEMON")."""
    if not addr or any(c.isspace() or c in "<>()," for c in addr):
        return False
    local, at, domain = addr.rpartition("@")
    return bool(local and at and domain) or addr in _DAEMONS


def _first_address(msg: Message, name: str) -> tuple[str | None, str | None]:
    addresses = _addresses(msg, name)
    if not addresses:
        return None, None
    display_name, addr = addresses[0]
    return display_name or None, addr


def _message_id(value: str) -> str | None:
    found = _MESSAGE_ID.search(value)
    if found:
        return found.group()
    return value.strip() or None


def _date(value: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    # "-0000" means "UTC, local zone unknown", which parsedate_to_datetime leaves naive.
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when


# --- MIME structure -------------------------------------------------------------------------


def _content_type(part: Message) -> str:
    return _guard(lambda: part.get_content_type().lower(), "application/octet-stream")


def _children(part: Message) -> list[Message]:
    payload = _guard(part.get_payload, None)
    if not isinstance(payload, list):
        return []
    return [p for p in payload if isinstance(p, Message)]


def _leaves(part: Message, depth: int = 0) -> Iterator[Message]:
    """Every non-multipart part; a forwarded message (message/rfc822) is one leaf."""
    if depth > _MAX_DEPTH:
        return
    if _content_type(part).startswith("multipart/"):
        for child in _children(part):
            yield from _leaves(child, depth + 1)
    else:
        yield part


def _filename(part: Message) -> str | None:
    name = _guard(part.get_filename, None)
    if not isinstance(name, str):
        return None
    return " ".join(_clean_str(name).split()) or None


def _is_attachment(part: Message) -> bool:
    """Sent as a file: marked as an attachment, or named and not an image the HTML shows
    (those carry a Content-ID). Apple Mail marks attached PDFs "inline", so a name counts."""
    if _guard(part.get_content_disposition, None) == "attachment":
        return True
    return _filename(part) is not None and not _header(part, "Content-ID")


def _attachment_names(msg: Message) -> Iterator[str]:
    for part in _leaves(msg):
        name = _filename(part)
        if name and _is_attachment(part):
            yield name


def _report_type(msg: Message) -> str | None:
    """The report-type of a multipart/report (delivery-status, disposition-notification)."""
    if _content_type(msg) != "multipart/report":
        return None
    value = msg.get_param("report-type")
    if isinstance(value, tuple):
        value = email.utils.collapse_rfc2231_value(value)
    return str(value).strip().lower() if value else None


def _status_blocks(msg: Message) -> list[dict[str, str]]:
    """The field blocks of each message/delivery-status part: per message, then per recipient."""
    blocks: list[dict[str, str]] = []
    for part in _leaves(msg):
        if _content_type(part) != "message/delivery-status":
            continue
        for block in _children(part):
            blocks.append({k.lower(): _header(block, k) for k in _named_headers(block)})
        if not _children(part):  # a parser that left it as text: split it ourselves
            blocks.extend(_blocks_from_text(_decoded(part)))
    return blocks


def _blocks_from_text(text: str) -> list[dict[str, str]]:
    blocks = []
    for chunk in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        fields = dict(
            (m[1].lower(), m[2].strip())
            for m in re.finditer(r"^([A-Za-z-]+):[ \t]*(.*)$", chunk, re.M)
        )
        if fields:
            blocks.append(fields)
    return blocks


# --- bodies ---------------------------------------------------------------------------------


def _decode_bytes(data: bytes, declared: str | None) -> str:
    """The declared charset if it decodes cleanly; else UTF-8; else Windows-1252."""
    charset = _codec_name(declared)
    if charset is not None and charset not in _UTF_8 | _LATIN_1:
        try:
            return data.decode(charset)
        except (UnicodeDecodeError, LookupError):
            pass
    if charset in _LATIN_1:
        # "iso-8859-1" mail from Windows holds cp1252's curly quotes in 0x80-0x9f.
        return data.decode("cp1252", "replace") if _has_c1(data) else data.decode("latin-1")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if charset is not None and charset not in _UTF_8:
        return data.decode(charset, "replace")
    return data.decode("cp1252", "replace")


def _has_c1(data: bytes) -> bool:
    return any(0x80 <= b <= 0x9F for b in data)


def _codec_name(declared: str | None) -> str | None:
    if not declared:
        return None
    try:
        info = codecs.lookup(declared.strip().strip("\"'"))
    except (LookupError, ValueError, TypeError):
        return None
    if not getattr(info, "_is_text_encoding", True):  # "base64", "rot13": not charsets
        return None
    return info.name.replace("-", "_")


def _decoded(part: Message) -> str:
    data: Any = _guard(lambda: part.get_payload(decode=True), None)
    if not isinstance(data, bytes):
        payload: Any = _guard(lambda: part.get_payload(), None)
        return _clean_str(payload) if isinstance(payload, str) else ""
    charset: str | None = _guard(lambda: part.get_content_charset(), None)
    return _decode_bytes(data, charset)


def _body_parts(part: Message, depth: int = 0) -> list[tuple[str, Message]]:
    """The parts a person reads as the message, with "plain" or "html": one alternative of a
    multipart/alternative (plain text when there is one), every body part of a mixed one."""
    if depth > _MAX_DEPTH:
        return []
    ctype = _content_type(part)
    if ctype.startswith("multipart/"):
        options = [_body_parts(child, depth + 1) for child in _children(part)]
        options = [o for o in options if o]
        if ctype == "multipart/alternative":
            plain = [o for o in options if all(kind == "plain" for kind, _ in o)]
            return (plain or options or [[]])[0]
        return [p for option in options for p in option]
    if _is_attachment(part):
        return []
    if ctype == "text/plain":
        return [("plain", part)]
    if ctype == "text/html":
        return [("html", part)]
    return []


def _body_text(msg: Message) -> str:
    texts = []
    for kind, part in _body_parts(msg):
        text = _decoded(part)
        texts.append(html_to_text(text) if kind == "html" else text)
    text = "\n\n".join(t.replace("\r\n", "\n").replace("\r", "\n") for t in texts)
    return _MANY_BLANK_LINES.sub("\n\n", text)
