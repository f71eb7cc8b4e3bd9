"""E-mail replies in: matched by signed token or thread, checked against the action's leads,
recorded once, confirmed in the thread; everything else set aside and changes no action.

Runs on SQLite and PostgreSQL with the small test plan after a real tick has sent the
reminders (to the .eml folder); replies are built as a mail program would send them.
"""

from __future__ import annotations

import email
import email.policy
import json
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import col, select
from typer.testing import CliRunner

from bot import models as m
from bot.chase_state import load_state
from bot.chasing import tick
from bot.db import make_engine, session
from bot.delivery import Transports
from bot.importing import import_files
from bot.inbound.email_replies import ingest_email
from bot.notify.email import OutboxDirTransport
from bot.rules import load_rules
from bot.settings import load_settings
from tests.conftest import REPO
from tests.test_load import PEOPLE, PLAN, write

LONDON = ZoneInfo("Europe/London")
MONDAY = datetime(2018, 11, 26, 10, 0, tzinfo=LONDON)
LATER = MONDAY + timedelta(hours=3)
SECRET = "s3cret-for-the-tests-0123456789"
BASE = "updates@medway.example.org"

DEPUTY = PEOPLE.replace(
    """  - name: Kelly Cogger""",
    """  - name: Dana Deputy
    email: dana.deputy@example.org
  - name: Kelly Cogger""",
).replace(
    "    variants: [Tracy Anstis]\n",
    "    variants: [Tracy Anstis]\n    delegates: [Dana Deputy]\n",
)


@pytest.fixture
def bot(database_url: str, tmp_path: Path):
    engine = make_engine(database_url)
    import_files(engine, write(tmp_path, PLAN, DEPUTY), MONDAY - timedelta(days=60))
    settings = load_settings(
        {
            "REPLY_SECRET": SECRET,
            "OUTBOX_DIR": str(tmp_path / "outbox"),
            "MAIL_FROM": "actionbot@medway.example.org",
        },
        env_file=None,
    )
    rules = load_rules(REPO / "rules")
    tick(engine, rules, settings, MONDAY, Transports(email=OutboxDirTransport(tmp_path / "outbox")))
    return engine, rules, settings, tmp_path


def reminder_to(tmp: Path, who: str) -> EmailMessage:
    for path in sorted((tmp / "outbox").glob("*reminder*.eml")):
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if who in str(msg["To"]):
            return msg  # type: ignore[return-value]
    raise AssertionError(f"no reminder to {who}")


def reply(
    to: EmailMessage,
    text: str,
    sender: str,
    *,
    address: str | None = None,
    thread: bool = True,
    headers: dict[str, str] | None = None,
    message_id: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = address or str(to["Reply-To"])
    msg["Subject"] = "Re: " + str(to["Subject"])
    msg["Date"] = format_datetime(LATER)
    msg["Message-ID"] = message_id or make_msgid(domain="example.org")
    if thread:
        msg["In-Reply-To"] = str(to["Message-ID"])
        msg["References"] = str(to["Message-ID"])
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    return bytes(msg)


def entries(engine) -> list[tuple[str, str, str, str | None]]:
    with session(engine) as s:
        rows = s.exec(
            select(m.ProgressEntry, m.Action)
            .join(m.Action, col(m.Action.id) == m.ProgressEntry.action_id)
            .where(m.ProgressEntry.source == "email")
            .order_by(col(m.ProgressEntry.id))
        ).all()
        return [(a.ref, p.text, p.author or "", p.rag) for p, a in rows]


def inbound(engine) -> list[tuple[str, str | None]]:
    with session(engine) as s:
        rows = s.exec(select(m.InboundMessage).order_by(col(m.InboundMessage.id))).all()
        return [(r.outcome, r.reason) for r in rows]


def outbox(engine, kind: str) -> list[m.Outbox]:
    with session(engine) as s:
        return list(s.exec(select(m.Outbox).where(m.Outbox.kind == kind)))


def test_a_reply_to_a_one_action_reminder_is_recorded_confirmed_and_stops_the_chase(bot):
    engine, rules, settings, tmp = bot
    kelly = reminder_to(tmp, "kelly")
    raw = reply(
        kelly, "Audits are now monthly.\nRAG: green", "Kelly Cogger <kelly.cogger@example.org>"
    )
    result = ingest_email(engine, raw, settings, rules, LATER)
    assert (result.outcome, result.refs, result.folder) == ("recorded", ("1.1.1",), "processed")
    assert entries(engine) == [
        ("1.1.1", "Audits are now monthly.\nRAG: green", "Kelly Cogger", "green")
    ]
    with session(engine) as s:
        action = s.exec(select(m.Action).where(m.Action.ref == "1.1.1")).one()
        assert (action.rag, action.rag_set_by) == ("green", "Kelly Cogger")
        chase = {a.ref: a.chase for a in load_state(s).actions}["1.1.1"]
    assert chase.reminders_unanswered == 0  # the reply answered the reminder
    [confirmation] = outbox(engine, "confirmation")
    assert confirmation.recipient == "kelly.cogger@example.org"
    sent = email.message_from_string(confirmation.payload, policy=email.policy.default)
    assert sent["In-Reply-To"] == email.message_from_bytes(raw)["Message-ID"]
    assert sent["Subject"] == "Re: " + str(kelly["Subject"])
    assert "Audits are now monthly." in sent.get_body(("plain",)).get_content()  # type: ignore[union-attr]

    # the same message again: one entry, one confirmation
    again = ingest_email(engine, raw, settings, rules, LATER + timedelta(minutes=5))
    assert again.outcome == "duplicate"
    assert len(entries(engine)) == 1 and len(outbox(engine, "confirmation")) == 1


def test_sections_of_a_multi_action_reply_go_to_their_actions(bot):
    engine, rules, settings, tmp = bot
    tracey = reminder_to(tmp, "tracey")
    text = (
        "Hi,\n\n1.1.1 Framework-I reports now go to PMQA.\n\n"
        "1.1.2 The DAN review is finished.\nComplete.\nRAG: green\nnew date: January 2019\n"
    )
    result = ingest_email(
        engine, reply(tracey, text, "tracey.anstis@example.org"), settings, rules, LATER
    )
    assert result.outcome == "recorded" and sorted(result.refs) == ["1.1.1", "1.1.2"]
    got = {ref: (body, rag) for ref, body, _who, rag in entries(engine)}
    assert got["1.1.1"] == ("1.1.1 Framework-I reports now go to PMQA.", None)
    assert (
        got["1.1.2"][0].startswith("1.1.2 The DAN review is finished.")
        and got["1.1.2"][1] == "green"
    )
    with session(engine) as s:
        status = {a.ref: a.status for a in s.exec(select(m.Action))}
        proposed = s.exec(
            select(m.ProgressEntry.proposed_due).where(
                col(m.ProgressEntry.proposed_due).is_not(None)
            )
        ).all()
    assert status == {"1.1.1": "open", "1.1.2": "complete"}
    assert proposed == ["2019-01"]  # kept for the operational group; the deadline is unchanged
    tick(
        engine,
        rules,
        settings,
        MONDAY + timedelta(days=7, hours=-0.9),
        Transports(email=OutboxDirTransport(tmp / "outbox")),
    )
    digest = sorted((tmp / "outbox").glob("*operational-digest*.eml"))[-1]
    body = email.message_from_bytes(digest.read_bytes(), policy=email.policy.default)
    text = body.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert (
        "- test-plan 1.1.2 — Review the DAN process: Tracey Anstis asks for Jan 2019 "
        "(now due 30 Nov 2018), on 26 Nov 2018"
    ) in text


def test_a_multi_action_reply_without_refs_is_asked_about_not_guessed(bot):
    engine, rules, settings, tmp = bot
    tracey = reminder_to(tmp, "tracey")
    result = ingest_email(
        engine,
        reply(tracey, "All in hand, thanks.", "tracey.anstis@example.org"),
        settings,
        rules,
        LATER,
    )
    assert result.outcome == "asked"
    assert entries(engine) == []
    [question] = outbox(engine, "question")
    body = email.message_from_string(question.payload, policy=email.policy.default)
    text = body.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "nothing has been recorded yet" in text and "Action 1.1.2" in text
    # answering the question with a ref records it
    answer = reply(
        body,
        "1.1.2 The review is under way.",
        "tracey.anstis@example.org",  # type: ignore[arg-type]
        address=BASE,
    )
    assert (
        ingest_email(engine, answer, settings, rules, LATER + timedelta(hours=1)).outcome
        == "recorded"
    )
    assert [e[0] for e in entries(engine)] == ["1.1.2"]


def test_a_forged_token_and_the_wrong_sender_are_quarantined_and_told_to_the_digest(bot):
    engine, rules, settings, tmp = bot
    kelly = reminder_to(tmp, "kelly")
    good = str(kelly["Reply-To"])
    local, _, domain = good.partition("@")
    flipped = local[:-1] + ("a" if local[-1] != "a" else "b")
    forged = reply(
        kelly, "Done.", "kelly.cogger@example.org", address=f"{flipped}@{domain}", thread=False
    )
    stranger = reply(kelly, "Done.", "someone@elsewhere.example.com")
    assert ingest_email(engine, forged, settings, rules, LATER).folder == "quarantine"
    assert ingest_email(engine, stranger, settings, rules, LATER).folder == "quarantine"
    assert entries(engine) == []
    reasons = [reason for _outcome, reason in inbound(engine)]
    assert reasons == [
        "the reply address's token was altered or is not one actionbot signed",
        "someone@elsewhere.example.com is not a lead of 1.1.1 or a delegate",
    ]
    # the next operational digest shows them to the business manager
    next_monday = MONDAY + timedelta(days=7)
    tick(
        engine,
        rules,
        settings,
        next_monday.replace(hour=9, minute=5),
        Transports(email=OutboxDirTransport(tmp / "outbox")),
    )
    digest = sorted((tmp / "outbox").glob("*operational-digest*.eml"))[-1]
    text = email.message_from_bytes(digest.read_bytes(), policy=email.policy.default)
    body = text.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "MESSAGES SET ASIDE, NOT RECORDED" in body
    assert (
        "email from someone@elsewhere.example.com: quarantined, "
        "someone@elsewhere.example.com is not a lead of 1.1.1 or a delegate" in body
    )


def test_a_thread_reply_without_a_token_and_a_delegate_are_accepted(bot):
    engine, rules, settings, tmp = bot
    tracey = reminder_to(tmp, "tracey")
    # sent to the plain address: matched by In-Reply-To; Dana may answer for Tracey
    raw = reply(
        tracey,
        "1.1.2 Dana here: the review starts on Monday.",
        "dana.deputy@example.org",
        address=BASE,
    )
    result = ingest_email(engine, raw, settings, rules, LATER)
    assert result.outcome == "recorded", result.reason
    assert entries(engine) == [
        ("1.1.2", "1.1.2 Dana here: the review starts on Monday.", "Dana Deputy", None)
    ]
    # neither token nor thread: nothing to go on
    lost = reply(tracey, "1.1.2 more", "tracey.anstis@example.org", address=BASE, thread=False)
    assert ingest_email(engine, lost, settings, rules, LATER).reason == (
        "not a reply to a message from actionbot (no reply token, no known In-Reply-To)"
    )


def test_an_out_of_office_pauses_the_lead_and_records_nothing(bot):
    engine, rules, settings, tmp = bot
    kelly = reminder_to(tmp, "kelly")
    ooo = reply(
        kelly,
        "I am out of the office until Monday 10 December 2018 with limited access to e-mail.",
        "kelly.cogger@example.org",
        headers={"Auto-Submitted": "auto-replied"},
    )
    result = ingest_email(engine, ooo, settings, rules, LATER)
    assert (result.outcome, result.reason) == ("auto-reply", "out of office until 10 Dec 2018")
    assert entries(engine) == []
    with session(engine) as s:
        kelly_row = s.exec(select(m.Person).where(m.Person.key == "kelly-cogger")).one()
        away = s.exec(select(m.AuditEvent).where(m.AuditEvent.kind == "away")).all()
    assert kelly_row.away_until == date(2018, 12, 10)
    assert [(e.person_key, e.until) for e in away] == [("kelly-cogger", date(2018, 12, 10))]
    # she is not reminded while away; Tracey still is
    week_on = tick(engine, rules, settings, MONDAY + timedelta(days=7), Transports())
    assert [r.lead.key for r in week_on.decisions.reminders] == ["tracey-anstis"]


BOUNCE = b"""\
From: Mail Delivery System <MAILER-DAEMON@medway.example.org>
To: actionbot@medway.example.org
Subject: Undelivered Mail Returned to Sender
Message-ID: <bounce-1@medway.example.org>
Date: Mon, 26 Nov 2018 13:00:00 +0000
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

This is the mail system. Your message could not be delivered.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.medway.example.org

Final-Recipient: rfc822; kelly.cogger@example.org
Action: failed
Status: 5.1.1

--b1--
""".replace(b"\n", b"\r\n")


def test_a_bounce_marks_the_address_failing(bot, monkeypatch: pytest.MonkeyPatch):
    engine, rules, settings, tmp = bot
    result = ingest_email(engine, BOUNCE, settings, rules, LATER)
    assert result.outcome == "bounce" and "kelly.cogger@example.org" in (result.reason or "")
    with session(engine) as s:
        kelly_row = s.exec(select(m.Person).where(m.Person.key == "kelly-cogger")).one()
    assert kelly_row.email_failing and kelly_row.email_failing_since is not None
    assert entries(engine) == []
    # check-data lists it for the business manager
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("ACTIONBOT_DATA_DIR", str(tmp))
    from bot.cli import app

    result = CliRunner().invoke(app, ["check-data", "--json"])
    assert result.exit_code == 0, result.output
    failing = [f for f in json.loads(result.output) if f["kind"] == "failing-address"]
    assert [f["message"].split(" bounces")[0] for f in failing] == [
        "Kelly Cogger: mail to kelly.cogger@example.org"
    ]


def test_mail_from_actionbot_itself_is_dropped(bot):
    engine, rules, settings, tmp = bot
    kelly = reminder_to(tmp, "kelly")
    loop = reply(kelly, "1.1.1 echo", "actionbot@medway.example.org")
    assert ingest_email(engine, loop, settings, rules, LATER).outcome == "ignored"
    assert entries(engine) == []


def test_ingest_email_command_reads_standard_input(bot, monkeypatch: pytest.MonkeyPatch):
    engine, rules, settings, tmp = bot
    monkeypatch.setenv("DATABASE_URL", str(engine.url.render_as_string(hide_password=False)))
    monkeypatch.setenv("REPLY_SECRET", SECRET)
    monkeypatch.setenv("MAIL_FROM", "actionbot@medway.example.org")
    monkeypatch.setenv("OUTBOX_DIR", str(tmp / "outbox"))
    monkeypatch.setenv("ACTIONBOT_RULES", str(REPO / "rules"))
    monkeypatch.chdir(tmp)
    raw = reply(reminder_to(tmp, "kelly"), "Monthly audits started.", "kelly.cogger@example.org")
    from bot.cli import app

    result = CliRunner().invoke(
        app, ["ingest-email", "-", "--as-of", "2018-11-26T13:00"], input=raw
    )
    assert result.exit_code == 0, result.output
    assert "recorded on 1.1.1" in result.output
    assert "confirmation: sent 1, failed 0" in result.output
    with session(engine) as s:
        row = s.exec(select(m.InboundMessage)).one()
    assert json.loads(row.action_ids or "[]") and row.outcome == "recorded"
    missing = CliRunner().invoke(app, ["ingest-email", str(tmp / "nope.eml")])
    assert missing.exit_code == 2 and "cannot read" in missing.output
