"""Frequency limits and the whitelist (docs/console.md "Frequency limits and whitelist"): the
platform's limits per rule, the account's own lower ones and the effective value, the
whitelisted numbers (masked) and the latest changes. A tenant admin sets or removes the
account's own limits (1 up to the platform's, all or nothing) and whitelists numbers if the
account is enterprise-verified; a viewer only reads.

    GET  /console/frequency              ?sign=&template=&number= explains a send (counts
                                         nothing, as GET /v1/frequency/explain)
    POST /console/frequency/limits       one value per rule; empty: the platform's
    POST /console/frequency/whitelist    number, action=add|remove

The same settings as GET/PUT /v1/frequency/limits and /v1/frequency/whitelist
(`ApiServices.frequency_settings`, audited as `console <login>`), applied from the next send
on this process (`FrequencyControl.changed`), within `cache_seconds` elsewhere.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import Response

from yizhan.console import i18n
from yizhan.console.calls import shown_number
from yizhan.console.pages import (
    PREFIX,
    TenantDep,
    Viewer,
    ViewerDep,
    admin_form,
    console_of,
    render,
)
from yizhan.domain.errors import Lang, Refusal
from yizhan.domain.model import AccountId
from yizhan.domain.timezone import china_text
from yizhan.policy import numbers
from yizhan.policy.flow_control import Explanation, explain_send
from yizhan.policy.frequency import RULES, validate_limit

router = APIRouter(prefix=PREFIX, include_in_schema=False)
AUDIT_ROWS = 20
SHOWN = 500
"""Whitelisted numbers listed on the page (the count says how many there are)."""

i18n.add({
    "frequency": ("Frequency", "频率限制"),
    "freq_title": ("Frequency limits and whitelist", "频率限制与白名单"),
    "freq_limits": ("Limits (messages per window)", "限制（每个时间窗口的条数）"),
    "freq_rule": ("Rule", "规则"),
    "freq_what": ("Counted", "计数方式"),
    "freq_window": ("Window", "窗口"),
    "freq_platform": ("Platform", "平台"),
    "freq_account": ("Your account", "本账户"),
    "freq_effective": ("Effective", "生效值"),
    "freq_window_minute": ("minute (clock)", "分钟（整分）"),
    "freq_window_hour": ("hour (clock)", "小时（整点）"),
    "freq_window_day": ("24 hours from the first", "首条起 24 小时"),
    "freq_what_verification.minute": ("verification codes: same signature and number",
                                      "验证码：同一签名、同一号码"),
    "freq_what_verification.hour": ("verification codes: same signature and number",
                                    "验证码：同一签名、同一号码"),
    "freq_what_verification.day": ("verification codes: same signature and number",
                                   "验证码：同一签名、同一号码"),
    "freq_what_verification.number.day": (
        "verification codes: same number, all signatures and accounts",
        "验证码：同一号码（全平台所有签名和账户）"),
    "freq_what_notification.day": ("notifications: same signature, template and number",
                                   "通知：同一签名、模板和号码"),
    "freq_what_promotion.day": ("promotions: same signature, template and number",
                                "推广：同一签名、模板和号码"),
    "freq_what_international.day": ("international messages: same number",
                                    "国际/港澳台消息：同一号码"),
    "freq_lower_note": ("Your account may lower any limit (1 up to the platform's value), never "
                        "raise it. Leave a field empty for the platform's value.",
                        "账户可以调低任一限制（1 至平台值），不能调高。留空即使用平台值。"),
    "freq_save": ("Save limits", "保存限制"),
    "freq_saved": ("Limits saved; they apply from the next send.",
                   "限制已保存，下一条发送起生效。"),
    "freq_enterprise": ("Enterprise-verified", "企业认证"),
    "freq_whitelist": ("Whitelist", "白名单"),
    "freq_whitelist_note": (
        "Whitelisted numbers skip the platform's limits; the limits your account set still "
        "apply, and carriers keep their own.",
        "白名单号码不受平台频率限制；本账户自设的限制仍然生效，运营商的限制也仍然存在。"),
    "freq_not_enterprise": (
        "Only enterprise-verified accounts may whitelist numbers: ask the platform's operator "
        "to verify your enterprise qualification.",
        "仅企业认证账号可设置号码白名单，请联系平台运营方完成企业资质认证。"),
    "freq_whitelisted_count": ("{count} numbers whitelisted", "白名单共 {count} 个号码"),
    "freq_added_at": ("Added", "添加时间"),
    "freq_add": ("Add", "添加"),
    "freq_remove": ("Remove", "移除"),
    "freq_now_listed": ("{number} is whitelisted.", "{number} 已加入白名单。"),
    "freq_now_unlisted": ("{number} is no longer whitelisted.", "{number} 已移出白名单。"),
    "freq_already": ("(no change)", "（无变化）"),
    "freq_changes": ("Latest changes", "最近变更"),
    "freq_when": ("When (China time)", "时间（北京时间）"),
    "freq_who": ("Who", "操作人"),
    "freq_item": ("What", "内容"),
    "freq_old": ("Old", "原值"),
    "freq_new": ("New", "新值"),
    "freq_explain": ("Would a send pass now?", "现在发送能否通过？"),
    "freq_explain_note": ("The counts a send of this signature, template and number would "
                          "meet now; nothing is counted.",
                          "查看该签名、模板和号码现在发送时各窗口的计数；不会计数。"),
    "freq_template_code": ("Template code", "模板 CODE"),
    "freq_explain_button": ("Explain", "查看"),
    "freq_passes": ("A send to {number} passes now.", "现在发往 {number} 的短信可以通过。"),
    "freq_refused_until": ("A send to {number} is refused until {until} (China time).",
                           "发往 {number} 的短信将被拒绝，直到 {until}（北京时间）。"),
    "freq_whitelisted": ("(whitelisted: the platform's limits skipped)",
                         "（白名单号码：跳过平台限制）"),
    "freq_count": ("Count", "计数"),
    "freq_span": ("Window (China time)", "窗口（北京时间）"),
    "freq_blocking": ("Blocking", "阻止"),
    "freq_not_open": ("not open", "未开始"),
    "freq_own": ("(your account's)", "（本账户）"),
    "yes": ("yes", "是"),
    "no": ("no", "否"),
})


def actor_of(who: Viewer) -> str:
    """How a console change is named in the audit (beside `api key ...` and `cli ...`)."""
    return f"console {who.session.user.login}"


def refusal_text(refusal: Refusal, lang: str) -> str:
    return f"{refusal.code}: {refusal.message(Lang(lang))}"


async def _page(request: Request, who: Viewer, account_id: AccountId, *, error: str = "",
                done: str = "", status: int = 200,
                explained: dict[str, Any] | None = None) -> Response:
    settings = console_of(request).api.frequency_settings
    profile = await settings.frequency_profile(account_id)
    listed = await settings.whitelist(account_id)
    changes = await settings.audit(account_id, AUDIT_ROWS)
    rules = [{"id": r.id, "window": r.window.value, "platform": r.limit,
              "account": profile.limits.get(r.id),
              "effective": min(r.limit, profile.limits.get(r.id, r.limit))} for r in RULES]
    return render(request, "frequency.html", who.lang, who, status=status, error=error,
                  done=done, rules=rules, explained=explained or {}, enterprise=profile.enterprise,
                  listed=len(listed), whitelist=[{"number": shown_number(p),
                                                  "at": china_text(at)}
                                                 for p, at in listed[:SHOWN]],
                  changes=[{"at": china_text(c.at), "actor": c.actor, "item": _item(c.item),
                            "old": c.old, "new": c.new} for c in changes])


def _item(item: str) -> str:
    """An audited change as shown: a whitelisted number masked like everywhere else."""
    what, _, phone = item.partition(" ")
    return f"{what} {shown_number(phone)}" if what == "whitelist" and phone else item


@router.get("/frequency")
async def frequency(request: Request, who: ViewerDep, account_id: TenantDep, sign: str = "",
                    template: str = "", number: str = "") -> Response:
    asked = {"sign": sign.strip()[:64], "template": template.strip()[:64],
             "number": number.strip()[:32]}
    if not all(asked.values()):
        return await _page(request, who, account_id, explained=asked)
    console = console_of(request)
    account = await console.store.account(account_id)
    assert account is not None  # a session's account
    found = await explain_send(console.api.store, console.api.frequency, account,
                               asked["sign"], asked["template"], asked["number"])
    if isinstance(found, Refusal):
        return await _page(request, who, account_id, explained=asked, status=400,
                           error=refusal_text(found, who.lang))
    return await _page(request, who, account_id, explained={**asked, **_explained(
        found, asked["number"], who.lang)})


def _explained(found: Explanation, number: str, lang: str) -> dict[str, Any]:
    t = i18n.words(lang)
    phone = numbers.normalize(number)  # a number explain_send has taken
    shown = shown_number(phone if isinstance(phone, str) else number)
    verdict = (t["freq_passes"].format(number=shown) if found.passes else
               t["freq_refused_until"].format(number=shown, until=china_text(found.earliest)))
    return {"verdict": verdict + (" " + t["freq_whitelisted"] if found.whitelisted else ""),
            "windows": [{"rule": w.limit.rule.id, "own": w.limit.own,
                         "count": f"{w.count}/{w.limit.limit}",
                         "span": (f"{china_text(w.start)[5:]} – {china_text(w.resets_at)[5:]}"
                                  if w.start and w.resets_at else t["freq_not_open"]),
                         "blocking": w.blocking} for w in found.windows]}


def _wanted(form: FormData) -> dict[str, int | None] | Refusal:
    """Every rule's value from the form (empty: the platform's), checked as the API checks
    them, all before any is saved."""
    wanted: dict[str, int | None] = {}
    for rule in RULES:
        raw = form.get(rule.id)
        text = raw.strip()[:12] if isinstance(raw, str) else ""
        if not text:
            wanted[rule.id] = None
            continue
        if not text.isdigit():
            return Refusal("isv.INVALID_PARAMETERS", f"{rule.id}: a whole number, or empty")
        refusal = validate_limit(rule.id, int(text))
        if refusal is not None:
            return refusal
        wanted[rule.id] = int(text)
    return wanted


@router.post("/frequency/limits")
async def set_limits(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    form = await admin_form(request, who)
    wanted = _wanted(form)
    if isinstance(wanted, Refusal):
        return await _page(request, who, account_id, status=400,
                           error=refusal_text(wanted, who.lang))
    api = console_of(request).api
    current = (await api.frequency_settings.frequency_profile(account_id)).limits
    now = api.clock.now()
    for rule, value in wanted.items():
        if current.get(rule) != value:
            await api.frequency_settings.set_limit(account_id, rule, value, actor_of(who), now)
    api.frequency.changed(account_id)
    return await _page(request, who, account_id, done=i18n.words(who.lang)["freq_saved"])


@router.post("/frequency/whitelist")
async def set_whitelisted(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    form = await admin_form(request, who)
    raw, action = form.get("number"), form.get("action")
    listed = action == "add"
    phone = numbers.normalize(raw[:32] if isinstance(raw, str) else "")
    if isinstance(phone, Refusal):
        return await _page(request, who, account_id, status=400,
                           error=refusal_text(phone, who.lang))
    api = console_of(request).api
    if listed and not await api.frequency_settings.enterprise(account_id):
        return await _page(request, who, account_id, status=403, error=refusal_text(
            Refusal("isv.ENTERPRISE_ACCOUNT_REQUIRED"), who.lang))
    changed = await api.frequency_settings.set_whitelisted(account_id, phone, listed,
                                                           actor_of(who), api.clock.now())
    api.frequency.changed(account_id)
    t = i18n.words(who.lang)
    done = t["freq_now_listed" if listed else "freq_now_unlisted"].format(
        number=shown_number(phone)) + ("" if changed else " " + t["freq_already"])
    return await _page(request, who, account_id, done=done)
