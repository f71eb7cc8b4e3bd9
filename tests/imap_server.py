"""A real Dovecot on loopback, in a folder of its own, for the tests that read a mailbox.

Run as an ordinary user, everything runs as that user (the set-up in shared/INTEGRATION-NOTES).
Run as root (CI), Dovecot refuses root for its login and mail processes, so those run as the
users Debian's package made (dovenull, dovecot) and the mail belongs to `nobody`; that is why
the folder is made with `mkdtemp` and opened to others rather than under pytest's tmp_path,
whose parents only root may enter.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from imap_tools import MailBoxUnencrypted

from bot.inbound.imap import ImapConfig
from tests.smtp_server import free_port

USER = "bot@example.org"
PASSWORD = "secret"
HOW = (
    "Dovecot is not installed, so the IMAP tests cannot run "
    "(Debian: apt-get install dovecot-imapd; the tests start their own on loopback)"
)
APPENDED_AT = datetime(2019, 6, 3, 9, 0, tzinfo=UTC)

CONFIG = """\
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
default_internal_user = {internal_user}
default_internal_group = {internal_group}
default_login_user = {login_user}
verbose_proctitle = yes
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = {d}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={mail_group} home={d}/mail/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
}}
service anvil {{
  chroot =
  # no growing delay after each failed login: a test logs in wrongly on purpose
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{extra}
"""


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin")


@dataclass(frozen=True)
class Stored:
    """One message as the server holds it."""

    uid: str
    flags: tuple[str, ...]
    message_id: str


@dataclass
class ImapServer:
    """One Dovecot instance: `start()`, `stop()`, and a few things a test does as another
    mail client (append, list, see whether our session is idling)."""

    directory: Path
    port: int
    extra_config: str = ""
    host: str = "127.0.0.1"
    user: str = USER
    password: str = PASSWORD
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def config(self, **changes: object) -> ImapConfig:
        """What the poller needs to reach this server (plain IMAP: it is on loopback)."""
        values: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "username": self.user,
            "password": self.password,
            "security": "none",
            "timeout": 10.0,
        }
        values.update(changes)
        return ImapConfig(**values)  # type: ignore[arg-type]

    # --- life cycle ------------------------------------------------------------------------------

    def write_config(self) -> None:
        d = self.directory
        (d / "mail").mkdir(parents=True, exist_ok=True)
        (d / "passwd").write_text(f"{self.user}:{{PLAIN}}{self.password}\n")
        if os.geteuid() == 0:
            internal, login = ("dovecot", "dovecot"), "dovenull"
            mail = ("nobody", grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name)
            os.chown(d / "mail", pwd.getpwnam(mail[0]).pw_uid, grp.getgrnam(mail[1]).gr_gid)
        else:
            me = pwd.getpwuid(os.geteuid()).pw_name
            group = grp.getgrgid(os.getegid()).gr_name
            internal, login, mail = (me, group), me, (me, group)
        (d / "dovecot.conf").write_text(
            CONFIG.format(
                d=d,
                port=self.port,
                internal_user=internal[0],
                internal_group=internal[1],
                login_user=login,
                mail_user=mail[0],
                mail_group=mail[1],
                extra=self.extra_config,
            )
        )

    def start(self) -> None:
        binary = dovecot_binary()
        if binary is None:
            raise RuntimeError(HOW)
        (self.directory / "run" / "master.pid").unlink(missing_ok=True)  # ours, and stopped
        # A session of its own, so stop() can end the imap processes too: killed alone, the
        # master leaves them serving the connections already open.
        with open(self.directory / "dovecot.stderr", "ab") as stderr:
            self.process = subprocess.Popen(
                [binary, "-F", "-c", str(self.directory / "dovecot.conf")],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, tries: int = 200) -> None:
        """Until it greets a connection: a bounded number of attempts, each one real."""
        for _ in range(tries):
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited with {self.process.returncode}: {self.log()}")
            try:
                with socket.create_connection((self.host, self.port), timeout=5) as s:
                    if s.recv(64).startswith(b"* OK"):
                        return
            except ConnectionRefusedError:
                time.sleep(0.02)  # not listening yet; the next attempt decides
            except OSError:
                pass
        raise RuntimeError(f"dovecot did not answer on port {self.port}: {self.log()}")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            # Usually gone at once; now and then the master waits seconds for a child that
            # is already ending. A test's mailbox is thrown away, so don't wait for that.
            process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)

    def log(self, limit: int = 3000) -> str:
        parts = [
            (self.directory / name).read_text(errors="replace")[-limit:]
            for name in ("dovecot.log", "dovecot.stderr")
            if (self.directory / name).exists()
        ]
        return "\n".join(parts).strip() or "(no log)"

    def logout_line(self, containing: str, tries: int = 100) -> str | None:
        """The first session's "Logged out" log line containing `containing`; it says what the
        session did (``deleted=0 expunged=0 ... body_count=2``).

        An imap process writes that line as it exits, just after its client has gone, so the
        log is read again, a bounded number of times, until the line is there.
        """
        for _ in range(tries):
            for line in self.log(limit=1_000_000).splitlines():
                if "Logged out" in line and containing in line:
                    return line
            time.sleep(0.02)
        return None

    # --- another mail client ----------------------------------------------------------------

    @contextmanager
    def client(self, folder: str | None = "INBOX") -> Iterator[MailBoxUnencrypted]:
        box = MailBoxUnencrypted(self.host, self.port, timeout=10)
        box.login(self.user, self.password, initial_folder=folder)
        try:
            yield box
        finally:
            box.logout()

    def append(self, raw: bytes, folder: str = "INBOX", flags: tuple[str, ...] = ()) -> str:
        """Delivers `raw` as it is; returns its UID."""
        with self.client(None) as box:
            if not box.folder.exists(folder):
                box.folder.create(folder)
            _, data = box.append(raw, folder, dt=APPENDED_AT, flag_set=flags)
        found = re.search(rb"\[APPENDUID \d+ (\d+)\]", data[0])
        assert found, data
        return found.group(1).decode()

    def messages(self, folder: str) -> list[Stored]:
        """The folder's messages in UID order (none if there is no such folder)."""
        with self.client(None) as box:
            if not box.folder.exists(folder):
                return []
            box.folder.set(folder, readonly=True)
            return [
                Stored(
                    uid=m.uid or "",
                    flags=tuple(m.flags),
                    message_id=(m.headers.get("message-id") or ("",))[0].strip(),
                )
                for m in box.fetch(mark_seen=False)
            ]

    def message_ids(self, folder: str) -> list[str]:
        return [m.message_id for m in self.messages(folder)]

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.client(None) as box:
            return int(box.folder.status(folder, ["UIDVALIDITY"])["UIDVALIDITY"])

    def idling_sessions(self) -> int:
        """How many of this server's imap processes are in IDLE now (from their titles)."""
        if self.process is None:
            return 0
        count = 0
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                title = (proc / "cmdline").read_bytes()
                parent = (proc / "stat").read_text().rpartition(")")[2].split()[1]
            except (OSError, IndexError):
                continue
            if int(parent) == self.process.pid and b"IDLE]" in title:
                count += 1
        return count


@contextmanager
def running(extra_config: str = "") -> Iterator[ImapServer]:
    """A Dovecot with an empty mailbox for `bot@example.org`, stopped and removed at the end."""
    directory = Path(tempfile.mkdtemp(prefix="actionbot-dovecot-"))
    directory.chmod(0o755)  # when run as root, Dovecot's own users must reach their sockets
    server = ImapServer(directory, free_port(), extra_config)
    try:
        server.write_config()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


class CuttingProxy:
    """A TCP relay on loopback in front of a server, which can cut one connection in the middle
    of a reply: once the server has sent `marker` for the `occurrence`-th time through this
    relay, and `then` bytes more, both sides are closed. Before and after that one cut, bytes
    pass unchanged. For "the connection dropped mid-FETCH": marker ``b"BODY[] {"``.
    """

    def __init__(
        self, target: tuple[str, int], marker: bytes, occurrence: int = 1, then: int = 0
    ) -> None:
        self.target = target
        self.marker, self.occurrence, self.then = marker, occurrence, then
        self.cut = False  # has the cut happened
        self._seen = 0  # markers seen so far, over every connection
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sockets: list[socket.socket] = []
        self._stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def stop(self) -> None:
        self._stopped = True
        self._listener.close()
        for sock in self._sockets:
            _close(sock)

    def __enter__(self) -> CuttingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopped:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target, timeout=10)
            server.settimeout(None)  # an idle connection is the client's business, not ours
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_server: bool) -> None:
        tail = b""  # the end of what came before, so a marker split across reads is found
        left: int | None = None  # bytes still to pass before the cut, once the marker is seen
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_server and left is None and not self.cut:
                    left = self._find(tail, data)
                    tail = (tail + data)[-len(self.marker) :]
                if left is not None:
                    dst.sendall(data[:left])
                    if left <= len(data):
                        self.cut = True
                        break
                    left -= len(data)
                    continue
                dst.sendall(data)
        except OSError:
            pass
        _close(src)
        _close(dst)

    def _find(self, tail: bytes, data: bytes) -> int | None:
        """Where in `data` to cut, if the chosen marker ends in it (else None)."""
        window = tail + data
        start = 0
        while (at := window.find(self.marker, start)) >= 0:
            start = at + 1
            if at + len(self.marker) <= len(tail):
                continue  # counted with the read before
            with self._lock:
                self._seen += 1
                if self._seen == self.occurrence:
                    return at + len(self.marker) - len(tail) + self.then
        return None


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
