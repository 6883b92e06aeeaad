"""Operator commands for receipts, replies, statistics and exports (issue 7): where an
account's receipts go (`yizhan push show|set`), statistics from the counters
(`yizhan stats`), and failed numbers as CSV (`yizhan export-failed`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
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
    run,
    settings_of,
    table,
)
from yizhan.domain.errors import Refusal
from yizhan.domain.model import MessageStatus
from yizhan.domain.statistics import DIMENSIONS
from yizhan.domain.timezone import china_day_bounds, china_today
from yizhan.records.export import failed_csv, retryable
from yizhan.runtime.addresses import PushNetworks
from yizhan.storage.store import SqlStore
from yizhan.webhooks.queue import check_target

push_commands = command_set()
commands = command_set()
"""stats, export-failed (top level)."""

Target = Annotated[str | None, typer.Option(
    help='An http(s) URL (batch push), "queue" (pull API) or "" (off).')]


def _show(store_endpoints: object) -> None:
    rows = [[name, getattr(store_endpoints, name) or "(off)"]
            for name in ("receipt_url", "uplink_url", "review_url")]
    table("Push targets", ["items", "target"], rows)


@push_commands.command("show")
def push_show(account: AccountName, data_dir: DataDir = None, config: ConfigFile = None,
              database_url: DatabaseUrl = None) -> None:
    """Show an account's push targets and its push secret."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        endpoints = await store.push_endpoints(owner.id)
        if endpoints is None:
            out.print(f"account {account} receives no receipts, replies or review results "
                      "yet (`yizhan push set`)", highlight=False)
            return
        _show(endpoints)
        out.print(f"push secret  {endpoints.secret}", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@push_commands.command("set")
def push_set(account: AccountName, receipt_url: Target = None, uplink_url: Target = None,
             review_url: Target = None,
             new_secret: Annotated[bool, typer.Option(help="Make a new push secret.")] = False,
             data_dir: DataDir = None, config: ConfigFile = None,
             database_url: DatabaseUrl = None) -> None:
    """Set where an account's receipts (SmsReport), replies (SmsUp) and review results
    (SignSmsReport, TemplateSmsReport) go."""
    settings = settings_of(data_dir, config, database_url)
    networks = PushNetworks(settings.push_allowed_networks)
    targets: dict[str, str] = {}
    for name, value in (("receipt_url", receipt_url), ("uplink_url", uplink_url),
                        ("review_url", review_url)):
        if value is not None:
            checked = check_target(name, value, networks)
            if isinstance(checked, Refusal):
                raise fail(checked.detail if checked.code == "InvalidParameter"
                           else f"{checked.detail} ({checked.code}: push URLs reach public "
                           "addresses only, unless push_allowed_networks allows theirs)")
            targets[name] = checked

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        saved = await store.set_push_endpoints(owner.id, clock.now(), new_secret=new_secret,
                                               **targets)
        _show(saved)
        out.print(f"push secret  {saved.secret}", highlight=False)

    run(settings, work)


def _day(value: str | None, option: str) -> date:
    try:
        return date.fromisoformat(value) if value else china_today(clock.now())
    except ValueError as exc:
        raise fail(f"{option} {value!r}: use YYYY-MM-DD") from exc


@commands.command()
def stats(account: AccountName,
          start: Annotated[str | None, typer.Option(
              "--from", help="First China day YYYY-MM-DD [default: --to].")] = None,
          end: Annotated[str | None, typer.Option(
              "--to", help="Last China day YYYY-MM-DD [default: today].")] = None,
          group_by: Annotated[str, typer.Option(
              help="Comma-separated: " + ", ".join(DIMENSIONS))] = "day",
          data_dir: DataDir = None, config: ConfigFile = None,
          database_url: DatabaseUrl = None) -> None:
    """Statistics of an account: sent, success, failed, unknown, waiting, success rate,
    billed parts."""
    keys = [k.strip() for k in group_by.split(",") if k.strip()]
    if not keys or set(keys) - set(DIMENSIONS):
        raise fail(f"--group-by: some of {', '.join(DIMENSIONS)}")
    last = _day(end, "--to")
    first = _day(start, "--from") if start else last

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        rows = await store.statistics(owner.id, first, last, group_by=keys)
        table(f"Statistics {first} to {last}", [*keys, "sent", "success", "failed", "unknown",
                                                 "waiting", "success rate", "billed parts"],
              [[*r.key.values(), r.sent, r.success, r.failed, r.unknown, r.waiting,
                f"{r.success_rate:.1%}", r.billed_parts] for r in rows])

    run(settings_of(data_dir, config, database_url), work)


@commands.command("export-failed")
def export_failed(account: AccountName,
                  biz_id: Annotated[str | None, typer.Option(help="One send request.")] = None,
                  start: Annotated[str | None, typer.Option(
                      "--from", help="First China day YYYY-MM-DD.")] = None,
                  end: Annotated[str | None, typer.Option(
                      "--to", help="Last China day YYYY-MM-DD [default: --from].")] = None,
                  include_unknown: Annotated[bool, typer.Option(
                      help="Also numbers whose outcome is unknown.")] = False,
                  retryable_only: Annotated[bool, typer.Option(
                      help="Only numbers a resend can reach (the resend column is yes).")
                                            ] = False,
                  output: Annotated[Path | None, typer.Option(
                      "--output", "-o", help="CSV file [default: standard output].")] = None,
                  data_dir: DataDir = None, config: ConfigFile = None,
                  database_url: DatabaseUrl = None) -> None:
    """Failed numbers of a BizId or of China days, as CSV ready to send again."""
    if (biz_id is None) == (start is None):
        raise fail("give --biz-id or --from (and optionally --to)")
    statuses = [MessageStatus.FAILED] + ([MessageStatus.UNKNOWN] if include_unknown else [])

    async def work(store: SqlStore) -> str:
        owner = await account_named(store, account)
        if biz_id is not None:
            found = await store.failed_messages(owner.id, biz_id=biz_id, statuses=statuses)
        else:
            first = _day(start, "--from")
            last = _day(end, "--to") if end else first
            found = await store.failed_messages(
                owner.id, start=china_day_bounds(first)[0], end=china_day_bounds(last)[1],
                statuses=statuses)
        return failed_csv(retryable(found) if retryable_only else found)

    text = run(settings_of(data_dir, config, database_url), work)
    if output is None:
        print(text, end="")
    else:
        output.write_text(text, encoding="utf-8")
        out.print(f"{text.count(chr(10)) - 1} numbers written to {output}", highlight=False)
