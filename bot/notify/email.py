"""E-mail out: building a message from its rendered parts, and the transports that deliver it.

Two transports share one small interface (`Transport.send_batch`): `SmtpTransport` speaks to a
real mail server over one connection per batch, and `OutboxDirTransport` writes ``.eml`` files
a person can open in a mail client, for demos and for a dry run before real addresses are
trusted. `MemoryTransport` keeps messages in a list for unit tests of whatever sends them.
Messages read back from the outbox arrive as `StoredEmail`: the bytes built when the message was
decided, sent as they are, with only their header block parsed (for the envelope, the log and a
file name), since parsing and flattening the whole message again costs more than sending it.

Each message gets a Message-ID made from its outbox key, so a retried send of the same outbox
row carries the same Message-ID, and a file outbox overwrites rather than duplicates. A batch
never stops at one bad message: every message gets its own `SendResult`, which says whether a
failure is worth retrying. Logs name the kind, the Message-ID and the recipients' domains, never
the subject or the body, since both carry case details.
"""

from __future__ import annotations

import base64
import email.policy
import hashlib
import logging
import os
import random
import re
import smtplib
import socket
import ssl
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email import _encoded_words  # type: ignore[attr-defined]  # the package's own encoder
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.parser import BytesHeaderParser
from email.utils import format_datetime, getaddresses, parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from bot.notify.content import Recipient
from bot.notify.render import Rendered

__all__ = [
    "MemoryTransport",
    "OutboxDirTransport",
    "SendResult",
    "SmtpConfig",
    "SmtpTransport",
    "StoredEmail",
    "Transport",
    "as_text",
    "build_email",
    "email_text",
    "make_message_id",
]

log = logging.getLogger(__name__)

KIND_HEADER = "X-Actionbot-Kind"
Security = Literal["starttls", "ssl", "none"]
SECURITY: tuple[Security, ...] = ("starttls", "ssl", "none")
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


# --- building ---------------------------------------------------------------------------------


# Headers are folded only past RFC 5322's hard limit, so a Message-ID stays on its own line
# and reads back exactly as it was written (a folded one comes back with a leading space).
POLICY = email.policy.default.clone(max_line_length=998)


def build_email(
    rendered: Rendered,
    *,
    kind: str,
    sender: str,
    recipients: Sequence[Recipient],
    reply_to: str | None,
    sent_at: datetime,
    message_id: str,
    in_reply_to: str | None = None,
) -> EmailMessage:
    """A multipart/alternative message (text, then HTML) marked as sent by a machine.

    `sent_at` becomes the Date header, so a demo run "as of" a past day dates its mail that day.
    Recipients without an e-mail address are skipped (Slack reaches them); if none has one, the
    message cannot be built.
    """
    if sent_at.tzinfo is None or sent_at.utcoffset() is None:
        raise ValueError("sent_at needs a time zone, or the Date header would be ambiguous")
    to = [Address(display_name=r.name, addr_spec=r.email) for r in recipients if r.email]
    if not to:
        names = ", ".join(r.name for r in recipients) or "nobody"
        raise ValueError(f"no e-mail address for any recipient ({names})")

    msg = EmailMessage(policy=POLICY)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(sent_at)
    msg["Message-ID"] = message_id
    if reply_to:
        msg["Reply-To"] = reply_to
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    # RFC 3834: tells vacation responders and ticket systems not to answer automatically.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg[KIND_HEADER] = kind
    msg.set_content(rendered.text, subtype="plain", charset="utf-8")
    msg.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return msg


# How the outbox stores a message: CRLF line ends and 7-bit text (bodies beyond ASCII in base64),
# so the stored text can go to any SMTP server as it is.
STORED = email.policy.SMTP.clone(max_line_length=998)


def as_text(msg: EmailMessage) -> str:
    """A built message as the outbox stores it."""
    return msg.as_string(policy=STORED)


def email_text(
    rendered: Rendered,
    *,
    kind: str,
    sender: str,
    recipients: Sequence[Recipient],
    reply_to: str | None,
    sent_at: datetime,
    message_id: str,
    in_reply_to: str | None = None,
) -> str:
    """`as_text(build_email(...))`, the same text (but for the random MIME boundary), written
    directly when the addresses are plain ones, as a reminder's are.

    Building a message with the email package and flattening it again costs several
    milliseconds, far more than sending it; the structure of ours is fixed (two parts, text
    and HTML), so it is written out here and only what needs encoding (a subject beyond ASCII,
    say) is left to the package's folding. Anything out of the ordinary (a display name that
    needs quoting or encoding, an unusual address) is built by `build_email` instead.
    tests/test_email.py checks both give the same text.
    """
    plain = _plain_addresses(sender, recipients, reply_to, message_id)
    text, html = _body(rendered.text), _body(rendered.html)
    if (
        plain is None
        or sent_at.tzinfo is None
        or sent_at.utcoffset() is None
        or text is None
        or html is None
        or not _PLAIN.fullmatch(kind)
    ):
        return as_text(
            build_email(
                rendered,
                kind=kind,
                sender=sender,
                recipients=recipients,
                reply_to=reply_to,
                sent_at=sent_at,
                message_id=message_id,
                in_reply_to=in_reply_to,
            )
        )
    headers = [
        ("From", sender),
        ("To", plain),
        ("Subject", rendered.subject),
        ("Date", format_datetime(sent_at)),
        ("Message-ID", message_id),
    ]
    if reply_to:
        headers.append(("Reply-To", reply_to))
    if in_reply_to:
        headers += [("In-Reply-To", in_reply_to), ("References", in_reply_to)]
    headers += [
        ("Auto-Submitted", "auto-generated"),
        ("X-Auto-Response-Suppress", "All"),
        (KIND_HEADER, kind),
        ("MIME-Version", "1.0"),
    ]
    boundary = _boundary(text[1] + html[1])
    out = [_header(name, value) for name, value in headers]
    out.append(f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n')
    for n, (subtype, (cte, body)) in enumerate((("plain", text), ("html", html))):
        out.append(f"--{boundary}\r\n")
        out.append(f'Content-Type: text/{subtype}; charset="utf-8"\r\n')
        out.append(f"Content-Transfer-Encoding: {cte}\r\n")
        if n:  # the package's add_alternative gives the second part one of its own
            out.append("MIME-Version: 1.0\r\n")
        out.append("\r\n")
        out.append(body)
        out.append("\r\n")
    out.append(f"--{boundary}--\r\n")
    return "".join(out)


_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_NAME = re.compile(rf"{_ATEXT}+(?: {_ATEXT}+)*")
_ADDRESS = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")
_MAILBOX = re.compile(rf"(?:{_NAME.pattern} <{_ADDRESS.pattern}>|{_ADDRESS.pattern})")
_MAILBOX_PARTS = re.compile(rf"({_NAME.pattern}) <({_ADDRESS.pattern})>|({_ADDRESS.pattern})")
_MESSAGE_ID = re.compile(r"<[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+>")
_PLAIN = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*")  # printable ASCII, single spaces
_LONGEST = 998  # RFC 5322's limit on a line, as POLICY sets it


def _plain_addresses(
    sender: str, recipients: Sequence[Recipient], reply_to: str | None, message_id: str
) -> str | None:
    """The To header when every address is one the package writes as given; else None."""
    to = []
    for r in recipients:
        if not r.email:
            continue
        if not _ADDRESS.fullmatch(r.email) or not (r.name == "" or _NAME.fullmatch(r.name)):
            return None
        to.append(f"{r.name} <{r.email}>" if r.name else r.email)
    if not to or not _MAILBOX.fullmatch(sender) or not _MESSAGE_ID.fullmatch(message_id):
        return None
    if reply_to and not _ADDRESS.fullmatch(reply_to):
        return None
    joined = ", ".join(to)
    return joined if len(joined) + 4 <= _LONGEST else None


def _header(name: str, value: str) -> str:
    if len(name) + 2 + len(value) <= _LONGEST and "=?" not in value and _PLAIN.fullmatch(value):
        return f"{name}: {value}\r\n"
    return _one_encoded_word(name, value) or _folded(name, value)


def _folded(name: str, value: str) -> str:
    return str(STORED.header_factory(name, value).fold(policy=STORED))


def _one_encoded_word(name: str, value: str) -> str | None:
    """A short header whose only unusual characters are a few beyond ASCII ("Action 1.2 — Title
    — progress update needed"), as the package folds it, in a tenth of the time.

    The package writes the words before the first word beyond ASCII and after the last as they
    are, and everything from the first such word to the last as one encoded word (it merges
    each new one into the one before, with the plain words between). `_SHORT` keeps the whole
    header on one line whatever the encoding: at most 3 characters a byte, plus the encoded
    word's frame. At import this is checked against the package on examples, and not used if
    this Python's folding differs (tests/test_stored_email.py checks more).
    """
    if (
        not _ENCODED_WORD_SHORTCUT
        or value.isascii()
        or len(name) + 2 + _FRAME + 3 * len(value.encode("utf-8")) > _LONGEST
        or "=?" in value
        or not _SPACED.fullmatch(value)
    ):
        return None
    words = value.split(" ")
    beyond = [n for n, word in enumerate(words) if not word.isascii()]
    first, last = beyond[0], beyond[-1]
    head = "".join(word + " " for word in words[:first])
    tail = "".join(" " + word for word in words[last + 1 :])
    encoded = _encoded_words.encode(" ".join(words[first : last + 1]), charset="utf-8")
    return f"{name}: {head}{encoded}{tail}\r\n"


# Printable words (any script) between single spaces: what the package splits into plain words.
_SPACED = re.compile(r"[^\s\x00-\x1f\x7f-\x9f]+(?: [^\s\x00-\x1f\x7f-\x9f]+)*")
_FRAME = len("=?utf-8?q??=")
_ENCODED_WORD_SHORTCUT = True
_ENCODED_WORD_SHORTCUT = all(
    _one_encoded_word("Subject", value) == _folded("Subject", value)
    for value in (
        "Reminder 2: Action 1.2 — Improve data reporting — progress update needed",
        "Über die Maßnahme",
        "Action 3 “Zoë’s” review",
        "日本語 の 件名",
        "Plain start and end: é",
    )
)


def _body(text: str) -> tuple[str, str] | None:
    """(Content-Transfer-Encoding, body with CRLF line ends) as `set_content` and the stored
    policy make them: 7bit for ASCII, base64 (76 characters a line) otherwise. None for lines
    over the limit, where the package weighs quoted-printable against base64 itself."""
    lines = text.encode("utf-8").splitlines()
    if any(len(line) > _LONGEST for line in lines):
        return None
    data = b"\n".join(lines) + b"\n"
    if data.isascii():
        return "7bit", (b"\r\n".join(lines) + b"\r\n").decode("ascii")
    # 57 bytes to a line of 76 characters, as the package writes it
    return "base64", base64.encodebytes(data).replace(b"\n", b"\r\n").decode("ascii")


def _boundary(bodies: str) -> str:
    """As the package's generator makes one: random, and found in no body."""
    boundary = "=" * 15 + f"{random.randrange(2**63 - 1):019d}" + "=="
    candidate, n = boundary, 0
    while f"--{candidate}" in bodies:
        candidate, n = f"{boundary}.{n}", n + 1
    return candidate


def make_message_id(key: str, domain: str) -> str:
    """``<reminder-2019-06-03-p12-1a2b3c4d5e@domain>``: the same outbox key gives the same id.

    The readable part helps a person searching a mailbox; the hash keeps two keys apart when
    cleaning their characters would make them alike.
    """
    domain = domain.strip()
    if not domain or re.search(r"[\s<>@]", domain):
        raise ValueError(f"Message-ID domain must be a bare host name, got {domain!r}")
    if not key:
        raise ValueError("an outbox key is needed to make a Message-ID")
    # short enough that the header is not folded onto a second line
    readable = re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-")[:32].strip("-")
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:10]
    return f"<{readable}-{digest}@{domain}>" if readable else f"<{digest}@{domain}>"


# --- a message as the outbox stores it ---------------------------------------------------------


_HEADERS = BytesHeaderParser(policy=email.policy.compat32)


class StoredEmail:
    """A built message as bytes, with its header block parsed and its body left alone.

    `get`, `get_all` and `[]` read headers as the transports do on an `EmailMessage`; the
    values are the raw header text (encoded words stay encoded), which is all an envelope, a
    log line or a file name needs. `message()` parses the whole thing when something does need
    the parts.
    """

    __slots__ = ("data", "_headers")

    def __init__(self, data: bytes) -> None:
        self.data = data
        head, sep, _body = data.partition(b"\r\n\r\n")
        if not sep:
            head = data.partition(b"\n\n")[0]
        self._headers: Message = _HEADERS.parsebytes(head)

    @classmethod
    def from_text(cls, text: str) -> StoredEmail:
        return cls(text.encode("utf-8"))

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self._headers.get(name)
        return default if value is None else _unfold(value)

    def get_all(self, name: str, default: list[str] | None = None) -> list[str] | None:
        values = self._headers.get_all(name)
        return default if values is None else [_unfold(v) for v in values]

    def __getitem__(self, name: str) -> str | None:
        return self.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._headers

    def message(self) -> EmailMessage:
        """The whole message parsed, as `email.message_from_bytes` gives it."""
        return email.message_from_bytes(self.data, policy=POLICY)  # type: ignore[return-value]


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n(?=[ \t])", "", value).strip() if "\n" in value else value.strip()


Outgoing = EmailMessage | StoredEmail


# --- the transport interface ------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    """What became of one message. `permanent` failures must not be retried; others may be."""

    message_id: str
    ok: bool
    error: str | None = None
    permanent: bool = False
    refused: tuple[str, ...] = ()  # recipients refused while others accepted the message


OnResult = Callable[[int, SendResult], None]


class Transport(Protocol):
    """Sends a batch; `on_result(index, result)` is called once each message's fate is known,
    in order, and returns before the next message can be accepted, so the caller can record
    it first (a crash mid-batch then loses no record of what was already sent). It may be
    called on another thread (SmtpTransport: see _Held)."""

    def send_batch(
        self, messages: Sequence[Outgoing], on_result: OnResult | None = None
    ) -> list[SendResult]: ...


def _report(results: list[SendResult], result: SendResult, on_result: OnResult | None) -> None:
    results.append(result)
    if on_result is not None:
        on_result(len(results) - 1, result)


def _message_id(msg: Outgoing) -> str:
    return str(msg.get("Message-ID", "")).strip()


def _recipient_addresses(msg: Outgoing) -> list[str]:
    values = [str(v) for h in ("To", "Cc", "Bcc") for v in msg.get_all(h, []) or ()]
    return [addr for _, addr in _getaddresses(values) if addr]


def _getaddresses(values: list[str]) -> list[tuple[str, str]]:
    """`getaddresses(values)`, read directly when every value is one plain mailbox ("Kelly
    Cogger <kelly@example.org>" or a bare address), as ours are: the package's parser took
    longer per message than sending it. Anything else goes to the package as a whole, since
    it judges the values together."""
    found = []
    for value in values:
        plain = _MAILBOX_PARTS.fullmatch(value)
        if plain is None:
            return getaddresses(values)
        name, address, bare = plain.groups()
        found.append((name or "", address or bare))
    return found


def _domains(msg: Outgoing) -> str:
    return ",".join(sorted({a.rpartition("@")[2].lower() for a in _recipient_addresses(msg)}))


# --- SMTP -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int = 587
    security: Security = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    local_hostname: str | None = None  # the name given in EHLO; default: this machine's

    def __post_init__(self) -> None:
        if self.security not in SECURITY:
            raise ValueError(
                f"SMTP security must be one of {', '.join(SECURITY)}, got {self.security!r}"
            )
        if not 0 < self.port < 65536:
            raise ValueError(f"SMTP port must be 1-65535, got {self.port}")
        if self.username and self.security == "none" and self.host not in _LOOPBACK:
            raise ValueError(
                f"refusing to send the SMTP password to {self.host} unencrypted: "
                "use security 'starttls' or 'ssl'"
            )


class _ConnectFailed(Exception):
    """Opening, securing or logging in to the server failed; no message in the batch can go."""


class SmtpTransport:
    """Sends a batch over one SMTP connection, opened lazily and closed at the end.

    A 5xx reply to RCPT or DATA is permanent: that message will never go as it is. Everything
    else (4xx, a refused sender or login, a connection problem) is temporary, since fixing the
    server or the settings lets the same message go later.

    If the server drops the connection, the message in hand is retried once on a new
    connection. A drop after the server took the whole message but before it said so can
    deliver that message twice; the unchanged Message-ID lets mail systems that
    de-duplicate, and a reader, see it is the same message.
    """

    def __init__(self, config: SmtpConfig) -> None:
        self.config = config

    def send_batch(
        self, messages: Sequence[Outgoing], on_result: OnResult | None = None
    ) -> list[SendResult]:
        with self.session() as session:
            return session.send_batch(messages, on_result)

    @contextmanager
    def session(self) -> Iterator[SmtpSession]:
        """Batches sent through the session share one connection, closed when it ends:
        delivery claims its rows a few dozen at a time, and a connection (with TLS and a
        login) for each of those cost more than the messages."""
        session = SmtpSession(self)
        try:
            yield session
        finally:
            session.close()

    def _send_one(
        self, smtp: _GatedSMTP | None, msg: Outgoing, before_end: Callable[[], None]
    ) -> tuple[_GatedSMTP | None, SendResult]:
        """(connection to go on with, result); reconnects once when the server went away.
        `before_end` is called once the message's data is with the server, before the end of
        data that lets the server accept it."""
        for attempt in (1, 2):
            if smtp is None:
                smtp = self._connect()
            try:
                smtp.before_end = before_end
                refused = _send(smtp, msg)
            except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
                smtp.close()
                smtp = None
                if attempt == 2:
                    return None, _failed(msg, f"server disconnected: {exc}", permanent=False)
                log.info("SMTP connection lost; reconnecting for %s", _message_id(msg))
                continue
            except smtplib.SMTPRecipientsRefused as exc:
                return smtp, _refused(msg, exc.recipients)
            except smtplib.SMTPResponseException as exc:
                code = exc.smtp_code
                if code == 421:  # the server is closing this connection; the next one is new
                    smtp.close()
                    smtp = None
                # A refused DATA is about this message; a refused MAIL FROM ("530 STARTTLS
                # first", "550 sender not allowed") is about our set-up, which can be fixed.
                permanent = isinstance(exc, smtplib.SMTPDataError) and _is_permanent(code)
                return smtp, _failed(msg, _reply(code, exc.smtp_error), permanent)
            except (smtplib.SMTPException, OSError) as exc:
                smtp.close()
                return None, _failed(msg, f"{type(exc).__name__}: {exc}", permanent=False)
            return smtp, _sent(msg, refused)
        raise AssertionError("unreachable")  # pragma: no cover

    def _connect(self) -> _GatedSMTP:
        c = self.config
        # only TLS needs a context, and making the default one reads the system's certificates
        context = (c.ssl_context or ssl.create_default_context()) if c.security != "none" else None
        where = f"{c.host}:{c.port}"
        smtp: _GatedSMTP | None = None
        try:
            if c.security == "ssl":
                smtp = _GatedSMTP_SSL(
                    c.host,
                    c.port,
                    local_hostname=c.local_hostname,
                    timeout=c.timeout,
                    context=context,
                )
            else:
                smtp = _GatedSMTP(
                    c.host, c.port, local_hostname=c.local_hostname, timeout=c.timeout
                )
            smtp.ehlo()
            if c.security == "starttls":
                assert context is not None
                smtp.starttls(context=context)
                smtp.ehlo()
            if c.username:
                smtp.login(c.username, c.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            _close(smtp)
            raise _ConnectFailed(
                f"login to {where} refused: {_reply(exc.smtp_code, exc.smtp_error)}"
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            _close(smtp)
            raise _ConnectFailed(
                f"cannot connect to {where} ({c.security}): {type(exc).__name__}: {exc}"
            ) from exc
        log.debug("SMTP connected to %s (%s)", where, c.security)
        return smtp


class SmtpSession:
    """One connection, opened lazily, for the batches of one `SmtpTransport.session()`; a
    Transport itself. A batch that cannot connect fails whole (temporarily); the next batch
    tries again."""

    def __init__(self, transport: SmtpTransport) -> None:
        self.transport = transport
        self.smtp: _GatedSMTP | None = None

    def send_batch(
        self, messages: Sequence[Outgoing], on_result: OnResult | None = None
    ) -> list[SendResult]:
        results: list[SendResult] = []
        held = _Held(results, on_result)
        connect_error: str | None = None
        try:
            for msg in messages:
                if connect_error is not None:
                    held.report()
                    held.keep(_failed(msg, connect_error, permanent=False))
                    continue
                try:
                    self.smtp, result = self.transport._send_one(self.smtp, msg, held.report)
                except _ConnectFailed as exc:
                    self.smtp, connect_error = None, str(exc)
                    result = _failed(msg, connect_error, permanent=False)
                held.report()  # if this message never reached its end of data
                held.keep(result)
            held.report()
        except BaseException:
            self.close()  # in an unknown state: the next batch starts afresh
            raise
        finally:
            held.close()
        return results

    def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is not None:
            _quit(smtp)


class _Held:
    """The result of the message sent last, reported (and so recorded by the caller: see
    bot/delivery.py) on a worker thread while the next message goes to the server, and waited
    for just before that message's end of data.

    The record's commit and the next message's commands and data then overlap instead of
    taking turns. Only one message is ever accepted and unrecorded, as when each result was
    recorded before the next message began: the next one cannot be accepted until its end of
    data is sent, and that waits for the record. If recording fails, the connection is dropped
    in the middle of the data, which the server discards, and the error is raised."""

    def __init__(self, results: list[SendResult], on_result: OnResult | None) -> None:
        self.results, self.on_result = results, on_result
        self.worker: ThreadPoolExecutor | None = None
        self.pending: Future[None] | None = None

    def keep(self, result: SendResult) -> None:
        assert self.pending is None, "a result was kept before the last one was reported"
        if self.on_result is None:
            self.results.append(result)
            return
        if self.worker is None:
            self.worker = ThreadPoolExecutor(1, thread_name_prefix="smtp-record")
        self.pending = self.worker.submit(_report, self.results, result, self.on_result)

    def report(self) -> None:
        """Waits until the held result is reported, raising what reporting raised; a second
        call does nothing."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.shutdown(wait=True)


_LEADING_DOT = re.compile(rb"(?m)^\.")


class _GatedSMTP(smtplib.SMTP):
    """smtplib's client, with the end of data held until `before_end` has run (see _Held)."""

    before_end: Callable[[], None] | None = None

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock: socket.socket = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        # The end of data is a small write after the body: with Nagle's algorithm on, it
        # waits for the server's delayed ACK of the body (40 ms on Linux) every message.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def data(self, msg: Any) -> tuple[int, bytes]:
        before_end, self.before_end = self.before_end, None
        if before_end is None or not isinstance(msg, bytes):
            if before_end is not None:
                before_end()
            return super().data(msg)
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        # as smtplib's data() sends it, less the final "." line: RFC 5321 4.5.2
        body = _LEADING_DOT.sub(b"..", msg)
        self.send(body if body.endswith(b"\r\n") else body + b"\r\n")
        try:
            before_end()
        except BaseException:
            self.close()  # no end of data: the server drops the message
            raise
        self.send(b".\r\n")
        return self.getreply()


class _GatedSMTP_SSL(_GatedSMTP, smtplib.SMTP_SSL):  # noqa: N801  # smtplib's own name
    """The same over implicit TLS."""


def _send(smtp: smtplib.SMTP, msg: Outgoing) -> dict[str, tuple[int, bytes]]:
    """A stored message goes as its bytes, with the envelope `send_message` would take from
    its headers; one that needs more than that (Bcc or Resent- headers to act on, addresses
    beyond ASCII, or bytes beyond ASCII) is parsed and left to `send_message`."""
    if isinstance(msg, StoredEmail):
        envelope = _plain_envelope(msg)
        if envelope is None:
            return smtp.send_message(msg.message())
        sender, recipients = envelope
        return smtp.sendmail(sender, recipients, msg.data)
    return smtp.send_message(msg)


def _plain_envelope(msg: StoredEmail) -> tuple[str, list[str]] | None:
    if not msg.data.isascii() or any(
        h in msg for h in ("Bcc", "Resent-Date", "Resent-Bcc", "Sender")
    ):
        return None
    senders = _getaddresses([msg.get("From") or ""])
    recipients = _recipient_addresses(msg)
    if not senders or not "".join([senders[0][1], *recipients]).isascii():
        return None
    return senders[0][1], recipients


def _is_permanent(code: int) -> bool:
    return 500 <= code < 600


def _reply(code: int, text: bytes | str) -> str:
    words = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(words.split())}"


def _sent(msg: Outgoing, refused: dict[str, tuple[int, bytes]]) -> SendResult:
    mid = _message_id(msg)
    log.info("sent %s %s to %s", msg.get(KIND_HEADER, "?"), mid, _domains(msg))
    if not refused:
        return SendResult(mid, ok=True)
    detail = "; ".join(f"{addr}: {_reply(*reply)}" for addr, reply in sorted(refused.items()))
    log.warning("%s: some recipients refused: %s", mid, ", ".join(sorted(refused)))
    return SendResult(mid, ok=True, error=f"refused {detail}", refused=tuple(sorted(refused)))


def _refused(msg: Outgoing, refused: dict[str, tuple[int, bytes]]) -> SendResult:
    """Every recipient refused: permanent only if the server refused each one for good."""
    detail = "; ".join(f"{addr}: {_reply(*reply)}" for addr, reply in sorted(refused.items()))
    permanent = bool(refused) and all(_is_permanent(code) for code, _ in refused.values())
    return _failed(msg, f"all recipients refused: {detail}", permanent, tuple(sorted(refused)))


def _failed(
    msg: Outgoing, error: str, permanent: bool, refused: tuple[str, ...] = ()
) -> SendResult:
    mid = _message_id(msg)
    log.warning(
        "not sent %s %s to %s (%s): %s",
        msg.get(KIND_HEADER, "?"),
        mid,
        _domains(msg),
        "permanent" if permanent else "will retry",
        error,
    )
    return SendResult(mid, ok=False, error=error, permanent=permanent, refused=refused)


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        smtp.close()


# --- a folder of .eml files -------------------------------------------------------------------


class OutboxDirTransport:
    """Writes each message as an ``.eml`` file instead of sending it.

    The file name comes from the message (its Date, kind, first recipient and Message-ID), not
    from the clock, so sending the same outbox row again replaces its file. Files are written
    under a temporary name and renamed, so a crash never leaves half a message behind.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def send_batch(
        self, messages: Sequence[Outgoing], on_result: OnResult | None = None
    ) -> list[SendResult]:
        results: list[SendResult] = []
        for msg in messages:
            _report(results, self._write(msg), on_result)
        return results

    def path_for(self, msg: Outgoing) -> Path:
        return self.folder / _eml_name(msg)

    def _write(self, msg: Outgoing) -> SendResult:
        problem = _unfileable(msg)
        if problem:
            return _failed(msg, problem, permanent=True)
        path = self.path_for(msg)
        try:
            data = _crlf_bytes(msg)
            self.folder.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, data)
            _remove_older_copies(path, _short_key(msg))
        except OSError as exc:
            error = f"cannot write to {self.folder}: {type(exc).__name__}: {exc}"
            return _failed(msg, error, permanent=False)
        log.info(
            "wrote %s %s as %s (%s)",
            msg.get(KIND_HEADER, "?"),
            _message_id(msg),
            path.name,
            _domains(msg),
        )
        return SendResult(_message_id(msg), ok=True)


def _crlf_bytes(msg: Outgoing) -> bytes:
    if isinstance(msg, StoredEmail):
        return msg.data if b"\r\n" in msg.data else msg.data.replace(b"\n", b"\r\n")
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def _unfileable(msg: Outgoing) -> str | None:
    """Why a message cannot be named as a file; such a message will never do better."""
    if not _message_id(msg):
        return "the message has no Message-ID"
    try:
        parsedate_to_datetime(str(msg.get("Date", "")))
    except (TypeError, ValueError):
        return f"the message has no valid Date header: {msg.get('Date')!r}"
    return None


def _eml_name(msg: Outgoing) -> str:
    stamp = parsedate_to_datetime(str(msg["Date"])).strftime("%Y%m%d-%H%M%S")
    kind = _safe(str(msg.get(KIND_HEADER, "message")), 30) or "message"
    addresses = _recipient_addresses(msg)
    who = _safe(addresses[0].replace("@", "-at-"), 48) if addresses else "nobody"
    if len(addresses) > 1:
        who += f"-and-{len(addresses) - 1}"
    return f"{stamp}-{kind}-{who}-{_short_key(msg)}.eml"


def _short_key(msg: Outgoing) -> str:
    return hashlib.sha256(_message_id(msg).encode("utf-8")).hexdigest()[:10]


def _safe(text: str, limit: int) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")[:limit].strip("-.")


def _write_atomically(path: Path, data: bytes) -> None:
    # mkstemp makes the file readable by the bot's user only: messages carry case details.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".eml.tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _remove_older_copies(path: Path, short_key: str) -> None:
    """A resend with another Date keeps one file per Message-ID: the newest write."""
    for other in path.parent.glob(f"*-{short_key}.eml"):
        if other != path:
            other.unlink(missing_ok=True)


# --- in memory, for tests of senders ----------------------------------------------------------


class MemoryTransport:
    """Keeps what it is given; for unit tests of code that sends, without a server."""

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send_batch(
        self, messages: Sequence[Outgoing], on_result: OnResult | None = None
    ) -> list[SendResult]:
        results: list[SendResult] = []
        for msg in messages:
            self.sent.append(msg.message() if isinstance(msg, StoredEmail) else msg)
            _report(results, SendResult(_message_id(msg), ok=True), on_result)
        return results
