"""Push URLs reach public addresses only (issue 14 point 4): refused when set (REST and CLI)
for every kind of non-public address, IPv4 and IPv6, and again when the push stage connects,
after DNS resolution; `push_allowed_networks` lets a network through."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

import yizhan.commands_push  # noqa: F401  (registers the commands)
from tests.conftest import ManualClock, Running
from tests.storage.test_store import make_messages
from tests.test_cli import yz
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_pusher import CONFIG
from yizhan.backends.local import LocalBus
from yizhan.storage.store import SqlStore
from yizhan.storage.tables import push_items
from yizhan.webhooks.destinations import PushNetworks
from yizhan.webhooks.pusher import PushStage

# (URL, the kind of address the refusal names)
REFUSED = [
    ("http://127.0.0.1:8080/push", "loopback"),
    ("http://localhost/push", "loopback"),
    ("http://app.localhost/push", "loopback"),
    ("http://127.1/push", "loopback"),
    ("http://2130706433/push", "loopback"),
    ("http://[::1]/push", "loopback"),
    ("http://[::ffff:127.0.0.1]/push", "loopback"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://100.100.100.200/latest/meta-data/", "cloud metadata"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
    ("http://[::ffff:169.254.169.254]/latest/", "cloud metadata"),
    ("http://[64:ff9b::a9fe:a9fe]/latest/", "cloud metadata"),
    ("http://169.254.10.1/push", "link-local"),
    ("http://[fe80::1]/push", "link-local"),
    ("http://10.1.2.3/push", "private"),
    ("http://172.16.0.1/push", "private"),
    ("https://192.168.1.10/push", "private"),
    ("http://[::ffff:10.0.0.1]/push", "private"),
    ("http://[fd12:3456::1]/push", "unique-local"),
    ("http://224.0.0.1/push", "multicast"),
    ("http://[ff02::1]/push", "multicast"),
    ("http://0.0.0.0/push", "unspecified"),
    ("http://[::]/push", "unspecified"),
    ("http://100.64.0.1/push", "non-public"),
]
ACCEPTED = ["https://example.com/receipts", "http://8.8.8.8/push", "https://[2001:4860::8888]/"]


@pytest.mark.parametrize(("url", "kind"), REFUSED)
def test_each_kind_of_non_public_address_is_refused(url: str, kind: str) -> None:
    """issue 14 point 4: the rule names the kind of each refused address."""
    refusal = PushNetworks().check_url("receipt_url", url)
    assert refusal is not None and refusal.code == "PushAddressForbidden"
    assert refusal.detail.endswith(f" {kind} address"), refusal.detail


def test_public_addresses_and_allowed_networks_pass() -> None:
    """issue 14 point 4: public addresses and names pass; an allowed network passes, in
    IPv4-mapped form too, and only that network."""
    assert all(PushNetworks().check_url("receipt_url", url) is None for url in ACCEPTED)
    local = PushNetworks(["127.0.0.0/8", ipaddress.ip_network("fd12:3456::/32")])
    for url in ("http://127.0.0.1:9/x", "http://localhost/x", "http://[::ffff:127.0.0.1]/x",
                "http://[fd12:3456::1]/x"):
        assert local.check_url("receipt_url", url) is None, url
    assert local.check_url("receipt_url", "http://10.0.0.1/x") is not None
    assert local.check_url("receipt_url", "http://169.254.169.254/x") is not None


async def test_rest_refuses_non_public_push_urls_with_a_documented_code(
        running: Running) -> None:
    """issue 14 point 4: `PUT /v1/push` with the metadata URL of the review (and every
    other kind) answers 400 PushAddressForbidden and keeps the previous setting."""
    for url, kind in REFUSED:
        for field in ("receipt_url", "uplink_url", "review_url"):
            answer = await running.client.put("/v1/push", json={field: url})
            assert answer.status_code == 400, (url, answer.text)
            body = answer.json()
            assert body["code"] == "PushAddressForbidden" and kind in body["message"], body
    assert (await running.client.get("/v1/push")).json()["receipt_url"] == ""
    answer = await running.client.put("/v1/push", json={"receipt_url": ACCEPTED[0]})
    assert answer.status_code == 200 and answer.json()["receipt_url"] == ACCEPTED[0]


def test_the_cli_refuses_non_public_push_urls_unless_allowed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """issue 14 point 4: `yizhan push set` applies the same rule and the same allowance."""
    yz(tmp_path, "demo")
    code, output = yz(tmp_path, "push", "set", "--account", "demo", "--receipt-url",
                      "http://169.254.169.254/latest/meta-data/")
    assert code == 1 and "PushAddressForbidden" in output and "cloud metadata" in output
    monkeypatch.setenv("YIZHAN_PUSH_ALLOWED_NETWORKS", '["10.0.0.0/8"]')
    code, output = yz(tmp_path, "push", "set", "--account", "demo", "--receipt-url",
                      "http://10.1.2.3/push")
    assert code == 0 and "http://10.1.2.3/push" in output, output


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def push_round(store: SqlStore, clock: ManualClock, networks: PushNetworks) -> int:
    pusher = PushStage(store, clock, LocalBus(), replace(CONFIG, networks=networks))
    await pusher.open()
    try:
        return await pusher.run_once()
    finally:
        await pusher.stop()


async def test_a_name_resolving_to_loopback_is_refused_when_the_pusher_connects(
        store: SqlStore, clock: ManualClock, receiver: Receiver) -> None:
    """issue 14 point 4: a URL whose host name resolves to 127.0.0.1 (`localhost`; a name
    can change its address after it was set) is refused after resolution: the attempt is a
    failed push with the reason, nothing reaches the receiver; with the allowance it is
    delivered."""
    owner = await store.create_account("acme", clock.now())
    await store.set_push_endpoints(owner.id, clock.now(),
                                   receipt_url=f"http://localhost:{receiver.port}/push")
    await make_messages(store, clock, 2, account="acme", failed=True)
    assert await push_round(store, clock, PushNetworks()) == 2
    assert receiver.taken == []
    async with store.engine.connect() as conn:
        rows = (await conn.execute(select(push_items.c.attempts, push_items.c.last_error))).all()
    assert len(rows) == 2 and all(r.attempts == 1 for r in rows)
    assert "push refused: localhost resolves to" in rows[0].last_error
    assert "a loopback address (allow its network with push_allowed_networks)" \
        in rows[0].last_error

    clock.advance(seconds=CONFIG.retry_base + 1)
    assert await push_round(store, clock, PushNetworks(["127.0.0.0/8", "::1/128"])) == 2
    assert len(receiver.items()) == 2 and await store.pending_pushes() == 0
