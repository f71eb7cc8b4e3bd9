"""Signing in to the web app by an e-mailed link, the session it opens, and CSRF protection.

Who may sign in: every person with an e-mail address who is a governance level of a plan (the
chair) or the contact or a member of a governance group (the operational group, the strategic
board), and the business managers WEB_ADMINS names. Nothing else is visible without signing in.

- The sign-in form takes an e-mail address and always answers the same, so it tells nobody who
  may sign in. For someone who may, a link is queued in the outbox (kind "sign-in") and sent by
  the normal delivery, at most one a minute per address.
- The link's token names a hash of the address, when it stops working (SIGN_IN_MINUTES) and a
  random number, signed with the web secret. It works once: using it stores the token's hash
  in `used_link`, whose unique key refuses a second use, even at the same moment. Opening it
  shows a button; only pressing it (a POST) uses the link, so a mail scanner that fetches
  links does not spend it.
- The session is Starlette's signed cookie (HttpOnly, SameSite=Lax, Secure over https); it
  holds the address, a CSRF token and the moment it ends by the app's clock (SESSION_HOURS).
  A cookie cannot be called back, so every request asks again whether its address may sign
  in (`StillAllowed`): a board member taken off the group, or a manager off WEB_ADMINS, is
  signed out at their next request, not hours later when the session would have ended.
- Every form carries the session's CSRF token, and every POST without the right one is
  refused (403) before anything else is read.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from bot import models as m
from bot.db import session
from bot.delivery import deliver, email_payload
from bot.notify.content import Recipient, SignIn
from bot.notify.email import build_email, make_message_id
from bot.notify.render import render
from bot.notify.tokens import sign, verify
from bot.web.pages import Refused, Web, refused_page, render_page, web_of

log = logging.getLogger(__name__)

SIGN_IN_MINUTES = 30
SESSION_HOURS = 8
ONE_LINK_PER = timedelta(minutes=1)  # per address: the form cannot be used to flood a mailbox
KIND = "signin"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Visitor:
    email: str
    name: str


# --- who may sign in -------------------------------------------------------------------------


def may_sign_in(s: Session, admins: tuple[str, ...], email: str | None = None) -> dict[str, str]:
    """Lowercased e-mail address -> name, for everyone who may sign in; only `email` (when
    given), so that each request can ask about its visitor without reading everyone."""
    levels = list(s.exec(select(m.GovernanceLevel)))  # a few rows a plan
    group_ids = {level.group_id for level in levels if level.group_id is not None}
    people = select(m.Person).where(col(m.Person.email).is_not(None))
    if email is not None:
        people = people.where(func.lower(func.trim(m.Person.email)) == email)
    persons = {p.id: p for p in s.exec(people)}
    groups = {
        g.id: g for g in s.exec(select(m.LeadGroup).where(col(m.LeadGroup.id).in_(group_ids)))
    }
    in_groups = select(m.GroupMember).where(col(m.GroupMember.group_id).in_(group_ids))
    if email is not None:
        in_groups = in_groups.where(col(m.GroupMember.person_id).in_(list(persons)))
    members: dict[int, list[int]] = {}
    for gm in s.exec(in_groups):
        members.setdefault(gm.group_id, []).append(gm.person_id)
    found: dict[str, str] = {}

    def add(person_id: int | None) -> None:
        person = persons.get(person_id) if person_id is not None else None
        if person is not None and person.email:
            found.setdefault(person.email.strip().lower(), person.name)

    for level in levels:
        add(level.person_id)
        group = groups.get(level.group_id) if level.group_id is not None else None
        if group is not None:
            add(group.contact_person_id)
            for person_id in members.get(group.id or 0, []):
                add(person_id)
    by_email = {(p.email or "").strip().lower(): p.name for p in persons.values() if p.email}
    for address in admins:
        if email is None or address == email:
            found.setdefault(address, by_email.get(address, address))
    if email is not None:  # another spelling of the address, trimmed and lowercased alike
        return {email: found[email]} if email in found else {}
    return found


# --- sign-in links ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SignInLink:
    tag: int  # names the address without carrying it
    expires_at: datetime


def _tag(email: str) -> int:
    digest = hashlib.sha256(b"actionbot sign-in\0" + email.strip().lower().encode()).digest()
    return int.from_bytes(digest[:8], "big")


def sign_in_token(secret: bytes, email: str, expires_at: datetime) -> str:
    return sign(secret, KIND, _tag(email), int(expires_at.timestamp()), secrets.randbits(40))


def read_sign_in_token(secret: bytes, token: str) -> SignInLink | None:
    found = verify(secret, token)
    if found is None or found[0] != KIND or len(found[1]) != 3:
        return None
    tag, expires, _nonce = found[1]
    return SignInLink(tag, datetime.fromtimestamp(expires, UTC))


def token_digest(token: str) -> str:
    """What `used_link` keeps: the hash of the token as verified (case folded), never the token."""
    return hashlib.sha256(token.strip().lower().encode()).hexdigest()


def queue_sign_in_link(web: Web, email: str, now: datetime) -> bool:
    """Queues a sign-in link for `email` if it may sign in and had none in the last minute;
    True when one was queued. Says nothing to the asker either way."""
    mail = web.settings.mail
    assert mail is not None
    with session(web.engine) as s, s.begin():
        name = may_sign_in(s, web.settings.web.admins).get(email)
        if name is None:
            log.info("sign-in link not sent: %s may not sign in", email)
            return False
        recent = s.exec(
            select(m.Outbox.id).where(
                m.Outbox.kind == "sign-in",
                m.Outbox.recipient == email,
                col(m.Outbox.created_at) > (now - ONE_LINK_PER).astimezone(UTC),
            )
        ).first()
        if recent is not None:
            log.info("sign-in link not sent: %s had one less than a minute ago", email)
            return False
        token = sign_in_token(web.secret, email, now + timedelta(minutes=SIGN_IN_MINUTES))
        key = f"sign-in/{email}/{now.astimezone(UTC):%Y-%m-%dT%H:%M:%S}/{token[-8:]}"[:200]
        recipient = Recipient(name, email)
        content = SignIn(key, recipient, f"{web.base_url}/sign-in/{token}", SIGN_IN_MINUTES, now)
        rendered = render("sign-in", content)
        message = build_email(
            rendered,
            kind="sign-in",
            sender=mail.sender,
            recipients=[recipient],
            reply_to=None,
            sent_at=now,
            message_id=make_message_id(key, mail.domain),
        )
        row = m.Outbox(
            key=key,
            kind="sign-in",
            channel="email",
            recipient=email,
            subject=rendered.subject,
            payload=email_payload(message),
            message_id=str(message["Message-ID"]),
            created_at=now.astimezone(UTC),
        )
        s.add(row)
        s.flush()
        s.add(
            m.AuditEvent(
                at=now.astimezone(UTC),
                kind="sign-in-asked",
                person_key=email,
                outbox_id=row.id,
                detail="a sign-in link for the web app was asked for and queued",
            )
        )
    log.info("sign-in link queued for %s", email)
    return True


USED = Refused(410, "This sign-in link has been used", "Each sign-in link works once.")


def check_link(web: Web, token: str, now: datetime) -> Visitor | Refused:
    """Whom the link signs in, or why it is refused."""
    link = read_sign_in_token(web.secret, token)
    if link is None:
        return Refused(
            404,
            "This sign-in link does not work",
            "It is not one actionbot made, or it was changed on the way.",
        )
    if now >= link.expires_at:
        return Refused(
            410,
            "This sign-in link has expired",
            f"Sign-in links work for {SIGN_IN_MINUTES} minutes.",
        )
    with session(web.engine) as s:
        used = s.exec(select(m.UsedLink.id).where(m.UsedLink.digest == token_digest(token)))
        if used.first() is not None:
            return USED
        allowed = may_sign_in(s, web.settings.web.admins)
    found = next((Visitor(e, n) for e, n in allowed.items() if _tag(e) == link.tag), None)
    if found is None:
        return Refused(
            403,
            "You may not sign in",
            "The address this link was sent to may no longer sign in.",
        )
    return found


def use_link(web: Web, token: str, now: datetime) -> Visitor | Refused:
    """Checks the link again and spends it, in one transaction; a second use is refused."""
    checked = check_link(web, token, now)
    link = read_sign_in_token(web.secret, token)
    if isinstance(checked, Refused) or link is None:
        return checked
    try:
        with session(web.engine) as s, s.begin():
            s.add(
                m.UsedLink(
                    digest=token_digest(token),
                    kind="sign-in",
                    email=checked.email,
                    used_at=now.astimezone(UTC),
                    expires_at=link.expires_at,
                )
            )
            s.add(
                m.AuditEvent(
                    at=now.astimezone(UTC),
                    kind="signed-in",
                    person_key=checked.email,
                    detail=f"{checked.email} signed in to the web app",
                )
            )
    except IntegrityError:  # used by another request a moment ago
        return USED
    log.info("%s signed in to the web app", checked.email)
    return checked


# --- the session and CSRF --------------------------------------------------------------------


def signed_in(request: Request) -> Visitor | None:
    who, until = request.session.get("who"), request.session.get("until")
    if not isinstance(who, str) or not isinstance(until, (int, float)):
        return None
    if web_of(request).clock().timestamp() >= until:
        for name in ("who", "name", "until"):
            request.session.pop(name, None)
        return None
    return Visitor(who, str(request.session.get("name") or who))


def still_allowed(web: Web, email: str, now: datetime) -> bool:
    """Whether a session's address may still sign in; when not, the ending is audited."""
    with session(web.engine) as s, s.begin():
        if may_sign_in(s, web.settings.web.admins, email):
            return True
        s.add(
            m.AuditEvent(
                at=now.astimezone(UTC),
                kind="signed-out",
                person_key=email,
                detail=f"{email} may no longer sign in; their web session was ended",
            )
        )
    log.info("%s may no longer sign in: web session ended", email)
    return False


class StillAllowed:
    """Middleware inside the session's: ends the session of an address that may no longer sign
    in, before any page reads it, so every page and form sees a visitor who may."""

    def __init__(self, app: ASGIApp, web: Web) -> None:
        self.app = app
        self.web = web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kept = scope.get("session") if scope["type"] == "http" else None
        who = kept.get("who") if isinstance(kept, dict) else None
        if isinstance(kept, dict) and isinstance(who, str):
            allowed = await run_in_threadpool(still_allowed, self.web, who, self.web.clock())
            if not allowed:
                for name in ("who", "name", "until"):
                    kept.pop(name, None)
        await self.app(scope, receive, send)


def csrf_token(request: Request) -> str:
    token = request.session.get(CSRF_FIELD)
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(32)
        request.session[CSRF_FIELD] = token
    return token


async def checked_form(request: Request) -> FormData | None:
    """The POSTed form when it carries this session's CSRF token; None otherwise."""
    form = await request.form()
    sent, kept = form.get(CSRF_FIELD), request.session.get(CSRF_FIELD)
    if isinstance(sent, str) and isinstance(kept, str) and kept and hmac.compare_digest(sent, kept):
        return form
    log.info("%s %s refused: missing or wrong CSRF token", request.method, request.url.path)
    return None


def forbidden(request: Request) -> Response:
    expired = Refused(
        403, "This form has expired", "Open the page again and send the form from there."
    )
    return refused_page(request, expired, request.url.path, "Open it again")


def to_sign_in(request: Request) -> Response:
    return RedirectResponse("/sign-in", status_code=303)


# --- the pages -------------------------------------------------------------------------------


async def sign_in_page(request: Request) -> Response:
    if signed_in(request) is not None:
        return RedirectResponse("/", status_code=303)
    return render_page(request, "sign_in", {"minutes": SIGN_IN_MINUTES})


async def ask_for_link(request: Request) -> Response:
    form = await checked_form(request)
    if form is None:
        return forbidden(request)
    web = web_of(request)
    email = str(form.get("email") or "").strip().lower()[:254]
    now = web.clock()
    queued = bool(email) and await run_in_threadpool(queue_sign_in_link, web, email, now)
    task = None
    if queued and web.transports is not None:
        task = BackgroundTask(deliver, web.engine, web.transports, now)
    response = render_page(request, "sign_in_sent", {"email": email, "minutes": SIGN_IN_MINUTES})
    response.background = task
    return response


async def sign_in_link(request: Request) -> Response:
    web = web_of(request)
    token = request.path_params["token"]
    if request.method == "POST":
        if await checked_form(request) is None:
            return forbidden(request)
        used = await run_in_threadpool(use_link, web, token, web.clock())
        if isinstance(used, Refused):
            return refused_page(request, used, "/sign-in", "Ask for a new link")
        request.session.clear()
        request.session.update(
            {
                "who": used.email,
                "name": used.name,
                "until": (web.clock() + timedelta(hours=SESSION_HOURS)).timestamp(),
                CSRF_FIELD: secrets.token_urlsafe(32),  # a new session: a new token
            }
        )
        return RedirectResponse("/", status_code=303)
    checked = await run_in_threadpool(check_link, web, token, web.clock())
    if isinstance(checked, Refused):
        return refused_page(request, checked, "/sign-in", "Ask for a new link")
    return render_page(request, "sign_in_link", {"name": checked.name})


async def sign_out(request: Request) -> Response:
    if await checked_form(request) is None:
        return forbidden(request)
    request.session.clear()
    return RedirectResponse("/sign-in", status_code=303)
