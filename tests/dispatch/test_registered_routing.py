"""The dispatch worker steers each message to a channel where its signature is registered
(issue 16 point 4): it learns, per round, the channels where the carriers accepted the
round's signatures, and the router prefers them; the decision is on the message."""

from __future__ import annotations

from pathlib import Path

from tests.api.test_policy_state import ChinaNoonClock
from tests.api.test_rest import final_messages, send_body
from tests.conftest import start_running
from yizhan.domain.registration import RegistrationState
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
