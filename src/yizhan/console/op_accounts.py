"""The operator's accounts (docs/console.md "Operator: accounts"): what `yizhan accounts` and
`yizhan console-user add` do, from the console. The list is the operator's home
(`operator.py`); its form creates an account here, and each account has its page.

    POST /console/operator/accounts                 create an account and its first AccessKey
    GET  /console/operator/accounts/{id}            its state, money, packages, people, audit
    POST /console/operator/accounts/{id}/suspend    with a reason (sends refused)
    POST /console/operator/accounts/{id}/resume
    POST /console/operator/accounts/{id}/topup      an amount of yuan (negative: a correction)
                                                    and a reason
    POST /console/operator/accounts/{id}/price      its own price per part, or the platform's
    POST /console/operator/accounts/{id}/packages   a package: parts, valid for days
    POST /console/operator/accounts/{id}/people     a tenant admin or viewer

Only an operator: a tenant gets 403 on every page and form. A new AccessKey's secret and a
new person's password are shown on the answer to their form only, never again. Every change
is audited (`console_audit`: who, the account, what, with the reason); a suspension is also
in the account's history (`yizhan accounts history`). A running server sees money and state
within `cache_seconds`, as after the CLI.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from yizhan.console import i18n
from yizhan.console.pages import (
    PREFIX,
    OperatorDep,
    Viewer,
    console_of,
    form_of,
    render,
)
from yizhan.domain.model import Account, AccountId, AccountStatus
from yizhan.domain.people import Role
from yizhan.domain.timezone import china_text
from yizhan.policy.balance import money
from yizhan.runtime import passwords

router = APIRouter(prefix=PREFIX, include_in_schema=False)
HOME = f"{PREFIX}/operator"
REASON_CHARS = 100
"""The longest reason a form takes (the audit keeps it with the action)."""
MAX_YUAN = Decimal(10_000_000)
"""The largest top-up (or correction) one form makes."""
MAX_PARTS = 100_000_000
MAX_DAYS = 3660

i18n.add({
    "acc_create": ("Create an account", "创建账户"),
    "acc_name": ("Name", "名称"),
    "acc_created": ("Account {name} created with its first AccessKey:",
                    "账户 {name} 已创建，并附带第一个 AccessKey："),
    "acc_open": ("Open", "打开"),
    "acc_state": ("State", "状态"),
    "acc_active": ("active", "正常"),
    "acc_suspended": ("suspended: its sends are refused", "已停用：发送将被拒绝"),
    "acc_price": ("Price per part", "每条单价"),
    "acc_own_price": ("{price} yuan (the account's own)", "{price} 元（账户专属）"),
    "acc_platform_price": ("{price} yuan (the platform's)", "{price} 元（平台统一价）"),
    "acc_suspend": ("Suspend", "停用"),
    "acc_resume": ("Resume", "恢复"),
    "acc_reason": ("Reason", "原因"),
    "acc_topup": ("Top up", "充值"),
    "acc_amount": ("Amount (yuan; negative to correct)", "金额（元，负数为冲正）"),
    "acc_set_price": ("Set the price", "设置单价"),
    "acc_price_yuan": ("Yuan per part (empty: the platform's)", "每条元数（留空为平台统一价）"),
    "acc_left": ("Left", "剩余"),
    "acc_until": ("Valid until", "有效期至"),
    "acc_pkg_expired": ("expired", "已过期"),
    "acc_pkg_used_up": ("used up", "已用完"),
    "acc_grant": ("Grant a package", "赠送套餐包"),
    "acc_parts": ("Parts", "条数"),
    "acc_days": ("Valid for days", "有效天数"),
    "acc_people": ("People in the console", "控制台用户"),
    "acc_login_state": ("State", "状态"),
    "acc_disabled": ("disabled", "已停用"),
    "acc_add_person": ("Add a person", "添加用户"),
    "acc_person_added": ("{login} can log in with this password, shown only now:",
                         "{login} 可用以下密码登录（仅显示这一次）："),
    "acc_history": ("Suspensions and resumptions", "停用与恢复记录"),
    "acc_audit": ("Changes made in the console", "控制台操作记录"),
    "acc_who": ("Who", "操作人"),
    "acc_what": ("What", "操作"),
    "acc_when": ("When", "时间"),
    "acc_none": ("None yet.", "暂无。"),
    "acc_done": ("Done.", "已完成。"),
    "acc_bad_name": ("A name has 1 to 64 characters.", "名称须为 1 至 64 个字符。"),
    "acc_name_taken": ("An account named {name} exists already.", "名为 {name} 的账户已存在。"),
    "acc_bad_amount": ("Write an amount of yuan with at most 3 decimals, e.g. 100 or 0.045.",
                       "请填写元数，最多 3 位小数，例如 100 或 0.045。"),
    "acc_zero": ("The amount cannot be zero.", "金额不能为零。"),
    "acc_need_reason": ("Say why (at most {n} characters).", "请填写原因（最多 {n} 个字符）。"),
    "acc_already": ("The account is {state} already.", "账户已经是{state}状态。"),
    "acc_bad_parts": ("Parts: a whole number from 1 to {n}.", "条数须为 1 至 {n} 的整数。"),
    "acc_bad_days": ("Days: a whole number from 1 to {n}.", "天数须为 1 至 {n} 的整数。"),
    "acc_bad_login": ("A login has 1 to 64 characters.", "登录名须为 1 至 64 个字符。"),
    "acc_login_taken": ("The login {login} exists already.", "登录名 {login} 已存在。"),
    "acc_negative_price": ("A price cannot be negative.", "单价不能为负数。"),
})


def actor(who: Viewer) -> str:
    """Who a decision names in the platform's own audit trails (as the CLI's `cli <user>`)."""
    return f"console {who.session.user.login}"


def text(form: FormData, name: str, limit: int) -> str:
    """A text field, trimmed; longer than `limit` reads as too long (one more character)."""
    return str(form.get(name, "")).strip()[:limit + 1]


def yuan(raw: str) -> int | None:
    """'12.5' (yuan) -> 12500 (thousandths), or None for what is not such an amount."""
    try:
        amount = Decimal(raw)
    except InvalidOperation:
        return None
    if (not amount.is_finite() or amount != amount.quantize(Decimal("0.001"))
            or abs(amount) > MAX_YUAN):
        return None
    return int(amount * 1000)


def whole(raw: str, top: int) -> int | None:
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= top else None


@router.post("/operator/accounts")
async def create_account(request: Request, who: OperatorDep) -> Response:
    form = await form_of(request, who)
    console, t = console_of(request), i18n.words(who.lang)
    name = text(form, "name", 64)
    if not 0 < len(name) <= 64:
        return await _home(request, who, t["acc_bad_name"], 422)
    if await console.store.account_by_name(name) is not None:
        return await _home(request, who, t["acc_name_taken"].format(name=name), 409)
    now = console.api.clock.now()
    account = await console.store.create_account(name, now)
    key = await console.store.create_access_key(account.id, now)
    await console.store.audit_console(who.session.user, account.id, "account created", name, now)
    await console.store.audit_console(who.session.user, account.id, "key created", key.id, now)
    return await _page(request, who, account, created_key=(key.id, key.secret), status=201)


async def _home(request: Request, who: Viewer, error: str, status: int) -> Response:
    """The accounts list (`operator.py`'s page) with the create form's error."""
    found = await console_of(request).store.list_accounts()
    return render(request, "operator.html", who.lang, who, status=status, error=error,
                  accounts=[{"id": a.id, "name": a.name, "status": a.status.value,
                             "balance": money(a.balance)} for a in found])


async def _account(request: Request, account_id: int) -> Account | None:
    return await console_of(request).store.account(AccountId(account_id))


@router.get("/operator/accounts/{account_id}")
async def account_page(request: Request, who: OperatorDep, account_id: int,
                       done: str = "") -> Response:
    account = await _account(request, account_id)
    if account is None:
        return await _home(request, who, "", 404)
    return await _page(request, who, account, done=done == "1")


async def _page(request: Request, who: Viewer, account: Account, *, error: str = "",
                done: bool = False, created_key: tuple[str, str] | None = None,
                password: tuple[str, str] | None = None, status: int = 200) -> Response:
    console, t = console_of(request), i18n.words(who.lang)
    store = console.store
    now = console.api.clock.now()
    price = (t["acc_own_price"].format(price=money(account.part_price))
             if account.part_price is not None
             else t["acc_platform_price"].format(price=money(console.part_price)))
    packages = [{"id": p.id, "parts": p.parts, "left": p.parts_left,
                 "until": china_text(p.expires_at),
                 "state": "expired" if p.expires_at <= now else
                 "used up" if not p.parts_left else "valid"}
                for p in await store.packages(account.id)]
    people = [{"login": u.login, "role": u.role.value, "disabled": u.disabled,
               "created_at": china_text(u.created_at)}
              for u in await store.console_users(account.id)]
    history = [{"at": china_text(e.created_at), "status": e.status.value, "actor": e.actor,
                "reason": e.reason} for e in reversed(await store.account_events(account.id))]
    audit = [{"at": china_text(e.at), "login": e.login, "action": e.action,
              "subject": e.subject} for e in await store.console_audit(account.id, 50)]
    context: dict[str, Any] = {
        "account": {"id": account.id, "name": account.name,
                    "suspended": account.status is AccountStatus.SUSPENDED,
                    "balance": money(account.balance), "price": price,
                    "own_price": money(account.part_price) if account.part_price is not None
                    else "", "created_at": china_text(account.created_at)},
        "packages": packages, "people": people, "history": history, "audit": audit,
        "error": error, "done": done, "created_key": created_key, "password": password,
        "reason_chars": REASON_CHARS}
    return render(request, "op_account.html", who.lang, who, status=status, **context)


async def _changed(request: Request, who: Viewer, account: Account, action: str,
                   subject: str) -> Response:
    """Audit a change, and show the account as it is now (a redirect: a reload sends no
    form again)."""
    console = console_of(request)
    await console.store.audit_console(who.session.user, account.id, action, subject,
                                      console.api.clock.now())
    return RedirectResponse(f"{HOME}/accounts/{account.id}?done=1", 303)


@router.post("/operator/accounts/{account_id}/{change}")
async def change(request: Request, who: OperatorDep, account_id: int, change: str) -> Response:
    form = await form_of(request, who)
    account = await _account(request, account_id)
    if account is None or change not in CHANGES:
        return await _home(request, who, "", 404)
    return await CHANGES[change](request, who, account, form)


async def _status(request: Request, who: Viewer, account: Account, form: FormData,
                  status: AccountStatus) -> Response:
    t, console = i18n.words(who.lang), console_of(request)
    reason = text(form, "reason", REASON_CHARS)
    if len(reason) > REASON_CHARS or (status is AccountStatus.SUSPENDED and not reason):
        return await _page(request, who, account, status=422,
                           error=t["acc_need_reason"].format(n=REASON_CHARS))
    if not await console.store.set_account_status(account.id, status, reason, actor(who),
                                                  console.api.clock.now()):
        shown = t["acc_suspended"] if status is AccountStatus.SUSPENDED else t["acc_active"]
        return await _page(request, who, account, status=409,
                           error=t["acc_already"].format(state=shown))
    action = "account suspended" if status is AccountStatus.SUSPENDED else "account resumed"
    return await _changed(request, who, account, action, reason)


async def _suspend(request: Request, who: Viewer, account: Account,
                   form: FormData) -> Response:
    return await _status(request, who, account, form, AccountStatus.SUSPENDED)


async def _resume(request: Request, who: Viewer, account: Account, form: FormData) -> Response:
    return await _status(request, who, account, form, AccountStatus.ACTIVE)


async def _topup(request: Request, who: Viewer, account: Account, form: FormData) -> Response:
    t, console = i18n.words(who.lang), console_of(request)
    amount = yuan(text(form, "amount", 20))
    reason = text(form, "reason", REASON_CHARS)
    problem = (t["acc_bad_amount"] if amount is None else t["acc_zero"] if amount == 0
               else t["acc_need_reason"].format(n=REASON_CHARS)
               if not reason or len(reason) > REASON_CHARS else "")
    if problem or amount is None:
        return await _page(request, who, account, error=problem, status=422)
    balance = await console.store.top_up(account.id, amount, reason, console.api.clock.now())
    return await _changed(request, who, account, "top up",
                          f"{money(amount)} yuan, balance {money(balance)}: {reason}")


async def _price(request: Request, who: Viewer, account: Account, form: FormData) -> Response:
    t, console = i18n.words(who.lang), console_of(request)
    raw = text(form, "price", 20)
    price = yuan(raw) if raw else None
    if raw and price is None:
        return await _page(request, who, account, error=t["acc_bad_amount"], status=422)
    if price is not None and price < 0:
        return await _page(request, who, account, error=t["acc_negative_price"], status=422)
    await console.store.set_part_price(account.id, price)
    return await _changed(request, who, account, "price",
                          "the platform's" if price is None else f"{money(price)} yuan")


async def _package(request: Request, who: Viewer, account: Account,
                   form: FormData) -> Response:
    t, console = i18n.words(who.lang), console_of(request)
    parts, days = whole(text(form, "parts", 12), MAX_PARTS), whole(text(form, "days", 6),
                                                                    MAX_DAYS)
    if parts is None or days is None:
        error = (t["acc_bad_parts"].format(n=MAX_PARTS) if parts is None
                 else t["acc_bad_days"].format(n=MAX_DAYS))
        return await _page(request, who, account, error=error, status=422)
    now = console.api.clock.now()
    package = await console.store.add_package(account.id, parts, now + timedelta(days=days),
                                              now)
    return await _changed(request, who, account, "package granted",
                          f"{package.id}: {parts} parts until {china_text(package.expires_at)}")


async def _person(request: Request, who: Viewer, account: Account, form: FormData) -> Response:
    t, console = i18n.words(who.lang), console_of(request)
    login = text(form, "login", 64)
    role = {r.value: r for r in (Role.TENANT_ADMIN, Role.TENANT_VIEWER)}.get(
        str(form.get("role", "")))
    if not 0 < len(login) <= 64 or role is None:
        return await _page(request, who, account, error=t["acc_bad_login"], status=422)
    if await console.store.console_user(login) is not None:
        return await _page(request, who, account, status=409,
                           error=t["acc_login_taken"].format(login=login))
    password = passwords.new_password()
    now = console.api.clock.now()
    await console.store.create_console_user(login, passwords.hash_password(password), role,
                                            account.id, now)
    await console.store.audit_console(who.session.user, account.id, "person added",
                                      f"{login} ({role.value})", now)
    return await _page(request, who, account, password=(login, password), status=201)


CHANGES = {"suspend": _suspend, "resume": _resume, "topup": _topup, "price": _price,
           "packages": _package, "people": _person}
