"""What every console page shares: the templates, the logged-in person (`Viewer`), the
language, CSRF checks of forms, and the answer's security headers.

A page handler takes `viewer: ViewerDep` (a tenant page `TenantDep`: the viewer's own
account, the only one its queries name), renders with `render(...)`, and reads a form with
`form_of(...)`, which refuses a form without its session's CSRF token. A request without a
live session is sent to the login page (`NotLoggedIn`).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse, Response

from yizhan.console import i18n
from yizhan.console.services import ConsoleServices
from yizhan.domain.model import AccountId
from yizhan.domain.people import ConsoleSession, Role

SESSION_COOKIE = "yizhan_session"
PREFIX = "/console"
TEMPLATES = Path(__file__).parent / "templates"
SECURITY_HEADERS = {
    # Everything comes from this server: no script, style, font or image from another host.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                               "script-src 'self'; frame-ancestors 'none'; form-action 'self'; "
                               "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

TENANT_NAV = (
    ("/overview", "overview"),
    ("/records", "records"),
    ("/statistics", "statistics"),
    ("/tasks", "tasks"),
    ("/qualifications", "qual_title"),
    ("/signatures", "signatures"),
    ("/templates", "templates"),
    ("/frequency", "frequency"),
    ("/lists", "lists"),
    ("/push", "push"),
    ("/calls", "calls"),
    ("/keys", "access_keys"),
)
"""The header's links for a tenant: (path under the console, word key); one line a page group."""
OPERATOR_NAV = (
    ("/operator", "accounts"),
    ("/review", "rev_queue"),
    ("/registrations", "rev_registrations"),
    ("/operator/channels", "ops_channels"),
    ("/operator/deadletters", "ops_letters"),
    ("/operator/unmatched", "ops_unmatched"),
    ("/operator/lists", "ops_lists"),
)


def environment() -> Environment:
    """The templates of every page group (`templates/`), HTML-escaped."""
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["prefix"] = PREFIX
    env.globals["tenant_nav"] = TENANT_NAV
    env.globals["operator_nav"] = OPERATOR_NAV
    return env


def console_of(request: Request) -> ConsoleServices:
    found = request.app.state.console
    assert isinstance(found, ConsoleServices)
    return found


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def language(request: Request) -> str:
    return i18n.choose(request.cookies.get(i18n.COOKIE),
                       request.headers.get("accept-language", ""),
                       console_of(request).api.default_language)


def secure(request: Request) -> bool:
    """Cookies are marked Secure when the console is reached over https: directly, or
    through a proxy that ends TLS and says so (`X-Forwarded-Proto: https`; believing it
    can only make the cookie stricter)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The person behind a request, with the session that proves it."""

    session: ConsoleSession
    lang: str

    @property
    def role(self) -> Role:
        return self.session.user.role

    @property
    def admin(self) -> bool:
        return self.role in (Role.TENANT_ADMIN, Role.OPERATOR)


class NotLoggedIn(Exception):
    """No live session: the handler answers with the login page's address."""


class NotForYou(Exception):
    """The page is not for this role (a tenant on an operator's page, a viewer's form)."""


async def viewer(request: Request) -> Viewer:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise NotLoggedIn
    console = console_of(request)
    session = await console.store.console_session(token_hash(token),
                                                  console.api.clock.now())
    if session is None:
        raise NotLoggedIn
    return Viewer(session, language(request))


ViewerDep = Annotated[Viewer, Depends(viewer)]


async def tenant(request: Request, who: ViewerDep) -> AccountId:
    """The account a tenant page shows: the viewer's own; an operator has none here."""
    account_id = who.session.user.account_id
    if account_id is None:
        raise NotForYou
    return account_id


TenantDep = Annotated[AccountId, Depends(tenant)]


async def operator(who: ViewerDep) -> Viewer:
    """The viewer of an operator's page: only the operator (a tenant: 403, before any form
    of the request is read)."""
    if who.role is not Role.OPERATOR:
        raise NotForYou
    return who


OperatorDep = Annotated[Viewer, Depends(operator)]


class CsrfFailed(Exception):
    pass


async def form_of(request: Request, who: Viewer) -> FormData:
    """The form of a POST, once its CSRF token is the session's (else `CsrfFailed`)."""
    form = await request.form()
    sent = form.get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, who.session.csrf):
        raise CsrfFailed
    return form


async def admin_form(request: Request, who: Viewer) -> FormData:
    """The form of a change: its CSRF token checked, then the person's role (a viewer: 403)."""
    form = await form_of(request, who)
    if not who.admin:
        raise NotForYou
    return form


def render(request: Request, template: str, lang: str, who: Viewer | None = None,
           status: int = 200, **context: Any) -> HTMLResponse:
    page = request.app.state.console_templates.get_template(template)
    body = page.render(t=i18n.words(lang), lang=lang, viewer=who,
                       csrf=who.session.csrf if who else "", path=_here(request),
                       **context)
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def to_login(request: Request) -> Response:
    return RedirectResponse(f"{PREFIX}/login?next={quote(_here(request), safe='')}", 303)


def home_of(role: Role) -> str:
    return f"{PREFIX}/operator" if role is Role.OPERATOR else f"{PREFIX}/overview"


def safe_next(target: str | None, fallback: str) -> str:
    """Only a path of the console itself: never another host (an open redirect)."""
    if (target and target.startswith(PREFIX + "/") and not target.startswith("//")
            and "\\" not in target):
        return target
    return fallback
