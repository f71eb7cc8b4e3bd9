"""Several actionbot processes on one database: who is alive, and who leads.

Two questions need an exact answer, not a guess from timestamps:

- *Is the process that claimed these outbox rows still alive?* Each process holds a lock named
  after itself for as long as it runs. A row left in 'sending' by a process whose lock can be
  taken was abandoned (the process died) and goes back to the queue; rows of a live process,
  however slow, are never taken from it.
- *Which process runs the scheduler?* APScheduler's job store must not be shared by two running
  schedulers, so exactly one process leads; the others deliver and stand by, and one of them
  takes over when the leader's lock is released, which the database (or the kernel) does the
  moment the leader dies.

On PostgreSQL the locks are session advisory locks held on a dedicated connection, which is
checked regularly: if it breaks, the lock is gone and the process stops leading. On SQLite
(one machine by nature) they are `flock` locks on small files beside the database.
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import threading
import uuid
import zlib
from pathlib import Path
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine, make_url

log = logging.getLogger(__name__)

# The first key of every advisory lock actionbot takes ("actb"), so they cannot collide with
# another application's locks on the same database.
_NAMESPACE = 0x61637462
_LEADER = "leader"


def new_owner() -> str:
    """A name for this process that no other process, here or on another machine, will have."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class _Lock(Protocol):
    def try_hold(self, name: str) -> bool: ...
    def holds(self, name: str) -> bool: ...
    def release(self, name: str) -> None: ...
    def is_taken(self, name: str) -> bool: ...
    def close(self) -> None: ...


def _key(name: str) -> int:
    """A lock name as PostgreSQL's second advisory-lock key (a signed 32-bit integer)."""
    value = zlib.crc32(name.encode("utf-8"))
    return value - (1 << 32) if value >= 1 << 31 else value


class _PostgresLocks:
    """Session advisory locks on one connection that lives as long as the locks."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None
        self._held: set[str] = set()
        self._mutex = threading.Lock()

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
        return self._conn

    def try_hold(self, name: str) -> bool:
        with self._mutex:
            if name in self._held:
                return True
            conn = self._connection()
            got = conn.execute(
                text("SELECT pg_try_advisory_lock(:ns, :key)"),
                {"ns": _NAMESPACE, "key": _key(name)},
            ).scalar()
            conn.commit()
            if got:
                self._held.add(name)
            return bool(got)

    def holds(self, name: str) -> bool:
        """Whether the lock is still ours: the connection that holds it still answers."""
        with self._mutex:
            if name not in self._held or self._conn is None:
                return False
            try:
                self._conn.execute(text("SELECT 1")).scalar()
                self._conn.commit()
                return True
            except Exception as exc:  # noqa: BLE001 - any failure means the session is gone
                log.warning("the connection holding actionbot's locks failed: %s", exc)
                self._drop()
                return False

    def release(self, name: str) -> None:
        with self._mutex:
            if name not in self._held or self._conn is None:
                return
            self._held.discard(name)
            try:
                self._conn.execute(
                    text("SELECT pg_advisory_unlock(:ns, :key)"),
                    {"ns": _NAMESPACE, "key": _key(name)},
                )
                self._conn.commit()
            except Exception:  # noqa: BLE001 - a lost session has released it anyway
                self._drop()

    def is_taken(self, name: str) -> bool:
        """Whether some session holds the lock (asked on a connection of its own)."""
        with self.engine.connect() as conn:
            free = conn.execute(
                text("SELECT pg_try_advisory_lock(:ns, :key)"),
                {"ns": _NAMESPACE, "key": _key(name)},
            ).scalar()
            if free:
                conn.execute(
                    text("SELECT pg_advisory_unlock(:ns, :key)"),
                    {"ns": _NAMESPACE, "key": _key(name)},
                )
            conn.commit()
        return not free

    def _drop(self) -> None:
        self._held.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:  # noqa: BLE001
                pass

    def close(self) -> None:
        with self._mutex:
            self._drop()


class _FileLocks:
    """flock locks on files in a folder beside the SQLite database."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._held: dict[str, int] = {}
        self._mutex = threading.Lock()

    def _path(self, name: str) -> Path:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        return self.folder / f"{safe}.lock"

    def try_hold(self, name: str) -> bool:
        with self._mutex:
            if name in self._held:
                return True
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._path(name), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                return False
            self._held[name] = fd
            return True

    def holds(self, name: str) -> bool:
        return name in self._held

    def release(self, name: str) -> None:
        with self._mutex:
            fd = self._held.pop(name, None)
            if fd is not None:
                os.close(fd)  # closing the file releases the lock
                if name != _LEADER:
                    self._path(name).unlink(missing_ok=True)

    def is_taken(self, name: str) -> bool:
        if name in self._held:
            return True
        path = self._path(name)
        if not path.exists():
            return False
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)
        path.unlink(missing_ok=True)  # a dead process's file: tidy it away
        return False

    def close(self) -> None:
        for name in list(self._held):
            self.release(name)


def _locks_for(engine: Engine) -> _Lock:
    url = make_url(str(engine.url.render_as_string(hide_password=False)))
    if url.get_backend_name() == "postgresql":
        return _PostgresLocks(engine)
    database = url.database
    if not database or database == ":memory:":
        folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"actionbot-locks-{os.getpid()}"
    else:
        folder = Path(database).with_name(Path(database).name + ".locks")
    return _FileLocks(folder)


class Instance:
    """This process as one of possibly several on a database."""

    def __init__(self, engine: Engine, owner: str | None = None) -> None:
        self.owner = owner or new_owner()
        self._locks = _locks_for(engine)

    def claim_name(self) -> str:
        """The owner part of every outbox claim this process makes; held while it runs."""
        if not self._locks.holds(self.owner) and not self._locks.try_hold(self.owner):
            raise RuntimeError(f"cannot hold this process's own lock {self.owner!r}")
        return self.owner

    def is_alive(self, owner: str) -> bool:
        return owner == self.owner or self._locks.is_taken(owner)

    def try_lead(self) -> bool:
        return self._locks.try_hold(_LEADER)

    def still_leads(self) -> bool:
        return self._locks.holds(_LEADER)

    def stop_leading(self) -> None:
        self._locks.release(_LEADER)

    def close(self) -> None:
        self._locks.close()


_instances: dict[str, Instance] = {}
_instances_mutex = threading.Lock()


def instance_for(engine: Engine) -> Instance:
    """This process's one Instance per database, made on first use."""
    key = engine.url.render_as_string(hide_password=False)
    with _instances_mutex:
        if key not in _instances:
            _instances[key] = Instance(engine)
        return _instances[key]
