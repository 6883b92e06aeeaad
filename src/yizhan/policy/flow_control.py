"""Frequency control as the last step of intake, and its explanation.

Consumes the `SendContext` after every other check (a number refused for another reason is
never counted); asks the `RateCounter` to decide all remaining numbers of the request in one
call, each atomically (docs/domain.md "Frequency control": a message counts the moment it is
accepted). A blocked number gets `isv.BUSINESS_LIMIT_CONTROL` in `ctx.refusals` and in its
trail (rule `frequency`), so it becomes a failed record in a multi-number request, or the
request's answer when every number is refused. Intake then commits the admitted messages;
if that commit fails it calls `release`, so that nothing uncommitted keeps quota. `explain`
answers the same question without counting; `explain_send` is the question the API and the
CLI ask it (by signature and template name).

The account's settings (lower limits, whitelist, enterprise verification) are read through
a cache: a change made through this process takes effect at the next send, one made
elsewhere (the CLI, another process) within `cache_seconds`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast, runtime_checkable

from yizhan.domain.errors import Refusal
from yizhan.domain.frozen import per_request
from yizhan.domain.model import Account, AccountId, Signature, Template
from yizhan.domain.ports import Clock, RateCounter
from yizhan.domain.rates import (
    Admitted,
    Blocked,
    FrequencyProfile,
    RateCheck,
    Shape,
    from_ms,
    to_ms,
)
from yizhan.policy.chain import SendContext
from yizhan.policy.compliance import check_signature, check_template
from yizhan.policy.frequency import (
    FRESH,
    Limit,
    limits_for,
    platform_keys,
    platform_record,
    record,
    refusal,
)
from yizhan.policy.numbers import normalize
from yizhan.policy.trail import DETAIL
from yizhan.runtime.caching import TtlCache

RULE = "frequency"
"""The rule's name in the chain and its trail (its refusals name the limit that blocked)."""


class ProfileSource(Protocol):
    async def frequency_profile(self, account_id: AccountId) -> FrequencyProfile: ...


class Catalogue(Protocol):
    async def signature(self, account_id: AccountId, name: str) -> Signature | None: ...
    async def template(self, account_id: AccountId, code: str) -> Template | None: ...


@per_request
class Admission:
    """The messages a request had admitted, and when: what `release` takes back if their
    commit fails. `checks` gives their checks (worked out only then, on the short way)."""

    checks: Callable[[], list[Sequence[RateCheck]]]
    at_ms: int


@runtime_checkable
class KeyedCounter(Protocol):
    """A counter that also takes a message as its keys and their shape (the embedded one):
    under the platform's limits alone, a message to a new number then costs no checks."""

    def decide_keys(self, shape: Shape, keys: Sequence[str], now_ms: int,
                    ) -> Blocked | Admitted | None: ...


@dataclass(frozen=True, slots=True)
class WindowReport:
    limit: Limit
    count: int
    start: datetime | None
    resets_at: datetime | None

    @property
    def blocking(self) -> bool:
        return self.count >= self.limit.limit


@dataclass(frozen=True, slots=True)
class Explanation:
    passes: bool
    earliest: datetime
    """now when it passes, else when every blocking window has reset"""
    whitelisted: bool
    windows: list[WindowReport]


_ONE_PASSED = [None]
_FRESH = DETAIL + FRESH
"""The trail's end for a message whose every window it opened (policy/frequency.py)."""


class FrequencyControl:
    def __init__(self, counter: RateCounter, profiles: ProfileSource, clock: Clock,
                 ttl: float = 1.0) -> None:
        self.counter = counter
        self._keyed = counter if isinstance(counter, KeyedCounter) else None
        self._clock = clock
        self._source = profiles
        self._profiles: TtlCache[AccountId, FrequencyProfile] = TtlCache(
            profiles.frequency_profile, clock, ttl)

    def changed(self, account_id: AccountId) -> None:
        """The account's settings changed: use the new ones from the next send on."""
        self._profiles.forget(account_id)

    async def admit(self, ctx: SendContext) -> Admission:
        assert ctx.template is not None
        template = ctx.template
        profile = self._profiles.fresh(ctx.account.id)
        if profile is None:
            profile = await self._profiles.get(ctx.account.id)
        now_ms = to_ms(self._clock.now())
        refusals = ctx.refusals
        pending = ([0] if refusals == _ONE_PASSED else
                   [i for i, refused in enumerate(refusals) if refused is None])
        if self._keyed is not None and not profile.limits and not profile.whitelist:
            return self._admit_keys(ctx, self._keyed, pending, now_ms)
        limits = [limits_for(ctx.account.id, ctx.recipients[i].sign_name, template.code,
                             template.type, ctx.numbers[i], profile) for i in pending]
        checks = cast(list[Sequence[RateCheck]], limits)  # a Limit starts as a RateCheck
        verdicts = await self.counter.decide(checks, now_ms)
        admitted: list[Sequence[RateCheck]] = []
        trails, whitelist = ctx.trails, profile.whitelist if profile.enterprise else ()
        for index, message, verdict, counted in zip(pending, limits, verdicts, checks,
                                                    strict=True):
            if type(verdict) is Blocked:
                ctx.refuse(index, RULE, refusal(message[verdict.index], verdict))
            else:
                admitted.append(counted)
            if trails:
                trails[index] += DETAIL + record(message, verdict, now_ms,
                                                 ctx.numbers[index] in whitelist)
        return Admission(lambda: admitted, now_ms)

    def _admit_keys(self, ctx: SendContext, counter: KeyedCounter, pending: list[int],
                    now_ms: int) -> Admission:
        """`admit` under the platform's limits alone, a message at a time by its keys (the
        checks are built only for a refusal, or for `release`)."""
        template = ctx.template
        assert template is not None
        account, code, kind = ctx.account.id, template.code, template.type
        recipients, numbers, trails = ctx.recipients, ctx.numbers, ctx.trails
        decide_keys = counter.decide_keys
        admitted = []
        # The numbers that pass every rule share one trail string (`Chain.run_numbers`);
        # those that also open every window keep sharing one, ended by `_FRESH`.
        plain: str | None = None
        fresh = ""
        for i in pending:
            sign_name = recipients[i][1]
            number = numbers[i]
            shape, keys = platform_keys(account, sign_name, code, kind, number)
            verdict = decide_keys(shape, keys, now_ms)
            if verdict is None:  # every window opened by this message (`rates.FRESH`)
                admitted.append(i)
                if trails:
                    marks = trails[i]
                    if marks is not plain:
                        plain, fresh = marks, marks + _FRESH
                    trails[i] = fresh
                continue
            if type(verdict) is Blocked:
                limit = limits_for(account, sign_name, code, kind, number)[verdict.index]
                ctx.refuse(i, RULE, refusal(limit, verdict))
            else:
                admitted.append(i)
            if trails:
                trails[i] += DETAIL + platform_record(kind, number, verdict, now_ms)

        def rebuild() -> list[Sequence[RateCheck]]:
            return [cast(Sequence[RateCheck], limits_for(account, recipients[i][1], code, kind,
                                                         numbers[i])) for i in admitted]
        return Admission(rebuild, now_ms)

    async def release(self, admission: Admission) -> None:
        checks = admission.checks()
        if checks:
            await self.counter.release(checks, admission.at_ms)

    async def explain(self, account_id: AccountId, sign_name: str, template: Template,
                      number: str) -> Explanation:
        profile = await self._source.frequency_profile(account_id)
        now = self._clock.now()
        now_ms = to_ms(now)
        limits = limits_for(account_id, sign_name, template.code, template.type, number,
                            profile)
        counts = await self.counter.peek([limit.check for limit in limits], now_ms)
        windows = [WindowReport(limit, c.count, from_ms(c.start) if c.start is not None
                                else None, from_ms(c.end) if c.end is not None else None)
                   for limit, c in zip(limits, counts, strict=True)]
        resets = [w.resets_at for w in windows if w.blocking and w.resets_at is not None]
        return Explanation(not resets, max(resets, default=now),
                           number in profile.whitelist and profile.enterprise, windows)


async def explain_send(catalogue: Catalogue, control: FrequencyControl, account: Account,
                       sign_name: str, template_code: str,
                       phone_number: str) -> Explanation | Refusal:
    """The checks the API and the CLI share: a known signature and template, a valid
    number; then the explanation."""
    number = normalize(phone_number)
    if isinstance(number, Refusal):
        return number
    signature = await catalogue.signature(account.id, sign_name)
    refused = check_signature(signature, sign_name)
    if refused is not None:
        return refused
    template = await catalogue.template(account.id, template_code)
    refused = check_template(template, template_code)
    if refused is not None:
        return refused
    assert template is not None
    return await control.explain(account.id, sign_name, template, number)


def explanation_json(result: Explanation) -> dict[str, Any]:
    """An explanation as the API answers it and `yizhan frequency explain --json` prints it."""
    return {"passes": result.passes, "earliest": result.earliest.isoformat(),
            "whitelisted": result.whitelisted, "windows": [{
                "rule": w.limit.rule.id, "limit": w.limit.describe(),
                "max": w.limit.limit, "account_limit": w.limit.own, "count": w.count,
                "window_start": w.start.isoformat() if w.start else None,
                "resets_at": w.resets_at.isoformat() if w.resets_at else None,
                "blocking": w.blocking} for w in result.windows]}
