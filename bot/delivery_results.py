"""Each sent message's result written as soon as it is known: one commit per message, on one
connection held for the whole batch.

The next message cannot be accepted until the last one's result is committed
(bot/notify/email.py `_Held`), so this write is paid once per message on the delivery's path.
Taking a pooled connection for every result (with PostgreSQL's liveness check) cost as much
as the write itself. On PostgreSQL the row and its audit event are one statement, committed
by itself (autocommit), so a result is one round trip.

A result is written only while the row is still held by the claim that sent it, so writing
it twice stores it once: after a lost connection it is written again on a new one, whether
or not the first commit arrived.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Insert, Table, Update, bindparam, insert, update
from sqlalchemy.engine import Connection, Engine

from bot import models as m

if TYPE_CHECKING:
    import psycopg

log = logging.getLogger(__name__)

_OUTBOX = cast(Table, m.Outbox.__table__)  # type: ignore[attr-defined]
_AUDIT = cast(Table, m.AuditEvent.__table__)  # type: ignore[attr-defined]
_INSERT_EVENT: Insert = insert(_AUDIT)
EVENT_COLUMNS = ("at", "kind", "person_key", "detail", "outbox_id")


class ResultWriter:
    """Writes results for one batch, from one thread at a time; `close()` when it is done."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._conn: Connection | None = None

    def write(self, row_id: int, claim: str, values: dict[str, Any], event: dict[str, Any]) -> bool:
        """Sets `values` on outbox row `row_id` and adds the audit `event` (EVENT_COLUMNS),
        in one commit, if `claim` still holds the row. False when it did not: the result was
        already written, or the row was taken back from this claim."""
        for attempt in (1, 2):
            conn = self._connection()
            try:
                if _one_statement(conn):
                    written = _write_one_statement(conn, row_id, claim, values, event)
                else:
                    written = _write(conn, row_id, claim, values, event)
            except Exception as exc:
                lost = self._lost(conn, exc)
                self.close()
                if lost and attempt == 1:
                    log.warning(
                        "database connection lost while recording outbox row %d; "
                        "recording it again on a new one",
                        row_id,
                    )
                    continue
                raise
            if not written:
                log.info(
                    "outbox row %d was no longer held by this delivery; its result "
                    "(%s) was not recorded again",
                    row_id,
                    values.get("status"),
                )
            return written
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            if _one_statement(conn):
                conn.exec_driver_sql("RESET synchronous_commit")  # the pool's next user waits
            conn.close()  # and the pool turns autocommit off again
        except Exception:
            log.debug("closing a result connection failed; it is dropped", exc_info=True)
            conn.invalidate()
            conn.close()

    def _connection(self) -> Connection:
        if self._conn is None:
            conn = self.engine.connect()
            if _one_statement(conn):
                conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("SET synchronous_commit = off")  # see _WHY_ASYNC
            self._conn = conn
        return self._conn

    def _lost(self, conn: Connection, exc: Exception) -> bool:
        """Whether `exc` means the connection is gone (a database restart, a network cut);
        it is then dropped from the pool, not returned to it."""
        if getattr(exc, "connection_invalidated", False):
            return True
        dialect = self.engine.dialect
        if not isinstance(exc, dialect.loaded_dbapi.Error) or not dialect.is_disconnect(
            exc, conn.connection.dbapi_connection, None
        ):
            return False
        conn.invalidate()
        return True


def _write(
    conn: Connection, row_id: int, claim: str, values: dict[str, Any], event: dict[str, Any]
) -> bool:
    with conn.begin():
        if conn.dialect.name == "postgresql":  # another driver: see _WHY_ASYNC
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        done = conn.execute(_update_for(tuple(values)), {**values, "row_id": row_id, "held": claim})
        if done.rowcount != 1:
            return False
        conn.execute(_INSERT_EVENT, event)
    return True


@functools.cache
def _update_for(columns: tuple[str, ...]) -> Update:
    """The UPDATE of these columns of one held outbox row, built once per set of columns."""
    return (
        update(_OUTBOX)
        .where(_OUTBOX.c.id == bindparam("row_id"), _OUTBOX.c.claim == bindparam("held"))
        .values({name: bindparam(name) for name in columns})
    )


def _one_statement(conn: Connection) -> bool:
    return conn.dialect.driver == "psycopg"


# The commit returns once the server has the record, without waiting for its disk, as SQLite's
# synchronous=NORMAL does (bot/db.py): another process sees it at once and a crash of this
# process loses nothing. Only a crash of the database server itself can forget the last
# fraction of a second of results, whose rows are then still 'sending' and their messages go
# again (README, "A crash"). Waiting for the disk made every message wait several milliseconds.
_WHY_ASYNC = "results: see bot/delivery_results.py"


def _write_one_statement(
    conn: Connection, row_id: int, claim: str, values: dict[str, Any], event: dict[str, Any]
) -> bool:
    """The event is inserted only if the update found the row; the statement is its own
    transaction (the connection is in autocommit)."""
    pg = cast("psycopg.Connection[Any]", conn.connection.driver_connection)
    params = {f"v_{k}": v for k, v in values.items()}
    params.update({f"e_{k}": event[k] for k in EVENT_COLUMNS if k != "outbox_id"})
    params.update(row_id=row_id, held=claim)
    with pg.cursor() as cur:
        cur.execute(_one_statement_sql(tuple(values)), params)
        return bool(cur.rowcount == 1)


@functools.cache
def _one_statement_sql(columns: tuple[str, ...]) -> str:
    sets = ", ".join(f"{c} = %(v_{c})s" for c in columns)
    event = [c for c in EVENT_COLUMNS if c != "outbox_id"]
    return (
        f"WITH done AS (UPDATE {_OUTBOX.name} SET {sets} "
        "WHERE id = %(row_id)s AND claim = %(held)s RETURNING id) "
        f"INSERT INTO {_AUDIT.name} ({', '.join(event)}, outbox_id) "
        f"SELECT {', '.join(f'%(e_{c})s' for c in event)}, id FROM done"
    )
