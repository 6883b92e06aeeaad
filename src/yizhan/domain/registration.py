"""Carrier real-name registration (实名制报备) of signatures: the states, the reasons, and how
one carrier's state follows from its sub-ports (docs/compliance.md "Carrier registration").

A carrier accepts a message only from a sub-port on which the signature is registered: the
sub-port is the source number a channel sends from, `106` + the channel's code + the
signature's extension code. So registration runs per sub-port (one per channel that serves a
carrier); what a tenant sees per carrier (GetSmsSign's SignIspRegisterDetailList) is the best
state among that carrier's sub-ports, as Alibaba reports it ("at least one sub-port has
returned registration passed").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from yizhan.domain.carriers import Carrier
from yizhan.domain.model import AccountId


class RegistrationState(IntEnum):
    """The SDK's RegisterStatus values."""

    NOT_REGISTERED = -2
    """No qualification bound, the qualification is incomplete, or never filed."""
    REGISTERING = -1
    """Filed with the carrier, no answer yet."""
    FAILED = 0
    """The carrier refused it (`reasons` say why)."""
    AWAITING_VERIFICATION = 1
    """The carrier confirmed it; real deliveries have not yet shown it works."""
    LAPSED = 2
    """No send with the signature for six months: the carrier dropped it."""
    REGISTERED = 3
    """Confirmed and verified by successful deliveries."""

    @property
    def usable(self) -> bool:
        """Whether the carrier accepts messages with the signature on this sub-port."""
        return self in (RegistrationState.AWAITING_VERIFICATION, RegistrationState.REGISTERED)


class Isp(StrEnum):
    """The carriers as the SDK names them (SignIspRegisterDetailList.IspType)."""

    MOBILE = "mobile"
    UNICOM = "unicom"
    TELECOM = "telecom"

    @classmethod
    def of(cls, carrier: Carrier | str) -> Isp:
        """The SDK's name of a carrier (`china_mobile` -> `mobile`); ValueError for
        `international`, which has no registration."""
        return cls(str(Carrier(carrier).value).removeprefix("china_"))

    @property
    def carrier(self) -> Carrier:
        return Carrier(f"china_{self.value}")


ISPS = tuple(Isp)

REASONS: dict[str, tuple[str, str]] = {
    # The SDK's RegisterStatusReasons codes, each with what it means (Chinese, English).
    "UNBINDING_QUA": ("签名未关联资质", "the signature has no qualification bound"),
    "BINDING_INCOMPLETE_QUA": ("关联资质信息不全", "the bound qualification is incomplete"),
    "NON_REGISTER": ("未发起报备", "registration has not been started"),
    "REGISTERING": ("签名报备中", "the carrier has not answered yet"),
    "DETECTING": ("未发起探测或探测中",
                  "registered; waiting for successful deliveries to verify it"),
    "DETECT_SUCCESS": ("报备成功", "registered and verified"),
    "QUALIFICATION_ERROR": ("资质原因：资质信息与工信部登记信息不一致",
                            "the qualification does not match the company records"),
    "SIGNATURE_ERROR": ("签名原因：签名不符合实名制要求",
                        "the signature does not meet the real-name rules"),
    "SIGNATURE_QUALIFICATION_ERROR": ("签名与资质关系不符",
                                      "the signature does not belong to the qualification's "
                                      "company"),
    "ONE_CODE_MULTIPLE_SIGN": ("扩展码原因", "the extension code is taken by another signature"),
    "OTHERS_ERROR": ("其他原因", "another reason given by the carrier"),
    "REGISTER_TIMEOUT": ("报备超时", "the carrier did not answer in time"),
    "NO_SEND_RECORD": ("签名超过6个月无发送记录", "no send with the signature for six months"),
    "EXT_CODE_RECYCLE": ("扩展码收回", "the extension code was taken back"),
    "SUBPORT_RECYCLE": ("子端口被运营商治理", "the carrier took the sub-port back"),
}


@dataclass(frozen=True, slots=True)
class SubPort:
    """Where a signature is registered: one channel that serves one carrier."""

    isp: Isp
    channel: str
    number: str
    """The source number: the channel's prefix and code, then the signature's extension."""


@dataclass(frozen=True, slots=True)
class SubPortRegistration:
    """One signature's registration on one sub-port (a row of `signature_registrations`)."""

    id: int
    account_id: AccountId
    signature_id: int
    sign_name: str
    isp: Isp
    channel: str
    sub_port: str
    state: RegistrationState
    reasons: tuple[str, ...]
    """`REASONS` codes: why it failed, lapsed or is waiting."""
    detail: str
    """The carrier's own words, when it gave any."""
    qualification_id: int | None
    """The qualification filed with the carrier."""
    requested_at: datetime | None
    due_at: datetime | None
    """When the carrier's answer is expected (setting `registration_answer_days`)."""
    answered_at: datetime | None
    deliveries: int
    """Successful deliveries counted towards verification since the carrier confirmed."""
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CarrierRegistration:
    """One carrier's state for a signature: what GetSmsSign answers per IspType."""

    isp: Isp
    state: RegistrationState
    reasons: tuple[str, ...]
    answered_at: datetime | None
    sub_ports: tuple[SubPortRegistration, ...]


_PRECEDENCE = (RegistrationState.REGISTERED, RegistrationState.AWAITING_VERIFICATION,
               RegistrationState.REGISTERING, RegistrationState.FAILED,
               RegistrationState.LAPSED, RegistrationState.NOT_REGISTERED)
"""A carrier's state is the first of these that one of its sub-ports is in."""


def by_carrier(rows: Iterable[SubPortRegistration],
               missing: str = "NON_REGISTER") -> list[CarrierRegistration]:
    """The three carriers' states from their sub-ports' rows; a carrier with no row is not
    registered, for the reason `missing` (UNBINDING_QUA when the signature has no
    qualification)."""
    rows = list(rows)
    result = []
    for isp in ISPS:
        mine = tuple(r for r in rows if r.isp == isp)
        if not mine:
            result.append(CarrierRegistration(isp, RegistrationState.NOT_REGISTERED,
                                              (missing,), None, ()))
            continue
        state = next(s for s in _PRECEDENCE if any(r.state == s for r in mine))
        chosen = [r for r in mine if r.state == state]
        reasons = tuple(dict.fromkeys(code for r in chosen for code in r.reasons))
        answered = max((r.answered_at for r in chosen if r.answered_at), default=None)
        result.append(CarrierRegistration(isp, state, reasons, answered, mine))
    return result


def register_result(carriers: Sequence[CarrierRegistration]) -> int:
    """GetSmsSign's deprecated RegisterResult: 1 when every carrier accepts the signature,
    0 when one refused it, 2 when one lapsed, else -1 (no state)."""
    states = {c.state for c in carriers}
    if carriers and all(s.usable for s in states):
        return 1
    if RegistrationState.FAILED in states:
        return 0
    if RegistrationState.LAPSED in states:
        return 2
    return -1


@dataclass(frozen=True, slots=True)
class Filing:
    """What the platform files with a carrier to register a signature on one sub-port: the
    signature and the company standing behind it (its qualification)."""

    registration_id: int
    sub_port: SubPort
    sign_name: str
    source: str
    """The signature's source (`compliance.signatures.SignSource` value)."""
    company: str
    """The qualification's company name ("" for an individual)."""
    credit_code: str
    """The unified social credit code (统一社会信用代码), or "" for an individual."""
    legal_person: str
    for_others: bool
    """The qualification is for others' use (他用), with a letter of authorization."""
    requested_at: datetime | None = None
    """When the platform asked for this registration: filing again after a restart keeps
    it; a new request (a trigger after a refusal, a new qualification) changes it, so the
    carrier takes it as a new filing."""


@dataclass(frozen=True, slots=True)
class Answer:
    """A carrier's answer to one filing."""

    registration_id: int
    registered: bool
    reasons: tuple[str, ...] = ()
    """`REASONS` codes when refused."""
    detail: str = ""
    """The carrier's own words."""
    requested_at: datetime | None = None
    """The `Filing.requested_at` answered: an answer to an earlier request of the same
    registration (filed again since) is not taken for the new one's."""
