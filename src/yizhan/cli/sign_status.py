"""What blocks a signature, per carrier, and what to do next: `yizhan signs status NAME
--account ACCOUNT` (docs/compliance.md "What blocks a signature"), from the same function
as `GET /v1/signatures/{name}/status`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from yizhan.cli.common import (
    ConfigFile,
    DatabaseUrl,
    DataDir,
    account_named,
    command_set,
    fail,
    run,
    settings_of,
    table,
)
from yizhan.compliance.blocking import CarrierStatus, signature_status, status_json
from yizhan.domain.model import ReviewState
from yizhan.storage.store import SqlStore

signs_commands = command_set()


@signs_commands.command("status")
def signs_status(name: str, account: Annotated[str, typer.Option("--account", "-a")],
                 as_json: Annotated[bool, typer.Option(
                     "--json", help="JSON (both languages) instead of a table.")] = False,
                 data_dir: DataDir = None, config: ConfigFile = None,
                 database_url: DatabaseUrl = None) -> None:
    """Per carrier: whether the signature sends, what stops it and the next step."""
    settings = settings_of(data_dir, config, database_url)

    async def work(store: SqlStore) -> list[CarrierStatus]:
        owner = await account_named(store, account)
        signature = await store.signature(owner.id, name)
        if signature is None or signature.state is ReviewState.DELETED:
            raise fail(f"account {account!r} has no signature {name!r} (`yizhan signs list`)")
        qualification = (await store.qualification(owner.id, signature.qualification_id)
                         if signature.qualification_id is not None else None)
        return signature_status(signature, qualification,
                                await store.sign_registrations(signature.id))

    carriers = run(settings, work)
    if as_json:
        print(json.dumps({"sign_name": name, "carriers": [status_json(c) for c in carriers]},
                         ensure_ascii=False, indent=2))
        return
    zh = settings.language == "zh"
    table(f"Signature {name}: what blocks it", ["carrier", "sends", "state", "reason",
                                                       "next step"],
          [[c.isp.value, "no" if c.blocked else "yes", int(c.state), c.zh if zh else c.en,
            c.next_zh if zh else c.next_en] for c in carriers])
