"""One action's page: what it is, where it stands, and its whole history — progress entries,
messages sent about it, replies, reminders and escalations."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.db import session
from bot.web.auth import signed_in, to_sign_in
from bot.web.pages import Refused, Web, refused_page, render_page, web_of
from bot.web.queries import ActionPage, action_page


async def action_view(request: Request) -> Response:
    if signed_in(request) is None:
        return to_sign_in(request)
    web = web_of(request)
    data = await run_in_threadpool(_load, web, int(request.path_params["action_id"]))
    if data is None:
        missing = Refused(404, "No such action", "It is not in any plan.")
        return refused_page(request, missing, "/", "The dashboard")
    return render_page(request, "action", {"a": data})


def _load(web: Web, action_id: int) -> ActionPage | None:
    with session(web.engine) as s:
        return action_page(s, action_id, web.today())
