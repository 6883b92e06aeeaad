"""What blocks a signature, per carrier, and what to do next (docs/compliance.md "What blocks
a signature"; docs/domain.md: the platform tells the user, per signature, what is missing
and what to do next).

A pure function of what the store holds: the signature, the qualification bound to it, and
its registration rows (one per sub-port, `domain/registration.py`). For each carrier it
names one cause, the first that applies:

1. the signature itself is under review or rejected (no carrier is asked before approval);
2. the carrier accepts it: registered (nothing blocks), or registered and awaiting
   verification (it sends; a few deliveries to that carrier's numbers verify it);
3. the carrier's registration is under way (since when, answer expected by when), failed
   (with the carrier's reasons), or lapsed (six months without a send);
4. nothing was filed: because there is no qualification, it is under review, rejected,
   incomplete, or an individual's for own use (which can never be registered); else because
   registration has not been started.

Every cause has its words in Chinese and English and the next step. Read by the REST route
`GET /v1/signatures/{name}/status` and `yizhan signs status`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from yizhan.compliance.qualifications import problems
from yizhan.domain.model import (
    Qualification,
    QualificationKind,
    ReviewState,
    Signature,
)
from yizhan.domain.registration import (
    REASONS,
    CarrierRegistration,
    Isp,
    RegistrationState,
    SubPortRegistration,
    by_carrier,
)
from yizhan.domain.timezone import CHINA


class Cause(StrEnum):
    SIGNATURE_PENDING = "signature_pending"
    SIGNATURE_REJECTED = "signature_rejected"
    REGISTERED = "registered"
    AWAITING_VERIFICATION = "awaiting_verification"
    REGISTERING = "registering"
    FAILED = "failed"
    LAPSED = "lapsed"
    NO_QUALIFICATION = "no_qualification"
    QUALIFICATION_PENDING = "qualification_pending"
    QUALIFICATION_REJECTED = "qualification_rejected"
    QUALIFICATION_INCOMPLETE = "qualification_incomplete"
    PERSONAL_OWN_USE = "personal_own_use"
    NOT_STARTED = "not_started"


SENDS = frozenset({Cause.REGISTERED, Cause.AWAITING_VERIFICATION})
"""Causes under which the carrier takes the signature's messages."""

# cause -> (what stops it, zh / en; the next step, zh / en). `{...}` fields: `since`, `due`
# (dates, China time), `reasons` (the carrier's reasons, in the language), `remark` (the
# operator's reason).
TEXTS: dict[Cause, tuple[str, str, str, str]] = {
    Cause.SIGNATURE_PENDING: (
        "签名审核中，审核通过前不会向运营商报备",
        "the signature is under review; it is registered with the carriers once approved",
        "等待审核结果", "wait for the review"),
    Cause.SIGNATURE_REJECTED: (
        "签名未通过审核：{remark}", "the signature was rejected: {remark}",
        "按驳回原因修改签名后重新提交",
        "change the signature as the reason says and submit it again"),
    Cause.REGISTERED: (
        "已报备并验证，可正常发送", "registered and verified: nothing blocks it",
        "无需操作", "nothing to do"),
    Cause.AWAITING_VERIFICATION: (
        "运营商已报备成功，待发送验证", "registered by the carrier, awaiting verification",
        "用该运营商的手机号少量多次发送几条短信，成功后即完成验证",
        "send a few messages to numbers of this carrier; successful deliveries verify it"),
    Cause.REGISTERING: (
        "报备中：{since} 提交，预计 {due} 前答复",
        "registering: filed {since}, the carrier's answer expected by {due}",
        "等待运营商审核（通常5-7个工作日，部分需7-10个工作日），期间避免批量发送",
        "wait for the carrier (usually 5-7 working days, some take 7-10); avoid bulk sends "
        "meanwhile"),
    Cause.FAILED: (
        "报备失败：{reasons}", "registration failed: {reasons}",
        "按失败原因修正资质或签名（或更换签名），然后重新发起报备",
        "correct the qualification or the signature as the reasons say (or use another "
        "signature), then start the registration again"),
    Cause.LAPSED: (
        "报备已失效：签名超过6个月无发送记录", "lapsed: no send with the signature for six months",
        "重新发起报备，报备成功后再发送",
        "start the registration again and send once it is registered"),
    Cause.NO_QUALIFICATION: (
        "签名未关联资质，无法报备", "no qualification is bound to the signature: it cannot be "
        "registered",
        "提交企业资质并审核通过后，将其关联到签名（ChangeSignatureQualification），即自动发起报备",
        "submit an enterprise qualification, have it approved and bind it to the signature "
        "(ChangeSignatureQualification); registration then starts by itself"),
    Cause.QUALIFICATION_PENDING: (
        "关联的资质审核中", "the bound qualification is under review",
        "等待资质审核通过，通过后发起报备", "wait for the qualification's approval, then start "
        "the registration"),
    Cause.QUALIFICATION_REJECTED: (
        "关联的资质未通过审核：{remark}", "the bound qualification was rejected: {remark}",
        "按驳回原因修改资质（UpdateSmsQualification），审核通过后发起报备",
        "correct the qualification as the reason says (UpdateSmsQualification); once "
        "approved, start the registration"),
    Cause.QUALIFICATION_INCOMPLETE: (
        "关联资质信息不全", "the bound qualification is incomplete",
        "补全资质信息（企业、法定代表人、管理员及证件材料），审核通过后发起报备",
        "complete the qualification (company, legal person, administrator and their "
        "documents); once approved, start the registration"),
    Cause.PERSONAL_OWN_USE: (
        "个人认证的自用资质无法通过实名制报备",
        "an individual's qualification for own use can never be registered",
        "申请他用资质，或将账号升级为企业认证后提交企业资质",
        "apply for a qualification for others, or upgrade the account to an enterprise one "
        "and submit an enterprise qualification"),
    Cause.NOT_STARTED: (
        "未发起报备", "registration has not been started",
        "发起报备（yizhan signs register 或控制台），等待运营商审核（约5-7个工作日）",
        "start the registration (`yizhan signs register`, or the console) and wait for the "
        "carrier (about 5-7 working days)"),
}


@dataclass(frozen=True, slots=True)
class CarrierStatus:
    """What stops the signature sending on one carrier now, and what to do."""

    isp: Isp
    cause: Cause
    state: RegistrationState
    """The carrier's registration state (GetSmsSign's RegisterStatus)."""
    reasons: tuple[str, ...]
    """The SDK's reason codes (`domain.registration.REASONS`)."""
    since: datetime | None
    due: datetime | None
    zh: str
    en: str
    next_zh: str
    next_en: str

    @property
    def blocked(self) -> bool:
        return self.cause not in SENDS


def status_json(status: CarrierStatus) -> dict[str, object]:
    """One carrier's status as the REST API and `yizhan signs status --json` show it."""
    return {"carrier": status.isp.value, "blocked": status.blocked,
            "cause": status.cause.value, "register_status": int(status.state),
            "reasons": list(status.reasons),
            "since": status.since.isoformat() if status.since else None,
            "due": status.due.isoformat() if status.due else None,
            "message_zh": status.zh, "message_en": status.en,
            "next_step_zh": status.next_zh, "next_step_en": status.next_en}


def signature_status(signature: Signature, qualification: Qualification | None,
                     rows: Sequence[SubPortRegistration]) -> list[CarrierStatus]:
    """Per carrier (mobile, unicom, telecom), what stops `signature` now (module doc).
    `qualification` is the one bound to it (None: none, or deleted)."""
    carriers = by_carrier(rows, "UNBINDING_QUA" if qualification is None else "NON_REGISTER")
    return [_status(c, signature, qualification) for c in carriers]


def _status(carrier: CarrierRegistration, signature: Signature,
            qualification: Qualification | None) -> CarrierStatus:
    cause = _cause(carrier, signature, qualification)
    chosen = [r for r in carrier.sub_ports if r.state == carrier.state]
    since = min((r.requested_at for r in chosen if r.requested_at), default=None)
    due = max((r.due_at for r in chosen if r.due_at), default=None)
    reasons = carrier.reasons if cause in (Cause.FAILED, Cause.LAPSED) else ()
    remark = (signature.reason if cause is Cause.SIGNATURE_REJECTED else
              qualification.reason if qualification is not None else "") or "-"
    zh, en, next_zh, next_en = TEXTS[cause]
    fields = dict(since=_date(since), due=_date(due), remark=remark)
    return CarrierStatus(
        carrier.isp, cause, carrier.state, carrier.reasons, since, due,
        zh.format(**fields, reasons=_reasons(reasons, 0, chosen)),
        en.format(**fields, reasons=_reasons(reasons, 1, chosen)),
        next_zh, next_en)


def _cause(carrier: CarrierRegistration, signature: Signature,
           qualification: Qualification | None) -> Cause:
    if signature.state is ReviewState.PENDING:
        return Cause.SIGNATURE_PENDING
    if signature.state is not ReviewState.APPROVED:
        return Cause.SIGNATURE_REJECTED
    state = carrier.state
    if state is not RegistrationState.NOT_REGISTERED:
        return _REGISTRATION_CAUSES[state]
    if qualification is None:
        return Cause.NO_QUALIFICATION
    if qualification.details.kind is QualificationKind.PERSONAL and qualification.details.for_self:
        return Cause.PERSONAL_OWN_USE
    if qualification.state is ReviewState.PENDING:
        return Cause.QUALIFICATION_PENDING
    if qualification.state is not ReviewState.APPROVED:
        return Cause.QUALIFICATION_REJECTED
    if problems(qualification.details):
        return Cause.QUALIFICATION_INCOMPLETE
    return Cause.NOT_STARTED


_REGISTRATION_CAUSES = {
    RegistrationState.REGISTERED: Cause.REGISTERED,
    RegistrationState.AWAITING_VERIFICATION: Cause.AWAITING_VERIFICATION,
    RegistrationState.REGISTERING: Cause.REGISTERING,
    RegistrationState.FAILED: Cause.FAILED,
    RegistrationState.LAPSED: Cause.LAPSED,
}


def _date(at: datetime | None) -> str:
    return at.astimezone(CHINA).strftime("%Y-%m-%d") if at is not None else "-"


def _reasons(codes: Sequence[str], language: int,
             rows: Sequence[SubPortRegistration]) -> str:
    """The carrier's reasons in one language, with its own words when it gave any."""
    words = [REASONS[c][language] if c in REASONS else c for c in codes]
    details = list(dict.fromkeys(r.detail for r in rows if r.detail))
    return "; ".join(words + details) or "-"
