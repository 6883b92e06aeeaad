"""`yizhan diagnose`: why did this SMS fail, for the operator: one message's whole trail and
the verdict (what happened, on whose side, what to do), or a number's China day, or with
`--summary` a population's success rate per carrier, leading codes and flags
(docs/diagnosis.md). The same diagnoses as GET /v1/messages/{id}/diagnosis and GET
/v1/diagnosis/summary.

`--summary` is an option rather than a subcommand: `yizhan diagnose MESSAGE_ID` takes a
positional argument, which a subcommand name would be mistaken for."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer

from yizhan.cli.common import (
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
)
from yizhan.diagnosis.inquiry import Diagnoser
from yizhan.diagnosis.population import (
    TOP_CODES,
    Scope,
    Summarizer,
    scope_problem,
    summary_json,
    summary_lines,
)
from yizhan.diagnosis.report import diagnosis_json, lines, number_day_json, refused_call_lines
from yizhan.domain.errors import Refusal
from yizhan.domain.model import PhoneNumber
from yizhan.domain.timezone import china_today
from yizhan.policy import numbers
from yizhan.settings import Settings
from yizhan.storage.store import SqlStore

commands = command_set()
"""diagnose (top level)."""


@commands.command()
def diagnose(message_id: Annotated[int | None, typer.Argument(
                 help="A message id (`message_id` of a send, `yizhan records --json`).")] = None,
             phone: Annotated[str | None, typer.Option(
                 help="A destination number: diagnose its messages of one day.")] = None,
             day: Annotated[str | None, typer.Option(
                 "--date", help="China calendar day YYYY-MM-DD [default: today]")] = None,
             account: Annotated[str | None, typer.Option(
                 "--account", "-a",
                 help="Account name (needed with --phone and --summary).")] = None,
             summary: Annotated[bool, typer.Option(
                 "--summary", help="A population (with --account): success rate per carrier, "
                 "leading failure codes, flags.")] = False,
             sign: Annotated[str | None, typer.Option(
                 "--sign", help="--summary: only this signature.")] = None,
             template: Annotated[str | None, typer.Option(
                 "--template", help="--summary: only this template.")] = None,
             first: Annotated[str | None, typer.Option(
                 "--from", help="--summary: first China day of a range (at most 31).")] = None,
             last: Annotated[str | None, typer.Option(
                 "--to", help="--summary: last China day of the range.")] = None,
             top: Annotated[int, typer.Option(
                 "--top", min=1, max=20, help="--summary: leading codes per carrier.")
             ] = TOP_CODES,
             as_json: Annotated[bool, typer.Option("--json")] = False,
             chinese: Annotated[bool, typer.Option(
                 "--zh", help="The verdict (--summary: the flags) in Chinese.")] = False,
             data_dir: DataDir = None, config: ConfigFile = None,
             database_url: DatabaseUrl = None) -> None:
    """Why did this SMS fail: a message's whole trail (policy rules, lists, signature and
    template, carrier registration, route, submits, receipts, pushes) and the verdict.
    Content is masked. With --summary: why an account's success rate is low (per carrier
    the rate and leading failure codes, and the causes the trail proves)."""
    if summary:
        if message_id is not None or phone is not None or account is None:
            raise fail("--summary takes --account (and --sign, --template, --date or "
                       "--from/--to), not a MESSAGE_ID or --phone")
        population(account, sign, template, day, first, last, top, as_json, chinese,
                   settings_of(data_dir, config, database_url))
        return
    if (message_id is None) == (phone is None):
        raise fail("give a MESSAGE_ID, or --phone (with --account and --date), or --summary")
    settings = settings_of(data_dir, config, database_url)
    book = code_book_of(settings.channels_file)

    async def work(store: SqlStore) -> None:
        inquiry = Diagnoser(store, book, calls=store)
        owner = await account_named(store, account) if account else None
        if message_id is not None:
            found = await store.any_message(message_id)
            if found is None or (owner is not None and found.account_id != owner.id):
                raise fail(f"no message {message_id}"
                           + (f" of account {account!r}" if owner else ""))
            diagnosis = await inquiry.diagnose(found)
            if as_json:
                print(json.dumps(diagnosis_json(diagnosis, masked=True), ensure_ascii=False))
            else:
                print("\n".join(lines(diagnosis, chinese)))
            return
        if owner is None:
            raise fail("--phone needs --account (whose messages to look at)")
        number = numbers.normalize(phone or "")
        if isinstance(number, Refusal):
            raise fail(f"{number.code}: {number.message()}")
        try:
            the_day = date.fromisoformat(day) if day else china_today(clock.now())
        except ValueError as exc:
            raise fail(f"--date {day!r}: use YYYY-MM-DD") from exc
        result = await inquiry.by_number(owner.id, PhoneNumber(number), the_day)
        if as_json:
            print(json.dumps(number_day_json(result, masked=True), ensure_ascii=False))
            return
        if not result.messages and not result.refused_calls:
            print(f"no message to {numbers.display(number)} on {the_day}: the call was "
                  "refused as a whole (see the API call log) or never reached the platform")
        for diagnosis in result.messages:
            print("\n".join(lines(diagnosis, chinese)))
        for call, refusal in result.refused_calls:
            print("\n".join(refused_call_lines(call, refusal, chinese)))

    run(settings, work)


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise fail(f"{option} {text!r}: use YYYY-MM-DD") from exc


def population(account: str, sign: str | None, template: str | None, day: str | None,
               first: str | None, last: str | None, top: int, as_json: bool, chinese: bool,
               settings: Settings) -> None:
    """`yizhan diagnose --summary`: the same summary as GET /v1/diagnosis/summary."""
    if day is not None and (first is not None or last is not None):
        raise fail("--date, or --from and --to: not both")
    if last is not None and first is None:
        raise fail("--to needs --from")
    start = (_day(day, "--date") if day else _day(first, "--from") if first
             else china_today(clock.now()))
    end = _day(last, "--to") if last else start
    problem = scope_problem(start, end)
    if problem is not None:
        raise fail(f"--from/--to: {problem}")
    book = code_book_of(settings.channels_file)

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        found = await Summarizer(store, book).summary(
            Scope(owner.id, start, end, sign, template), top)
        if as_json:
            print(json.dumps(summary_json(found), ensure_ascii=False))
        else:
            print("\n".join(summary_lines(found, chinese)))

    run(settings, work)
