"""What every command group of the `yizhan` command shares: the common options, the
consoles, the settings, the store a command works on, tables, and the clean failure.

Every command takes the common options (--data-dir, --config, --database-url) and builds
its settings from them, the environment (YIZHAN_*) and the TOML file (`settings_of`).
Operator commands work on the store directly (`run`), so they run with or without a server.
Failures print a clear message and exit non-zero (`fail`).
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from yizhan.compliance.registration import RegistrationService
from yizhan.domain.codes import CodeBook
from yizhan.domain.model import Account
from yizhan.domain.ports import SystemClock
from yizhan.settings import Settings, load_settings
from yizhan.storage.sealing import MasterKeyError
from yizhan.storage.store import SqlStore

T = TypeVar("T")

out = Console()
plain = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True)
clock = SystemClock()

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir",
    help="Data folder (embedded SQLite). Env: YIZHAN_DATA_DIR. [default: ./yizhan-data]")]
ConfigFile = Annotated[Path | None, typer.Option(
    "--config", help="TOML settings file. Env: YIZHAN_CONFIG.")]
DatabaseUrl = Annotated[str | None, typer.Option(
    "--database-url", help="SQLAlchemy URL instead of the embedded SQLite. "
    "Env: YIZHAN_DATABASE_URL.")]
AccountName = Annotated[str, typer.Option("--account", "-a", help="Account name.")]


def operator() -> str:
    """Who an audited operator decision names: the CLI and the system user."""
    return f"cli {getpass.getuser()}"


def command_set() -> typer.Typer:
    """The commands one module adds to one group (or to the top level); `cli/main.py` puts
    them in their group, whose help it gives."""
    return typer.Typer()


def fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", soft_wrap=True)  # one line, even when long
    return typer.Exit(code)


def settings_of(data_dir: Path | None, config: Path | None, database_url: str | None,
                **more: Any) -> Settings:
    try:
        return load_settings(data_dir=data_dir, config_file=config, database_url=database_url,
                             **more)
    except Exception as exc:  # pydantic's message names the bad field and value
        raise fail(f"invalid settings: {exc}") from exc


def run(settings: Settings, work: Callable[[SqlStore], Awaitable[T]]) -> T:
    """Open the store (migrating it), run `work`, close."""
    async def main() -> T:
        store = await open_checked(settings)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(main())


async def open_checked(settings: Settings) -> SqlStore:
    """Open and migrate the store (which loads the master key); a wrong URL, role, password
    or database, a server that cannot be reached, a data folder that cannot be prepared or a
    missing or wrong master key ends the command with a short message, not a traceback."""
    from yizhan.app import open_store
    from yizhan.storage.diagnosis import explain

    store = None
    try:
        store = open_store(settings)
        await store.migrate()
        return store
    except Exception as exc:
        if store is not None:
            await store.close()
        if isinstance(exc, MasterKeyError):
            raise fail(str(exc)) from None
        message = explain(exc, settings.sqlalchemy_url)
        if message is None and store is None and isinstance(exc, OSError):
            message = f"cannot prepare the data folder {settings.data_dir}: {exc}"
        if message is None:
            raise
        raise fail(message) from None


def run_loop(coro: Awaitable[None]) -> None:
    try:
        import uvloop
        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass


def registration_of(settings: Settings, store: SqlStore) -> RegistrationService:
    """Carrier registration as the server runs it (`app.registration_service`), on the
    channel plan of `settings`; a broken channel file ends the command with its message."""
    from yizhan.app import registration_service
    from yizhan.dispatch.channel_file import PlanError

    try:
        return registration_service(settings, store, clock)
    except PlanError as exc:
        raise fail(str(exc)) from None


async def account_named(store: SqlStore, name: str) -> Account:
    account = await store.account_by_name(name)
    if account is None:
        raise fail(f"no account named {name!r} (`yizhan accounts list` shows them)")
    return account


def store_name(settings: Settings) -> str:
    """The store's URL without its password, as the server lock records it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)
    except ArgumentError:  # opening the store says what is wrong with it
        return "(not a URL)"


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    t = Table(title=title, show_lines=False)
    for i, column in enumerate(columns):
        if column in ("content", "reason", "error", "next step"):  # only free text wraps
            t.add_column(column, overflow="fold", ratio=1, min_width=12)
        else:  # ids, numbers, codes and times stay whole
            widest = max([len(column), *(len(r[i]) for r in cells)])
            t.add_column(column, no_wrap=True, min_width=widest)
    for row in cells:
        t.add_row(*row)
    if out.is_terminal:
        out.print(t)
        return
    # Piped or redirected: Rich would assume 80 columns and drop or crop the columns that do
    # not fit (issue 14 point 17). Scripts read every cell whole, so the table gets the width
    # it needs, however wide that is.
    wide = out.options.update_width(1_000_000)
    width = Measurement.get(out, wide, t).maximum
    Console(width=max(width, 20)).print(t)


def code_book_of(channels_file: Path | None) -> CodeBook:
    """The channels' code tables, which explain the records' codes (docs/records.md)."""
    from yizhan.dispatch.channel_file import PlanError, code_book, load_plan
    try:
        return code_book(load_plan(channels_file))
    except (PlanError, ValueError) as exc:
        raise fail(str(exc)) from exc
