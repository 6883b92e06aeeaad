"""Intake: a send request becomes one message per number, committed with its outbox rows.

Consumes a `SendRequest` from the APIs or the CLI; loads the signatures, template, keyword
lists and (for international numbers) the account's registrations, all cached; runs the
request-level policy chain, then the per-number chain; on success builds the messages
(status waiting, parts counted; refused numbers as failed records; each with its policy
trail, the verdict of every rule for its number), hands them to the group committer and
answers the BizId only after the commit (docs/architecture.md: acceptance is durable); then
wakes the dispatch stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from yizhan.domain import segments
from yizhan.domain.errors import Refusal
from yizhan.domain.frozen import per_request
from yizhan.domain.ids import IdGenerator
from yizhan.domain.model import (
    Account,
    AccountId,
    BizId,
    DispatchState,
    Message,
    Registration,
    Signature,
    SignatureNonce,
    Template,
    TemplateType,
)
from yizhan.domain.ports import Bus, Clock
from yizhan.domain.priority import DispatchClass, DispatchPriority
from yizhan.domain.tasks import TaskChunk, TaskId
from yizhan.policy import chain, numbers
from yizhan.policy.backpressure import Backpressure
from yizhan.policy.chain import Chain, Recipient, SendContext
from yizhan.policy.content_filter import MatcherCache
from yizhan.policy.flow_control import Admission, FrequencyControl
from yizhan.policy.lists import PolicyLists
from yizhan.runtime.batching import Batcher
from yizhan.runtime.caching import TtlCache

MAX_NUMBERS = 1000
MAX_BATCH_NUMBERS = 100
DISPATCH = "dispatch"
DISPATCH_URGENT = "dispatch-urgent"
"""Wakes the express dispatch worker (dispatch/worker.py): a verification code to send."""
PRIORITY_ITEMS = MAX_BATCH_NUMBERS + 1
"""Requests of at most this many acceptance items (up to 100 numbers and a nonce) go ahead
of larger ones waiting for a commit (`Batcher(small=...)`): a verification code is not held
behind a promotion's 1000-number requests (docs/architecture.md)."""

Acceptance = Message | SignatureNonce | TaskChunk
"""What the group committer writes: messages, the nonces of the requests they came in, and
the send-task rows they were made from (`domain/tasks.py`)."""


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


@per_request
class SendRequest:
    template_code: str
    recipients: Sequence[Recipient]
    out_id: str = ""
    max_numbers: int = MAX_NUMBERS
    task: TaskId | None = None
    """A chunk of a send task (`tasks/engine.py`): `recipients` are its rows `task_rows`.
    Its rows are marked in the acceptance transaction; its messages are bulk for the
    dispatch order whatever their count; a chunk whose every number is refused is still
    recorded (failed records carrying the codes), as a task's numbers must all end."""
    task_rows: Sequence[int] = ()


@per_request
class SendAccepted:
    biz_id: BizId
    messages: list[Message]


class Intake:
    def __init__(self, catalogue: Catalogue, committer: Batcher[Acceptance], clock: Clock,
                 ids: IdGenerator, bus: Bus, lists: PolicyLists, *, part_price: int = 0,
                 policy: Chain = chain.DEFAULT,
                 frequency: FrequencyControl | None = None,
                 backpressure: Backpressure | None = None,
                 priority: DispatchPriority | None = None) -> None:
        """`part_price`: the platform's price per part (thousandths of a yuan), for
        accounts without their own; stored on each message, which is billed later.
        `frequency`: the frequency control, the last step before acceptance (None: off).
        `backpressure`: holds back requests of several numbers while the dispatch backlog
        is too long (None: off). `policy`: the chain of rules every request runs.
        `priority`: the dispatch order the store ranks by, to know a verification code."""
        self._catalogue = catalogue
        self._lists = lists
        self._part_price = part_price
        self._policy = policy
        self._committer = committer
        self._clock = clock
        self._ids = ids
        self._bus = bus
        self._matchers = MatcherCache()
        self._frequency = frequency
        self._backpressure = backpressure
        self._priority = priority or DispatchPriority()

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
                          request.max_numbers, now=self._clock.now(),
                          counted=self._frequency is not None)
        if len(request.out_id) > 255:
            return Refusal("InvalidParameter", "OutId has more than 255 characters", "out_id")
        policy = self._policy
        refusal = policy.run_request(ctx, looked_up=False)  # before any lookup
        if refusal is None:
            await self._load(ctx)
            refusal = policy.run_request(ctx, looked_up=True)
        if refusal is not None:
            return refusal
        await self._load_lists(ctx)
        policy.run_numbers(ctx)
        # Frequency control last: a number refused for any other reason consumes no quota.
        admitted = await self._frequency.admit(ctx) if self._frequency else None
        if all(ctx.refusals) and request.task is None:
            first = ctx.refusals[0]  # every number refused: the request answers its code
            assert first is not None
            return first
        batch = self._build(ctx, request.out_id)
        items: list[Acceptance] = list(batch)
        if nonce is not None:
            items.insert(0, SignatureNonce(nonce[0], nonce[1], batch[0].biz_id))
        if request.task is not None:
            items.insert(0, TaskChunk(request.task, request.task_rows, [m.id for m in batch],
                                      [r is not None for r in ctx.refusals]))
        try:
            results = await self._committer.submit(items)
        except Exception:  # the commit failed: not accepted, so not counted either
            # (a cancelled caller is not released: its messages may still be committed)
            await self._release(admitted)
            raise
        if nonce is not None and not results[0]:  # a replay: nothing of it was written
            await self._release(admitted)
            return Refusal("SignatureNonceUsed", nonce[1])
        if request.task is not None and not results[0]:  # paused or cancelled meanwhile
            await self._release(admitted)
            return Refusal("isv.TASK_STATE_CONFLICT", f"task {request.task} is not running")
        self._bus.notify(DISPATCH)
        if request.task is None and ctx.template is not None and self._priority.of(
                ctx.template.type, len(batch)) is DispatchClass.VERIFICATION:
            self._bus.notify(DISPATCH_URGENT)  # the express worker sends it at once
        return SendAccepted(batch[0].biz_id, batch)

    async def _release(self, admitted: Admission | None) -> None:
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
        what numbers share (the parts of a text) is worked out once."""
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
        for index, (message_id, number, recipient, body, refusal, trail) in enumerate(
                zip(ids, ctx.numbers, ctx.recipients, ctx.bodies, ctx.refusals, ctx.trails,
                    strict=True)):
            count = parts.get(body)
            if count is None:
                count = parts[body] = segments.count_parts(body)
            if refusal is None:
                built.append(Message.queued(
                    id=message_id, biz_id=biz_id, account_id=account_id, phone=number,
                    sign_name=recipient.sign_name, template_code=code, template_type=kind,
                    content=body, segments=count, out_id=out_id, created_at=now,
                    part_price=price, reason=notes.get(index, ""), policy_trail=trail))
            else:
                built.append(Message.refused(
                    id=message_id, biz_id=biz_id, account_id=account_id, phone=number,
                    sign_name=recipient.sign_name, template_code=code, template_type=kind,
                    content=body, segments=count, out_id=out_id, created_at=now,
                    part_price=price, error_code=refusal.code, reason=_reason(refusal),
                    policy_trail=trail))
        return built


def _reason(refusal: Refusal) -> str:
    """What a refused number's record says: the rule that fired and what was wrong (a
    number that passed carries the note a check left, such as voice delivery, instead)."""
    return f"{refusal.rule}: {refusal.detail}" if refusal.rule else refusal.detail
