"""The page a reminder's "Update on the web" link opens: no sign-in, the signed, expiring link
(bot/web/update_links.py) is the credential.

A submitted update is recorded exactly as an e-mail reply is (bot/inbound/record.py): the person
the link was made for must still be among the action's answerers (a lead, a group contact or
member, a milestone lead, a delegate), the entry is made by `record_updates` with source "web"
and that person as its author, the inbound log gets a row (channel "web"), and a proposed new
date is kept for the operational group to agree: the deadline never moves by itself. The page
then shows what was recorded.

A link records one update, then is refused: a reminder can be forwarded or left open on a
shared computer, and the link in it should not speak for the lead twice. Opening it (and
reloading the form) spends nothing, so a mail scanner or a second look costs no update; only a
recorded update does, by storing the token's hash in `used_link` (kind "update") in the same
transaction as the entry. Its unique key decides between two updates sent at the same moment:
one is recorded, the other is refused and records nothing. Each form also carries an id of its
own, which is the inbound id: the inbound log's unique key refuses the same form twice too.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from bot import models as m
from bot.db import session
from bot.inbound.record import (
    Answerer,
    Update,
    already_seen,
    answerers,
    log_inbound,
    record_updates,
)
from bot.inbound.slack_modal import RAGS, read_date
from bot.notify.content import RecordedLine
from bot.notify.tokens import reply_address, sign
from bot.plans.partial_date import PartialDate
from bot.store import ProgressView, load_plans
from bot.web.auth import checked_form, forbidden, token_digest
from bot.web.pages import Refused, Web, moment, refused_page, render_page, web_of
from bot.web.update_links import LIFETIME, UpdateLink, read_token

log = logging.getLogger(__name__)

CHANNEL = "web"
MAX_TEXT = 10_000
_FORM_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
ALTERED = Refused(
    404,
    "This update link does not work",
    "It is not one actionbot made, or it was changed on the way. "
    "Reply to the reminder e-mail instead.",
)
EXPIRED = Refused(
    410,
    "This update link has expired",
    f"Update links work for {LIFETIME.days} days. Reply to the reminder e-mail instead, or use "
    "the link in a newer reminder.",
)
USED = "This update link has been used"
ANOTHER = (
    "Each update link records one update. To give another, reply to the reminder e-mail, or "
    "use the link in the next reminder."
)
GONE = "This action is no longer in any plan"
NOT_A_LEAD = "This link no longer lets you update the action"


@dataclass(frozen=True)
class Target:
    """What a valid link is for, as the page shows it."""

    action_id: int
    plan_title: str
    ref: str
    title: str
    due: date | None
    rag: str | None
    latest: ProgressView | None
    person: str  # the name of whom the link was made for


@dataclass(frozen=True)
class Answer:
    text: str
    rag: str | None
    completed: bool
    proposed: PartialDate | None


async def update_page(request: Request) -> Response:
    web = web_of(request)
    now = web.clock()
    link = read_token(web.secret, request.path_params["token"])
    if link is None:
        return refused_page(request, ALTERED)
    if link.expired(now):
        return refused_page(request, EXPIRED)
    form: FormData | None = None
    if request.method == "POST":
        form = await checked_form(request)
        if form is None:
            return forbidden(request)
    digest = token_digest(request.path_params["token"])
    target = await run_in_threadpool(_target, web, link, digest)
    if isinstance(target, Refused):
        return refused_page(request, target)
    if form is None:
        return _form(request, target, secrets.token_urlsafe(18), {}, {})

    values = {k: str(form.get(k) or "") for k in ("text", "rag", "new_date", "form_id")}
    values["completed"] = "yes" if form.get("completed") else ""
    answer = _read(values, web.today(now))
    if not _FORM_ID.match(values["form_id"]):
        return forbidden(request)
    if isinstance(answer, dict):
        return _form(request, target, values["form_id"], values, answer, status=400)
    result = await run_in_threadpool(_record, web, link, digest, answer, values["form_id"], now)
    if isinstance(result, Refused):
        return refused_page(request, result)
    return render_page(request, "update_recorded", {"line": result, "person": target.person})


def _read(values: dict[str, str], today: date) -> Answer | dict[str, str]:
    """The form as an answer, or the errors to show beside its fields."""
    errors: dict[str, str] = {}
    text = values["text"].strip()
    if not text:
        errors["text"] = "Say what has been done, in a line or two."
    elif len(text) > MAX_TEXT:
        errors["text"] = f"That is longer than {MAX_TEXT} characters; shorten it, please."
    rag = values["rag"] or None
    if rag is not None and rag not in RAGS:
        errors["rag"] = "Choose red, amber or green, or leave it as it is."
    proposed = None
    if values["new_date"].strip():
        try:
            proposed = read_date(values["new_date"].strip(), today)
        except ValueError as exc:
            errors["new_date"] = str(exc)
    if errors:
        return errors
    return Answer(text, rag, values["completed"] == "yes", proposed)


def _target(web: Web, link: UpdateLink, digest: str) -> Target | Refused:
    with session(web.engine) as s:
        used = _used(web, s, digest)
        if used is not None:
            return used
        action = s.get(m.Action, link.action_id)
        if action is None or action.id is None or action.status == "withdrawn":
            return Refused(410, GONE, "There is nothing to update.")
        who = _answerer(s, action.id, link.person_id)
        if who is None:
            return Refused(
                403,
                NOT_A_LEAD,
                f"The person it was made for is no longer a lead of action {action.ref} or "
                "a delegate of one.",
            )
        [plan] = load_plans(s, action.plan_id)
        view = next(a for a in plan.actions if a.id == action.id)
        latest = max(view.progress, key=lambda p: p.date.last_day(), default=None)
        return Target(
            action.id,
            plan.title,
            action.ref,
            action.title,
            view.next_due,
            action.rag,
            latest,
            who.name,
        )


def _used(web: Web, s: Session, digest: str) -> Refused | None:
    """The page for a link that has recorded its update (or a form sent before), saying when."""
    row = s.exec(select(m.UsedLink).where(m.UsedLink.digest == digest)).first()
    if row is None:
        return None
    when = moment(row.used_at, web.calendar.zone)
    return Refused(410, USED, f"An update was recorded through it on {when}. {ANOTHER}")


def _answerer(s: Session, action_id: int, person_id: int) -> Answerer | None:
    allowed = answerers(s, [action_id])[action_id]
    return next((a for a in allowed.values() if a.person_id == person_id), None)


def _record(
    web: Web, link: UpdateLink, digest: str, answer: Answer, form_id: str, now: datetime
) -> RecordedLine | Refused:
    """Records the update and spends the link in one transaction, or says why not."""
    external_id = f"web/{form_id}"
    mail = web.settings.mail
    assert mail is not None
    try:
        with session(web.engine) as s, s.begin():
            used = _used(web, s, digest)
            if used is not None:
                return used
            if already_seen(s, CHANNEL, external_id):
                return Refused(409, USED, f"This form's update was recorded already. {ANOTHER}")
            action = s.get(m.Action, link.action_id)
            if action is None or action.id is None or action.status == "withdrawn":
                return Refused(410, GONE, "Nothing was recorded.")
            who = _answerer(s, action.id, link.person_id)
            if who is None:
                reason = (
                    f"the update link's person ({link.person_id}) is not a lead of "
                    f"{action.ref} or a delegate"
                )
                log_inbound(
                    s,
                    channel=CHANNEL,
                    external_id=external_id,
                    received_at=now,
                    outcome="quarantined",
                    subject="web update form",
                    reason=reason,
                    action_ids=[action.id],
                )
                log.info("web update %s quarantined: %s", external_id, reason)
                return Refused(403, NOT_A_LEAD, "Nothing was recorded.")
            # spent first: of two updates sent at once, the second waits here for the first
            # to commit, then fails on the unique digest and records nothing
            s.add(
                m.UsedLink(
                    digest=digest,
                    kind="update",
                    email=who.email,
                    used_at=now.astimezone(UTC),
                    expires_at=link.expires_at,
                )
            )
            s.flush()
            update = Update(action.id, answer.text, answer.rag, answer.completed, answer.proposed)
            recorded = record_updates(
                s,
                [update],
                source=CHANNEL,
                external_id=external_id,
                author=who.name,
                author_person_id=who.person_id,
                now=now,
                today=web.today(now),
            )
            log_inbound(
                s,
                channel=CHANNEL,
                external_id=external_id,
                received_at=now,
                outcome="recorded",
                sender=who.email,
                subject="web update form",
                person_id=who.person_id,
                action_ids=[action.id],
            )
            s.add(
                m.AuditEvent(
                    at=now.astimezone(UTC),
                    kind="confirmed",
                    action_id=action.id,
                    plan_id=action.plan_id,
                    detail=f"update from {who.email} recorded from the web; shown on the page",
                )
            )
            plan = s.get(m.Plan, action.plan_id)
            entry = recorded.entries[0]
            line = RecordedLine(
                plan_title=plan.title if plan else action.plan_id,
                ref=action.ref,
                title=action.title,
                dated=entry.dated,
                text=entry.text,
                rag=entry.rag,  # type: ignore[arg-type]
                completed=entry.completed,
                proposed=answer.proposed,
                reply_address=reply_address(
                    mail.reply_address,
                    sign(mail.reply_secret, "a", action.id, who.person_id or 0),
                ),
            )
    except IntegrityError:  # the link or the form, used by another request a moment ago
        with session(web.engine) as s:
            return _used(web, s, digest) or Refused(
                409, USED, f"This form's update was recorded already. {ANOTHER}"
            )
    log.info("web update %s from %s: recorded (%s)", external_id, who.email, action.ref)
    return line


def _form(
    request: Request,
    target: Target,
    form_id: str,
    values: dict[str, str],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    return render_page(
        request,
        "update",
        {
            "t": target,
            "form_id": form_id,
            "values": {"text": "", "rag": "", "completed": "", "new_date": "", **values},
            "errors": errors,
            "rags": RAGS,
        },
        status=status,
    )
