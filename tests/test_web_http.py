"""The web app over plain HTTP: nothing visible without signing in, sign-in links that work once
and expire, CSRF on every form, update links that record like an e-mail reply and refuse when
altered or old, and user text escaped everywhere.

Runs on SQLite and PostgreSQL: the real app served by uvicorn on loopback (tests/web_site.py)
after a real tick, driven by httpx with a cookie jar like a browser's; the app's clock is
moved by the test.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import event
from sqlmodel import col, select

from bot import models as m
from bot.chase_state import load_state
from bot.db import session
from bot.notify.tokens import sign
from bot.settings import WebSettings
from bot.web.app import create_app
from bot.web.serve import start_web
from bot.web.update_links import make_token, update_link_maker
from tests.conftest import REPO
from tests.test_load import write
from tests.test_scheduler import _wait_for
from tests.web_site import MANAGER, MONDAY, Site, running_site

OPS = "ops.chair@example.org"
XSS = '<script>alert("x")</script> & <b>bold</b>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"


@pytest.fixture
def site(database_url: str, tmp_path: Path) -> Iterator[Site]:
    with running_site(database_url, tmp_path) as running:
        yield running


@pytest.fixture
def client(site: Site) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=site.url, follow_redirects=False, timeout=20) as c:
        yield c


def csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def ask_for_link(client: httpx.Client, address: str) -> httpx.Response:
    page = client.get("/sign-in")
    return client.post("/sign-in", data={"email": address, "csrf": csrf(page.text)})


def use_link(client: httpx.Client, link: str) -> httpx.Response:
    page = client.get(link)
    assert page.status_code == 200, page.text
    return client.post(link, data={"csrf": csrf(page.text)})


def sign_in(site: Site, client: httpx.Client, address: str = OPS) -> None:
    assert ask_for_link(client, address).status_code == 200
    response = use_link(client, site.sign_in_link(address))
    assert (response.status_code, response.headers["location"]) == (303, "/")


def post_update(client: httpx.Client, link: str, **fields: str) -> httpx.Response:
    page = client.get(link)
    assert page.status_code == 200, page.text
    form_id = re.search(r'name="form_id" value="([^"]+)"', page.text)
    assert form_id
    data = {"csrf": csrf(page.text), "form_id": form_id.group(1), "text": "", **fields}
    return client.post(link, data=data)


def eventually(check: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def web_entries(site: Site) -> list[tuple[str, str, str | None, str | None, str | None]]:
    with session(site.engine) as s:
        rows = s.exec(
            select(m.ProgressEntry, m.Action)
            .join(m.Action, col(m.Action.id) == m.ProgressEntry.action_id)
            .where(m.ProgressEntry.source == "web")
            .order_by(col(m.ProgressEntry.id))
        ).all()
        return [(a.ref, p.text, p.author, p.rag, p.proposed_due) for p, a in rows]


def action_id(site: Site, ref: str) -> int:
    with session(site.engine) as s:
        found = s.exec(select(m.Action.id).where(m.Action.ref == ref)).one()
        assert found is not None
        return found


# --- nothing without signing in ----------------------------------------------------------------


def test_nothing_is_visible_without_signing_in(site: Site, client: httpx.Client):
    for path in ("/", "/?plan=test-plan", f"/actions/{action_id(site, '1.1.1')}"):
        response = client.get(path)
        assert (response.status_code, response.headers["location"]) == (303, "/sign-in"), path
    page = client.get("/sign-in")
    assert page.status_code == 200
    assert "Send me a sign-in link" in page.text
    assert "Framework-I" not in page.text and "Tracey" not in page.text
    assert client.get("/no-such-page").status_code == 404


def test_a_sign_in_link_opens_the_dashboard(site: Site, client: httpx.Client):
    sign_in(site, client)
    page = client.get("/")
    assert page.status_code == 200
    assert "Signed in as Ops Chair" in page.text
    assert "1 Make the front door work" in page.text  # RAG by objective
    assert "Kent Police" in page.text  # by organisation: the first lead's
    assert "<svg" in page.text and "RAG over time" in page.text
    overdue = page.text.split('id="overdue"')[1].split('id="ladder"')[0]
    assert "1.1.1" in overdue and "118 days" in overdue and "1.1.2" not in overdue
    ladder = page.text.split('id="ladder"')[1].split('id="latest"')[0]
    assert "1.1.1" in ladder and "1.1.2" in ladder  # at their leads, one reminder unanswered


def test_the_business_manager_named_in_web_admins_may_sign_in(site: Site, client: httpx.Client):
    sign_in(site, client, MANAGER)
    assert f"Signed in as {MANAGER}" in client.get("/").text


def test_the_sign_in_form_answers_everyone_the_same_and_sends_only_to_those_allowed(
    site: Site, client: httpx.Client
):
    said = {}
    for address in (
        OPS,
        "sam.stranger@example.org",
        "nobody@example.org",
        "kelly.cogger@example.org",
    ):
        response = ask_for_link(client, address)
        assert response.status_code == 200
        said[address] = response.text.replace(address, "ADDRESS")
    assert len(set(said.values())) == 1
    assert "If ADDRESS may sign in, a link is on its way to it." in said[OPS]
    # Kelly is a member of the operational group; Sam leads nothing and sits on no group
    assert [r.recipient for r in site.outbox("sign-in")] == [OPS, "kelly.cogger@example.org"]
    # sent at once, after the answer, not at the next delivery pass
    assert eventually(lambda: {r.status for r in site.outbox("sign-in")} == {"sent"})
    ask_for_link(client, OPS)  # again within the minute: no second message
    assert len(site.outbox("sign-in", OPS)) == 1


def test_a_sign_in_link_works_once(site: Site, client: httpx.Client):
    ask_for_link(client, OPS)
    link = site.sign_in_link(OPS)
    page = client.get(link)
    assert use_link(client, link).status_code == 303

    with httpx.Client(base_url=site.url) as other:  # someone else, with the same link
        again = other.get(link)
        assert again.status_code == 410 and "This sign-in link has been used" in again.text
        refused = other.post(link, data={"csrf": csrf(page.text)})
        assert refused.status_code == 403  # not their session's token
        own = csrf(other.get("/sign-in").text)
        refused = other.post(link, data={"csrf": own})
        assert refused.status_code == 410
        assert other.get("/").status_code == 303


def test_an_expired_sign_in_link_is_refused(site: Site, client: httpx.Client):
    ask_for_link(client, OPS)
    link = site.sign_in_link(OPS)
    page = client.get(link)
    site.clock.now += timedelta(minutes=30)
    refused = client.post(link, data={"csrf": csrf(page.text)})
    assert refused.status_code == 410 and "This sign-in link has expired" in refused.text
    assert client.get(link).status_code == 410
    assert client.get("/").status_code == 303


def test_an_altered_sign_in_link_is_refused(site: Site, client: httpx.Client):
    ask_for_link(client, OPS)
    link = site.sign_in_link(OPS)
    altered = link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb")
    response = client.get(altered)
    assert response.status_code == 404 and "This sign-in link does not work" in response.text
    # an update link is no sign-in link, though the same key signs both
    [update] = site.update_links("kelly.cogger@example.org")
    token = update.rsplit("/", 1)[1]
    assert client.get(f"/sign-in/{token}").status_code == 404


def test_a_session_ends_after_eight_hours(site: Site, client: httpx.Client):
    sign_in(site, client)
    site.clock.now += timedelta(hours=7, minutes=59)
    assert client.get("/").status_code == 200
    site.clock.now += timedelta(minutes=2)
    assert client.get("/").headers["location"] == "/sign-in"


def test_a_member_taken_off_the_group_is_signed_out_at_the_next_request(
    site: Site, client: httpx.Client
):
    kelly = "kelly.cogger@example.org"  # signs in as a member of the operational group
    sign_in(site, client, kelly)
    assert client.get("/").status_code == 200
    with session(site.engine) as s, s.begin():
        rows = s.exec(
            select(m.GroupMember).where(
                m.GroupMember.person_id == token_person(site, "kelly-cogger")
            )
        ).all()
        assert rows
        kept = [(r.group_id, r.person_id, r.role) for r in rows]
        for row in rows:
            s.delete(row)

    response = client.get(f"/actions/{action_id(site, '1.1.1')}")
    assert (response.status_code, response.headers["location"]) == (303, "/sign-in")
    with session(site.engine) as s, s.begin():  # back on the group: the session stays ended
        s.add_all(m.GroupMember(group_id=g, person_id=p, role=r) for g, p, r in kept)
    assert client.get("/").status_code == 303
    with session(site.engine) as s:
        ended = s.exec(select(m.AuditEvent).where(m.AuditEvent.kind == "signed-out")).all()
        assert [e.person_key for e in ended] == [kelly]
    site.clock.now += timedelta(minutes=2)  # one link a minute
    sign_in(site, client, kelly)  # a new link works again
    assert client.get("/").status_code == 200


def test_a_manager_taken_off_web_admins_is_signed_out_at_the_next_request(
    site: Site, client: httpx.Client
):
    sign_in(site, client, MANAGER)
    assert client.get("/").status_code == 200
    web = replace(site.settings.web, admins=())  # restarted without them, the same secret
    fewer = replace(site.settings, web=web)
    server = start_web(site.engine, fewer, site.rules, host="127.0.0.1", port=0, clock=site.clock)
    try:
        url = f"http://127.0.0.1:{server.port}"
        with httpx.Client(base_url=url, cookies=client.cookies) as same_browser:
            assert same_browser.get("/").headers["location"] == "/sign-in"
            with httpx.Client(base_url=url) as other:  # a board member is not affected
                sign_in(site, other)
                assert other.get("/").status_code == 200
    finally:
        server.stop()
    assert client.get("/").status_code == 200  # the app that still names them


def test_signing_out(site: Site, client: httpx.Client):
    sign_in(site, client)
    page = client.get("/")
    assert client.post("/sign-out", data={"csrf": "wrong"}).status_code == 403
    assert client.get("/").status_code == 200
    assert client.post("/sign-out", data={"csrf": csrf(page.text)}).status_code == 303
    assert client.get("/").status_code == 303


# --- CSRF ------------------------------------------------------------------------------------


def test_every_form_needs_the_sessions_csrf_token(site: Site, client: httpx.Client):
    client.get("/sign-in")  # a session with a token
    for data in ({"email": OPS}, {"email": OPS, "csrf": "not-the-token"}):
        refused = client.post("/sign-in", data=data)
        assert refused.status_code == 403 and "This form has expired" in refused.text
    assert site.outbox("sign-in") == []

    [update] = site.update_links("kelly.cogger@example.org")
    page = client.get(update)
    form_id = re.search(r'name="form_id" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    for token in (None, "not-the-token"):
        data = {"form_id": form_id, "text": "Forged update"} | ({"csrf": token} if token else {})
        assert client.post(update, data=data).status_code == 403
    with httpx.Client(base_url=site.url) as stranger:  # another browser: its own session
        data = {"csrf": csrf(page.text), "form_id": form_id, "text": "Forged update"}
        assert stranger.post(update, data=data).status_code == 403
    assert web_entries(site) == []


# --- the update page ---------------------------------------------------------------------------


def test_an_update_from_the_web_is_recorded_as_an_email_reply_would_be(
    site: Site, client: httpx.Client
):
    [update] = site.update_links("kelly.cogger@example.org")  # Kelly is asked about 1.1.1
    page = client.get(update)
    assert "Progress update: action 1.1.1" in page.text and "For Kelly Cogger" in page.text

    response = post_update(
        client, update, text="Audits are now monthly.", rag="amber", new_date="March 2019"
    )

    assert response.status_code == 200, response.text
    assert "Your update is recorded" in response.text
    assert "Audits are now monthly." in response.text and "Mar 2019" in response.text
    assert web_entries(site) == [
        ("1.1.1", "Audits are now monthly.", "Kelly Cogger", "amber", "2019-03")
    ]
    with session(site.engine) as s:
        action = s.get(m.Action, action_id(site, "1.1.1"))
        assert action is not None
        assert (action.rag, action.rag_set_by, action.status) == ("amber", "Kelly Cogger", "open")
        [entry] = s.exec(select(m.ProgressEntry).where(m.ProgressEntry.source == "web")).all()
        assert (entry.dated, entry.precision, entry.author_person_id) == (
            date(2018, 11, 26),
            "day",
            s.exec(select(m.Person.id).where(m.Person.key == "kelly-cogger")).one(),
        )
        [logged] = s.exec(select(m.InboundMessage)).all()
        assert (logged.channel, logged.outcome, logged.sender) == (
            "web",
            "recorded",
            "kelly.cogger@example.org",
        )
        assert logged.external_id == entry.external_id
        chase = {a.ref: a.chase for a in load_state(s).actions}["1.1.1"]
    assert chase.reminders_unanswered == 0  # the update answered the reminder
    # the deadline did not move: a milestone is still due in July 2018, so still overdue
    sign_in(site, client)
    action_page = client.get(f"/actions/{action_id(site, '1.1.1')}").text
    assert "118 days overdue" in action_page
    assert "New date proposed: Mar 2019" in action_page
    assert "Audits are now monthly." in client.get("/").text


def form_of(client: httpx.Client, link: str) -> dict[str, str]:
    """The hidden fields of a freshly opened update form: its CSRF token and its own id."""
    page = client.get(link)
    assert page.status_code == 200, page.text
    form_id = re.search(r'name="form_id" value="([^"]+)"', page.text)
    assert form_id
    return {"csrf": csrf(page.text), "form_id": form_id.group(1)}


def used_links(site: Site) -> list[tuple[str, str | None]]:
    with session(site.engine) as s:
        return [(u.kind, u.email) for u in s.exec(select(m.UsedLink).order_by(col(m.UsedLink.id)))]


def test_an_update_link_records_one_update_then_says_it_was_used(site: Site, client: httpx.Client):
    [update] = site.update_links("kelly.cogger@example.org")
    first = form_of(client, update)
    form_of(client, update)  # reloading the form spends nothing
    assert client.post(update, data={**first, "text": "No token"} | {"csrf": ""}).status_code == 403
    assert used_links(site) == []

    assert client.post(update, data={**first, "text": "Audits are monthly."}).status_code == 200
    site.clock.now += timedelta(days=1)  # the page says when it was used, not when it is read

    again = client.post(update, data={**first, "text": "Audits are monthly."})  # a double click
    assert again.status_code == 410 and "This update link has been used" in again.text
    opened = client.get(update)
    assert opened.status_code == 410
    assert "An update was recorded through it on 26 Nov 2018, 13:00." in opened.text
    assert "reply to the reminder e-mail, or use the link in the next reminder" in opened.text
    forged_form = {**first, "form_id": "y" * 24, "text": "And now weekly."}  # a form kept open
    assert client.post(update, data=forged_form).status_code == 410
    assert [e[1] for e in web_entries(site)] == ["Audits are monthly."]
    assert used_links(site) == [("update", "kelly.cogger@example.org")]
    with session(site.engine) as s:
        [row] = s.exec(select(m.UsedLink)).all()
        assert update.rsplit("/", 1)[1] not in row.digest  # the token's hash, never the token


def test_each_update_link_is_its_own(site: Site, client: httpx.Client):
    """Using the link for one action leaves the lead's link for her other action working."""
    one, other = site.update_links("tracey.anstis@example.org")
    assert post_update(client, one, text="Done on the first.").status_code == 200
    assert client.get(one).status_code == 410
    assert post_update(client, other, text="And on the second.").status_code == 200
    assert [e[1] for e in web_entries(site)] == ["Done on the first.", "And on the second."]


def test_two_updates_sent_at_once_through_one_link_record_one(site: Site, client: httpx.Client):
    """Two forms of one link (two tabs), sent at the same moment: both pass the check that the
    link is unused before either spends it (a barrier holds each at its INSERT into used_link
    until both are there), so only the unique digest can decide. One is recorded; the other
    gets the "used" page and records nothing."""
    [update] = site.update_links("kelly.cogger@example.org")
    forms = [form_of(client, update), form_of(client, update)]
    barrier = threading.Barrier(2, timeout=30)

    def hold(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO USED_LINK"):
            barrier.wait()

    def send(form: dict[str, str], text: str) -> httpx.Response:
        with httpx.Client(base_url=site.url, cookies=client.cookies, timeout=60) as tab:
            return tab.post(update, data={**form, "text": text})

    event.listen(site.engine, "before_cursor_execute", hold)
    try:
        with ThreadPoolExecutor(2) as pool:
            sent = list(pool.map(send, forms, ["From the first tab.", "From the second tab."]))
    finally:
        event.remove(site.engine, "before_cursor_execute", hold)

    assert sorted(r.status_code for r in sent) == [200, 410], [r.text for r in sent]
    loser = next(r for r in sent if r.status_code == 410)
    assert "This update link has been used" in loser.text
    winner = next(r for r in sent if r.status_code == 200)
    [entry] = web_entries(site)
    assert entry[1] in winner.text
    assert used_links(site) == [("update", "kelly.cogger@example.org")]
    with session(site.engine) as s:
        assert [i.outcome for i in s.exec(select(m.InboundMessage))] == ["recorded"]


def test_a_form_with_mistakes_is_shown_again_and_records_nothing(site: Site, client: httpx.Client):
    [update] = site.update_links("kelly.cogger@example.org")
    response = post_update(client, update, text="  ", rag="purple", new_date="someday")
    assert response.status_code == 400
    assert "Say what has been done" in response.text
    assert "Choose red, amber or green" in response.text
    assert "Could not read" in response.text
    past = post_update(client, update, text="Done.", new_date="October 2018")
    assert past.status_code == 400 and "has passed" in past.text
    assert web_entries(site) == []


def test_an_expired_update_link_is_refused(site: Site, client: httpx.Client):
    [update] = site.update_links("kelly.cogger@example.org")
    page = client.get(update)
    site.clock.now = MONDAY + timedelta(days=14)
    response = client.get(update)
    assert response.status_code == 410 and "This update link has expired" in response.text
    data = {"csrf": csrf(page.text), "form_id": "x" * 24, "text": "Too late"}
    assert client.post(update, data=data).status_code == 410
    assert web_entries(site) == []


def test_an_altered_update_link_is_refused(site: Site, client: httpx.Client):
    [update] = site.update_links("kelly.cogger@example.org")
    base, token = update.rsplit("/", 1)
    secret = site.settings.web.secret
    kelly = token_person(site, "kelly-cogger")
    other = make_token(secret, action_id(site, "1.1.2"), kelly, MONDAY + timedelta(days=14))
    forged = {
        "a character changed": token[:-1] + ("a" if token[-1] != "a" else "b"),
        "signed with another key": make_token(
            b"another-key-altogether", action_id(site, "1.1.1"), kelly, MONDAY + timedelta(days=9)
        ),
        "a reply token": sign(site.settings.mail.reply_secret, "a", 1, kelly),  # type: ignore[union-attr]
    }
    for why, bad in forged.items():
        response = client.get(f"{base}/{bad}")
        assert response.status_code == 404, why
        assert "This update link does not work" in response.text, why
    # a well-signed link for an action Kelly does not lead is refused too
    response = client.get(f"{base}/{other}")
    assert response.status_code == 403
    assert "no longer lets you update the action" in response.text
    assert web_entries(site) == []


def token_person(site: Site, key: str) -> int:
    with session(site.engine) as s:
        found = s.exec(select(m.Person.id).where(m.Person.key == key)).one()
        assert found is not None
        return found


def test_reminders_carry_update_links_only_with_a_web_address(site: Site):
    assert update_link_maker(WebSettings(), MONDAY) is None
    tracey = site.update_links("tracey.anstis@example.org")
    assert len(tracey) == 2  # one for each of her actions
    assert all(link.startswith(site.url + "/update/") for link in tracey)


# --- escaping ----------------------------------------------------------------------------------


def test_hostile_text_in_a_title_and_an_update_is_escaped(site: Site, client: httpx.Client):
    with session(site.engine) as s, s.begin():
        action = s.get(m.Action, action_id(site, "1.1.1"))
        assert action is not None
        action.title = XSS
        s.add(action)
    [update] = site.update_links("kelly.cogger@example.org")
    form = client.get(update).text
    recorded = post_update(client, update, text=XSS, new_date=XSS).text  # a bad date, echoed
    done = post_update(client, update, text=XSS).text
    sign_in(site, client)
    pages = [
        form,
        recorded,
        done,
        client.get("/").text,
        client.get(f"/actions/{action_id(site, '1.1.1')}").text,
    ]
    for page in pages:
        assert "<script>" not in page and "<b>bold" not in page
        assert ESCAPED in page


# --- the app's own headers and cookie ----------------------------------------------------------


def test_pages_are_not_cached_framed_or_referred_and_the_cookie_is_http_only(
    site: Site, client: httpx.Client
):
    response = client.get("/sign-in")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie


def test_over_https_the_cookie_is_secure(site: Site):
    https = replace(site.settings, web=replace(site.settings.web, base_url="https://a.example.org"))
    server = start_web(site.engine, https, site.rules, host="127.0.0.1", port=0, clock=site.clock)
    try:
        response = httpx.get(f"http://127.0.0.1:{server.port}/sign-in")
        assert "; secure" in response.headers["set-cookie"].lower()
    finally:
        server.stop()
    assert create_app(site.engine, https, site.rules).state.web.base_url == "https://a.example.org"


# --- the commands --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("command", ["serve", "run"])
def test_the_commands_serve_the_app_and_stop_on_sigterm(tmp_path: Path, command: str):
    """`actionbot serve`, and `actionbot run` beside the scheduler when WEB_BASE_URL is set."""
    data = tmp_path / "data"
    data.mkdir()
    write(data)
    port = free_port()
    env = {
        **os.environ,
        "ACTIONBOT_DATA_DIR": str(data),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}",
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "ACTIONBOT_RULES": str(REPO / "rules"),
        "LOG_LEVEL": "INFO",
        "WEB_PORT": str(port),
        "WEB_BASE_URL": f"http://127.0.0.1:{port}",
    }
    env.pop("SLACK_BOT_TOKEN", None)
    subprocess.run([sys.executable, "-m", "bot", "init"], env=env, check=True, cwd=tmp_path)
    args = ["run", "--every", "60"] if command == "run" else ["serve", "--host", "127.0.0.1"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        assert _wait_for(proc, "web app on 127.0.0.1:", seen), "".join(seen)
        assert eventually(lambda: _answers(f"http://127.0.0.1:{port}/healthz"))
        page = httpx.get(f"http://127.0.0.1:{port}/", follow_redirects=True)
        assert page.status_code == 200 and "Send me a sign-in link" in page.text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).text == "ok"
    except httpx.HTTPError:
        return False
