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

from tests.conftest import ManualClock, Running
from tests.storage.test_store import make_messages
from tests.test_cli import yz
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_pusher import CONFIG
from yizhan.backends.local import LocalBus
from yizhan.runtime.addresses import PushNetworks
from yizhan.storage.store import SqlStore
from yizhan.storage.tables import push_items
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


def certificate_for(name: str, folder: Path) -> Path:
    """A self-signed certificate (and its key) for the DNS name `name`, as one PEM file."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = folder / f"{name}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return path


async def test_https_still_verifies_the_certificate_against_the_urls_host_name(
        tmp_path: Path) -> None:
    """issue 14 point 4: the pusher connects to the checked address, yet TLS verifies the
    server's certificate against the host name of the URL (and sends it as SNI)."""
    import asyncio
    import ssl

    import httpx

    from yizhan.webhooks.pusher import GuardedTransport

    pem = certificate_for("localhost", tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(pem)
    names: list[str | None] = []

    def sni(_sock: object, name: str | None, _context: object) -> None:
        names.append(name)

    server_context.sni_callback = sni  # type: ignore[assignment]

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{\"code\":0}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    client_context = ssl.create_default_context(cafile=str(pem))
    transport = GuardedTransport(PushNetworks(["127.0.0.0/8", "::1/128"]), httpx.Limits(),
                                 ssl_context=client_context)
    try:
        async with httpx.AsyncClient(transport=transport, timeout=5) as client:
            answered = await client.post(f"https://localhost:{port}/push", content=b"[]")
            assert answered.status_code == 200 and names == ["localhost"]
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.post(f"https://127.0.0.1:{port}/push", content=b"[]")
    finally:
        server.close()
        await server.wait_closed()
