"""Intake: a send request becomes one message per number, committed with its outbox rows.

Consumes a `SendRequest` from the APIs or the CLI; loads the signatures, template, keyword
lists and (for international numbers) the account's registrations, all cached; runs the
request-level policy chain, then the per-number chain; on success builds the messages
(status waiting, parts counted; refused numbers as failed records), hands them to the group
committer and answers the BizId only after the commit (docs/architecture.md: acceptance is
durable); then wakes the dispatch stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from yizhan.domain import segments
from yizhan.domain.errors import Refusal
from yizhan.domain.ids import IdGenerator
from yizhan.domain.model import (
    Account,
    AccountId,
    BizId,
    DispatchState,
    Message,
    MessageStatus,
    Registration,
    Signature,
    SignatureNonce,
    Template,
    TemplateType,
)
from yizhan.domain.ports import Bus, Clock
from yizhan.policy import chain, numbers
from yizhan.policy.backpressure import Backpressure
from yizhan.policy.chain import Recipient, SendContext
from yizhan.policy.content_filter import MatcherCache
from yizhan.policy.flow_control import FrequencyControl
from yizhan.policy.lists import PolicyLists
from yizhan.runtime.batching import Batcher
from yizhan.runtime.caching import TtlCache

MAX_NUMBERS = 1000
MAX_BATCH_NUMBERS = 100
DISPATCH = "dispatch"
PRIORITY_ITEMS = MAX_BATCH_NUMBERS + 1
"""Requests of at most this many acceptance items (up to 100 numbers and a nonce) go ahead
of larger ones waiting for a commit (`Batcher(small=...)`): a verification code is not held
behind a promotion's 1000-number requests (docs/architecture.md)."""

Acceptance = Message | SignatureNonce
"""What the group committer writes: messages, and the nonces of the requests they came in."""


class Catalogue(Protocol):
    async def signature(self, account_id: AccountId, name: str) -> Signature | None: ...
    async def template(self, account_id: AccountId, code: str) -> Template | None: ...
    async def keywords(self, account_id: AccountId | None) -> tuple[str, ...]: ...
    async def registrations(self, account_id: AccountId) -> tuple[Registration, ...]: ...


class CachedCatalogue:
    """Signatures, templates, keyword lists and registrations for the hot path, each read at
    most once per `ttl` seconds (a review, deletion or list change takes effect within that
    time; docs/configuration.md)."""

    def __init__(self, catalogue: Catalogue, clock: Clock, ttl: float = 1.0) -> None:
        self._signatures: TtlCache[tuple[AccountId, str], Signature | None] = TtlCache(
            lambda key: catalogue.signature(*key), clock, ttl)
        self._templates: TtlCache[tuple[AccountId, str], Template | None] = TtlCache(
            lambda key: catalogue.template(*key), clock, ttl)
        self._keywords: TtlCache[AccountId | None, tuple[str, ...]] = TtlCache(
            catalogue.keywords, clock, ttl)
        self._registrations: TtlCache[AccountId, tuple[Registration, ...]] = TtlCache(
            catalogue.registrations, clock, ttl)

    async def signature(self, account_id: AccountId, name: str) -> Signature | None:
        return await self._signatures.get((account_id, name))

    async def template(self, account_id: AccountId, code: str) -> Template | None:
        return await self._templates.get((account_id, code))

    async def keywords(self, account_id: AccountId | None) -> tuple[str, ...]:
        return await self._keywords.get(account_id)

    async def registrations(self, account_id: AccountId) -> tuple[Registration, ...]:
        return await self._registrations.get(account_id)


@dataclass(slots=True)  # per request: see `yizhan.api.aliyun.signing`
class SendRequest:
    template_code: str
    recipients: Sequence[Recipient]
    out_id: str = ""
    max_numbers: int = MAX_NUMBERS


@dataclass(slots=True)  # per request: see `yizhan.api.aliyun.signing`
class SendAccepted:
    biz_id: BizId
    messages: list[Message]


class Intake:
    def __init__(self, catalogue: Catalogue, committer: Batcher[Acceptance], clock: Clock,
                 ids: IdGenerator, bus: Bus, lists: PolicyLists, *, part_price: int = 0,
                 number_chain: tuple[tuple[str, chain.NumberCheck], ...] = chain.NUMBER_CHAIN,
                 frequency: FrequencyControl | None = None,
                 backpressure: Backpressure | None = None) -> None:
        """`part_price`: the platform's price per part (thousandths of a yuan), for
        accounts without their own; stored on each message, which is billed later.
        `frequency`: the frequency control, the last step before acceptance (None: off).
        `backpressure`: holds back requests of several numbers while the dispatch backlog
        is too long (None: off)."""
        self._catalogue = catalogue
        self._lists = lists
        self._part_price = part_price
        self._number_chain = number_chain
        self._committer = committer
        self._clock = clock
        self._ids = ids
        self._bus = bus
        self._matchers = MatcherCache()
        self._frequency = frequency
        self._backpressure = backpressure

    async def send(self, account: Account, request: SendRequest,
                   nonce: tuple[str, str] | None = None) -> SendAccepted | Refusal:
        """Accept `request` or refuse it. `nonce` (AccessKey id, signature nonce) of a signed
        request is recorded in the acceptance transaction: a replay answers
        `SignatureNonceUsed` and accepts nothing. A request refused before that commit
        records no nonce: the caller records it (docs/architecture.md)."""
        pressure, count = self._backpressure, len(request.recipients)
        if pressure is None:
            return await self._send(account, request, nonce)
        held = pressure.check(count)  # first: a throttled request costs next to nothing
        if held is not None:
            return held
        result: SendAccepted | Refusal | None = None
        try:
            result = await self._send(account, request, nonce)
        finally:
            pressure.settled(count, sum(m.dispatch_state is DispatchState.QUEUED
                                        for m in result.messages)
                             if isinstance(result, SendAccepted) else 0)
        return result

    async def _send(self, account: Account, request: SendRequest,
                    nonce: tuple[str, str] | None) -> SendAccepted | Refusal:
        ctx = SendContext(account, request.template_code, list(request.recipients),
                          request.max_numbers, now=self._clock.now())
        if len(request.out_id) > 255:
            return Refusal("InvalidParameter", "OutId has more than 255 characters", "out_id")
        refusal = chain.run(ctx, chain.REQUEST_CHAIN[:chain.LOADED])  # before any lookup
        if refusal is None:
            await self._load(ctx)
            refusal = chain.run(ctx, chain.REQUEST_CHAIN[chain.LOADED:])
        if refusal is not None:
            return refusal
        await self._load_lists(ctx)
        chain.run_numbers(ctx, self._number_chain)
        # Frequency control last: a number refused for any other reason consumes no quota.
        admitted = await self._frequency.admit(ctx) if self._frequency else None
        if all(ctx.refusals):  # every number refused: the request answers the first code
            first = ctx.refusals[0]
            assert first is not None
            return first
        batch = self._build(ctx, request.out_id)
        items: list[Acceptance] = list(batch)
        if nonce is not None:
            items.insert(0, SignatureNonce(nonce[0], nonce[1], batch[0].biz_id))
        try:
            results = await self._committer.submit(items)
        except Exception:  # the commit failed: not accepted, so not counted either
            # (a cancelled caller is not released: its messages may still be committed)
            await self._release(admitted)
            raise
        if nonce is not None and not results[0]:  # a replay: nothing of it was written
            await self._release(admitted)
            return Refusal("SignatureNonceUsed", nonce[1])
        self._bus.notify(DISPATCH)
        return SendAccepted(batch[0].biz_id, batch)

    async def _release(self, admitted: Any) -> None:
        if admitted is not None and self._frequency is not None:
            await self._frequency.release(admitted)

    async def _load(self, ctx: SendContext) -> None:
        for name in dict.fromkeys(r.sign_name for r in ctx.recipients):
            ctx.signatures[name] = await self._catalogue.signature(ctx.account.id, name)
        ctx.template = await self._catalogue.template(ctx.account.id, ctx.template_code)
        account_id = ctx.account.id
        platform = self._matchers.get(None, await self._catalogue.keywords(None), "platform")
        own = self._matchers.get(account_id, await self._catalogue.keywords(account_id),
                                 "account")
        ctx.keywords = tuple(m for m in (platform, own) if m is not None)
        if not all(numbers.is_mainland(n) for n in ctx.numbers):
            ctx.registrations = frozenset(
                (r.country, r.kind.value)
                for r in await self._catalogue.registrations(account_id))

    async def _load_lists(self, ctx: SendContext) -> None:
        """The in-memory lists the number chain needs (no store read unless one is stale)."""
        assert ctx.template is not None
        ctx.blacklist = await self._lists.blacklist.get()
        if ctx.template.type is TemplateType.PROMOTION:
            ctx.opt_outs = await self._lists.opt_outs.get()
        if ctx.template.test or any(s is not None and s.test for s in ctx.signatures.values()):
            ctx.test_numbers = await self._lists.test_numbers(ctx.account.id)

    def _build(self, ctx: SendContext, out_id: str) -> list[Message]:
        """One message per number. This runs for each of the 1000 numbers of a bulk request:
        what numbers share (the parts of a text, the fields of a queued message) is worked
        out once, and a queued message is built from positional fields."""
        template = ctx.template
        assert template is not None
        now = ctx.now
        ids = self._ids.next_ids(len(ctx.numbers))
        biz_id = self._ids.biz_id(ids[0])
        parts: dict[str, int] = {}
        price = (ctx.account.part_price if ctx.account.part_price is not None
                 else self._part_price)
        account_id, code, kind = ctx.account.id, template.code, template.type
        notes = ctx.notes
        built = []
        for index, (message_id, number, recipient, body, refusal) in enumerate(
                zip(ids, ctx.numbers, ctx.recipients, ctx.bodies, ctx.refusals, strict=True)):
            count = parts.get(body)
            if count is None:
                count = parts[body] = segments.count_parts(body)
            if refusal is None:
                built.append(Message(message_id, biz_id, account_id, number,
                                     recipient.sign_name, code, kind, body, count,
                                     MessageStatus.WAITING, "", out_id, now,
                                     DispatchState.QUEUED, "", "", None, None,
                                     notes.get(index, ""), price))
            else:
                built.append(Message(id=message_id, biz_id=biz_id, account_id=account_id,
                                     phone=number, sign_name=recipient.sign_name,
                                     template_code=code, template_type=kind, content=body,
                                     segments=count, out_id=out_id, created_at=now,
                                     part_price=price, **_refused(refusal)))
        return built


def _refused(refusal: Refusal) -> dict[str, Any]:
    """A refused number is a failed record that carries the code and the rule that fired,
    and never leaves the platform (a number that passed is queued for dispatch, with the
    note a check left, such as voice delivery, as its reason)."""
    return {"status": MessageStatus.FAILED, "error_code": refusal.code,
            "dispatch_state": DispatchState.DONE,
            "reason": f"{refusal.rule}: {refusal.detail}" if refusal.rule else refusal.detail}
