"""A small Slack Web API on loopback, for driving a real `slack_sdk.WebClient` in tests.

Like slack-sdk's own tests: a stdlib `ThreadingHTTPServer` on 127.0.0.1, port 0, answering the
methods actionbot calls with canned JSON, counting calls per method and keeping request bodies
(WebClient sends form-encoded bodies for most methods and JSON for chat.postMessage). It can
answer chat.postMessage with 429s or 500s first, or with a scripted sequence of them
(`post_script`), to exercise the client's retry handlers; `posted` keeps what it accepted.

For Slack replies in it also answers auth.test, users.info (GET; the profile e-mail is the one
`users` maps to the id), views.open and chat.postEphemeral.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

TEAM = "T0MEDWAY"
BOT_USER = "U0ACTIONBOT"  # the bot's own user id, as auth.test gives it


class FakeSlackApi:
    """The server's state: who is on Slack, which channels exist, what was asked and how often."""

    def __init__(self, users: dict[str, str], channels: set[str] | None = None) -> None:
        self.users = {email.lower(): uid for email, uid in users.items()}
        self.channels = set(channels or ())
        self.calls: Counter[str] = Counter()
        self.requests: dict[str, list[dict[str, Any]]] = {}
        self.auth_headers: list[str] = []
        self.rate_limited_posts = 0  # this many chat.postMessage calls get a 429 first
        self.retry_after = "2"
        self.failing_posts = 0  # this many get a 500 (after any 429s)
        # Answers for the next chat.postMessage calls, in order, before the counters above:
        # (status, Retry-After or None). Status 200 answers the call as usual.
        self.post_script: list[tuple[int, str | None]] = []
        self.posted: list[dict[str, Any]] = []  # the chat.postMessage bodies Slack accepted
        self._lock = threading.Lock()
        self._ts = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.api = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._stopped = False

    @property
    def base_url(self) -> str:
        port = self.server.server_address[1]
        return f"http://127.0.0.1:{port}/api/"  # the trailing slash: WebClient appends methods

    def start(self) -> FakeSlackApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Idempotent, so a test may stop the server early to see a refused connection."""
        if self._stopped:
            return
        self._stopped = True
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def bodies(self, method: str) -> list[dict[str, Any]]:
        return self.requests.get(method, [])

    # -- answering --

    def answer(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, str], dict]:
        """(status, extra headers, JSON) for one call; runs under the lock."""
        self.calls[method] += 1
        self.requests.setdefault(method, []).append(body)
        if method == "users.lookupByEmail":
            uid = self.users.get(str(body.get("email", "")).lower())
            if uid is None:
                return 200, {}, {"ok": False, "error": "users_not_found"}
            return 200, {}, {"ok": True, "user": {"id": uid, "name": uid.lower()}}
        if method == "conversations.open":
            return 200, {}, {"ok": True, "channel": {"id": "D" + str(body["users"])}}
        if method == "chat.postMessage":
            return self._post_message(body)
        if method == "auth.test":
            return 200, {}, {"ok": True, "user_id": BOT_USER, "bot_id": "B0BOT", "team_id": TEAM}
        if method == "users.info":
            return self._user_info(str(body.get("user", "")))
        if method == "views.open":
            self._ts += 1
            return 200, {}, {"ok": True, "view": {"id": f"V{self._ts:06d}"}}
        if method == "apps.connections.open":  # no WebSocket here: the app token is refused
            return 200, {}, {"ok": False, "error": "invalid_auth"}
        if method == "chat.postEphemeral":
            self._ts += 1
            return 200, {}, {"ok": True, "message_ts": f"1559552400.{self._ts:06d}"}
        return 404, {}, {"ok": False, "error": "unknown_method"}

    def _user_info(self, uid: str) -> tuple[int, dict[str, str], dict]:
        email = next((e for e, u in self.users.items() if u == uid), None)
        if email is None:
            return 200, {}, {"ok": False, "error": "user_not_found"}
        name = email.partition("@")[0].replace(".", " ").title()
        profile = {"email": email, "real_name": name}
        return 200, {}, {"ok": True, "user": {"id": uid, "name": uid.lower(), "profile": profile}}

    def _post_message(self, body: dict[str, Any]) -> tuple[int, dict[str, str], dict]:
        status, retry_after = self.post_script.pop(0) if self.post_script else (200, None)
        if status == 429:
            headers = {} if retry_after is None else {"Retry-After": retry_after}
            return 429, headers, {"ok": False, "error": "ratelimited"}
        if status != 200:
            return status, {}, {"ok": False, "error": "internal_error"}
        if self.rate_limited_posts > 0:
            self.rate_limited_posts -= 1
            return 429, {"Retry-After": self.retry_after}, {"ok": False, "error": "ratelimited"}
        if self.failing_posts > 0:
            self.failing_posts -= 1
            return 500, {}, {"ok": False, "error": "internal_error"}
        channel = str(body.get("channel", ""))
        if not channel.startswith("D") and channel not in self.channels:
            return 200, {}, {"ok": False, "error": "channel_not_found"}
        self._ts += 1
        self.posted.append(body)
        return 200, {}, {"ok": True, "channel": channel, "ts": f"1559552400.{self._ts:06d}"}


class _Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_GET(self) -> None:  # noqa: N802 - users.info comes as a GET
        self.do_POST()

    def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
        api: FakeSlackApi = self.server.api  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        method = url.path.removeprefix("/api/")
        body = _parse_body(self.headers.get("Content-Type", ""), self._read())
        body.update({k: v[0] for k, v in parse_qs(url.query).items()})
        with api._lock:
            api.auth_headers.append(self.headers.get("Authorization", ""))
            status, headers, payload = api.answer(method, body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _read(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        pass


def _parse_body(content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if content_type.startswith("application/json"):
        return dict(json.loads(raw))
    return {k: v[0] for k, v in parse_qs(raw.decode()).items()}
