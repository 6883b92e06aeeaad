"""The `yizhan` command: serve the platform and operate it.

Every command takes the common options (--data-dir, --config, --database-url) and builds
its settings from them, the environment (YIZHAN_*) and the TOML file. Operator commands
work on the store directly, so they run with or without a server. Failures print a clear
message and exit non-zero.
"""

from __future__ import annotations

import asyncio
import gc
import json
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from yizhan import __version__
from yizhan.domain.errors import Refusal
from yizhan.domain.model import (
    KeyStatus,
    ReviewState,
    SignatureScenario,
    TemplateType,
)
from yizhan.domain.ports import SystemClock
from yizhan.domain.timezone import china_day_bounds, china_text, china_today
from yizhan.runtime.server_lock import ServerLock
from yizhan.seed import Demo, ensure_demo
from yizhan.settings import Settings, load_settings
from yizhan.storage.sealing import MasterKeyError
from yizhan.storage.store import SqlStore

T = TypeVar("T")

app = typer.Typer(help="Yizhan (驿站): a self-hosted SMS platform.", no_args_is_help=True,
                  add_completion=False, rich_markup_mode="rich")
accounts_app = typer.Typer(help="Tenant accounts.", no_args_is_help=True)
keys_app = typer.Typer(help="AccessKeys (secrets are shown once, at creation).",
                       no_args_is_help=True)
signs_app = typer.Typer(help="Signatures and their review.", no_args_is_help=True)
templates_app = typer.Typer(help="Templates and their review.", no_args_is_help=True)
deadletters_app = typer.Typer(help="Items a stage could not finish.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")
app.add_typer(signs_app, name="signs")
app.add_typer(templates_app, name="templates")
app.add_typer(deadletters_app, name="deadletters")

out = Console()
plain = Console(soft_wrap=True, highlight=False)
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option(
    "--data-dir",
    help="Data folder (embedded SQLite). Env: YIZHAN_DATA_DIR. [default: ./yizhan-data]")]
ConfigFile = Annotated[Path | None, typer.Option(
    "--config", help="TOML settings file. Env: YIZHAN_CONFIG.")]
DatabaseUrl = Annotated[str | None, typer.Option(
    "--database-url", help="SQLAlchemy URL instead of the embedded SQLite. "
    "Env: YIZHAN_DATABASE_URL.")]
AccountName = Annotated[str, typer.Option("--account", "-a", help="Account name.")]


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


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    cells = [["" if v is None else str(v) for v in row] for row in rows]
    t = Table(title=title, show_lines=False)
    for i, column in enumerate(columns):
        if column in ("content", "reason", "error"):  # only free text wraps
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


# serve, migrate, demo


@app.command()
def serve(
    data_dir: DataDir = None, config: ConfigFile = None, database_url: DatabaseUrl = None,
    host: Annotated[str | None, typer.Option(help="Listen address. Env: YIZHAN_HOST. "
                                             "[default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (0: any free port). "
                                             "Env: YIZHAN_PORT. [default: 8080]")] = None,
    simulator_script: Annotated[Path | None, typer.Option(
        help="Per-number outcomes of the carrier simulator (JSON or TOML). "
        "Env: YIZHAN_SIMULATOR_SCRIPT.")] = None,
    role: Annotated[str | None, typer.Option(
        help="all (default: everything in one process), api, or dispatch. "
        "Env: YIZHAN_ROLE.")] = None,
) -> None:
    """Run the platform in one process: API, dispatch, receipts and the carrier channels
    (by default the SMPP carrier simulator, in process).

    Every setting can also come from the environment (YIZHAN_<NAME>) or the TOML file;
    `docs/configuration.md` lists them all.
    """
    from yizhan.app import bind, build
    from yizhan.app import serve as serve_app
    from yizhan.runtime.logs import configure
    from yizhan.runtime.process_lease import LeaseRefused

    settings = settings_of(data_dir, config, database_url, host=host, port=port,
                           simulator_script=simulator_script, role=role)
    configure(settings.log_level)
    sock, lock = None, None
    if settings.role != "dispatch":
        try:
            sock = bind(settings.host, settings.port)
        except OSError as exc:
            raise fail(f"cannot listen on {settings.host}:{settings.port}: "
                       f"{exc.strerror}") from exc
        settings = settings.model_copy(update={"port": sock.getsockname()[1]})
        lock = hold_server_lock(settings, sock)

    async def main() -> None:
        yz = await build(settings, store=await open_checked(settings))
        demo = await ensure_demo(yz.store, yz.clock.now())

        async def ready() -> None:
            tune_runtime()
            if sock is None:
                plain.print(f"Yizhan {__version__} dispatch process running (no API)")
                sys.stdout.flush()
            else:
                print_banner(settings, demo, yz.smsc.port if yz.smsc is not None else 0)

        try:
            await serve_app(yz, sock, ready)
        except LeaseRefused as refused:  # another process keeps the counters of this store
            raise fail(str(refused)) from None

    try:
        run_loop(main())
    finally:
        if lock is not None:
            lock.release()


def store_name(settings: Settings) -> str:
    """The store's URL without its password, as the server lock records it."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)
    except ArgumentError:  # opening the store says what is wrong with it
        return "(not a URL)"


def hold_server_lock(settings: Settings, sock: socket.socket) -> ServerLock:
    """Tell other processes on this data folder that a server accepts messages here, and
    where (`runtime/server_lock.py`; `yizhan send` sends through it). With the embedded counters
    (rate_backend = "sql") only one process may accept messages, so a second is refused;
    with Redis counters several API processes share the limits and may share the folder."""
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    if ":" in host:
        host = f"[{host}]"
    lock = ServerLock(settings.data_dir)
    try:
        other = lock.acquire(f"http://{host}:{settings.port}", store_name(settings))
    except OSError as exc:
        sock.close()
        raise fail(f"cannot write {lock.path}: {exc.strerror}; run as the user that owns "
                   "the data folder, or choose another with --data-dir") from None
    if other is not None and settings.rate_backend == "sql":
        sock.close()
        raise fail(f"another yizhan serve (pid {other.pid}, {other.url or 'starting'}) "
                   f"already serves the data folder {settings.data_dir.resolve()}: stop it, "
                   "give this one another --data-dir, or share the frequency counters "
                   "(rate_backend = \"redis\", docs/deployment.md)")
    return lock


@app.command()
def simulator(
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port (2775 is SMPP's; 0: any free port).")
                    ] = 2775,
    script: Annotated[Path | None, typer.Option(
        help="Per-number behaviours (JSON or TOML, docs/simulator.md).")] = None,
    delay: Annotated[float, typer.Option(help="Receipt delay unless the script says.")] = 0.2,
    system_id: Annotated[str, typer.Option(help="Accept only binds with this system_id.")
                         ] = "",
    password: Annotated[str, typer.Option(help="Accept only binds with this password.")] = "",
    max_per_second: Annotated[float, typer.Option(
        help="Answer ESME_RTHROTTLED beyond this many submits a second (0: no limit).")] = 0.0,
    receipt_ids: Annotated[str, typer.Option(
        help="How receipts write message ids: same, decimal or padded.")] = "same",
    submit_log: Annotated[Path | None, typer.Option(
        help="Append one JSON line per submit_sm received to this file.")] = None,
) -> None:
    """Run the carrier simulator as a standalone SMPP 3.4 server (SMSC) until Ctrl-C."""
    from yizhan.dispatch.channels.simulator import Outcome, Script
    from yizhan.simulator.smsc import SmscServer

    if receipt_ids not in ("same", "decimal", "padded"):
        raise fail("--receipt-ids must be same, decimal or padded")
    try:
        loaded = Script.load(script, delay) if script else Script(default=Outcome(delay=delay))
    except (OSError, ValueError, TypeError) as exc:
        raise fail(f"cannot read the script {script}: {exc}") from exc

    async def main() -> None:
        server = SmscServer(loaded, system_id=system_id, password=password,
                            max_per_second=max_per_second,
                            receipt_ids=receipt_ids,  # type: ignore[arg-type]
                            submit_log=submit_log)
        try:
            bound = await server.start(host, port)
        except OSError as exc:
            raise fail(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        # The script's [default] delay, when it has one, is what applies (not --delay).
        plain.print(f"SMPP simulator listening on {host}:{bound} "
                    f"({len(loaded.numbers)} scripted numbers, receipts after "
                    f"{loaded.default.delay:g}s unless a number says otherwise)")
        sys.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        tune_runtime()
        await stop.wait()
        await server.stop()
        plain.print(f"stopped: {server.submitted} submits accepted, "
                    f"{server.receipts_acked} receipts acknowledged")

    run_loop(main())


def tune_runtime() -> None:
    """Two settings of the interpreter that the send path's latency depends on:

    - the collector: everything built at start-up is frozen out of its sight and young
      objects are collected less often, since a full collection over a large heap stalls
      every request for tens of milliseconds (it showed as the p99 latency of sends);
    - the thread switch interval: the SQLite writer thread needs the GIL a few times per
      commit, and with the default 5 ms hand-over each commit, and every request waiting
      for it, takes that much longer while the event loop is busy.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    sys.setswitchinterval(0.0005)


def run_loop(coro: Awaitable[None]) -> None:
    try:
        import uvloop
        uvloop.run(coro)  # type: ignore[arg-type]
    except ImportError:
        asyncio.run(coro)  # type: ignore[arg-type]
    except KeyboardInterrupt:
        pass


def print_banner(settings: Settings, demo: Demo, smsc_port: int = 0) -> None:
    endpoint = f"http://{settings.endpoint}"
    where = ("database " + settings.sqlalchemy_url.split("@")[-1] if settings.database_url
             else f"SQLite in {settings.data_dir.resolve()}")
    mode = "embedded" if settings.role == "all" else "API only, dispatch runs elsewhere"
    verification = demo.templates[TemplateType.VERIFICATION]
    secret = demo.key.secret if demo.secret_is_new else "$YIZHAN_SECRET"
    body = json.dumps({"phone_numbers": ["13800138000"], "sign_name": demo.signature.name,
                       "template_code": verification.code, "template_param": {"code": "1234"}},
                      ensure_ascii=False)
    channels = (f"channels from {settings.channels_file}" if settings.channels_file
                else "SMPP simulator channels cmcc, cucc, ctcc"
                if settings.embedded_channel == "smpp" else "carrier simulator channel")
    plain.print(f"[bold]Yizhan {__version__}[/bold] is running ({mode}: {where}; "
                f"{channels})")
    plain.print(f"  API endpoint      {endpoint}   (OpenAPI: {endpoint}/docs)")
    if smsc_port:
        plain.print(f"  SMPP simulator    127.0.0.1:{smsc_port}   (binds with each "
                    "smpp-simulator channel's system_id and password)")
    plain.print(f"  Demo account      {demo.account.name}")
    plain.print(f"  AccessKey id      {demo.key.id}")
    if demo.secret_is_new:
        plain.print(f"  AccessKey secret  {demo.key.secret}   (shown only now: keep it)")
    else:
        plain.print("  AccessKey secret  (shown at first start only; `yizhan keys create "
                  "--account demo` makes a new key)")
    plain.print(f"  Signature         {demo.signature.name}")
    for type_, template in demo.templates.items():
        plain.print(f"  Template          {template.code} ({type_.value})")
    plain.print("Send a message:")
    plain.print(f"  curl -s -u {demo.key.id}:{secret} -H 'Content-Type: application/json' "
              f"-d {shlex.quote(body)} {endpoint}/v1/messages", highlight=False, soft_wrap=True)
    plain.print(f"Then see it delivered: curl -s -u {demo.key.id}:{secret} "
              f"'{endpoint}/v1/messages?phone_number=13800138000'")
    sys.stdout.flush()


@app.command()
def migrate(data_dir: DataDir = None, config: ConfigFile = None,
            database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the schema (every start does this too)."""
    from yizhan.storage import migrate as migrations

    settings = settings_of(data_dir, config, database_url)

    async def work(store: SqlStore) -> str | None:
        return await migrations.current(store.engine)

    out.print(f"schema at revision {run(settings, work)}")


@app.command()
def demo(data_dir: DataDir = None, config: ConfigFile = None, database_url: DatabaseUrl = None,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
         ) -> None:
    """Create the demo account (if needed) without serving, and print how to use it."""
    settings = settings_of(data_dir, config, database_url)
    seeded = run(settings, lambda store: ensure_demo(store, SystemClock().now()))
    info: dict[str, Any] = {
        "endpoint": settings.endpoint, "account": seeded.account.name,
        "access_key_id": seeded.key.id, "sign_name": seeded.signature.name,
        "templates": {t.value: tpl.code for t, tpl in seeded.templates.items()},
    }
    if seeded.secret_is_new:
        info["access_key_secret"] = seeded.key.secret
    if as_json:
        print(json.dumps(info, ensure_ascii=False))
    else:
        for key, value in info.items():
            out.print(f"{key:18} {value}", highlight=False)


def main() -> None:
    from yizhan import (
        commands,  # noqa: F401  (registers the operator commands)
        commands_accounts,  # noqa: F401  (accounts suspend|resume|history)
        commands_channels,  # noqa: F401  (channels list|check)
        commands_frequency,  # noqa: F401  (frequency limits, whitelist, audit, explain)
        commands_master,  # noqa: F401  (keys new-master, rotate-master)
        commands_policy,  # noqa: F401  (keywords, international registrations)
        commands_push,  # noqa: F401  (push, stats, export-failed)
        commands_receipts,  # noqa: F401  (receipts unmatched)
        commands_state,  # noqa: F401  (balance, test numbers, opt-outs, blacklist)
    )

    app()


__all__ = ["AccountName", "KeyStatus", "Refusal", "ReviewState", "SignatureScenario",
           "china_day_bounds", "china_text", "china_today", "date", "main"]
