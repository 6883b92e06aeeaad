"""Operator commands for receipts: `yizhan receipts unmatched` lists the receipts that matched
no message (storage/unmatched.py gives them up after `receipt_unmatched_seconds`), raw, so
an operator can see what the carrier sent and fix the channel (its `ids`, or its numbers)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from yizhan.cli.common import (
    ConfigFile,
    DatabaseUrl,
    DataDir,
    command_set,
    run,
    settings_of,
    table,
)
from yizhan.domain.timezone import china_text
from yizhan.storage.store import SqlStore

receipts_commands = command_set()


@receipts_commands.command("unmatched")
def unmatched(
    channel: Annotated[str | None, typer.Option(help="Only this channel's receipts.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Most receipts shown, newest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table.")] = False,
    data_dir: DataDir = None, config: ConfigFile = None, database_url: DatabaseUrl = None,
) -> None:
    """Receipts that matched no message, as the carrier sent them."""
    async def work(store: SqlStore) -> None:
        found = await store.unmatched_receipts(channel, limit)
        if as_json:
            print(json.dumps([{
                "id": r.id, "channel": r.channel, "remote_id": r.remote_id, "code": r.code,
                "phone_number": r.phone, "received_at": r.received_at.isoformat(),
                "submitted_at": r.submitted_at.isoformat() if r.submitted_at else None,
                "raw": r.raw} for r in found], ensure_ascii=False))
            return
        table(f"Unmatched receipts ({len(found)} shown, newest first)",
              ["received (China time)", "channel", "remote id", "code", "handset", "raw"],
              [[china_text(r.received_at), r.channel, r.remote_id, r.code, r.phone or "-",
                r.raw] for r in found])

    run(settings_of(data_dir, config, database_url), work)
