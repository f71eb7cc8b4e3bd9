"""A recording SMTP server on loopback (aiosmtpd) for the tests that send e-mail."""

from __future__ import annotations

import email
import email.policy
import socket
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller

from bot.notify.email import SmtpConfig


@dataclass
class Recorder:
    """An aiosmtpd handler that keeps what it receives and fails on request."""

    refuse: dict[str, str] = field(default_factory=dict)  # RCPT address -> reply
    fail_data: dict[str, str] = field(default_factory=dict)  # any recipient -> DATA reply
    drop_once: set[str] = field(default_factory=set)  # RCPT address: close the connection
    # For a while, for everyone: a reply to every RCPT or DATA (e.g. "451 4.3.0 try later"),
    # or the connection closed once the message's content is in, before the server answers.
    rcpt_reply: str | None = None
    data_reply: str | None = None
    drop_data: bool = False
    connections: set[tuple[str, int]] = field(default_factory=set)
    rcpts: list[str] = field(default_factory=list)  # every RCPT address asked, refused or not
    received: list[dict[str, Any]] = field(default_factory=list)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self.connections.add(session.peer)
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        self.rcpts.append(address)
        if address in self.drop_once:
            self.drop_once.discard(address)
            server.transport.close()
            return "250 OK"  # never reaches the client: the connection is gone
        if address in self.refuse:
            return self.refuse[address]
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.drop_data:
            server.transport.close()
            return "250 OK"  # never reaches the client: the connection is gone
        if self.data_reply is not None:
            return self.data_reply
        for address in envelope.rcpt_tos:
            if address in self.fail_data:
                return self.fail_data[address]
        self.received.append(
            {
                "peer": session.peer,
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "tls": session.ssl is not None,
                "authenticated": session.authenticated,
                "message": email.message_from_bytes(envelope.content, policy=email.policy.default),
            }
        )
        return "250 Message accepted for delivery"


def free_port() -> int:
    """aiosmtpd cannot listen on port 0 (it connects to itself to check), so find one first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    handler: Recorder
    config: SmtpConfig


def start(handler: Recorder, port: int | None = None, **kwargs: Any) -> tuple[Controller, int]:
    """Starts a server for `handler` on `port` (a free one by default; give the old one to
    bring a stopped server back where its clients expect it)."""
    port = port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    return controller, port
