"""Update links: the signed, expiring web address beside each action in a reminder, where the
lead gives a progress update without signing in. The link is the credential.

A token names the action, the person the reminder was for and when it stops working, signed
with the web secret (bot/notify/tokens.py's encoding, a kind of its own), so an altered link
names nothing and an old one is refused by its date. Pure: no clock, no database, no web.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.notify.tokens import sign, verify
from bot.settings import WebSettings

__all__ = ["LIFETIME", "PATH", "UpdateLink", "make_token", "read_token", "update_link_maker"]

LIFETIME = timedelta(days=14)  # a fortnight: longer than the shortest reminder cadence
KIND = "update"
PATH = "/update/"


@dataclass(frozen=True)
class UpdateLink:
    action_id: int
    person_id: int
    expires_at: datetime

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def make_token(secret: bytes, action_id: int, person_id: int, expires_at: datetime) -> str:
    return sign(secret, KIND, action_id, person_id, int(expires_at.timestamp()))


def read_token(secret: bytes, token: str) -> UpdateLink | None:
    """What an unaltered token names (expired or not: the caller judges by its clock); None
    for anything this secret did not sign as an update link."""
    found = verify(secret, token)
    if found is None or found[0] != KIND or len(found[1]) != 3:
        return None
    action_id, person_id, expires = found[1]
    return UpdateLink(action_id, person_id, datetime.fromtimestamp(expires, UTC))


def update_link_maker(web: WebSettings, now: datetime) -> Callable[[int, int], str] | None:
    """Makes reminders' update links, valid for LIFETIME from `now`; None without a web address
    (WEB_BASE_URL), when reminders carry no links."""
    if not web.base_url:
        return None
    base, secret, expires = web.base_url, web.secret, now + LIFETIME

    def link(action_id: int, person_id: int) -> str:
        return base + PATH + make_token(secret, action_id, person_id, expires)

    return link
