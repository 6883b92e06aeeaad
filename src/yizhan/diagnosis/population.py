"""Diagnosis of a population: for an account, narrowed by signature, template and China
days, the success rate per carrier with the leading failure codes and their explanations,
and flags for the causes the trail can prove (docs/diagnosis.md "A population: why is my
success rate low?").

Reads only counters, never records: `stats_daily` for the rates (sent, delivered, failed,
unknown, waiting per day, signature, template and carrier) and `stats_codes_daily` for the
failures per carrier, channel and code, both kept in the transactions that change message
status (`storage/reports.py`) and read by their primary key (account, day, ...); plus the
carrier registrations of the signatures in the population (`compliance/blocking.py` says
what blocks one on each carrier). Codes are explained with the table of the channel that
reported them, as one message's diagnosis does.

Consumes the store (`PopulationStore`) and the channels' code tables; hands a `Summary` to
the API and the CLI, which render it (`summary_json`, `summary_lines`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Protocol

from yizhan.compliance.blocking import Cause, signature_status
from yizhan.diagnosis.verdicts import (
    BY_CODE,
    CARRIER_FLOW_CONTROL,
    CARRIER_KEYWORD,
    SIDES_ZH,
    Side,
)
from yizhan.domain.codes import PLATFORM_BOOK, SIGN_NOT_REGISTERED, CodeBook
from yizhan.domain.errors import REGISTRY
from yizhan.domain.model import AccountId, Qualification, Signature
from yizhan.domain.registration import Isp, SubPortRegistration
from yizhan.domain.statistics import StatsLine

MAX_DAYS = 31
"""The longest range of China days one summary covers."""
TOP_CODES = 5
"""Leading failure codes shown per carrier, unless asked for another number (1-20)."""
MAX_SIGNATURES = 20
"""Registration is checked for at most this many signatures of the population (the most
sent first)."""

SURGE_SHARE = 0.5
SURGE_MIN = 10
SURGE_JUMP = 2
"""A carrier code surges when, on one carrier, it is at least `SURGE_SHARE` of the failures,
at least `SURGE_MIN` messages, and at least `SURGE_JUMP` times its count in the period of the
same length just before (a code that was absent then surges from zero)."""

CARRIERS = {"china_mobile": ("mobile", "China Mobile", "中国移动"),
            "china_unicom": ("unicom", "China Unicom", "中国联通"),
            "china_telecom": ("telecom", "China Telecom", "中国电信"),
            "international": ("international", "international", "国际/港澳台"),
            "other": ("other", "other segments", "其他号段")}
"""Statistics' carrier labels -> the summary's name, English and Chinese words."""

KEYWORD_REFUSAL = "isv.BLACK_KEY_CONTROL_LIMIT"
FREQUENCY_REFUSAL = "isv.BUSINESS_LIMIT_CONTROL"
OPT_OUT_REFUSAL = "isv.MOBILE_OPTED_OUT"
CARRIER_KEYWORDS = frozenset(c for c, w in BY_CODE.items() if w is CARRIER_KEYWORD)
CARRIER_FREQUENCY = frozenset(c for c, w in BY_CODE.items() if w is CARRIER_FLOW_CONTROL)


class PopulationStore(Protocol):
    """The store as a population's diagnosis reads it."""

    async def statistics(self, account_id: AccountId, start: date, end: date, *,
                         group_by: Sequence[str] = ...,
                         sign_name: str | None = None,
                         template_code: str | None = None) -> Sequence[StatsLine]: ...
    async def failure_codes(self, account_id: AccountId, start: date, end: date, *,
                            group_by: Sequence[str] = ..., sign_name: str | None = None,
                            template_code: str | None = None,
                            codes: Sequence[str] | None = None,
                            ) -> Sequence[tuple[dict[str, str], int]]: ...
    async def signature(self, account_id: AccountId, name: str) -> Signature | None: ...
    async def qualification(self, account_id: AccountId,
                            qualification_id: int) -> Qualification | None: ...
    async def sign_registrations(self, signature_id: int) -> list[SubPortRegistration]: ...


@dataclass(frozen=True, slots=True)
class Scope:
    """Whose messages: an account's, of China days [start, end], optionally of one
    signature and one template."""

    account_id: AccountId
    start: date
    end: date
    sign_name: str | None = None
    template_code: str | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def before(self) -> Scope:
        """The period of the same length just before (a surge's baseline)."""
        length = timedelta(days=self.days)
        return Scope(self.account_id, self.start - length, self.end - length,
                     self.sign_name, self.template_code)


def scope_problem(start: date, end: date) -> str | None:
    """Why a range of days is not one a summary covers; None: it is."""
    if end < start:
        return "to is before from"
    if (end - start).days >= MAX_DAYS:
        return f"at most {MAX_DAYS} days in one summary"
    return None


@dataclass(frozen=True, slots=True)
class CodeCount:
    code: str
    count: int
    share: float
    """Of the carrier's failures."""
    cause: str
    suggestion: str
    """From the code table of the channel that reported it most (the platform's rules for
    the platform's own refusals)."""
    verdict: str
    """The verdict a message with this code gets (`verdicts.py`): `keyword_carrier`, ..."""


@dataclass(frozen=True, slots=True)
class CarrierSummary:
    carrier: str
    """`mobile`, `unicom`, `telecom`, `international` (`other`: refused segments)."""
    sent: int
    success: int
    failed: int
    unknown: int
    waiting: int
    codes: list[CodeCount]

    @property
    def success_rate(self) -> float:
        """Delivered / sent, as statistics count it."""
        return self.success / self.sent if self.sent else 0.0

    @property
    def final_rate(self) -> float:
        """Delivered / messages with a final status (those still waiting left out)."""
        final = self.success + self.failed + self.unknown
        return self.success / final if final else 0.0


@dataclass(frozen=True, slots=True)
class Flag:
    """A cause the trail proves, with what to do."""

    kind: str
    """`registration`, `code_surge`, `keyword`, `frequency`, `opt_out`."""
    side: Side
    count: int
    """Failed messages it explains in the population."""
    carriers: tuple[str, ...]
    codes: tuple[str, ...]
    what_en: str
    what_zh: str
    todo_en: str
    todo_zh: str
    sign_name: str = ""


@dataclass(frozen=True, slots=True)
class Summary:
    scope: Scope
    carriers: list[CarrierSummary]
    flags: list[Flag]
    total: CarrierSummary = field(compare=False)
    """All carriers together (its `codes` are the population's leading codes)."""


def verdict_of(code: str) -> str:
    """The cause a message failed with `code` is judged under (`verdicts.judge`)."""
    if code == KEYWORD_REFUSAL:
        return "keyword_platform_or_account"
    if code == SIGN_NOT_REGISTERED:
        return "signature_not_registered"
    wording = BY_CODE.get(code) or BY_CODE.get(code.upper())
    if wording is not None:
        return wording.cause
    if code.upper().startswith("GB"):
        return CARRIER_FLOW_CONTROL.cause
    return "platform_refusal" if code in REGISTRY else "carrier_code"


def _carrier_frequency(code: str) -> bool:
    return code in CARRIER_FREQUENCY or code.upper().startswith("GB")


class Summarizer:
    def __init__(self, store: PopulationStore, codes: CodeBook = PLATFORM_BOOK) -> None:
        self._store, self._codes = store, codes

    async def summary(self, scope: Scope, top: int = TOP_CODES) -> Summary:
        a = scope.account_id
        rows = await self._store.statistics(
            a, scope.start, scope.end, group_by=("sign_name", "carrier"),
            sign_name=scope.sign_name, template_code=scope.template_code)
        failures = await self._store.failure_codes(
            a, scope.start, scope.end, group_by=("carrier", "channel", "code"),
            sign_name=scope.sign_name, template_code=scope.template_code)
        per_carrier: dict[str, list[int]] = defaultdict(lambda: [0] * 5)
        per_sign: dict[tuple[str, str], int] = defaultdict(int)
        for r in rows:
            label = r.key["carrier"]
            for i, n in enumerate((r.sent, r.success, r.failed, r.unknown, r.waiting)):
                per_carrier[label][i] += n
            per_sign[(r.key["sign_name"], label)] += r.sent
        codes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        channel_of: dict[tuple[str, str], tuple[int, str]] = {}
        for key, n in failures:
            label, code = key["carrier"], key["code"]
            codes[label][code] += n
            best = channel_of.get((label, code))
            if best is None or n > best[0]:
                channel_of[(label, code)] = (n, key["channel"])
        order = [c for c in CARRIERS if c in per_carrier or c in codes]
        carriers = [self._summary(c, per_carrier[c], codes[c], channel_of, top) for c in order]
        totals = [sum(per_carrier[c][i] for c in order) for i in range(5)]
        merged: dict[str, int] = defaultdict(int)
        for c in order:
            for code, n in codes[c].items():
                merged[code] += n
        total_channels = {code: max((v for (c, k), v in channel_of.items() if k == code))
                          for code in merged}
        total = self._summary("all", totals, merged,
                              {("all", k): v for k, v in total_channels.items()}, top)
        flags = await self._flags(scope, codes, per_sign, channel_of)
        return Summary(scope, carriers, flags, total)

    def _summary(self, label: str, counts: Sequence[int], codes: Mapping[str, int],
                 channel_of: Mapping[tuple[str, str], tuple[int, str]],
                 top: int) -> CarrierSummary:
        failed = sum(codes.values()) or 1
        leading = sorted(codes.items(), key=lambda item: (-item[1], item[0]))[:top]
        shown = []
        for code, n in leading:
            channel = channel_of.get((label, code), (0, ""))[1]
            info = self._codes.explain(channel, code) if channel else PLATFORM_BOOK.explain(
                "", code)
            registry = REGISTRY.get(code)
            cause = info.cause if info else (registry.en if registry else
                                             "no explanation in the channel's table")
            suggestion = info.suggestion if info else ""
            shown.append(CodeCount(code, n, round(n / failed, 4), cause, suggestion,
                                   verdict_of(code)))
        name = CARRIERS[label][0] if label in CARRIERS else label
        sent, success, failed_n, unknown, waiting = counts
        return CarrierSummary(name, sent, success, failed_n, unknown, waiting, shown)

    async def _flags(self, scope: Scope, codes: Mapping[str, Mapping[str, int]],
                     per_sign: Mapping[tuple[str, str], int],
                     channel_of: Mapping[tuple[str, str], tuple[int, str]]) -> list[Flag]:
        flags = await self._registration(scope, per_sign)
        flags += await self._surges(scope, codes, channel_of)
        for found in (KEYWORD.flag(codes), FREQUENCY.flag(codes), _opt_out_flag(codes)):
            if found is not None:
                flags.append(found)
        return sorted(flags, key=lambda f: -f.count)

    async def _registration(self, scope: Scope,
                            per_sign: Mapping[tuple[str, str], int]) -> list[Flag]:
        """Per signature of the population and mainland carrier it was sent to: a flag when
        that carrier refused messages as not registered, or its registration failed or
        lapsed (the carrier's own answer)."""
        refused = {(k["sign_name"], k["carrier"]): n for k, n in
                   await self._store.failure_codes(
                       scope.account_id, scope.start, scope.end,
                       group_by=("sign_name", "carrier"), sign_name=scope.sign_name,
                       template_code=scope.template_code, codes=[SIGN_NOT_REGISTERED])}
        sent: dict[str, int] = defaultdict(int)
        for (sign, _), n in per_sign.items():
            sent[sign] += n
        flags: list[Flag] = []
        for sign in sorted(sent, key=lambda s: -sent[s])[:MAX_SIGNATURES]:
            signature = await self._store.signature(scope.account_id, sign)
            if signature is None:
                continue
            qualification = (await self._store.qualification(
                scope.account_id, signature.qualification_id)
                if signature.qualification_id is not None else None)
            statuses = signature_status(signature, qualification,
                                        await self._store.sign_registrations(signature.id))
            for status in statuses:
                label = status.isp.carrier.value
                if not per_sign.get((sign, label)):
                    continue
                n = refused.get((sign, label), 0)
                if n or status.cause in (Cause.FAILED, Cause.LAPSED):
                    flags.append(_registration_flag(sign, status.isp, status.cause,
                                                    status.blocked, n, status.en, status.zh,
                                                    status.next_en, status.next_zh))
        return flags

    async def _surges(self, scope: Scope, codes: Mapping[str, Mapping[str, int]],
                      channel_of: Mapping[tuple[str, str], tuple[int, str]]) -> list[Flag]:
        candidates: list[tuple[str, str, int, int]] = []
        for label, counted in codes.items():
            failed = sum(counted.values())
            for code, n in counted.items():
                if code in REGISTRY or code == SIGN_NOT_REGISTERED:
                    continue  # the platform's own refusals have flags of their own
                if n >= SURGE_MIN and n >= SURGE_SHARE * failed:
                    candidates.append((label, code, n, failed))
        if not candidates:
            return []
        earlier = scope.before()
        before = {(k["carrier"], k["code"]): n for k, n in await self._store.failure_codes(
            earlier.account_id, earlier.start, earlier.end, group_by=("carrier", "code"),
            sign_name=scope.sign_name, template_code=scope.template_code,
            codes=sorted({c[1] for c in candidates}))}
        flags = []
        for label, code, n, failed in candidates:
            then = before.get((label, code), 0)
            if n >= SURGE_JUMP * then:
                channel = channel_of.get((label, code), (0, ""))[1]
                flags.append(self._surge_flag(label, channel, code, n, failed, then, scope))
        return flags

    def _surge_flag(self, label: str, channel: str, code: str, n: int, failed: int,
                    then: int, scope: Scope) -> Flag:
        name, en, zh = CARRIERS.get(label, (label, label, label))
        info = self._codes.explain(channel, code)
        cause = info.cause if info else "see the channel's code table"
        todo_en = info.suggestion if info else "ask the operator or the carrier what it means"
        period = "day" if scope.days == 1 else f"{scope.days} days"
        return Flag(
            "code_surge", Side.CARRIER, n, (name,), (code,),
            f"{en} answered {code} for {n} of its {failed} failures ({n * 100 // failed} %), "
            f"against {then} in the {period} before: {cause}.",
            f"{zh}返回 {code} 共 {n} 条，占其失败的 {n * 100 // failed}%（前一周期 {then} 条）："
            f"{cause}。",
            f"{todo_en[:1].upper() + todo_en[1:]}. One code surging on one carrier is that "
            f"carrier's answer to something: the content, the numbers sent to, or its own "
            f"incident; one message with it is diagnosed as {verdict_of(code)}.",
            f"请按错误码说明处理：{todo_en}。单一运营商集中返回同一错误码，通常与短信内容、号码来源"
            "或运营商自身故障有关。")


def _carrier_names(labels: Iterable[str]) -> tuple[str, ...]:
    return tuple(CARRIERS[c][0] if c in CARRIERS else c for c in labels)


def _sum(codes: Mapping[str, Mapping[str, int]], wanted: Any) -> tuple[int, list[str],
                                                                       list[str]]:
    """How many failures have a code `wanted` accepts, on which carriers, which codes."""
    total, carriers, found = 0, [], set()
    for label in CARRIERS:
        counted = codes.get(label, {})
        n = sum(v for c, v in counted.items() if wanted(c))
        if n:
            total += n
            carriers.append(label)
            found |= {c for c in counted if wanted(c)}
    return total, carriers, sorted(found)


def _registration_flag(sign: str, isp: Isp, cause: Cause, blocked: bool, refused: int,
                       status_en: str, status_zh: str, next_en: str, next_zh: str) -> Flag:
    _, en, zh = CARRIERS[isp.carrier.value]
    if blocked:
        what_en = (f"The signature {sign} is not usable on {en}: {status_en}."
                   + (f" {en} refused {refused} message(s) as not registered "
                      f"({SIGN_NOT_REGISTERED})." if refused else ""))
        what_zh = (f"签名 {sign} 在{zh}不可用：{status_zh}。"
                   + (f"{zh}以未报备为由拒绝了 {refused} 条（{SIGN_NOT_REGISTERED}）。"
                      if refused else ""))
        return Flag("registration", Side.TENANT, refused, (isp.value,),
                    (SIGN_NOT_REGISTERED,), what_en, what_zh, next_en[:1].upper() + next_en[1:]
                    + ".", next_zh + "。", sign)
    return Flag(
        "registration", Side.CARRIER, refused, (isp.value,), (SIGN_NOT_REGISTERED,),
        f"{en} confirmed the registration of {sign} ({status_en}) but still refused "
        f"{refused} message(s) as not registered: its systems lag behind its answer.",
        f"签名 {sign} 在{zh}已报备（{status_zh}），但仍有 {refused} 条被以未报备为由拒绝："
        "运营商系统同步存在延迟。",
        "Send a few messages to this carrier's numbers and send in bulk once they are "
        "delivered; ask the operator if it lasts more than a day.",
        "先少量多次发送该运营商号码，成功后再批量发送；超过一天仍失败请联系平台运营方。", sign)


@dataclass(frozen=True, slots=True)
class TwoSided:
    """A cause with a platform's refusal code and carriers' codes: how a flag of it reads.
    `{platform}`/`{carried}` are counts, `{codes}` the carriers' codes."""

    kind: str
    platform_code: str
    carrier_code: Callable[[str], bool]
    what_en: str
    what_zh: str
    platform_en: str
    platform_zh: str
    carried_en: str
    carried_zh: str
    todo_en: str
    todo_zh: str

    def flag(self, codes: Mapping[str, Mapping[str, int]]) -> Flag | None:
        platform, p_carriers, _ = _sum(codes, lambda c: c == self.platform_code)
        carried, c_carriers, c_codes = _sum(codes, self.carrier_code)
        if not platform and not carried:
            return None
        values = dict(platform=platform, carried=carried, codes=", ".join(c_codes),
                      code=self.platform_code)
        en = [t.format(**values) for n, t in ((platform, self.platform_en),
                                             (carried, self.carried_en)) if n]
        zh = [t.format(**values) for n, t in ((platform, self.platform_zh),
                                             (carried, self.carried_zh)) if n]
        return Flag(
            self.kind, Side.PLATFORM if platform >= carried else Side.CARRIER,
            platform + carried, _carrier_names(dict.fromkeys(p_carriers + c_carriers)),
            tuple(([self.platform_code] if platform else []) + c_codes),
            self.what_en + "; ".join(en) + ".", self.what_zh + "；".join(zh) + "。",
            self.todo_en, self.todo_zh)


KEYWORD = TwoSided(
    "keyword", KEYWORD_REFUSAL, lambda c: c in CARRIER_KEYWORDS,
    "Messages were stopped for their content: ", "内容关键字拦截：",
    "{platform} stopped by the platform's or your account's keyword list ({code})",
    "{platform} 条命中平台或账号关键字（{code}）",
    "{carried} intercepted by carriers ({codes})", "{carried} 条被运营商关键字拦截（{codes}）",
    "Rewrite the content: remove the words the records' reasons name (GET "
    "/v1/messages/{id}/diagnosis), no promotion in a notification template, an opt-out "
    "in every promotion; take a word off your own list (`yizhan policy keywords`) if it "
    "should go out.",
    "请检查并修改短信内容：删除被拦截的关键字，通知模板禁止发送推广内容、推广短信必须带退订；"
    "如为账号自己的关键字且应允许发送，请将其移出列表。")
FREQUENCY = TwoSided(
    "frequency", FREQUENCY_REFUSAL, _carrier_frequency,
    "Numbers were sent to too often: ", "同一号码发送过于频繁：",
    "{platform} refused by the platform's frequency control ({code})",
    "{platform} 条触发平台流控（{code}）",
    "{carried} by the carriers' ({codes})", "{carried} 条触发运营商流控（{codes}）",
    "Send fewer messages to the same number (a code once a minute at most); an "
    "enterprise-verified account can whitelist numbers it must reach more often "
    "(`yizhan frequency whitelist`), which does not lift a carrier's limit.",
    "减少对同一号码的发送；企业认证账号可将需要多发的号码加入白名单（运营商侧流控不受白名单影响）。")


def _opt_out_flag(codes: Mapping[str, Mapping[str, int]]) -> Flag | None:
    n, carriers, _ = _sum(codes, lambda c: c == OPT_OUT_REFUSAL)
    if not n:
        return None
    return Flag(
        "opt_out", Side.PLATFORM, n, _carrier_names(carriers), (OPT_OUT_REFUSAL,),
        f"{n} promotion(s) went to numbers that opted out of the signature's promotions "
        f"(replied R): not sent ({OPT_OUT_REFUSAL}).",
        f"{n} 条推广短信发往已退订该签名推广短信的号码（回复 R），未发送（{OPT_OUT_REFUSAL}）。",
        "Take the opted-out numbers off your promotion lists; notifications and verification "
        "codes still go to them.",
        "请将已退订的号码移出推广名单；通知短信和验证码不受影响。")


def summary_json(summary: Summary) -> dict[str, Any]:
    s = summary.scope

    def carrier(c: CarrierSummary) -> dict[str, Any]:
        return {"carrier": c.carrier, "sent": c.sent, "success": c.success,
                "failed": c.failed, "unknown": c.unknown, "waiting": c.waiting,
                "success_rate": round(c.success_rate, 4), "final_rate": round(c.final_rate, 4),
                "codes": [{"code": k.code, "count": k.count, "share": k.share,
                           "cause": k.cause, "suggestion": k.suggestion,
                           "verdict": k.verdict} for k in c.codes]}
    return {
        "from": s.start.isoformat(), "to": s.end.isoformat(),
        "sign_name": s.sign_name, "template_code": s.template_code,
        "total": carrier(summary.total),
        "carriers": [carrier(c) for c in summary.carriers],
        "flags": [{"kind": f.kind, "side": f.side.value, "side_zh": SIDES_ZH[f.side],
                   "count": f.count, "carriers": list(f.carriers), "codes": list(f.codes),
                   "sign_name": f.sign_name or None,
                   "what": {"en": f.what_en, "zh": f.what_zh},
                   "todo": {"en": f.todo_en, "zh": f.todo_zh}} for f in summary.flags]}


def summary_lines(summary: Summary, zh: bool = False) -> list[str]:
    """A summary for a terminal: one line per carrier, its leading codes, then the flags."""
    s = summary.scope
    days = s.start.isoformat() + ("" if s.start == s.end else f" to {s.end.isoformat()}")
    narrowed = "".join(f"  {k} {v}" for k, v in (("sign", s.sign_name),
                                                 ("template", s.template_code)) if v)
    out = [f"population {days}{narrowed}",
           f"{'carrier':<14}{'sent':>9}{'success':>9}{'failed':>8}{'unknown':>8}"
           f"{'waiting':>8}{'rate':>8}"]
    for c in [*summary.carriers, summary.total]:
        out.append(f"{c.carrier:<14}{c.sent:>9}{c.success:>9}{c.failed:>8}{c.unknown:>8}"
                   f"{c.waiting:>8}{c.success_rate * 100:>7.1f}%")
        for k in c.codes if c is not summary.total else ():
            out.append(f"    {k.code:<28}{k.count:>7}  {k.share * 100:>5.1f}%  {k.cause}")
    if not summary.flags:
        out.append("flags: none the trail can prove")
    for f in summary.flags:
        side = SIDES_ZH[f.side] if zh else f.side.value
        out += [f"flag {f.kind} ({', '.join(f.carriers)}; side: {side}; {f.count} message(s))",
                f"  {f.what_zh if zh else f.what_en}",
                f"  what to do: {f.todo_zh if zh else f.todo_en}"]
    return out
