"""Carrier real-name registration (实名制报备) of signatures, the platform's side: when a
signature is filed with the carriers, what is filed, and how each sub-port's row moves on
(docs/compliance.md "Carrier registration").

`start` files an approved signature on every sub-port of the channel plan (one per channel
that names its carrier; the sub-port ends in the signature's extension code, its id), with
the company data of its qualification, the answer due `answer_days` later. A signature
without a qualification, or with one that cannot stand for registration (not approved,
incomplete, an individual's own use), is not filed: its rows say not registered (-2) and
why. What starts it: the operator's approval of the signature (`on_approved`), a change of
its qualification (`on_qualification_changed`), the re-approval of its qualification
(`on_qualification_approved`), and the explicit trigger (`start`, `register_all`: CLI and
REST), each audited with who triggered it.

The registration sweeper (`registration_sweeper.py`) hands the rows to the carriers and
brings their answers here (`apply`); `time_out`, `verify` and `lapse` are the clock's
transitions it runs each round. States and reasons: `domain/registration.py`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Protocol

from yizhan.compliance import qualifications
from yizhan.domain.errors import Refusal
from yizhan.domain.model import AccountId, Qualification, QualificationKind, ReviewState, Signature
from yizhan.domain.ports import Clock
from yizhan.domain.registration import (
    REASONS,
    Answer,
    CarrierRegistration,
    Filing,
    RegistrationState,
    SubPort,
    SubPortRegistration,
    by_carrier,
)
from yizhan.domain.timezone import china_day_bounds, china_text

log = logging.getLogger("yizhan.registration")
S = RegistrationState
USABLE = (S.AWAITING_VERIFICATION, S.REGISTERED)
IN_HAND = (S.REGISTERING, *USABLE)
"""Sub-ports the explicit trigger leaves alone: the carrier has the filing, or accepted it."""
CARRIER_REFUSALS = ("QUALIFICATION_ERROR", "SIGNATURE_ERROR", "SIGNATURE_QUALIFICATION_ERROR",
                    "ONE_CODE_MULTIPLE_SIGN", "EXT_CODE_RECYCLE", "SUBPORT_RECYCLE",
                    "OTHERS_ERROR")
"""The reasons a carrier gives when it refuses a filing (state 0)."""

OWN_USE = ("个人自用资质不能用于运营商实名制报备：请提交他用资质（附委托授权书）或企业资质，"
           "并将签名关联到该资质。",
           "An individual's own-use qualification cannot be registered with the carriers: "
           "submit a qualification for others (with its letter of authorization) or an "
           "enterprise qualification, and bind the signature to it.")
"""Why an individual's own-use qualification is not filed (reason BINDING_INCOMPLETE_QUA:
the SDK's -2 reasons are "no qualification" and "the qualification cannot stand for it")."""


@dataclass(frozen=True, slots=True)
class RegistrationSettings:
    answer_days: float = 7.0
    """Days until a carrier's answer is due (settings `registration_answer_days`)."""
    verify_deliveries: int = 5
    """Successful deliveries on a sub-port that verify it (`registration_verify_deliveries`)."""
    lapse_days: int = 180
    """Days without a send after which a registration lapses (`registration_lapse_days`)."""


class SubPorts(Protocol):
    """Where signatures are registered: the channel plan (`dispatch/channel_file.py`)."""

    def sub_ports(self, extension: str) -> list[SubPort]: ...


class RegistrationStore(Protocol):
    """The rows of `signature_registrations`, and what registration reads of signatures,
    qualifications, messages and statistics (storage/registrations.py)."""

    async def file_sign_registrations(self, account_id: AccountId, signature_id: int,
                                      sub_ports: Sequence[SubPort],
                                      qualification_id: int | None, now: datetime,
                                      due: datetime) -> list[SubPortRegistration]: ...
    async def hold_sign_registrations(self, account_id: AccountId, signature_id: int,
                                      sub_ports: Sequence[SubPort],
                                      qualification_id: int | None, reason: str, detail: str,
                                      now: datetime) -> list[SubPortRegistration]: ...
    async def sign_registrations(self, signature_id: int) -> list[SubPortRegistration]: ...
    async def sign_registrations_in(self, states: Collection[RegistrationState],
                                    due_by: datetime | None = None,
                                    limit: int = 1000) -> list[SubPortRegistration]: ...
    async def set_sign_registration(self, registration_id: int, state: RegistrationState,
                                    reasons: Sequence[str], now: datetime, *, detail: str = "",
                                    answered: bool = False,
                                    expect: Collection[RegistrationState] = (),
                                    requested_at: datetime | None = None) -> bool: ...
    async def set_sign_deliveries(self, registration_id: int, count: int,
                                  now: datetime) -> None: ...
    async def sign_registrations_after(self, states: Collection[RegistrationState],
                                       after: int, limit: int = 500,
                                       ) -> list[SubPortRegistration]: ...
    async def successful_deliveries(self, account_id: AccountId, sign_name: str,
                                    channel: str, since: datetime, limit: int) -> int: ...
    async def last_send_day(self, account_id: AccountId, sign_name: str) -> date | None: ...
    async def audit_registration(self, account_id: AccountId, signature_id: int, actor: str,
                                 reason: str, now: datetime) -> None: ...
    async def signature(self, account_id: AccountId, name: str) -> Signature | None: ...
    async def list_signatures(self, account_id: AccountId | None = None,
                              ) -> list[Signature]: ...
    async def qualification(self, account_id: AccountId,
                            qualification_id: int) -> Qualification | None: ...


@dataclass(frozen=True, slots=True)
class Started:
    """What one start did: the sub-ports filed, or why none was (`held`, a REASONS code)."""

    signature: Signature
    filed: tuple[SubPortRegistration, ...]
    held: str | None = None
    detail: str = ""


class RegistrationService:
    def __init__(self, store: RegistrationStore, clock: Clock, plan: SubPorts,
                 settings: RegistrationSettings = RegistrationSettings()) -> None:
        self.store = store
        self.clock = clock
        self.plan = plan
        self.settings = settings

    # What the tenant and the operator see

    async def carriers(self, signature: Signature) -> list[CarrierRegistration]:
        """The three carriers' states (GetSmsSign's SignIspRegisterDetailList)."""
        missing = "UNBINDING_QUA" if signature.qualification_id is None else "NON_REGISTER"
        return by_carrier(await self.store.sign_registrations(signature.id), missing)

    # Starting

    async def start(self, signature: Signature, actor: str, why: str = "explicit trigger",
                    *, only_missing: bool = False) -> Started | Refusal:
        """File an approved signature on the plan's sub-ports (with `only_missing`, only
        those not registering nor registered), audited as `actor`'s `why`."""
        if signature.state is not ReviewState.APPROVED:
            return Refusal("isv.SIGNATURE_NOT_APPROVED",
                           f"signature {signature.name!r} is {signature.state.value}")
        ports = self.plan.sub_ports(str(signature.id))
        if only_missing:
            held = {r.channel for r in await self.store.sign_registrations(signature.id)
                    if r.state in IN_HAND}
            ports = [p for p in ports if p.channel not in held]
        q, reason, detail = await self._standing(signature)
        now = self.clock.now()
        qid = signature.qualification_id
        if reason is not None:
            rows = await self.store.hold_sign_registrations(
                signature.account_id, signature.id, ports, qid, reason, detail, now)
            mine = {p.channel for p in ports}
            started = Started(signature, tuple(r for r in rows if r.channel in mine), reason,
                              detail)
            note = f"{why}: not filed, {reason} ({REASONS[reason][1]}){_colon(detail)}"
        else:
            assert q is not None
            due = now + timedelta(days=self.settings.answer_days)
            rows = await self.store.file_sign_registrations(
                signature.account_id, signature.id, ports, q.id, now, due)
            mine = {p.channel for p in ports}
            started = Started(signature, tuple(r for r in rows if r.channel in mine))
            note = (f"{why}: filed on {len(ports)} sub-port(s) "
                    f"({', '.join(p.channel for p in ports) or 'none in the channel plan'})"
                    f" with qualification {q.id}, answer due {china_text(due)}")
        await self.store.audit_registration(signature.account_id, signature.id, actor, note,
                                            now)
        log.info("registration of signature %d (account %d) by %s: %s", signature.id,
                 signature.account_id, actor, note)
        return started

    async def _standing(self, signature: Signature,
                        ) -> tuple[Qualification | None, str | None, str]:
        """The qualification to file with, or the reason (and detail) it cannot be filed."""
        if signature.qualification_id is None:
            return None, "UNBINDING_QUA", ""
        q = await self.store.qualification(signature.account_id, signature.qualification_id)
        if q is None or q.state is not ReviewState.APPROVED:
            state = "deleted" if q is None else q.state.value
            return q, "BINDING_INCOMPLETE_QUA", f"资质{state} / the qualification is {state}"
        if q.details.kind is QualificationKind.PERSONAL and q.details.for_self:
            return q, "BINDING_INCOMPLETE_QUA", " / ".join(OWN_USE)
        missing = qualifications.problems(q.details)
        if missing:
            return q, "BINDING_INCOMPLETE_QUA", "资质信息不全 / incomplete: " + "; ".join(missing)
        return q, None, ""

    async def on_approved(self, signature: Signature, actor: str) -> Started | None:
        """The operator approved the signature: registration starts by itself when a
        qualification is bound (without one, GetSmsSign already says UNBINDING_QUA)."""
        if signature.state is not ReviewState.APPROVED or signature.qualification_id is None:
            return None
        started = await self.start(signature, actor, "signature approved")
        return started if isinstance(started, Started) else None

    async def on_qualification_changed(self, signature: Signature,
                                       actor: str) -> Started | None:
        """Another qualification stands behind the signature: every sub-port starts
        again with it (an unapproved signature is filed once approved)."""
        if signature.state is not ReviewState.APPROVED:
            return None
        started = await self.start(signature, actor, "qualification changed")
        return started if isinstance(started, Started) else None

    async def on_qualification_approved(self, qualification: Qualification,
                                        actor: str) -> list[Started]:
        """A qualification was approved (again, after an update): its approved signatures
        are filed again with its company data."""
        done = []
        for s in await self.store.list_signatures(qualification.account_id):
            if s.qualification_id == qualification.id and s.state is ReviewState.APPROVED:
                started = await self.start(s, actor, "qualification approved")
                if isinstance(started, Started):
                    done.append(started)
        return done

    async def register_all(self, account_id: AccountId | None, actor: str) -> list[Started]:
        """The explicit trigger for every approved signature (of one account, or all):
        each sub-port not registering nor registered is filed (or held, with its reason)."""
        done = []
        for s in await self.store.list_signatures(account_id):
            if s.state is not ReviewState.APPROVED:
                continue
            rows = await self.store.sign_registrations(s.id)
            held = {r.channel for r in rows if r.state in IN_HAND}
            if all(p.channel in held for p in self.plan.sub_ports(str(s.id))):
                continue
            started = await self.start(s, actor, "register all", only_missing=True)
            if isinstance(started, Started):
                done.append(started)
        return done

    # The carriers' answers

    async def filing(self, row: SubPortRegistration) -> Filing | None:
        """What is filed with the carrier for a registering row (None: its signature or
        qualification is gone)."""
        signature = await self.store.signature(row.account_id, row.sign_name)
        if signature is None or row.qualification_id is None:
            return None
        q = await self.store.qualification(row.account_id, row.qualification_id)
        if q is None:
            return None
        d = q.details
        return Filing(row.id, SubPort(row.isp, row.channel, row.sub_port), row.sign_name,
                      signature.source, d.company_name, d.organization_code,
                      d.legal_person_name, not d.for_self, row.requested_at)

    async def apply(self, answer: Answer) -> bool:
        """A carrier's answer to a registering row: registered, awaiting verification
        (DETECTING), or failed with its reasons; False when the row was not registering, or
        is registering on a later request than the one answered."""
        now = self.clock.now()
        state, reasons = (S.AWAITING_VERIFICATION, ["DETECTING"]) if answer.registered else (
            S.FAILED, [r for r in answer.reasons if r in REASONS] or ["OTHERS_ERROR"])
        moved = await self.store.set_sign_registration(
            answer.registration_id, state, reasons, now, detail=answer.detail, answered=True,
            expect=[S.REGISTERING], requested_at=answer.requested_at)
        if moved:
            _moved(answer.registration_id, state, reasons)
        return moved

    async def record_answer(self, signature: Signature, channel: str, answer: Answer,
                            actor: str) -> SubPortRegistration | None:
        """The operator records a real carrier's answer for the signature's sub-port on
        `channel` (audited); None when that sub-port is not registering."""
        rows = [r for r in await self.store.sign_registrations(signature.id)
                if r.channel == channel and r.state is S.REGISTERING]
        if not rows:
            return None
        row = rows[0]
        if not await self.apply(Answer(row.id, answer.registered, answer.reasons,
                                       answer.detail)):
            return None
        what = "registered" if answer.registered else "failed " + ",".join(answer.reasons)
        await self.store.audit_registration(
            signature.account_id, signature.id, actor,
            f"carrier answer on {channel} ({row.sub_port}): {what}{_colon(answer.detail)}",
            self.clock.now())
        return next(r for r in await self.store.sign_registrations(signature.id)
                    if r.id == row.id)

    # The clock's transitions (the sweeper runs them)

    async def walk(self, states: Collection[RegistrationState],
                   page: int = 500) -> AsyncIterator[SubPortRegistration]:
        """Every row in `states`, a page at a time by id (however many there are)."""
        after = 0
        while True:
            rows = await self.store.sign_registrations_after(states, after, page)
            for row in rows:
                yield row
            if len(rows) < page:
                return
            after = rows[-1].id

    async def time_out(self) -> int:
        """Rows still registering one whole answer period after they were due fail with
        REGISTER_TIMEOUT (before that they are shown overdue); how many."""
        now = self.clock.now()
        period = timedelta(days=self.settings.answer_days)
        moved = 0
        for row in await self.store.sign_registrations_in([S.REGISTERING], due_by=now - period):
            detail = (f"运营商在{china_text(row.due_at)}前未答复 / the carrier had not answered "
                      f"by {china_text(row.due_at)}, nor in the {self.settings.answer_days:g} "
                      "days after: start the registration again")
            if await self.store.set_sign_registration(
                    row.id, S.FAILED, ["REGISTER_TIMEOUT"], now, detail=detail,
                    expect=[S.REGISTERING]):
                _moved(row.id, S.FAILED, ["REGISTER_TIMEOUT"])
                moved += 1
        return moved

    async def verify(self) -> int:
        """Count each awaiting row's successful deliveries through its channel since the
        carrier's answer; at the threshold it is registered (DETECT_SUCCESS). How many."""
        now = self.clock.now()
        wanted = self.settings.verify_deliveries
        moved = 0
        async for row in self.walk([S.AWAITING_VERIFICATION]):
            since = row.answered_at or row.updated_at
            count = await self.store.successful_deliveries(row.account_id, row.sign_name,
                                                           row.channel, since, wanted)
            if count != row.deliveries:
                await self.store.set_sign_deliveries(row.id, count, now)
            if count >= wanted and await self.store.set_sign_registration(
                    row.id, S.REGISTERED, ["DETECT_SUCCESS"], now, detail=row.detail,
                    expect=[S.AWAITING_VERIFICATION]):
                _moved(row.id, S.REGISTERED, ["DETECT_SUCCESS"])
                moved += 1
        return moved

    async def lapse(self) -> int:
        """Usable rows whose signature has sent nothing for `lapse_days` (counted from
        the carrier's answer when it sent nothing since) lapse: NO_SEND_RECORD, and a new
        registration is needed. How many."""
        now = self.clock.now()
        cutoff = now - timedelta(days=self.settings.lapse_days)
        last: dict[tuple[AccountId, str], datetime | None] = {}
        moved = 0
        async for row in self.walk(USABLE):
            key = (row.account_id, row.sign_name)
            if key not in last:
                day = await self.store.last_send_day(*key)
                last[key] = china_day_bounds(day)[1] if day else None
            sent = last[key]
            since = max((t for t in (sent, row.answered_at, row.requested_at)
                         if t is not None), default=row.updated_at)
            if since < cutoff and await self.store.set_sign_registration(
                    row.id, S.LAPSED, ["NO_SEND_RECORD"], now, expect=USABLE):
                _moved(row.id, S.LAPSED, ["NO_SEND_RECORD"])
                moved += 1
        return moved


def _moved(registration_id: int, state: RegistrationState, reasons: Sequence[str]) -> None:
    log.info("registration %d: %d %s (%s)", registration_id, int(state), state.name.lower(),
             ", ".join(reasons))


def _colon(detail: str) -> str:
    return f": {detail}" if detail else ""
