"""A carrier's registration state follows from its sub-ports (the best one wins, as Alibaba
reports it), and RegisterResult sums the three carriers up."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from yizhan.domain.carriers import Carrier
from yizhan.domain.model import AccountId
from yizhan.domain.registration import (
    Isp,
    RegistrationState,
    SubPortRegistration,
    by_carrier,
    register_result,
)

NOW = datetime(2026, 12, 7, tzinfo=UTC)
S = RegistrationState


def row(isp: Isp, channel: str, state: RegistrationState, *reasons: str,
        answered: datetime | None = None) -> SubPortRegistration:
    return SubPortRegistration(1, AccountId(1), 1, "驿站科技", isp, channel, "106900" + channel,
                               state, reasons, "", None, NOW, NOW, answered, 0, NOW)


def test_a_carrier_without_rows_is_not_registered_for_the_given_reason() -> None:
    carriers = by_carrier([], missing="UNBINDING_QUA")
    assert [(c.isp, c.state, c.reasons) for c in carriers] == [
        (isp, S.NOT_REGISTERED, ("UNBINDING_QUA",)) for isp in Isp]
    assert register_result(carriers) == -1


@pytest.mark.parametrize(("states", "expected"), [
    ((S.FAILED, S.AWAITING_VERIFICATION), S.AWAITING_VERIFICATION),
    ((S.REGISTERING, S.REGISTERED), S.REGISTERED),
    ((S.FAILED, S.REGISTERING), S.REGISTERING),
    ((S.LAPSED, S.FAILED), S.FAILED),
    ((S.LAPSED, S.NOT_REGISTERED), S.LAPSED),
])
def test_the_best_sub_port_decides(states: tuple[S, S], expected: S) -> None:
    mobile = by_carrier([row(Isp.MOBILE, "a", states[0], "X"),
                         row(Isp.MOBILE, "b", states[1], "Y")])[0]
    assert mobile.state == expected
    assert len(mobile.sub_ports) == 2


def test_reasons_and_answer_time_come_from_the_deciding_sub_ports() -> None:
    mobile = by_carrier([row(Isp.MOBILE, "a", S.FAILED, "QUALIFICATION_ERROR", answered=NOW),
                         row(Isp.MOBILE, "b", S.FAILED, "SIGNATURE_ERROR",
                             "QUALIFICATION_ERROR")])[0]
    assert mobile.reasons == ("QUALIFICATION_ERROR", "SIGNATURE_ERROR")
    assert mobile.answered_at == NOW


def test_register_result() -> None:
    ok = [row(isp, isp.value, S.REGISTERED) for isp in Isp]
    assert register_result(by_carrier(ok)) == 1
    assert register_result(by_carrier([*ok[:2], row(Isp.TELECOM, "t", S.FAILED)])) == 0
    assert register_result(by_carrier([*ok[:2], row(Isp.TELECOM, "t", S.LAPSED)])) == 2
    assert register_result(by_carrier(ok[:2])) == -1


def test_isp_names() -> None:
    assert Isp.of(Carrier.CHINA_UNICOM) is Isp.UNICOM
    assert Isp.of("china_telecom").carrier is Carrier.CHINA_TELECOM
    with pytest.raises(ValueError):
        Isp.of(Carrier.INTERNATIONAL)
