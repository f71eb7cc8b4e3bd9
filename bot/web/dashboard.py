"""The dashboard: RAG by objective and by organisation, what is overdue, who is at which level
of the escalation ladder and since when, the latest updates, and the RAG-over-time chart."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from bot.db import session
from bot.web.auth import signed_in, to_sign_in
from bot.web.pages import Refused, Web, refused_page, render_page, web_of
from bot.web.queries import Dashboard, dashboard


async def dashboard_page(request: Request) -> Response:
    if signed_in(request) is None:
        return to_sign_in(request)
    web = web_of(request)
    plan_id = request.query_params.get("plan") or None
    data = await run_in_threadpool(_load, web, plan_id)
    if data is None:
        missing = Refused(404, "No such plan", "It is not in the database.")
        return refused_page(request, missing, "/", "The dashboard, all plans")
    return render_page(request, "dashboard", {"d": data})


def _load(web: Web, plan_id: str | None) -> Dashboard | None:
    with session(web.engine) as s:
        try:
            return dashboard(s, web.today(), plan_id)
        except KeyError:
            return None
