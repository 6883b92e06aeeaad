"""Mount the console on the API's application (the composition root calls `mount`): its
page groups' routers, its stylesheet, and the answers to a request without a session (to
the login page), of the wrong role (403) or with a form whose CSRF token is not the
session's (403).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from starlette.responses import Response

from yizhan.console import (
    auth,
    calls,
    frequency,
    i18n,
    keys,
    lists,
    op_accounts,
    op_channels,
    op_letters,
    op_lists,
    op_reviews,
    operator,
    overview,
    push,
    qualifications,
    records,
    signatures,
    statistics,
    tasks,
    templates_page,
)
from yizhan.console.pages import (
    PREFIX,
    SECURITY_HEADERS,
    CsrfFailed,
    NotForYou,
    NotLoggedIn,
    environment,
    language,
    render,
    to_login,
    viewer,
)
from yizhan.console.services import ConsoleServices

STATIC = Path(__file__).parent / "static"
ASSETS = {"console.css": "text/css; charset=utf-8",
          "console.js": "text/javascript; charset=utf-8"}
"""The console's own files, served from the package (nothing from another host)."""


def mount(app: FastAPI, services: ConsoleServices) -> None:
    app.state.console = services
    app.state.console_templates = environment()
    for group in (auth, overview, records, statistics, qualifications, signatures,
                  templates_page, tasks, frequency, lists, push, calls, keys, operator,
                  op_accounts, op_reviews, op_channels, op_letters, op_lists):
        app.include_router(group.router)
    assets = {name: ((STATIC / name).read_bytes(), kind) for name, kind in ASSETS.items()}

    @app.get(PREFIX + "/static/{name}", include_in_schema=False)
    async def static(name: str) -> Response:
        if name not in assets:
            return Response(status_code=404)
        body, kind = assets[name]
        return Response(body, media_type=kind,
                        headers={**SECURITY_HEADERS, "Cache-Control": "max-age=3600"})

    app.add_exception_handler(NotLoggedIn, _to_login)
    app.add_exception_handler(NotForYou, _refused)
    app.add_exception_handler(CsrfFailed, _refused)


async def _to_login(request: Request, exc: Exception) -> Response:
    return to_login(request)


async def _refused(request: Request, exc: Exception) -> Response:
    try:
        who = await viewer(request)
    except NotLoggedIn:
        return to_login(request)
    t = i18n.words(language(request))
    text = t["csrf_failed"] if isinstance(exc, CsrfFailed) else t["forbidden"]
    return render(request, "refused.html", who.lang, who, status=403, text=text)
