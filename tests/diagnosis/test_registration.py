"""A signature not registered on the carrier (isv.SIGN_NOT_REGISTERED, China Mobile's MB:1077)
over the SMPP simulator, which enforces registration as the carriers do: the diagnosis shows
the carrier's raw receipt and the signature's registration on the channel that refused it,
and puts the cause on the tenant's side while nothing is filed, on the carrier's once the
filing waits for its answer (docs/diagnosis.md "Verdicts")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.api.test_rest import fresh_number, send_body
from tests.conftest import Running, eventually, start_running
from yizhan.domain.model import ReviewState, SignatureScenario
from yizhan.domain.ports import SystemClock
from yizhan.domain.registration import RegistrationState
from yizhan.storage.store import SqlStore


@pytest.fixture
async def embedded(store: SqlStore, tmp_path: Path) -> AsyncIterator[Running]:
    async with start_running(store, tmp_path, SystemClock(), embedded=True,
                             cache_seconds=0) as started:
        yield started


async def diagnosed(running: Running, sign_name: str) -> dict[str, Any]:
    sent = await running.client.post("/v1/messages", json=send_body(
        running, [fresh_number()], sign_name=sign_name))
    assert sent.status_code == 200, sent.text
    message_id = sent.json()["messages"][0]["message_id"]

    async def final() -> dict[str, Any] | None:
        body: dict[str, Any] = (await running.client.get(
            f"/v1/messages/{message_id}/diagnosis")).json()
        return body if body["message"]["status"] != "waiting" else None
    return await eventually(final, what="the carrier's receipt")  # type: ignore[no-any-return]


async def test_not_registered_then_waiting_for_the_carrier(embedded: Running) -> None:
    store, demo = embedded.yz.store, embedded.demo
    other = await store.create_signature(demo.account.id, "驿站物流", SignatureScenario.GENERAL,
                                         ReviewState.APPROVED, embedded.yz.clock.now())
    body = await diagnosed(embedded, other.name)
    assert body["message"]["error_code"] == "isv.SIGN_NOT_REGISTERED"
    [receipt] = body["receipts"]
    assert "stat:MB:1077" in receipt["raw"]  # the carrier's own words, as it sent them
    assert body["registrations"] == []
    assert (body["verdict"]["cause"], body["verdict"]["side"]) == ("signature_not_registered",
                                                                   "tenant")
    assert "never filed" in body["verdict"]["what"]["en"]
    assert "未发起报备" in body["verdict"]["what"]["zh"]

    filed = await store.file_sign_registrations(
        demo.account.id, other.id, embedded.yz.plan.sub_ports(str(other.id)), None,
        embedded.yz.clock.now(), embedded.yz.clock.now())
    assert filed and all(r.state is RegistrationState.REGISTERING for r in filed)
    body = await diagnosed(embedded, other.name)
    channel = body["message"]["channel"]
    assert [r["state"] for r in body["registrations"] if r["channel"] == channel] == [
        "registering"]
    assert (body["verdict"]["cause"], body["verdict"]["side"]) == ("signature_not_registered",
                                                                   "carrier")
    assert ": registering" in body["verdict"]["what"]["en"]
