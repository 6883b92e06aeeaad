"""The dispatch worker steers each message to a channel where its signature is registered
(issue 16 point 4): it learns, per round, the channels where the carriers accepted the
round's signatures, and the router prefers them; the decision is on the message."""

from __future__ import annotations

from pathlib import Path

from tests.api.test_policy_state import ChinaNoonClock
from tests.api.test_rest import final_messages, send_body
from tests.conftest import ManualClock, start_running
from tests.storage.test_store import make_messages
from yizhan.backends.local import LocalBus
from yizhan.dispatch.channels.simulator import SimulatorChannel
from yizhan.dispatch.router import Route, Router, Target
from yizhan.dispatch.worker import DispatchConfig, DispatchWorker
from yizhan.domain.model import ReviewState, SignatureScenario
from yizhan.domain.registration import Isp, RegistrationState, SubPort
from yizhan.storage.store import SqlStore

PLAN = """
[[channel]]
name = "first"
kind = "simulator"
carrier = "china_mobile"
registration = true
delay = 0

[[channel]]
name = "second"
kind = "simulator"
carrier = "china_mobile"
registration = true
delay = 0

[[route]]
name = "mobile"
channels = ["first", {name = "second", tier = 2}]
"""


async def test_a_message_goes_where_its_signature_is_registered(store: SqlStore,
                                                                tmp_path: Path) -> None:
    path = tmp_path / "channels.toml"
    path.write_text(PLAN)
    async with start_running(store, tmp_path, ChinaNoonClock(), embedded=True,
                             channels_file=path, cache_seconds=0) as running:
        demo = running.demo
        # The demo signature is registered on both; the first channel's carrier drops it.
        [first] = [r for r in await store.sign_registrations(demo.signature.id)
                   if r.channel == "first"]
        await store.set_sign_registration(first.id, RegistrationState.LAPSED,
                                          ["NO_SEND_RECORD"], running.yz.clock.now())
        sent = await running.client.post("/v1/messages", json=send_body(running))
        [message] = await final_messages(running, sent.json()["biz_id"])
        assert message["status"] == "success"
        [stored] = await store.messages_by_biz(demo.account.id, sent.json()["biz_id"])
        assert (stored.channel, stored.route) == (
            "second", "route mobile: second; skipped first (signature not registered)")


async def test_the_worker_learns_registrations_per_round_and_keeps_them_briefly(
        store: SqlStore, clock: ManualClock) -> None:
    """What a round learned is kept `registrations_seconds` on the injected clock (no store
    read per message); after that the next round reads the carriers' answers again."""
    account = await store.create_account("acme", clock.now())
    sig = await store.create_signature(account.id, "驿站", SignatureScenario.GENERAL,
                                       ReviewState.APPROVED, clock.now())
    rows = await store.file_sign_registrations(account.id, sig.id, [
        SubPort(Isp.MOBILE, "first", "first:1"), SubPort(Isp.MOBILE, "second", "second:1")],
        None, clock.now(), clock.now())
    first, second = sorted(rows, key=lambda r: r.channel)
    await store.set_sign_registration(second.id, RegistrationState.REGISTERED, [], clock.now())
    channels = [SimulatorChannel(clock, name=n) for n in ("first", "second")]
    router = Router(channels, [Route("r", (Target("first"), Target("second", tier=2)))],
                    registering=frozenset({"first", "second"}), clock=clock)
    worker = DispatchWorker(store, router, LocalBus(), clock,
                            DispatchConfig(registrations_seconds=5))

    async def round_goes_to() -> set[str]:
        made = await make_messages(store, clock, 3)
        await worker.run_once()
        found = [await store.message(m.account_id, m.id) for m in made]
        return {m.channel for m in found if m is not None}

    assert await round_goes_to() == {"second"}
    await store.set_sign_registration(first.id, RegistrationState.REGISTERED, [], clock.now())
    await store.set_sign_registration(second.id, RegistrationState.LAPSED, [], clock.now())
    assert await round_goes_to() == {"second"}  # known for 5 s
    clock.advance(seconds=5)
    assert await round_goes_to() == {"first"}
    for channel in channels:
        await channel.stop()
