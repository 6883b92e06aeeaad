"""Operator commands for the account state the policy chain needs: money (top-ups, price,
packages, balance), bound test numbers, promotion opt-outs and the platform blacklist.
They work on the store directly (`common.run`); a running server sees the changes within
`cache_seconds`."""

from __future__ import annotations

import csv
from datetime import timedelta
from decimal import Decimal, InvalidOperation
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
from yizhan.domain.model import BlacklistEntry, OptOut, PhoneNumber
from yizhan.domain.timezone import china_text
from yizhan.policy import numbers
from yizhan.policy.balance import money
from yizhan.storage.store import SqlStore

packages_app = typer.Typer(help="Prepaid packages of parts.", no_args_is_help=True)
test_numbers_app = typer.Typer(help="Numbers that test signatures and templates may send to.",
                               no_args_is_help=True)
accounts_commands = command_set()
"""topup, price, balance, packages, test-numbers (in `accounts`)."""
accounts_commands.add_typer(packages_app, name="packages")
accounts_commands.add_typer(test_numbers_app, name="test-numbers")
opt_outs_commands = command_set()
blacklist_commands = command_set()

Numbers = Annotated[list[str], typer.Argument(help="Phone numbers, in any accepted format.")]
Signs = Annotated[list[str] | None, typer.Option(
    "--sign", help="A signature name concerned; repeat for several [default: all signatures].")]


def yuan(text: str) -> int:
    """'12.5' (yuan) -> 12500 (thousandths of a yuan), or exit with a message."""
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise fail(f"{text!r} is not an amount of yuan, e.g. 100 or 0.045") from exc
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.001")):
        raise fail(f"{text!r}: at most 3 decimals (thousandths of a yuan)")
    return int(amount * 1000)


def phone(raw: str) -> PhoneNumber:
    number = numbers.normalize(raw)
    if isinstance(number, Refusal):
        raise fail(f"{raw!r}: {number.message()}")
    return number


# money


# A negative amount ("-1") looks like an option to Click; unknown options are read as
# arguments here so that a correction can be typed as the docs show it.
@accounts_commands.command("topup", context_settings={"ignore_unknown_options": True})
def accounts_topup(account: AccountName,
                   amount: Annotated[str, typer.Argument(help="Yuan, e.g. 100 or 12.5; "
                                                         "negative to correct a mistake.")],
                   note: Annotated[str, typer.Option(help="Shown in the statement.")] = "",
                   data_dir: DataDir = None, config: ConfigFile = None,
                   database_url: DatabaseUrl = None) -> None:
    """Add money to an account's balance; a negative amount takes it away (a correction)."""
    credit = yuan(amount)

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        balance = await store.top_up(owner.id, credit, note, clock.now())
        change = (f"{money(credit)} yuan added" if credit >= 0
                  else f"{money(-credit)} yuan taken off (a correction)")
        out.print(f"account {owner.name}: {change}, balance {money(balance)} yuan",
                  highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@accounts_commands.command("price")
def accounts_price(account: AccountName,
                   price: Annotated[str | None, typer.Argument(
                       help="Yuan per part, e.g. 0.04; leave out with --platform.")] = None,
                   platform: Annotated[bool, typer.Option(
                       "--platform", help="Use the platform's price_per_part again.")] = False,
                   data_dir: DataDir = None, config: ConfigFile = None,
                   database_url: DatabaseUrl = None) -> None:
    """Set an account's own price per part (messages accepted from now on)."""
    if (price is None) == (not platform):
        raise fail("give a price, or --platform")
    own = None if platform else yuan(str(price))
    if own is not None and own < 0:
        raise fail("a price cannot be negative")

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        await store.set_part_price(owner.id, own)
        shown = "the platform's" if own is None else f"{money(own)} yuan"
        out.print(f"account {owner.name}: price per part is {shown}", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@packages_app.command("add")
def packages_add(account: AccountName,
                 parts: Annotated[int, typer.Argument(min=1, help="Parts in the package.")],
                 days: Annotated[int, typer.Option(min=1, help="Valid for this many days.")] = 365,
                 data_dir: DataDir = None, config: ConfigFile = None,
                 database_url: DatabaseUrl = None) -> None:
    """Give an account a prepaid package of parts, used before its balance."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        now = clock.now()
        package = await store.add_package(owner.id, parts, now + timedelta(days=days), now)
        out.print(f"package {package.id}: {parts} parts for {owner.name}, valid until "
                  f"{china_text(package.expires_at)} (China time)", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@accounts_commands.command("balance")
def accounts_balance(account: AccountName, data_dir: DataDir = None, config: ConfigFile = None,
                     database_url: DatabaseUrl = None) -> None:
    """Show an account's balance, price per part and packages."""
    settings = settings_of(data_dir, config, database_url)

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        price = (f"{money(owner.part_price)} yuan (the account's own)"
                 if owner.part_price is not None
                 else f"{money(settings.part_price)} yuan (the platform's)")
        state = "  (below zero: cannot send)" if owner.balance < 0 else ""
        out.print(f"balance         {money(owner.balance)} yuan{state}", highlight=False)
        out.print(f"price per part  {price}", highlight=False)
        now = clock.now()
        table("Packages", ["id", "parts", "left", "expires (China time)", "state"],
              [[p.id, p.parts, p.parts_left, china_text(p.expires_at),
                "expired" if p.expires_at <= now else "used up" if not p.parts_left
                else "valid"] for p in await store.packages(owner.id)])

    run(settings, work)


# test numbers


@test_numbers_app.command("bind")
def test_numbers_bind(account: AccountName, number: str, data_dir: DataDir = None,
                      config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """Bind a test number: the account's test signatures and templates may send to it."""
    bound = phone(number)

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        result = await store.bind_test_number(owner.id, bound, clock.now())
        if result == "full":
            raise fail(Refusal("TestNumberLimit").message())
        what = "was bound already" if result == "already" else "bound"
        out.print(f"{numbers.display(bound)} {what} for {owner.name}", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@test_numbers_app.command("unbind")
def test_numbers_unbind(account: AccountName, number: str, data_dir: DataDir = None,
                        config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """Unbind a test number."""
    bound = phone(number)

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        if not await store.unbind_test_number(owner.id, bound):
            raise fail(f"{numbers.display(bound)} is not a test number of {owner.name}")
        out.print(f"{numbers.display(bound)} unbound", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@test_numbers_app.command("list")
def test_numbers_list(account: AccountName, data_dir: DataDir = None,
                      config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """List an account's bound test numbers."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        table(f"Test numbers of {owner.name}", ["number", "bound (China time)"],
              [[numbers.display(t.phone), china_text(t.created_at)]
               for t in await store.test_numbers(owner.id)])

    run(settings_of(data_dir, config, database_url), work)


# opt-outs


@opt_outs_commands.command("add")
def opt_outs_add(account: AccountName,
                 sign: Annotated[str, typer.Option(help="The signature refused.")],
                 phones: Numbers,
                 source: Annotated[str, typer.Option(help="Where the refusal came from.")] = (
                     "manual"),
                 data_dir: DataDir = None, config: ConfigFile = None,
                 database_url: DatabaseUrl = None) -> None:
    """Record that numbers refused a signature's promotions (cannot be undone)."""
    parsed = [phone(p) for p in phones]

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        now = clock.now()
        added = await store.add_opt_outs([OptOut(owner.id, sign, p, source, now)
                                          for p in parsed])
        out.print(f"{added} numbers opted out of the promotions of {sign} "
                  f"({len(set(parsed)) - added} had already)", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@opt_outs_commands.command("list")
def opt_outs_list(account: AccountName,
                  sign: Annotated[str | None, typer.Option(help="Only this signature.")] = None,
                  number: Annotated[str | None, typer.Option("--phone")] = None,
                  limit: Annotated[int, typer.Option(help="Most rows shown.")] = 100,
                  data_dir: DataDir = None, config: ConfigFile = None,
                  database_url: DatabaseUrl = None) -> None:
    """List opt-outs of an account, newest first."""
    wanted = phone(number) if number else None

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        table(f"Promotion opt-outs of {owner.name}",
              ["number", "signature", "source", "since (China time)"],
              [[numbers.display(o.phone), o.sign_name, o.source, china_text(o.created_at)]
               for o in await store.opt_outs(owner.id, sign, wanted, limit)])

    run(settings_of(data_dir, config, database_url), work)


# blacklist


@blacklist_commands.command("add")
def blacklist_add(phones: Numbers, sign: Signs = None,
                  source: Annotated[str, typer.Option(help="Where the complaint came from.")] = (
                      "complaint"),
                  data_dir: DataDir = None, config: ConfigFile = None,
                  database_url: DatabaseUrl = None) -> None:
    """Blacklist numbers for some signatures, or all (an existing entry is widened)."""
    now = clock.now()
    entries = [BlacklistEntry(phone(p), tuple(sign or ()), source, now) for p in phones]

    async def work(store: SqlStore) -> None:
        await store.add_blacklisted(entries)
        scope = ", ".join(sign) if sign else "all signatures"
        out.print(f"{len(entries)} numbers blacklisted for {scope}", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@blacklist_commands.command("remove")
def blacklist_remove(phones: Numbers, data_dir: DataDir = None, config: ConfigFile = None,
                     database_url: DatabaseUrl = None) -> None:
    """Take numbers off the blacklist (for every signature)."""
    parsed = [phone(p) for p in phones]

    async def work(store: SqlStore) -> None:
        removed = await store.remove_blacklisted(parsed, clock.now())
        out.print(f"{removed} numbers taken off the blacklist "
                  f"({len(set(parsed)) - removed} were not on it)", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@blacklist_commands.command("list")
def blacklist_list(number: Annotated[str | None, typer.Option("--phone")] = None,
                   limit: Annotated[int, typer.Option(help="Most rows shown.")] = 100,
                   data_dir: DataDir = None, config: ConfigFile = None,
                   database_url: DatabaseUrl = None) -> None:
    """List blacklisted numbers, newest first."""
    wanted = phone(number) if number else None

    async def work(store: SqlStore) -> None:
        total, entries = await store.blacklisted(wanted, limit)
        table(f"Blacklist ({total} numbers)", ["number", "signatures", "source",
                                               "since (China time)"],
              [[numbers.display(e.phone), ", ".join(e.signatures) or "all", e.source,
                china_text(e.created_at)] for e in entries])

    run(settings_of(data_dir, config, database_url), work)


@blacklist_commands.command("import")
def blacklist_import(file: Annotated[Path, typer.Argument(
                         exists=True, dir_okay=False, help="CSV: number[,signatures[,source]]; "
                         "signatures separated by ';', empty for all.")],
                     source: Annotated[str, typer.Option(
                         help="Source for rows that name none.")] = "import",
                     data_dir: DataDir = None, config: ConfigFile = None,
                     database_url: DatabaseUrl = None) -> None:
    """Blacklist the numbers of a CSV file; rows that cannot be read are reported."""
    now = clock.now()
    entries: list[BlacklistEntry] = []
    rejected: list[list[object]] = []
    with file.open(newline="", encoding="utf-8-sig") as handle:
        for line, row in enumerate(csv.reader(handle), 1):
            if not row or not row[0].strip() or row[0].strip().lower() in ("phone", "number"):
                continue
            number = numbers.normalize(row[0])
            if isinstance(number, Refusal):
                rejected.append([line, row[0], number.code])
                continue
            signs = tuple(s.strip() for s in (row[1] if len(row) > 1 else "").split(";")
                          if s.strip())
            entries.append(BlacklistEntry(number, signs, (row[2].strip() if len(row) > 2
                                                           and row[2].strip() else source), now))

    async def work(store: SqlStore) -> None:
        for start in range(0, len(entries), 5000):
            await store.add_blacklisted(entries[start:start + 5000])
        out.print(f"{len(entries)} numbers blacklisted, {len(rejected)} rows rejected",
                  highlight=False)
        if rejected:
            table("Rejected rows", ["line", "value", "code"], rejected[:100])

    run(settings_of(data_dir, config, database_url), work)
