"""The API call log for the operator: `yizhan calls` lists the calls of a day, refused ones
included, every account's (and those of unknown AccessKeys) or one account's
(docs/diagnosis.md "The API call log"). Numbers are masked unless --unmask or --json."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Annotated

import typer

from yizhan.cli.common import (
    ConfigFile,
    DatabaseUrl,
    DataDir,
    account_named,
    clock,
    command_set,
    fail,
    run,
    settings_of,
    table,
)
from yizhan.domain.calls import NUMBER_CHARS, ApiCall
from yizhan.domain.errors import Refusal
from yizhan.domain.model import PhoneNumber
from yizhan.domain.timezone import china_day_bounds, china_text, china_today
from yizhan.policy import numbers
from yizhan.records.masking import mask_number
from yizhan.storage.store import SqlStore

commands = command_set()
"""calls (top level)."""


@commands.command()
def calls(account: Annotated[str | None, typer.Option(
              "--account", "-a", help="Only this account's calls [default: every call, "
              "those of unknown AccessKeys included].")] = None,
          phone: Annotated[str | None, typer.Option(
              help="Only calls that named this number.")] = None,
          day: Annotated[str | None, typer.Option(
              "--date", help="China calendar day YYYY-MM-DD [default: today]")] = None,
          action: Annotated[str | None, typer.Option(
              help="An action (SendSms) or a REST method and route (POST /v1/messages).")
                            ] = None,
          code: Annotated[str | None, typer.Option(help="The answer's code.")] = None,
          limit: Annotated[int, typer.Option(help="Most rows shown.")] = 50,
          as_json: Annotated[bool, typer.Option("--json")] = False,
          unmask: Annotated[bool, typer.Option(
              help="Show numbers in full (masked by default).")] = False,
          data_dir: DataDir = None, config: ConfigFile = None,
          database_url: DatabaseUrl = None) -> None:
    """Show the API calls of a day, newest first, refused ones included."""
    settings = settings_of(data_dir, config, database_url)
    try:
        the_day = date.fromisoformat(day) if day else china_today(clock.now())
    except ValueError as exc:
        raise fail(f"--date {day!r}: use YYYY-MM-DD") from exc

    async def work(store: SqlStore) -> None:
        owner = (await account_named(store, account)).id if account else None
        start, end = china_day_bounds(the_day)
        total, found = await store.query_calls(
            owner, start, end, phone=stored_form(phone) if phone else None,
            action=action, code=code, limit=limit)
        if as_json:
            print(json.dumps([call_dict(c) for c in found], ensure_ascii=False))
            return
        shown = (lambda text: text) if unmask else mask_number
        table(f"API calls ({total} in all)",
              ["time (China)", "action", "account", "key id", "status", "code", "numbers",
               "signature", "template", "client", "BizId", "message"],
              [[china_text(c.at), c.action or "-", c.account_id or "-", c.key_id or "-",
                c.http_status, c.code, numbers_text(c, shown), c.sign_name, c.template_code,
                c.client, c.biz_id or "", c.detail] for c in found])

    run(settings, work)


def stored_form(raw: str) -> str:
    """A number as calls store it: E.164, or the text as given when it is no number."""
    parsed = numbers.normalize(raw)
    return raw.strip()[:NUMBER_CHARS] if isinstance(parsed, Refusal) else parsed


def display(stored: str) -> str:
    return numbers.display(PhoneNumber(stored)) if stored.startswith("+") else stored


def numbers_text(call: ApiCall, shown: Callable[[str], str]) -> str:
    """The first three numbers (as `shown` shows them) and how many more."""
    listed = [shown(display(n)) for n in call.numbers[:3]]
    more = call.number_count - len(listed)
    return ", ".join(listed) + (f" (+{more})" if more > 0 else "")


def call_dict(call: ApiCall) -> dict[str, object]:
    return {"call_id": str(call.id), "at": call.at.isoformat(), "action": call.action,
            "account_id": call.account_id, "access_key_id": call.key_id,
            "request_id": call.request_id, "http_status": call.http_status, "code": call.code,
            "number_count": call.number_count,
            "phone_numbers": [display(n) for n in call.numbers],
            "sign_name": call.sign_name, "template_code": call.template_code,
            "client": call.client, "biz_id": call.biz_id, "message": call.detail}
