"""A message answering a lead's reply (a confirmation, a question) is written as text directly
(`email_text` with `in_reply_to`): it must be the text the email package writes for the same
message, whatever Message-ID the lead's mail program gave the reply."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta, timezone

import pytest

from bot.delivery import email_payload
from bot.notify.content import Recipient
from bot.notify.email import build_email, email_text
from bot.notify.render import Rendered

BOUNDARY = re.compile(r"={15}\d{19}==(\.\d+)?")
SENT = datetime(2018, 11, 26, 13, 0, tzinfo=timezone(timedelta(hours=0)))
REPLY_IDS = [
    "<CAF+x=y_z@mail.gmail.com>",
    "<sha256-0123456789abcdef@actionbot.invalid>",
    "<" + "a" * 300 + "@example.org>",
    "no-angle-brackets@example.org",
    "<zoë@example.org>",
    "<two@ids.example> <second@ids.example>",
    "<tab\tand  two spaces@example.org>",
    "<looks=?utf-8?q?encoded?=@example.org>",
    "",
]
RECIPIENTS = [
    Recipient("Kelly Cogger", "kelly.cogger@example.org"),
    Recipient("Cogger, Kelly", "kelly.cogger@example.org"),
    Recipient("kelly.cogger@example.org", "kelly.cogger@example.org"),  # a From without a name
]
RENDERED = [
    Rendered("Recorded: Action 1.1.1", "Thank you — recorded.\n", "<p>Thank you</p>\n"),
    Rendered("Re: Which action?", "Which one?\n", "<p>Which one?</p>\n"),
]


def same(text: str) -> str:
    return BOUNDARY.sub("BOUNDARY", text)


@pytest.mark.parametrize("in_reply_to", REPLY_IDS)
def test_a_reply_in_the_leads_thread_is_what_the_email_package_writes(in_reply_to: str):
    for recipient, rendered in itertools.product(RECIPIENTS, RENDERED):
        options = {
            "kind": "confirmation",
            "sender": "actionbot@medway.example.org",
            "recipients": [recipient],
            "reply_to": None,
            "sent_at": SENT,
            "message_id": "<confirmation-abc-0123456789@medway.example.org>",
            "in_reply_to": in_reply_to,
        }
        written = email_text(rendered, **options)  # type: ignore[arg-type]
        built = email_payload(build_email(rendered, **options))  # type: ignore[arg-type]
        assert same(written) == same(built), (recipient, rendered.subject)
        if in_reply_to:
            assert "\r\nIn-Reply-To: " in written and "\r\nReferences: " in written
