"""The simulated carriers' registry answers registration filings like a carrier (issue 16
point 3, the carrier side): after `registration_seconds` on the injected clock, registered
or failed with the SDK's reason codes, once per filing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.conftest import ManualClock
from yizhan.dispatch.channel_file import PlanError, build_plan, load_plan, parse_plan
from yizhan.domain.registration import Answer, Filing, Isp, SubPort
from yizhan.simulator.registry import QUALIFICATION_MISMATCH as MISMATCH
from yizhan.simulator.registry import Refusal, SimulatedRegistry
from yizhan.simulator.smsc import SmscServer

COMPANY, CODE = "驿站科技（杭州）有限公司", "91350100M000100Y43"
MOBILE = SubPort(Isp.MOBILE, "cmcc", "10690015")
UNICOM = SubPort(Isp.UNICOM, "cucc", "10690025")


def filing(rid: int = 1, **more: object) -> Filing:
    values: dict[str, object] = dict(registration_id=rid, sub_port=MOBILE, sign_name="驿站科技",
                                     source="enterprise", company=COMPANY, credit_code=CODE,
                                     legal_person="张三", for_others=False)
    values.update(more)
    return Filing(**values)  # type: ignore[arg-type]


async def answered(registry: SimulatedRegistry, clock: ManualClock,
                   *filings: Filing) -> list[Answer]:
    await registry.file(filings)
    assert await registry.answers() == []  # a carrier takes its time
    clock.advance(seconds=59)
    assert await registry.answers() == []
    clock.advance(seconds=1)
    return await registry.answers()


async def test_a_matching_filing_is_registered_after_the_carriers_time() -> None:
    clock = ManualClock()
    registry = SimulatedRegistry(clock, seconds=60)
    assert await answered(registry, clock, filing()) == [Answer(1, True)]
    assert await registry.answers() == []  # given once


@pytest.mark.parametrize(("changes", "reason", "detail"), [
    ({"company": "驿站网络（杭州）有限公司"}, "QUALIFICATION_ERROR", MISMATCH),
    ({"credit_code": "91330106MA2B3C4D5E"}, "QUALIFICATION_ERROR", MISMATCH),
    ({"source": "shop"}, "SIGNATURE_ERROR", "shop"),
    ({"source": "public_account"}, "SIGNATURE_ERROR", "public_account"),
    ({"source": "test"}, "SIGNATURE_ERROR", "test"),
    ({"sign_name": "驿科技"}, "SIGNATURE_QUALIFICATION_ERROR", "连续简称"),
    ({"company": "", "credit_code": "", "for_others": False}, "QUALIFICATION_ERROR",
     "个人自用资质"),
])
async def test_a_filing_the_carrier_cannot_accept_fails_with_the_sdks_reason(
        changes: dict[str, object], reason: str, detail: str) -> None:
    clock = ManualClock()
    registry = SimulatedRegistry(clock, seconds=60)
    [answer] = await answered(registry, clock, filing(**changes))
    assert (answer.registered, answer.reasons) == (False, (reason,))
    assert detail in answer.detail


async def test_a_trademark_an_individual_for_others_and_an_unknown_company_are_registered() -> None:
    clock = ManualClock()
    registry = SimulatedRegistry(clock, seconds=60)
    answers = await answered(registry, clock, filing(1, source="trademark", sign_name="飞鸽"),
                             filing(2, company="", credit_code="", for_others=True),
                             filing(3, company="别家公司", sign_name="别家",
                                    credit_code="91110000000000000X"))
    assert [a.registered for a in answers] == [True, True, True]


async def test_a_scripted_rule_refuses_one_carrier() -> None:
    clock = ManualClock()
    registry = SimulatedRegistry(clock, seconds=60, refusals=[
        Refusal("OTHERS_ERROR", carrier="china_unicom", detail="联通通道维护")])
    answers = await answered(registry, clock, filing(1), filing(2, sub_port=UNICOM))
    assert answers == [Answer(1, True), Answer(2, False, ("OTHERS_ERROR",), "联通通道维护")]


async def test_a_passing_refusal_refuses_only_its_first_filings() -> None:
    """`times = 1`: the carrier refuses once; the platform's next request (a trigger after
    the refusal: a new `requested_at`) is registered."""
    clock = ManualClock()
    registry = SimulatedRegistry(clock, seconds=60, refusals=[
        Refusal("OTHERS_ERROR", carrier="china_unicom", times=1)])
    first = filing(2, sub_port=UNICOM, requested_at=clock.now())
    assert await answered(registry, clock, first) == [
        Answer(2, False, ("OTHERS_ERROR",), "其他原因", first.requested_at)]
    await registry.file([first])  # the same request again (a restart): answered already
    clock.advance(seconds=60)
    assert await registry.answers() == []
    again = filing(2, sub_port=UNICOM, requested_at=clock.now())
    assert await answered(registry, clock, again) == [
        Answer(2, True, requested_at=again.requested_at)]


async def test_filing_again_is_answered_once_and_a_changed_filing_anew() -> None:
    clock = ManualClock()
    registry = SimulatedRegistry(clock, seconds=60)
    await registry.file([filing()])
    clock.advance(seconds=30)
    await registry.file([filing()])  # filed again (a restart of the sweeper): same due time
    clock.advance(seconds=30)
    assert await registry.answers() == [Answer(1, True)]
    await registry.file([filing()])
    clock.advance(seconds=60)
    assert await registry.answers() == []
    # The same registration filed with another qualification: answered again, on its merits.
    await registry.file([filing(company="另一家公司", credit_code=CODE)])
    clock.advance(seconds=60)
    assert [a.reasons for a in await registry.answers()] == [("QUALIFICATION_ERROR",)]


async def test_the_channel_file_sets_time_companies_and_refusals() -> None:
    clock = ManualClock()
    plan = parse_plan(
        '[[channel]]\nname = "m"\nkind = "simulator"\ncarrier = "china_mobile"\n'
        '[[channel]]\nname = "u"\nkind = "smpp-simulator"\ncarrier = "china_unicom"\n'
        '[[channel]]\nname = "real"\nkind = "smpp"\nhost = "h"\nport = 1\nsystem_id = "s"\n'
        'carrier = "china_telecom"\n'
        '[simulator]\nregistration_seconds = 5\n'
        '[simulator.companies]\n"91110000000000000X" = "飞鸽传书有限公司"\n'
        '[[simulator.refusals]]\nchannel = "u"\nreason = "ONE_CODE_MULTIPLE_SIGN"\n')
    built = build_plan(plan, clock, smsc=SmscServer, registry=SimulatedRegistry.from_settings)
    assert set(built.registrars) == {"m", "u"}  # a real carrier is answered by the operator
    registry = built.registrars["m"]
    assert registry is built.registrars["u"]
    await registry.file([filing(1, company="飞鸽科技有限公司", credit_code="91110000000000000X"),
                         filing(2, sub_port=replace(UNICOM, channel="u"))])
    clock.advance(seconds=5)
    assert [(a.registration_id, a.reasons) for a in await registry.answers()] == [
        (1, ("QUALIFICATION_ERROR",)), (2, ("ONE_CODE_MULTIPLE_SIGN",))]


@pytest.mark.parametrize(("simulator", "complaint"), [
    ('registration_seconds = "soon"', "registration_seconds must be a number"),
    ('[[simulator.refusals]]\nreason = "NOPE"', "reason must be one of"),
    ('[[simulator.refusals]]\nreason = "OTHERS_ERROR"\ncarrier = "mars"', "unknown carrier"),
    ('[[simulator.refusals]]\nreason = "OTHERS_ERROR"\nisp = "x"', "unknown field(s) isp"),
    ('[[simulator.refusals]]\nreason = "OTHERS_ERROR"\ntimes = -1', "times must be a whole number"),
])
def test_a_wrong_simulator_registry_setting_stops_the_start(simulator: str,
                                                            complaint: str) -> None:
    plan = parse_plan('[[channel]]\nname = "m"\nkind = "simulator"\ncarrier = "china_mobile"\n'
                      f'[simulator]\n{simulator}\n')
    with pytest.raises(PlanError) as caught:
        build_plan(plan, ManualClock(), smsc=SmscServer,
                   registry=SimulatedRegistry.from_settings)
    assert complaint in str(caught.value)


def test_the_built_in_channels_are_simulated_carriers_that_answer_registrations() -> None:
    built = build_plan(load_plan(None), ManualClock(), smsc=SmscServer,
                       registry=SimulatedRegistry.from_settings)
    assert set(built.registrars) == {"cmcc", "cucc", "ctcc"}
    assert all(c.registration for c in load_plan(None).channels)
