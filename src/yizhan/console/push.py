"""Push settings (docs/console.md "Push settings"): where the account's receipts (SmsReport),
replies (SmsUp) and review results (SignSmsReport, TemplateSmsReport) go: a URL (batch
push), the pull queue, or off; whether a push secret exists (its value is shown once, on the
answer that made it, never listed); and a test push that makes one real, signed push to a
configured URL and shows the answer (HTTP status, time, why it failed).

    GET  /console/push
    POST /console/push             receipt_url, uplink_url, review_url (tenant admins)
    POST /console/push/secret      make a new secret (tenant admins)
    POST /console/push/test        kind=receipt_url|uplink_url|review_url (tenant admins)

The targets are checked as PUT /v1/push checks them (`webhooks.queue.check_target`: public
addresses only unless `push_allowed_networks` lets a network through), and the test push goes
through the push stage's guarded transport, which checks the address the host resolves to:
both refusals answer `PushAddressForbidden` on the page.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from yizhan.console import i18n
from yizhan.console.frequency import refusal_text
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
from yizhan.domain.model import AccountId
from yizhan.domain.push import QUEUE, SIGN_REPORT, SMS_REPORT, SMS_UP
from yizhan.domain.timezone import china_text
from yizhan.webhooks.pusher import TrialPush, trial_push
from yizhan.webhooks.queue import check_target

router = APIRouter(prefix=PREFIX, include_in_schema=False)
KINDS = (("receipt_url", SMS_REPORT), ("uplink_url", SMS_UP), ("review_url", SIGN_REPORT))
"""Each target, and the item kind a test push to it carries."""
MAX_URL = 1024

i18n.add({
    "push": ("Push", "推送"),
    "push_title": ("Push settings", "推送设置"),
    "push_targets": ("Where items go", "推送目标"),
    "push_note": ("A URL receives batches by HTTP POST (answer HTTP 200 with {\"code\": 0}); "
                  "\"queue\" keeps them for the pull API; empty: none are produced. URLs must "
                  "reach a public address.",
                  "填写 URL 即以 HTTP POST 批量推送（请应答 HTTP 200 与 {\"code\": 0}）；填写 "
                  "\"queue\" 则保存在拉取队列；留空则不生成。URL 必须指向公网地址。"),
    "push_kind": ("Items", "类型"),
    "push_target": ("Target", "目标"),
    "push_state": ("State", "状态"),
    "push_receipt_url": ("Receipts (SmsReport)", "回执（SmsReport）"),
    "push_uplink_url": ("Replies (SmsUp)", "上行回复（SmsUp）"),
    "push_review_url": ("Review results (SignSmsReport, TemplateSmsReport)",
                        "审核结果（SignSmsReport、TemplateSmsReport）"),
    "push_on_url": ("pushed", "推送"),
    "push_on_queue": ("pull queue", "拉取队列"),
    "push_off": ("off", "关闭"),
    "push_save": ("Save targets", "保存目标"),
    "push_saved": ("Targets saved; they apply to items not yet delivered.",
                   "推送目标已保存，对尚未送达的条目生效。"),
    "push_secret": ("Push secret", "推送密钥"),
    "push_secret_set": ("set (never shown again); settings last changed {at}",
                        "已设置（不再显示）；设置最后修改于 {at}"),
    "push_secret_none": ("none yet: made with the first target", "尚未生成：设置首个目标时生成"),
    "push_secret_note": ("Every push carries X-Yizhan-Signature, an HMAC-SHA256 with this "
                         "secret (docs/push.md). Making a new one replaces it at once.",
                         "每次推送都带有以该密钥计算的 HMAC-SHA256 签名 X-Yizhan-Signature"
                         "（见 docs/push.md）。生成新密钥后旧密钥立即失效。"),
    "push_rotate": ("Make a new secret", "生成新密钥"),
    "push_secret_shown": ("The push secret, shown this once: copy it now.",
                          "推送密钥仅显示这一次，请立即复制。"),
    "push_test": ("Send a test push", "发送测试推送"),
    "push_test_note": ("One real, signed push of a test item (\"test\": true) to the target's "
                       "URL; nothing is stored or retried.",
                       "向该目标 URL 真实推送一条带签名的测试条目（\"test\": true），"
                       "不保存也不重试。"),
    "push_test_result": ("Test push to {url}", "测试推送至 {url}"),
    "push_test_taken": ("taken: the receiver answered as a batch should",
                        "成功：接收方按要求应答"),
    "push_test_failed": ("failed", "失败"),
    "push_http": ("HTTP status", "HTTP 状态"),
    "push_took": ("Time", "耗时"),
    "push_error": ("Why", "原因"),
    "push_no_answer": ("no answer", "无应答"),
    "push_not_url": ("{kind} has no URL to push to (it is {state}): set one first.",
                     "{kind} 没有可推送的 URL（当前为{state}），请先设置。"),
})


def _state(target: str) -> str:
    return "push_off" if not target else "push_on_queue" if target == QUEUE else "push_on_url"


async def _page(request: Request, who: Viewer, account_id: AccountId, *, error: str = "",
                done: str = "", secret: str = "", trial: TrialPush | None = None,
                status: int = 200) -> Response:
    found = await console_of(request).api.store.push_endpoints(account_id)
    targets = [{"name": name, "target": getattr(found, name) if found else "",
                "state": _state(getattr(found, name) if found else "")} for name, _ in KINDS]
    return render(request, "push.html", who.lang, who, status=status, error=error, done=done,
                  targets=targets, secret=secret, trial=trial,
                  secret_at=china_text(found.updated_at) if found else "",
                  has_secret=found is not None)


@router.get("/push")
async def push(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    return await _page(request, who, account_id)


@router.post("/push")
async def set_targets(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    form = await admin_form(request, who)
    console = console_of(request)
    targets: dict[str, str] = {}
    for name, _ in KINDS:  # all or nothing: every target checked before any is saved
        value = form.get(name)
        value = value if isinstance(value, str) else ""
        checked = (check_target(name, value, console.api.push_networks)
                   if len(value) <= MAX_URL else
                   Refusal("InvalidParameter", f"{name}: at most {MAX_URL} characters"))
        if isinstance(checked, Refusal):
            return await _page(request, who, account_id, status=400,
                               error=refusal_text(checked, who.lang))
        targets[name] = checked
    first = await console.api.store.push_endpoints(account_id) is None
    now = console.api.clock.now()
    saved = await console.api.store.set_push_endpoints(
        account_id, now, receipt_url=targets["receipt_url"], uplink_url=targets["uplink_url"],
        review_url=targets["review_url"])
    await console.store.audit_console(who.session.user, account_id, "push targets set",
                                      ", ".join(f"{k} {_state(v)[5:]}"
                                                for k, v in targets.items()), now)
    return await _page(request, who, account_id, secret=saved.secret if first else "",
                       done=i18n.words(who.lang)["push_saved"])


@router.post("/push/secret")
async def new_secret(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    await admin_form(request, who)
    console = console_of(request)
    now = console.api.clock.now()
    saved = await console.api.store.set_push_endpoints(account_id, now, new_secret=True)
    await console.store.audit_console(who.session.user, account_id, "push secret made", "",
                                      now)
    return await _page(request, who, account_id, secret=saved.secret)


@router.post("/push/test")
async def test_push(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    form = await admin_form(request, who)
    topics = dict(KINDS)
    kind = str(form.get("kind") or "")
    if kind not in topics:
        return await _page(request, who, account_id, status=400, error=refusal_text(
            Refusal("InvalidParameter", f"kind: one of {', '.join(topics)}"), who.lang))
    console = console_of(request)
    found = await console.api.store.push_endpoints(account_id)
    url = getattr(found, kind) if found else ""
    t = i18n.words(who.lang)
    if found is None or not url or url == QUEUE:
        return await _page(request, who, account_id, status=400, error=t["push_not_url"].format(
            kind=t["push_" + kind], state=t[_state(url)]))
    trial = await trial_push(url, found.secret, topics[kind], console.api.push_networks,
                             console.push_timeout, console.api.clock)
    await console.store.audit_console(who.session.user, account_id, "test push",
                                      f"{kind}: {'taken' if trial.error is None else 'failed'}",
                                      console.api.clock.now())
    error = (refusal_text(Refusal("PushAddressForbidden", trial.error or ""), who.lang)
             if trial.forbidden else "")
    return await _page(request, who, account_id, trial=trial, error=error)
