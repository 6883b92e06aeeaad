"""The pre-flight report: what a task would do, before anything is sent (docs/tasks.md).

Consumes a task, its rows and the planned start. Decides nothing and changes nothing: it
asks the same pieces the policy chain uses what they would say at that moment, the
blacklist and the opt-outs (`policy/blacklist.py`, `policy/opt_outs.py`, on intake's
in-memory lists), the frequency limits (`policy/frequency.limits_for`, read with the
counter's `peek`, which counts nothing), the promotion hours (`policy/quiet_hours.py`), the
parts of each text (`policy/templates.render`, `domain/segments.py`), the price of a part
(the account's or the platform's, as intake stores it on each message) against the
balance and the prepaid packages' parts left. The tenant reads it, then starts the task.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import orjson
import phonenumbers

from yizhan.domain import segments
from yizhan.domain.carriers import carrier_label
from yizhan.domain.errors import Refusal
from yizhan.domain.model import Account, AccountId, Package, PhoneNumber, TemplateType
from yizhan.domain.ports import RateCounter
from yizhan.domain.rates import FrequencyProfile, RateCheck, to_ms
from yizhan.domain.tasks import SendTask, TaskRow
from yizhan.domain.timezone import CHINA
from yizhan.policy import blacklist, opt_outs, templates
from yizhan.policy.frequency import PLATFORM, limits_for
from yizhan.policy.lists import PolicyLists
from yizhan.policy.numbers import is_mainland
from yizhan.policy.quiet_hours import CLOSES, OPENS, within_promotion_hours

CHUNK = 1000
"""Numbers looked at between two turns of the event loop (their frequency windows read
in one call of the counter)."""


class Money(Protocol):
    async def packages(self, account_id: AccountId) -> list[Package]: ...


class Profiles(Protocol):
    async def frequency_profile(self, account_id: AccountId) -> FrequencyProfile: ...


@dataclass(frozen=True, slots=True)
class Preflight:
    task_id: int
    at: datetime
    """The planned start the report is for."""
    numbers: int
    """Numbers the task holds (after the import's rejections)."""
    invalid: int
    duplicates: int
    blacklisted: int
    opted_out: int
    frequency_refused: int
    """Numbers the frequency control would refuse at `at` (read only: nothing counted)."""
    sendable: int
    """Numbers none of the above refuses."""
    carriers: dict[str, int]
    countries: dict[str, int]
    """Per ISO country code (CN for the mainland)."""
    promotion: bool
    within_hours: bool
    """`at` is inside promotion hours (always True for other templates)."""
    next_start: datetime | None
    """For a promotion planned outside the hours: when sending may begin (08:00 China)."""
    parts_per_message: tuple[int, ...]
    """The distinct part counts of the task's texts (one for a text without columns)."""
    parts: int
    """Parts of every sendable number's message."""
    part_price: int
    cost: int
    """Thousandths of a yuan: what the parts beyond the packages' would cost."""
    package_parts: int
    """Parts left in the account's unexpired packages."""
    balance: int
    covered: bool
    """Packages and balance pay for every part."""
    rate: float | None
    seconds: float | None
    """Expected duration at the task's rate (None: no rate set, as fast as dispatch goes)."""


class PreflightInputs:
    """What the report reads: intake's lists, the frequency counter (peek), the store's
    packages and frequency profiles, and the platform's price per part."""

    def __init__(self, lists: PolicyLists, counter: RateCounter | None, money: Money,
                 part_price: int, profiles: Profiles | None = None) -> None:
        """`counter` None: no frequency control; `profiles`: the accounts' own limits
        (None: the platform's)."""
        self._profiles = profiles
        self._lists = lists
        self._counter = counter
        self._money = money
        self._part_price = part_price

    async def report(self, account: Account, task: SendTask, content: str,
                     rows: Sequence[TaskRow], at: datetime) -> Preflight:
        """The report for `task` (its template's text `content`) started at `at`. The rows
        go a chunk at a time, giving the event loop back in between: a report of 500,000
        numbers takes seconds, and the API's requests go on meanwhile."""
        black = await self._lists.blacklist.get()
        promotion = task.template_type is TemplateType.PROMOTION
        outs = await self._lists.opt_outs.get() if promotion else None
        profile = (await self._profiles.frequency_profile(account.id)
                   if self._profiles is not None else PLATFORM)
        tally = _Tally(content, f"【{task.sign_name}】")
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            passing = []
            for row in chunk:
                is_black = blacklist.check(black, row.phone, task.sign_name) is not None
                is_out = outs is not None and opt_outs.check(
                    outs, task.template_type, account.id, task.sign_name,
                    row.phone) is not None
                tally.blacklisted += is_black
                tally.opted_out += is_out and not is_black
                if not (is_black or is_out):
                    passing.append(row)
            limited = await self._frequency(account, task, [r.phone for r in passing], at,
                                            profile)
            tally.limited += sum(limited)
            tally.add(task, chunk, [r for r, no in zip(passing, limited, strict=True)
                                    if not no])
            await asyncio.sleep(0)
        return await self._priced(account, task, at, tally)

    async def _priced(self, account: Account, task: SendTask, at: datetime,
                      tally: _Tally) -> Preflight:
        price = account.part_price if account.part_price is not None else self._part_price
        left = sum(p.parts_left for p in await self._money.packages(account.id)
                   if p.expires_at > at and p.parts_left > 0)
        cost = max(tally.parts - left, 0) * price
        promotion = task.template_type is TemplateType.PROMOTION
        inside = not promotion or within_promotion_hours(at)
        return Preflight(
            task.id, at, task.total, task.rejected - task.duplicates, task.duplicates,
            tally.blacklisted, tally.opted_out, tally.limited, tally.sendable,
            dict(tally.carriers), dict(tally.countries), promotion, inside,
            None if inside else next_promotion_start(at),
            tuple(sorted(set(tally.part_counts.values()))), tally.parts, price, cost, left,
            account.balance, account.balance >= cost, task.rate,
            tally.sendable / task.rate if task.rate else None)

    async def _frequency(self, account: Account, task: SendTask,
                         phones: Sequence[PhoneNumber], at: datetime,
                         profile: FrequencyProfile) -> list[bool]:
        """Per number, whether a limit of the frequency control is already reached at `at`
        (the counter's windows as they stand; a task sends each number once)."""
        if self._counter is None or not phones:
            return [False] * len(phones)
        limits = [limits_for(account.id, task.sign_name, task.template_code,
                             task.template_type, phone, profile) for phone in phones]
        checks = [RateCheck(*limit[:3]) for each in limits for limit in each]
        counts = iter(await self._counter.peek(checks, to_ms(at)))
        return [any([next(counts).count >= limit.limit for limit in each]) for each in limits]


@dataclass
class _Tally:
    """The report's figures, added up chunk by chunk."""

    content: str
    head: str
    """The signature in 【】, which starts every text."""
    blacklisted: int = 0
    opted_out: int = 0
    limited: int = 0
    sendable: int = 0
    parts: int = 0
    part_counts: dict[str, int] = field(default_factory=dict)
    """Parts per distinct set of column values ('' when none), rendered once each."""
    carriers: Counter[str] = field(default_factory=Counter)
    countries: Counter[str] = field(default_factory=Counter)

    def add(self, task: SendTask, rows: Sequence[TaskRow], sendable: Sequence[TaskRow]) -> None:
        self.carriers.update(carrier_label(r.phone) for r in rows)
        self.countries.update(_country(r.phone) for r in rows)
        self.sendable += len(sendable)
        cache = self.part_counts
        for row in sendable:
            count = cache.get(row.params)
            if count is None:
                values = task.params | (orjson.loads(row.params) if row.params else {})
                body = templates.render(self.content, values)
                count = cache[row.params] = (
                    0 if isinstance(body, Refusal) else segments.count_parts(self.head + body))
            self.parts += count


def next_promotion_start(at: datetime) -> datetime:
    """The next moment promotions may be sent from `at` (08:00 China time)."""
    local = at.astimezone(CHINA)
    if OPENS <= local.time() < CLOSES:
        return at
    start = local.replace(hour=OPENS.hour, minute=OPENS.minute, second=0, microsecond=0)
    return start + timedelta(days=1) if local.time() >= CLOSES else start


def _country(phone: PhoneNumber) -> str:
    if is_mainland(phone):
        return "CN"
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone)) or "ZZ"
    except phonenumbers.NumberParseException:
        return "ZZ"
