"""The simulated carriers' real-name registry (实名制报备): answering registrations, and
knowing which signatures are registered where (docs/simulator.md "Real-name registration").

Two parts, one per side of the carrier's counter:

- `SimulatedRegistry` is the `Registrar` of the simulated channels: it takes the platform's
  `Filing`s and answers each after `registration_seconds` on the injected clock, as a carrier
  answers days later: registered, or failed with the SDK's reason codes when the
  qualification does not match the company records it holds, the signature comes from a
  closed source, an enterprise-name signature is not part of the company's name, the
  qualification is an individual's for own use, or a scripted rule says so ("refuse on
  china_unicom with OTHERS_ERROR"). Filing the same registration again is answered once.
- `RegisteredSubPorts` is what the simulated carriers check on every submit (`CarrierRecords`):
  the platform's record of the carriers' answers (rows of `signature_registrations` that a
  carrier accepted), read from the store when it starts and every few seconds after, and
  answered from memory (a set lookup per submit, no store read per message).

The registry keeps the answers it owes in memory: after a restart the platform files its
pending registrations again and they are answered anew.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from yizhan.domain.carriers import Carrier
from yizhan.domain.ports import Clock
from yizhan.domain.registration import REASONS, Answer, Filing
from yizhan.runtime.periodic import Periodic

log = logging.getLogger("yizhan.simulator.registry")

REGISTRATION_SECONDS = 60.0
"""How long the simulated carriers take to answer (a real one: 5-10 working days)."""

COMPANIES: dict[str, str] = {
    # The company records the simulated carriers hold out of the box (unified social credit
    # code -> the registered name), for the demo and the tests; `[simulator.companies]`
    # adds to them or overrides them.
    "91350100M000100Y43": "驿站科技（杭州）有限公司",
    "91330106MA2B3C4D5E": "杭州驿站网络技术有限公司",
}

CLOSED_SOURCES = frozenset({"website", "public_account", "shop", "test", "trial"})
"""Signature sources the carriers no longer register (`compliance.signatures.SignSource`)."""

QUALIFICATION_MISMATCH = "资质信息与工信部登记信息不一致"


@dataclass(frozen=True, slots=True)
class Refusal:
    """A scripted refusal: filings that match every field given are refused with `reason`."""

    reason: str
    carrier: str = ""
    channel: str = ""
    sub_port: str = ""
    sign_name: str = ""
    detail: str = ""
    times: int = 0
    """Refuse only the first `times` filings that match (0: every one): a carrier's
    passing problem, gone when the platform files again."""

    def matches(self, filing: Filing) -> bool:
        port = filing.sub_port
        return ((not self.carrier or port.isp.carrier.value == self.carrier)
                and (not self.channel or port.channel == self.channel)
                and (not self.sub_port or port.number == self.sub_port)
                and (not self.sign_name or filing.sign_name == self.sign_name))


def refusal(raw: Mapping[str, Any]) -> Refusal:
    """One `[[simulator.refusals]]` entry, checked (ValueError names what is wrong)."""
    fields = {"reason", "carrier", "channel", "sub_port", "sign_name", "detail", "times"}
    extra = set(raw) - fields
    if extra:
        raise ValueError(f"refusals: unknown field(s) {', '.join(sorted(extra))}")
    times = raw.get("times", 0)
    if not isinstance(times, int) or isinstance(times, bool) or times < 0:
        raise ValueError("refusals: times must be a whole number, 0 or more")
    values = {k: str(v) for k, v in raw.items() if k != "times"}
    if values.get("reason") not in REASONS:
        raise ValueError(f"refusals: reason must be one of the SDK's codes "
                         f"({', '.join(REASONS)}), not {values.get('reason')!r}")
    carrier = values.get("carrier", "")
    if carrier and carrier not in {c.value for c in Carrier} - {"international"}:
        raise ValueError(f"refusals: unknown carrier {carrier!r}")
    return Refusal(**values, times=times)


class SimulatedRegistry:
    """The `Registrar` of the simulated channels (module doc)."""

    def __init__(self, clock: Clock, *, seconds: float = REGISTRATION_SECONDS,
                 companies: Mapping[str, str] | None = None,
                 refusals: Sequence[Refusal] = ()) -> None:
        self._clock = clock
        self._delay = timedelta(seconds=seconds)
        self.companies = {**COMPANIES, **(companies or {})}
        self._names = {name: code for code, name in self.companies.items()}
        self.refusals = tuple(refusals)
        self._pending: dict[int, tuple[datetime, Filing]] = {}
        self._answered: dict[int, Filing] = {}
        self._refused: dict[int, int] = {}
        """How many filings each scripted refusal (by its index) has refused."""

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], clock: Clock) -> SimulatedRegistry:
        """From the channel file's `[simulator]`: `registration_seconds`, `[simulator.
        companies]` (credit code = "company name") and `[[simulator.refusals]]`."""
        seconds = settings.get("registration_seconds", REGISTRATION_SECONDS)
        if not isinstance(seconds, int | float) or seconds < 0:
            raise ValueError("registration_seconds must be a number of seconds, 0 or more")
        companies = settings.get("companies", {})
        if not isinstance(companies, dict):
            raise ValueError("[simulator.companies] must map credit codes to company names")
        refusals = settings.get("refusals", [])
        if not isinstance(refusals, list):
            raise ValueError("refusals must be a list ([[simulator.refusals]])")
        return cls(clock, seconds=float(seconds),
                   companies={str(k): str(v) for k, v in companies.items()},
                   refusals=[refusal(r) for r in refusals])

    async def file(self, filings: Sequence[Filing]) -> None:
        """Take `filings`; each is answered `registration_seconds` from now. A filing
        already waiting or answered is not taken again; a changed one (the same
        registration filed with another qualification) starts over."""
        due = self._clock.now() + self._delay
        for filing in filings:
            rid = filing.registration_id
            waiting = self._pending.get(rid)
            if (waiting is not None and waiting[1] == filing) or self._answered.get(rid) == filing:
                continue
            self._answered.pop(rid, None)
            self._pending[rid] = (due, filing)

    async def answers(self) -> list[Answer]:
        """The answers due by now, each given once."""
        now = self._clock.now()
        due = [rid for rid, (at, _) in self._pending.items() if at <= now]
        result = []
        for rid in due:
            _, filing = self._pending.pop(rid)
            self._answered[rid] = filing
            result.append(replace(self.answer(filing), requested_at=filing.requested_at))
        return result

    def answer(self, filing: Filing) -> Answer:
        """What a carrier answers to `filing` (module doc; the first cause found)."""
        rid = filing.registration_id
        if not filing.company and not filing.for_others:
            return Answer(rid, False, ("QUALIFICATION_ERROR",),
                          "个人自用资质无法通过实名制报备 (an individual's qualification for own "
                          "use cannot be registered)")
        if not self._matches_records(filing):
            return Answer(rid, False, ("QUALIFICATION_ERROR",), QUALIFICATION_MISMATCH)
        if filing.source in CLOSED_SOURCES:
            return Answer(rid, False, ("SIGNATURE_ERROR",),
                          f"签名来源 {filing.source} 不符合实名制要求")
        if (filing.source == "enterprise" and filing.company
                and filing.sign_name.casefold() not in filing.company.casefold()):
            return Answer(rid, False, ("SIGNATURE_QUALIFICATION_ERROR",),
                          f"签名“{filing.sign_name}”不是“{filing.company}”的全称或连续简称")
        for n, scripted in enumerate(self.refusals):
            if not scripted.matches(filing):
                continue
            if scripted.times and self._refused.get(n, 0) >= scripted.times:
                continue
            self._refused[n] = self._refused.get(n, 0) + 1
            return Answer(rid, False, (scripted.reason,),
                          scripted.detail or REASONS[scripted.reason][0])
        return Answer(rid, True)

    def _matches_records(self, filing: Filing) -> bool:
        """A company the records hold must be filed under its registered name and code;
        one they do not hold is taken as filed (the simulator knows only the companies it
        was told about)."""
        if not filing.company:
            return True
        known = self.companies.get(filing.credit_code)
        if known is not None:
            return known == filing.company
        return self._names.get(filing.company, filing.credit_code) == filing.credit_code


class RegisteredSubPorts:
    """The simulated carriers' view of registrations (`CarrierRecords`, module doc): read
    from the store at start and every `every` seconds; a `Background` the pipeline starts
    before the simulated channels (`Pipeline.servers`)."""

    def __init__(self, load: Callable[[], Awaitable[set[tuple[str, str]]]],
                 every: float = 1.0) -> None:
        self._load = load
        self._pairs: frozenset[tuple[str, str]] = frozenset()
        self._ports: frozenset[str] = frozenset()
        self._loop = Periodic("carrier registry", self.refresh, every, log)

    def registered(self, sub_port: str, sign_name: str) -> bool:
        if not sign_name:
            return sub_port in self._ports
        return (sub_port, sign_name) in self._pairs

    async def refresh(self) -> None:
        pairs = await self._load()
        self._pairs = frozenset(pairs)
        self._ports = frozenset(port for port, _ in pairs)

    async def start(self) -> None:
        await self.refresh()  # before the first submit
        await self._loop.start()

    async def stop(self) -> None:
        await self._loop.stop()
