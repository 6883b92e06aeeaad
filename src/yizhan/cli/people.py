"""The web console's people (docs/console.md "Access"): `yizhan console-user
add|list|password|disable|enable`. An operator creates the first tenant admin of an account
here (and other operators); the password is typed (`--password-stdin`) or made by the
platform and shown once. Only its argon2id hash is stored."""

from __future__ import annotations

import sys
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
from yizhan.domain.people import Role
from yizhan.domain.timezone import china_text
from yizhan.runtime import passwords
from yizhan.storage.store import SqlStore

people_commands = command_set()

Login = Annotated[str, typer.Argument(help="The login name (at most 64 characters).")]
PasswordStdin = Annotated[bool, typer.Option(
    "--password-stdin", help="Read the password from standard input (else one is made "
    "and shown once).")]


def _password(from_stdin: bool) -> tuple[str, bool]:
    """The password to set, and whether the platform made it (then it is shown)."""
    if not from_stdin:
        return passwords.new_password(), True
    typed = sys.stdin.readline().rstrip("\n")
    problem = passwords.weak(typed)
    if problem:
        raise fail(f"the password is too weak: {problem}")
    return typed, False


@people_commands.command("add")
def people_add(
    login: Login,
    role: Annotated[Role, typer.Option(help="operator, tenant-admin or tenant-viewer.")],
    account: Annotated[str | None, typer.Option(
        "--account", "-a", help="The tenant's account (tenant roles only).")] = None,
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None, config: ConfigFile = None, database_url: DatabaseUrl = None,
) -> None:
    """Create a person who logs in to the console."""
    if role.tenant != (account is not None):
        raise fail("a tenant admin or viewer needs --account; an operator takes none")
    if not 0 < len(login) <= 64:
        raise fail("a login has 1 to 64 characters")
    password, made = _password(password_stdin)

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account) if account else None
        if await store.console_user(login) is not None:
            raise fail(f"login {login!r} exists already")
        await store.create_console_user(login, passwords.hash_password(password), role,
                                        owner.id if owner else None, clock.now())
        out.print(f"console user {login} ({role.value}"
                  + (f" of {owner.name}" if owner else "") + ") created", highlight=False)
        if made:
            out.print(f"password  {password}   (shown only now: keep it)", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@people_commands.command("list")
def people_list(data_dir: DataDir = None, config: ConfigFile = None,
                database_url: DatabaseUrl = None) -> None:
    """List the console's people (never passwords)."""
    async def work(store: SqlStore) -> None:
        names = {a.id: a.name for a in await store.list_accounts()}
        rows = [[u.login, u.role.value, names.get(u.account_id, "") if u.account_id else "",
                 "disabled" if u.disabled else "active", china_text(u.created_at)]
                for u in await store.console_users()]
        table("Console users", ["login", "role", "account", "state", "created (China time)"],
              rows)

    run(settings_of(data_dir, config, database_url), work)


@people_commands.command("password")
def people_password(login: Login, password_stdin: PasswordStdin = False,
                    data_dir: DataDir = None, config: ConfigFile = None,
                    database_url: DatabaseUrl = None) -> None:
    """Set a new password (every session of the person ends)."""
    password, made = _password(password_stdin)

    async def work(store: SqlStore) -> None:
        if not await store.set_console_password(login, passwords.hash_password(password)):
            raise fail(f"no console user {login!r}")
        out.print(f"password of {login} changed", highlight=False)
        if made:
            out.print(f"password  {password}   (shown only now: keep it)", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


def _set_disabled(login: str, disabled: bool, data_dir: DataDir, config: ConfigFile,
                  database_url: DatabaseUrl) -> None:
    async def work(store: SqlStore) -> None:
        if not await store.set_console_disabled(login, disabled):
            raise fail(f"no console user {login!r}")
        out.print(f"console user {login} {'disabled' if disabled else 'enabled'}",
                  highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@people_commands.command("disable")
def people_disable(login: Login, data_dir: DataDir = None, config: ConfigFile = None,
                   database_url: DatabaseUrl = None) -> None:
    """Disable a person: their sessions end and they cannot log in."""
    _set_disabled(login, True, data_dir, config, database_url)


@people_commands.command("enable")
def people_enable(login: Login, data_dir: DataDir = None, config: ConfigFile = None,
                  database_url: DatabaseUrl = None) -> None:
    """Let a disabled person log in again."""
    _set_disabled(login, False, data_dir, config, database_url)
