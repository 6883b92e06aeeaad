"""Dead letters, the items a stage gave up on: `yizhan deadletters list|show|replay`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from yizhan.cli.common import (
    ConfigFile,
    DatabaseUrl,
    DataDir,
    clock,
    command_set,
    fail,
    out,
    run,
    settings_of,
    table,
)
from yizhan.domain.timezone import china_text
from yizhan.storage.store import SqlStore

deadletters_commands = command_set()


@deadletters_commands.command("list")
def deadletters_list(all_: Annotated[bool, typer.Option("--all", help="Include replayed.")] = False,
                     data_dir: DataDir = None, config: ConfigFile = None,
                     database_url: DatabaseUrl = None) -> None:
    """List items a stage gave up on."""
    async def work(store: SqlStore) -> None:
        rows = [[d.id, d.stage, china_text(d.created_at), d.error[:60],
                 china_text(d.replayed_at)] for d in await store.list_dead_letters(all_)]
        table("Dead letters", ["id", "stage", "when (China time)", "error", "replayed"], rows)

    run(settings_of(data_dir, config, database_url), work)


@deadletters_commands.command("show")
def deadletters_show(letter_id: int, data_dir: DataDir = None, config: ConfigFile = None,
                     database_url: DatabaseUrl = None) -> None:
    """Show one dead letter in full."""
    async def work(store: SqlStore) -> None:
        letter = await store.dead_letter(letter_id)
        if letter is None:
            raise fail(f"no dead letter {letter_id}")
        print(json.dumps({"id": letter.id, "stage": letter.stage, "payload": letter.payload,
                          "error": letter.error, "created_at": letter.created_at.isoformat(),
                          "replayed_at": letter.replayed_at and letter.replayed_at.isoformat()},
                         ensure_ascii=False, indent=2))

    run(settings_of(data_dir, config, database_url), work)


@deadletters_commands.command("replay")
def deadletters_replay(letter_id: int, data_dir: DataDir = None, config: ConfigFile = None,
                       database_url: DatabaseUrl = None) -> None:
    """Put a dead letter back on its stage; a running server picks it up."""
    async def work(store: SqlStore) -> None:
        letter = await store.replay_dead_letter(letter_id, clock.now())
        if letter is None:
            raise fail(f"no dead letter {letter_id} waiting for replay")
        out.print(f"dead letter {letter_id} put back on stage {letter.stage}", highlight=False)

    run(settings_of(data_dir, config, database_url), work)
