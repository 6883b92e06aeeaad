"""Operator commands for the master key that seals AccessKey and push secrets (issue 14
point 2, docs/security.md): `yizhan keys new-master` prints a fresh key (for the
`master_key` setting of a PostgreSQL deployment), `yizhan keys rotate-master` re-seals every
secret under a new key. Registered by `cli.main` next to `commands.py`."""

from __future__ import annotations

from typing import Annotated

import typer

from yizhan.cli import (
    ConfigFile,
    DatabaseUrl,
    DataDir,
    fail,
    keys_app,
    plain,
    run,
    settings_of,
    store_name,
)
from yizhan.runtime import server_lock
from yizhan.storage.sealing import MasterKeyError, decode_key, encode_key, new_key
from yizhan.storage.store import SqlStore

NEW_KEY_ENV = "YIZHAN_NEW_MASTER_KEY"


@keys_app.command("new-master")
def keys_new_master() -> None:
    """Print a fresh master key (base64 of 32 bytes), e.g. for YIZHAN_MASTER_KEY."""
    plain.print(encode_key(new_key()))


@keys_app.command("rotate-master")
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
