"""The web app in a real browser: headless Chromium (Debian's, driven by Playwright; no browser
is downloaded) signs in with the link the sign-in form queued, reads the dashboard, opens an
action and its history, posts an update from the link in a lead's reminder (which then says it
has been used), and sees it on the dashboard and the action page. The dashboard's screenshot is
saved to tests/artefacts/.

Runs on SQLite and PostgreSQL against the real app on loopback (tests/web_site.py), after four
weekly ticks, so reminders have gone out and both actions have reached the operational group.
Without Chromium the test skips, saying how to install it (CI=true makes that a failure).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from tests.web_site import MONDAY, running_site

CHROMIUM = Path("/usr/bin/chromium")
HOW = (
    "Debian's Chromium is not installed at /usr/bin/chromium: "
    "apt-get install -y --no-install-recommends chromium (Playwright drives it; "
    "never `playwright install`)"
)
# As this machine's notes start it: root needs --no-sandbox, and a closed network makes
# background connections fail noisily.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTEFACTS = REPO / "tests" / "artefacts"
OPS = "ops.chair@example.org"
KELLY = "kelly.cogger@example.org"
UPDATE = "Audits are now monthly; the Framework-I report went to PMQA on 12 December."
WEEKLY = [MONDAY + timedelta(weeks=k) for k in range(4)]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(HOW)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is missing: python3 -m pip install -e '.[test]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


def test_sign_in_read_the_dashboard_open_an_action_and_post_an_update(
    database_url: str, tmp_path: Path, chromium: Any
):
    with running_site(database_url, tmp_path, WEEKLY) as site:
        board = chromium.new_context(viewport={"width": 1280, "height": 900})
        page = board.new_page()

        # nothing without signing in: the dashboard sends to the sign-in page
        page.goto(site.url + "/")
        assert page.url == site.url + "/sign-in"
        page.fill("#email", OPS)
        page.click("text=Send me a sign-in link")
        assert "a link is on its way" in page.inner_text("main")

        # the link from the message the form queued
        page.goto(site.sign_in_link(OPS))
        assert page.inner_text("h1") == "Sign in as Ops Chair"
        page.click("button:has-text('Sign in')")
        page.wait_for_url(site.url + "/")

        main = page.inner_text("main")
        assert "Where the action plans stand on 17 Dec 2018." in main
        assert "1 Make the front door work" in main
        ladder = page.inner_text("#ladder + p + table")
        assert "MASH Operational Group since 10 Dec 2018" in ladder  # 1.1.1
        assert "MASH Operational Group since 17 Dec 2018" in ladder  # 1.1.2
        assert page.locator("svg rect").count() >= 4  # the chart: one bar a week at least

        # one action's whole history
        page.click("#overdue + table a:has-text('1.1.1')")
        assert page.inner_text("h1") == (
            "Action 1.1.1 — Improve Framework-I reporting and increase audits"
        )
        story = page.inner_text("main")
        assert "Framework-I reporting has been adapted." in story  # the plan's progress
        assert "escalated" in page.inner_text("#chasing + table")
        assert "reminded" in page.inner_text("#chasing + table")
        messages = page.inner_text("#messages + table")
        assert "reminder by email" in messages and KELLY in messages

        # a lead, not signed in, follows the link in her latest reminder
        lead = chromium.new_context()
        form = lead.new_page()
        [link] = site.update_links(KELLY)
        form.goto(link)
        assert "Progress update: action 1.1.1" in form.inner_text("h1")
        form.fill("#text", UPDATE)
        form.select_option("#rag", "amber")
        form.fill("#new_date", "March 2019")
        form.click("button:has-text('Record update')")
        recorded = form.inner_text("main")
        assert "Your update is recorded" in recorded
        assert UPDATE in recorded and "New date proposed: Mar 2019" in recorded
        form.goto(link)  # the link has recorded its update: it is refused now
        assert form.inner_text("h1") == "This update link has been used"
        assert "reply to the reminder e-mail" in form.inner_text("main")
        lead.close()

        # the board member sees it on the dashboard and on the action's page
        page.goto(site.url + "/")
        latest = page.inner_text("#latest ~ .entry")
        assert UPDATE in latest and "Kelly Cogger, from the web" in latest
        assert re.search(r"1\s*amber", page.inner_text(".tiles"))
        ARTEFACTS.mkdir(exist_ok=True)
        shot = ARTEFACTS / "dashboard.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 10_000

        page.click("#latest ~ .entry a:has-text('1.1.1')")
        entry = page.inner_text("#progress + .entry")
        assert UPDATE in entry and "Kelly Cogger, from the web" in entry
        assert "New date proposed: Mar 2019" in entry
        assert "web" in page.inner_text("#replies + table")
        board.close()
