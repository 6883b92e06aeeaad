"""The verdicts: what happened to a message, on whose side, and what to do, in Chinese and
English, for each cause the trail can prove (docs/diagnosis.md "Verdicts").

A verdict is chosen by the record's code (a policy refusal's `isv.*` code, or the carrier's
receipt code as the channel classified it), then by its status; the texts are templates
filled with the facts gathered (`gather.Facts`): the limit and the time a frequency window
frees, the blacklist or opt-out entry with its source and date, the registration of the
signature on the carrier that refused it. Where the FAQ tenants read has words for a cause,
the texts use them (the Chinese is the FAQ's own).

Consumes `Facts`; hands a `Verdict` to `inquiry.py`, which puts it with the facts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from yizhan.diagnosis.gather import Facts
from yizhan.diagnosis.moment import StateThen
from yizhan.domain.codes import SIGN_NOT_REGISTERED
from yizhan.domain.errors import REGISTRY
from yizhan.domain.model import MessageStatus
from yizhan.domain.registration import RegistrationState
from yizhan.domain.timezone import china_text


class Side(StrEnum):
    """Whose side a cause lies on."""

    TENANT = "tenant"
    """The tenant's configuration: signature, template, content, balance, registrations."""
    PLATFORM = "platform"
    """A platform rule: frequency control, blacklist, opt-outs, promotion hours, segments."""
    CARRIER = "carrier"
    """The carrier: its interception, blacklist, registration, or its silence."""
    HANDSET = "handset"
    """The recipient's handset or its owner: off, out of coverage, full, suspended."""
    NONE = "none"
    """Nothing went wrong (delivered) or nothing is decided yet (on its way)."""


SIDES_ZH = {Side.TENANT: "租户配置", Side.PLATFORM: "平台规则", Side.CARRIER: "运营商",
            Side.HANDSET: "用户终端", Side.NONE: "无"}


@dataclass(frozen=True, slots=True)
class Verdict:
    cause: str
    """A short name of the cause (`flow_control`, `carrier_blacklist`, ...): what tests and
    the console key on."""
    side: Side
    what_en: str
    what_zh: str
    todo_en: str
    todo_zh: str


@dataclass(frozen=True, slots=True)
class Wording:
    """A verdict's texts; `{placeholders}` are filled from the facts (`_values`)."""

    cause: str
    side: Side
    what_en: str
    what_zh: str
    todo_en: str
    todo_zh: str

    def fill(self, values: Mapping[str, str], side: Side | None = None) -> Verdict:
        return Verdict(self.cause, side or self.side, self.what_en.format_map(values),
                       self.what_zh.format_map(values), self.todo_en.format_map(values),
                       self.todo_zh.format_map(values))


FLOW_CONTROL = Wording(
    "flow_control", Side.PLATFORM,
    "Frequency control (流控) refused the number: {reason}. The platform limits how many "
    "messages one number receives from one signature, to stop abuse.{whitelist}",
    "触发流控限制，短信发送失败：{reason}。为防止短信被恶意调用，平台对同一号码的发送条数进行限制。",
    "Send again after {frees}; send fewer messages to this number. An enterprise-verified "
    "account can put a number it must reach more often on its frequency whitelist "
    "(`yizhan frequency whitelist`, PUT /v1/frequency/whitelist).",
    "请在 {frees_zh}之后再发送，并减少对该号码的发送。您可以将指定号码加入白名单，解除流控限制"
    "（需企业认证）。")
CARRIER_FLOW_CONTROL = Wording(
    "carrier_flow_control", Side.CARRIER,
    "The carrier's own frequency control refused the message (receipt {code}): {cause}."
    "{whitelist}",
    "运营商返回 {code}，表明号码已触发运营商侧的流控限制。",
    "Send fewer messages to this number; the platform's whitelist does not lift a carrier's "
    "limit.",
    "减少对该号码的发送；平台白名单不能解除运营商侧的流控限制。")
PLATFORM_BLACKLIST = Wording(
    "platform_blacklist", Side.PLATFORM,
    "The number is on the platform blacklist: {blacklist}. Its owner complained, so "
    "messages of this signature are not sent to it.",
    "该号码在平台黑名单中：{blacklist}。机主投诉后，不再接收此签名的短信。",
    "Do not send to this number. The operator removes it only when its owner withdraws the "
    "complaint.",
    "请勿再向该号码发送。机主撤销投诉后，可由平台运营方移出黑名单。")
CARRIER_BLACKLIST = Wording(
    "carrier_blacklist", Side.CARRIER,
    "The carrier answered {code}, a blacklist code: {cause}. Carriers blacklist a number "
    "whose owner complained of this signature's messages to 12321, the carrier or the MIIT.",
    "运营商返回黑名单错误码 {code}。如果机主有在12321、运营商、工信部等平台投诉过短信内容，"
    "使用被投诉的短信签名给该号码下发短信就会返回黑名单相关错误码。",
    "Stop sending this signature's messages to this number; nothing on the platform lifts a "
    "carrier's blacklist.",
    "请停止使用该签名向该号码发送；黑名单是为保护机主免受骚扰短信侵扰的一项保护措施，平台无法解除。")
PLATFORM_KEYWORD = Wording(
    "keyword_platform", Side.PLATFORM,
    "The platform's content filter stopped the message: {reason}.",
    "内容关键字拦截：短信内容含有平台关键字（{reason}）。",
    "Remove the word from the template or the variables and send again.",
    "请检查发送的短信内容并相应修改文案后重新发送。")
ACCOUNT_KEYWORD = Wording(
    "keyword_account", Side.TENANT,
    "Your own account's keyword list stopped the message: {reason}.",
    "短信内容命中了您账号自己的关键字列表（{reason}）。",
    "Change the content, or take the word off your list (`yizhan policy keywords`) if it "
    "should go out.",
    "请修改短信内容；如该词应当允许发送，请将其移出账号关键字列表。")
CARRIER_KEYWORD = Wording(
    "keyword_carrier", Side.CARRIER,
    "The carrier intercepted the message (receipt {code}): {cause}. Carriers block content "
    "with risky or often-complained-of keywords, each by its own rules.",
    "内容关键字拦截（运营商返回 {code}），是运营商根据短信中有潜在风险或者高投诉的内容关键字"
    "进行自动拦截。不同运营商的拦截规则不同。",
    "Check the content and rewrite it: no promotion in a notification template, an opt-out "
    "in every promotion, no financial offers.",
    "请您检查发送的短信内容并相应修改文案。例如：通知模板禁止发送推广内容、推广短信必须带退订。")
OPT_OUT = Wording(
    "opt_out", Side.PLATFORM,
    "The number opted out of this signature's promotions ({opt_out}), so promotions of "
    "{sign} are not sent to it.",
    "该号码已退订此签名的推广短信（{opt_out}），不再接收 {sign} 的推广短信。",
    "Do not send promotions of this signature to it; its notifications and verification "
    "codes still go out.",
    "请勿再向该号码发送此签名的推广短信；通知短信和验证码不受影响。")
PROMOTION_HOURS = Wording(
    "promotion_hours", Side.PLATFORM,
    "Promotions go out only in the day's promotion hours: {reason}.",
    "国内推广短信发送时间一般为 8:00~22:00：{reason}。",
    "Send promotions within the hours (schedule them); notifications and verification codes "
    "have no hours.",
    "请在允许的时段内发送推广短信；国内通知短信和验证码短信无发送时间限制。")
SCENE_MISMATCH = Wording(
    "signature_template_mismatch", Side.TENANT,
    "The signature and the template do not match (签名和模板类型不一致): {reason}.",
    "签名和模板类型不一致：发送短信时使用的短信模板和短信签名类型不一致。例如：用验证码签名下发了"
    "短信通知或推广短信。",
    "With a verification signature send verification templates; a general signature sends "
    "verification, notification, promotion and international templates.",
    "验证码场景的签名，请选择验证码模板；通用场景的签名，请选择验证码、短信通知、推广短信、"
    "国际/港澳台短信模板。")
TEMPLATE_DELETED = Wording(
    "template_deleted", Side.TENANT,
    "The template {template} was deleted{changed}; a deleted template sends nothing.",
    "短信模板 {template} 已被删除{changed_zh}。",
    "A deleted template cannot be restored: apply for the template again and send once it "
    "is approved.",
    "已删除的签名和短信模板无法直接恢复，需要重新申请签名和模板，审核通过后才可以发送短信。")
TEMPLATE_NOT_APPROVED = Wording(
    "template_not_approved", Side.TENANT,
    "The template {template} is not approved (state {template_state}): {reason}.",
    "短信模板 {template} 未审核通过（状态 {template_state}）。",
    "Use an approved template, or wait for its review.",
    "请使用审核通过的模板，或等待模板审核。")
SIGNATURE_NOT_APPROVED = Wording(
    "signature_not_approved", Side.TENANT,
    "The signature {sign} is not approved (state {sign_state}): {reason}.",
    "短信签名 {sign} 未审核通过（状态 {sign_state}）。",
    "Use an approved signature; a deleted one must be applied for again.",
    "请使用审核通过的签名；已删除的签名需要重新申请。")
BALANCE = Wording(
    "balance_below_zero", Side.TENANT,
    "The account's balance is below zero ({reason}){packages}: with a balance below zero "
    "nothing is sent, even while a package has parts left.",
    "账户余额＜0（{reason}）{packages_zh}：国内短信套餐包有余量但账户余额＜0时无法发送短信。",
    "Top up the balance to zero or more; the package's parts are then used first again.",
    "请充值使账户余额不小于0，之后仍优先使用套餐包余量。")
SUSPENDED = Wording(
    "account_suspended", Side.TENANT,
    "The account is suspended: {reason}.", "账户已停用：{reason}。",
    "Ask the operator why and to resume it.", "请联系平台运营方了解原因并恢复账户。")
NOT_REGISTERED = Wording(
    "signature_not_registered", Side.TENANT,
    "The carrier refused the message because the signature {sign} is not registered "
    "(实名制报备) on the channel {channel}: {registration}.",
    "签名实名制报备问题。应运营商要求，各短信发送通道需完成对应签名的实名制报备；签名 {sign} "
    "在通道 {channel} 上：{registration_zh}。",
    "Check that the signature's qualification is approved and its registration started "
    "(`yizhan signs status`, GET /v1/signatures/{{name}}/status); the carriers answer in 5-7 "
    "working days; then send a few messages to numbers of each carrier before sending in "
    "bulk.",
    "确认签名关联的资质已审核通过并已发起报备，运营商实名报备流程平均需要5-7个工作日；"
    "之后少量多次发送，观察短信发送效果后再开始批量发送。")
HANDSET_UNREACHABLE = Wording(
    "handset_unreachable", Side.HANDSET,
    "The handset could not take the message (receipt {code}): {cause}.",
    "终端状态异常（运营商返回 {code}）：空号、关机、停机、飞行模式或手机终端周围基站信号异常等。",
    "Check the number's state (empty, off, suspended, airplane mode, no signal) and send "
    "again when the user is reachable.",
    "建议核实号码状态，比如：空号、关机、停机、飞行模式或手机终端周围基站信号异常等，"
    "待用户可以接收时重新发送。")
EXPIRED = Wording(
    "expired", Side.HANDSET,
    "The message expired (receipt {code}): {cause}.",
    "短信在有效期内未能送达（运营商返回 {code}）：用户长时间关机或不在服务区。",
    "Send again when the user is reachable; a verification code is better sent fresh.",
    "待用户开机或恢复信号后重新发送；验证码建议重新获取。")
NO_RECEIPT = Wording(
    "unknown_after_72_hours", Side.CARRIER,
    "The carrier sent no receipt within 72 hours of the submit ({submitted}): the outcome "
    "stays unknown.",
    "短信发送后72小时内未收到运营商回执，状态为未知（提交时间 {submitted}）。",
    "Check the number's state (empty, off, suspended, airplane mode); a receipt that comes "
    "later is kept but does not change the record. Send again if it matters.",
    "建议核实号码状态，比如：空号、关机、停机、飞行模式或手机终端周围基站信号异常等。")
AMBIGUOUS = Wording(
    "submit_unanswered", Side.CARRIER,
    "The submit's answer never came ({reason}); the message was not sent twice, so its "
    "outcome is unknown.",
    "提交后未收到运营商应答（{reason}），为避免重复发送，状态为未知。",
    "Send again if the user did not receive it.", "如用户未收到，请重新发送。")
TOLL_FREE = Wording(
    "us_canada_toll_free", Side.TENANT,
    "Messages to the United States and Canada need a registered toll-free number (TFN): "
    "{reason}.",
    "为保证您的短信发送成功，请依据当地电信法规发送方需提前注册 TFN：{reason}。",
    "Register a toll-free number for the country (`yizhan policy registrations add`) and "
    "send again.",
    "请先为该国家注册免费号码（TFN）后重新发送。")
SENDER_ID = Wording(
    "vietnam_sender_id", Side.TENANT,
    "Vietnam takes only verification codes (OTP) without a registered Sender ID: {reason}.",
    "如果没有报备 SenderID，发送到越南的短信类型只支持 OTP：{reason}。",
    "Register a Sender ID for Vietnam to send notifications and promotions, or send "
    "verification codes only.",
    "如已报备 SenderID，发送到越南的短信类型支持 OTP、推广短信、短信通知；请先报备。")
COUNTRY = Wording(
    "country_registration", Side.TENANT,
    "The country needs a registration the account does not have: {reason}.",
    "该国家需要先完成报备：{reason}。",
    "Register what the detail names and send again.", "请完成报备后重新发送。")
VIRTUAL_SEGMENT = Wording(
    "virtual_operator_segment", Side.PLATFORM,
    "The number is in a segment the platform does not send to: {reason}. Only segments of "
    "China Telecom, China Unicom and China Mobile are supported, not those of virtual "
    "operators.",
    "支持中国电信、中国联通、中国移动提供的号段，不支持其他虚拟运营商提供的号段（{reason}）。",
    "Reach this user another way, or ask for a number of the three carriers.",
    "请通过其他方式联系该用户，或请用户提供三大运营商的号码。")
DELIVERED = Wording(
    "delivered", Side.NONE,
    "Delivered: the carrier reported it reached the handset at {receipt}.",
    "发送成功：运营商回执显示已于 {receipt} 送达用户终端。",
    "If the user says it did not arrive, look at the handset: the carrier's receipt comes "
    "from it. Restart it, check that its inbox is not full, swap the SIM slot of a "
    "dual-SIM phone, look in the spam box of a security app.",
    "运营商的回执是基于用户终端反馈来响应的，因此发送成功而没有收到的情况一般是用户终端问题导致的"
    "接收失败：建议关机重启、检查收件箱是否已满、双卡手机换一下卡槽、查看安全软件的拦截信箱。")
DELIVERED_LATE = Wording(
    "delivered_late", Side.HANDSET,
    "Delivered late: submitted at {submitted}, delivered at {receipt} ({delay} later). The "
    "handset was off or out of coverage and took the message when it came back.",
    "延迟送达：{submitted} 提交，{receipt} 送达（晚了 {delay}）。"
    "用户关机或无信号，开机后收到了短信。",
    "Nothing to do: the carrier kept the message until the handset came back (within its "
    "validity). Codes sent this way may have expired meanwhile: send a fresh one if needed.",
    "无需处理：用户开机后会收到短信（在有效期内）。验证码可能已过期，如需请重新发送。")
WAITING = Wording(
    "waiting_for_receipt", Side.NONE,
    "Submitted to the carrier at {submitted}; no receipt yet. Receipts usually come within "
    "minutes; without one in 72 hours the outcome becomes unknown.",
    "已于 {submitted} 提交运营商，尚未收到回执（发送中）。"
    "若手机端72小时内恢复正常，将更新发送状态。",
    "Wait; if it stays waiting long, check the number's state (off, suspended, no signal).",
    "请稍候；长时间发送中请核实号码状态（关机、停机、信号异常等）。")
QUEUED = Wording(
    "not_yet_submitted", Side.PLATFORM,
    "Accepted, not yet submitted to a carrier{attempts}.",
    "已受理，尚未提交运营商{attempts_zh}。",
    "Wait; if it stays queued, the operator checks the channels (`yizhan channels`) and the "
    "dead letters (`yizhan deadletters list`).",
    "请稍候；如长时间未提交，请联系平台运营方检查通道。")
DISPATCH_GIVEN_UP = Wording(
    "dispatch_given_up", Side.PLATFORM,
    "The platform gave up submitting the message: {letter}.",
    "平台多次提交失败后已放弃：{letter}。",
    "The operator replays it once the channel works (`yizhan deadletters replay`).",
    "请联系平台运营方在通道恢复后重放（yizhan deadletters replay）。")
CARRIER_OTHER = Wording(
    "carrier_code", Side.CARRIER,
    "The carrier answered {code}: {cause}.",
    "运营商返回 {code}：{cause}。",
    "{suggestion}.", "{suggestion}。")
PLATFORM_OTHER = Wording(
    "platform_refusal", Side.PLATFORM,
    "Refused by the platform with {code}: {registry_en} ({reason}).",
    "平台拒绝（{code}）：{registry_zh}（{reason}）。",
    "Correct what the detail names and send again.", "请根据详情修改后重新发送。")

BY_CODE: Mapping[str, Wording] = {
    "isv.BUSINESS_LIMIT_CONTROL": FLOW_CONTROL,
    "isv.MOBILE_IN_BLACKLIST": PLATFORM_BLACKLIST,
    "W-BLACK": CARRIER_BLACKLIST, "DB:0141": CARRIER_BLACKLIST, "DB:0144": CARRIER_BLACKLIST,
    "MK:0115": CARRIER_KEYWORD, "ID:0076": CARRIER_KEYWORD, "REJECTD": CARRIER_KEYWORD,
    "REJECT": CARRIER_KEYWORD,
    "isv.MOBILE_OPTED_OUT": OPT_OUT,
    "isv.PROMOTION_TIME_LIMIT": PROMOTION_HOURS,
    "isv.SMS_SIGNATURE_SCENE_ILLEGAL": SCENE_MISMATCH,
    "isv.SMS_SIGNATURE_ILLEGAL": SIGNATURE_NOT_APPROVED,
    "isv.AMOUNT_NOT_ENOUGH": BALANCE,
    "isv.OUT_OF_SERVICE": SUSPENDED,
    SIGN_NOT_REGISTERED: NOT_REGISTERED,
    "EXPIRED": EXPIRED, "MK:0010": EXPIRED,
    "UNDELIV": HANDSET_UNREACHABLE, "MK:0023": HANDSET_UNREACHABLE,
    "MI:0024": HANDSET_UNREACHABLE, "MK:0001": HANDSET_UNREACHABLE,
    "MK:0005": HANDSET_UNREACHABLE, "MK:0013": HANDSET_UNREACHABLE,
    "DB:0102": HANDSET_UNREACHABLE, "MI:0099": HANDSET_UNREACHABLE,
    "DB:0142": CARRIER_FLOW_CONTROL, "IB:0008": CARRIER_FLOW_CONTROL,
}
"""Verdicts by the record's code; the other codes go by `_by_rule` and the fallbacks."""

LATE = timedelta(minutes=10)
"""A delivery this long after its submit is called late (the handset was away)."""


def judge(facts: Facts) -> Verdict:
    """The verdict on one message from what the store knows of it."""
    message = facts.message
    values = _values(facts)
    if message.status is MessageStatus.SUCCESS:
        late = (message.submitted_at is not None and message.receipt_at is not None
                and message.receipt_at - message.submitted_at >= LATE)
        return (DELIVERED_LATE if late else DELIVERED).fill(values)
    if message.status is MessageStatus.WAITING:
        if facts.given_up_dispatch:
            return DISPATCH_GIVEN_UP.fill(values)
        return (WAITING if message.submitted_at is not None else QUEUED).fill(values)
    if message.status is MessageStatus.UNKNOWN:
        return (NO_RECEIPT if "hours of the submit" in message.reason
                else AMBIGUOUS).fill(values)
    return _failed(facts, values)


def _failed(facts: Facts, values: Mapping[str, str]) -> Verdict:
    code = facts.message.error_code
    special = _SPECIAL.get(code)
    if special is not None:
        return special(facts, values)
    wording = BY_CODE.get(code) or BY_CODE.get(code.upper())
    if wording is not None:
        return wording.fill(values)
    if code.upper().startswith("GB"):
        return CARRIER_FLOW_CONTROL.fill(values)
    if code in REGISTRY:
        return PLATFORM_OTHER.fill(values)
    return CARRIER_OTHER.fill(values)


def _keyword(facts: Facts, values: Mapping[str, str]) -> Verdict:
    return (ACCOUNT_KEYWORD if "(account list)" in facts.message.reason
            else PLATFORM_KEYWORD).fill(values)


def _template(facts: Facts, values: Mapping[str, str]) -> Verdict:
    deleted = values["template_state"] == "deleted"
    return (TEMPLATE_DELETED if deleted else TEMPLATE_NOT_APPROVED).fill(values)


def _country(facts: Facts, values: Mapping[str, str]) -> Verdict:
    phone = facts.message.phone
    if phone.startswith("+1"):
        return TOLL_FREE.fill(values)
    if phone.startswith("+84"):
        return SENDER_ID.fill(values)
    return COUNTRY.fill(values)


def _number(facts: Facts, values: Mapping[str, str]) -> Verdict:
    if facts.message.reason.startswith("numbers.segment"):
        return VIRTUAL_SEGMENT.fill(values)
    return PLATFORM_OTHER.fill(values, Side.TENANT)


def _registration(facts: Facts, values: Mapping[str, str]) -> Verdict:
    """Not registered: on the tenant's side while nothing was filed or the carrier refused
    the filing (its qualification); on the carrier's while it has not answered, or when it
    confirmed and still refuses (its systems lag: the FAQ's "registered, still failing")."""
    rows = facts.channel_registrations_then
    waiting = {s.name.lower() for s in (RegistrationState.REGISTERING,
                                        RegistrationState.AWAITING_VERIFICATION,
                                        RegistrationState.REGISTERED)}
    side = (Side.CARRIER if rows and all((r.then or r.now) in waiting for r in rows)
            else Side.TENANT)
    return NOT_REGISTERED.fill(values, side)


_SPECIAL: Mapping[str, Callable[[Facts, Mapping[str, str]], Verdict]] = {
    "isv.BLACK_KEY_CONTROL_LIMIT": _keyword,
    "isv.SMS_TEMPLATE_ILLEGAL": _template,
    "isv.COUNTRY_REGISTRATION_REQUIRED": _country,
    "isv.MOBILE_NUMBER_ILLEGAL": _number,
    SIGN_NOT_REGISTERED: _registration,
}


def _values(facts: Facts) -> dict[str, str]:
    """What the texts' placeholders are filled with."""
    m = facts.message
    reason = m.reason.partition(": ")[2] if ": " in m.reason[:40] else m.reason
    info = facts.explanation
    delay = (m.receipt_at - m.submitted_at) if m.receipt_at and m.submitted_at else None
    registry = REGISTRY.get(m.error_code)
    changed = china_text(facts.template_changed_at)
    queued = facts.evidence.outbox
    letters = [d for d in facts.evidence.dead_letters if d.stage == "dispatch"]
    packages = sum(p.parts_left for p in facts.packages)
    return {
        "code": m.error_code, "reason": reason or m.error_code, "sign": m.sign_name,
        "template": m.template_code, "channel": m.channel or "-",
        "cause": info.cause if info else "no explanation in the channel's table",
        "suggestion": info.suggestion if info else "ask the operator or the carrier",
        "submitted": china_text(m.submitted_at) or "-",
        "receipt": china_text(m.receipt_at) or "-",
        "delay": _duration(delay) if delay is not None else "-",
        "frees": _frees(m.reason, " (China time)", "the window ends"),
        "frees_zh": _frees(m.reason, "（北京时间）", "限制窗口结束后"),
        "whitelist": (f" The number is on the account's whitelist since "
                      f"{china_text(facts.whitelisted_since)}." if facts.whitelisted_since
                      else ""),
        "blacklist": "; ".join(f"since {china_text(b.created_at)}, source {b.source}, for "
                               f"{', '.join(b.signatures) or 'every signature'}"
                               for b in facts.blacklist) or "(entry since removed)",
        "opt_out": "; ".join(f"replied on {china_text(o.created_at)}, source {o.source}"
                             for o in facts.opt_outs) or "(entry not found)",
        # the registrations, the template and the signature as they were at the send
        # (today's where that is not known: moment.py), today's beside when it differs
        "registration": "; ".join(
            f"{r.row.isp.value}: {r.then or r.now}"
            + (f" (now {r.now})" if r.changed else
               f" ({', '.join(r.row.reasons)})" if r.row.reasons else "")
            for r in facts.channel_registrations_then) or "never filed",
        "registration_zh": "; ".join(f"{r.row.isp.value}: {r.then or r.now}"
                                     + (f"（现为 {r.now}）" if r.changed else "")
                                     for r in facts.channel_registrations_then) or "未发起报备",
        "template_state": _state_then(facts.template_then, "not found"),
        "sign_state": _state_then(facts.signature_then, "not found"),
        "changed": f" at {changed}" if changed else "",
        "changed_zh": f"（{changed}）" if changed else "",
        "packages": f" although packages have {packages} parts left" if packages else "",
        "packages_zh": f"，套餐包剩余 {packages} 条" if packages else "",
        "attempts": (f" ({queued[0].attempts} attempts, last: {queued[0].last_error})"
                     if queued and queued[0].attempts else ""),
        "attempts_zh": f"（已尝试 {queued[0].attempts} 次）" if queued and queued[0].attempts
        else "",
        "letter": "; ".join(f"dead letter {d.id} at {china_text(d.created_at)}: {d.error}"
                            for d in letters) or "-",
        "registry_en": registry.en if registry else "",
        "registry_zh": registry.zh if registry else "",
    }


def _state_then(then: StateThen | None, missing: str) -> str:
    if then is None:
        return missing
    return then.then or then.now


def _frees(reason: str, zone: str, otherwise: str) -> str:
    """The time a frequency refusal names ("sends again from 2026-12-07 10:01:00")."""
    _, found, rest = reason.partition("sends again from ")
    return rest.split(" China time")[0] + zone if found else otherwise


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
