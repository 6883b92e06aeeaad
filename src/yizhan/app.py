"""The composition root: builds the store, bus, channels, stages and APIs from Settings.

Only this module chooses implementations (SQL store, in-process bus, simulator channel);
everything else receives them. `build` makes a ready `Yizhan`; `serve` runs the API and the
stages together until asked to stop. The CLI's operator commands get what they wire from
here too: `open_store`, `operator_intake` (`yizhan send` without a server) and
`frequency_control` (`yizhan frequency explain`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy.engine import make_url

from yizhan.api.aliyun.auth import AliyunAuthenticator, BatchedNonces
from yizhan.api.app import FastPaths, create_app
from yizhan.api.auth import Authenticator
from yizhan.api.call_log import CallLog
from yizhan.api.limits import HttpLimits
from yizhan.api.services import ApiServices
from yizhan.api.throttle import RateLimiter
from yizhan.backends.local import LocalBus
from yizhan.backends.redis_rates import RedisRateCounter
from yizhan.backends.wakeup import CrossBus, PostgresLink, SocketLink
from yizhan.compliance.documents import UploadConfig
from yizhan.compliance.registration import RegistrationService, RegistrationSettings
from yizhan.compliance.registration_sweeper import ManualRegistrar, RegistrationSweeper
from yizhan.console import qualifications as console_qualifications
from yizhan.console import tasks as console_tasks
from yizhan.console.app import mount
from yizhan.console.services import ChannelBoard, ConsoleServices, LoginLimits
from yizhan.diagnosis.inquiry import Diagnoser
from yizhan.dispatch.breaker import BreakerConfig
from yizhan.dispatch.channel_file import (
    CARRIER_KINDS,
    ChannelPlan,
    EmbeddedSmsc,
    build_plan,
    load_plan,
)
from yizhan.dispatch.channels.cmpp import CmppChannel
from yizhan.dispatch.channels.http_upstream import HttpUpstreamChannel
from yizhan.dispatch.channels.sgip import SgipChannel
from yizhan.dispatch.channels.simulator import Script, SimulatorChannel
from yizhan.dispatch.channels.smgp import SmgpChannel
from yizhan.dispatch.channels.smpp import SmppChannel
from yizhan.dispatch.journal import ADOPT_SECONDS, SubmitJournal
from yizhan.dispatch.router import Router
from yizhan.dispatch.worker import DISPATCH, DISPATCH_URGENT, DispatchConfig, DispatchWorker
from yizhan.domain.codes import CodeBook
from yizhan.domain.ids import IdGenerator
from yizhan.domain.ports import Bus, Channel, Clock, RateCounter, Registrar, SystemClock
from yizhan.domain.priority import DispatchPriority
from yizhan.domain.rates import to_ms
from yizhan.intake.accept import PRIORITY_ITEMS, Acceptance, CachedCatalogue, Intake
from yizhan.policy.backpressure import Backpressure
from yizhan.policy.flow_control import FrequencyControl
from yizhan.policy.lists import PolicyLists
from yizhan.receipts.correlate import ReceiptStage
from yizhan.receipts.sweeper import Sweeper
from yizhan.records.retention import Purge
from yizhan.runtime.addresses import PushNetworks
from yizhan.runtime.batching import Batcher
from yizhan.runtime.bind_slots import BindSlots
from yizhan.runtime.metrics import Metrics
from yizhan.runtime.periodic import Periodic
from yizhan.runtime.process_lease import (
    RENEW_SECONDS,
    SHARED,
    LeaseRefused,
    ProcessLease,
    SoleStage,
)
from yizhan.settings import Settings
from yizhan.simulator.registry import RegisteredSubPorts, SimulatedRegistry
from yizhan.simulator.smsc import SmscServer
from yizhan.stages import Background, Pipeline, adopt_orphans
from yizhan.storage.data_folder import KEY_FILE, SETTING, KeySource, secure_folder
from yizhan.storage.documents import DocumentFolder
from yizhan.storage.frequency import FrequencySettings
from yizhan.storage.rate_counters import SqlRateCounter
from yizhan.storage.sealing import decode_key
from yizhan.storage.store import SqlStore
from yizhan.tasks.engine import TaskEngine
from yizhan.tasks.importing import Limits
from yizhan.tasks.preflight import PreflightInputs
from yizhan.tasks.service import TaskService
from yizhan.webhooks.pusher import PUSH, PushConfig, PushStage
from yizhan.webhooks.queue import QueueSettings

log = logging.getLogger("yizhan")
BACKLOG_READING_SECONDS = 1.0
"""How often the API reads the dispatch backlog for backpressure (policy/backpressure.py)."""
TASK_ENGINE = "task_engine"
"""The lease of the one process that runs the send-task engine (tasks/engine.py)."""


@dataclass
class Yizhan:
    settings: Settings
    store: SqlStore
    clock: Clock
    intake: Intake
    pipeline: Pipeline
    api: FastPaths
    channels: Sequence[Channel]
    router: Router
    metrics: Metrics
    frequency: FrequencyControl
    smsc: EmbeddedSmsc | None = None
    """The SMPP simulator this process runs for its `smpp-simulator` channels, if any."""
    backpressure: Backpressure | None = None
    """Holds back multi-number requests while the dispatch backlog is long (None: off)."""
    lease: ProcessLease | None = None
    """Held while serving by a process that accepts messages: with the embedded counters
    (rate_backend = "sql") the store's proof that no other process accepts; with Redis, its
    row among those sharing the counters there (`counters_lease`)."""
    plan: ChannelPlan | None = None
    """The channel plan this process runs (None: channels given, or the in-process
    simulator without a channel file); the demo signature is registered on its sub-ports."""
    tasks: TaskService | None = None
    """Send tasks (docs/tasks.md): what the REST API and the CLI call."""


def open_store(settings: Settings) -> SqlStore:
    """The store of `settings`; its `migrate()` loads the master key (`master_key_source`).
    The embedded store's data folder is made private first (0700, files 0600)."""
    if settings.database_url is None:
        secure_folder(settings.data_dir, settings.data_dir / "yizhan.db")
    return SqlStore.open(settings.sqlalchemy_url, master=master_key_source(settings))


def master_key_source(settings: Settings) -> KeySource:
    """The setting `master_key`, else the key file: `master_key_file`, or master.key in the
    data folder for the embedded store, created there on its first start (docs/security.md)."""
    given = (decode_key(settings.master_key.get_secret_value(), SETTING)
             if settings.master_key is not None else None)
    embedded = settings.database_url is None
    file = settings.master_key_file or (settings.data_dir / KEY_FILE if embedded else None)
    return KeySource(given, file, may_create=embedded)


def upload_config(settings: Settings, store: SqlStore) -> UploadConfig:
    """The upload endpoint of qualification documents: its key derived from the master key
    (the store is unlocked), its files in the data folder (docs/compliance.md)."""
    return UploadConfig(store.sealer.derive("qualification uploads"),
                        DocumentFolder(settings.data_dir),
                        settings.upload_url,
                        settings.upload_max_bytes, settings.upload_policy_seconds)
def channel_plan(settings: Settings) -> ChannelPlan | None:
    """The channel plan `build` runs for `settings` (None: the in-process simulator)."""
    if settings.channels_file is None and settings.embedded_channel == "simulator":
        return None
    return load_plan(settings.channels_file)


def carrier_records(plan: ChannelPlan, store: SqlStore,
                    settings: Settings) -> RegisteredSubPorts | None:
    """What the simulated carriers of `plan` know of registrations when one of them
    requires it: the platform's record of the carriers' answers, read again every
    `cache_seconds` (docs/simulator.md "Real-name registration")."""
    if not any(c.registration and c.kind not in CARRIER_KINDS for c in plan.channels):
        return None
    return RegisteredSubPorts(store.usable_sub_ports, max(settings.cache_seconds, 0.1))


def simulator_from(settings: Settings, clock: Clock) -> SimulatorChannel:
    script = (Script.load(settings.simulator_script, settings.simulator_delay_seconds)
              if settings.simulator_script else None)
    channel = SimulatorChannel(clock, script)
    if script is None:
        channel.script.default = type(channel.script.default)(
            delay=settings.simulator_delay_seconds)
    return channel


async def build(settings: Settings, *, store: SqlStore | None = None,
                clock: Clock | None = None,
                channels: Sequence[Channel] | None = None) -> Yizhan:
    """Wire one process. `store`, `clock` and `channels` may be given (tests keep a channel
    across restarts to count submits; the first given channel takes every message, the
    others are its fallbacks); by default they come from `settings`: the channel file, or
    the built-in SMPP simulator channels (docs/channels.md)."""
    clock = clock or SystemClock()
    store = store or open_store(settings)
    await store.migrate()
    bus = wakeup_bus(settings, store)
    crossing: list[Background] = [bus] if isinstance(bus, CrossBus) else []
    metrics = Metrics()
    breaker = BreakerConfig(settings.breaker_failures, settings.breaker_open_seconds)
    servers: list[Background] = []
    smsc = None
    registrars: dict[str, Registrar] = {}
    plan = None
    if channels is not None:
        channels = list(channels)
        router = Router(channels, breaker=breaker, clock=clock)
    elif settings.channels_file is None and settings.embedded_channel == "simulator":
        channels = [simulator_from(settings, clock)]
        router = Router(channels, breaker=breaker, clock=clock)
    else:
        plan = load_plan(settings.channels_file)
        records = carrier_records(plan, store, settings)
        if records is not None:  # read before the simulated carriers take a submit
            servers.append(records)
        built = build_plan(plan, clock, smsc=SmscServer,
                           delay=settings.simulator_delay_seconds,
                           script=settings.simulator_script, breaker=breaker,
                           records=records, registry=SimulatedRegistry.from_settings,
                           slots=lambda name, limit: BindSlots(store, clock, name, limit,
                                                               f"http://{settings.endpoint}"))
        channels, router = built.channels, built.router
        registrars = built.registrars
        if built.server is not None:
            servers.append(built.server)
            smsc = built.server
    metrics.watch(lambda: [(h.name, h.ready, h.breaker.value, h.opened)
                           for h in router.health()])
    codes = CodeBook({**{c.name: c.config.codes for c in channels
                         if isinstance(c, SmppChannel | CmppChannel | SgipChannel
                                       | SmgpChannel)},
                      **{c.name: c.settings.codes for c in channels
                         if isinstance(c, HttpUpstreamChannel)}})
    counter, flush = await rate_counter(settings, store, clock)
    if settings.rate_backend == "sql":  # the one accepting process: nonces decided in memory
        await store.use_nonce_window(clock.now())
    committer: Batcher[Acceptance] = Batcher("intake", flush, clock,
                                          max_batch=settings.commit_max_batch,
                                          max_delay=settings.commit_max_delay_ms / 1000,
                                          min_interval=settings.commit_min_interval_ms / 1000,
                                          small=PRIORITY_ITEMS)
    frequency_settings = FrequencySettings(store)
    frequency = FrequencyControl(counter, frequency_settings, clock, settings.cache_seconds)
    priority = store.dispatch_priority = DispatchPriority(
        settings.dispatch_notification_offset_seconds, settings.dispatch_bulk_offset_seconds,
        settings.dispatch_bulk_numbers)
    backpressure = Backpressure(store, clock, max_seconds=settings.backlog_max_seconds,
                                min_messages=settings.backlog_min_messages)
    intake = Intake(CachedCatalogue(store, clock, settings.cache_seconds), committer, clock,
                    IdGenerator(), bus, PolicyLists(store, clock, settings.cache_seconds),
                    part_price=settings.part_price,
                    frequency=frequency if settings.frequency_control else None,
                    backpressure=backpressure if settings.backlog_max_seconds else None,
                    priority=priority)
    nonces = BatchedNonces(store, clock)
    receipts = ReceiptStage(store, clock, batch=settings.receipt_batch,
                            match_every=settings.receipt_match_seconds,
                            on_stored=lambda: bus.notify(PUSH),
                            opt_out_words=settings.opt_out_words,
                            unmatched_after=settings.receipt_unmatched_seconds,
                            on_unmatched=metrics.unmatched)
    registration = registration_service(settings, store, clock, plan)
    tasks, engine = send_tasks(settings, store, clock, intake, counter, frequency_settings)
    keys = Authenticator(store, clock, settings.cache_seconds)
    calls = (CallLog(store, clock, keys.lookup, interval=settings.call_log_interval_ms / 1000)
             if settings.call_log else None)
    pipeline = Pipeline(committer, receipts,
                        _dispatch_worker(settings, store, router, bus, clock, metrics),
                        channels, store,
                        [nonces.batcher],
                        express=(_dispatch_worker(settings, store, router, bus, clock,
                                                  metrics, express=True)
                                 if settings.dispatch_express_batch else None),
                        dispatching=settings.role != "api",
                        sole_dispatcher=sole_dispatcher(settings),
                        background=[*_delivery_stages(settings, store, bus, clock, codes),
                                    *([Periodic("orphaned journals",
                                                lambda: adopt_orphans(store, settings.data_dir),
                                                ADOPT_SECONDS, log)]
                                      if not sole_dispatcher(settings) else []),
                                    registration_sweeper(settings, registration, registrars)],
                        servers=servers, metrics=metrics,
                        api_background=[
                            *crossing, nonces, *([calls] if calls else []),
                            *([Periodic("backlog readings", backpressure.refresh,
                                        BACKLOG_READING_SECONDS, log)]
                              if settings.backlog_max_seconds else [])],
                        feeders=[SoleStage(engine, ProcessLease(store, clock,
                                                                f"http://{settings.endpoint}",
                                                                TASK_ENGINE),
                                           clock, "send-task engine",
                                           settings.task_idle_seconds)]
                        if settings.task_engine and settings.role != "dispatch" else [])
    pull = QueueSettings(settings.queue_visibility_seconds, settings.queue_max_wait_seconds)
    services = ApiServices(
        store, intake, keys, AliyunAuthenticator(keys, nonces, clock),
        RateLimiter(settings.api_rate_limit, clock), clock, frequency, frequency_settings,
        settings.language, pull, metrics, PushNetworks(settings.push_allowed_networks),
        codes, HttpLimits(settings.max_body_bytes, settings.max_header_bytes),
        uploads=upload_config(settings, store), registration=registration,
        tasks=tasks, task_max_file_bytes=settings.task_max_file_bytes,
        diagnosis=Diagnoser(store, codes, calls=store), calls=calls,
        upstreams={c.name: c for c in channels if isinstance(c, HttpUpstreamChannel)})
    api_app = create_app(services)
    mount(api_app, ConsoleServices(services, store, settings.console_session_hours * 3600,
                                   LoginLimits(per_login=settings.console_login_failures),
                                   settings.push_timeout_seconds,
                                   ChannelBoard(router, plan, settings.role != "api"),
                                   part_price=settings.part_price))
    api = FastPaths(api_app, services, self_bounded=(console_tasks.UPLOAD_PATH,
                                                     console_qualifications.UPLOAD_PATH))
    lease = counters_lease(settings, store, clock)
    return Yizhan(settings, store, clock, intake, pipeline, api, channels, router, metrics,
                  frequency, smsc, backpressure if settings.backlog_max_seconds else None,
                  lease, plan, tasks)


def counters_lease(settings: Settings, store: SqlStore, clock: Clock) -> ProcessLease | None:
    """The lease an accepting process holds while serving: the store's one `rate_counters`
    with the embedded counters (rate_backend = "sql"), else a row of its own among those
    that keep them in Redis, so that neither kind runs beside the other
    (`runtime/process_lease.py`). None for a dispatch process, which counts nothing."""
    if settings.role == "dispatch":
        return None
    url = f"http://{settings.endpoint}"
    if settings.rate_backend == "sql":
        return ProcessLease(store, clock, url)
    return ProcessLease(store, clock, url, name=SHARED + uuid.uuid4().hex[:16])


def sole_dispatcher(settings: Settings) -> bool:
    """Whether this process is the only one that may dispatch from its store: the embedded
    process on its data folder's own SQLite file (which one server holds, `cli/serve.py`).
    On PostgreSQL, or a database shared by URL, other dispatchers may run (docs/deployment.md)."""
    return settings.role == "all" and settings.database_url is None


def wakeup_bus(settings: Settings, store: SqlStore) -> LocalBus | CrossBus:
    """How the stages wake each other (docs/architecture.md "Wake-ups between processes").
    The embedded process (role "all" on SQLite) keeps the in-process bus alone. Where other
    processes may accept or dispatch on the same store, the dispatch outbox's wake-ups also
    cross processes (`wakeup_link`). An API process sends, a dispatch process listens, an
    "all" process on PostgreSQL does both."""
    if not store.is_postgres and settings.role == "all":
        return LocalBus()
    return CrossBus(wakeup_link(settings, store), (DISPATCH, DISPATCH_URGENT),
                    sends=settings.role != "dispatch", listens=settings.role != "api")


def wakeup_link(settings: Settings, store: SqlStore) -> PostgresLink | SocketLink:
    """PostgreSQL's LISTEN/NOTIFY, or on SQLite Unix datagram sockets in a folder beside
    the database file (`<file>-wakeup`), which every process on that file shares."""
    if store.is_postgres:
        return PostgresLink(store.engine)
    return SocketLink(Path(f"{make_url(settings.sqlalchemy_url).database}-wakeup"))


def send_tasks(settings: Settings, store: SqlStore, clock: Clock, intake: Intake,
               counter: RateCounter, profiles: FrequencySettings,
               ) -> tuple[TaskService, TaskEngine]:
    """The send tasks' service and engine (docs/tasks.md): the engine feeds running tasks
    through this process's intake."""
    service = task_service(settings, store, clock, counter, profiles)
    engine = TaskEngine(store, intake, clock, chunk=settings.task_chunk_numbers,
                        outbox_bound=settings.task_outbox_bound,
                        idle_seconds=settings.task_idle_seconds,
                        busy_seconds=settings.task_busy_seconds)
    return service, engine


def task_service(settings: Settings, store: SqlStore, clock: Clock, counter: RateCounter,
                 profiles: FrequencySettings, cache_seconds: float | None = None,
                 ) -> TaskService:
    """The send tasks' service of `settings` (its import limits, the pre-flight report's
    lists and counters); the CLI's reads its lists without a cache."""
    lists = PolicyLists(store, clock, settings.cache_seconds if cache_seconds is None
                        else cache_seconds)
    return TaskService(store, store, clock,
                       Limits(settings.task_max_file_bytes, settings.task_max_numbers),
                       PreflightInputs(lists, counter if settings.frequency_control
                                       else None, store, settings.part_price, profiles))


@contextlib.asynccontextmanager
async def operator_tasks(settings: Settings, store: SqlStore,
                         clock: Clock) -> AsyncIterator[TaskService]:
    """The send tasks' service for one operator command (`yizhan tasks ...`): what the
    REST API calls, on the counters of `settings.rate_backend` (the pre-flight report reads
    them, counting nothing), closed after. It sends nothing: a started task is fed by the
    engine of a running server."""
    counter, _ = await rate_counter(settings, store, clock)
    try:
        yield task_service(settings, store, clock, counter, FrequencySettings(store), 0)
    finally:
        await counter.close()


# Carrier registration (docs/compliance.md "Carrier registration"): the service the API and
# the operator's commands use, and the sweeper that runs with the delivery stages.


def registration_plan(settings: Settings) -> ChannelPlan:
    """Where signatures are registered: the channel plan's channels that name a carrier
    (the built-in plan without a channel file); none with the in-process simulator."""
    return channel_plan(settings) or ChannelPlan((), ())


def registration_service(settings: Settings, store: SqlStore, clock: Clock,
                         plan: ChannelPlan | None = None) -> RegistrationService:
    """The registration service of `settings` (`yizhan signs register` uses it too); `plan`
    the channel plan already loaded, if any (else read from `settings`)."""
    rules = RegistrationSettings(settings.registration_answer_days,
                                 settings.registration_verify_deliveries,
                                 settings.registration_lapse_days)
    return RegistrationService(store, clock, plan or registration_plan(settings), rules)


def registration_sweeper(settings: Settings, service: RegistrationService,
                         registrars: dict[str, Registrar]) -> Periodic:
    """The sweeper: simulated channels' registrars answer like carriers; every other
    channel is a real carrier, answered by the operator (`ManualRegistrar`)."""
    sweeper = RegistrationSweeper(service, registrars, ManualRegistrar())
    return Periodic("registration sweeper", sweeper.round, settings.registration_sweep_seconds,
                    logging.getLogger("yizhan.registration"))


async def rate_counter(settings: Settings, store: SqlStore, clock: Clock,
                       ) -> tuple[RateCounter, Callable[[Sequence[Acceptance]], Awaitable[Any]]]:
    """The frequency counters of `settings.rate_backend`, and the intake's commit function:
    with the embedded SQL counters the acceptance transaction also persists them."""
    if settings.rate_backend == "redis":
        return RedisRateCounter.connect(settings.redis_url, settings.redis_prefix), store.accept
    if settings.role == "api":
        log.warning("frequency counters are kept by this process (rate_backend = \"sql\"): "
                    "run only one API process on this store, or set rate_backend = \"redis\"")
    counter = await SqlRateCounter.open(store, to_ms(clock.now()))
    return counter, counter.committing(store.accept)


@contextlib.asynccontextmanager
async def frequency_control(settings: Settings, store: SqlStore,
                            clock: Clock) -> AsyncIterator[FrequencyControl]:
    """The frequency control of `settings` for one operator command (`yizhan frequency
    explain`): the counters of `settings.rate_backend`, read without a cache, closed after."""
    counter, _ = await rate_counter(settings, store, clock)
    try:
        yield FrequencyControl(counter, FrequencySettings(store), clock)
    finally:
        await counter.close()


@contextlib.asynccontextmanager
async def operator_intake(settings: Settings, store: SqlStore,
                          clock: Clock) -> AsyncIterator[Intake]:
    """An intake for one operator send without a server (`yizhan send`): the checks and
    frequency control an API request meets, read without caches, each acceptance committed
    at once; its committer and counters are stopped after. With the embedded counters it
    holds the store's counter lease meanwhile, so a server on the same store (from another
    data folder) and this send cannot count apart: `LeaseRefused` names the server. Its
    acceptances wake the dispatch processes on the store, if any listen (not an embedded
    `all` process on SQLite, which finds them at its poll)."""
    lease = ProcessLease(store, clock, "yizhan send") if settings.rate_backend == "sql" else None
    if lease is not None:  # a server on another data folder may count on this store
        await lease.acquire()
    counter, flush = await rate_counter(settings, store, clock)
    committer: Batcher[Acceptance] = Batcher("intake", flush, clock, max_delay=0)
    committer.start()
    frequency = FrequencyControl(counter, FrequencySettings(store), clock)
    # Wakes the dispatch processes on the store, if any listen (not an embedded one).
    bus = CrossBus(wakeup_link(settings, store), (DISPATCH, DISPATCH_URGENT), sends=True,
                   listens=False)
    await bus.start()
    try:
        yield Intake(store, committer, clock, IdGenerator(), bus,
                     PolicyLists(store, clock, 0),
                     part_price=settings.part_price,
                     frequency=frequency if settings.frequency_control else None)
    finally:
        await committer.stop()
        await bus.stop()
        await counter.close()
        if lease is not None:
            await lease.release()


def _dispatch_worker(settings: Settings, store: SqlStore, router: Router, bus: Bus,
                     clock: Clock, metrics: Metrics, express: bool = False) -> DispatchWorker:
    """The dispatch worker, or the express worker beside it (verification codes; its own
    submit journal, no gathering of commits: a code goes at once)."""
    return DispatchWorker(store, router, bus, clock,
                          DispatchConfig(batch=(settings.dispatch_express_batch if express
                                                else settings.dispatch_batch),
                                         express=express,
                                         window=settings.dispatch_window,
                                         poll_seconds=settings.dispatch_poll_seconds,
                                         submit_timeout=settings.submit_timeout_seconds,
                                         lease=timedelta(
                                             seconds=settings.dispatch_lease_seconds),
                                         retry_max_seconds=settings.retry_max_seconds,
                                         max_attempts=settings.dispatch_max_attempts,
                                         registrations_seconds=settings.cache_seconds),
                          metrics,
                          SubmitJournal.open(settings.data_dir) if settings.role != "api"
                          else None)


def _delivery_stages(settings: Settings, store: SqlStore, bus: Bus,
                     clock: Clock, codes: CodeBook) -> list[Background]:
    """The push stage, the 72-hour sweeper, the retention purge (issue 7) and the call
    log's purge."""
    push = PushStage(store, clock, bus, PushConfig(
        batch_size=settings.push_batch_size, batch_delay=settings.push_batch_delay_ms / 1000,
        timeout=settings.push_timeout_seconds, retry_base=settings.push_retry_base_seconds,
        retry_max=settings.push_retry_max_seconds,
        retry_period=settings.push_retry_hours * 3600,
        poll_seconds=settings.push_poll_seconds, concurrency=settings.push_concurrency,
        networks=PushNetworks(settings.push_allowed_networks), codes=codes))
    sweeper = Sweeper(store, clock, timedelta(hours=settings.receipt_wait_hours),
                      settings.sweep_seconds)
    purge = Purge(store, clock, timedelta(days=settings.retention_days),
                  settings.purge_interval_seconds, settings.purge_batch)
    calls = Purge(store, clock, timedelta(days=settings.call_log_days),
                  settings.purge_interval_seconds, settings.purge_batch,
                  delete=store.purge_calls, what="API calls")
    return [push, sweeper, purge, calls]


def bind(host: str, port: int, reuse_port: bool = False) -> socket.socket:
    """The API's socket, bound (not listening yet). `reuse_port`: several processes bind
    the same address (`yizhan serve --workers`), and the kernel spreads the connections
    over those that listen (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


async def serve(app: Yizhan, sock: socket.socket | None,
                on_ready: Callable[[], Awaitable[None]] | None = None,
                stop: asyncio.Event | None = None) -> None:
    """Run the stages, and the API on `sock` (None: no API, the dispatch role), until the
    server exits, SIGINT/SIGTERM arrives, or `stop` is set."""
    stop = stop or asyncio.Event()
    try:
        async with _holding(app.lease, stop, sock):
            await app.pipeline.start()
            try:
                if sock is None:
                    await _run_headless(stop, on_ready)
                else:
                    await _run_api(app, sock, stop, on_ready)
            finally:
                await app.pipeline.stop()
                await app.frequency.counter.close()  # after the last commit, before the store
    finally:
        await app.store.close()


@contextlib.asynccontextmanager
async def _holding(lease: ProcessLease | None, stop: asyncio.Event,
                   sock: socket.socket | None) -> AsyncIterator[None]:
    """Hold this accepting process's lease (`counters_lease`) while serving: taken before
    the stages start (`LeaseRefused`: another process keeps the counters, or this one would
    count apart from those that share them in Redis), renewed meanwhile, released once the
    last counts are written."""
    if lease is None:
        yield
        return
    try:
        await lease.acquire()
    except LeaseRefused:
        if sock is not None:
            sock.close()
        raise
    renewing = Periodic("lease renewal", lambda: _renew(lease, stop), RENEW_SECONDS, log)
    await renewing.start()
    try:
        yield
    finally:
        await renewing.stop()
        await lease.release()


async def _renew(lease: ProcessLease, stop: asyncio.Event) -> None:
    """Renew the lease; a process that lost it (it could not renew it for longer than the
    lease lasts, and another took it over) stops rather than count beside the other."""
    if not await lease.renew():
        log.error("the lease on the frequency counters was taken over by another process "
                  "(this one could not renew it in time): stopping")
        stop.set()


async def _run_api(app: Yizhan, sock: socket.socket, stop: asyncio.Event,
                   on_ready: Callable[[], Awaitable[None]] | None) -> None:
    if app.settings.http_server == "granian":
        await _run_granian(app, sock, stop, on_ready)
        return
    config = uvicorn.Config(app.api, log_level="warning", access_log=False,
                            http="httptools", lifespan="off", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)  # handles SIGINT and SIGTERM itself
    server_task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not server_task.done():
        await asyncio.sleep(0.01)
    if on_ready is not None and server.started:
        await on_ready()
    stop_task = asyncio.create_task(stop.wait())
    await asyncio.wait({server_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stop_task.cancel()
    await server_task


async def _run_granian(app: Yizhan, sock: socket.socket, stop: asyncio.Event,
                       on_ready: Callable[[], Awaitable[None]] | None) -> None:
    """The API on Granian's embedded server: its Rust threads parse HTTP and call the ASGI
    app on this process's event loop, at about half uvicorn's cost per request
    (docs/benchmarks.md). Granian binds the address itself, so the reserved socket is closed
    first and its address handed over (with port 0, the port the OS picked)."""
    from granian.constants import Interfaces
    from granian.server.embed import Server

    host, port = sock.getsockname()[:2]
    sock.close()
    server = Server(app.api, address=host, port=port, interface=Interfaces.ASGINL,
                    log_enabled=False, backlog=1024, websockets=False)
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    server_task = asyncio.create_task(server.serve())
    try:
        if await _listening(host, port, server_task) and on_ready is not None:
            await on_ready()
        stop_task = asyncio.create_task(stop.wait())
        await asyncio.wait({server_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_task.cancel()
        server.stop()  # type: ignore[no-untyped-call]
        try:
            await asyncio.wait_for(server_task, SHUTDOWN_SECONDS)
        except TimeoutError:
            log.warning("the HTTP server did not stop within %ss", SHUTDOWN_SECONDS)
    finally:
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)


SHUTDOWN_SECONDS = 5


async def _listening(host: str, port: int, server: asyncio.Task[None]) -> bool:
    """Wait until the server accepts connections (False if it stopped before)."""
    while not server.done():
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        writer.close()
        return True
    return False


async def _run_headless(stop: asyncio.Event,
                        on_ready: Callable[[], Awaitable[None]] | None) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    if on_ready is not None:
        await on_ready()
    await stop.wait()
