"""Replies read from a real mailbox (Dovecot on loopback): the realistic messages in tests/mail/
addressed to a real reminder, taken in by `fetch-mail`'s pass and moved out of the inbox only
after the database has them. A crash between the commit and the move loses nothing and
records nothing twice."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select

from bot import models as m
from bot.chasing import tick
from bot.db import make_engine, session
from bot.delivery import Transports
from bot.importing import import_files
from bot.inbound.email_replies import ingest_email
from bot.inbound.imap import MailboxPoller, Outcome
from bot.inbound.mail import parse_mail
from bot.inbound.mail_loop import poll_mail
from bot.notify.email import OutboxDirTransport
from bot.rules import load_rules
from bot.settings import load_settings
from tests.conftest import REPO
from tests.imap_server import ImapServer
from tests.test_load import PEOPLE, PLAN, write

LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2018, 11, 26, 10, 0, tzinfo=LONDON)
LATER = MONDAY + timedelta(hours=4)
CORPUS = Path(__file__).parent / "mail"
KELLY = "Kelly Cogger <kelly.cogger@example.org>"


@pytest.fixture
def bot(database_url: str, tmp_path: Path, imap_server: ImapServer):
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
    kelly = next(
        msg
        for path in sorted((tmp_path / "outbox").glob("*reminder*.eml"))
        if "kelly"
        in str(
            (msg := email.message_from_bytes(path.read_bytes(), policy=email.policy.default))["To"]
        )
    )
    return engine, rules, settings, imap_server, kelly


def addressed(
    name: str, reminder: EmailMessage, sender: str = KELLY, to: str | None = None
) -> bytes:
    """A corpus message as if sent in answer to `reminder`: its body and client headers kept."""
    msg = email.message_from_bytes((CORPUS / name).read_bytes(), policy=email.policy.compat32)
    for header, value in (
        ("From", sender),
        ("To", to or str(reminder["Reply-To"])),
        ("In-Reply-To", str(reminder["Message-ID"])),
        ("References", str(reminder["Message-ID"])),
    ):
        del msg[header]
        msg[header] = value
    if not msg["Message-ID"] or not str(msg["Message-ID"]).strip():
        del msg["Message-ID"]
        msg["Message-ID"] = f"<{name}@test.example.org>"
    return msg.as_bytes()


def poll(bot) -> object:
    engine, rules, settings, _server, _kelly = bot
    with MailboxPoller(settings.imap) as poller:
        return poll_mail(engine, settings, rules, poller, lambda: LATER, send=False)


def email_entries(engine) -> list[str]:
    with session(engine) as s:
        return list(
            s.exec(
                select(m.ProgressEntry.text)
                .where(m.ProgressEntry.source == "email")
                .order_by(col(m.ProgressEntry.id))
            )
        )


@pytest.mark.parametrize(
    "name",
    [
        "outlook_desktop.eml",
        "outlook_web_html.eml",
        "gmail.eml",
        "apple_mail.eml",
        "iphone.eml",
        "latin1.eml",
        "attachment.eml",
    ],
)
def test_a_lead_reply_from_each_mail_program_is_recorded_with_its_new_text_only(bot, name):
    engine, _rules, _settings, server, kelly = bot
    raw = addressed(name, kelly)
    server.append(raw)
    poll(bot)
    [text] = email_entries(engine)
    expected = parse_mail(raw)
    assert text.startswith(expected.text)  # attachments are noted after the text
    for history in ("wrote:", "-----Original Message-----", "\nFrom: ", "> ", "Sent from my"):
        assert history not in text, history
    for attached in expected.attachments:
        assert attached in text
    assert server.message_ids("INBOX") == []
    assert len(server.message_ids("Processed")) == 1


def test_not_genuine_answers_are_set_aside_and_change_no_action(bot):
    engine, _rules, _settings, server, kelly = bot
    good = str(kelly["Reply-To"])
    local, _, domain = good.partition("@")
    forged = local[:-2] + ("aa" if local[-2:] != "aa" else "bb") + "@" + domain
    server.append(addressed("gmail.eml", kelly, to=forged))  # an altered token
    server.append(addressed("iphone.eml", kelly, sender="Mallory <mallory@example.com>"))
    server.append(addressed("ooo_exchange.eml", kelly))
    server.append((CORPUS / "bounce_dsn.eml").read_bytes())
    poll(bot)
    assert email_entries(engine) == []
    assert server.message_ids("INBOX") == []
    assert len(server.message_ids("Quarantine")) == 2  # the forged and the stranger's
    assert len(server.message_ids("Processed")) == 2  # the out-of-office and the bounce
    with session(engine) as s:
        outcomes = sorted(r.outcome for r in s.exec(select(m.InboundMessage)))
    assert outcomes == ["auto-reply", "bounce", "quarantined", "quarantined"]


def test_the_same_message_twice_records_once(bot):
    engine, _rules, _settings, server, kelly = bot
    raw = addressed("gmail.eml", kelly)
    server.append(raw)
    server.append(raw)
    poll(bot)
    assert len(email_entries(engine)) == 1
    assert len(server.message_ids("Processed")) == 2


def test_a_crash_between_commit_and_move_loses_nothing_and_duplicates_nothing(bot):
    engine, rules, settings, server, kelly = bot
    server.append(addressed("outlook_desktop.eml", kelly))

    class Crash(Exception):
        pass

    def commit_then_die(raw: bytes, _uid: str) -> Outcome:
        ingest_email(engine, raw, settings, rules, LATER)  # committed ...
        raise Crash("the process died before the move")  # ... and never moved

    with MailboxPoller(settings.imap) as poller:
        first = poller.poll_once(commit_then_die)
    assert first.failed and server.message_ids("INBOX")  # still in the inbox
    assert len(email_entries(engine)) == 1

    poll(bot)  # the restarted bot sees it again: a duplicate, moved, not recorded again
    assert len(email_entries(engine)) == 1
    assert server.message_ids("INBOX") == []
    assert len(server.message_ids("Processed")) == 1
    with session(engine) as s:
        assert len(s.exec(select(m.Outbox).where(m.Outbox.kind == "confirmation")).all()) == 1
