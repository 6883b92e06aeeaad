"""The commands that run things: `yizhan serve` (the platform in one process),
`yizhan simulator` (the SMPP carrier simulator alone), `yizhan migrate` and `yizhan demo`.
They wire the platform through the composition root (`app.py`)."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shlex
import signal
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from yizhan import __version__
from yizhan.cli.common import (
    ConfigFile,
    DatabaseUrl,
    DataDir,
    clock,
    command_set,
    fail,
    open_checked,
    out,
    plain,
    run,
    run_loop,
    settings_of,
    store_name,
)
from yizhan.cli.demo import Demo, ensure_demo
from yizhan.domain.model import TemplateType
from yizhan.runtime.server_lock import ServerLock
from yizhan.settings import Settings
from yizhan.storage.store import SqlStore

if TYPE_CHECKING:  # the simulator is imported when its command runs
    from yizhan.simulator.sgip_smg import ConnectBack

commands = command_set()
"""serve, simulator, migrate, demo (top level)."""


@commands.command()
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
    workers: Annotated[int | None, typer.Option(
        min=0, max=64, help="Run the API in this many processes and dispatch in one more, "
        "under a supervisor that restarts them (0: one process). Env: YIZHAN_WORKERS. "
        "[default: 0]")] = None,
    ready_fd: Annotated[int | None, typer.Option(hidden=True)] = None,
) -> None:
    """Run the platform: API, dispatch, receipts and the carrier channels (by default the
    SMPP carrier simulator, in process), in one process, or with --workers N in N API
    processes and one dispatch process (docs/deployment.md).

    Every setting can also come from the environment (YIZHAN_<NAME>) or the TOML file;
    `docs/configuration.md` lists them all.
    """
    from yizhan.app import bind, build
    from yizhan.app import serve as serve_app
    from yizhan.runtime.logs import configure
    from yizhan.runtime.process_lease import LeaseRefused

    settings = settings_of(data_dir, config, database_url, host=host, port=port,
                           simulator_script=simulator_script, role=role, workers=workers)
    configure(settings.log_level)
    supervised = ready_fd is not None  # a child of `serve --workers`
    if settings.workers and not supervised:
        supervise(settings, data_dir, config, database_url, simulator_script)
        return
    sock, lock = None, None
    if settings.role != "dispatch":
        try:
            sock = bind(settings.host, settings.port, reuse_port=supervised)
        except OSError as exc:
            raise fail(f"cannot listen on {settings.host}:{settings.port}: "
                       f"{exc.strerror}") from exc
        settings = settings.model_copy(update={"port": sock.getsockname()[1]})
        if not supervised:  # the supervisor holds the lock for all its processes
            lock = hold_server_lock(settings, sock)

    async def main() -> None:
        yz = await build(settings, store=await open_checked(settings))
        demo = await ensure_demo(yz.store, yz.clock.now(), yz.plan)
        stop = asyncio.Event()

        async def ready() -> None:
            tune_runtime()
            if supervised:
                assert ready_fd is not None
                os.write(ready_fd, b"r")
                os.close(ready_fd)
                asyncio.get_running_loop().create_task(watch_parent(os.getppid(), stop))
            elif sock is None:
                plain.print(f"Yizhan {__version__} dispatch process running (no API)")
                sys.stdout.flush()
            else:
                print_banner(settings, demo, yz.smsc.port if yz.smsc is not None else 0)

        try:
            await serve_app(yz, sock, ready, stop)
        except LeaseRefused as refused:  # another process keeps the counters of this store
            raise fail(str(refused)) from None

    try:
        run_loop(main())
    finally:
        if lock is not None:
            lock.release()


def supervise(settings: Settings, data_dir: Path | None, config: Path | None,
              database_url: str | None, simulator_script: Path | None) -> None:
    """`serve --workers N`: reserve the API's address, hold the data folder's server lock,
    create the demo account and print the banner once, then run N API processes and one
    dispatch process (role "all"; role "api": the API processes alone) under the supervisor
    (`runtime/supervisor.py`) until SIGINT or SIGTERM."""
    from yizhan.app import bind, channel_plan
    from yizhan.dispatch.channel_file import PlanError
    from yizhan.runtime.supervisor import Child, StartFailed, Supervisor

    if settings.role == "dispatch":
        raise fail("--workers runs API processes: use it with --role all or api")
    if settings.workers > 1 and settings.rate_backend == "sql":
        raise fail("with the embedded frequency counters (rate_backend = \"sql\") only one "
                   "process may accept messages: use --workers 1 (one API process and one "
                   "dispatch process), or share the counters (rate_backend = \"redis\", "
                   "docs/deployment.md)")
    try:  # reserved, not listening: the API processes bind it beside it (SO_REUSEPORT)
        reserved = bind(settings.host, settings.port, reuse_port=True)
    except OSError as exc:
        raise fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}") from exc
    settings = settings.model_copy(update={"port": reserved.getsockname()[1]})
    lock = hold_server_lock(settings, reserved)
    try:
        try:
            plan = channel_plan(settings)
        except PlanError as exc:
            raise fail(str(exc)) from None
        demo = run(settings, lambda store: ensure_demo(store, clock.now(), plan))
        given = [*(["--data-dir", str(data_dir)] if data_dir else []),
                 *(["--config", str(config)] if config else []),
                 *(["--database-url", database_url] if database_url else []),
                 *(["--simulator-script", str(simulator_script)] if simulator_script else [])]
        serve_cmd = [sys.executable, "-m", "yizhan", "serve", *given, "--workers", "0",
                     "--ready-fd", "{ready_fd}"]
        children = [Child(f"api {n + 1}", [*serve_cmd, "--role", "api", "--host",
                                           settings.host, "--port", str(settings.port)])
                    for n in range(settings.workers)]
        if settings.role == "all":
            children.append(Child("dispatch", [*serve_cmd, "--role", "dispatch"],
                                  stop_order=1))
        supervisor = Supervisor(children, env={**os.environ, "YIZHAN_WORKERS": "0"})
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, supervisor.request_stop)
        try:
            supervisor.start()
        except StartFailed as failed:
            raise fail(f"cannot start: {failed}") from None
        print_banner(settings, demo, workers=settings.workers)
        supervisor.run()
        plain.print("stopped")
    finally:
        reserved.close()
        lock.release()


async def watch_parent(parent: int, stop: asyncio.Event) -> None:
    """A supervised process stops once its supervisor is gone (killed with SIGKILL: this
    process was given another parent), rather than serve on unwatched."""
    while not stop.is_set():
        if os.getppid() != parent:
            stop.set()
        await asyncio.sleep(1.0)


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


@commands.command()
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
    max_binds: Annotated[int, typer.Option(
        help="Refuse a bind beyond this many of one system_id at once (0: no limit).")] = 0,
    bind_log: Annotated[Path | None, typer.Option(
        help="Append one JSON line per bind, refused bind and closed link to this file.")
                        ] = None,
    protocol: Annotated[str, typer.Option(
        help="smpp (an SMPP 3.4 SMSC), cmpp (a CMPP 2.0/3.0 gateway: --system-id is the "
             "SP code and --password its shared secret; 7890 is CMPP's port), sgip (a "
             "China Unicom SGIP 1.2 gateway: --system-id and --password are the SP's Bind; "
             "8801 is SGIP's port) or smgp (an SMGP 3.0 gateway: --system-id and "
             "--password are the Login's ClientID and shared secret).")] = "smpp",
    connect_back: Annotated[str, typer.Option(
        help="sgip: where the SP's listener is and what to Bind it with, "
             "HOST:PORT:LOGIN:PASSWORD (Reports and replies go there).")] = "",
) -> None:
    """Run the carrier simulator as a standalone SMPP 3.4 server (SMSC), CMPP 2.0/3.0
    gateway (ISMG), SGIP 1.2 gateway (SMG) or SMGP 3.0 gateway (SMGW) until Ctrl-C."""
    from yizhan.dispatch.channels.simulator import Outcome, Script
    from yizhan.simulator.ismg import IsmgServer
    from yizhan.simulator.sgip_smg import SmgServer
    from yizhan.simulator.smgw import SmgwServer
    from yizhan.simulator.smsc import SmscServer

    if receipt_ids not in ("same", "decimal", "padded"):
        raise fail("--receipt-ids must be same, decimal or padded")
    if protocol not in ("smpp", "cmpp", "sgip", "smgp"):
        raise fail("--protocol must be smpp, cmpp, sgip or smgp")
    back = _connect_back(connect_back) if protocol == "sgip" else None
    try:
        loaded = Script.load(script, delay) if script else Script(default=Outcome(delay=delay))
    except (OSError, ValueError, TypeError) as exc:
        raise fail(f"cannot read the script {script}: {exc}") from exc

    async def main() -> None:
        server: SmscServer | IsmgServer | SmgServer | SmgwServer
        if protocol == "sgip":
            server = SmgServer(loaded, max_per_second=max_per_second,
                               accounts={system_id: password} if system_id else None,
                               connect_back={system_id: back} if back else None)
        elif protocol == "cmpp":
            server = IsmgServer(loaded, max_per_second=max_per_second,
                                accounts={system_id: password} if system_id else None)
        elif protocol == "smgp":
            server = SmgwServer(loaded, accounts={system_id: password} if system_id else None,
                                max_per_second=max_per_second, submit_log=submit_log)
        else:
            server = SmscServer(loaded, system_id=system_id, password=password,
                                max_per_second=max_per_second,
                                receipt_ids=receipt_ids,  # type: ignore[arg-type]
                                submit_log=submit_log, max_binds=max_binds,
                                bind_log=bind_log)
        try:
            bound = await server.start(host, port)
        except OSError as exc:
            raise fail(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
        # The script's [default] delay, when it has one, is what applies (not --delay).
        plain.print(f"{protocol.upper()} simulator listening on {host}:{bound} "
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
        acked = server.reports_acked if isinstance(server, IsmgServer | SmgServer) else \
            server.receipts_acked
        plain.print(f"stopped: {server.submitted} submits accepted, {acked} receipts "
                    "acknowledged")

    run_loop(main())


def _connect_back(text: str) -> ConnectBack:
    """`--connect-back HOST:PORT:LOGIN:PASSWORD` (the password may hold colons)."""
    from yizhan.simulator.sgip_smg import ConnectBack

    parts = text.split(":", 3)
    if len(parts) != 4 or not parts[1].isdigit():
        raise fail("--protocol sgip needs --connect-back HOST:PORT:LOGIN:PASSWORD (the SP's "
                   "listener, where Reports and replies go)")
    return ConnectBack(parts[0], int(parts[1]), parts[2], parts[3])


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


def print_banner(settings: Settings, demo: Demo, smsc_port: int = 0, workers: int = 0) -> None:
    endpoint = f"http://{settings.endpoint}"
    where = ("database " + settings.sqlalchemy_url.split("@")[-1] if settings.database_url
             else f"SQLite in {settings.data_dir.resolve()}")
    mode = ("embedded" if settings.role == "all" and not workers
            else f"{workers} API process{'es' if workers > 1 else ''} and a dispatch process"
            if settings.role == "all"
            else "API only, dispatch runs elsewhere")
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
    for label, login, password in (("Console", demo.console_login, demo.console_password),
                                   ("Operator console", demo.operator_login,
                                    demo.operator_password)):
        plain.print(f"  {label:<17} {endpoint}/console   (login {login}, "
                    + (f"password {password}   shown only now: keep it)" if password
                       else "password shown at first start only; "
                       f"`yizhan console-user password {login}` makes a new one)"),
                    highlight=False, soft_wrap=True)
    plain.print(f"  Signature         {demo.signature.name}")
    for type_, template in demo.templates.items():
        plain.print(f"  Template          {template.code} ({type_.value})")
    plain.print("Send a message:")
    plain.print(f"  curl -s -u {demo.key.id}:{secret} -H 'Content-Type: application/json' "
              f"-d {shlex.quote(body)} {endpoint}/v1/messages", highlight=False, soft_wrap=True)
    plain.print(f"Then see it delivered: curl -s -u {demo.key.id}:{secret} "
              f"'{endpoint}/v1/messages?phone_number=13800138000'")
    sys.stdout.flush()


@commands.command()
def migrate(data_dir: DataDir = None, config: ConfigFile = None,
            database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the schema (every start does this too)."""
    from yizhan.storage import migrate as migrations

    settings = settings_of(data_dir, config, database_url)

    async def work(store: SqlStore) -> str | None:
        return await migrations.current(store.engine)

    out.print(f"schema at revision {run(settings, work)}")


@commands.command()
def demo(data_dir: DataDir = None, config: ConfigFile = None, database_url: DatabaseUrl = None,
         as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
         ) -> None:
    """Create the demo account (if needed) without serving, and print how to use it."""
    from yizhan.app import channel_plan
    from yizhan.dispatch.channel_file import PlanError

    settings = settings_of(data_dir, config, database_url)
    try:  # the demo signature is registered on the plan's sub-ports
        plan = channel_plan(settings)
    except PlanError as exc:
        raise fail(str(exc)) from None
    seeded = run(settings, lambda store: ensure_demo(store, clock.now(), plan))
    info: dict[str, Any] = {
        "endpoint": settings.endpoint, "account": seeded.account.name,
        "access_key_id": seeded.key.id, "sign_name": seeded.signature.name,
        "templates": {t.value: tpl.code for t, tpl in seeded.templates.items()},
    }
    if seeded.secret_is_new:
        info["access_key_secret"] = seeded.key.secret
    info["console"] = f"http://{settings.endpoint}/console"
    info["console_login"] = seeded.console_login
    if seeded.console_password:
        info["console_password"] = seeded.console_password
    info["operator_login"] = seeded.operator_login
    if seeded.operator_password:
        info["operator_password"] = seeded.operator_password
    if as_json:
        print(json.dumps(info, ensure_ascii=False))
    else:
        for key, value in info.items():
            out.print(f"{key:18} {value}", highlight=False)
