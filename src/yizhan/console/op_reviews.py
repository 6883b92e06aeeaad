"""The operator's review queues (docs/console.md "Operator: review"): what `yizhan review
queue` lists and `yizhan qualifications|signs|templates approve|reject` decide, from the
console, and the carrier registration of approved signatures (`yizhan signs register`,
`registration`, `registration-answer`).

    GET  /console/review?kind=                       waiting, oldest first, with its content
    GET  /console/review/document?account=&key=     a document a waiting item names
    POST /console/review/qualification/{id}/{approve|reject|incomplete}
    POST /console/review/signature/{id}/{approve|reject}
    POST /console/review/template/{code}/{approve|reject}
    GET  /console/registrations                      approved signatures, per carrier
    POST /console/registrations/{id}/register        file again what is not filed
    POST /console/registrations/{id}/answer          a carrier's answer on a channel

The queue is `compliance.review.waiting`, as the CLI's; a qualification's decision is
`compliance.review.decide_qualification` (its letter check, the registrations an approval
starts); a signature's and a template's are the store's audited `review_signature` and
`review_template`, a signature's approval starting its registration as the CLI's does. Only
an item under review is decided here. A rejection needs a reason: the tenant reads it where
the API answers it (QuerySmsSign, QuerySmsTemplate, the qualification's AuditRemark, the
review push). Only an operator: a tenant gets 403 on every page and form. Every decision is
audited twice: in the review's own trail (`review_decisions`, as `console <login>`) and in
`console_audit`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import FormData
from starlette.responses import RedirectResponse, Response

from yizhan.compliance.blocking import signature_status
from yizhan.compliance.registration import CARRIER_REFUSALS, Started
from yizhan.console import i18n
from yizhan.console.op_accounts import actor, text
from yizhan.console.pages import PREFIX, OperatorDep, Viewer, console_of, form_of, render
from yizhan.domain.errors import Refusal
from yizhan.domain.model import AccountId, Qualification, ReviewState, Signature, Template
from yizhan.domain.registration import REASONS, Answer, RegistrationState
from yizhan.domain.timezone import china_text
from yizhan.policy import review
from yizhan.policy.templates import Severity

router = APIRouter(prefix=PREFIX, include_in_schema=False)
HOME = f"{PREFIX}/review"
REASON_CHARS = 500
"""The longest reason (and carrier's words) a form takes."""
SHOWN = 200
"""The most waiting items the page shows at once, the oldest."""
DECISIONS = {"approve": ReviewState.APPROVED, "reject": ReviewState.REJECTED,
             "incomplete": ReviewState.INCOMPLETE}

i18n.add({
    "rev_queue": ("Review", "审核"),
    "rev_title": ("Waiting for review, oldest first", "待审核（最早的在前）"),
    "rev_all": ("All", "全部"),
    "rev_kind_qualification": ("Qualifications", "资质"),
    "rev_kind_signature": ("Signatures", "签名"),
    "rev_kind_template": ("Templates", "模板"),
    "rev_one_qualification": ("Qualification", "资质"),
    "rev_one_signature": ("Signature", "签名"),
    "rev_one_template": ("Template", "模板"),
    "rev_since": ("Waiting since", "提交时间"),
    "rev_empty": ("Nothing is waiting.", "没有待审核的内容。"),
    "rev_approve": ("Approve", "通过"),
    "rev_reject": ("Reject", "驳回"),
    "rev_incomplete": ("Ask for more material", "要求补充材料"),
    "rev_reason": ("Reason (shown to the tenant)", "原因（租户可见）"),
    "rev_need_reason": ("A rejection needs a reason (at most {n} characters), shown to the "
                        "tenant.", "驳回须填写原因（最多 {n} 个字符），租户可见。"),
    "rev_not_pending": ("{name} is not under review any more.", "{name} 已不在审核中。"),
    "rev_needs_letter": ("{name} is for others (他用): the account needs a valid letter of "
                         "authorization from {code} before it can be approved.",
                         "{name} 为他用资质：账户须先提交 {code} 的有效委托授权书，才能通过。"),
    "rev_decided": ("{name}: {state}.", "{name}：{state}。"),
    "rev_state_approved": ("approved", "已通过"),
    "rev_state_rejected": ("rejected", "已驳回"),
    "rev_state_incomplete": ("more material asked for", "已要求补充材料"),
    "rev_registration_started": ("Carrier registration: {text}", "运营商报备：{text}"),
    "rev_filed": ("filed on {n} sub-port(s)", "已在 {n} 个子端口提交"),
    "rev_held": ("not filed ({reason})", "未提交（{reason}）"),
    "rev_company": ("Company", "企业名称"),
    "rev_credit_code": ("Unified social credit code", "统一社会信用代码"),
    "rev_kind": ("Kind", "类型"),
    "rev_use": ("Use", "用途"),
    "rev_for_self": ("own use (自用)", "自用"),
    "rev_for_others": ("for others (他用)", "他用"),
    "rev_legal_person": ("Legal person", "法人"),
    "rev_admin": ("Administrator", "经办人"),
    "rev_licence_valid": ("Licence valid", "营业执照有效期"),
    "rev_documents": ("Documents", "材料"),
    "rev_not_uploaded": ("not uploaded", "未上传"),
    "rev_source": ("Source", "来源"),
    "rev_remark": ("Remark", "说明"),
    "rev_scene": ("Scene", "使用场景"),
    "rev_qualification": ("Qualification", "关联资质"),
    "rev_type": ("Type", "类型"),
    "rev_findings": ("The review linter", "审核检查"),
    "rev_refuses": ("refuses", "拒绝"),
    "rev_warns": ("warning", "提示"),
    "rev_clean": ("Nothing found.", "未发现问题。"),
    "rev_registrations": ("Carrier registration", "运营商报备"),
    "rev_registrations_note": ("Approved signatures and each carrier's registration; "
                               "registering files again what is neither registering nor "
                               "registered.",
                               "已通过的签名及各运营商报备状态；“报备”只提交尚未报备、"
                               "也不在报备中的子端口。"),
    "rev_register": ("Register", "报备"),
    "rev_no_plan": ("No channel of the plan files registrations.",
                    "通道配置中没有用于报备的通道。"),
    "rev_answer": ("Record the carrier's answer", "登记运营商回复"),
    "rev_channel": ("Channel", "通道"),
    "rev_sub_port": ("Sub-port", "子端口"),
    "rev_answer_is": ("Answer", "回复"),
    "rev_registered": ("registered", "报备成功"),
    "rev_carrier_words": ("The carrier's words (shown to the tenant)", "运营商原话（租户可见）"),
    "rev_not_registering": ("That sub-port is not registering.", "该子端口不在报备中。"),
    "rev_no_registration": ("Carrier registration is not set up on this server.",
                            "本服务未配置运营商报备。"),
    "rev_no_signatures": ("No approved signature.", "暂无已通过的签名。"),
})


def _reason(form: FormData) -> str:
    return text(form, "reason", REASON_CHARS)


def _kind(raw: str) -> review.Kind | None:
    return next((k for k in review.Kind if k.value == raw), None)


@router.get("/review")
async def queue(request: Request, who: OperatorDep, kind: str = "") -> Response:
    return await _queue(request, who, _kind(kind))


async def _queue(request: Request, who: Viewer, kind: review.Kind | None, *, error: str = "",
                 notice: str = "", status: int = 200) -> Response:
    store = console_of(request).store
    names = {a.id: a.name for a in await store.list_accounts()}
    found = (await review.waiting(store, kind))[:SHOWN]
    qualifications = {str(q.id): q for q in await store.list_qualifications(
        state=ReviewState.PENDING)} if kind in (None, review.Kind.QUALIFICATION) else {}
    signatures = {str(s.id): s for s in await store.list_signatures()} \
        if kind in (None, review.Kind.SIGNATURE) else {}
    templates = {str(t.code): t for t in await store.list_templates()} \
        if kind in (None, review.Kind.TEMPLATE) else {}
    every = {q.id: q for q in await store.list_qualifications()} if signatures else {}
    items = []
    for w in found:
        item: dict[str, Any] = {"kind": w.kind, "key": w.key, "name": w.name,
                                "account": names.get(w.account_id, str(w.account_id)),
                                "since": china_text(w.since), "findings": [
                                    {"rule": f.rule, "refuses": f.severity is Severity.REFUSE,
                                     "text": f.zh if who.lang == "zh" else f.en}
                                    for f in w.findings or ()]}
        if w.kind == "qualification" and w.key in qualifications:
            item.update(await _qualification(request, qualifications[w.key]))
        elif w.kind == "signature" and w.key in signatures:
            item.update(await _signature(request, signatures[w.key], every))
        elif w.kind == "template" and w.key in templates:
            item.update(_template(templates[w.key]))
        items.append(item)
    return render(request, "op_review.html", who.lang, who, status=status, items=items,
                  kind=kind.value if kind else "", kinds=[k.value for k in review.Kind],
                  error=error, notice=notice, reason_chars=REASON_CHARS)


async def _documents(request: Request, account_id: AccountId,
                     keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
    store = console_of(request).store
    return [{"role": role, "key": key, "account": account_id,
             "uploaded": await store.document(account_id, key) is not None}
            for role, key in keys]


async def _qualification(request: Request, q: Qualification) -> dict[str, Any]:
    d = q.details
    return {"qualification": {
        "company": d.company_name, "code": d.organization_code, "kind": d.kind.value,
        "for_self": d.for_self, "licence_valid": d.license_valid,
        "legal_person": " ".join(filter(None, (d.legal_person_name, d.legal_person_id_type,
                                               d.legal_person_id_no, d.legal_person_id_valid))),
        "admin": " ".join(filter(None, (d.admin_name, d.admin_id_type, d.admin_id_no,
                                        d.admin_id_valid, d.admin_phone))),
        "remark": d.remark},
        "documents": await _documents(request, q.account_id, list(d.documents))}


async def _signature(request: Request, s: Signature,
                     qualifications: dict[int, Qualification]) -> dict[str, Any]:
    q = qualifications.get(s.qualification_id) if s.qualification_id is not None else None
    return {"signature": {
        "scenario": s.scenario.value, "source": s.source, "remark": s.remark,
        "scene": s.details.apply_scene,
        "qualification": f"{q.details.name} (#{q.id}, {q.state.value})" if q else ""},
        "documents": await _documents(request, s.account_id,
                                      [("file", f) for f in s.details.files])}


def _template(t: Template) -> dict[str, Any]:
    return {"template": {"type": t.type.value, "content": t.content, "remark": t.remark,
                         "scene": t.application.apply_scene,
                         "sign": t.application.related_sign_name}}


@router.get("/review/document")
async def document(request: Request, who: OperatorDep, account: int = 0,
                   key: str = "") -> Response:
    """A document's bytes, for the operator to read (as `yizhan qualifications document`);
    sent as an attachment of its checked type (`compliance/documents.py` `sniff`)."""
    console = console_of(request)
    found = await console.store.document(AccountId(account), key[:255])
    files = console.api.uploads.files if console.api.uploads else None
    if found is None or files is None:
        return Response(status_code=404)
    name = key.rsplit("/", 1)[-1]
    return Response(files.file_of(AccountId(account), found.file).read_bytes(),
                    media_type=found.content_type,
                    headers={"Content-Disposition": f'attachment; filename="{name}"',
                             "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


def _started_text(t: Any, started: list[Started]) -> str:
    return "; ".join(f"{s.signature.name}: " + (
        t["rev_held"].format(reason=s.held) if s.held else
        t["rev_filed"].format(n=len(s.filed))) for s in started)


@router.post("/review/{kind}/{key}/{decision}")
async def decide(request: Request, who: OperatorDep, kind: str, key: str,
                 decision: str) -> Response:
    form = await form_of(request, who)
    t, console = i18n.words(who.lang), console_of(request)
    found_kind, state = _kind(kind), DECISIONS.get(decision)
    if (found_kind is None or state is None or (state is ReviewState.INCOMPLETE
                                                 and found_kind is not review.Kind.QUALIFICATION)):
        return await _queue(request, who, None, status=404)
    reason = _reason(form)
    if len(reason) > REASON_CHARS or (state is not ReviewState.APPROVED and not reason):
        return await _queue(request, who, found_kind, status=422,
                            error=t["rev_need_reason"].format(n=REASON_CHARS))
    now, by = console.api.clock.now(), actor(who)
    if found_kind is review.Kind.QUALIFICATION:
        done = await review.decide_qualification(
            console.store, int(key) if key.isdigit() else 0, state, reason, by, now,
            console.api.registration)
        if isinstance(done, tuple):
            return await _refused(request, who, found_kind, *done)
        name, account_id = done.qualification.details.name, done.qualification.account_id
        started = done.registrations
    elif found_kind is review.Kind.SIGNATURE:
        signature = next((s for s in await console.store.list_signatures()
                          if str(s.id) == key), None)
        if signature is None or signature.state is not ReviewState.PENDING:
            return await _not_pending(request, who, found_kind, signature, key)
        decided = await console.api.store.review_signature(signature.id, state, reason, now,
                                                           by)
        assert decided is not None
        name, account_id, started = decided.name, decided.account_id, []
        if console.api.registration is not None and state is ReviewState.APPROVED:
            one = await console.api.registration.on_approved(decided, by)
            started = [one] if one is not None else []
    else:
        template = next((x for x in await console.store.list_templates() if x.code == key),
                        None)
        if template is None or template.state is not ReviewState.PENDING:
            return await _not_pending(request, who, found_kind, template, key)
        await console.api.store.review_template(template.code, state, reason, now, by)
        name, account_id, started = f"{template.name} ({template.code})", template.account_id, []
    await console.store.audit_console(who.session.user, account_id, f"{kind} {state.value}",
                                      f"{key} {name}: {reason}", now)
    notice = t["rev_decided"].format(name=name, state=t["rev_state_" + state.value])
    if started:
        notice += " " + t["rev_registration_started"].format(text=_started_text(t, started))
    return await _queue(request, who, _kind(str(form.get("back", ""))), notice=notice)


async def _not_pending(request: Request, who: Viewer, kind: review.Kind,
                       found: Signature | Template | None, key: str) -> Response:
    if found is None:
        return await _queue(request, who, kind, status=404)
    t = i18n.words(who.lang)
    return await _queue(request, who, kind, status=409,
                        error=t["rev_not_pending"].format(name=found.name))


async def _refused(request: Request, who: Viewer, kind: review.Kind, problem: review.Problem,
                   found: Qualification | None) -> Response:
    t = i18n.words(who.lang)
    if found is None:
        return await _queue(request, who, kind, status=404)
    name = found.details.name
    if problem is review.Problem.NEEDS_LETTER:
        error = t["rev_needs_letter"].format(name=name, code=found.details.organization_code)
        return await _queue(request, who, kind, status=409, error=error)
    if problem is review.Problem.NEEDS_REASON:
        return await _queue(request, who, kind, status=422,
                            error=t["rev_need_reason"].format(n=REASON_CHARS))
    return await _queue(request, who, kind, status=409,
                        error=t["rev_not_pending"].format(name=name))


# carrier registration


@router.get("/registrations")
async def registrations(request: Request, who: OperatorDep) -> Response:
    return await _registrations(request, who)


async def _registrations(request: Request, who: Viewer, *, error: str = "", notice: str = "",
                         status: int = 200) -> Response:
    console = console_of(request)
    store, zh = console.store, who.lang == "zh"
    names = {a.id: a.name for a in await store.list_accounts()}
    qualifications = {q.id: q for q in await store.list_qualifications()}
    shown = []
    for s in await store.list_signatures():
        if s.state is not ReviewState.APPROVED or s.test:
            continue
        rows = await console.api.store.sign_registrations(s.id)
        q = qualifications.get(s.qualification_id) if s.qualification_id is not None else None
        carriers = signature_status(s, q, rows)
        shown.append({
            "id": s.id, "name": s.name, "account": names.get(s.account_id, ""),
            "carriers": [{"isp": c.isp.value, "blocked": c.blocked,
                          "text": c.zh if zh else c.en, "reasons": ", ".join(c.reasons)}
                         for c in carriers],
            "registering": [{"channel": r.channel, "sub_port": r.sub_port,
                             "due": china_text(r.due_at)} for r in rows
                            if r.state is RegistrationState.REGISTERING]})
    return render(request, "op_registrations.html", who.lang, who, status=status,
                  signatures=shown, error=error, notice=notice, refusals=CARRIER_REFUSALS,
                  reasons={code: REASONS[code][0 if zh else 1] for code in CARRIER_REFUSALS
                           if code in REASONS},
                  reason_chars=REASON_CHARS, wired=console.api.registration is not None)


async def _approved(request: Request, signature_id: int) -> Signature | None:
    found = next((s for s in await console_of(request).store.list_signatures()
                  if s.id == signature_id), None)
    return found if found is not None and found.state is ReviewState.APPROVED else None


@router.post("/registrations/{signature_id}/{action}")
async def register(request: Request, who: OperatorDep, signature_id: int,
                   action: str) -> Response:
    form = await form_of(request, who)
    t, console = i18n.words(who.lang), console_of(request)
    signature = await _approved(request, signature_id)
    if signature is None or action not in ("register", "answer"):
        return await _registrations(request, who, status=404)
    service = console.api.registration
    if service is None:
        return await _registrations(request, who, status=409, error=t["rev_no_registration"])
    now, by = console.api.clock.now(), actor(who)
    if action == "register":
        started = await service.start(signature, by, only_missing=True)
        if isinstance(started, Refusal):
            return await _registrations(request, who, status=409, error=started.message())
        await console.store.audit_console(who.session.user, signature.account_id,
                                          "registration", signature.name, now)
        return RedirectResponse(f"{PREFIX}/registrations", 303)
    channel, outcome = text(form, "channel", 64), str(form.get("answer", ""))
    detail = _reason(form)
    if outcome != "registered" and outcome not in CARRIER_REFUSALS:
        return await _registrations(request, who, status=422, error=t["rev_not_registering"])
    if len(detail) > REASON_CHARS:
        return await _registrations(request, who, status=422,
                                    error=t["rev_need_reason"].format(n=REASON_CHARS))
    registered = outcome == "registered"
    row = await service.record_answer(
        signature, channel, Answer(0, registered, () if registered else (outcome,), detail), by)
    if row is None:
        return await _registrations(request, who, status=409, error=t["rev_not_registering"])
    await console.store.audit_console(who.session.user, signature.account_id,
                                      "registration answer",
                                      f"{signature.name} on {channel}: {outcome} {detail}", now)
    return RedirectResponse(f"{PREFIX}/registrations", 303)
