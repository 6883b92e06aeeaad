"""Secrets at rest (issue 14 point 2): the data folder is private, AccessKey and push secrets
are sealed under the master key (no byte of them in any file of the data folder), plaintext
rows of older versions are sealed at start, the master key rotates, and a wrong or missing
key stops a command with one line."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.api.aliyun.sdk import SdkClient
from tests.api.test_rest import final_messages, send_body
from tests.conftest import Running, start_running
from tests.test_cli import runner
from yizhan.app import open_store
from yizhan.cli.main import app
from yizhan.domain.ports import SystemClock
from yizhan.runtime.server_lock import ServerLock
from yizhan.settings import Settings
from yizhan.storage import migrate
from yizhan.storage.data_folder import KEY_FILE, KeySource, pending_file, write_key_file
from yizhan.storage.sealing import MasterKeyError, Sealer, encode_key, new_key
from yizhan.storage.store import SqlStore


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDKs send through HTTP(S)_PROXY even to 127.0.0.1."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@asynccontextmanager
async def platform(folder: Path, **settings: Any) -> AsyncIterator[Running]:
    """The platform on the data folder `folder`, as `yizhan serve` opens it."""
    store = open_store(Settings(data_dir=folder, **settings))
    async with start_running(store, folder, SystemClock(), **settings) as started:
        yield started


def files_holding(folder: Path, needle: bytes) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def sdk_send(running: Running, secret: str, phone: str) -> str:
    port = int(running.base_url.rsplit(":", 1)[1])
    client = SdkClient("v4-acs3", port, running.demo.key.id, secret)
    outcome = await asyncio.to_thread(
        client.call, "SendSms", PhoneNumbers=phone, SignName=running.demo.signature.name,
        TemplateCode=running.verification, TemplateParam='{"code":"0207"}')
    return outcome.code


async def test_no_byte_of_a_secret_is_in_any_file_of_the_data_folder(tmp_path: Path) -> None:
    """issue 14 point 2: the platform runs on a data folder, creates a key, sends and
    stops; neither the AccessKey secret nor the push secret is in the database, its WAL or
    its shared memory, while the content of the store is (the search does read them)."""
    folder = tmp_path / "data"
    async with platform(folder) as running:
        secret = running.demo.key.secret
        push = (await running.client.put("/v1/push", json={"receipt_url": "queue"})).json()
        sent = await running.client.post("/v1/messages", json=send_body(running))
        assert sent.status_code == 200, sent.text
        await final_messages(running, sent.json()["biz_id"])
        during = {p.name for p in folder.iterdir()}
        assert {"yizhan.db", "yizhan.db-wal", "yizhan.db-shm", KEY_FILE} <= during
        for needle in (secret.encode(), push["secret"].encode()):
            assert files_holding(folder, needle) == []
    assert files_holding(folder, secret.encode()) == []
    assert files_holding(folder, push["secret"].encode()) == []
    assert files_holding(folder, b"demo verification code") == ["yizhan.db"]


async def test_the_data_folder_is_0700_and_its_files_0600_also_when_they_were_open(
        tmp_path: Path) -> None:
    """issue 14 point 2: a new data folder is private; an existing one with loose modes
    (0755, a database 0644, as older versions left them) is tightened at start."""
    folder = tmp_path / "data"
    async with platform(folder):
        assert mode(folder) == 0o700
        assert {p.name: mode(p) for p in folder.iterdir()} == {
            name: 0o600 for name in ("yizhan.db", "yizhan.db-wal", "yizhan.db-shm", KEY_FILE,
                                     "yizhan.db-writer", "dispatch.journal",
                                     "dispatch-2.journal")}
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    assert (await cli(folder, "accounts", "list"))[0] == 0
    assert mode(folder) == 0o700
    assert {mode(p) for p in folder.iterdir()} == {0o600}


async def test_plaintext_secrets_of_an_older_version_are_sealed_and_leave_no_trace(
        tmp_path: Path) -> None:
    """issue 14 point 2: a store written by an older version (schema 0012, secrets in
    clear, several pages of them) is sealed at the next start; no plaintext byte remains in
    free space or the WAL, and the old secrets still authenticate."""
    folder = tmp_path / "data"
    folder.mkdir()
    old = SqlStore.open(f"sqlite+aiosqlite:///{folder / 'yizhan.db'}",
                        master=KeySource(given=new_key()))
    await migrate.upgrade(old.engine, "0012_nonce_log")
    secrets = [f"PlainSecret{n:04d}xxxxxxxxxxxxxxxxxx" for n in range(300)]
    async with old.engine.begin() as conn:
        await conn.execute(text("INSERT INTO accounts (id, name, status, created_at, balance)"
                                " VALUES (1, 'demo', 'active', '2026-01-01 00:00:00', 0)"))
        for n, secret in enumerate(secrets):
            await conn.execute(text(
                "INSERT INTO access_keys (id, account_id, secret, status, created_at) "
                "VALUES (:id, 1, :secret, 'enabled', '2026-01-01 00:00:00')"),
                {"id": f"LTAIold{n:04d}", "secret": secret})
        await conn.execute(text(
            "INSERT INTO push_endpoints (account_id, receipt_url, uplink_url, review_url, "
            "secret, updated_at) VALUES (1, 'queue', '', '', 'PlainPushSecretyyyyyyyyy', "
            "'2026-01-01 00:00:00')"))
    await old.close()
    assert files_holding(folder, b"PlainSecret0299") == ["yizhan.db"]  # the search works

    async with platform(folder) as running:
        assert running.demo.key.id == "LTAIold0000"
        assert running.demo.key.secret == secrets[0]
        listed = await running.client.get("/v1/push")
        assert listed.status_code == 200 and listed.json()["secret"] == \
            "PlainPushSecretyyyyyyyyy"
        assert files_holding(folder, b"PlainSecret") == []  # while it runs, too
    assert files_holding(folder, b"PlainSecret") == []
    assert files_holding(folder, b"PlainPushSecret") == []


async def test_rotating_the_master_key_keeps_the_keys_working(tmp_path: Path) -> None:
    """issue 14 point 2: a signed SDK request works before and after `yizhan keys
    rotate-master`; the key file changes, and the old key no longer opens the store."""
    folder = tmp_path / "data"
    async with platform(folder) as running:
        secret = running.demo.key.secret
        assert await sdk_send(running, secret, "13800138000") == "OK"
    old_key = (folder / KEY_FILE).read_text().strip()
    code, output = await cli(folder, "keys", "rotate-master")
    assert code == 0 and "master key rotated: 1 secret re-sealed" in output, output
    assert (folder / KEY_FILE).read_text().strip() != old_key
    assert mode(folder / KEY_FILE) == 0o600 and not pending_file(folder / KEY_FILE).exists()
    async with platform(folder) as running:
        assert running.demo.key.secret == secret
        assert await sdk_send(running, secret, "13900139000") == "OK"
    code, output = await cli(folder, "accounts", "list", env={"YIZHAN_MASTER_KEY": old_key})
    assert code == 1 and "does not open this store's secrets" in output


def test_rotation_is_refused_while_a_server_runs_on_the_store(tmp_path: Path) -> None:
    """issue 14 point 2: a running server holds the old key in memory, so rotating under it
    would leave it unable to read the keys it serves: refused, and the key file unchanged."""
    folder = tmp_path / "data"
    assert yz_env(folder, {}, "accounts", "create", "acme")[0] == 0
    before = (folder / KEY_FILE).read_bytes()
    lock = ServerLock(folder)
    assert lock.acquire("http://127.0.0.1:8080") is None
    try:
        code, output = yz_env(folder, {}, "keys", "rotate-master")
    finally:
        lock.release()
    assert code == 1 and "stop it first" in output and str(os.getpid()) in output, output
    assert (folder / KEY_FILE).read_bytes() == before
    assert yz_env(folder, {}, "keys", "rotate-master")[0] == 0


def test_a_missing_or_wrong_master_key_is_one_clear_line(tmp_path: Path) -> None:
    """issue 14 point 2: a store whose key file is gone, or a key that is not the store's,
    stops the command with what to do, and never makes a new key over sealed secrets."""
    folder = tmp_path / "data"
    assert yz_env(folder, {}, "accounts", "create", "acme")[0] == 0
    key_file = folder / KEY_FILE
    saved = key_file.read_bytes()
    key_file.unlink()
    code, output = yz_env(folder, {}, "accounts", "list")
    assert code == 1 and "is missing" in output and "Traceback" not in output, output
    assert not key_file.exists()
    write_key_file(key_file, new_key())
    code, output = yz_env(folder, {}, "keys", "list")
    assert code == 1 and "does not open this store's secrets" in output, output
    code, output = yz_env(folder, {"YIZHAN_MASTER_KEY": "not a key"}, "keys", "list")
    assert code == 1 and "is not a master key" in output, output
    key_file.write_bytes(saved)
    assert yz_env(folder, {}, "keys", "list")[0] == 0


def test_postgresql_without_a_master_key_refuses_to_start(tmp_path: Path) -> None:
    """issue 14 point 2: on PostgreSQL no key file is made (each machine would make its
    own): without `master_key` the command says how to give one, before it touches the
    database."""
    nowhere = "postgresql+asyncpg://nobody@127.0.0.1:1/none"  # connecting would fail else
    code, output = yz_env(tmp_path, {"YIZHAN_DATABASE_URL": nowhere}, "accounts", "list")
    assert code == 1 and "YIZHAN_MASTER_KEY" in output and "new-master" in output, output
    assert not (tmp_path / KEY_FILE).exists()


def test_a_rotation_cut_after_its_commit_is_finished_at_the_next_start(
        tmp_path: Path) -> None:
    """issue 14 point 2: the new key waits beside the key file until the re-sealing commits;
    a start finds the store sealed under it and completes the rename (and drops a new key
    whose rotation did not commit)."""
    old, new = new_key(), new_key()
    key_file = tmp_path / KEY_FILE
    write_key_file(key_file, old)
    write_key_file(pending_file(key_file), new)
    check_new = Sealer(new).seal("yizhan master key check", "master_key_check")
    source = KeySource(file=key_file)
    assert source.load(check_new).open(check_new, "master_key_check")
    assert key_file.read_text().strip() == encode_key(new)
    assert not pending_file(key_file).exists()
    write_key_file(pending_file(key_file), old)
    source.load(check_new)
    assert not pending_file(key_file).exists()
    with pytest.raises(MasterKeyError, match="does not open"):
        KeySource(given=old).load(check_new)


def yz_env(folder: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--data-dir", str(folder)], env=env)
    return result.exit_code, result.output


async def cli(folder: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """`yizhan ARGS --data-dir FOLDER` from an async test (the command runs its own loop)."""
    return await asyncio.to_thread(yz_env, folder, env or {}, *args)


def test_a_master_key_given_by_setting_rotates_to_the_new_key_given(tmp_path: Path) -> None:
    """issue 14 point 2: with YIZHAN_MASTER_KEY, rotation needs the new key
    (YIZHAN_NEW_MASTER_KEY); afterwards only the new key opens the store, and no key file
    was written."""
    old, new = encode_key(new_key()), encode_key(new_key())
    assert yz_env(tmp_path, {"YIZHAN_MASTER_KEY": old}, "accounts", "create", "acme")[0] == 0
    code, output = yz_env(tmp_path, {"YIZHAN_MASTER_KEY": old}, "keys", "rotate-master")
    assert code == 1 and "YIZHAN_NEW_MASTER_KEY" in output, output
    code, output = yz_env(tmp_path, {"YIZHAN_MASTER_KEY": old, "YIZHAN_NEW_MASTER_KEY": new},
                          "keys", "rotate-master")
    assert code == 0 and "1 secret re-sealed" in output and "YIZHAN_MASTER_KEY" in output
    assert yz_env(tmp_path, {"YIZHAN_MASTER_KEY": new}, "keys", "list")[0] == 0
    code, output = yz_env(tmp_path, {"YIZHAN_MASTER_KEY": old}, "keys", "list")
    assert code == 1 and "does not open" in output
    assert not (tmp_path / KEY_FILE).exists()


async def test_rotation_reseals_every_secret_in_the_store(store: SqlStore) -> None:
    """issue 14 point 2, on SQLite and PostgreSQL: after `rotate_master_key` the keys and
    the push secret open with the new key, as they were, and the old key is refused."""
    from datetime import UTC, datetime

    from tests.conftest import TEST_MASTER

    now = datetime.now(UTC)
    account = await store.create_account("acme", now)
    keys = [await store.create_access_key(account.id, now) for _ in range(3)]
    push = await store.set_push_endpoints(account.id, now, receipt_url="queue")
    new = new_key()
    assert await store.rotate_master_key(new) == 4
    rotated, stale = SqlStore(store.engine, KeySource(given=new)), SqlStore(store.engine,
                                                                             TEST_MASTER)
    try:
        assert await rotated.unlock() == 0
        assert [await rotated.access_key(k.id) for k in keys] == keys
        endpoints = await rotated.push_endpoints(account.id)
        assert endpoints is not None and endpoints.secret == push.secret
        with pytest.raises(MasterKeyError, match="does not open"):
            await stale.unlock()
    finally:
        await rotated.close()
        await stale.close()
