"""The actions of the Alibaba-compatible API (docs/aliyun.md "Actions"), over the platform's
own intake and store. Each takes the decoded parameters of an authenticated request and returns the
action's response fields, or a `Refusal` (the endpoint turns it into the error answer).

Parameter problems: a missing required parameter is `MissingParameter` (HTTP 400); a value
out of range or malformed is `isv.INVALID_PARAMETERS` (HTTP 200), as Alibaba answers
(docs/aliyun.md "Actions").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from yizhan.api.services import ApiServices
from yizhan.compliance import documents, letters, qualifications
from yizhan.compliance.signatures import (
    ALIBABA_SOURCES,
    SignSource,
    check_details,
    check_sign_name,
)
from yizhan.domain.codes import PLATFORM_BOOK, CodeBook
from yizhan.domain.errors import Lang, Refusal
from yizhan.domain.frozen import per_request
from yizhan.domain.ids import is_biz_id
from yizhan.domain.model import (
    Account,
    LetterDetails,
    Message,
    MessageStatus,
    Qualification,
    QualificationDetails,
    QualificationKind,
    ReviewState,
    Signature,
    SignatureDetails,
    SignatureScenario,
    Template,
    TemplateApplication,
    TemplateFilters,
    TemplateType,
    UsableState,
)
from yizhan.domain.registration import (
    REASONS,
    CarrierRegistration,
    by_carrier,
    register_result,
)
from yizhan.domain.timezone import china_day_bounds, china_text, china_today
from yizhan.intake.accept import MAX_BATCH_NUMBERS, MAX_NUMBERS, SendRequest
from yizhan.policy import numbers, template_values, templates
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
    host: str = ""
    """The request's Host header (where the client reached the API)."""
    actor: str = ""
    """Who acts, for the audit of reviews; empty: the account itself (an API call)."""

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
MAX_SIGN_REMARK = 200
"""Remark (the scenario's description) of the signature actions, as the SDK documents it."""
AUDIT_STATUS = {ReviewState.PENDING: "AUDIT_STATE_INIT", ReviewState.APPROVED: "AUDIT_STATE_PASS",
                ReviewState.REJECTED: "AUDIT_STATE_NOT_PASS",
                ReviewState.DELETED: "AUDIT_STATE_CANCEL"}


async def _sign_fields(ctx: ActionContext, company: str | Refusal | None = None,
                       ) -> tuple[str, SignatureScenario, str, str] | Refusal:
    """The fields of AddSmsSign, ModifySmsSign, CreateSmsSign and UpdateSmsSign, the name and
    source checked by the one validator (docs/compliance.md "Signature names") against
    `company`: the one of the qualification the signature names, else the account's."""
    name = ctx.required("SignName")
    source = ctx.integer("SignSource", 0, max(ALIBABA_SOURCES))
    kind = ctx.integer("SignType", 0, 1, default=1)
    remark = ctx.params.get("Remark", "")
    refusal = first_refusal(name, source, kind, company)
    if refusal:
        return refusal
    if len(remark) > MAX_SIGN_REMARK:
        return Refusal("isv.INVALID_PARAMETERS", f"Remark: up to {MAX_SIGN_REMARK} characters")
    assert isinstance(name, str) and isinstance(source, int)
    if company is None:
        company = await ctx.services.store.company_name(ctx.account.id)
    assert not isinstance(company, Refusal)
    refusal = check_sign_name(name, ALIBABA_SOURCES[source], company)
    if refusal:
        return refusal
    scenario = SignatureScenario.VERIFICATION if kind == 0 else SignatureScenario.GENERAL
    return name, scenario, ALIBABA_SOURCES[source], remark


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


async def _own_signature(ctx: ActionContext, param: str = "SignName") -> Signature | Refusal:
    """The account's signature (not deleted) the parameter `param` names."""
    name = ctx.required(param)
    if isinstance(name, Refusal):
        return name
    signature = await ctx.services.store.signature(ctx.account.id, name)
    if signature is None or signature.state is ReviewState.DELETED:
        return Refusal("isv.SMS_SIGNATURE_ILLEGAL", f"signature {name!r}: not found")
    return signature


async def _linked_qualification(ctx: ActionContext,
                                signature: Signature) -> Qualification | None:
    if signature.qualification_id is None:
        return None
    return await ctx.services.store.qualification(ctx.account.id, signature.qualification_id)


async def modify_sms_sign(ctx: ActionContext) -> Result:
    """A signature linked to a qualification (CreateSmsSign) is checked against its company."""
    signature = await _own_signature(ctx)
    if isinstance(signature, Refusal):
        return signature
    linked = await _linked_qualification(ctx, signature)
    fields = await _sign_fields(ctx, _company(linked) if linked else None)
    if isinstance(fields, Refusal):
        return fields
    if signature.state is ReviewState.APPROVED:
        return Refusal("isv.INVALID_PARAMETERS",
                       "an approved signature cannot be modified; add a new one")
    _, scenario, source, remark = fields
    await ctx.services.store.update_signature(signature.id, scenario, source, remark,
                                              actor=_actor(ctx), now=ctx.services.clock.now())
    return {"SignName": signature.name}


async def delete_sms_sign(ctx: ActionContext) -> Result:
    signature = await _own_signature(ctx)
    if isinstance(signature, Refusal):
        return signature
    await ctx.services.store.review_signature(signature.id, ReviewState.DELETED,
                                              "deleted by the account",
                                              ctx.services.clock.now(), _actor(ctx))
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


async def _approved_qualification(ctx: ActionContext, check_use: bool,
                                  ) -> Qualification | Refusal:
    """The account's approved qualification `QualificationId` names, which a signature of
    CreateSmsSign, UpdateSmsSign or ChangeSignatureQualification must have (the SDK: "the ID
    of the approved qualification"); with `check_use`, `ThirdParty` (default false) must
    match the qualification's use (UseBySelf)."""
    qid = ctx.integer("QualificationId", 1, 2**63 - 1)
    third_party = _flag(ctx, "ThirdParty", False)
    refusal = first_refusal(qid, third_party)
    if refusal:
        return refusal
    assert isinstance(qid, int)
    found = await ctx.services.store.qualification(ctx.account.id, qid)
    if found is None or found.state is ReviewState.DELETED:
        return Refusal("isv.QUALIFICATION_NOT_EXIST", f"QualificationId {qid}")
    if not found.usable_for_registration:
        return Refusal("isv.QUALIFICATION_NOT_APPROVED",
                       f"qualification {qid} is {qualifications.RECORD_STATES[found.state]}")
    if check_use and third_party == found.details.for_self:
        use = "for others (UseBySelf false)" if third_party else "for own use (UseBySelf true)"
        return Refusal("isv.INVALID_PARAMETERS",
                       f"ThirdParty {str(third_party).lower()} needs a qualification {use}")
    return found


async def _sign_letter(ctx: ActionContext, q: Qualification, name: str,
                       current: int | None = None) -> int | Refusal | None:
    """The letter of authorization (`AuthorizationLetterId`, else the signature's `current`
    one) a signature for others stands on: the account's own, valid today, from the
    qualification's company, naming the signature (docs/compliance.md "Signature
    actions"). A signature for own use needs none and keeps none (None)."""
    if q.details.for_self:
        return None
    letter_id = ctx.integer("AuthorizationLetterId", 1, 2**63 - 1, default=current or 0)
    if isinstance(letter_id, Refusal):
        return letter_id
    code = "isv.AUTHORIZATION_LETTER_NOT_COVERING"
    if not letter_id:
        return Refusal(code, "a signature for others (ThirdParty true) needs "
                             "AuthorizationLetterId")
    found = await ctx.services.store.letters(ctx.account.id,
                                             letters.LetterFilter(ids=(letter_id,)))
    if not found:
        return Refusal(code, f"AuthorizationLetterId {letter_id}: the account has no such letter")
    problem = letters.sign_letter_problem(found[0], q, name,
                                          china_today(ctx.services.clock.now()))
    return Refusal(code, problem) if problem else letter_id


def _company(q: Qualification) -> str:
    """The company a qualification stands for: what enterprise-name signatures must name."""
    return q.details.company_name or q.details.name


def _sign_details(ctx: ActionContext, source: str) -> SignatureDetails | Refusal:
    """ApplySceneContent, MoreData, AppIcpRecordId and TrademarkId of CreateSmsSign and
    UpdateSmsSign, checked for the signature's source (`compliance.signatures`)."""
    app = ctx.integer("AppIcpRecordId", 1, 2**63 - 1, default=0)
    trademark = ctx.integer("TrademarkId", 1, 2**63 - 1, default=0)
    files: list[Any] | Refusal = []
    if ctx.params.get("MoreData"):
        files = _json_list(ctx.params["MoreData"], "MoreData")
    refusal = first_refusal(app, trademark, files)
    if refusal:
        return refusal
    assert isinstance(app, int) and isinstance(trademark, int) and isinstance(files, list)
    if not all(isinstance(f, str) and f for f in files):
        return Refusal("isv.INVALID_PARAMETERS", "MoreData must be a JSON array of file "
                       "references")
    details = SignatureDetails(ctx.params.get("ApplySceneContent", ""), tuple(files),
                               app or None, trademark or None)
    return check_details(source, details) or details


async def create_sms_sign(ctx: ActionContext) -> Result:
    q = await _approved_qualification(ctx, check_use=True)
    fields = await _sign_fields(ctx, q if isinstance(q, Refusal) else _company(q))
    if isinstance(fields, Refusal):
        return fields
    assert isinstance(q, Qualification)
    name, scenario, source, remark = fields
    details = _sign_details(ctx, source)
    if isinstance(details, Refusal):
        return details
    store = ctx.services.store
    if await store.signature(ctx.account.id, name) is not None:
        return Refusal("isv.INVALID_PARAMETERS", f"the account has a signature {name!r} already")
    letter_id = await _sign_letter(ctx, q, name)
    if isinstance(letter_id, Refusal):
        return letter_id
    made = await store.create_signature(ctx.account.id, name, scenario, ReviewState.PENDING,
                                        ctx.services.clock.now(), source=source, remark=remark,
                                        qualification_id=q.id, letter_id=letter_id,
                                        details=details)
    return {"SignName": name, "OrderId": str(made.id)}


async def update_sms_sign(ctx: ActionContext) -> Result:
    """Resubmits a rejected signature (the SDK: "the name of the rejected SMS signature"),
    possibly with another qualification; it goes back to review, and its registration
    starts (again, with that qualification) once the operator approves it."""
    signature = await _own_signature(ctx)
    q = await _approved_qualification(ctx, check_use=True)
    refusal = first_refusal(signature, q)
    if refusal:
        return refusal
    assert isinstance(signature, Signature) and isinstance(q, Qualification)
    if signature.state is not ReviewState.REJECTED:
        return Refusal("isv.INVALID_PARAMETERS", f"signature {signature.name!r} is "
                       f"{signature.state.value}: only a rejected signature is updated")
    fields = await _sign_fields(ctx, _company(q))
    if isinstance(fields, Refusal):
        return fields
    _, scenario, source, remark = fields
    details = _sign_details(ctx, source)
    if isinstance(details, Refusal):
        return details
    letter_id = await _sign_letter(ctx, q, signature.name)
    if isinstance(letter_id, Refusal):
        return letter_id
    await ctx.services.store.update_signature(
        signature.id, scenario, source, remark, qualification_id=q.id, letter_id=letter_id,
        details=details, actor=_actor(ctx), now=ctx.services.clock.now())
    return {"SignName": signature.name, "OrderId": str(signature.id)}


async def change_signature_qualification(ctx: ActionContext) -> Result:
    """Another approved qualification of the account stands behind the signature. The
    review state is kept (the name was reviewed); the signature is checked against the new
    qualification: the enterprise-name rule against its company, and for a qualification
    for others a covering letter (`AuthorizationLetterId`, else the signature's current
    letter, checked again). The change is one store call
    (`change_signature_qualification`), audited; carrier registration, which files the
    qualification's company data, starts again on every sub-port (docs/compliance.md
    "Carrier registration")."""
    signature = await _own_signature(ctx, "SignatureName")
    q = await _approved_qualification(ctx, check_use=False)
    refusal = first_refusal(signature, q)
    if refusal:
        return refusal
    assert isinstance(signature, Signature) and isinstance(q, Qualification)
    if signature.source == SignSource.ENTERPRISE:
        refusal = check_sign_name(signature.name, signature.source, _company(q))
        if refusal:
            return refusal
    letter_id = await _sign_letter(ctx, q, signature.name, signature.letter_id)
    if isinstance(letter_id, Refusal):
        return letter_id
    await ctx.services.store.change_signature_qualification(
        signature.id, q.id, letter_id, _actor(ctx), ctx.services.clock.now())
    if ctx.services.registration is not None and q.id != signature.qualification_id:
        await ctx.services.registration.on_qualification_changed(
            dataclasses.replace(signature, qualification_id=q.id), _actor(ctx))
    return {"Success": True, "Data": {"Success": True, "Data": {}}}


async def get_sms_sign(ctx: ActionContext) -> Result:
    signature = await _own_signature(ctx)
    if isinstance(signature, Refusal):
        return signature
    q = await _linked_qualification(ctx, signature)
    carriers = await _carriers(ctx, signature)
    letter_pass = False
    if signature.letter_id is not None:
        found = await ctx.services.store.letters(
            ctx.account.id, letters.LetterFilter(ids=(signature.letter_id,)))
        # the SDK: true when the letter's review passed (State PASSED), and it is in force
        letter_pass = bool(found) and letters.state(
            found[0], await ctx.services.store.approved_sign_names(ctx.account.id)) == "PASSED" \
            and letters.status(found[0], china_today(ctx.services.clock.now())) == "VALID"
    audited = await ctx.services.store.last_review_at("signature", str(signature.id))
    d = signature.details
    return {
        "SignName": signature.name, "SignStatus": REVIEW_NUMBERS[signature.state],
        "AuditInfo": {"RejectInfo": signature.reason,
                      "AuditDate": china_text(audited) if audited else ""},
        "SignCode": f"SIGN_{signature.id}", "OrderId": str(signature.id),
        "CreateDate": china_text(signature.created_at),
        "SignTag": "4" if signature.test else "2", "ApplyScene": d.apply_scene,
        **({"AppIcpRecordId": d.app_icp_record_id} if d.app_icp_record_id else {}),
        **({"TrademarkId": d.trademark_id} if d.trademark_id else {}),
        "Remark": signature.remark,
        "SignUsage": "验证码" if signature.scenario is SignatureScenario.VERIFICATION
        else "通用",
        "ThirdParty": q is not None and not q.details.for_self,
        "QualificationId": signature.qualification_id,
        "AuthorizationLetterId": signature.letter_id,
        "AuthorizationLetterAuditPass": letter_pass, "FileUrlList": list(d.files),
        "RegisterResult": register_result(carriers),
        "SignIspRegisterDetailList": [{
            "OperatorCode": c.isp.value, "OperatorCompleteTime": china_text(c.answered_at),
            "RegisterStatus": int(c.state), "RegisterStatusReasons": [
                {"ReasonCode": code, "ReasonDescList": _reason_texts(ctx, c, code)}
                for code in c.reasons]} for c in carriers]}


async def _carriers(ctx: ActionContext, signature: Signature) -> list[CarrierRegistration]:
    """The signature's registration per carrier (docs/compliance.md "Carrier
    registration"): the best state among each carrier's sub-ports."""
    registration = ctx.services.registration
    if registration is None:
        missing = "UNBINDING_QUA" if signature.qualification_id is None else "NON_REGISTER"
        return by_carrier([], missing)
    return await registration.carriers(signature)


def _reason_texts(ctx: ActionContext, carrier: CarrierRegistration, code: str) -> list[str]:
    """ReasonDescList: what the code means, in the request's language, then the details
    the sub-ports in that state hold (the carrier's own words, or why it was not filed)."""
    zh, en = REASONS.get(code, ("", ""))
    texts = [zh if ctx.lang is Lang.ZH else en] if zh else []
    shown = carrier.state
    for row in carrier.sub_ports:
        if row.state is shown and code in row.reasons and row.detail \
                and row.detail not in texts:
            texts.append(row.detail)
    return texts


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


async def _template_change(ctx: ActionContext,
                           ) -> tuple[Template, TemplateType, str, str, str] | Refusal:
    """The template named and its new fields (ModifySmsTemplate, UpdateSmsTemplate): only
    one that is not approved changes."""
    template = await _own_template(ctx)
    fields = _template_fields(ctx)
    refusal = first_refusal(template, fields)
    if refusal:
        return refusal
    assert isinstance(template, Template) and not isinstance(fields, Refusal)
    if template.state is ReviewState.APPROVED:
        return Refusal("isv.INVALID_PARAMETERS",
                       "an approved template cannot be changed; add a new one")
    return (template, *fields)


async def modify_sms_template(ctx: ActionContext) -> Result:
    change = await _template_change(ctx)
    if isinstance(change, Refusal):
        return change
    template, kind, name, content, remark = change
    await ctx.services.store.update_template(template.code, name, kind, content, remark,
                                             actor=_actor(ctx), now=ctx.services.clock.now())
    return {"TemplateCode": template.code}


async def delete_sms_template(ctx: ActionContext) -> Result:
    template = await _own_template(ctx)
    if isinstance(template, Refusal):
        return template
    await ctx.services.store.review_template(template.code, ReviewState.DELETED,
                                             "deleted by the account",
                                             ctx.services.clock.now(), _actor(ctx))
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


# The newer template actions (docs/compliance.md "Template actions"): the same linter as
# AddSmsTemplate, with the related signature, variable attributes and review information.


async def _template_application(ctx: ActionContext, kind: TemplateType,
                                content: str) -> TemplateApplication | Refusal:
    sign = ctx.params.get("RelatedSignName", "")
    international = kind is TemplateType.INTERNATIONAL
    if not sign and not international:
        return Refusal("MissingParameter", "RelatedSignName")
    intl_type = ctx.integer("IntlType", 0, 2) if international else None
    if isinstance(intl_type, Refusal):
        return intl_type
    if sign:
        signature = await ctx.services.store.signature(ctx.account.id, sign)
        if signature is None or signature.state is not ReviewState.APPROVED:
            return Refusal("isv.SMS_RELATED_SIGN_ILLEGAL", f"RelatedSignName {sign!r}")
    rule = ctx.params.get("TemplateRule", "")
    refusal = _check_template_rule(rule, content)
    if refusal:
        return refusal
    return TemplateApplication(sign, rule, intl_type, ctx.params.get("ApplySceneContent", ""))


# The variable attributes Alibaba documents for TemplateRule ("TemplateRule&TemplateContent
# examples"), exactly; values sent are checked against them (policy/template_values.py).
VARIABLE_KINDS = frozenset(template_values.KINDS)


def _check_template_rule(rule: str, content: str) -> Refusal | None:
    """TemplateRule (the variables' attributes) is required when the content has variables:
    a JSON object giving each variable of the content one of VARIABLE_KINDS. It is stored
    as given."""
    wanted = templates.variables(content)
    if not rule:
        return (Refusal("MissingParameter", f"TemplateRule (attributes of: {', '.join(wanted)})")
                if wanted else None)
    try:
        parsed = orjson.loads(rule)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, dict):
        return Refusal("isv.INVALID_PARAMETERS",
                       "TemplateRule must be a JSON object keyed by the content's variables")
    unknown = sorted(set(parsed) - set(wanted))
    missing = [v for v in wanted if v not in parsed]
    wrong = sorted(f"{k}={v}" for k, v in parsed.items()
                   if not isinstance(v, str) or v not in VARIABLE_KINDS)
    for problem, names in (("names variables not in TemplateContent", unknown),
                           ("lacks the attributes of", missing),
                           (f"has unknown attributes (known: {', '.join(sorted(VARIABLE_KINDS))})",
                            wrong)):
        if names:
            return Refusal("isv.INVALID_PARAMETERS",
                           f"TemplateRule {problem}: {', '.join(map(str, names))}")
    return None


async def create_sms_template(ctx: ActionContext) -> Result:
    fields = _template_fields(ctx)
    if isinstance(fields, Refusal):
        return fields
    kind, name, content, remark = fields
    application = await _template_application(ctx, kind, content)
    if isinstance(application, Refusal):
        return application
    template = await ctx.services.store.create_template(
        ctx.account.id, name, kind, content, ReviewState.PENDING, ctx.services.clock.now(),
        remark=remark, application=application)
    return {"TemplateCode": template.code, "TemplateName": name, "OrderId": template.code}


async def update_sms_template(ctx: ActionContext) -> Result:
    """Only while the template is not approved; it goes back to review."""
    change = await _template_change(ctx)
    if isinstance(change, Refusal):
        return change
    template, kind, name, content, remark = change
    application = await _template_application(ctx, kind, content)
    if isinstance(application, Refusal):
        return application
    await ctx.services.store.update_template(template.code, name, kind, content, remark,
                                             application, _actor(ctx),
                                             ctx.services.clock.now())
    return {"TemplateCode": template.code, "TemplateName": name, "OrderId": template.code}


async def get_sms_template(ctx: ActionContext) -> Result:
    t = await _own_template(ctx)
    if isinstance(t, Refusal):
        return t
    a = t.application
    return {"TemplateCode": t.code, "TemplateName": t.name, "TemplateContent": t.content,
            "TemplateType": str(TEMPLATE_TYPE_NUMBERS[t.type]),
            **({"IntlType": a.intl_type} if a.intl_type is not None else {}),
            "TemplateStatus": str(REVIEW_NUMBERS[t.state]), "TemplateTag": 2,
            "AuditInfo": {"RejectInfo": t.reason if t.state is ReviewState.REJECTED else "",
                          "AuditDate": china_text(t.reviewed_at) if t.reviewed_at else ""},
            "CreateDate": china_text(t.created_at), "OrderId": t.code,
            "RelatedSignName": a.related_sign_name, "VariableAttribute": a.variable_attribute,
            "ApplyScene": a.apply_scene, "Remark": t.remark}


def _template_filters(ctx: ActionContext) -> TemplateFilters | Refusal:
    """SignName, TemplateCode, TemplateName (a part of it), TemplateTag and UsableStateList
    of GetSmsTemplateList. Yizhan keeps no tags on templates: a well-formed TemplateTag (a
    JSON array of {"TagKey", "TagValue"}) matches none."""
    given = {k: ctx.params.get(k) or None for k in
             ("SignName", "TemplateCode", "TemplateName", "TemplateTag", "UsableStateList")}
    usable = None
    if given["UsableStateList"]:
        states = _json_list(given["UsableStateList"], "UsableStateList")
        if isinstance(states, Refusal):
            return states
        known = {u.value for u in UsableState}
        if not all(isinstance(u, str) and u in known for u in states):
            return Refusal("isv.INVALID_PARAMETERS", "UsableStateList must be a JSON array of "
                           f"{', '.join(sorted(known))}")
        usable = frozenset(UsableState(u) for u in states)
    if given["TemplateTag"]:
        tags = _json_list(given["TemplateTag"], "TemplateTag")
        if isinstance(tags, Refusal):
            return tags
        if not all(isinstance(t, dict) and set(t) <= {"TagKey", "TagValue"} and "TagKey" in t
                   for t in tags):
            return Refusal("isv.INVALID_PARAMETERS", 'TemplateTag must be a JSON array of '
                           '{"TagKey": ..., "TagValue": ...}')
        if tags:  # no template has a tag
            usable = frozenset()
    return TemplateFilters(given["SignName"], given["TemplateCode"], given["TemplateName"],
                           usable)


async def get_sms_template_list(ctx: ActionContext) -> Result:
    page = ctx.page()
    status = ctx.integer("AuditStatus", 0, 2, default=-1)
    type_number = ctx.integer("TemplateType", 0, 3, default=-1)
    filters = _template_filters(ctx)
    refusal = first_refusal(page, status, type_number, filters)
    if refusal:
        return refusal
    assert isinstance(page, tuple) and isinstance(status, int) and isinstance(type_number, int)
    assert isinstance(filters, TemplateFilters)
    index, size = page
    states = {n: s for s, n in REVIEW_NUMBERS.items()}
    total, shown = await ctx.services.store.page_templates(
        ctx.account.id, (index - 1) * size, size, state=states.get(status),
        type_=TEMPLATE_TYPES.get(type_number), filters=filters)
    rows = [{"TemplateCode": t.code, "TemplateName": t.name, "TemplateContent": t.content,
             "TemplateType": TEMPLATE_TYPE_NUMBERS[t.type],
             "AuditStatus": REVIEW_NUMBERS[t.state], "GmtCreate": china_text(t.created_at),
             "SignName": t.application.related_sign_name, "WorkOrderId": t.code,
             "UsableStateList": _usable_states(t), "TemplateTag": []}
            for t in shown]
    return {"Success": True,
            "Data": {"PageNo": index, "PageSize": size, "Total": total, "List": rows}}


def _usable_states(t: Template) -> list[str]:
    states = [UsableState.AVAILABLE if t.state is ReviewState.APPROVED
              else UsableState.UNAVAILABLE]
    if not t.application.related_sign_name:
        states.append(UsableState.MISSING_SIGNATURE)
    return [s.value for s in states]


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


# Qualifications (资质; docs/compliance.md "Qualifications")


QUALIFICATION_TEXT = {
    "company_type": "CompanyType", "company_name": "CompanyName",
    "organization_code": "OrganizationCode", "license_valid": "BussinessLicenseExpDate",
    "legal_person_name": "LegalPersonName", "legal_person_id_type": "LegalPersonIDCardType",
    "legal_person_id_no": "LegalPersonIDCardNo",
    "legal_person_id_valid": "LegalPersonIdCardEffTime", "admin_name": "AdminName",
    "admin_id_type": "AdminIDCardType", "admin_id_no": "AdminIDCardNo",
    "admin_id_valid": "AdminIDCardExpDate", "admin_phone": "AdminPhoneNo", "remark": "Remark"}
"""`QualificationDetails` fields and the SDK's parameter names (its spelling kept)."""
QUALIFICATION_PHOTOS = {
    "admin_id_front": "AdminIDCardFrontFace", "admin_id_back": "AdminIDCardPic",
    "legal_id_front": "LegalPersonIdCardFrontSide", "legal_id_back": "LegalPersonIdCardBackSide"}
SUBMIT_REQUIRED = ("QualificationName", "UseBySelf", "WhetherShare", "CertifyCode",
                   "AdminIDCardFrontFace", "AdminIDCardPic",
                   *(v for k, v in QUALIFICATION_TEXT.items() if k != "remark"))
"""What SubmitSmsQualification requires ("This parameter is required." in the SDK)."""
UPDATE_REQUIRED = ("AdminPhoneNo", "CertifyCode")
RECORD_STATE_NAMES = {v: k for k, v in qualifications.RECORD_STATES.items()}


def _flag(ctx: ActionContext, name: str, default: bool | None) -> bool | Refusal | None:
    raw = ctx.params.get(name, "")
    if raw == "":
        return default
    if raw.lower() not in ("true", "false"):
        return Refusal("isv.INVALID_PARAMETERS", f"{name} must be true or false")
    return raw.lower() == "true"


def _documents(ctx: ActionContext, base: QualificationDetails | None,
               ) -> tuple[tuple[str, str], ...] | Refusal:
    """The document references: those given replace the base's of the same role."""
    given: list[tuple[str, str]] = [(role, ctx.params[wire])
                                    for role, wire in QUALIFICATION_PHOTOS.items()
                                    if ctx.params.get(wire)]
    for wire in ("BusinessLicensePics", "OtherFiles"):
        if not ctx.params.get(wire):
            continue
        items = _json_list(ctx.params[wire], wire)
        if isinstance(items, Refusal):
            return items
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("LicensePic"), str):
                return Refusal("isv.INVALID_PARAMETERS",
                               f"{wire} items must be objects with a LicensePic")
            role = f"business_license:{item.get('Type') or ''}" if wire != "OtherFiles" \
                else "other"
            given.append((role, item["LicensePic"]))
    replaced = {role.split(":")[0] for role, _ in given}
    kept = [d for d in (base.documents if base else ()) if d[0].split(":")[0] not in replaced]
    return (*kept, *given)


def _qualification_details(ctx: ActionContext, base: QualificationDetails | None,
                           ) -> QualificationDetails | Refusal:
    """The details a Submit (no base) or an Update (over the base) states, checked."""
    for name in SUBMIT_REQUIRED if base is None else UPDATE_REQUIRED:
        if not ctx.params.get(name):
            return Refusal("MissingParameter", name)
    for_self = _flag(ctx, "UseBySelf", base.for_self if base else None)
    share = _flag(ctx, "WhetherShare", base.share if base else None)
    documents = _documents(ctx, base)
    refusal = first_refusal(for_self, share, documents)
    if refusal:
        return refusal
    assert isinstance(for_self, bool) and isinstance(share, bool)
    assert not isinstance(documents, Refusal)
    text = {k: ctx.params.get(v) or (getattr(base, k) if base else "")
            for k, v in QUALIFICATION_TEXT.items()}
    text["admin_phone"] = qualifications.admin_phone(text["admin_phone"])
    details = QualificationDetails(
        base.name if base else ctx.params["QualificationName"], QualificationKind.ENTERPRISE,
        for_self, share=share, documents=documents, **text)
    found = qualifications.problems(details)
    return Refusal("isv.QUALIFICATION_INVALID", "; ".join(found)) if found else details


async def _own_qualification(ctx: ActionContext, order_required: bool,
                             ) -> Qualification | Refusal:
    """The account's qualification QualificationGroupId names (and OrderId, its current
    review ticket, when given); another account's is as unknown as a missing one."""
    group = ctx.integer("QualificationGroupId", 1, 2**63 - 1)
    order = ctx.integer("OrderId", 1, 2**63 - 1, default=None if order_required else 0)
    refusal = first_refusal(group, order)
    if refusal:
        return refusal
    assert isinstance(group, int) and isinstance(order, int)
    found = await ctx.services.store.qualification(ctx.account.id, group)
    if found is None:
        return Refusal("isv.QUALIFICATION_NOT_EXIST", f"QualificationGroupId {group}")
    if order and order != found.order_id:
        return Refusal("isv.QUALIFICATION_NOT_EXIST",
                       f"OrderId {order} is not the current review ticket of {group}")
    return found


def _actor(ctx: ActionContext) -> str:
    return ctx.actor or f"account {ctx.account.name}"


async def submit_sms_qualification(ctx: ActionContext) -> Result:
    details = _qualification_details(ctx, None)
    if isinstance(details, Refusal):
        return details
    store = ctx.services.store
    refusal = await _documents_refusal(ctx, [ref for _, ref in details.documents])
    if refusal:
        return refusal
    if await store.qualification_named(ctx.account.id, details.name) is not None:
        return Refusal("isv.QUALIFICATION_NAME_DUPLICATE", details.name)
    made = await store.submit_qualification(ctx.account.id, details, _actor(ctx),
                                            ctx.services.clock.now())
    if made is None:  # a concurrent request took the name (the unique index decides)
        return Refusal("isv.QUALIFICATION_NAME_DUPLICATE", details.name)
    return {"Data": str(made.id), "Success": True}


async def _documents_refusal(ctx: ActionContext, references: list[str]) -> Refusal | None:
    """Document references must be keys of files the account uploaded
    (docs/compliance.md "Document uploads")."""
    found = await documents.reference_problems(ctx.services.store, ctx.account.id, references)
    return Refusal("isv.DOCUMENT_NOT_UPLOADED", "; ".join(found)) if found else None


async def get_qualification_oss_info(ctx: ActionContext) -> Result:
    """An upload policy for the account's documents (docs/compliance.md "Document
    uploads"): POST them to `Host` under `StartPath` before naming them in an action."""
    biz = ctx.required("BizType")
    if isinstance(biz, Refusal):
        return biz
    if biz != documents.BIZ_TYPE:
        return Refusal("isv.INVALID_PARAMETERS", f"BizType must be {documents.BIZ_TYPE}")
    config = ctx.services.uploads
    if config is None:
        return Refusal("InvalidApi.NotFound", "this platform takes no uploads")
    host = config.host or f"http://{ctx.host}{documents.UPLOAD_PATH}"
    policy = documents.issue(config, ctx.account.id, ctx.services.clock.now(), host)
    return {"Success": True, "Data": policy.wire()}


async def query_sms_qualification_record(ctx: ActionContext) -> Result:
    number = ctx.integer("PageNo", 1, 1_000_000, 1)
    size = ctx.integer("PageSize", 1, 50, 10)
    order = ctx.integer("WorkOrderId", 1, 2**63 - 1, 0)
    for_self = _flag(ctx, "UseBySelf", None)
    state_name = ctx.params.get("State", "")
    if state_name and state_name not in RECORD_STATE_NAMES:
        return Refusal("isv.INVALID_PARAMETERS",
                       "State must be INIT, PASS, NOT_PASS, NOT_FINISH or CANCEL")
    state = RECORD_STATE_NAMES.get(state_name)
    refusal = first_refusal(number, size, order, for_self)
    if refusal:
        return refusal
    assert isinstance(number, int) and isinstance(size, int) and isinstance(order, int)
    assert not isinstance(for_self, Refusal)
    if state_name == "CANCEL":  # deleted qualifications are gone
        return {"Success": True, "Data": {"List": [], "PageNo": number, "PageSize": size,
                                          "Total": 0}}
    where = qualifications.QualificationFilter(
        name=ctx.params.get("QualificationGroupName") or None,
        company_name=ctx.params.get("CompanyName") or None,
        legal_person_name=ctx.params.get("LegalPersonName") or None,
        state=state, for_self=for_self, order_id=order or None)
    total, shown = await ctx.services.store.page_qualifications(
        ctx.account.id, where, (number - 1) * size, size)
    return {"Success": True, "Data": {"PageNo": number, "PageSize": size, "Total": total,
                                      "List": [{
        "GroupId": q.id, "QualificationGroupName": q.details.name,
        "CompanyName": q.details.company_name, "LegalPersonName": q.details.legal_person_name,
        "StateName": qualifications.RECORD_STATES[q.state],
        "UseBySelf": "true" if q.details.for_self else "false", "WorkOrderId": q.order_id,
        "CreateDate": china_text(q.created_at), "AuditRemark": q.reason,
        "AuditTime": china_text(q.reviewed_at) if q.reviewed_at else ""} for q in shown]}}


async def query_single_sms_qualification(ctx: ActionContext) -> Result:
    q = await _own_qualification(ctx, order_required=False)
    if isinstance(q, Refusal):
        return q
    d = q.details
    docs = dict(d.documents)
    return {"Success": True, "Data": {
        "QualificationGroupId": q.id, "QualificationName": d.name, "WorkOrderId": q.order_id,
        "State": qualifications.SINGLE_STATES[q.state], "UseBySelf": d.for_self,
        "WhetherShare": d.share, "Remark": d.remark, "CompanyType": d.company_type,
        **{wire: getattr(d, k) for k, wire in QUALIFICATION_TEXT.items() if k != "remark"},
        "EffTimeStr": d.license_valid,
        **{wire: docs.get(role, "") for role, wire in QUALIFICATION_PHOTOS.items()},
        "BusinessLicensePics": [{"LicensePic": ref, "PicUrl": ref,
                                 "Type": role.partition(":")[2]}
                                for role, ref in d.documents
                                if role.startswith("business_license")],
        "OtherFiles": [{"LicensePic": ref, "PicUrl": ref}
                       for role, ref in d.documents if role == "other"]}}


async def update_sms_qualification(ctx: ActionContext) -> Result:
    q = await _own_qualification(ctx, order_required=True)
    if isinstance(q, Refusal):
        return q
    if q.state not in qualifications.UPDATABLE:
        return Refusal("isv.QUALIFICATION_STATE_ILLEGAL",
                       f"qualification {q.id} is {qualifications.RECORD_STATES[q.state]}")
    details = _qualification_details(ctx, q.details)
    if isinstance(details, Refusal):
        return details
    kept = {ref for _, ref in q.details.documents}  # accepted before: not checked again
    refusal = await _documents_refusal(ctx, [ref for _, ref in details.documents
                                             if ref not in kept])
    if refusal:
        return refusal
    await ctx.services.store.update_qualification(q.id, details, _actor(ctx),
                                                  ctx.services.clock.now())
    return {"Data": str(q.id), "Success": True}


async def delete_sms_qualification(ctx: ActionContext) -> Result:
    q = await _own_qualification(ctx, order_required=True)
    if isinstance(q, Refusal):
        return q
    store = ctx.services.store
    using = await store.signatures_using(q.id)
    if using:
        return Refusal("isv.QUALIFICATION_IN_USE", f"{using} signature(s)")
    await store.delete_qualification(q.id, _actor(ctx), ctx.services.clock.now())
    return {"Data": True, "Success": True}


# Letters of authorization (委托授权书; docs/compliance.md "Authorization letters")


LETTER_FIELDS = {"name": "AuthorizationLetterName", "authorizing": "Authorization",
                 "organization_code": "OrganizationCode", "authorized": "ProxyAuthorization",
                 "valid": "AuthorizationLetterExpDate", "document": "AuthorizationLetterPic"}
"""`LetterDetails` fields and the SDK's parameter names; all required, and SignList."""


async def create_sms_authorization_letter(ctx: ActionContext) -> Result:
    for name in (*LETTER_FIELDS.values(), "SignList"):
        if not ctx.params.get(name):
            return Refusal("MissingParameter", name)
    signs = _json_list(ctx.params["SignList"], "SignList")
    if isinstance(signs, Refusal):
        return signs
    if not all(isinstance(sign, str) for sign in signs):
        return Refusal("isv.AUTHORIZATION_LETTER_INVALID", "SignList must hold names")
    details = LetterDetails(signs=tuple(signs), **{
        k: ctx.params[v] for k, v in LETTER_FIELDS.items()})
    now = ctx.services.clock.now()
    found = letters.problems(details, china_today(now))
    if found:
        return Refusal("isv.AUTHORIZATION_LETTER_INVALID", "; ".join(found))
    store = ctx.services.store
    refusal = await _documents_refusal(ctx, [details.document])
    if refusal:
        return refusal
    if await store.letter_named(ctx.account.id, details.name) is not None:
        return Refusal("isv.AUTHORIZATION_LETTER_NAME_DUPLICATE", details.name)
    made = await store.create_letter(ctx.account.id, details, now)
    if made is None:  # a concurrent request took the name
        return Refusal("isv.AUTHORIZATION_LETTER_NAME_DUPLICATE", details.name)
    return {"Data": str(made.id), "Success": True}


async def query_sms_authorization_letter(ctx: ActionContext) -> Result:
    state, status = ctx.params.get("State", ""), ctx.params.get("Status", "")
    if state and state not in letters.STATES:
        return Refusal("isv.INVALID_PARAMETERS", "State must be INT or PASSED")
    if status and status not in letters.STATUSES:
        return Refusal("isv.INVALID_PARAMETERS", "Status must be VALID or INVALID")
    ids: tuple[int, ...] | None = None
    if ctx.params.get("AuthorizationLetterIdList"):
        listed = _json_list(ctx.params["AuthorizationLetterIdList"], "AuthorizationLetterIdList")
        if isinstance(listed, Refusal):
            return listed
        if len(listed) > letters.MAX_IDS or not all(
                isinstance(i, int) and not isinstance(i, bool) and 1 <= i < 2**63
                for i in listed):
            return Refusal("isv.INVALID_PARAMETERS", "AuthorizationLetterIdList must hold "
                           f"at most {letters.MAX_IDS} ids (whole numbers from 1)")
        ids = tuple(listed)
    store = ctx.services.store
    where = letters.LetterFilter(ids=ids,
                                 organization_code=ctx.params.get("OrganizationCode") or None,
                                 sign_name=ctx.params.get("SignName") or None)
    found = await store.letters(ctx.account.id, where)
    approved = await store.approved_sign_names(ctx.account.id) if found else set()
    today = china_today(ctx.services.clock.now())
    rows = [(letter, letters.state(letter, approved), letters.status(letter, today))
            for letter in found]
    return {"Success": True, "Data": [{
        "AuthorizationLetterId": letter.id,
        **{wire: getattr(letter.details, k) for k, wire in LETTER_FIELDS.items()},
        "SignScope": "、".join(letter.details.signs), "State": row_state, "Status": row_status}
        for letter, row_state, row_status in rows
        if (not state or row_state == state) and (not status or row_status == status)]}



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
    "CreateSmsSign": create_sms_sign,
    "UpdateSmsSign": update_sms_sign,
    "GetSmsSign": get_sms_sign,
    "ChangeSignatureQualification": change_signature_qualification,
    "AddSmsTemplate": add_sms_template,
    "ModifySmsTemplate": modify_sms_template,
    "DeleteSmsTemplate": delete_sms_template,
    "QuerySmsTemplate": query_sms_template,
    "QuerySmsTemplateList": query_sms_template_list,
    "CreateSmsTemplate": create_sms_template,
    "UpdateSmsTemplate": update_sms_template,
    "GetSmsTemplate": get_sms_template,
    "GetSmsTemplateList": get_sms_template_list,
    "ReceivePushItems": receive_push_items,
    "DeletePushItems": delete_push_items,
    "SubmitSmsQualification": submit_sms_qualification,
    "QuerySmsQualificationRecord": query_sms_qualification_record,
    "QuerySingleSmsQualification": query_single_sms_qualification,
    "UpdateSmsQualification": update_sms_qualification,
    "DeleteSmsQualification": delete_sms_qualification,
    "CreateSmsAuthorizationLetter": create_sms_authorization_letter,
    "QuerySmsAuthorizationLetter": query_sms_authorization_letter,
    "GetQualificationOssInfo": get_qualification_oss_info,
}

SENDING = frozenset({"SendSms", "SendBatchSms"})
"""Actions that record the request's nonce in the transaction accepting their messages."""
READS = frozenset({"QuerySendDetails", "QuerySendStatistics", "QuerySmsSign", "GetSmsSign",
                   "QuerySmsSignList", "QuerySmsTemplate", "QuerySmsTemplateList",
                   "QuerySmsQualificationRecord", "QuerySingleSmsQualification",
                   "GetSmsTemplate", "GetSmsTemplateList", "QuerySmsAuthorizationLetter",
                   "GetQualificationOssInfo"})
"""Actions that change nothing: their nonce need not be durable before the answer
(storage/nonces.py)."""
