"""Blacklist and opt-outs (docs/console.md "Blacklist and opt-outs"): the numbers that
refused the promotions of the account's signatures (replied R/TD, or recorded by hand) with
when, which signature and how; a search by number that also says whether the platform's
blacklist blocks that number for the account's signatures. A tenant admin records opt-outs
for one of its signatures (a pasted list, bounded); nobody removes one (docs/domain.md:
"the sender cannot lift it"), so the page offers no removal.

    GET  /console/lists?phone=&sign=
    POST /console/lists/opt-outs         sign, numbers (pasted), confirm

The platform blacklist is the operator's (complaints, carriers' reports; `yizhan blacklist`):
a tenant never lists it, only asks about a number, which a send to it would tell anyway.
Numbers are shown masked, as in the records, to viewers and admins alike; a search takes the
full number.
"""

from __future__ import annotations

import re

from fastapi import APIRouter, Request
from starlette.responses import Response

from yizhan.console import i18n
from yizhan.console.calls import shown_number
from yizhan.console.frequency import actor_of, refusal_text
from yizhan.console.pages import (
    PREFIX,
    TenantDep,
    Viewer,
    ViewerDep,
    admin_form,
    console_of,
    render,
)
from yizhan.domain.errors import Refusal
from yizhan.domain.model import AccountId, OptOut, PhoneNumber, ReviewState
from yizhan.domain.timezone import china_text
from yizhan.policy import numbers

router = APIRouter(prefix=PREFIX, include_in_schema=False)
SHOWN = 200
"""Opt-outs listed at once, newest first (a search narrows them)."""
MAX_PASTED = 1000
"""Numbers one paste may record."""
MAX_PASTE_CHARS = 32_000
SIGNATURES = 500
"""The account's signatures read for the choice and the blacklist's answer."""

i18n.add({
    "lists": ("Blacklist & opt-outs", "黑名单与退订"),
    "lists_title": ("Blacklist and opt-outs", "黑名单与退订"),
    "lists_search_note": ("Search by the full number; numbers are shown masked.",
                          "按完整号码查询；号码以掩码显示。"),
    "lists_blacklist": ("Platform blacklist", "平台黑名单"),
    "lists_blacklist_note": (
        "The platform's operator keeps the blacklist (complaints, carriers' reports). Search a "
        "number to see whether it blocks your signatures.",
        "平台黑名单由平台运营方维护（投诉、运营商通报）。查询号码即可知道它是否拦截您的签名。"),
    "lists_blacklisted_all": ("{number} is blacklisted for every signature since {since} "
                              "({source}): messages to it fail with isv.MOBILE_IN_BLACKLIST.",
                              "{number} 自 {since} 起对所有签名拉黑（{source}），"
                              "发往该号码的短信将以 isv.MOBILE_IN_BLACKLIST 失败。"),
    "lists_blacklisted_some": ("{number} is blacklisted for your signatures {signs} since "
                               "{since} ({source}).",
                               "{number} 自 {since} 起对您的签名 {signs} 拉黑（{source}）。"),
    "lists_not_blacklisted": ("{number} is not blacklisted for your signatures.",
                              "{number} 未被拉黑，不影响您的签名。"),
    "lists_opt_outs": ("Promotion opt-outs", "推广退订"),
    "lists_opt_outs_note": (
        "A number that replied R or TD to a signature's promotion never receives that "
        "signature's promotions again (isv.MOBILE_OPTED_OUT); verification codes and "
        "notifications still reach it. Nobody can lift an opt-out, so there is no removal.",
        "回复 R 或 TD 退订某签名推广短信的号码，将不再收到该签名的推广短信"
        "（isv.MOBILE_OPTED_OUT）；验证码和通知不受影响。退订无法撤销，因此不提供移除。"),
    "lists_how": ("How", "来源"),
    "lists_since": ("Since", "退订时间"),
    "lists_shown": ("{count} shown, newest first (at most {most}).",
                    "显示 {count} 条，最新在前（最多 {most} 条）。"),
    "lists_add": ("Record opt-outs", "登记退订"),
    "lists_add_note": (
        "For numbers that refused your promotions another way (a call, an email): one number "
        "per line or separated by commas, at most {most} at once. This cannot be undone.",
        "用于通过其他途径（电话、邮件）拒收推广的号码：每行一个或用逗号分隔，一次最多 {most} 个。"
        "登记后无法撤销。"),
    "lists_numbers": ("Numbers", "号码"),
    "lists_confirm": ("I understand that these numbers will never again receive this "
                      "signature's promotions.", "我已知晓这些号码将不再收到该签名的推广短信。"),
    "lists_added": ("{added} numbers opted out of the promotions of {sign} ({already} had "
                    "already).",
                    "已登记 {added} 个号码退订 {sign} 的推广短信（{already} 个此前已退订）。"),
    "lists_confirm_missing": ("Tick the box to confirm: an opt-out cannot be undone.",
                              "请勾选确认：退订登记后无法撤销。"),
    "lists_too_many": ("At most {most} numbers at once; this paste holds {count}.",
                       "一次最多 {most} 个号码，本次粘贴了 {count} 个。"),
    "lists_bad_number": ("Line {line}: {error}", "第 {line} 个：{error}"),
    "lists_unknown_sign": ("{sign} is not a signature of your account.",
                           "{sign} 不是本账户的签名。"),
    "lists_choose_sign": ("Choose a signature.", "请选择签名。"),
    "lists_all_signs": ("all", "全部"),
})


async def _signature_names(request: Request, account_id: AccountId) -> list[str]:
    _, found = await console_of(request).api.store.page_signatures(account_id, 0, SIGNATURES)
    return [s.name for s in found if s.state is not ReviewState.DELETED]


async def _blacklist_answer(request: Request, who: Viewer, phone: PhoneNumber,
                            names: list[str]) -> str:
    _, entries = await console_of(request).store.blacklisted(phone, 1)
    t = i18n.words(who.lang)
    shown = shown_number(phone)
    entry = entries[0] if entries else None
    if entry is not None and not entry.signatures:
        return t["lists_blacklisted_all"].format(number=shown, since=china_text(
            entry.created_at), source=entry.source)
    mine = [s for s in (entry.signatures if entry else ()) if s in names]
    if entry is None or not mine:
        return t["lists_not_blacklisted"].format(number=shown)
    return t["lists_blacklisted_some"].format(number=shown, signs=", ".join(mine),
                                              since=china_text(entry.created_at),
                                              source=entry.source)


async def _page(request: Request, who: Viewer, account_id: AccountId, phone: str = "",
                sign: str = "", *, error: str = "", done: str = "",
                status: int = 200) -> Response:
    names = await _signature_names(request, account_id)
    wanted: PhoneNumber | None = None
    blacklist = ""
    if phone.strip():
        found = numbers.normalize(phone[:32])
        if isinstance(found, Refusal):
            error = error or refusal_text(found, who.lang)
        else:
            wanted = found
            blacklist = await _blacklist_answer(request, who, found, names)
    rows: list[OptOut] = []
    if not (phone.strip() and wanted is None):
        rows = await console_of(request).store.opt_outs(account_id, sign.strip()[:64] or None,
                                                        wanted, SHOWN)
    return render(request, "lists.html", who.lang, who, status=status, error=error, done=done,
                  phone=phone, sign=sign, signs=names, blacklist=blacklist, most=SHOWN,
                  max_pasted=MAX_PASTED,
                  rows=[{"number": shown_number(o.phone), "sign": o.sign_name,
                         "source": o.source, "since": china_text(o.created_at)}
                        for o in rows])


@router.get("/lists")
async def lists(request: Request, who: ViewerDep, account_id: TenantDep, phone: str = "",
                sign: str = "") -> Response:
    return await _page(request, who, account_id, phone[:32], sign[:64])


def pasted_numbers(text: str, lang: str) -> list[PhoneNumber] | str:
    """The numbers of a paste (lines, commas, spaces or semicolons between them), each
    normalised as a send's would be; else what is wrong, in `lang`."""
    t = i18n.words(lang)
    parts = [p for p in re.split(r"[\s,;，；]+", text[:MAX_PASTE_CHARS]) if p]
    if len(parts) > MAX_PASTED:
        return t["lists_too_many"].format(most=MAX_PASTED, count=len(parts))
    found: list[PhoneNumber] = []
    for line, part in enumerate(parts, 1):
        phone = numbers.normalize(part)
        if isinstance(phone, Refusal):
            return t["lists_bad_number"].format(line=line, error=refusal_text(phone, lang))
        found.append(phone)
    return found


@router.post("/lists/opt-outs")
async def add_opt_outs(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    form = await admin_form(request, who)
    t = i18n.words(who.lang)
    sign = str(form.get("sign") or "").strip()[:64]
    parsed = pasted_numbers(str(form.get("numbers") or ""), who.lang)
    error = ""
    if not sign:
        error = t["lists_choose_sign"]
    elif sign not in await _signature_names(request, account_id):
        error = t["lists_unknown_sign"].format(sign=sign)
    elif isinstance(parsed, str):
        error = parsed
    elif not parsed:
        error = refusal_text(Refusal("MissingParameter", "numbers"), who.lang)
    elif form.get("confirm") != "yes":
        error = t["lists_confirm_missing"]
    if error or isinstance(parsed, str):
        return await _page(request, who, account_id, status=400, error=error)
    console = console_of(request)
    now = console.api.clock.now()
    added = await console.store.add_opt_outs(
        [OptOut(account_id, sign, p, actor_of(who), now) for p in parsed])
    await console.store.audit_console(who.session.user, account_id, "opt-outs recorded",
                                      f"{sign}: {added}", now)
    return await _page(request, who, account_id, sign=sign, done=t["lists_added"].format(
        added=added, sign=sign, already=len(set(parsed)) - added))
