"""Faults: the mailbox goes away in the middle of a poll.

A real Dovecot on loopback holds three genuine replies to a real reminder; the poller hands
each to the real `ingest_email`. Dovecot is stopped while a poll runs, or the connection is
cut in the middle of a FETCH: the poll reports an error, nothing is lost (what was not yet
handled stays in the inbox), the next poll after the restart handles the rest, and no reply is
recorded twice. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from bot import models as m
from bot.chasing import tick
from bot.db import make_engine, session
from bot.delivery import Transports
from bot.importing import import_files
from bot.inbound.email_replies import ingest_email
from bot.inbound.imap import Handler, MailboxPoller, Outcome
from bot.inbound.mail import parse_mail
from bot.notify.email import OutboxDirTransport
from bot.rules import load_rules
from bot.settings import load_settings
from tests.conftest import REPO
from tests.imap_server import CuttingProxy, ImapServer
from tests.test_load import PEOPLE, PLAN, write
from tests.test_mail_in import LATER, MONDAY, addressed

REPLIES = ["outlook_desktop.eml", "gmail.eml", "iphone.eml"]


@pytest.fixture
def bot(database_url: str, tmp_path: Path, imap_server: ImapServer):
    """The test plan loaded, a chase run (Kelly reminded), and her three replies in INBOX."""
    engine = make_engine(database_url)
    import_files(engine, write(tmp_path, PLAN, PEOPLE), MONDAY - timedelta(days=60))
    settings = load_settings(
        {
            "REPLY_SECRET": "s3cret-for-the-tests-0123456789",
            "OUTBOX_DIR": str(tmp_path / "outbox"),
            "MAIL_FROM": "actionbot@medway.example.org",
            "IMAP_HOST": "127.0.0.1",
            "IMAP_PORT": str(imap_server.port),
            "IMAP_SECURITY": "none",
            "IMAP_USERNAME": imap_server.user,
            "IMAP_PASSWORD": imap_server.password,
        },
        env_file=None,
    )
    rules = load_rules(REPO / "rules")
    tick(engine, rules, settings, MONDAY, Transports(email=OutboxDirTransport(tmp_path / "outbox")))
    [kelly] = [
        msg
        for path in sorted((tmp_path / "outbox").glob("*reminder*.eml"))
        if "kelly"
        in str(
            (msg := email.message_from_bytes(path.read_bytes(), policy=email.policy.default))["To"]
        )
    ]
    ids = []
    for name in REPLIES:
        raw = addressed(name, kelly)
        imap_server.append(raw)
        ids.append(parse_mail(raw).message_id or "")
    assert len(set(ids)) == 3
    return engine, rules, settings, imap_server, ids


def ingesting(engine: Engine, settings, rules, handed: list[str]) -> Handler:
    """The real handler, as `fetch-mail` uses it, noting the UIDs it was given."""

    def handle(raw: bytes, uid: str) -> Outcome:
        handed.append(uid)
        return ingest_email(engine, raw, settings, rules, LATER).folder

    return handle


def recorded(engine: Engine) -> list[str]:
    """The Message-IDs whose replies became progress entries, in the order recorded."""
    with session(engine) as s:
        return list(
            s.exec(
                select(m.ProgressEntry.external_id)
                .where(m.ProgressEntry.source == "email")
                .order_by(col(m.ProgressEntry.id))
            )
        )


def logged(engine: Engine) -> list[str]:
    with session(engine) as s:
        return sorted(s.exec(select(m.InboundMessage.external_id)))


def test_dovecot_stopped_while_a_poll_runs(bot):
    engine, rules, settings, server, ids = bot
    handed: list[str] = []
    real = ingesting(engine, settings, rules, handed)

    def handle_then_stop_the_server(raw: bytes, uid: str) -> Outcome:
        outcome = real(raw, uid)  # recorded and committed ...
        if len(handed) == 1:
            server.stop()  # ... and the server goes away before the message is moved
        return outcome

    with MailboxPoller(settings.imap) as poller:
        first = poller.poll_once(handle_then_stop_the_server)
        assert not first.ok and first.errors, first
        assert handed == ["1"] and first.processed == []
        assert recorded(engine) == ids[:1]

        down = poller.poll_once(real)  # while it is down: an error, nothing handed
        assert not down.ok and down.handed == [] and "will reconnect" in down.errors[0]

        server.start()
        # nothing lost: the first is still there (recorded but never moved), with the others
        assert server.message_ids("INBOX") == ids
        handed.clear()
        after = poller.poll_once(real)  # the same poller reconnects
    assert after.ok, after.errors
    assert handed == ["1", "2", "3"] and after.processed == ["1", "2", "3"]
    assert recorded(engine) == ids  # the first once (the second time it was a duplicate)
    assert logged(engine) == sorted(ids)
    assert server.message_ids("INBOX") == []
    assert sorted(server.message_ids("Processed")) == sorted(ids)


def test_the_connection_cut_in_the_middle_of_a_fetch(bot):
    engine, rules, settings, server, ids = bot
    handed: list[str] = []
    handle = ingesting(engine, settings, rules, handed)
    # the second message's body is cut off 200 bytes in; one message is fetched at a time
    with CuttingProxy(("127.0.0.1", server.port), b"BODY[] {", occurrence=2, then=200) as proxy:
        config = server.config(port=proxy.port)
        with MailboxPoller(config, chunk_size=1) as poller:
            first = poller.poll_once(handle)
            assert proxy.cut
            assert not first.ok and first.errors, first
            assert handed == ["1"] and first.processed == ["1"]
            assert recorded(engine) == ids[:1]
            assert server.message_ids("INBOX") == ids[1:]  # nothing lost
            assert poller.state.last_uid == 1

            after = poller.poll_once(handle)  # reconnects through the relay, which now passes
    assert after.ok, after.errors
    assert handed == ["1", "2", "3"] and after.processed == ["2", "3"]
    assert recorded(engine) == ids
    assert logged(engine) == sorted(ids)
    assert server.message_ids("INBOX") == []
    assert sorted(server.message_ids("Processed")) == sorted(ids)
