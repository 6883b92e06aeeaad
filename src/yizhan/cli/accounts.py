"""Tenant accounts: `yizhan accounts create` and `list`, and the audited suspension and
resumption (`yizhan accounts suspend`, `resume`, `history`). A suspended account's sends are
refused with isv.OUT_OF_SERVICE by the policy chain (`account.active`) in both APIs and in
`yizhan send`; its reads keep working. The change is written to the store with its audit row
(who, when, why); a running server sees it within `cache_seconds`, the time its AccessKey
cache keeps an account."""

from __future__ import annotations

import getpass
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
    out,
    run,
    settings_of,
    table,
)
from yizhan.domain.model import AccountStatus
from yizhan.domain.timezone import china_text
from yizhan.settings import Settings
from yizhan.storage.store import SqlStore

accounts_commands = command_set()
"""create, list, suspend, resume, history; the other modules add more (`cli/main.py`)."""

Actor = Annotated[str | None, typer.Option(
    "--by", help="Who does it, kept in the audit trail. [default: the OS user]")]


@accounts_commands.command("create")
def accounts_create(name: str, data_dir: DataDir = None, config: ConfigFile = None,
                    database_url: DatabaseUrl = None) -> None:
    """Create an account and its first AccessKey (the secret is shown once)."""
    async def work(store: SqlStore) -> None:
        if await store.account_by_name(name):
            raise fail(f"an account named {name!r} exists already")
        account = await store.create_account(name, clock.now())
        key = await store.create_access_key(account.id, clock.now())
        out.print(f"account {account.name} (id {account.id}) created", highlight=False)
        out.print(f"AccessKey id      {key.id}", highlight=False)
        out.print(f"AccessKey secret  {key.secret}   (shown only now: keep it)",
                  highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@accounts_commands.command("list")
def accounts_list(data_dir: DataDir = None, config: ConfigFile = None,
                  database_url: DatabaseUrl = None) -> None:
    """List accounts; a suspended one with when, by whom and why (`accounts history`)."""
    async def work(store: SqlStore) -> None:
        last = {e.account_id: e for e in await store.account_events()}  # oldest first
        rows = []
        for a in await store.list_accounts():
            event = last.get(a.id) if a.status is AccountStatus.SUSPENDED else None
            why = f"{china_text(event.created_at)} by {event.actor}: {event.reason}" \
                if event else ""
            rows.append([a.id, a.name, a.status.value, china_text(a.created_at), why])
        table("Accounts", ["id", "name", "status", "created (China time)", "reason"], rows)

    run(settings_of(data_dir, config, database_url), work)


def _set_status(name: str, status: AccountStatus, reason: str, actor: str | None,
                settings: Settings) -> None:
    who = actor or getpass.getuser()

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, name)
        if not await store.set_account_status(owner.id, status, reason, who, clock.now()):
            raise fail(f"account {owner.name} is {status.value} already")
        done = "suspended: its sends are refused with isv.OUT_OF_SERVICE" \
            if status is AccountStatus.SUSPENDED else "active again: it can send"
        out.print(f"account {owner.name} {done} (a running server within cache_seconds, "
                  f"{settings.cache_seconds:g} s)", highlight=False)

    run(settings, work)


@accounts_commands.command("suspend")
def accounts_suspend(account: str,
                     reason: Annotated[str, typer.Option(
                         help="Why, kept in the audit trail (`accounts history`).")],
                     by: Actor = None, data_dir: DataDir = None, config: ConfigFile = None,
                     database_url: DatabaseUrl = None) -> None:
    """Suspend an account: its sends are refused (isv.OUT_OF_SERVICE), its reads still work,
    and messages it had sent before are still delivered."""
    if not reason.strip():
        raise fail("--reason must say why")
    _set_status(account, AccountStatus.SUSPENDED, reason.strip(), by,
                settings_of(data_dir, config, database_url))


@accounts_commands.command("resume")
def accounts_resume(account: str,
                    reason: Annotated[str, typer.Option(help="Why, kept in the audit trail.")
                                      ] = "",
                    by: Actor = None, data_dir: DataDir = None, config: ConfigFile = None,
                    database_url: DatabaseUrl = None) -> None:
    """Resume a suspended account: it can send again."""
    _set_status(account, AccountStatus.ACTIVE, reason.strip(), by,
                settings_of(data_dir, config, database_url))


@accounts_commands.command("history")
def accounts_history(account: Annotated[str | None, typer.Argument(
                         help="One account [default: all].")] = None,
                     data_dir: DataDir = None, config: ConfigFile = None,
                     database_url: DatabaseUrl = None) -> None:
    """Every suspension and resumption: when, who, why."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account) if account else None
        names = {a.id: a.name for a in await store.list_accounts()}
        rows = [[china_text(e.created_at), names.get(e.account_id), e.status.value, e.actor,
                 e.reason] for e in await store.account_events(owner.id if owner else None)]
        table("Suspensions and resumptions",
              ["when (China time)", "account", "now", "by", "reason"], rows)

    run(settings_of(data_dir, config, database_url), work)
