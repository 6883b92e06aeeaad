"""Channels and routes as data: the TOML file named by the `channels_file` setting, or the
built-in default (docs/channels.md "Channels and routes").

Reads the file into a `ChannelPlan` (checked: unknown kinds, settings and channel names are
refused with a message naming them) and builds it into running parts: the channels, the
router, and the SMPP simulator server when a channel is bound to it. The composition root
(`app.py`) starts and stops them with the pipeline; `yizhan channels list|check` reads the
same plan. The simulator is a server of its own (`simulator/`), which dispatch does not
import: who builds a plan hands over its constructor (`SmscFactory`).

Channel kinds:
- `simulator`: the in-process simulator (`channels/simulator.py`), no sockets;
- `smpp`: an SMPP 3.4 bind to a carrier (`channels/smpp.py`; `SmppConfig` fields);
- `smpp-simulator`: an SMPP bind to the SMPP simulator server that this process runs on a
  loopback port (`simulator/smsc.py`, scripted by `[simulator]`);
- `aliyun`, `tencent`, `twilio`: an HTTP upstream, a cloud provider or another Yizhan
  (`channels/http_upstream.py`; settings read by `upstreams.py`).
- `cmpp`: a CMPP 2.0 / 3.0 connection to a carrier's gateway (`channels/cmpp.py`;
  `CmppConfig` fields);
- `sgip`: a China Unicom SGIP 1.2 SP with the listener its gateway connects back to
  (`channels/sgip.py`; `SgipConfig` fields);
- `smgp`: an SMGP 3.0 login to China Telecom's gateway (`channels/smgp.py`; `SmgpConfig`
  fields).
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from yizhan.dispatch.breaker import BreakerConfig
from yizhan.dispatch.channels import smgp
from yizhan.dispatch.channels.cmpp import CmppChannel, CmppConfig
from yizhan.dispatch.channels.cmpp import carrier_codes as cmpp_codes
from yizhan.dispatch.channels.session import Slots
from yizhan.dispatch.channels.sgip import SgipChannel, SgipConfig
from yizhan.dispatch.channels.sgip_pdu import Result as SgipResult
from yizhan.dispatch.channels.sgip_receipts import default_codes as sgip_codes
from yizhan.dispatch.channels.simulator import Outcome, Script, SimulatorChannel
from yizhan.dispatch.channels.smgp import SmgpChannel, SmgpConfig
from yizhan.dispatch.channels.smpp import SmppChannel, SmppConfig, statuses
from yizhan.dispatch.channels.smpp_receipts import IdBase, IdFormat
from yizhan.dispatch.router import Route, Router, Target
from yizhan.dispatch.upstreams import PROVIDERS, default_url, upstream_channel, upstream_parts
from yizhan.domain.carriers import Carrier
from yizhan.domain.codes import CodeBook, CodeTable
from yizhan.domain.model import TemplateType
from yizhan.domain.ports import CarrierRecords, Channel, Clock, Registrar
from yizhan.domain.registration import Isp, SubPort

KINDS = ("simulator", "smpp", "smpp-simulator", "cmpp", "sgip", "smgp", *PROVIDERS)
CARRIER_KINDS = frozenset({"smpp", "cmpp", "sgip", "smgp", *PROVIDERS})
"""Kinds that connect to a real carrier or provider (not a simulator of this process)."""
CARRIERS = frozenset(c.value for c in Carrier)
REGISTERING_CARRIERS = CARRIERS - {Carrier.INTERNATIONAL.value}
TYPES = frozenset(t.value for t in TemplateType)
SIMULATOR_HOST = "127.0.0.1"

DEFAULT_PLAN = """
# The built-in channels (no `channels_file`): the SMPP simulator runs in this process on a
# loopback port and stands in for the three carriers, one SMPP bind each. Each carrier's
# numbers go to its channel and fail over to the other two; international messages are
# balanced over all three. Like the carriers, the simulator refuses a signature that is not
# registered on the channel's sub-port (registration = true).

[[channel]]
name = "cmcc"
kind = "smpp-simulator"
system_id = "cmcc"
carrier = "china_mobile"
registration = true
channel_code = "9001"

[[channel]]
name = "cucc"
kind = "smpp-simulator"
system_id = "cucc"
carrier = "china_unicom"
registration = true
channel_code = "9002"

[[channel]]
name = "ctcc"
kind = "smpp-simulator"
system_id = "ctcc"
carrier = "china_telecom"
registration = true
channel_code = "9003"

[[route]]
name = "china-mobile"
carriers = ["china_mobile"]
channels = ["cmcc", {name = "cucc", tier = 2}, {name = "ctcc", tier = 2}]

[[route]]
name = "china-unicom"
carriers = ["china_unicom"]
channels = ["cucc", {name = "cmcc", tier = 2}, {name = "ctcc", tier = 2}]

[[route]]
name = "china-telecom"
carriers = ["china_telecom"]
channels = ["ctcc", {name = "cmcc", tier = 2}, {name = "cucc", tier = 2}]

[[route]]
name = "international"
channels = ["cmcc", "cucc", "ctcc"]
"""


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    name: str
    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    """The kind's settings: SmppConfig fields, or `script`/`delay` for a simulator."""
    carrier: Carrier | None = None
    """The carrier whose gateway this channel is (`carrier = "china_mobile"`): signatures
    are registered with that carrier on this channel's sub-ports (docs/compliance.md
    "Carrier registration"). None: a channel outside registration (international, a
    test link)."""
    registration: bool = False
    """`registration = true`: the carrier refuses messages whose signature is not
    registered on the sub-port (the simulator enforces it; for a real carrier it tells the
    router to prefer channels where the signature is registered)."""

    @property
    def address(self) -> str:
        """Where the channel connects: host:port, or the simulator's place."""
        if self.kind == "simulator":
            return "in process"
        if self.kind == "smpp-simulator":
            return "embedded"
        if self.kind in PROVIDERS:
            return str(self.options.get("url") or default_url(self.kind))
        return f"{self.options.get('host')}:{self.options.get('port')}"

    @property
    def number(self) -> str:
        """The number messages leave from before their extension: 106 + channel code
        (SMPP), the service code (CMPP); "" for the in-process simulator."""
        if self.kind == "simulator":
            return ""
        if self.kind == "cmpp":
            return str(self.options.get("service_code", ""))
        prefix = str(self.options.get("source_prefix", "106"))
        return f"{prefix}{self.options.get('channel_code', '')}"

    def sub_port(self, extension: str) -> SubPort | None:
        """Where a signature with extension code `extension` is registered on this
        channel: the source number it sends from; None outside registration."""
        if self.carrier is None:
            return None
        if self.kind == "simulator":
            number = f"{self.name}:{extension}"
        else:
            number = f"{self.number}{extension}"
        return SubPort(Isp.of(self.carrier), self.name, number)


@dataclass(frozen=True, slots=True)
class ChannelPlan:
    channels: tuple[ChannelSpec, ...]
    routes: tuple[Route, ...]
    simulator: dict[str, Any] = field(default_factory=dict)
    """`[simulator]`: the SMPP simulator server's script, delay, port, max_per_second."""
    source: str = "built-in default"

    @property
    def runs_simulator(self) -> bool:
        return any(c.kind == "smpp-simulator" for c in self.channels)

    def sub_ports(self, extension: str) -> list[SubPort]:
        """The sub-ports on which a signature with extension code `extension` is
        registered: one per channel that names its carrier."""
        return [p for c in self.channels for p in [c.sub_port(extension)] if p is not None]


@dataclass
class Built:
    """A plan made real: what the pipeline starts, in order (server, channels)."""

    channels: list[Channel]
    router: Router
    server: EmbeddedSmsc | None = None
    registrars: dict[str, Registrar] = field(default_factory=dict)
    """Who answers registrations filed on a channel's sub-ports, by channel name: the
    simulator's registry for simulated channels; a channel not listed is a real carrier,
    answered by the operator (docs/compliance.md "Carrier registration")."""


class PlanError(ValueError):
    """The channel file is wrong; the message says where and how to fix it."""


def load_plan(path: Path | None) -> ChannelPlan:
    """The plan in `path`, or the built-in default when None."""
    if path is None:
        return parse_plan(DEFAULT_PLAN)
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise PlanError(f"cannot read the channel file {path}: {exc.strerror}") from exc
    return parse_plan(text, str(path), base=path.parent)


def parse_plan(text: str, source: str = "built-in default", base: Path | None = None
               ) -> ChannelPlan:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PlanError(f"{source}: not valid TOML: {exc}") from exc
    unknown = set(data) - {"channel", "route", "simulator"}
    if unknown:
        raise PlanError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}; "
                        "expected [[channel]], [[route]] and [simulator]")
    channels = tuple(_channel(c, source, base) for c in data.get("channel", []))
    if not channels:
        raise PlanError(f"{source}: no [[channel]] defined")
    names = [c.name for c in channels]
    twice = {n for n in names if names.count(n) > 1}
    if twice:
        raise PlanError(f"{source}: channel name(s) used twice: {', '.join(sorted(twice))}")
    routes = tuple(_route(r, n, source, set(names))
                   for n, r in enumerate(data.get("route", []), 1))
    simulator = dict(data.get("simulator", {}))
    if "script" in simulator and base is not None:
        simulator["script"] = str(base / simulator["script"])
    return ChannelPlan(channels, routes, simulator, source)


def _channel(raw: dict[str, Any], source: str, base: Path | None) -> ChannelSpec:
    options = dict(raw)
    name = str(options.pop("name", ""))
    kind = str(options.pop("kind", ""))
    if not name:
        raise PlanError(f"{source}: a [[channel]] has no name")
    if kind not in KINDS:
        raise PlanError(f"{source}: channel {name!r} has kind {kind!r}; expected one of "
                        f"{', '.join(KINDS)}")
    carrier = options.pop("carrier", None)
    if carrier is not None and carrier not in REGISTERING_CARRIERS:
        raise PlanError(f"{source}: channel {name!r}: unknown carrier {carrier!r}; expected "
                        f"one of {', '.join(sorted(REGISTERING_CARRIERS))}")
    registration = options.pop("registration", False)
    if not isinstance(registration, bool):
        raise PlanError(f"{source}: channel {name!r}: registration must be true or false")
    if registration and carrier is None:
        raise PlanError(f"{source}: channel {name!r}: registration = true needs the "
                        "channel's carrier (carrier = \"china_mobile\", ...)")
    spec = _kind_options(name, kind, options, source, base)
    return dataclasses.replace(spec, carrier=Carrier(carrier) if carrier else None,
                               registration=registration)


def _kind_options(name: str, kind: str, options: dict[str, Any], source: str,
                  base: Path | None) -> ChannelSpec:
    if kind == "simulator":
        extra = set(options) - {"script", "delay"}
        if extra:
            raise PlanError(f"{source}: channel {name!r}: unknown setting(s) "
                            f"{', '.join(sorted(extra))} (a simulator takes script, delay)")
        if "script" in options and base is not None:
            options["script"] = str(base / options["script"])
        return ChannelSpec(name, kind, options)
    if isinstance(options.get("codes"), str) and base is not None:
        options["codes"] = str(base / options["codes"])
    if kind in PROVIDERS:
        try:
            upstream_parts(kind, options)
        except (TypeError, ValueError, OSError, tomllib.TOMLDecodeError) as exc:
            raise PlanError(f"{source}: channel {name!r}: {exc}") from exc
        return ChannelSpec(name, kind, options)
    if kind == "smpp-simulator":
        options.setdefault("host", SIMULATOR_HOST)
        options.setdefault("port", 0)
        options.setdefault("system_id", name)
    try:
        if kind == "cmpp":
            cmpp_config(name, options)
        elif kind == "sgip":
            sgip_config(name, options)
        elif kind == "smgp":
            smgp_config(name, options)
        else:
            smpp_config(name, options)
    except (TypeError, ValueError) as exc:
        raise PlanError(f"{source}: channel {name!r}: {exc}") from exc
    return ChannelSpec(name, kind, options)


def _settings(config: type[Any], options: Mapping[str, Any], required: Collection[str],
              read: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """The keyword arguments of a carrier channel's `config` from its `[[channel]]` table:
    refused (ValueError) for a setting `config` does not have, then `read` turns the values
    written as text or lists into what `config` takes (refusing its own mistakes), then
    refused for a `required` setting left out."""
    fields = {f.name for f in dataclasses.fields(config)} - {"name"}
    extra = set(options) - fields
    if extra:
        raise ValueError(f"unknown setting(s) {', '.join(sorted(extra))}")
    values = dict(options)
    read(values)
    missing = set(required) - set(values)
    if missing:
        raise ValueError(f"missing setting(s) {', '.join(sorted(missing))}")
    return values


def smpp_config(name: str, options: dict[str, Any]) -> SmppConfig:
    """A `kind = "smpp"` or `"smpp-simulator"` channel's settings (`SmppConfig` fields)."""
    values = _settings(SmppConfig, options, {"host", "port", "system_id"}, _read_smpp)
    bind_limit(values)
    return SmppConfig(name=name, **values)


def _read_smpp(values: dict[str, Any]) -> None:
    if "ids" in values:
        ids = values["ids"]
        values["ids"] = IdFormat(IdBase(ids.get("submit", "text")),
                                 IdBase(ids.get("receipt", "text")))
    if "codes" in values:
        values["codes"] = code_table(values["codes"])
    if "retryable" in values:
        values["retryable"] = retryable_statuses(values["retryable"])


def bind_limit(values: dict[str, Any]) -> None:
    """`max_binds = 2`: a session channel's bind limit across dispatchers (0: none)."""
    binds = values.get("max_binds", 0)
    if not isinstance(binds, int) or isinstance(binds, bool) or binds < 0:
        raise ValueError("max_binds must be a whole number, 0 (no limit) or more")


def cmpp_config(name: str, options: dict[str, Any]) -> CmppConfig:
    """A `kind = "cmpp"` channel's settings (docs/channels.md "CMPP")."""
    values = _settings(CmppConfig, options, {"host", "port", "source_addr"}, _read_cmpp)
    if values.get("version", "3.0") not in ("2.0", "3.0"):
        raise ValueError(f"version must be \"2.0\" or \"3.0\", not {values['version']!r}")
    for text in ("source_addr", "password", "service_code", "service_id", "fee_type",
                 "fee_code", "fee_terminal_id"):
        if text in values and not isinstance(values[text], str):
            raise ValueError(f"{text} must be a string in quotes ({text} = \"...\")")
    bind_limit(values)
    return CmppConfig(name=name, **values)


def _read_cmpp(values: dict[str, Any]) -> None:
    if "codes" in values:
        values["codes"] = code_table(values["codes"])
    if "retryable" in values:
        results = values["retryable"]
        if not isinstance(results, list) or not all(isinstance(r, int) for r in results):
            raise ValueError("retryable must be a list of CMPP_SUBMIT_RESP Results "
                             "(retryable = [9, 10])")
        values["retryable"] = frozenset(results)


def sgip_config(name: str, options: dict[str, Any]) -> SgipConfig:
    """A `kind = "sgip"` channel's settings (docs/channels.md "SGIP")."""
    values = _settings(SgipConfig, options, {"host", "port", "login_name"}, _read_sgip)
    bind_limit(values)
    return SgipConfig(name=name, **values)


def _read_sgip(values: dict[str, Any]) -> None:
    if "codes" in values:
        values["codes"] = code_table(values["codes"])
    if "retryable" in values:
        values["retryable"] = sgip_results(values["retryable"])


def sgip_results(names: object) -> frozenset[int]:
    """`retryable = ["SYSTEM_FAILURE", 33]`: Submit_Resp Results answered `Retryable`."""
    if not isinstance(names, list):
        raise ValueError("retryable must be a list of SGIP Results "
                         "(retryable = [\"SYSTEM_FAILURE\", 33])")
    results = set()
    for item in names:
        try:
            results.add(int(item) if isinstance(item, int) or str(item).isdigit()
                        else int(SgipResult[str(item).upper()]))
        except KeyError:
            raise ValueError(f"retryable: unknown SGIP Result {item!r} (write a name such "
                             "as SYSTEM_FAILURE, or a number such as 32)") from None
    return frozenset(results)


def smgp_config(name: str, options: dict[str, Any]) -> SmgpConfig:
    """A `kind = "smgp"` channel's settings (docs/channels.md "SMGP"): its code table is
    read over the built-in SMGP Status table."""
    values = _settings(SmgpConfig, options, {"host", "port", "client_id"}, _read_smgp)
    bind_limit(values)
    return SmgpConfig(name=name, **values)


def _read_smgp(values: dict[str, Any]) -> None:
    if "codes" in values:
        code_table(values["codes"])  # its mistakes said as for any channel
        values["codes"] = smgp.code_table(Path(values["codes"]))


def code_table(path: object) -> CodeTable:
    """`codes = "cmcc.codes.toml"`: the channel's carrier code table (docs/channels.md),
    read when the plan is loaded so that a mistake in it stops the start."""
    if not isinstance(path, str) or not path:
        raise ValueError("codes must name a code table file (codes = \"carrier.codes.toml\")")
    try:
        return CodeTable.load(Path(path))
    except OSError as exc:
        raise ValueError(f"cannot read the code table {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"code table {path}: not valid TOML: {exc}") from exc
    except (ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"code table {path}: {exc}") from exc


def code_book(plan: ChannelPlan) -> CodeBook:
    """The code tables of the plan's channels (those that name one), for what reads records
    without running the channels (`yizhan records`)."""
    tables = {spec.name: code_table(spec.options["codes"]) for spec in plan.channels
              if spec.kind not in PROVIDERS and spec.kind not in ("simulator", "smgp")
              and "codes" in spec.options}
    defaults = {"cmpp": cmpp_codes, "sgip": sgip_codes}
    for spec in plan.channels:  # a CMPP or SGIP channel without one reads its protocol's
        if spec.kind in defaults:
            tables.setdefault(spec.name, defaults[spec.kind]())
        elif spec.kind in PROVIDERS:  # a provider's table, or the one the channel names
            tables[spec.name] = upstream_parts(spec.kind, spec.options)[1].codes
        elif spec.kind == "smgp":  # its own codes read over the SMGP Status table
            tables[spec.name] = smgp_config(spec.name, spec.options).codes
    return CodeBook(tables)


def retryable_statuses(names: object) -> frozenset[int]:
    """`retryable = ["ESME_RSYSERR", "0x401"]`: submit_sm_resp statuses answered
    `Retryable`; names with or without `ESME_`, hex or decimal values."""
    if not isinstance(names, list) or not all(isinstance(n, str | int) for n in names):
        raise ValueError("retryable must be a list of SMPP statuses "
                         "(retryable = [\"ESME_RSYSERR\", \"0x401\"])")
    wrong = [str(n) for n in names if not _is_status(str(n))]
    if wrong:
        raise ValueError(f"retryable: unknown SMPP status(es) {', '.join(wrong)} (write a "
                         "name such as ESME_RSYSERR, or a value such as 0x401)")
    return statuses([str(n) for n in names])


def _is_status(text: str) -> bool:
    try:
        statuses([text])
    except ValueError:
        return False
    return True


def _route(raw: dict[str, Any], number: int, source: str, names: set[str]) -> Route:
    name = str(raw.get("name", f"route-{number}"))
    where = f"{source}: route {name!r}"
    extra = set(raw) - {"name", "carriers", "countries", "types", "channels"}
    if extra:
        raise PlanError(f"{where}: unknown setting(s) {', '.join(sorted(extra))}")
    carriers = frozenset(raw.get("carriers", []))
    if carriers - CARRIERS:
        raise PlanError(f"{where}: unknown carrier(s) {', '.join(sorted(carriers - CARRIERS))}"
                        f"; expected {', '.join(sorted(CARRIERS))}")
    types = frozenset(raw.get("types", []))
    if types - TYPES:
        raise PlanError(f"{where}: unknown type(s) {', '.join(sorted(types - TYPES))}; "
                        f"expected {', '.join(sorted(TYPES))}")
    countries = frozenset(str(c).upper() for c in raw.get("countries", []))
    targets = []
    for entry in raw.get("channels", []):
        item = {"name": entry} if isinstance(entry, str) else dict(entry)
        target = Target(str(item.get("name", "")), int(item.get("weight", 1)),
                        int(item.get("tier", 1)))
        if target.channel not in names:
            raise PlanError(f"{where}: unknown channel {target.channel!r}")
        if target.weight < 1 or target.tier < 1:
            raise PlanError(f"{where}: weight and tier must be 1 or more")
        targets.append(target)
    if not targets:
        raise PlanError(f"{where}: no channels")
    return Route(name, tuple(targets), carriers, countries, types)


class Smsc(Protocol):
    """An SMPP server on loopback: the simulator (`simulator/smsc.py`, `SmscServer`)."""

    async def start(self, host: str, port: int) -> int: ...
    async def stop(self) -> None: ...


class SmscFactory(Protocol):
    """Makes the simulator server: `accounts` are the system_id -> password pairs that may
    bind, `max_per_second` its submit rate (0: no limit)."""

    def __call__(self, script: Script, *, max_per_second: float,
                 accounts: Mapping[str, str], records: CarrierRecords | None = None,
                 enforcing: Collection[str] = ()) -> Smsc: ...


RegistryFactory = Callable[[Mapping[str, Any], Clock], Registrar]
"""Makes the simulated carriers' registry from `[simulator]` (`simulator/registry.py`,
`SimulatedRegistry.from_settings`); ValueError for a wrong setting."""


class EmbeddedSmsc:
    """The SMPP simulator server of this process, on a loopback port chosen at start; the
    `smpp-simulator` channels are pointed at that port before they bind."""

    def __init__(self, smsc: SmscFactory, script: Script, channels: list[SmppChannel],
                 port: int = 0, max_per_second: float = 0.0,
                 records: CarrierRecords | None = None,
                 enforcing: Collection[str] = ()) -> None:
        # Each channel binds with its own credentials, checked as a carrier checks them.
        self.server = smsc(script, max_per_second=max_per_second, accounts={
            c.config.system_id: c.config.password for c in channels},
            records=records, enforcing=enforcing)
        self._channels = channels
        self._port = port
        self.port = 0

    async def start(self) -> None:
        self.port = await self.server.start(SIMULATOR_HOST, self._port)
        for channel in self._channels:
            channel.config = dataclasses.replace(channel.config, port=self.port)

    async def stop(self) -> None:
        await self.server.stop()


def build_plan(plan: ChannelPlan, clock: Clock, *, smsc: SmscFactory, delay: float = 0.2,
               script: Path | None = None, breaker: BreakerConfig | None = None,
               records: CarrierRecords | None = None,
               registry: RegistryFactory | None = None,
               slots: Callable[[str, int], Slots] | None = None) -> Built:
    """The channels, router and simulator server of `plan`; `smsc` makes that server when
    a channel is of kind `smpp-simulator`. `delay` and `script` are the simulators'
    defaults (settings `simulator_delay_seconds`, `simulator_script`). The simulated
    carriers enforce registration on channels with `registration = true` from `records`
    (none given: they do not), and `registry` makes the registrar that answers the
    registrations filed on every simulated channel with a carrier (docs/simulator.md
    "Real-name registration"). `slots` gives a channel with `max_binds` its share of the
    bind limit across dispatch processes (`runtime/bind_slots.py`; None: not shared)."""
    channels: list[Channel] = []
    embedded: list[SmppChannel] = []
    for spec in plan.channels:
        if spec.kind == "simulator":
            channels.append(SimulatorChannel(clock, _script(
                spec.options.get("script") or script, spec.options.get("delay", delay)),
                name=spec.name, records=records if spec.registration else None))
            continue
        if spec.kind in PROVIDERS:
            channels.append(upstream_channel(spec.name, spec.kind, spec.options, clock))
            continue
        channel = _session_channel(spec, clock, slots)
        channels.append(channel)
        if spec.kind == "smpp-simulator" and isinstance(channel, SmppChannel):
            embedded.append(channel)
    server = None
    if embedded:
        sim = plan.simulator
        server = EmbeddedSmsc(smsc, _script(sim.get("script") or script,
                                            sim.get("delay", delay)),
                              embedded, int(sim.get("port", 0)),
                              float(sim.get("max_per_second", 0.0)), records,
                              [c.config.system_id for c, spec in zip(
                                  embedded, [s for s in plan.channels
                                             if s.kind == "smpp-simulator"], strict=True)
                               if spec.registration])
    router = Router(channels, plan.routes, breaker or BreakerConfig(), clock=clock,
                    registering=frozenset(s.name for s in plan.channels if s.registration))
    return Built(channels, router, server, _registrars(plan, clock, registry))


def _session_channel(spec: ChannelSpec, clock: Clock,
                     slots: Callable[[str, int], Slots] | None) -> Channel:
    """The gateway channel (SMPP, CMPP, SGIP, SMGP) of `spec`; with `max_binds`, its share of
    the bind limit from `slots` (None: not shared)."""
    def shared(limit: int) -> Slots | None:
        return slots(spec.name, limit) if slots is not None and limit else None

    if spec.kind == "cmpp":
        cmpp = cmpp_config(spec.name, spec.options)
        return CmppChannel(cmpp, clock, shared(cmpp.max_binds))
    if spec.kind == "sgip":
        sgip = sgip_config(spec.name, spec.options)
        return SgipChannel(sgip, clock, shared(sgip.max_binds))
    if spec.kind == "smgp":
        telecom = smgp_config(spec.name, spec.options)
        return SmgpChannel(telecom, clock, shared(telecom.max_binds))
    config = smpp_config(spec.name, spec.options)
    return SmppChannel(config, clock, shared(config.max_binds))


def _registrars(plan: ChannelPlan, clock: Clock,
                registry: RegistryFactory | None) -> dict[str, Registrar]:
    """One simulated registry for every simulated channel that names its carrier."""
    simulated = [spec.name for spec in plan.channels
                 if spec.kind not in CARRIER_KINDS and spec.carrier is not None]
    if registry is None or not simulated:
        return {}
    try:
        shared = registry(plan.simulator, clock)
    except ValueError as exc:
        raise PlanError(f"{plan.source}: [simulator]: {exc}") from exc
    return dict.fromkeys(simulated, shared)


def _script(path: str | Path | None, delay: float) -> Script:
    if path:
        return Script.load(Path(path), float(delay))
    return Script(default=Outcome(delay=float(delay)))
