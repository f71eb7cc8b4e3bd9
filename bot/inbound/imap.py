"""Replies in by IMAP: a poller that hands each new message to a handler, then files it.

Why it works the way it does:

- **Move after commit.** The handler stores what a message says and commits before it returns;
  only then is the message moved to Processed or Quarantine. A crash in between leaves it in
  the folder to be handed again, and the handler de-duplicates on Message-ID, so a reply is
  neither lost nor recorded twice. A handler that raises leaves its message where it is and
  the poll goes on with the next one.
- **UID state.** Messages are read oldest first by UID, without setting \\Seen. The poller keeps
  the folder's UIDVALIDITY and the UID up to which every message is done (`ImapState`) for the
  caller to persist. The state never moves past a message whose handler failed, so that one is
  handed again on the next poll (a database outage loses nothing); "keep" messages after it
  are handed again too, which the handler's de-duplication makes harmless. If UIDVALIDITY
  changes, reading starts again from the top: what was processed has been moved out.
- **MOVE, never a folder-wide EXPUNGE.** imap-tools picks MOVE from the capabilities it saw
  before login, and Dovecot announces MOVE only after login, so they are read again after
  login; without MOVE, a UID EXPUNGE removes only our own message, never someone else's
  deleted ones.
- **IDLE is a wake-up only.** `wait_for_mail` says "poll now" or "nothing yet"; what is new is
  always found by `poll_once`. The caller gives every timeout: nothing here reads the clock.

A lost connection is reported in the `PollReport` and dropped, so the next poll reconnects;
nothing is raised out of `poll_once`. Logs name UIDs and Message-IDs, never a subject or body.
"""

from __future__ import annotations

import email.parser
import email.policy
import imaplib
import logging
import re
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal, get_args

from imap_tools import (
    A,
    BaseMailBox,
    ImapToolsError,
    MailBox,
    MailboxFolderCreateError,
    MailboxLoginError,
    MailBoxStartTls,
    MailBoxUnencrypted,
    U,
    UnexpectedCommandStatusError,
)

__all__ = [
    "ImapConfig",
    "ImapState",
    "LOOPBACK_HOSTS",
    "MailboxPoller",
    "Outcome",
    "PollReport",
    "Security",
]

log = logging.getLogger(__name__)

Security = Literal["ssl", "starttls", "none"]
SECURITY: tuple[Security, ...] = get_args(Security)
Outcome = Literal["processed", "quarantine", "keep"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
Handler = Callable[[bytes, str], Outcome]

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")  # where security "none" may go
# RFC 2177: a client should leave IDLE at least every 29 minutes or be logged off.
IDLE_LIMIT_SECONDS = 29 * 60
# Any of these means the connection can no longer be trusted: drop it, reconnect next time.
_CONNECTION_ERRORS = (OSError, imaplib.IMAP4.error, ImapToolsError)


@dataclass(frozen=True)
class ImapConfig:
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    security: Security = "ssl"
    folder: str = "INBOX"
    processed: str = "Processed"
    quarantine: str = "Quarantine"
    timeout: float = 30.0  # seconds for connecting and for each reply from the server
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.security not in SECURITY:
            raise ValueError(
                f"IMAP security must be one of {', '.join(SECURITY)}, got {self.security!r}"
            )
        if not 0 < self.port < 65536:
            raise ValueError(f"IMAP port must be 1-65535, got {self.port}")
        if self.security == "none" and self.host not in LOOPBACK_HOSTS:
            raise ValueError(
                f"refusing to send the IMAP password to {self.host} unencrypted: "
                "use security 'ssl' or 'starttls' ('none' is for a server on this machine)"
            )
        folders = (self.folder, self.processed, self.quarantine)
        if not all(folders) or len(set(folders)) != 3:
            raise ValueError(
                "the IMAP folder, processed and quarantine folders must be three different "
                f"names, got {folders!r}"
            )


@dataclass(frozen=True)
class ImapState:
    """What to persist between runs: every message with a UID up to `last_uid` is done."""

    uidvalidity: int | None = None
    last_uid: int = 0


@dataclass
class PollReport:
    """What one poll did; UIDs as strings, in the order they were handed."""

    handed: list[str] = field(default_factory=list)
    processed: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # left in the folder, handed again next poll
    errors: list[str] = field(default_factory=list)
    restarted: bool = False  # UIDVALIDITY changed: the folder was read from the top

    @property
    def ok(self) -> bool:
        return not self.errors


class _LoginRefused(Exception):
    """The server is there but does not accept our login: settings, not the network."""


class MailboxPoller:
    """Reads one folder of one mailbox; one connection, opened when needed and kept.

    Not thread-safe: one poller belongs to one loop that calls `poll_once` and
    `wait_for_mail` in turn.
    """

    def __init__(
        self, config: ImapConfig, state: ImapState | None = None, *, chunk_size: int = 25
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        self.config = config
        self.chunk_size = chunk_size
        self._state = state or ImapState()
        self._box: BaseMailBox | None = None
        # The highest UID handed in this process, so IDLE is not woken by messages already
        # handed that stay in the folder (kept, or failed and waiting for the next poll).
        self._highest_seen = self._state.last_uid

    @property
    def state(self) -> ImapState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._box is not None

    def __enter__(self) -> MailboxPoller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- polling -------------------------------------------------------------------------------

    def poll_once(self, handle: Handler) -> PollReport:
        """Hands every new message to `handle(raw_bytes, uid)` and files it as told."""
        report = PollReport()
        try:
            box = self._connect()
            self._poll(box, handle, report)
        except _LoginRefused as exc:
            self._drop()
            report.errors.append(str(exc))
            log.error("IMAP %s", exc)
        except _CONNECTION_ERRORS as exc:
            self._drop()
            error = f"IMAP {self._where()}: {_describe(exc)}; will reconnect on the next poll"
            report.errors.append(error)
            log.warning("%s", error)
        return report

    def _poll(self, box: BaseMailBox, handle: Handler, report: PollReport) -> None:
        c = self.config
        box.folder.set(c.folder)
        uidnext = _select_code(box, "UIDNEXT")
        uidvalidity = _uidvalidity(box, c.folder)
        last = self._state.last_uid
        if self._state.uidvalidity is not None and self._state.uidvalidity != uidvalidity:
            log.warning(
                "IMAP %s: UIDVALIDITY changed from %s to %s; reading the folder from the start",
                c.folder,
                self._state.uidvalidity,
                uidvalidity,
            )
            report.restarted = True
            last = 0
            self._highest_seen = 0
        self._state = ImapState(uidvalidity, last)

        # "UID n:*" always matches the highest UID, even when it is below n: drop those.
        uids = sorted(u for u in map(int, box.uids(A(uid=U(str(last + 1), "*")))) if u > last)
        blocked = False  # after a failure the state stays put, so that one is tried again
        for chunk in _chunks(uids, self.chunk_size):
            fetched = _fetch(box, chunk)
            for uid in chunk:
                self._highest_seen = max(self._highest_seen, uid)
                raw = fetched.get(uid)
                done = True
                if raw is None:
                    log.info("IMAP %s uid %s: gone before it was read", c.folder, uid)
                else:
                    done = self._one(box, handle, uid, raw, report)
                if not done:
                    blocked = True
                if not blocked:
                    self._state = ImapState(uidvalidity, uid)
        if not blocked and uidnext is not None:
            # Every UID below UIDNEXT at SELECT was either handed just now or is no longer in
            # the folder (moved after an earlier failure was retried, or deleted): all done.
            self._state = ImapState(uidvalidity, max(self._state.last_uid, uidnext - 1))
        self._highest_seen = max(self._highest_seen, self._state.last_uid)

    def _one(
        self, box: BaseMailBox, handle: Handler, uid: int, raw: bytes, report: PollReport
    ) -> bool:
        """Hands one message over and files it; False if it stays for the next poll."""
        c = self.config
        mid = _message_id(raw)
        report.handed.append(str(uid))
        try:
            outcome = handle(raw, str(uid))
            if outcome not in OUTCOMES:
                raise ValueError(f"the handler returned {outcome!r}, not one of {OUTCOMES}")
        except Exception as exc:  # noqa: BLE001 - one bad message never stops the poll
            error = f"uid {uid} {mid}: not handled, left in {c.folder}: {_describe(exc)}"
            report.failed.append(str(uid))
            report.errors.append(error)
            log.error("IMAP %s", error)
            log.debug("IMAP uid %s: the handler's traceback", uid, exc_info=True)
            return False
        if outcome == "keep":
            report.kept.append(str(uid))
            log.info("IMAP %s uid %s %s: kept", c.folder, uid, mid)
            return True
        target = c.processed if outcome == "processed" else c.quarantine
        try:
            self._move(box, uid, target)
        except ImapToolsError as exc:  # the server said no; the connection itself is fine
            error = f"uid {uid} {mid}: handled but not moved to {target}: {_describe(exc)}"
            report.failed.append(str(uid))
            report.errors.append(error)
            log.error("IMAP %s", error)
            return False
        (report.processed if outcome == "processed" else report.quarantined).append(str(uid))
        log.info("IMAP %s uid %s %s: moved to %s", c.folder, uid, mid, target)
        return True

    def _move(self, box: BaseMailBox, uid: int, target: str) -> None:
        capabilities = box.client.capabilities
        if "MOVE" in capabilities:
            box.move(str(uid), target)
            return
        # Without MOVE (RFC 6851): copy, flag, and expunge this UID only (RFC 4315). imap-tools'
        # own fallback would EXPUNGE the whole folder, taking others' deleted messages with it.
        box.copy(str(uid), target)
        _ok(box.client.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)"), "STORE")
        if "UIDPLUS" in capabilities:
            _ok(box.client.uid("EXPUNGE", str(uid)), "UID EXPUNGE")
        # else: it stays flagged \Deleted until a mail client expunges; the state is past it.

    # --- waiting -------------------------------------------------------------------------------

    def wait_for_mail(self, timeout_seconds: float) -> bool:
        """True when the server says new mail has come (poll now); False when the timeout
        passed, the server said something else, IDLE is not offered, or the connection failed
        (poll on your own interval then; the poll reports what is wrong)."""
        if timeout_seconds <= 0:
            return False
        try:
            box = self._connect()
            if "IDLE" not in box.client.capabilities:
                return False
            box.folder.set(self.config.folder)
            if self._state.uidvalidity not in (None, _uidvalidity(box, self.config.folder)):
                return True
            # Mail that came while we were not idling is not announced again during IDLE.
            after = self._highest_seen
            if any(int(u) > after for u in box.uids(A(uid=U(str(after + 1), "*")))):
                return True
            responses = box.idle.wait(timeout=min(timeout_seconds, IDLE_LIMIT_SECONDS))
        except _LoginRefused as exc:
            self._drop()
            log.error("IMAP %s", exc)
            return False
        except _CONNECTION_ERRORS as exc:
            self._drop()
            log.warning("IMAP %s: waiting for mail failed: %s", self._where(), _describe(exc))
            return False
        return any(_NEW_MAIL.match(r) for r in responses if isinstance(r, bytes))

    # --- the connection ------------------------------------------------------------------------

    def close(self) -> None:
        """Logs out if connected; never raises."""
        box, self._box = self._box, None
        if box is None:
            return
        try:
            box.logout()
        except _CONNECTION_ERRORS:
            _shutdown(box)

    def _where(self) -> str:
        return f"{self.config.host}:{self.config.port}"

    def _drop(self) -> None:
        box, self._box = self._box, None
        if box is not None:
            _shutdown(box)

    def _connect(self) -> BaseMailBox:
        if self._box is not None:
            return self._box
        c = self.config
        box = self._open()
        try:
            try:
                box.login(c.username, c.password, initial_folder=None)
            except (MailboxLoginError, imaplib.IMAP4.error) as exc:
                if isinstance(exc, imaplib.IMAP4.abort):
                    raise
                said = _server_said(exc)
                if c.password:
                    said = said.replace(c.password, "***")
                raise _LoginRefused(
                    f"login to {self._where()} as {c.username} refused ({said}): "
                    "check IMAP_USERNAME and IMAP_PASSWORD"
                ) from None
            _refresh_capabilities(box)
            for folder in (c.processed, c.quarantine):
                _ensure_folder(box, folder)
        except BaseException:
            _shutdown(box)
            raise
        log.debug("IMAP connected to %s (%s) as %s", self._where(), c.security, c.username)
        self._box = box
        return box

    def _open(self) -> BaseMailBox:
        c = self.config
        if c.security == "none":
            return MailBoxUnencrypted(c.host, c.port, timeout=c.timeout)
        # imaplib's own default context checks no certificate: always pass a verifying one.
        context = c.ssl_context or ssl.create_default_context()
        if c.security == "starttls":
            return MailBoxStartTls(c.host, c.port, timeout=c.timeout, ssl_context=context)
        return MailBox(c.host, c.port, timeout=c.timeout, ssl_context=context)


# --- helpers ---------------------------------------------------------------------------------

_NEW_MAIL = re.compile(rb"^\* \d+ (EXISTS|RECENT)\b", re.I)
_FETCH_UID = re.compile(rb"\bUID (\d+)", re.I)
_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _fetch(box: BaseMailBox, uids: list[int]) -> dict[int, bytes]:
    """UID -> the message's exact bytes, for one chunk, in one UID FETCH without \\Seen.

    Read here rather than with imap-tools' `fetch(mark_seen=False, bulk=...)`: its messages
    keep a parsed copy, not the bytes, and its bulk reader pairs response lines two by two,
    which an unsolicited FETCH (a flag changed by another client) would shift.
    """
    typ, data = box.client.uid("FETCH", ",".join(map(str, uids)), "(UID BODY.PEEK[])")
    _ok((typ, data), "UID FETCH")
    found: dict[int, bytes] = {}
    for i, item in enumerate(data):
        if not (isinstance(item, tuple) and len(item) == 2 and b"BODY[]" in item[0].upper()):
            continue
        match = _FETCH_UID.search(item[0])
        after = data[i + 1] if i + 1 < len(data) else None
        if match is None and isinstance(after, bytes):  # "BODY[] {n}" came before "UID n"
            match = _FETCH_UID.search(after)
        if match is not None:
            found[int(match.group(1))] = item[1]
    return found


def _select_code(box: BaseMailBox, code: str) -> int | None:
    """A number the SELECT just done reported, such as ``[UIDNEXT 7]``; None if it did not."""
    _, data = box.client.response(code)
    value = data[-1] if data else None
    return int(value) if isinstance(value, bytes) and value.isdigit() else None


def _uidvalidity(box: BaseMailBox, folder: str) -> int:
    value = _select_code(box, "UIDVALIDITY")
    if value is not None:
        return value
    return int(box.folder.status(folder, ["UIDVALIDITY"])["UIDVALIDITY"])


def _refresh_capabilities(box: BaseMailBox) -> None:
    """Servers may announce more after login (Dovecot: MOVE); imaplib keeps the first list."""
    typ, data = box.client.capability()
    if typ == "OK" and data and isinstance(data[-1], bytes):
        box.client.capabilities = tuple(data[-1].decode("ascii", "replace").upper().split())


def _ensure_folder(box: BaseMailBox, folder: str) -> None:
    if box.folder.exists(folder):
        return
    try:
        box.folder.create(folder)
    except MailboxFolderCreateError:
        if not box.folder.exists(folder):  # made by another client meanwhile: fine
            raise
    log.info("IMAP: made the folder %s", folder)


def _ok(result: tuple[str, list[object]], command: str) -> None:
    typ, data = result
    if typ != "OK":
        raise _CommandRefused(f"{command}: {typ} {_text(data)}")


class _CommandRefused(ImapToolsError):
    """The server answered NO or BAD to a command we sent ourselves."""


def _message_id(raw: bytes) -> str:
    try:
        value = _HEADERS.parsebytes(raw).get("Message-ID")
    except Exception:  # noqa: BLE001 - only for the log line
        value = None
    text = " ".join(str(value or "").split())[:200]
    return text or "(no Message-ID)"


def _text(data: object) -> str:
    parts = data if isinstance(data, list | tuple) else [data]
    words = [p.decode("utf-8", "replace") if isinstance(p, bytes) else str(p) for p in parts]
    return " ".join(" ".join(words).split())


def _server_said(exc: BaseException) -> str:
    """The server's own words, e.g. "NO [AUTHENTICATIONFAILED] Authentication failed."."""
    if isinstance(exc, UnexpectedCommandStatusError):
        typ, data = exc.command_result
        return f"{typ} {_text(data)}"
    return _describe(exc)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())}"


def _shutdown(box: BaseMailBox) -> None:
    try:
        box.client.shutdown()
    except (OSError, imaplib.IMAP4.error):
        pass
