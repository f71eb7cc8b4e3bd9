"""An SMTP sink on loopback (aiosmtpd) that only counts what it accepts: run as its own process
so the server's work does not share the sender's interpreter.

    python -m benchmarks.sink        # prints "PORT <n>", then serves until SIGTERM
"""

from __future__ import annotations

import signal
import socket
import threading
from typing import Any

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self) -> None:
        self.messages = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages += 1
        return "250 Message accepted for delivery"


def free_port() -> int:
    """aiosmtpd cannot listen on port 0 (it connects to itself to check), so find one first,
    as tests/smtp_server.py does."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    port = free_port()
    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(f"PORT {port}", flush=True)
    done.wait()
    controller.stop()


if __name__ == "__main__":
    main()
