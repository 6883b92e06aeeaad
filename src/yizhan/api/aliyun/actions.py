"""The actions of the Alibaba-compatible API (docs/aliyun.md "Actions"), over the platform's
own intake and store. Each takes the decoded parameters of an authenticated request and returns the
action's response fields, or a `Refusal` (the endpoint turns it into the error answer).

Parameter problems: a missing required parameter is `MissingParameter` (HTTP 400); a value
out of range or malformed is `isv.INVALID_PARAMETERS` (HTTP 200), as Alibaba answers
(docs/aliyun.md "Actions").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from yizhan.api.services import ApiServices
from yizhan.compliance.signatures import ALIBABA_SOURCES, check_sign_name
from yizhan.domain.codes import PLATFORM_BOOK, CodeBook
from yizhan.domain.errors import Lang, Refusal
from yizhan.domain.frozen import per_request
from yizhan.domain.ids import is_biz_id
from yizhan.domain.model import (
    Account,
    Message,
    MessageStatus,
    ReviewState,
    Signature,
    SignatureScenario,
    Template,
    TemplateType,
)
from yizhan.domain.timezone import china_day_bounds, china_text, china_today
from yizhan.intake.accept import MAX_BATCH_NUMBERS, MAX_NUMBERS, SendRequest
from yizhan.policy import numbers, templates
from yizhan.policy.chain import Recipient
from yizhan.webhooks import queue

QUERY_DAYS = 30


@per_request
class ActionContext:
    account: Account
    params: dict[str, str]
    lang: Lang
    services: ApiServices
    nonce: tuple[str, str] | None = None
    """(AccessKey id, nonce) when the action records the request's nonce itself (`SENDING`)."""

    def required(self, name: str) -> str | Refusal:
        value = self.params.get(name)
        return Refusal("MissingParameter", name) if value is None or value == "" else value

    def integer(self, name: str, low: int, high: int, default: int | None = None,
                ) -> int | Refusal:
        raw = self.params.get(name)
        if raw is None or raw == "":
            return Refusal("MissingParameter", name) if default is None else default
        try:
            value = int(raw)
        except ValueError:
            return Refusal("isv.INVALID_PARAMETERS", f"{name} must be a whole number")
        if not low <= value <= high:
            return Refusal("isv.INVALID_PARAMETERS", f"{name} must be {low} to {high}")
        return value

    def page(self) -> tuple[int, int] | Refusal:
        """PageIndex (default 1) and PageSize (1 to 50, default 10) of the list actions."""
        index = self.integer("PageIndex", 1, 1_000_000, 1)
        size = self.integer("PageSize", 1, 50, 10)
        refusal = first_refusal(index, size)
        if refusal:
            return refusal
        assert isinstance(index, int) and isinstance(size, int)
        return index, size

    def day(self, name: str) -> date | Refusal:
        raw = self.required(name)
        if isinstance(raw, Refusal):
            return raw
        try:
            return datetime.strptime(raw, "%Y%m%d").date()
        except ValueError:
            return Refusal("isv.INVALID_PARAMETERS", f"{name} format should be yyyyMMdd")


Result = dict[str, Any] | Refusal
Action = Callable[[ActionContext], Awaitable[Result]]


def first_refusal(*values: object) -> Refusal | None:
    return next((v for v in values if isinstance(v, Refusal)), None)


# Sending


async def send_sms(ctx: ActionContext) -> Result:
    phones, sign, code = (ctx.required(n) for n in ("PhoneNumbers", "SignName", "TemplateCode"))
    refusal = first_refusal(phones, sign, code)
    if refusal:
        return refusal
    assert isinstance(phones, str) and isinstance(sign, str) and isinstance(code, str)
    params = ctx.params.get("TemplateParam")
    recipients = [Recipient(p, sign, params) for p in phones.split(",")]
    return await _send(ctx, SendRequest(code, recipients, ctx.params.get("OutId", ""),
                                        MAX_NUMBERS))


async def send_batch_sms(ctx: ActionContext) -> Result:
    raw = {n: ctx.required(n) for n in ("PhoneNumberJson", "SignNameJson", "TemplateCode")}
    refusal = first_refusal(*raw.values())
    if refusal:
        return refusal
    phones = _json_list(str(raw["PhoneNumberJson"]), "PhoneNumberJson")
    signs = _json_list(str(raw["SignNameJson"]), "SignNameJson")
    params_raw = ctx.params.get("TemplateParamJson")
    params = _json_list(params_raw, "TemplateParamJson") if params_raw else None
    refusal = first_refusal(phones, signs, params)
    if refusal:
        return refusal
    assert isinstance(phones, list) and isinstance(signs, list)
    assert not isinstance(params, Refusal)
    if len(phones) > MAX_BATCH_NUMBERS:
        return Refusal("isv.MOBILE_COUNT_OVER_LIMIT",
                       f"{len(phones)} numbers, at most {MAX_BATCH_NUMBERS}")
    lists: dict[str, list[Any]] = {"SignNameJson": signs,
                                   **({"TemplateParamJson": params} if params else {})}
    for name, values in lists.items():
        if len(values) != len(phones):
            return Refusal("isv.INVALID_PARAMETERS",
                           f"{name} has {len(values)} items, PhoneNumberJson {len(phones)}")
    if not all(isinstance(v, str) for v in [*phones, *signs]):
        return Refusal("isv.INVALID_PARAMETERS", "numbers and signatures must be strings")
    recipients = [Recipient(phone, sign, params[i] if params else None)
                  for i, (phone, sign) in enumerate(zip(phones, signs, strict=True))]
    return await _send(ctx, SendRequest(str(raw["TemplateCode"]), recipients,
                                        ctx.params.get("OutId", ""), MAX_BATCH_NUMBERS))


def _json_list(raw: str, name: str) -> list[Any] | Refusal:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return Refusal("isv.INVALID_JSON_PARAM", f"{name} is not valid JSON")
    if not isinstance(value, list):
        return Refusal("isv.INVALID_JSON_PARAM", f"{name} must be a JSON array")
    return value


async def _send(ctx: ActionContext, request: SendRequest) -> Result:
    result = await ctx.services.intake.send(ctx.account, request, ctx.nonce)
    if isinstance(result, Refusal):
        return result
    return {"BizId": result.biz_id}


# Records


SEND_STATUS = {MessageStatus.WAITING: 1, MessageStatus.FAILED: 2, MessageStatus.UNKNOWN: 2,
               MessageStatus.SUCCESS: 3}


def detail_dto(m: Message, codes: CodeBook = PLATFORM_BOOK) -> dict[str, Any]:
    code = m.error_code or ("UNKNOWN" if m.status is MessageStatus.UNKNOWN else "")
    dto: dict[str, Any] = {
        "PhoneNum": numbers.display(m.phone), "SendStatus": SEND_STATUS[m.status],
        "ErrCode": code, "TemplateCode": m.template_code, "Content": m.content,
        "SendDate": china_text(m.created_at),
        "ReceiveDate": china_text(m.receipt_at) if m.status.final else "",
    }
    if m.out_id:
        dto["OutId"] = m.out_id
    # ErrCode stays the code, as Alibaba's; why and what to do come in two keys of our own,
    # on failed records only (the SDKs' models ignore keys they do not declare).
    reason, suggestion = codes.reason(m.status, m.channel, code, m.reason)
    if reason or suggestion:
        dto["Reason"], dto["Suggestion"] = reason, suggestion
    return dto


async def query_send_details(ctx: ActionContext) -> Result:
    phone = ctx.required("PhoneNumber")
    day = ctx.day("SendDate")
    size = ctx.integer("PageSize", 1, 50)
    page = ctx.integer("CurrentPage", 1, 1_000_000)
    refusal = first_refusal(phone, day, size, page)
    if refusal:
        return refusal
    assert isinstance(phone, str) and isinstance(day, date)
    assert isinstance(size, int) and isinstance(page, int)
    number = numbers.normalize(phone)
    if isinstance(number, Refusal):
        return number
    today = china_today(ctx.services.clock.now())
    if not today - timedelta(days=QUERY_DAYS - 1) <= day <= today:
        return Refusal("isv.INVALID_PARAMETERS",
                       f"SendDate must be within the last {QUERY_DAYS} days")
    start, end = china_day_bounds(day)
    store = ctx.services.store
    biz_id = ctx.params.get("BizId")
    if biz_id and not is_biz_id(biz_id):
        return Refusal("isv.INVALID_PARAMETERS", "BizId: the BizId a send answered, as 123^0")
    total, shown = await store.query_messages(ctx.account.id, number, start, end,
                                              (page - 1) * size, size, biz_id=biz_id or None)
    return {"TotalCount": total,
            "SmsSendDetailDTOs": {"SmsSendDetailDTO": [detail_dto(m, ctx.services.codes)
                                                       for m in shown]}}


TEMPLATE_TYPES = {0: TemplateType.VERIFICATION, 1: TemplateType.NOTIFICATION,
                  2: TemplateType.PROMOTION, 3: TemplateType.INTERNATIONAL}
TEMPLATE_TYPE_NUMBERS = {v: k for k, v in TEMPLATE_TYPES.items()}


async def query_send_statistics(ctx: ActionContext) -> Result:
    globe = ctx.integer("IsGlobe", 1, 2)
    start_day, end_day = ctx.day("StartDate"), ctx.day("EndDate")
    index, size = ctx.integer("PageIndex", 1, 1_000_000), ctx.integer("PageSize", 1, 50)
    type_number = ctx.integer("TemplateType", 0, 3, default=-1) if ctx.params.get(
        "TemplateType") else -1
    refusal = first_refusal(globe, start_day, end_day, index, size, type_number)
    if refusal:
        return refusal
    assert isinstance(start_day, date) and isinstance(end_day, date)
    assert isinstance(index, int) and isinstance(size, int) and isinstance(type_number, int)
    if end_day < start_day or (end_day - start_day).days >= QUERY_DAYS:
        return Refusal("isv.INVALID_PARAMETERS",
                       f"EndDate must be on or after StartDate, at most {QUERY_DAYS} days on")
    # From the incremental counters (storage/stats.py), newest day first.
    counted = await ctx.services.store.statistics(
        ctx.account.id, start_day, end_day, group_by=("day",),
        template_type=TEMPLATE_TYPES.get(type_number),
        sign_name=ctx.params.get("SignName") or None, international=globe == 2)
    rows = [{"SendDate": r.key["day"], "TotalCount": r.sent,
             "RespondedSuccessCount": r.success,
             "RespondedFailCount": r.failed + r.unknown, "NoRespondedCount": r.waiting}
            for r in counted if r.sent]
    return {"Data": {"TotalSize": len(rows),
                     "TargetList": rows[(index - 1) * size:index * size]}}


# Signatures


REVIEW_NUMBERS = {ReviewState.PENDING: 0, ReviewState.APPROVED: 1, ReviewState.REJECTED: 2,
                  ReviewState.DELETED: 10}
AUDIT_STATUS = {ReviewState.PENDING: "AUDIT_STATE_INIT", ReviewState.APPROVED: "AUDIT_STATE_PASS",
                ReviewState.REJECTED: "AUDIT_STATE_NOT_PASS",
                ReviewState.DELETED: "AUDIT_STATE_CANCEL"}


async def _sign_fields(ctx: ActionContext) -> tuple[str, SignatureScenario, str, str] | Refusal:
    """The fields of AddSmsSign and ModifySmsSign, the name and source checked by the one
    validator (docs/compliance.md "Signature names")."""
    name = ctx.required("SignName")
    source = ctx.integer("SignSource", 0, max(ALIBABA_SOURCES))
    kind = ctx.integer("SignType", 0, 1, default=1)
    refusal = first_refusal(name, source, kind)
    if refusal:
        return refusal
    assert isinstance(name, str) and isinstance(source, int)
    company = await ctx.services.store.company_name(ctx.account.id)
    refusal = check_sign_name(name, ALIBABA_SOURCES[source], company)
    if refusal:
        return refusal
    scenario = SignatureScenario.VERIFICATION if kind == 0 else SignatureScenario.GENERAL
    return name, scenario, ALIBABA_SOURCES[source], ctx.params.get("Remark", "")


async def add_sms_sign(ctx: ActionContext) -> Result:
    fields = await _sign_fields(ctx)
    if isinstance(fields, Refusal):
        return fields
    name, scenario, source, remark = fields
    store = ctx.services.store
    if await store.signature(ctx.account.id, name) is not None:
        return Refusal("isv.INVALID_PARAMETERS", f"the account has a signature {name!r} already")
    await store.create_signature(ctx.account.id, name, scenario, ReviewState.PENDING,
                                 ctx.services.clock.now(), source=source, remark=remark)
    return {"SignName": name}


async def _own_signature(ctx: ActionContext) -> Signature | Refusal:
    name = ctx.required("SignName")
    if isinstance(name, Refusal):
        return name
    signature = await ctx.services.store.signature(ctx.account.id, name)
    if signature is None or signature.state is ReviewState.DELETED:
        return Refusal("isv.SMS_SIGNATURE_ILLEGAL", f"signature {name!r}: not found")
    return signature


async def modify_sms_sign(ctx: ActionContext) -> Result:
    signature = await _own_signature(ctx)
    fields = await _sign_fields(ctx)
    refusal = first_refusal(signature, fields)
    if refusal:
        return refusal
    assert isinstance(signature, Signature) and not isinstance(fields, Refusal)
    if signature.state is ReviewState.APPROVED:
        return Refusal("isv.INVALID_PARAMETERS",
                       "an approved signature cannot be modified; add a new one")
    _, scenario, source, remark = fields
    await ctx.services.store.update_signature(signature.id, scenario, source, remark)
    return {"SignName": signature.name}


async def delete_sms_sign(ctx: ActionContext) -> Result:
    signature = await _own_signature(ctx)
    if isinstance(signature, Refusal):
        return signature
    await ctx.services.store.review_signature(signature.id, ReviewState.DELETED,
                                              "deleted by the account")
    return {"SignName": signature.name}


async def query_sms_sign(ctx: ActionContext) -> Result:
    signature = await _own_signature(ctx)
    if isinstance(signature, Refusal):
        return signature
    return {"SignName": signature.name, "SignStatus": REVIEW_NUMBERS[signature.state],
            "CreateDate": china_text(signature.created_at), "Reason": signature.reason}


async def query_sms_sign_list(ctx: ActionContext) -> Result:
    page = ctx.page()
    if isinstance(page, Refusal):
        return page
    index, size = page
    total, shown = await ctx.services.store.page_signatures(ctx.account.id, (index - 1) * size,
                                                            size)
    return {"TotalCount": total, "CurrentPage": index, "PageSize": size, "SmsSignList": [{
        "SignName": s.name, "AuditStatus": AUDIT_STATUS[s.state],
        "CreateDate": china_text(s.created_at),
        "BusinessType": "验证码" if s.scenario is SignatureScenario.VERIFICATION else "通用",
        "OrderId": str(s.id), "Reason": {"RejectInfo": s.reason, "RejectSubInfo": "",
                                         "RejectDate": ""}} for s in shown]}


# Templates


def _template_fields(ctx: ActionContext) -> tuple[TemplateType, str, str, str] | Refusal:
    kind = ctx.integer("TemplateType", 0, 3)
    name, content = ctx.required("TemplateName"), ctx.required("TemplateContent")
    refusal = first_refusal(kind, name, content)
    if refusal:
        return refusal
    assert isinstance(kind, int) and isinstance(name, str) and isinstance(content, str)
    if len(name) > 30 or len(content) > 500:
        return Refusal("isv.INVALID_PARAMETERS",
                       "TemplateName has at most 30 characters, TemplateContent 500")
    opt_out = templates.check_new_template(TEMPLATE_TYPES[kind], content)
    if opt_out:
        return opt_out
    return TEMPLATE_TYPES[kind], name, content, ctx.params.get("Remark", "")


async def add_sms_template(ctx: ActionContext) -> Result:
    fields = _template_fields(ctx)
    if isinstance(fields, Refusal):
        return fields
    kind, name, content, remark = fields
    template = await ctx.services.store.create_template(
        ctx.account.id, name, kind, content, ReviewState.PENDING, ctx.services.clock.now(),
        remark=remark)
    return {"TemplateCode": template.code}


async def _own_template(ctx: ActionContext) -> Template | Refusal:
    code = ctx.required("TemplateCode")
    if isinstance(code, Refusal):
        return code
    template = await ctx.services.store.template(ctx.account.id, code)
    if template is None or template.state is ReviewState.DELETED:
        return Refusal("isv.SMS_TEMPLATE_ILLEGAL", f"template {code!r}: not found")
    return template


async def modify_sms_template(ctx: ActionContext) -> Result:
    template = await _own_template(ctx)
    fields = _template_fields(ctx)
    refusal = first_refusal(template, fields)
    if refusal:
        return refusal
    assert isinstance(template, Template) and not isinstance(fields, Refusal)
    if template.state is ReviewState.APPROVED:
        return Refusal("isv.INVALID_PARAMETERS",
                       "an approved template cannot be modified; add a new one")
    kind, name, content, remark = fields
    await ctx.services.store.update_template(template.code, name, kind, content, remark)
    return {"TemplateCode": template.code}


async def delete_sms_template(ctx: ActionContext) -> Result:
    template = await _own_template(ctx)
    if isinstance(template, Refusal):
        return template
    await ctx.services.store.review_template(template.code, ReviewState.DELETED,
                                             "deleted by the account")
    return {"TemplateCode": template.code}


async def query_sms_template(ctx: ActionContext) -> Result:
    template = await _own_template(ctx)
    if isinstance(template, Refusal):
        return template
    return {"TemplateCode": template.code, "TemplateStatus": REVIEW_NUMBERS[template.state],
            "TemplateType": TEMPLATE_TYPE_NUMBERS[template.type],
            "TemplateName": template.name, "TemplateContent": template.content,
            "CreateDate": china_text(template.created_at), "Reason": template.reason}


async def query_sms_template_list(ctx: ActionContext) -> Result:
    page = ctx.page()
    if isinstance(page, Refusal):
        return page
    index, size = page
    total, shown = await ctx.services.store.page_templates(ctx.account.id, (index - 1) * size,
                                                           size)
    return {"TotalCount": total, "CurrentPage": index, "PageSize": size, "SmsTemplateList": [{
        "TemplateCode": t.code, "TemplateName": t.name, "TemplateContent": t.content,
        "TemplateType": TEMPLATE_TYPE_NUMBERS[t.type],
        "OuterTemplateType": TEMPLATE_TYPE_NUMBERS[t.type],
        "AuditStatus": AUDIT_STATUS[t.state], "CreateDate": china_text(t.created_at),
        "OrderId": t.code, "Reason": {"RejectInfo": t.reason, "RejectSubInfo": "",
                                      "RejectDate": ""}} for t in shown]}


# The pull queue (docs/push.md): Yizhan's own actions, in Alibaba's style.


async def receive_push_items(ctx: ActionContext) -> Result:
    kind = ctx.required("MessageType")
    most = ctx.integer("MaxItems", 1, queue.MAX_ITEMS, 10)
    wait = ctx.integer("WaitSeconds", 0, 30, 0)
    visible = ctx.integer("VisibilitySeconds", 1, 43200,
                          int(ctx.services.queue.visibility))
    refusal = first_refusal(kind, most, wait, visible)
    if refusal:
        return refusal
    assert isinstance(kind, str) and isinstance(most, int) and isinstance(wait, int)
    assert isinstance(visible, int)
    found = await queue.receive(ctx.services.store, ctx.services.clock, ctx.account.id, kind,
                                most, min(wait, ctx.services.queue.max_wait), visible,
                                ctx.services.codes)
    if isinstance(found, Refusal):
        return found
    return {"Items": [{"ReceiptHandle": i["receipt_handle"], "MessageType": i["message_type"],
                       "ReceiveCount": i["receive_count"], "MessageBody": i["body"]}
                      for i in found]}


async def delete_push_items(ctx: ActionContext) -> Result:
    handles = ctx.required("ReceiptHandles")
    if isinstance(handles, Refusal):
        return handles
    deleted = await queue.acknowledge(ctx.services.store, ctx.account.id, handles.split(","))
    if isinstance(deleted, Refusal):
        return deleted
    return {"DeletedCount": deleted}


ACTIONS: dict[str, Action] = {
    "SendSms": send_sms,
    "SendBatchSms": send_batch_sms,
    "QuerySendDetails": query_send_details,
    "QuerySendStatistics": query_send_statistics,
    "AddSmsSign": add_sms_sign,
    "ModifySmsSign": modify_sms_sign,
    "DeleteSmsSign": delete_sms_sign,
    "QuerySmsSign": query_sms_sign,
    "QuerySmsSignList": query_sms_sign_list,
    "AddSmsTemplate": add_sms_template,
    "ModifySmsTemplate": modify_sms_template,
    "DeleteSmsTemplate": delete_sms_template,
    "QuerySmsTemplate": query_sms_template,
    "QuerySmsTemplateList": query_sms_template_list,
    "ReceivePushItems": receive_push_items,
    "DeletePushItems": delete_push_items,
}

SENDING = frozenset({"SendSms", "SendBatchSms"})
"""Actions that record the request's nonce in the transaction accepting their messages."""
READS = frozenset({"QuerySendDetails", "QuerySendStatistics", "QuerySmsSign",
                   "QuerySmsSignList", "QuerySmsTemplate", "QuerySmsTemplateList"})
"""Actions that change nothing: their nonce need not be durable before the answer
(storage/nonces.py)."""
