"""Messages as the outbox stores them: written directly, and sent as the bytes they are.

`email_text` must give the text the email package would (`as_text(build_email(...))`), and a
`StoredEmail` must reach a real SMTP server (aiosmtpd) and an outbox folder unchanged, with the
envelope `send_message` would have taken from its headers.
"""

from __future__ import annotations

import itertools
import random
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.notify.content import Recipient
from bot.notify.email import (
    OutboxDirTransport,
    SmtpTransport,
    StoredEmail,
    as_text,
    build_email,
    email_text,
)
from bot.notify.render import Rendered
from tests.smtp_server import Server

BOUNDARY = re.compile(r"={15}\d{19}==(\.\d+)?")
SUBJECTS = [
    "Action 2.3 progress update needed",
    "Reminder 2: Action 1.2 — Improve data reporting — progress update needed",
    "A subject far too long " * 60,
    "Looks encoded =?utf-8?q?x?= but is not",
    "Über die Maßnahme",
]
BODIES = [
    ("Dear Kelly,\nplease update.\n", "<p>Dear Kelly</p>"),
    ("Dear Zoë — please update.\n", "<p>Zoë &amp; co</p>\n"),
    ("x" * 1200 + "\n", "<p></p>"),
    ("", ""),
    ("windows\r\nand old mac\rline ends\n", "--" + "=" * 15 + "1==\n"),
]
RECIPIENTS = [
    [Recipient("Kelly Cogger", "kelly.cogger@example.org")],
    [Recipient("Cogger, Kelly", "kelly.cogger@example.org")],
    [Recipient("Zoë Smith", "zoe@example.org")],
    [Recipient("J. Smith", "j@example.org"), Recipient("No Mail", None), Recipient("A", "a@x.org")],
    [Recipient("", "nameless@example.org")],
]
SENT = datetime(2019, 6, 3, 9, 0, tzinfo=timezone(timedelta(hours=1)))


def same(text: str) -> str:
    return BOUNDARY.sub("BOUNDARY", text)


@pytest.mark.parametrize("subject", SUBJECTS)
def test_email_text_is_what_the_email_package_writes(subject: str):
    for (text, html), recipients, reply_to in itertools.product(
        BODIES, RECIPIENTS, (None, "updates+a1b2@example.org")
    ):
        rendered = Rendered(subject, text, html)
        options = {
            "kind": "reminder",
            "sender": "Actionbot <actionbot@example.org>",
            "recipients": recipients,
            "reply_to": reply_to,
            "sent_at": SENT,
            "message_id": "<reminder-kelly-1a2b3c4d5e@example.org>",
        }
        assert same(email_text(rendered, **options)) == same(  # type: ignore[arg-type]
            as_text(build_email(rendered, **options))  # type: ignore[arg-type]
        )


def test_subjects_beyond_ascii_are_encoded_as_the_email_package_does():
    """Subjects with words beyond ASCII here and there, in every script and punctuation, long
    and short: `email_text` writes most of them itself and must match the package each time."""
    rng = random.Random(20261123)
    letters = list("abcXYZ019.,:;-_?=()[]<>@\"'!/\\*+%&") + list("éüß—–“”’…€日本語ÄÖ\u200b😀")
    options = {
        "kind": "reminder",
        "sender": "Actionbot <actionbot@example.org>",
        "recipients": RECIPIENTS[0],
        "reply_to": None,
        "sent_at": SENT,
        "message_id": "<reminder-kelly-1a2b3c4d5e@example.org>",
    }
    for _ in range(300):
        size = rng.choice([2, 5, 12, 90])
        words = [
            "".join(rng.choice(letters) for _ in range(rng.randint(1, size)))
            for _ in range(rng.randint(1, 12))
        ]
        rendered = Rendered(" ".join(words), "Dear Kelly,\n", "<p>Dear Kelly</p>")
        assert same(email_text(rendered, **options)) == same(  # type: ignore[arg-type]
            as_text(build_email(rendered, **options))  # type: ignore[arg-type]
        ), rendered.subject


def test_email_text_refuses_what_build_email_refuses():
    rendered = Rendered("s", "t", "h")
    options = {"kind": "reminder", "sender": "a@x.org", "reply_to": None, "message_id": "<a@x>"}
    with pytest.raises(ValueError, match="time zone"):
        email_text(rendered, recipients=RECIPIENTS[0], sent_at=SENT.replace(tzinfo=None), **options)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no e-mail address"):
        email_text(rendered, recipients=[Recipient("No Mail", None)], sent_at=SENT, **options)  # type: ignore[arg-type]


def stored(recipients: list[Recipient], subject: str = SUBJECTS[1]) -> StoredEmail:
    text = email_text(
        Rendered(subject, BODIES[1][0], BODIES[1][1]),
        kind="reminder",
        sender="Actionbot <actionbot@example.org>",
        recipients=recipients,
        reply_to="updates+a1b2@example.org",
        sent_at=SENT,
        message_id="<reminder-kelly-1a2b3c4d5e@example.org>",
    )
    return StoredEmail.from_text(text)


def test_a_stored_message_reads_its_headers_and_parses_whole():
    msg = stored(RECIPIENTS[3])
    assert msg.get("Message-ID") == "<reminder-kelly-1a2b3c4d5e@example.org>"
    assert msg["X-Actionbot-Kind"] == "reminder"
    assert msg.get_all("To") == ['"J. Smith" <j@example.org>, A <a@x.org>']
    assert msg.get("Cc") is None and "Bcc" not in msg
    whole = msg.message()
    assert str(whole["Subject"]) == SUBJECTS[1]
    assert whole.get_body(("plain",)).get_content() == BODIES[1][0]  # type: ignore[union-attr]


def test_a_stored_message_goes_as_its_bytes(server: Server):
    messages = [stored(RECIPIENTS[0]), stored(RECIPIENTS[3]), stored(RECIPIENTS[2])]
    results = SmtpTransport(server.config).send_batch(messages)
    assert all(r.ok for r in results)
    assert [r.message_id for r in results] == ["<reminder-kelly-1a2b3c4d5e@example.org>"] * 3
    got = server.handler.received
    assert [r["rcpt_tos"] for r in got] == [
        ["kelly.cogger@example.org"],
        ["j@example.org", "a@x.org"],
        ["zoe@example.org"],
    ]
    assert {r["mail_from"] for r in got} == {"actionbot@example.org"}
    for sent, received in zip(messages, got, strict=True):
        message, whole = received["message"], sent.message()
        for name in ("From", "To", "Subject", "Date", "Message-ID", "Reply-To", "X-Actionbot-Kind"):
            assert str(message[name]) == str(whole[name])
        for part in ("plain", "html"):
            assert message.get_body((part,)).get_content() == whole.get_body((part,)).get_content()  # type: ignore[union-attr]
        assert str(message["Subject"]) == SUBJECTS[1]


def test_an_outbox_folder_keeps_the_stored_bytes(tmp_path: Path):
    msg = stored(RECIPIENTS[0])
    [result] = OutboxDirTransport(tmp_path).send_batch([msg])
    assert result.ok
    [path] = tmp_path.glob("*.eml")
    assert path.read_bytes() == msg.data
    assert path == OutboxDirTransport(tmp_path).path_for(msg)
    assert path.name.startswith("20190603-090000-reminder-kelly.cogger-at-example.org-")


def test_naive_sent_at_is_refused_in_utc_too():
    # the Date header says the zone, so a moment without one is refused, not guessed
    with pytest.raises(ValueError):
        stored_text = email_text(
            Rendered("s", "t", "h"),
            kind="reminder",
            sender="a@x.org",
            recipients=RECIPIENTS[0],
            reply_to=None,
            sent_at=datetime(2019, 6, 3, 9, 0),
            message_id="<a@x>",
        )
        assert stored_text
    assert email_text(
        Rendered("s", "t", "h"),
        kind="reminder",
        sender="a@x.org",
        recipients=RECIPIENTS[0],
        reply_to=None,
        sent_at=datetime(2019, 6, 3, 8, 0, tzinfo=UTC),
        message_id="<a@x>",
    ).startswith("From: a@x.org\r\n")
