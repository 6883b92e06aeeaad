"""AccessKeys and the master key that seals their secrets: `yizhan keys create|list|disable`
(an AccessKey's secret is shown once, at creation), `yizhan keys new-master` (a fresh master
key, for the `master_key` setting of a PostgreSQL deployment) and `yizhan keys rotate-master`
(re-seals every secret under a new key; issue 14 point 2, docs/security.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from yizhan.cli.common import (
    AccountName,
    ConfigFile,
    DatabaseUrl,
    DataDir,
    account_named,
    clock,
    command_set,
    fail,
    out,
    plain,
    run,
    settings_of,
    store_name,
    table,
)
from yizhan.domain.model import KeyStatus
from yizhan.domain.timezone import china_text
from yizhan.runtime import server_lock
from yizhan.storage.sealing import MasterKeyError, decode_key, encode_key, new_key
from yizhan.storage.store import SqlStore

keys_commands = command_set()
NEW_KEY_ENV = "YIZHAN_NEW_MASTER_KEY"


@keys_commands.command("create")
def keys_create(account: AccountName, data_dir: DataDir = None, config: ConfigFile = None,
                database_url: DatabaseUrl = None) -> None:
    """Create an AccessKey for an account; the secret is shown only now."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        key = await store.create_access_key(owner.id, clock.now())
        out.print(f"AccessKey id      {key.id}", highlight=False)
        out.print(f"AccessKey secret  {key.secret}   (shown only now: keep it)",
                  highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@keys_commands.command("list")
def keys_list(account: Annotated[str | None, typer.Option("--account", "-a")] = None,
              data_dir: DataDir = None, config: ConfigFile = None,
              database_url: DatabaseUrl = None) -> None:
    """List AccessKey ids and states (never secrets)."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account) if account else None
        names = {a.id: a.name for a in await store.list_accounts()}
        rows = [[k.id, names.get(k.account_id, k.account_id), k.status.value,
                 china_text(k.created_at)]
                for k in await store.list_access_keys(owner.id if owner else None)]
        table("AccessKeys", ["id", "account", "status", "created (China time)"], rows)

    run(settings_of(data_dir, config, database_url), work)


@keys_commands.command("disable")
def keys_disable(key_id: str, data_dir: DataDir = None, config: ConfigFile = None,
                 database_url: DatabaseUrl = None) -> None:
    """Disable an AccessKey: requests signed with it are refused from now on."""
    async def work(store: SqlStore) -> None:
        if not await store.set_access_key_status(key_id, KeyStatus.DISABLED):
            raise fail(f"no AccessKey {key_id!r}")
        out.print(f"AccessKey {key_id} disabled", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


# the master key


@keys_commands.command("new-master")
def keys_new_master() -> None:
    """Print a fresh master key (base64 of 32 bytes), e.g. for YIZHAN_MASTER_KEY."""
    plain.print(encode_key(new_key()))


@keys_commands.command("rotate-master")
def keys_rotate_master(
    data_dir: DataDir = None, config: ConfigFile = None, database_url: DatabaseUrl = None,
    new: Annotated[str | None, typer.Option(
        "--new-key", envvar=NEW_KEY_ENV, show_default=False,
        help=f"The new key, when the key is given by setting (better from {NEW_KEY_ENV} "
        "than on the command line). Default: a fresh key in the key file.")] = None,
) -> None:
    """Re-seal every secret under a new master key in one transaction, then replace the key
    file. Stop every Yizhan process on the store first: they hold the old key."""
    settings = settings_of(data_dir, config, database_url)
    server = server_lock.holder(settings.data_dir)
    if server is not None and server.store in ("", store_name(settings)):
        # A server keeps the old key in memory and could not read secrets sealed under the
        # new one (the lock is this machine's: other machines' processes are the operator's).
        raise fail(f"a Yizhan server is running on this store (pid {server.pid}, "
                   f"{server.url or 'starting'}): stop it first, then rotate the key")
    if settings.master_key is not None and new is None:
        raise fail(f"the master key is given by setting (YIZHAN_MASTER_KEY): give the new "
                   f"one in {NEW_KEY_ENV} (`yizhan keys new-master` prints one)")
    try:
        key = decode_key(new, NEW_KEY_ENV) if new is not None else new_key()
    except MasterKeyError as exc:
        raise fail(str(exc)) from exc

    async def work(store: SqlStore) -> int:
        return await store.rotate_master_key(key)

    count = run(settings, work)
    plain.print(f"master key rotated: {count} secret{'' if count == 1 else 's'} re-sealed")
    if settings.master_key is not None:
        plain.print(f"now set YIZHAN_MASTER_KEY to the new key ({NEW_KEY_ENV}) in every "
                    "process before starting them")
    else:
        plain.print("the key file now holds the new key: back it up, and copy it to every "
                    "machine that shares this store")
