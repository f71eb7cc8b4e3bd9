"""Raw replies -> ParsedMail: a corpus of messages written the way real clients send them
(tests/mail/*.eml), the cleaning rules one by one, and sections of multi-action replies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.inbound.clean import html_to_text, new_text
from bot.inbound.mail import ParsedMail, parse_mail
from bot.inbound.sections import Section, split_sections
from bot.plans.partial_date import PartialDate

MAIL = Path(__file__).parent / "mail"
CORPUS = sorted(MAIL.glob("*.eml"))
TRACEY_TOKEN = "updates+aeaqcaibaeaqcm7nz3qyhk4wxe@example.org"
KELLY_TOKEN = "updates+aeaqcaqbaeaqdqxk5mzw2ygj3a@example.org"
REMINDER_231 = "<reminder-2018-11-12-a-2-3-1-3f9a1c2b7d@example.org>"
REMINDER_111 = "<reminder-2018-11-12-a-1-1-1-8d2e0c4a11@example.org>"


def parse(name: str) -> ParsedMail:
    return parse_mail((MAIL / name).read_bytes())


def html_part(name: str) -> str:
    """The HTML alternative of a corpus message, for checking it cleans like the text one."""
    import email
    import email.policy

    msg = email.message_from_bytes((MAIL / name).read_bytes(), policy=email.policy.default)
    [html] = [p for p in msg.walk() if p.get_content_type() == "text/html"]
    return str(html.get_content())  # type: ignore[attr-defined]


def message(headers: str, body: str = "Thanks.\n", charset: str = "utf-8") -> bytes:
    """A small message with these headers, for the rules the corpus does not cover."""
    base = "From: Tracey Anstis <tracey.anstis@example.org>\nTo: " + TRACEY_TOKEN + "\n"
    head = base + headers.strip() + "\n" if headers.strip() else base
    head += f'Content-Type: text/plain; charset="{charset}"\nContent-Transfer-Encoding: 8bit\n'
    return head.encode("ascii") + b"\n" + body.encode("utf-8")


# --- the corpus ------------------------------------------------------------------------------

OUTLOOK_TEXT = (
    "Hi,\n\n"
    "The MASH audit was completed in October and the findings went to the operational group "
    "on 6 November. Three recommendations have been agreed, the first two are already in "
    "place.\n\n"
    "We will repeat the audit in March 2019.\n\n"
    "Thanks,\nTracey\n\n"
    "Tracey Anstis\nHead of Quality Assurance, Children's Services\n"
    "Example County Council | 01632 960123"
)


def test_outlook_desktop_reply() -> None:
    raw = (MAIL / "outlook_desktop.eml").read_bytes()
    assert b"\r\nX-Auto-Response-Suppress: All\r\n" in raw  # real Outlook replies carry it
    assert parse_mail(raw) == ParsedMail(
        message_id="<6B1E7F2A9C3D4E8FA0B1C2D3E4F5A6B7@EXMBX02.corp.example.org>",
        sender="tracey.anstis@example.org",
        sender_name="Anstis, Tracey",
        recipients=(TRACEY_TOKEN, "kelly.cogger@example.org"),
        references=(REMINDER_231,),
        subject="RE: Action 2.3.1 - update needed by 19 Nov 2018",
        sent_at=datetime(2018, 11, 13, 10, 42, 17, tzinfo=UTC),
        kind="reply",
        why=None,
        away_until=None,
        bounced=(),
        text=OUTLOOK_TEXT,
        attachments=(),
    )


def test_outlook_html_alternative_cleans_to_the_same_text() -> None:
    """The "**From:** … **Sent:**" block html2text makes of Outlook's quote header, and the
    disclaimer above it, go just as in the plain-text part."""
    assert new_text(html_to_text(html_part("outlook_desktop.eml"))) == OUTLOOK_TEXT


GMAIL_TEXT = (
    "Hi,\n\n"
    "All three training sessions have now been delivered, 62 staff attended.\n"
    "Feedback forms are being collated – summary to the next operational group.\n\n"
    "RAG: green\n\n"
    "Kelly"
)


def test_gmail_reply_with_two_line_attribution_and_quotes() -> None:
    mail = parse("gmail.eml")
    assert mail.text == GMAIL_TEXT
    assert mail.message_id == (
        "<CAF3kT9ZrX=0bq7W8pPk1uN2yV6dT3wq4H+Jx0sL7c9gQ2mR5nA@mail.gmail.com>"
    )
    assert (mail.sender, mail.sender_name) == ("kelly.cogger.lscb@gmail.com", "Kelly Cogger")
    assert mail.recipients == (KELLY_TOKEN,)
    assert mail.references == (REMINDER_111,)
    assert mail.sent_at == datetime(2018, 11, 12, 17, 31, 40, tzinfo=UTC)
    assert (mail.kind, mail.why, mail.attachments) == ("reply", None, ())


def test_gmail_html_alternative_cleans_to_the_same_text() -> None:
    assert new_text(html_to_text(html_part("gmail.eml"))) == GMAIL_TEXT


def test_apple_mail_reply_with_quoted_attribution() -> None:
    mail = parse("apple_mail.eml")
    assert mail.text == (
        "Morning,\n\n"
        "The revised MASH threshold document goes to the strategic board on 24 January. "
        "The draft is with legal.\n\n"
        "Tracey"
    )
    assert mail.message_id == "<8C2B4F6E-1A3D-4B5C-9E7F-0D1C2B3A4E5F@example.org>"
    assert mail.references == (REMINDER_231,)
    assert mail.kind == "reply"


def test_iphone_reply_loses_sent_from_and_attribution() -> None:
    mail = parse("iphone.eml")
    assert mail.text == "Will send the attendance figures tomorrow when I'm back at my desk."
    assert mail.sent_at == datetime(2018, 11, 14, 19, 52, 33, tzinfo=UTC)


def test_outlook_web_html_only_reply() -> None:
    mail = parse("outlook_web_html.eml")
    assert mail.text == (
        "Hello,\n\n"
        "The joint protocol with the police was signed off on 9 November. Copies have gone to "
        "all team managers.\n\n"
        "This action is now complete.\n\n"
        "Kelly"
    )
    # To, Delivered-To and X-Original-To name the same address: listed once.
    assert mail.recipients == ("updates+aeaqcbabaeaqcyq2lw7fnk3pma@example.org",)
    assert mail.message_id == (
        "<AM6PR0502MB36725F0B2A1C9D3E7F4B8A62C7E40@AM6PR0502MB3672.eurprd05.prod.outlook.com>"
    )
    assert mail.sender == "kelly.cogger@police.example.org"
    assert split_sections(mail.text, ["PA.2"])[0].completed


def test_latin1_declared_message_with_windows_quotes() -> None:
    """Declared iso-8859-1, holding cp1252's curly apostrophe (0x92) as Outlook writes it."""
    mail = parse("latin1.eml")
    assert mail.sender_name == "Zoë Bélanger"
    assert mail.sender == "zoe.belanger@health.example.org"
    assert mail.subject == "RE: Action 3.2 - délégués et budget"
    assert mail.sent_at == datetime(2018, 11, 16, 16, 20, 5, tzinfo=timezone(timedelta(hours=1)))
    assert mail.text == (
        "Hi,\n\n"
        "The CCG has agreed £2,500 for the named GP training. Renée and François are leading "
        "it and we’ll report back in January.\n\n"
        "Best wishes,\nZoë"
    )
    assert mail.references == ()


def test_multi_action_reply_splits_into_sections() -> None:
    mail = parse("multi_action.eml")
    assert mail.kind == "reply"
    assert split_sections(mail.text, ["1.1", "1.1.1", "1.1.2"]) == [
        Section(None, "Hello,\n\nUpdates on my two actions below.", None, False, None),
        Section(
            "1.1.1",
            "1.1.1 – Training delivered to all social care teams in October, 62 staff.\n"
            "RAG: green\nThis action is now complete.",
            rag="green",
            completed=True,
            proposed=None,
        ),
        Section(
            "1.1.2",
            "1.1.2 - Audit of supervision records has started but is behind because of\n"
            "staff sickness in the team. Not yet complete.\nRAG amber\nNew date: March 2019"
            "\n\nThanks,\nKelly",
            rag="amber",
            completed=False,
            proposed=PartialDate(2019, 3),
        ),
    ]


def test_exchange_out_of_office() -> None:
    mail = parse("ooo_exchange.eml")
    assert (mail.kind, mail.why) == ("auto-reply", "Auto-Submitted: auto-replied")
    assert mail.away_until == date(2018, 11, 26)  # not the 9th, the day the leave began
    assert mail.subject == "Automatic reply: Action 2.3.1 - update needed by 19 Nov 2018"
    assert mail.references == (REMINDER_231,)
    assert mail.text.startswith("Thank you for your email. I am on annual leave")


def test_german_out_of_office_known_by_its_subject() -> None:
    mail = parse("ooo_german.eml")
    assert mail.kind == "auto-reply"
    assert mail.why == "subject 'Abwesenheitsnotiz: Action 4.1 - update needed by 19 Nov 2018'"
    assert mail.away_until == date(2018, 11, 16)  # "bis einschließlich 16.11.2018"


def test_french_out_of_office_known_by_its_subject() -> None:
    mail = parse("ooo_french.eml")
    assert mail.kind == "auto-reply"
    assert mail.why == "subject 'Réponse automatique : Action 4.2 - update needed'"
    assert mail.away_until == date(2019, 1, 7)  # "jusqu'au 07/01/2019"
    assert mail.sender_name == "Claire Dubois"


def test_bounce_delivery_report() -> None:
    mail = parse("bounce_dsn.eml")
    assert (mail.kind, mail.why) == ("bounce", "multipart/report delivery-status")
    # Original-Recipient is the address we sent to; Final-Recipient where it was forwarded.
    assert mail.bounced == ("kelly.cogger@example.org", "k.cogger@example.org")
    assert mail.sender == "mailer-daemon@mx1.example.org"
    assert mail.recipients == ("updates@example.org",)
    assert mail.text.startswith("This is the mail system at host mx1.example.org.")
    assert mail.away_until is None


def test_bounce_from_exim_without_report() -> None:
    mail = parse("bounce_exim.eml")
    assert mail.kind == "bounce"
    assert mail.why == (
        "From mailer-daemon@relay.example.net with subject "
        "'Mail delivery failed: returning message to sender'"
    )
    assert mail.bounced == ("tracey.anstis@old-council.example.net",)
    assert mail.recipients == ("updates@example.org",)  # Envelope-To


def test_bounce_addresses_read_from_its_text_when_no_header_lists_them() -> None:
    raw = (MAIL / "bounce_exim.eml").read_bytes()
    raw = raw.replace(b"X-Failed-Recipients: tracey.anstis@old-council.example.net\n", b"")
    mail = parse_mail(raw)
    # The copy of our own message below the notice names us and the lead again: not read.
    assert mail.bounced == ("tracey.anstis@old-council.example.net",)


def test_attachments_are_named_and_inline_images_are_not() -> None:
    mail = parse("attachment.eml")
    assert mail.attachments == (
        "MASH audit report Oct 2018.pdf",
        "Action log – operational group.docx",  # RFC 2231 encoded name
    )
    assert mail.text == (
        "Hi,\n\nAudit report attached, and the action log from the operational group.\n\n"
        "Tracey\n\nTracey Anstis\nHead of Quality Assurance, Children's Services"
    )
    assert mail.references == (
        "<reminder-2018-11-19-a-2-3-1-0c9e8d7f6a@example.org>",
        REMINDER_231,
    )


def test_garbage_message_gives_what_can_be_read() -> None:
    assert parse("garbage.eml") == ParsedMail(
        message_id=None,
        sender=None,  # "Renée <<<@@@>>>" holds no address
        sender_name=None,
        recipients=(TRACEY_TOKEN, "kelly.cogger@example.org"),
        references=("<one@example.org>",),
        subject="!!!notbase64 status café",
        sent_at=None,
        kind="reply",
        why=None,
        away_until=None,
        bounced=(),
        text="",  # multipart whose boundary never comes: no readable part
        attachments=(),
    )


@pytest.mark.parametrize(
    "raw",
    [b"", b"\x00\xff" * 50, b"not an email at all", b"\r\n\r\n\r\n", b"From:\nTo:\n\n"],
)
def test_hopeless_input_gives_an_empty_reply(raw: bytes) -> None:
    mail = parse_mail(raw)
    assert (mail.kind, mail.sender, mail.message_id, mail.sent_at) == ("reply", None, None, None)
    assert mail.recipients == mail.references == mail.attachments == ()


# --- headers ----------------------------------------------------------------------------------


def test_recipients_come_from_every_delivery_header_in_order() -> None:
    mail = parse_mail(
        message(
            "Cc: Kelly Cogger <KELLY.COGGER@example.org>, " + TRACEY_TOKEN + "\n"
            "Delivered-To: updates+aaaa@example.org\n"
            "X-Original-To: Updates+BBBB@Example.org\n"
            "Envelope-To: updates+cccc@example.org"
        )
    )
    assert mail.recipients == (
        TRACEY_TOKEN,
        "kelly.cogger@example.org",
        "updates+aaaa@example.org",
        "updates+bbbb@example.org",
        "updates+cccc@example.org",
    )


def test_references_in_reply_to_first_deduplicated() -> None:
    mail = parse_mail(
        message(
            "In-Reply-To: <b@example.org>\n"
            "References: <a@example.org>\n <b@example.org> <c@example.org>"
        )
    )
    assert mail.references == ("<b@example.org>", "<a@example.org>", "<c@example.org>")


@pytest.mark.parametrize(
    ("date_header", "expected"),
    [
        ("Mon, 12 Nov 2018 09:05:00 +0000", datetime(2018, 11, 12, 9, 5, tzinfo=UTC)),
        ("Mon, 12 Nov 2018 09:05:00 -0000", datetime(2018, 11, 12, 9, 5, tzinfo=UTC)),
        ("12 Nov 2018 09:05 GMT", datetime(2018, 11, 12, 9, 5, tzinfo=UTC)),
        ("yesterday-ish", None),
    ],
)
def test_sent_at_is_timezone_aware(date_header: str, expected: datetime | None) -> None:
    sent_at = parse_mail(message(f"Date: {date_header}")).sent_at
    assert sent_at == expected
    assert sent_at is None or sent_at.tzinfo is not None


@pytest.mark.parametrize(
    ("charset", "body", "text"),
    [
        ("utf-8", "Agreed \xa32,500 for Ren\xe9e".encode("cp1252"), "Agreed £2,500 for Renée"),
        ("x-no-such-charset", "Ren\u00e9e".encode(), "Renée"),
        ("base64", b"Plain words", "Plain words"),  # a codec, but no charset
        ("windows-1252", b"we\x92ll", "we’ll"),
        ("koi8-r", "Привет".encode("koi8-r"), "Привет"),
    ],
)
def test_body_charsets(charset: str, body: bytes, text: str) -> None:
    head = (
        "From: tracey.anstis@example.org\nTo: " + TRACEY_TOKEN + "\n"
        f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: 8bit\n\n"
    )
    assert parse_mail(head.encode() + body).text == text


def test_control_characters_are_dropped() -> None:
    assert parse_mail(message("Subject: Re:\x01 Action", "Done\x00 now")).text == "Done now"


# --- reply, auto-reply or bounce ------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "kind", "why"),
    [
        ("Subject: Re: Action 2.3.1", "reply", None),
        ("X-Auto-Response-Suppress: All\nSubject: RE: Action 2.3.1", "reply", None),
        ("Auto-Submitted: no", "reply", None),
        ("Auto-Submitted: auto-generated", "auto-reply", "Auto-Submitted: auto-generated"),
        ("Auto-Submitted: Auto-Replied", "auto-reply", "Auto-Submitted: Auto-Replied"),
        ("X-Autoreply: yes", "auto-reply", "X-Autoreply: yes"),
        ("X-Autorespond: Out of office", "auto-reply", "X-Autorespond: Out of office"),
        ("X-Autoresponder: 1", "auto-reply", "X-Autoresponder: 1"),
        ("Precedence: bulk", "auto-reply", "Precedence: bulk"),
        ("Precedence: auto_reply", "auto-reply", "Precedence: auto_reply"),
        ("Precedence: list", "reply", None),
        (
            "X-MS-Exchange-Inbox-Rules-Loop: tracey.anstis@example.org",
            "auto-reply",
            "X-MS-Exchange-Inbox-Rules-Loop: tracey.anstis@example.org",
        ),
        (
            "Subject: Out of Office: Action 2.3.1",
            "auto-reply",
            "subject 'Out of Office: Action 2.3.1'",
        ),
        (
            "Subject: AUTO: Tracey Anstis is out",
            "auto-reply",
            "subject 'AUTO: Tracey Anstis is out'",
        ),
        ("Subject: Autoreply: leave", "auto-reply", "subject 'Autoreply: leave'"),
        (
            "Subject: [EXTERNAL] Automatic reply: x",
            "auto-reply",
            "subject '[EXTERNAL] Automatic reply: x'",
        ),
        (
            "Subject: =?utf-8?q?Respuesta_autom=C3=A1tica:_x?=",
            "auto-reply",
            "subject 'Respuesta automática: x'",
        ),
        ("Subject: Risposta automatica: x", "auto-reply", "subject 'Risposta automatica: x'"),
        ("Subject: Automatisch antwoord: x", "auto-reply", "subject 'Automatisch antwoord: x'"),
        ("Subject: Fuera de la oficina: x", "auto-reply", "subject 'Fuera de la oficina: x'"),
        ("Subject: Re: Out of office cover for MASH", "reply", None),
    ],
)
def test_classification(headers: str, kind: str, why: str | None) -> None:
    mail = parse_mail(message(headers))
    assert (mail.kind, mail.why) == (kind, why)


def test_daemon_without_failure_subject_is_no_bounce() -> None:
    raw = message("Subject: Your mailbox is almost full").replace(
        b"From: Tracey Anstis <tracey.anstis@example.org>", b"From: postmaster@example.org"
    )
    assert parse_mail(raw).kind == "reply"


@pytest.mark.parametrize(
    "subject",
    ["Undeliverable: Action 2.3.1", "Delivery Status Notification (Failure)", "Returned mail"],
)
def test_postmaster_failure_subjects_are_bounces(subject: str) -> None:
    raw = message(f"Subject: {subject}", "Delivery to kelly.cogger@example.org failed.\n")
    raw = raw.replace(
        b"From: Tracey Anstis <tracey.anstis@example.org>",
        b"From: Microsoft Outlook <postmaster@example.org>",
    )
    mail = parse_mail(raw)
    assert mail.kind == "bounce"
    assert mail.bounced == ("kelly.cogger@example.org",)


def _report(report_type: str, status: str) -> bytes:
    return (
        "From: MAILER-DAEMON@mx1.example.org\nTo: updates@example.org\nSubject: Delayed Mail\n"
        f'Content-Type: multipart/report; report-type={report_type}; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\nNotice.\n\n"
        f"--b\nContent-Type: message/{report_type}\n\n{status}\n--b--\n"
    ).encode()


def test_delay_notice_is_no_bounce() -> None:
    status = "Reporting-MTA: dns; mx1.example.org\n\nFinal-Recipient: rfc822; k@example.org\n"
    mail = parse_mail(_report("delivery-status", status + "Action: delayed\nStatus: 4.4.7\n"))
    assert (mail.kind, mail.why, mail.bounced) == (
        "auto-reply",
        "multipart/report delivery-status (delayed)",
        (),
    )
    failed = parse_mail(_report("delivery-status", status + "Action: failed\nStatus: 5.1.1\n"))
    assert (failed.kind, failed.bounced) == ("bounce", ("k@example.org",))


def test_read_receipt_is_an_auto_reply() -> None:
    mail = parse_mail(_report("disposition-notification", "Disposition: manual; displayed\n"))
    assert (mail.kind, mail.why) == ("auto-reply", "multipart/report disposition-notification")


@pytest.mark.parametrize(
    ("date_header", "body", "until"),
    [
        (
            "Mon, 12 Nov 2018 09:05:00 +0000",
            "I will be back on Monday 19 November 2018.",
            date(2018, 11, 19),
        ),
        ("Mon, 12 Nov 2018 09:05:00 +0000", "I am away, returning 3/12/2018.", date(2018, 12, 3)),
        ("Mon, 12 Nov 2018 09:05:00 +0000", "I am on leave until 5th December.", date(2018, 12, 5)),
        (
            "Thu, 20 Dec 2018 16:00:00 +0000",
            "Back on 3rd January. Merry Christmas!",
            date(2019, 1, 3),
        ),
        (
            "Mon, 12 Nov 2018 09:05:00 +0000",
            "I am away from 12 to 16 November 2018.",
            date(2018, 11, 16),
        ),
        ("Mon, 12 Nov 2018 09:05:00 +0000", "I am out of the office with limited access.", None),
        ("Mon, 12 Nov 2018 09:05:00 +0000", "Since 1 November 2018 I work part time.", None),
    ],
)
def test_away_until(date_header: str, body: str, until: date | None) -> None:
    mail = parse_mail(message(f"Date: {date_header}\nAuto-Submitted: auto-replied", body))
    assert mail.away_until == until


def test_away_until_only_for_auto_replies() -> None:
    mail = parse_mail(message("Date: Mon, 12 Nov 2018 09:05:00 +0000", "Back on 19 November."))
    assert (mail.kind, mail.away_until) == ("reply", None)


# --- cleaning -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "text"),
    [
        pytest.param(
            "Bonjour,\n\nC'est fait.\n\nDe : actionbot <updates@example.org>\n"
            "Envoyé : lundi 12 novembre 2018 09:05\nÀ : Dubois, Claire\nObjet : Action 4.2\n\nDear",
            "Bonjour,\n\nC'est fait.",
            id="french-outlook-block",
        ),
        pytest.param(
            "Erledigt.\n\nVon: actionbot <updates@example.org>\n"
            "Gesendet: Montag, 12. November 2018 09:05\nAn: Schneider, Martina\n"
            "Betreff: Action 4.1\n\nDear Martina",
            "Erledigt.",
            id="german-outlook-block",
        ),
        pytest.param(
            "Fait.\n\nLe lun. 12 nov. 2018 à 09:05, actionbot <updates@example.org> a écrit :\n"
            "\n> Dear",
            "Fait.",
            id="french-gmail",
        ),
        pytest.param(
            "Fait.\n\nLe lun. 12 nov. 2018 à 09:05, actionbot <\nupdates+x@example.org> a écrit :"
            "\n\n> Dear",
            "Fait.",
            id="french-gmail-wrapped",
        ),
        pytest.param(
            "Erledigt.\n\nAm Mo., 12. Nov. 2018 um 09:05 Uhr schrieb actionbot <\n"
            "updates+x@example.org>:\n\n> Dear",
            "Erledigt.",
            id="german-gmail-wrapped",
        ),
        pytest.param(
            "Hecho.\n\nEl lun., 12 nov. 2018 a las 09:05, actionbot (<updates@example.org>) "
            "escribió:\n\n> Dear",
            "Hecho.",
            id="spanish-gmail",
        ),
        pytest.param(
            "Done\n\nOn 5 Nov 2018, at 09:12, Tracey Anstis <tracey@example.org> wrote:\n\nDear",
            "Done",
            id="apple-mail-unquoted",
        ),
        pytest.param(
            "Done.\n\n-----Original Message-----\nFrom: actionbot [mailto:x@example.org]\n"
            "Sent: 12 November 2018\nTo: T\nSubject: S\n\nDear",
            "Done.",
            id="original-message",
        ),
        pytest.param(
            "Done.\n\n________________________________\n**From:** actionbot <u@example.org>\n"
            "**Sent:** 12 November 2018 09:05\n**To:** Kelly\n**Subject:** S\n\nDear",
            "Done.",
            id="html-bold-block",
        ),
        pytest.param(
            "Done.\n\nGet Outlook for iOS<https://aka.ms/o0ukef>\n"
            "________________________________\nFrom: actionbot <u@example.org>\n"
            "Sent: Monday, November 12, 2018 9:05:11 AM\nTo: Kelly\nSubject: S\n\nDear",
            "Done.",
            id="outlook-mobile",
        ),
        pytest.param(
            "On Mon, 12 Nov 2018 at 09:05, actionbot <updates@example.org> wrote:\n\n> Dear Kelly,",
            "",
            id="nothing-above-the-quote",
        ),
        pytest.param(
            "From: actionbot <updates@example.org>\nSent: 12 November 2018 09:05\nTo: Kelly\n"
            "Subject: S\n\nDear Kelly",
            "",
            id="nothing-above-outlook-block",
        ),
        pytest.param(
            "> Did the audit happen?\nYes, in October.\n> And the report?\nTo the board in May.",
            "Yes, in October.\nTo the board in May.",
            id="inline-answers",
        ),
        pytest.param(
            "Progress:\n- training delivered\n- audit started\n\nThanks,\nTracey\n\n-- \n"
            "Tracey Anstis\nHead of QA",
            "Progress:\n- training delivered\n- audit started\n\nThanks,\nTracey",
            id="signature-dashes-keep-bullets-and-sign-off",
        ),
        pytest.param(
            "Done.\n\nKind regards,\nKelly\n\nCONFIDENTIALITY NOTICE: This e-mail is private.\n"
            "More legal text.",
            "Done.\n\nKind regards,\nKelly",
            id="confidentiality-notice",
        ),
        pytest.param(
            "Done.\n\nThe information contained in this e-mail is confidential.\nMore.",
            "Done.",
            id="information-contained",
        ),
        pytest.param(
            "The information contained in this report went to the board.",
            "The information contained in this report went to the board.",
            id="information-contained-in-a-report-stays",
        ),
        pytest.param("Done.\n\nDisclaimer: views are my own.", "Done.", id="disclaimer"),
        pytest.param(
            "Done.\n\nThis e-mail and any files transmitted with it are confidential.",
            "Done.",
            id="this-email-and-any-files",
        ),
        pytest.param(
            "Done.\n\nSent from my Samsung Galaxy smartphone.\n", "Done.", id="sent-from-samsung"
        ),
        pytest.param(
            "  \n\n\n  Para one.\n\n\n\nPara two.  \n", "Para one.\n\nPara two.", id="blank"
        ),
    ],
)
def test_new_text(body: str, text: str) -> None:
    assert new_text(body) == text


def test_html_to_text_keeps_numbered_lines_as_written() -> None:
    html = "<div>1.1.1 - done</div><div>2. RAG: amber</div><div>- a bullet</div><p>A&nbsp;£</p>"
    assert html_to_text(html).split("\n")[:3] == ["1.1.1 - done", "2. RAG: amber", "- a bullet"]


def test_long_lines_stay_quick() -> None:
    """The history patterns grow with the square of a line's length; long lines are skipped."""
    import time

    started = time.perf_counter()
    assert new_text("On " + "x y " * 10_000) == ("On " + "x y " * 10_000).strip()
    assert new_text(" " * 30_000 + "x") == "x"
    assert time.perf_counter() - started < 2


# --- sections -------------------------------------------------------------------------------


def _read(text: str, refs: list[str]) -> list[tuple[str | None, str | None, bool, str | None]]:
    return [
        (s.ref, s.rag, s.completed, s.proposed.iso() if s.proposed else None)
        for s in split_sections(text, refs)
    ]


@pytest.mark.parametrize(
    ("text", "refs", "expected"),
    [
        ("Action 5: done", ["5"], [("5", None, True, None)]),
        (
            "5 - Complete\n6: RAG amber",
            ["5", "6"],
            [("5", None, True, None), ("6", "amber", False, None)],
        ),
        ("5 days later we met", ["5"], [(None, None, False, None)]),
        ("5 Staff were trained", ["5"], [(None, None, False, None)]),
        ("5-6 staff trained", ["5"], [(None, None, False, None)]),
        ("5:30 meeting", ["5"], [(None, None, False, None)]),
        ("Re 2.3.1: not yet complete", ["2.3.1"], [("2.3.1", None, False, None)]),
        ("PA.2 Complete", ["PA.2"], [("PA.2", None, True, None)]),
        ("pa.20 done", ["PA.2"], [(None, None, False, None)]),
        (
            "1.1.1 done\n1.1 RAG red",
            ["1.1", "1.1.1"],
            [("1.1.1", None, True, None), ("1.1", "red", False, None)],
        ),
        ("* 1.1.1 – Status: done", ["1.1.1"], [("1.1.1", None, True, None)]),
        ("See 1.1.1 below", ["1.1.1"], [(None, None, False, None)]),
        ("Training to be completed in May", [], [(None, None, False, None)]),
        (
            "It will be done by May. New deadline 31/03/2019",
            [],
            [(None, None, False, "2019-03-31")],
        ),
        ("Incomplete. revised date - end of April 2019", [], [(None, None, False, "2019-04")]),
        ("Proposed new timescale: by the end of June 2019", [], [(None, None, False, "2019-06")]),
        ("This action is now complete.", [], [(None, None, True, None)]),
        ("Completed (March 2019)", [], [(None, None, True, None)]),
        ("Done", [], [(None, None, True, None)]),
        ("The work is done by the team each month", [], [(None, None, False, None)]),
        ("We are almost done.", [], [(None, None, False, None)]),
        ("Once complete we will tell the board.", [], [(None, None, False, None)]),
        ("Status - not complete\nrag - Green", [], [(None, "green", False, None)]),
        ("RAG status is Red", [], [(None, "red", False, None)]),
        ("Ragged edges, amber light", [], [(None, None, False, None)]),
    ],
)
def test_sections(
    text: str, refs: list[str], expected: list[tuple[str | None, str | None, bool, str | None]]
) -> None:
    assert _read(text, refs) == expected


def test_sections_keep_the_text_as_written() -> None:
    text = "Hi all,\n\nAction 5: training done.\nRAG: Green\n\nAction 6 - started\n"
    assert [(s.ref, s.text) for s in split_sections(text, ["5", "6"])] == [
        (None, "Hi all,"),
        ("5", "Action 5: training done.\nRAG: Green"),
        ("6", "Action 6 - started"),
    ]


def test_sections_of_blank_text_and_no_text_before_the_first_ref() -> None:
    assert split_sections("  \n", ["1.1"]) == []
    assert [s.ref for s in split_sections("\n1.1 done", ["1.1"])] == ["1.1"]


def test_proposed_date_without_year_needs_a_default_year() -> None:
    assert split_sections("New date: 5th March", [])[0].proposed is None
    [section] = split_sections("New date: 5th March", [], default_year=2019)
    assert section.proposed == PartialDate(2019, 3, 5)


# --- never raises -----------------------------------------------------------------------------

SAMPLES = [path.read_bytes() for path in CORPUS]


def test_the_corpus_is_all_here() -> None:
    assert len(CORPUS) == 14


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_parse_mail_never_raises_on_bytes(raw: bytes) -> None:
    assert isinstance(parse_mail(raw).text, str)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A corpus message with bytes flipped, cut, duplicated or spliced in."""
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "cut", "insert", "truncate", "repeat"]))
        if op == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[at : at + draw(st.integers(1, 200))]
        elif op == "insert":
            piece = draw(
                st.sampled_from(
                    [b"\r\n", b"\n\n", b"--", b"=?utf-8?B?", b"?=", b"<", b":", b"\x00", b"\xff"]
                )
                | st.binary(max_size=20)
            )
            data[at:at] = piece
        elif op == "truncate":
            del data[at:]
        elif op == "repeat":
            data[at:at] = data[max(0, at - 50) : at] * 3
    return bytes(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_parse_mail_never_raises_on_mutated_corpus(raw: bytes) -> None:
    mail = parse_mail(raw)
    assert mail.kind in ("reply", "auto-reply", "bounce")
    assert all(isinstance(a, str) and a == a.lower() for a in mail.recipients)
    assert mail.sent_at is None or mail.sent_at.tzinfo is not None
    split_sections(mail.text, ["1.1.1", "2.3.1", "PA.2", "5"])
