"""The router: routes by carrier, country and type; weighted balancing inside a tier; ordered
failover across tiers; channels skipped while unbound or while their breaker is open; the
channel file that declares all of it."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import ManualClock
from yizhan.dispatch.breaker import Breaker, BreakerConfig, BreakerState
from yizhan.dispatch.channel_file import PlanError, build_plan, load_plan, parse_plan
from yizhan.dispatch.channels.simulator import SimulatorChannel
from yizhan.dispatch.channels.smpp import RETRYABLE_STATUSES, SmppChannel, SmppConfig
from yizhan.dispatch.router import Route, Router, Target
from yizhan.domain.carriers import Carrier
from yizhan.domain.codes import PLATFORM
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.model import (
    AccountId,
    BizId,
    Message,
    MessageId,
    PhoneNumber,
    TemplateCode,
    TemplateType,
)
from yizhan.domain.ports import Accepted, Ambiguous, Rejected, Retryable, SubmitRequest
from yizhan.domain.registration import Isp, SubPort
from yizhan.simulator.smsc import SmscServer

MOBILE, UNICOM, TELECOM = "+8613800138000", "+8613000130000", "+8618900189000"


def message(phone: str = MOBILE, type_: TemplateType = TemplateType.VERIFICATION) -> Message:
    return Message.queued(id=MessageId(1), biz_id=BizId("1^0"), account_id=AccountId(1),
                          phone=PhoneNumber(phone), sign_name="驿站",
                          template_code=TemplateCode("SMS_1"), template_type=type_,
                          content="【驿站】1234", segments=1, out_id="",
                          created_at=datetime(2026, 11, 25, tzinfo=UTC))


def sims(*names: str) -> list[SimulatorChannel]:
    return [SimulatorChannel(ManualClock(), name=n) for n in names]


async def test_routes_by_carrier_type_and_country() -> None:
    router = Router(sims("cmcc", "cucc", "market", "intl", "vn"), [
        Route("promotions", (Target("market"),), types=frozenset({"promotion"})),
        Route("mobile", (Target("cmcc"),), carriers=frozenset({"china_mobile"})),
        Route("unicom", (Target("cucc"),), carriers=frozenset({"china_unicom"})),
        Route("vietnam", (Target("vn"),), countries=frozenset({"VN"})),
        Route("abroad", (Target("intl"),), carriers=frozenset({"international"}))],
        clock=ManualClock())

    def channel(phone: str, type_: TemplateType = TemplateType.VERIFICATION) -> str:
        chosen = router.pick(message(phone, type_)).channel
        return chosen.name if chosen else ""

    assert channel(MOBILE) == "cmcc"
    assert channel(UNICOM) == "cucc"
    assert channel(MOBILE, TemplateType.PROMOTION) == "market"
    assert channel("+84987654321", TemplateType.INTERNATIONAL) == "vn"
    assert channel("+447700900123", TemplateType.INTERNATIONAL) == "intl"
    unrouted = router.pick(message(TELECOM))  # no route takes China Telecom
    assert unrouted.channel is None and "no route for china_telecom" in unrouted.reason


async def test_weighted_balancing_follows_the_weights() -> None:
    router = Router(sims("a", "b", "c"), [Route("r", (Target("a", 6), Target("b", 3),
                                                      Target("c", 1)))],
                    rng=random.Random(7), clock=ManualClock())
    picks = Counter(router.pick(message()).channel.name  # type: ignore[union-attr]
                    for _ in range(10_000))
    assert abs(picks["a"] / 10_000 - 0.6) < 0.02
    assert abs(picks["b"] / 10_000 - 0.3) < 0.02
    assert abs(picks["c"] / 10_000 - 0.1) < 0.02
    decision = router.pick(message())
    assert decision.reason.startswith("route r: ") and "of 10)" in decision.reason


async def test_failover_goes_to_the_next_tier_only_when_the_first_is_unusable() -> None:
    clock = ManualClock()
    down = SmppChannel(SmppConfig("down", "127.0.0.1", 9, "x"), clock)  # never bound
    up_a, up_b = sims("a", "b")
    router = Router([down, up_a, up_b], [Route("r", (
        Target("down", 5), Target("a", 1), Target("b", tier=2)))], rng=random.Random(1),
        clock=clock)
    assert {router.pick(message()).channel.name for _ in range(50)} == {"a"}  # type: ignore[union-attr]
    decision = router.pick(message(), tried=["a"])
    assert decision.channel is up_b
    assert decision.reason == "route r: b; skipped down (not bound), a (tried)"
    nothing = router.pick(message(), tried=["a", "b"])
    assert nothing.channel is None and "no channel available" in nothing.reason


class Unready(SimulatorChannel):
    """A channel of any kind that says it cannot take a submit now (issue 15 point 4: the
    router reads the port's `ready`, not an attribute of one channel kind)."""

    ready = False


async def test_a_channel_that_is_not_ready_is_skipped() -> None:
    clock = ManualClock()
    router = Router([Unready(clock, name="down"), SimulatorChannel(clock, name="a")],
                    [Route("r", (Target("down"), Target("a", tier=2)))], clock=clock)
    decision = router.pick(message())
    assert decision.channel is not None and decision.channel.name == "a"
    assert decision.reason == "route r: a; skipped down (not bound)"
    assert [h.ready for h in router.health()] == [False, True]


async def test_a_failing_channel_opens_its_breaker_and_is_probed_later() -> None:
    clock = ManualClock()
    router = Router(sims("main", "backup"), [Route("r", (Target("main"),
                                                         Target("backup", tier=2)))],
                    breaker=BreakerConfig(failures=3, open_seconds=0.2, max_open_seconds=1),
                    clock=clock)
    for _ in range(3):
        assert router.pick(message()).channel.name == "main"  # type: ignore[union-attr]
        router.record("main", Retryable("throttled"))
    decision = router.pick(message())
    assert decision.channel.name == "backup"  # type: ignore[union-attr]
    assert "main (circuit open)" in decision.reason
    health = {h.name: h for h in router.health()}
    assert health["main"].breaker is BreakerState.OPEN and health["main"].opened == 1
    clock.advance(seconds=0.19)
    assert router.pick(message()).channel.name == "backup"  # type: ignore[union-attr]
    # after open_seconds one probe goes to main; meanwhile the others go to the backup
    clock.advance(seconds=0.01)
    assert router.pick(message()).channel.name == "main"  # type: ignore[union-attr]
    assert router.pick(message()).channel.name == "backup"  # type: ignore[union-attr]
    router.record("main", Ambiguous("no answer"))  # the probe failed: open, twice as long
    clock.advance(seconds=0.39)
    assert router.pick(message()).channel.name == "backup"  # type: ignore[union-attr]
    clock.advance(seconds=0.01)  # 0.4 s, not 0.2 s
    assert router.pick(message()).channel.name == "main"  # type: ignore[union-attr]
    router.record("main", Rejected("ESME_RINVDSTADR"))  # an answer: the channel works
    assert {h.name: h.breaker for h in router.health()}["main"] is BreakerState.CLOSED
    assert router.pick(message()).channel.name == "main"  # type: ignore[union-attr]


def test_breaker_counts_consecutive_failures_only() -> None:
    breaker = Breaker(BreakerConfig(failures=3, open_seconds=10))
    breaker.failed(0, "x")
    breaker.failed(0, "x")
    breaker.succeeded()
    breaker.failed(0, "x")
    breaker.failed(0, "x")
    assert breaker.allows(0) and breaker.state is BreakerState.CLOSED
    breaker.failed(1, "x")
    assert not breaker.allows(5) and breaker.retry_in(5) == 6
    assert breaker.allows(11)
    breaker.take(11)
    assert breaker.state is BreakerState.HALF_OPEN and not breaker.allows(11.5)


def test_accepted_answers_keep_the_breaker_closed() -> None:
    breaker = Breaker(BreakerConfig(failures=1))
    breaker.succeeded()
    assert breaker.state is BreakerState.CLOSED and breaker.allows(0)


async def test_the_channel_file_declares_channels_and_routes(tmp_path: Path) -> None:
    (tmp_path / "outcomes.toml").write_text('[default]\ncode = "UNDELIV"\n')
    path = tmp_path / "channels.toml"
    path.write_text("""
[simulator]
script = "outcomes.toml"

[[channel]]
name = "carrier-a"
kind = "smpp"
host = "10.0.0.1"
port = 2775
system_id = "yizhan"
password = "secret"
window = 50
max_per_second = 200
channel_code = "0123"
ids = {submit = "hex", receipt = "dec"}

[[channel]]
name = "sim"
kind = "simulator"
delay = 0.5

[[channel]]
name = "smpp-sim"
kind = "smpp-simulator"

[[route]]
name = "verification"
types = ["verification"]
channels = [{name = "carrier-a", weight = 3}, "smpp-sim", {name = "sim", tier = 2}]

[[route]]
name = "rest"
channels = ["sim"]
""")
    plan = load_plan(path)
    assert [c.kind for c in plan.channels] == ["smpp", "simulator", "smpp-simulator"]
    assert plan.routes[0].targets == (Target("carrier-a", 3), Target("smpp-sim"),
                                      Target("sim", tier=2))
    built = build_plan(plan, ManualClock(), smsc=SmscServer)
    carrier = built.channels[0]
    assert isinstance(carrier, SmppChannel)
    assert (carrier.config.window, carrier.config.max_per_second, carrier.config.ids.receipt
            ) == (50, 200, "dec")
    assert built.server is not None and isinstance(built.server.server, SmscServer)
    assert built.server.server.script.default.code == "UNDELIV"
    sim = built.channels[1]
    assert isinstance(sim, SimulatorChannel) and sim.script.default.delay == 0.5
    assert built.router.route_of(message(type_=TemplateType.NOTIFICATION)).name == "rest"  # type: ignore[union-attr]


CARRIER_FILE = """
[simulator]
script = "outcomes.toml"
delay = 0.01

[[channel]]
name = "cmcc"
kind = "smpp-simulator"
codes = "carriers/cmcc.codes.toml"
retryable = ["0x401", "RSYSERR"]
reconnect_min = 0.05
"""


async def test_a_channel_file_gives_a_channel_its_carrier_codes_and_retryable_statuses(
        tmp_path: Path) -> None:
    (tmp_path / "carriers").mkdir()
    (tmp_path / "carriers" / "cmcc.codes.toml").write_text(
        '[codes."UNDELIV"]\ncode = "MK:0001"\n\n[codes."UNDELIV/045"]\ncode = "CM:0045"\n'
        'cause = "the handset refuses messages from 106 numbers"\n')
    (tmp_path / "outcomes.toml").write_text(
        '[default]\ncode = "UNDELIV"\n\n[numbers.13900139000]\nsubmit = "reject:0x401"\n\n'
        '[numbers.13700137000]\nsubmit = "reject:ESME_RINVDSTADR"\n')
    path = tmp_path / "channels.toml"
    path.write_text(CARRIER_FILE)  # codes are read relative to the channel file
    built = build_plan(load_plan(path), ManualClock(), smsc=SmscServer)
    [channel] = built.channels
    assert isinstance(channel, SmppChannel) and built.server is not None
    events: list[Receipt | Uplink] = []
    stored = asyncio.Event()

    class Sink:
        async def __call__(self, event: Receipt | Uplink) -> None:
            await self.many([event])

        async def many(self, got: Sequence[Receipt | Uplink]) -> None:
            events.extend(got)
            stored.set()

    sink = Sink()
    await built.server.start()
    await channel.start(sink)
    try:
        await asyncio.wait_for(channel.bound.wait(), 5)
        results = [await channel.submit(SubmitRequest(n, phone, "【驿站】验证码 1234", 1))
                   for n, phone in enumerate(["+8613800138000", "+8613900139000",
                                              "+8613700137000"], 1)]
        assert isinstance(results[0], Accepted)
        # 0x401 is this carrier's "busy, try again": nothing taken, so sent again later;
        assert isinstance(results[1], Retryable) and "ESME_0x00000401" in results[1].reason
        assert isinstance(results[2], Rejected)  # not in the list: final
        assert results[2].code == "ESME_RINVDSTADR"
        await asyncio.wait_for(stored.wait(), 5)
        [receipt] = events
        assert isinstance(receipt, Receipt)
        assert (receipt.code, "stat:UNDELIV" in receipt.raw) == ("MK:0001", True)
        info = channel.config.codes.explain("CM:0045")
        assert info is not None and "106 numbers" in info.cause
    finally:
        await channel.stop()
        await built.server.stop()


def test_without_codes_or_retryable_a_channel_keeps_the_platform_rules() -> None:
    plan = parse_plan('[[channel]]\nname = "a"\nkind = "smpp"\nhost = "h"\nport = 1\n'
                      'system_id = "s"\n')
    [channel] = build_plan(plan, ManualClock(), smsc=SmscServer).channels
    assert isinstance(channel, SmppChannel)
    assert channel.config.codes is PLATFORM
    assert channel.config.retryable == RETRYABLE_STATUSES


SMPP_A = '[[channel]]\nname = "a"\nkind = "smpp"\nhost = "h"\nport = 1\nsystem_id = "s"\n'


@pytest.mark.parametrize(("text", "complaint"), [
    (SMPP_A + 'codes = "nowhere.toml"', "cannot read the code table"),
    (SMPP_A + 'codes = "bad.toml"', "bad.toml: code UNDELIV: status must be one of"),
    (SMPP_A + 'codes = "broken.toml"', "broken.toml: not valid TOML"),
    (SMPP_A + "codes = 3", "codes must name a code table file"),
    (SMPP_A + 'retryable = ["ESME_RSYSERR", "ESME_RBUSY", "0xZZ"]',
     "unknown SMPP status(es) ESME_RBUSY, 0xZZ"),
    (SMPP_A + 'retryable = "ESME_RSYSERR"', "retryable must be a list"),
])
def test_a_wrong_code_table_or_retryable_list_is_refused_with_the_reason(
        tmp_path: Path, text: str, complaint: str) -> None:
    (tmp_path / "bad.toml").write_text('[codes.UNDELIV]\nstatus = "lost"\n')
    (tmp_path / "broken.toml").write_text("[codes\n")
    with pytest.raises(PlanError) as caught:
        parse_plan(text, "channels.toml", base=tmp_path)
    assert complaint in str(caught.value) and "channel 'a'" in str(caught.value)


@pytest.mark.parametrize(("text", "complaint"), [
    ('[[channel]]\nname = "a"\nkind = "carrier-pigeon"', "kind 'carrier-pigeon'"),
    ('[[channel]]\nname = "a"\nkind = "smpp"\nhost = "h"\nport = 1\nsystem_id = "s"\n'
     'windw = 5', "unknown setting(s) windw"),
    ('[[channel]]\nname = "a"\nkind = "smpp"\nhost = "h"', "missing setting(s) port, system_id"),
    ('[[channel]]\nname = "a"\nkind = "simulator"\n[[route]]\nchannels = ["b"]',
     "unknown channel 'b'"),
    ('[[channel]]\nname = "a"\nkind = "simulator"\n[[route]]\ncarriers = ["cmcc"]\n'
     'channels = ["a"]', "unknown carrier(s) cmcc"),
    ('[[channel]]\nname = "a"\nkind = "simulator"\n[[channel]]\nname = "a"\n'
     'kind = "simulator"', "used twice: a"),
    ("", "no [[channel]]"),
    ('[[channel]]\nname = "a"\nkind = "simulator"\ncarrier = "international"',
     "unknown carrier 'international'"),
    ('[[channel]]\nname = "a"\nkind = "simulator"\nregistration = true',
     "registration = true needs the channel's carrier"),
    ('[[channel]]\nname = "a"\nkind = "simulator"\ncarrier = "china_mobile"\n'
     'registration = "yes"', "registration must be true or false"),
])
def test_a_wrong_channel_file_is_refused_with_the_reason(text: str, complaint: str) -> None:
    with pytest.raises(PlanError, match=None) as caught:
        parse_plan(text, "channels.toml")
    assert complaint in str(caught.value) and "channels.toml" in str(caught.value)


def test_the_built_in_default_routes_each_carrier_to_its_own_channel() -> None:
    plan = load_plan(None)
    assert [c.name for c in plan.channels] == ["cmcc", "cucc", "ctcc"]
    assert all(c.kind == "smpp-simulator" for c in plan.channels)
    assert [c.options["channel_code"] for c in plan.channels] == ["9001", "9002", "9003"]
    assert [r.name for r in plan.routes] == ["china-mobile", "china-unicom", "china-telecom",
                                             "international"]


def test_a_signature_is_registered_on_each_channel_that_names_its_carrier() -> None:
    plan = parse_plan(
        '[[channel]]\nname = "m"\nkind = "smpp"\nhost = "h"\nport = 1\nsystem_id = "s"\n'
        'channel_code = "01"\ncarrier = "china_mobile"\nregistration = true\n'
        '[[channel]]\nname = "u"\nkind = "simulator"\ncarrier = "china_unicom"\n'
        '[[channel]]\nname = "world"\nkind = "simulator"\n')
    assert [(c.carrier, c.registration) for c in plan.channels] == [
        (Carrier.CHINA_MOBILE, True), (Carrier.CHINA_UNICOM, False), (None, False)]
    assert plan.sub_ports("17") == [SubPort(Isp.MOBILE, "m", "1060117"),
                                    SubPort(Isp.UNICOM, "u", "u:17")]
    default = load_plan(None)
    assert [p.number for p in default.sub_ports("5")] == ["10690015", "10690025", "10690035"]


async def test_a_channel_where_the_signature_is_registered_is_preferred() -> None:
    """Issue 16 point 4: among the usable channels of a route, one that refuses
    unregistered signatures and does not know this one is taken only when no other is
    usable; the decision says so."""
    clock = ManualClock()
    router = Router(sims("cmcc", "cucc", "free", "ctcc"), [
        Route("mobile", (Target("cmcc"), Target("cucc", tier=2), Target("ctcc", tier=2)),
              carriers=frozenset({"china_mobile"})),
        Route("unicom", (Target("cucc"), Target("free", tier=2)),
              carriers=frozenset({"china_unicom"}))],
        registering=frozenset({"cmcc", "cucc", "ctcc"}), clock=clock, rng=random.Random(3))

    def pick(phone: str, registered: frozenset[str] | None,
             tried: tuple[str, ...] = ()) -> tuple[str, str]:
        decision = router.pick(message(phone), tried, registered)
        return (decision.channel.name if decision.channel else "", decision.reason)

    assert pick(MOBILE, frozenset({"cmcc"})) == ("cmcc", "route mobile: cmcc")
    assert pick(MOBILE, None) == ("cmcc", "route mobile: cmcc")  # not known: no preference
    # Registered on a second-tier channel only: it goes there, the first tier skipped.
    assert pick(MOBILE, frozenset({"ctcc"})) == (
        "ctcc", "route mobile: ctcc; skipped cmcc (signature not registered), "
                "cucc (signature not registered)")
    # A channel without registration beats an unregistered one of a lower tier.
    assert pick(UNICOM, frozenset()) == (
        "free", "route unicom: free; skipped cucc (signature not registered)")
    # Registered nowhere usable: the lowest tier's registering channel, said so.
    assert pick(MOBILE, frozenset()) == (
        "cmcc", "route mobile: cmcc (signature registered on no usable channel)")
    assert pick(MOBILE, frozenset({"ctcc"}), tried=("ctcc",)) == (
        "cmcc", "route mobile: cmcc (signature registered on no usable channel); "
                "skipped ctcc (tried)")
    built = build_plan(load_plan(None), clock, smsc=SmscServer)
    assert built.router.registering == {"cmcc", "cucc", "ctcc"}
