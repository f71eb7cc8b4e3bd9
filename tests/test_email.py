"""E-mail out against real servers: aiosmtpd on loopback (plain, STARTTLS with AUTH, SMTPS).

The handler records what the server saw (connections, envelopes, raw bytes), and can refuse a
recipient, fail DATA, or drop the connection, so each failure a real server can produce is
produced here rather than imitated.
"""

from __future__ import annotations

import email
import email.policy
import logging
import re
import ssl
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.notify.content import Recipient
from bot.notify.email import (
    MemoryTransport,
    OutboxDirTransport,
    SendResult,
    SmtpConfig,
    SmtpTransport,
    Transport,
    build_email,
    make_message_id,
)
from bot.notify.render import Rendered, render
from bot.notify.tokens import reply_address, sign, token_from_address, verify
from tests.smtp_server import Recorder, Server, free_port, start
from tests.test_render import SENT, sample_reminder

SECRET = b"test secret"
BASE = "updates@example.org"
SENDER = "actionbot <actionbot@example.org>"
DOMAIN = "actionbot.example.org"
LEADS = [
    ("Kelly Cogger", "kelly.cogger@example.org"),
    ("Tracey Anstis", "tracey.anstis@police.example.net"),
    ("Christine Impey", "christine.impey@example.org"),
]


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context) with a test CA the client trusts, and nothing else."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


def check_password(server, session, envelope, mechanism, auth_data) -> AuthResult:  # noqa: ANN001
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == b"actionbot"
        and auth_data.password == b"s3cret"
    )
    return AuthResult(success=ok, handled=False)  # not handled: the server says 535 itself


@pytest.fixture
def starttls_server(tls: tuple[ssl.SSLContext, ssl.SSLContext]) -> Iterator[Server]:
    server_ctx, client_ctx = tls
    handler = Recorder()
    controller, port = start(
        handler,
        tls_context=server_ctx,
        require_starttls=True,
        authenticator=check_password,
        auth_required=True,
        auth_require_tls=True,
    )
    config = SmtpConfig(
        host="127.0.0.1",
        port=port,
        security="starttls",
        username="actionbot",
        password="s3cret",
        timeout=5,
        ssl_context=client_ctx,
        local_hostname="actionbot.test",
    )
    try:
        yield Server(handler, config)
    finally:
        controller.stop()


# --- messages ---------------------------------------------------------------------------------


def reminder_email(
    i: int, name: str, address: str, *, sent_at: datetime = SENT, rendered: Rendered | None = None
) -> EmailMessage:
    content = sample_reminder(name, address)
    return build_email(
        rendered or render("reminder", content),
        kind="reminder",
        sender=SENDER,
        recipients=[content.recipient],
        reply_to=reply_address(BASE, sign(SECRET, "m", i)),
        sent_at=sent_at,
        message_id=make_message_id(content.key, DOMAIN),
    )


def batch() -> list[EmailMessage]:
    return [reminder_email(i, name, address) for i, (name, address) in enumerate(LEADS, 1)]


def assert_is_our_reminder(msg: EmailMessage, sent: EmailMessage, outbox_id: int) -> None:
    """What a lead's mail client gets: headers that say what it is and where replies go."""
    assert msg["Message-ID"] == sent["Message-ID"]
    assert msg["Subject"] == "Reminder 2: 2 actions need a progress update (2 overdue)"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg["X-Actionbot-Kind"] == "reminder"
    assert parsedate_to_datetime(msg["Date"]) == SENT
    token = token_from_address(msg["Reply-To"], BASE)
    assert token is not None and verify(SECRET, token) == ("m", (outbox_id,))
    assert msg.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in msg.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    text = msg.get_body(preferencelist=("plain",))
    html = msg.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert (
        "Action 2.3.3 — Monitor the effectiveness of MASH — due 31 May 2019" in text.get_content()
    )
    assert "updates+aaction233@example.org" in html.get_content()


# --- build_email ------------------------------------------------------------------------------


def test_build_email_headers_and_parts_survive_a_round_trip():
    sent = reminder_email(1, "Kelly Cogger", "kelly.cogger@example.org")
    # as smtplib flattens it: with the message's own policy, lines ending CRLF
    back = email.message_from_bytes(
        sent.as_bytes(policy=sent.policy.clone(linesep="\r\n")), policy=email.policy.default
    )
    assert isinstance(back, EmailMessage)
    assert_is_our_reminder(back, sent, 1)
    assert back["To"] == "Kelly Cogger <kelly.cogger@example.org>"
    assert back["From"] == SENDER


def test_non_ascii_names_are_encoded_in_headers_and_read_back():
    rendered = Rendered("Zoë’s actions — update", "Dear Zoë Ærø,\n", "<p>Dear Zoë Ærø,</p>")
    msg = build_email(
        rendered,
        kind="reminder",
        sender="Actionbot – MSCB <actionbot@example.org>",
        recipients=[Recipient("Zoë Ærø", "zoe@example.org"), Recipient("No Address")],
        reply_to=None,
        sent_at=SENT,
        message_id="<x@example.org>",
    )
    raw = msg.as_bytes(policy=email.policy.SMTP)
    headers = raw.split(b"\r\n\r\n", 1)[0]
    headers.decode("ascii")  # every header is 7-bit: non-ASCII is RFC 2047 encoded
    assert b"=?utf-8?" in headers
    back = email.message_from_bytes(raw, policy=email.policy.default)
    assert back["To"].addresses[0].display_name == "Zoë Ærø"
    assert [a.addr_spec for a in back["To"].addresses] == ["zoe@example.org"]  # no address: skipped
    assert back["Subject"] == "Zoë’s actions — update"
    assert back["Reply-To"] is None
    body = back.get_body(preferencelist=("plain",))
    assert body is not None and body.get_content().splitlines() == ["Dear Zoë Ærø,"]


def test_a_reply_threads_under_what_it_answers():
    msg = build_email(
        Rendered("s", "t", "h"),
        kind="reminder",
        sender=SENDER,
        recipients=[Recipient("Kelly Cogger", "kelly.cogger@example.org")],
        reply_to=None,
        sent_at=SENT,
        message_id="<b@example.org>",
        in_reply_to="<a@example.org>",
    )
    assert msg["In-Reply-To"] == "<a@example.org>"
    assert msg["References"] == "<a@example.org>"


def test_build_email_refuses_what_it_cannot_send():
    args: dict[str, Any] = dict(
        kind="reminder", sender=SENDER, reply_to=None, message_id="<m@example.org>"
    )
    with pytest.raises(ValueError, match="no e-mail address for any recipient"):
        build_email(Rendered("s", "t", "h"), recipients=[Recipient("X")], sent_at=SENT, **args)
    with pytest.raises(ValueError, match="time zone"):
        build_email(
            Rendered("s", "t", "h"),
            recipients=[Recipient("X", "x@example.org")],
            sent_at=datetime(2019, 6, 12, 8, 30),
            **args,
        )


def test_message_id_is_the_same_for_the_same_outbox_key():
    key = "reminder:2019-06-12:person/12"
    first = make_message_id(key, DOMAIN)
    assert first == make_message_id(key, DOMAIN)
    assert re.fullmatch(
        r"<reminder-2019-06-12-person-12-[0-9a-f]{10}@actionbot\.example\.org>", first
    )
    # Keys that clean up alike still get different ids.
    assert make_message_id("reminder:1", DOMAIN) != make_message_id("reminder/1", DOMAIN)
    assert re.fullmatch(r"<[0-9a-f]{10}@d>", make_message_id("::", "d"))
    with pytest.raises(ValueError, match="domain"):
        make_message_id(key, "bad domain>")


# --- SMTP -------------------------------------------------------------------------------------


def test_a_batch_goes_over_one_connection(server: Server):
    sent = batch()
    results = SmtpTransport(server.config).send_batch(sent)
    assert results == [SendResult(m["Message-ID"], ok=True) for m in sent]
    received = server.handler.received
    assert len(received) == 3
    assert len(server.handler.connections) == 1
    assert {r["peer"] for r in received} == server.handler.connections
    for i, (got, msg) in enumerate(zip(received, sent, strict=True), 1):
        assert got["mail_from"] == "actionbot@example.org"
        assert got["rcpt_tos"] == [LEADS[i - 1][1]]
        assert_is_our_reminder(got["message"], msg, i)


def test_an_empty_batch_opens_no_connection(server: Server):
    assert SmtpTransport(server.config).send_batch([]) == []
    assert server.handler.connections == set()


def test_a_refused_recipient_fails_that_message_for_good_and_not_the_others(server: Server):
    server.handler.refuse["tracey.anstis@police.example.net"] = "550 5.1.1 No such mailbox"
    sent = batch()
    ok1, bad, ok3 = SmtpTransport(server.config).send_batch(sent)
    assert ok1.ok and ok3.ok
    assert bad == SendResult(
        sent[1]["Message-ID"],
        ok=False,
        error="all recipients refused: tracey.anstis@police.example.net: 550 5.1.1 No such mailbox",
        permanent=True,
        refused=("tracey.anstis@police.example.net",),
    )
    assert [r["rcpt_tos"] for r in server.handler.received] == [[LEADS[0][1]], [LEADS[2][1]]]
    assert len(server.handler.connections) == 1


def test_one_refused_recipient_of_several_is_reported_but_the_message_goes(server: Server):
    server.handler.refuse["gone@example.org"] = "550 5.1.1 No such mailbox"
    msg = build_email(
        Rendered("digest", "text", "<p>html</p>"),
        kind="operational-digest",
        sender=SENDER,
        recipients=[Recipient("Gone", "gone@example.org"), Recipient("Chair", "chair@example.org")],
        reply_to=None,
        sent_at=SENT,
        message_id="<digest-1@example.org>",
    )
    [result] = SmtpTransport(server.config).send_batch([msg])
    assert result.ok and result.refused == ("gone@example.org",)
    assert result.error is not None and "550" in result.error
    assert server.handler.received[0]["rcpt_tos"] == ["chair@example.org"]


@pytest.mark.parametrize(
    "where, reply, permanent",
    [
        ("rcpt", "450 4.2.1 Mailbox busy, try later", False),
        ("data", "451 4.3.0 Local error, try later", False),
        ("data", "554 5.6.0 Message content refused", True),
    ],
)
def test_4xx_is_temporary_and_5xx_permanent(
    server: Server, where: str, reply: str, permanent: bool
):
    target = LEADS[0][1]
    (server.handler.refuse if where == "rcpt" else server.handler.fail_data)[target] = reply
    first, *rest = SmtpTransport(server.config).send_batch(batch())
    assert not first.ok and first.permanent is permanent
    assert first.error is not None and reply.split()[0] in first.error
    assert all(r.ok for r in rest)
    assert len(server.handler.received) == 2


def test_a_dropped_connection_is_reopened_once_and_the_message_retried(server: Server):
    server.handler.drop_once.add(LEADS[1][1])
    sent = batch()
    results = SmtpTransport(server.config).send_batch(sent)
    assert all(r.ok for r in results), results
    assert [r["message"]["Message-ID"] for r in server.handler.received] == [
        m["Message-ID"] for m in sent
    ]
    assert len(server.handler.connections) == 2


def test_a_message_that_loses_the_connection_twice_fails_alone(server: Server):
    server.handler.drop_once.add(LEADS[1][1])
    sent = batch()
    sent[1] = reminder_email(2, "Tracey Anstis", "tracey.anstis@police.example.net")
    # A second drop for the same message: on the retry as well.
    original = server.handler.handle_RCPT
    drops = {"left": 2}

    async def drop_twice(srv, session, envelope, address, options):  # noqa: ANN001
        if address == LEADS[1][1] and drops["left"]:
            drops["left"] -= 1
            srv.transport.close()
            return "250 OK"
        return await original(srv, session, envelope, address, options)

    server.handler.handle_RCPT = drop_twice  # type: ignore[method-assign]
    ok1, bad, ok3 = SmtpTransport(server.config).send_batch(sent)
    assert ok1.ok and ok3.ok
    assert not bad.ok and not bad.permanent and "disconnected" in (bad.error or "")
    assert len(server.handler.received) == 2
    assert len(server.handler.connections) == 3  # first, the retry, and one for the third


def test_a_server_closing_with_421_fails_that_message_for_now_and_the_batch_goes_on(
    server: Server,
):
    server.handler.fail_data[LEADS[0][1]] = "421 4.3.2 Service shutting down"
    first, *rest = SmtpTransport(server.config).send_batch(batch())
    assert not first.ok and not first.permanent
    assert all(r.ok for r in rest)
    assert len(server.handler.received) == 2
    assert len(server.handler.connections) == 2


def test_no_server_means_every_message_fails_for_now_without_raising():
    config = SmtpConfig(host="127.0.0.1", port=free_port(), security="none", timeout=2)
    results = SmtpTransport(config).send_batch(batch())
    assert [r.ok for r in results] == [False, False, False]
    assert not any(r.permanent for r in results)
    assert all((r.error or "").startswith("cannot connect to 127.0.0.1:") for r in results)


def test_starttls_with_login(starttls_server: Server):
    sent = batch()
    results = SmtpTransport(starttls_server.config).send_batch(sent)
    assert all(r.ok for r in results), results
    received = starttls_server.handler.received
    assert len(received) == 3 and len(starttls_server.handler.connections) == 1
    assert all(r["tls"] and r["authenticated"] for r in received)
    assert_is_our_reminder(received[0]["message"], sent[0], 1)


def test_a_wrong_password_fails_the_batch_for_now(starttls_server: Server):
    config = replace(starttls_server.config, password="wrong")
    results = SmtpTransport(config).send_batch(batch())
    assert not any(r.ok or r.permanent for r in results)
    assert all("login to 127.0.0.1" in (r.error or "") for r in results)
    assert starttls_server.handler.received == []


def test_a_server_that_requires_tls_gets_nothing_in_clear(starttls_server: Server):
    config = replace(starttls_server.config, security="none", username=None, password=None)
    results = SmtpTransport(config).send_batch(batch())
    assert not any(r.ok for r in results)
    assert not any(r.permanent for r in results)  # a set-up problem: fix it and they can go
    assert all("530" in (r.error or "") for r in results)
    assert starttls_server.handler.received == []


def test_a_certificate_the_client_does_not_trust_is_refused(starttls_server: Server):
    config = replace(starttls_server.config, ssl_context=ssl.create_default_context())
    results = SmtpTransport(config).send_batch(batch())
    assert not any(r.ok for r in results)
    assert all("CERTIFICATE_VERIFY_FAILED" in (r.error or "") for r in results)


def test_smtps(tls: tuple[ssl.SSLContext, ssl.SSLContext]):
    server_ctx, client_ctx = tls
    handler = Recorder()
    controller, port = start(handler, ssl_context=server_ctx)
    try:
        config = SmtpConfig("127.0.0.1", port, "ssl", timeout=5, ssl_context=client_ctx)
        results = SmtpTransport(config).send_batch(batch())
    finally:
        controller.stop()
    assert all(r.ok for r in results), results
    assert len(handler.received) == 3


def _until(ready: Any, what: str) -> None:
    """Waits for the server's thread to get somewhere (not for a clock): fails after 10 s."""
    deadline = time.monotonic() + 10
    while not ready():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.001)


def test_the_next_message_goes_while_a_result_is_recorded_and_ends_only_after_it(
    server: Server,
):
    """Recording a result (a commit, in bot/delivery.py) and sending the next message overlap,
    but the next message's end of data waits for the record: never more than one message is
    accepted by the server and not yet recorded."""
    handler, recorded = server.handler, []

    def record(index: int, result: SendResult) -> None:
        # the next message is under way: the server has had its recipient ...
        _until(lambda: len(handler.rcpts) >= min(index + 2, 3), "the next message's RCPT")
        # ... but has not accepted it, and cannot, until this returns
        assert len(handler.received) == index + 1
        recorded.append(index)

    results = SmtpTransport(server.config).send_batch(batch(), on_result=record)
    assert recorded == [0, 1, 2] and all(r.ok for r in results)
    assert len(handler.received) == 3


def test_a_result_that_cannot_be_recorded_stops_the_next_message_before_its_end(
    server: Server,
):
    """The database is gone while the first result is recorded: the second message, already
    on its way, is dropped before its end of data, so the server never accepts it."""

    class RecordFailed(Exception):
        pass

    def record(index: int, result: SendResult) -> None:
        _until(lambda: len(server.handler.rcpts) >= 2, "the next message's RCPT")
        raise RecordFailed

    with pytest.raises(RecordFailed):
        SmtpTransport(server.config).send_batch(batch(), on_result=record)
    assert len(server.handler.received) == 1
    assert len(server.handler.rcpts) == 2
    # the same server takes the next batch as usual
    assert all(r.ok for r in SmtpTransport(server.config).send_batch(batch()))
    assert len(server.handler.received) == 4


def test_logs_name_the_message_but_never_its_words(
    server: Server, caplog: pytest.LogCaptureFixture
):
    server.handler.refuse[LEADS[1][1]] = "550 5.1.1 No such mailbox"
    sent = batch()
    with caplog.at_level(logging.DEBUG, logger="bot.notify.email"):
        SmtpTransport(server.config).send_batch(sent)
    info = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]
    assert any(sent[0]["Message-ID"] in m and "example.org" in m for m in info)
    assert any("police.example.net" in m and "permanent" in m for m in info)
    logged = caplog.text
    for words in ("Monitor the effectiveness", "Reminder 2:", "Kelly Cogger", "kelly.cogger@"):
        assert words not in logged


def test_smtp_config_checks_itself():
    with pytest.raises(ValueError, match="security"):
        SmtpConfig("mail.example.org", 587, "tls")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="port"):
        SmtpConfig("mail.example.org", 0)
    with pytest.raises(ValueError, match="unencrypted"):
        SmtpConfig("mail.example.org", 25, "none", username="actionbot", password="x")
    assert "s3cret" not in repr(SmtpConfig("mail.example.org", password="s3cret"))


# --- a folder of .eml files -------------------------------------------------------------------

EML_NAME = re.compile(r"^20190612-083000-reminder-[a-z0-9.-]+-at-[a-z0-9.-]+-[0-9a-f]{10}\.eml$")


def read_eml(path: Path) -> EmailMessage:
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def test_outbox_folder_holds_one_openable_file_per_message(tmp_path: Path):
    folder = tmp_path / "outbox" / "demo"
    sent = batch()
    results = OutboxDirTransport(folder).send_batch(sent)
    assert all(r.ok for r in results)
    files = sorted(folder.iterdir())
    assert len(files) == 3
    assert all(EML_NAME.match(f.name) for f in files), [f.name for f in files]
    assert any(
        f.name.startswith("20190612-083000-reminder-kelly.cogger-at-example.org-") for f in files
    )
    by_id = {read_eml(f)["Message-ID"]: read_eml(f) for f in files}
    for i, msg in enumerate(sent, 1):
        assert_is_our_reminder(by_id[msg["Message-ID"]], msg, i)
    assert b"\r\n" in files[0].read_bytes()  # SMTP line endings, as a mail client expects


def test_outbox_overwrites_a_resent_message_rather_than_adding_one(tmp_path: Path):
    transport: Transport = OutboxDirTransport(tmp_path)
    sent = batch()
    transport.send_batch(sent)
    names = sorted(p.name for p in tmp_path.iterdir())

    # The same outbox row again, now with other words: same file, new content.
    changed = Rendered("Changed subject", "changed text\n", "<p>changed</p>")
    again = reminder_email(1, *LEADS[0], rendered=changed)
    assert again["Message-ID"] == sent[0]["Message-ID"]
    transport.send_batch([again])
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    path = OutboxDirTransport(tmp_path).path_for(again)
    assert read_eml(path)["Subject"] == "Changed subject"

    # Even sent at another time, one Message-ID is one file.
    later = reminder_email(1, *LEADS[0], sent_at=SENT + timedelta(hours=1))
    transport.send_batch([later])
    files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 3
    assert OutboxDirTransport(tmp_path).path_for(later).name in files
    assert path.name not in files
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_outbox_refuses_a_message_it_cannot_name(tmp_path: Path):
    msg = reminder_email(1, *LEADS[0])
    del msg["Message-ID"]
    [result] = OutboxDirTransport(tmp_path).send_batch([msg, *batch()[1:]])[:1]
    assert not result.ok and result.permanent
    assert "Message-ID" in (result.error or "")
    assert len(list(tmp_path.iterdir())) == 2


def test_outbox_that_cannot_write_fails_for_now(tmp_path: Path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the outbox folder should be")
    results = OutboxDirTransport(blocker).send_batch(batch())
    assert not any(r.ok or r.permanent for r in results)


def test_memory_transport_keeps_what_it_is_given():
    transport: Transport = MemoryTransport()
    sent = batch()
    assert all(r.ok for r in transport.send_batch(sent))
    assert isinstance(transport, MemoryTransport) and transport.sent == sent
