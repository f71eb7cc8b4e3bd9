"""The IMAP poller against a real Dovecot: order, exact bytes, filing, failures, state, IDLE."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from bot.inbound.imap import ImapConfig, ImapState, MailboxPoller, Outcome
from tests.imap_server import HOW, ImapServer, dovecot_binary, running


def reply(n: int) -> bytes:
    """A lead's reply, 8-bit UTF-8 body and all, exactly as a mail server would store it."""
    return (
        f"From: Lead {n} <lead{n}@example.org>\r\n"
        "To: updates+t0k3n@example.org\r\n"
        f"Subject: Re: Action 2.3.{n}\r\n"
        f"Message-ID: <reply-{n}@example.org>\r\n"
        "Date: Mon, 03 Jun 2019 09:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"Update {n}: the MASH review is done \u2014 see the caf\u00e9 notes.\r\n"
    ).encode()


def mid(n: int) -> str:
    return f"<reply-{n}@example.org>"


class Handler:
    """Records what it is handed; files by Message-ID; raises for the ones in `fail`."""

    def __init__(
        self,
        outcomes: dict[str, Outcome] | None = None,
        fail: set[str] | None = None,
        before: Callable[[], None] | None = None,
    ) -> None:
        self.outcomes = outcomes or {}
        self.fail = fail or set()
        self.before = before
        self.calls: list[tuple[str, bytes]] = []

    def __call__(self, raw: bytes, uid: str) -> Outcome:
        self.calls.append((uid, raw))
        if self.before is not None:
            self.before()
        message_id = next(
            line.split(b":", 1)[1].strip().decode()
            for line in raw.split(b"\r\n")
            if line.lower().startswith(b"message-id:")
        )
        if message_id in self.fail:
            raise RuntimeError("the database is not answering")
        return self.outcomes.get(message_id, "processed")

    @property
    def uids(self) -> list[str]:
        return [uid for uid, _ in self.calls]


def test_new_messages_are_handed_oldest_first_with_their_exact_bytes(imap_server: ImapServer):
    uids = [imap_server.append(reply(n)) for n in range(1, 6)]
    handler = Handler()
    with MailboxPoller(imap_server.config(), chunk_size=2) as poller:  # three fetches
        report = poller.poll_once(handler)
    assert report.ok, report.errors
    assert handler.uids == uids == sorted(uids, key=int)
    assert [raw for _, raw in handler.calls] == [reply(n) for n in range(1, 6)]
    assert report.handed == report.processed == uids
    assert imap_server.message_ids("INBOX") == []
    assert imap_server.message_ids("Processed") == [mid(n) for n in range(1, 6)]


def test_each_message_is_filed_where_the_handler_says(imap_server: ImapServer):
    for n in (1, 2, 3):
        imap_server.append(reply(n))
    handler = Handler({mid(1): "processed", mid(2): "quarantine", mid(3): "keep"})
    with MailboxPoller(imap_server.config()) as poller:
        report = poller.poll_once(handler)
    assert report.ok, report.errors
    assert (report.processed, report.quarantined, report.kept) == (["1"], ["2"], ["3"])
    assert imap_server.message_ids("Processed") == [mid(1)]
    assert imap_server.message_ids("Quarantine") == [mid(2)]
    kept = imap_server.messages("INBOX")
    assert [m.message_id for m in kept] == [mid(3)]
    assert "\\Seen" not in kept[0].flags  # read with BODY.PEEK: a person still sees it as new


def test_a_failing_handler_leaves_its_message_and_the_poll_goes_on(imap_server: ImapServer):
    for n in (1, 2, 3):
        imap_server.append(reply(n))
    handler = Handler(fail={mid(2)})
    poller = MailboxPoller(imap_server.config())
    report = poller.poll_once(handler)
    assert handler.uids == ["1", "2", "3"]
    assert (report.processed, report.failed) == (["1", "3"], ["2"])
    assert len(report.errors) == 1 and "RuntimeError" in report.errors[0]
    assert mid(2) in report.errors[0] and "caf" not in report.errors[0]  # never the body
    assert imap_server.message_ids("INBOX") == [mid(2)]
    assert imap_server.message_ids("Processed") == [mid(1), mid(3)]
    assert poller.state.last_uid == 1  # not past the one that failed

    handler.fail.clear()  # the database is back: the next poll tries it again
    report = poller.poll_once(handler)
    poller.close()
    assert report.ok and report.processed == ["2"]
    assert poller.state.last_uid == 3
    assert imap_server.message_ids("Processed") == [mid(1), mid(3), mid(2)]


def test_nothing_is_handed_twice_and_new_mail_is_picked_up(imap_server: ImapServer):
    imap_server.append(reply(1))
    imap_server.append(reply(2))
    handler = Handler({mid(2): "keep"})
    with MailboxPoller(imap_server.config()) as poller:
        assert poller.poll_once(handler).handed == ["1", "2"]
        again = poller.poll_once(handler)
        assert again.ok and again.handed == []
        imap_server.append(reply(3))
        later = poller.poll_once(handler)
    assert later.ok and later.handed == later.processed == ["3"]
    assert handler.uids == ["1", "2", "3"]
    assert imap_server.message_ids("INBOX") == [mid(2)]


def test_the_state_carries_over_to_a_new_poller(imap_server: ImapServer):
    for n in (1, 2):
        imap_server.append(reply(n))
    keep_all = Handler({mid(1): "keep", mid(2): "keep", mid(3): "keep"})
    with MailboxPoller(imap_server.config()) as first:
        first.poll_once(keep_all)
        saved = first.state
    assert saved == ImapState(imap_server.uidvalidity(), 2)
    imap_server.append(reply(3))

    handler = Handler()
    with MailboxPoller(imap_server.config(), saved) as second:
        report = second.poll_once(handler)
    assert report.ok and handler.uids == ["3"]  # the kept two are not handed again

    handler = Handler()
    with MailboxPoller(imap_server.config(), ImapState(saved.uidvalidity, 1)) as third:
        report = third.poll_once(handler)
    assert handler.uids == ["2"]  # exactly what the state says is not done yet


def test_a_new_uidvalidity_means_reading_from_the_top(imap_server: ImapServer):
    for n in (1, 2):
        imap_server.append(reply(n))
    real = imap_server.uidvalidity()
    handler = Handler()
    with MailboxPoller(imap_server.config(), ImapState(real + 1, 99)) as poller:
        report = poller.poll_once(handler)
        assert report.restarted and handler.uids == ["1", "2"]
        assert poller.state == ImapState(real, 2)


def test_a_lost_server_is_reported_and_the_next_poll_reconnects(imap_server: ImapServer):
    imap_server.append(reply(1))
    handler = Handler()
    poller = MailboxPoller(imap_server.config())
    assert poller.poll_once(handler).processed == ["1"]

    imap_server.stop()
    report = poller.poll_once(handler)  # on the connection it had
    assert report.errors and not report.handed and not poller.connected
    report = poller.poll_once(handler)  # nobody listening at all
    assert len(report.errors) == 1 and "ConnectionRefusedError" in report.errors[0]

    imap_server.start()
    imap_server.append(reply(2))
    report = poller.poll_once(handler)
    poller.close()
    assert report.ok, report.errors
    assert report.processed == ["2"]
    assert imap_server.message_ids("Processed") == [mid(1), mid(2)]


def test_a_server_lost_between_commit_and_move_hands_that_message_again(
    imap_server: ImapServer,
):
    imap_server.append(reply(1))
    imap_server.append(reply(2))
    handler = Handler(before=imap_server.stop)  # handled ("committed"), then the server dies
    poller = MailboxPoller(imap_server.config())
    report = poller.poll_once(handler)
    assert handler.uids == ["1"] and report.errors and not report.processed
    assert poller.state.last_uid == 0

    imap_server.start()
    handler.before = None
    report = poller.poll_once(handler)
    poller.close()
    assert report.ok and report.processed == ["1", "2"]  # 1 again: the handler de-duplicates
    assert imap_server.message_ids("Processed") == [mid(1), mid(2)]


def test_moving_never_expunges_messages_someone_else_deleted(imap_server: ImapServer):
    imap_server.append(reply(1), flags=("\\Deleted",))  # a person deleted it, not yet expunged
    imap_server.append(reply(2))
    handler = Handler({mid(1): "keep"})
    with MailboxPoller(imap_server.config()) as poller:
        assert poller.poll_once(handler).processed == ["2"]
    # Our session (the one that read both bodies) flagged nothing deleted: it used MOVE.
    ours = imap_server.logout_line(" body_count=2 ")
    assert ours is not None, imap_server.log()
    assert " deleted=0 expunged=0 " in ours
    inbox = imap_server.messages("INBOX")
    assert [m.message_id for m in inbox] == [mid(1)]  # copy + delete + EXPUNGE would remove it
    assert "\\Deleted" in inbox[0].flags
    assert imap_server.message_ids("Processed") == [mid(2)]


def _dovecot() -> None:
    if dovecot_binary() is None:
        pytest.skip(HOW)


def test_without_move_only_our_own_message_is_expunged():
    _dovecot()
    # The server still does everything; it only stops announcing MOVE (and IDLE).
    with running("imap_capability = IMAP4rev1 UIDPLUS") as server:
        server.append(reply(1), flags=("\\Deleted",))
        server.append(reply(2))
        handler = Handler({mid(1): "keep"})
        with MailboxPoller(server.config()) as poller:
            report = poller.poll_once(handler)
            assert report.ok, report.errors
            assert report.processed == ["2"]
            # and with no IDLE offered there is nothing to wait on, even with mail waiting
            server.append(reply(3))
            assert poller.wait_for_mail(5) is False
        assert server.message_ids("INBOX") == [mid(1), mid(3)]
        assert server.message_ids("Processed") == [mid(2)]


def test_idle_wakes_up_when_mail_comes(imap_server: ImapServer):
    poller = MailboxPoller(imap_server.config())
    assert poller.poll_once(Handler()).ok
    woke: list[bool] = []
    waiter = threading.Thread(target=lambda: woke.append(poller.wait_for_mail(5)))
    waiter.start()
    # Deliver only once our session is idling, so the wake-up comes from IDLE itself.
    for _ in range(250):
        if imap_server.idling_sessions():
            break
        time.sleep(0.02)
    else:
        pytest.fail("the poller never entered IDLE")
    imap_server.append(reply(1))
    waiter.join(timeout=10)
    assert woke == [True]
    assert poller.poll_once(Handler()).processed == ["1"]  # the poll finds what woke it
    poller.close()


def test_idle_says_false_when_nothing_comes(imap_server: ImapServer):
    with MailboxPoller(imap_server.config()) as poller:
        assert poller.wait_for_mail(1) is False
        assert poller.wait_for_mail(0) is False


def test_mail_that_came_before_waiting_wakes_at_once(imap_server: ImapServer):
    with MailboxPoller(imap_server.config()) as poller:
        assert poller.poll_once(Handler()).ok
        imap_server.append(reply(1))  # not in IDLE yet: the server will not announce it then
        assert poller.wait_for_mail(5) is True
        # a kept message does not wake the next wait
        assert poller.poll_once(Handler({mid(1): "keep"})).kept == ["1"]
        assert poller.wait_for_mail(1) is False


def test_a_refused_login_is_reported_without_the_password(imap_server: ImapServer):
    config = imap_server.config(password="not-the-password-9f3a")
    with MailboxPoller(config) as poller:
        report = poller.poll_once(Handler())
        assert len(report.errors) == 1
        assert "login to 127.0.0.1" in report.errors[0] and "bot@example.org" in report.errors[0]
        assert "not-the-password-9f3a" not in report.errors[0]
        assert not poller.connected
        assert poller.wait_for_mail(1) is False


@pytest.mark.parametrize("host", ["imap.example.org", "10.0.0.5"])
def test_plain_imap_only_to_this_machine(host: str):
    with pytest.raises(ValueError, match="unencrypted"):
        ImapConfig(host, 143, "bot", "secret", security="none")
    assert ImapConfig(host, 993, "bot", "secret").security == "ssl"
    assert "secret" not in repr(ImapConfig(host, 993, "bot", "secret"))
