"""The console's test push (`pusher.trial_push`) against a real receiver on loopback: one
signed item of the kind asked for, judged as a batch is (taken, another code, no answer),
and refused by the operator's network rule where the address is not allowed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
import pytest

from tests.conftest import ManualClock
from tests.webhooks.receiver import Receiver
from yizhan.domain.push import SMS_UP
from yizhan.runtime.addresses import PushNetworks
from yizhan.webhooks import signing
from yizhan.webhooks.pusher import trial_push

LOCAL = PushNetworks(["127.0.0.0/8"])


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def test_a_test_push_is_one_signed_item_of_its_kind(receiver: Receiver,
                                                          clock: ManualClock) -> None:
    tried = await trial_push(receiver.url, "s3cret", SMS_UP, LOCAL, 2.0, clock)
    assert (tried.status, tried.error, tried.forbidden) == (200, None, False)
    assert tried.seconds < 2.0
    [batch] = receiver.taken
    assert signing.verify("s3cret", batch.headers, batch.body, clock.now().timestamp())
    assert batch.headers["x-yizhan-topic"] == SMS_UP
    [item] = orjson.loads(batch.body)
    assert item["test"] is True and item["content"] == "test"
    assert item["idempotency_key"].startswith("test-SmsUp-")


@pytest.mark.parametrize(("mode", "status", "error"), [
    ("fail", 500, "HTTP 500"),
    ("wrong", 200, "answer code 7, expected 0"),
    ("hang", None, "no answer within 0.3s"),
])
async def test_a_test_push_says_why_it_failed(receiver: Receiver, clock: ManualClock,
                                              mode: str, status: int | None,
                                              error: str) -> None:
    receiver.mode = mode
    tried = await trial_push(receiver.url, "s3cret", "SmsReport", LOCAL, 0.3, clock)
    assert (tried.status, tried.error, tried.forbidden) == (status, error, False)


async def test_a_test_push_to_a_refused_address_never_connects(receiver: Receiver,
                                                               clock: ManualClock) -> None:
    tried = await trial_push(receiver.url, "s3cret", "SmsReport", PushNetworks(), 2.0, clock)
    assert tried.forbidden and tried.status is None
    assert "push refused: 127.0.0.1 resolves to 127.0.0.1, a loopback address" in tried.error
    assert receiver.taken == [] and receiver.refused == 0
