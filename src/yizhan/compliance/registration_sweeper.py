"""The registration sweeper: hands registering rows to the carriers, brings their answers
back, and runs the clock's transitions (docs/compliance.md "Carrier registration").

Each round: every registering row this process has not filed yet (after a restart: every
one; filing is idempotent per registration id) goes to the registrar of its channel; the
registrars' answers move their rows (`RegistrationService.apply`); rows unanswered one
answer period past due fail (`time_out`); awaiting rows count their deliveries (`verify`);
and, at most every `lapse_every` seconds, unused registrations lapse (`lapse`).

A channel without a registrar of its own (not simulated) is a real carrier: the
`ManualRegistrar` logs what the operator must file by hand, and the operator records the
carrier's answer with `yizhan signs registration-answer` (straight into the store).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime

from yizhan.compliance.registration import RegistrationService
from yizhan.domain.ports import Registrar
from yizhan.domain.registration import Answer, Filing, RegistrationState

log = logging.getLogger("yizhan.registration")


class ManualRegistrar:
    """A real carrier: the operator files by hand (the carrier's portal, or the channel
    provider's) and records the answer with the CLI, so nothing is answered here."""

    async def file(self, filings: Sequence[Filing]) -> None:
        for f in filings:
            log.info("registration %d to file by hand with %s: signature %s on sub-port %s "
                     "(channel %s), company %s; record the answer with `yizhan signs "
                     "registration-answer`", f.registration_id, f.sub_port.isp.value,
                     f.sign_name, f.sub_port.number, f.sub_port.channel, f.company or "-")

    async def answers(self) -> list[Answer]:
        return []


class RegistrationSweeper:
    def __init__(self, service: RegistrationService, registrars: Mapping[str, Registrar],
                 fallback: Registrar | None = None, lapse_every: float = 3600.0,
                 batch: int = 500) -> None:
        self.service = service
        self.registrars = dict(registrars)
        self.fallback = fallback or ManualRegistrar()
        self.lapse_every = lapse_every
        self.batch = batch
        """Filings handed over per round at most; the rest go next round."""
        self._filed: set[tuple[int, datetime | None]] = set()
        """(registration id, requested at) handed to a registrar by this process: a row
        filed again (a new qualification) has a new request time and is handed over again."""
        self._lapsed_at: float | None = None

    def registrar(self, channel: str) -> Registrar:
        return self.registrars.get(channel, self.fallback)

    async def round(self) -> None:
        await self.file()
        await self.collect()
        await self.service.time_out()
        await self.service.verify()
        monotonic = self.service.clock.monotonic()
        if self._lapsed_at is None or monotonic - self._lapsed_at >= self.lapse_every:
            self._lapsed_at = monotonic
            await self.service.lapse()

    async def file(self) -> int:
        """Hand the registering rows not yet filed by this process to their registrars
        (`batch` at most); how many."""
        by_registrar: dict[int, tuple[Registrar, list[Filing]]] = {}
        keys: list[tuple[int, datetime | None]] = []
        async for row in self.service.walk([RegistrationState.REGISTERING]):
            key = (row.id, row.requested_at)
            if key in self._filed:
                continue
            if len(keys) >= self.batch:
                break
            filing = await self.service.filing(row)
            if filing is None:  # its signature or qualification is gone: nothing to file
                self._filed.add(key)
                continue
            registrar = self.registrar(row.channel)
            by_registrar.setdefault(id(registrar), (registrar, []))[1].append(filing)
            keys.append(key)
        for registrar, filings in by_registrar.values():
            await registrar.file(filings)
        self._filed.update(keys)
        return len(keys)

    async def collect(self) -> int:
        """Apply every registrar's new answers; how many moved a row."""
        moved = 0
        seen: set[int] = set()
        for registrar in [*self.registrars.values(), self.fallback]:
            if id(registrar) in seen:
                continue
            seen.add(id(registrar))
            for answer in await registrar.answers():
                if await self.service.apply(answer):
                    moved += 1
                else:
                    log.info("registration %d: answer ignored, the row is no longer "
                             "registering", answer.registration_id)
        return moved
