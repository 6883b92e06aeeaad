"""Logging in and out of the console, and its language switch (docs/console.md "Access").

    GET  /console                 to one's home page, or to the login
    GET  /console/login           the login form
    POST /console/login           check the password (argon2), open a session
    POST /console/logout          end the session
    GET  /console/lang/{zh|en}    switch the language (a cookie), back to `next`

A login checks the rate limit first (`LoginLimits`: failures of this login name and of this
address within the window; past it even the right password is refused), then the password;
a failure is counted, a success clears the login's failures, opens a server-side session
(a random token in an HttpOnly, SameSite=Lax cookie, Secure over https; the store keeps its
SHA-256) and is audited. The login form carries a CSRF token of its own (a cookie and the
same value in the form), since there is no session yet.
"""

from __future__ import annotations

import hmac
import math
import secrets
from datetime import timedelta

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from yizhan.console import i18n
from yizhan.console.pages import (
    PREFIX,
    SESSION_COOKIE,
    ViewerDep,
    console_of,
    form_of,
    home_of,
    language,
    render,
    safe_next,
    secure,
    token_hash,
    viewer,
)
from yizhan.domain.people import ConsoleUser
from yizhan.runtime import passwords

router = APIRouter(prefix=PREFIX, include_in_schema=False)
LOGIN_CSRF_COOKIE = "yizhan_login_csrf"


@router.get("")
async def root(request: Request) -> Response:
    who = await viewer(request)  # NotLoggedIn: to the login page
    return RedirectResponse(home_of(who.role), 303)


@router.get("/login")
async def login_form(request: Request, next: str = "") -> Response:
    return _login_page(request, next, "")


def _login_page(request: Request, next_page: str, error: str, status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    page = render(request, "login.html", language(request), None, status=status,
                  login_csrf=token, next=safe_next(next_page, ""), error=error)
    page.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                    secure=secure(request), path=f"{PREFIX}/login")
    return page


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    login_name, password = str(form.get("login", ""))[:64], str(form.get("password", ""))
    next_page = str(form.get("next", ""))
    t = i18n.words(language(request))
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, str(form.get("csrf", ""))):
        return _login_page(request, next_page, t["csrf_failed"], 403)
    console = console_of(request)
    store, now, limits = console.store, console.api.clock.now(), console.limits
    client = request.client.host if request.client else ""
    window = timedelta(seconds=limits.window_seconds)
    by_login, by_client = await store.login_failures(login_name, client, now - window)
    if by_login >= limits.per_login or by_client >= limits.per_client:
        minutes = str(math.ceil(limits.window_seconds / 60))
        return _login_page(request, next_page, t["login_limited"].format(minutes=minutes), 429)
    user = await store.console_user(login_name)
    if not _password_ok(user, password):
        await store.add_login_failure(login_name, client, now, now - window)
        return _login_page(request, next_page, t["login_wrong"], 401)
    assert user is not None
    if passwords.needs_rehash(user.password_hash):
        await store.set_console_password(user.login, passwords.hash_password(password))
    await store.clear_login_failures(login_name)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    await store.open_console_session(token_hash(token), user.id, csrf, now,
                                     now + timedelta(seconds=console.session_seconds))
    await store.audit_console(user, user.account_id, "login", client, now)
    answer = RedirectResponse(safe_next(next_page, home_of(user.role)), 303)
    answer.set_cookie(SESSION_COOKIE, token, max_age=int(console.session_seconds),
                      httponly=True, samesite="lax", secure=secure(request), path=PREFIX)
    answer.delete_cookie(LOGIN_CSRF_COOKIE, path=f"{PREFIX}/login")
    return answer


def _password_ok(user: ConsoleUser | None, password: str) -> bool:
    if user is None or user.disabled:
        return passwords.verify_nobody(password)  # the same time as a real check
    return passwords.verify(user.password_hash, password)


@router.post("/logout")
async def logout(request: Request, who: ViewerDep) -> Response:
    await form_of(request, who)
    await console_of(request).store.close_console_session(who.session.token_hash)
    answer = RedirectResponse(f"{PREFIX}/login", 303)
    answer.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return answer


@router.get("/lang/{lang}")
async def switch_language(request: Request, lang: str, next: str = "") -> Response:
    """Only the language cookie changes: harmless as a link (no CSRF needed)."""
    answer = RedirectResponse(safe_next(next, f"{PREFIX}/login"), 303)
    if lang in i18n.LANGS:
        answer.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="lax",
                          secure=secure(request), path=PREFIX)
    return answer
