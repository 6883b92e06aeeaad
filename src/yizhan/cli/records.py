"""Sending records: `yizhan records` shows an account's messages by BizId or by day (and
number), with what their codes mean (the channels' code tables) and what they cost."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer

from yizhan.cli.common import (
    AccountName,
    ConfigFile,
    DatabaseUrl,
    DataDir,
    account_named,
    clock,
    code_book_of,
    command_set,
    fail,
    run,
    settings_of,
    table,
)
from yizhan.domain.errors import Refusal
from yizhan.domain.model import Message
from yizhan.domain.timezone import china_day_bounds, china_text, china_today
from yizhan.policy import numbers
from yizhan.policy.balance import money
from yizhan.storage.store import SqlStore

commands = command_set()
"""records (top level)."""


@commands.command()
def records(account: AccountName,
            phone: Annotated[str | None, typer.Option(help="Destination number.")] = None,
            day: Annotated[str | None, typer.Option(
                "--date", help="China calendar day YYYY-MM-DD [default: today]")] = None,
            biz_id: Annotated[str | None, typer.Option(help="One send request.")] = None,
            limit: Annotated[int, typer.Option(help="Most rows shown.")] = 50,
            as_json: Annotated[bool, typer.Option("--json")] = False,
            unmask: Annotated[bool, typer.Option(
                help="Show message content in full (masked by default).")] = False,
            data_dir: DataDir = None, config: ConfigFile = None,
            database_url: DatabaseUrl = None) -> None:
    """Show sending records of an account: by BizId, or by day (and number). Digits and
    letters of the content are masked unless --unmask."""
    from yizhan.records.masking import mask
    shown = (lambda text: text) if unmask else mask
    settings = settings_of(data_dir, config, database_url)
    book = code_book_of(settings.channels_file)

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        if biz_id:
            found = await store.messages_by_biz(owner.id, biz_id)
            total = len(found)
        else:
            number = None
            if phone:
                parsed = numbers.normalize(phone)
                if isinstance(parsed, Refusal):
                    raise fail(f"{parsed.code}: {parsed.message()}")
                number = parsed
            try:
                the_day = date.fromisoformat(day) if day else china_today(clock.now())
            except ValueError as exc:
                raise fail(f"--date {day!r}: use YYYY-MM-DD") from exc
            start, end = china_day_bounds(the_day)
            total, found = await store.query_messages(owner.id, number, start, end, 0, limit)
        why = [book.reason(m.status, m.channel, m.error_code, m.reason) for m in found]
        if as_json:
            print(json.dumps([{"message_id": str(m.id), "biz_id": m.biz_id,
                               "phone_number": numbers.display(m.phone), "status": m.status,
                               "error_code": m.error_code, "reason": reason,
                               "suggestion": suggestion,
                               "segments": m.segments, "charge": charge_text(m),
                               "package_parts": m.package_parts,
                               "content": shown(m.content)}
                              for m, (reason, suggestion) in zip(found, why, strict=True)],
                             ensure_ascii=False))
            return
        table(f"Records ({total} in all)",
              ["sent (China time)", "number", "status", "code", "reason", "parts", "charge",
               "content", "BizId"],
              [[china_text(m.created_at), numbers.display(m.phone), m.status.value,
                m.error_code, reason, m.segments, charge_text(m) or "-", shown(m.content),
                m.biz_id] for m, (reason, _) in zip(found, why, strict=True)])

    run(settings, work)


def charge_text(m: Message) -> str | None:
    """What a record cost: yuan from the balance and parts from packages; None if unbilled."""
    if m.charged_at is None:
        return None
    text = money(m.charge)
    return f"{text} + {m.package_parts} pkg" if m.package_parts else text
