"""Operator commands for carrier channels (issue 6): `yizhan channels list` shows the
channels and routes that `yizhan serve` would run (the channel file, or the built-in SMPP
simulator channels), `yizhan channels check` validates them and binds each channel once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Annotated

import typer

from yizhan.cli.common import (
    ConfigFile,
    DatabaseUrl,
    DataDir,
    command_set,
    fail,
    open_checked,
    out,
    run_loop,
    settings_of,
    table,
)
from yizhan.dispatch.channel_file import (
    CARRIERS,
    TYPES,
    ChannelPlan,
    PlanError,
    build_plan,
    cmpp_config,
    load_plan,
    sgip_config,
    smgp_config,
    smpp_config,
)
from yizhan.dispatch.channels.cmpp import result_name
from yizhan.dispatch.channels.http_upstream import HttpUpstreamChannel
from yizhan.dispatch.channels.sgip_text import result_text
from yizhan.dispatch.channels.smpp_pdu import status_name
from yizhan.dispatch.router import Route
from yizhan.domain.events import Receipt, Uplink
from yizhan.domain.ports import Channel, SystemClock
from yizhan.runtime.bind_slots import BindSlots
from yizhan.settings import Settings
from yizhan.simulator.smsc import SmscServer

channels_commands = command_set()
UPSTREAM = "HTTP upstream: settings valid, not contacted"
"""What `check` says of an HTTP upstream: a check that sends nothing cannot prove the key."""


def _plan(settings: Settings) -> ChannelPlan:
    try:
        return load_plan(settings.channels_file)
    except PlanError as exc:
        raise fail(str(exc)) from exc


@channels_commands.command("list")
def list_channels(data_dir: DataDir = None, config: ConfigFile = None,
                  database_url: DatabaseUrl = None) -> None:
    """The channels and the routes between them."""
    settings = settings_of(data_dir, config, database_url)
    plan = _plan(settings)
    out.print(f"channels from {plan.source}")
    table("channels", ["name", "kind", "address", "system_id", "source address", "carrier",
                       "registration"],
          [[c.name, c.kind, c.address,
            c.options.get("source_addr" if c.kind == "cmpp" else "system_id", ""),
            ("" if c.kind == "simulator" else f"{c.number}+ext"),
            c.carrier.value if c.carrier else "",
            "required" if c.registration else ""] for c in plan.channels])
    routes = plan.routes or (Route("default", ()),)
    table("routes (first match wins; a > b: b only when a is down; a*3: weight)",
          ["route", "carriers", "countries", "types", "channels"],
          [[r.name, ", ".join(sorted(r.carriers)) or "any",
            ", ".join(sorted(r.countries)) or "any", ", ".join(sorted(r.types)) or "any",
            r.chain or "every channel, in order"] for r in routes])


def uncovered(plan: ChannelPlan) -> list[str]:
    """Carrier and message type pairs that no route takes (their messages would wait)."""
    if not plan.routes:
        return []
    return [f"{carrier} {type_}" for carrier in sorted(CARRIERS) for type_ in sorted(TYPES)
            if not any((not r.carriers or carrier in r.carriers)
                       and (not r.types or type_ in r.types) for r in plan.routes)]


def carrier_tables(plan: ChannelPlan) -> list[str]:
    """What the channel file says of each SMPP channel's carrier: its code table and the
    submit statuses it retries (only for channels that set them)."""
    lines = []
    for spec in plan.channels:
        if spec.kind not in ("smpp", "smpp-simulator", "cmpp", "sgip", "smgp") or (
                "codes" not in spec.options and "retryable" not in spec.options):
            continue
        if spec.kind == "smgp":
            codes = smgp_config(spec.name, spec.options).codes
            lines.append(f"channel {spec.name}: {len(codes)} carrier code(s) from "
                         f"{spec.options['codes']} over the SMGP Status table")
            continue
        config = (cmpp_config if spec.kind == "cmpp" else sgip_config if spec.kind == "sgip"
                  else smpp_config)(spec.name, spec.options)
        name = (result_name if spec.kind == "cmpp" else result_text if spec.kind == "sgip"
                else status_name)
        said = []
        if "codes" in spec.options:
            said.append(f"{len(config.codes)} carrier code(s) from {spec.options['codes']}")
        if "retryable" in spec.options:
            said.append("retries " + (", ".join(sorted(name(s) for s in config.retryable))
                                      or "throttling only"))
        lines.append(f"channel {spec.name}: {'; '.join(said)}")
    return lines


@channels_commands.command("check")
def check(data_dir: DataDir = None, config: ConfigFile = None,
          database_url: DatabaseUrl = None,
          timeout: Annotated[float, typer.Option(help="Seconds to wait for each bind.")] = 5.0,
          ) -> None:
    """Validate the channel file, and bind every SMPP channel once (then unbind)."""
    settings = settings_of(data_dir, config, database_url)
    plan = _plan(settings)
    out.print(f"{plan.source}: {len(plan.channels)} channel(s), {len(plan.routes)} route(s): "
              "valid")
    for line in carrier_tables(plan):
        out.print(line)
    gaps = uncovered(plan)
    if gaps:
        out.print(f"[yellow]warning:[/yellow] no route for: {'; '.join(gaps)} "
                  "(such messages wait and are dead-lettered after their attempts)")
    results: list[list[str]] = []
    run_loop(_bind_all(settings, plan, timeout, results))
    table("binds", ["channel", "result"], results)
    if any(not r[1].startswith(("bound", "in use")) and r[1] not in ("in process", UPSTREAM)
           for r in results):
        raise typer.Exit(1)


async def _bind_all(settings: Settings, plan: ChannelPlan, timeout: float,
                    results: list[list[str]]) -> None:
    # A channel with a bind limit binds only in a free slot of the store's (as a dispatcher
    # does): the trial never takes a bind that running dispatchers hold.
    limited = any(spec.options.get("max_binds") for spec in plan.channels)
    store = await open_checked(settings) if limited else None
    clock = SystemClock()
    built = build_plan(plan, clock, smsc=SmscServer,
                       delay=settings.simulator_delay_seconds, script=settings.simulator_script,
                       slots=None if store is None else
                       lambda name, limit: BindSlots(store, clock, name, limit, "channels check"))
    if built.server is not None:
        await built.server.start()

    class Ignore:  # the events of a trial bind are not kept
        async def __call__(self, event: Receipt | Uplink) -> None:
            pass

        async def many(self, events: Sequence[Receipt | Uplink]) -> None:
            pass

    try:
        for channel in built.channels:
            if isinstance(channel, HttpUpstreamChannel):  # nothing to bind: no request sent
                results.append([channel.name, UPSTREAM])
                continue
            if channel.ready:  # ready before it starts: in process, nothing to bind
                results.append([channel.name, "in process"])
                continue
            began = time.perf_counter()
            await channel.start(Ignore())
            try:
                await asyncio.wait_for(_bound_or_waiting(channel), timeout)
                if getattr(channel, "waiting_slot", False):
                    results.append([channel.name, "in use: every bind it allows (max_binds) "
                                    "is held by running dispatchers; not tried"])
                    continue
                results.append([channel.name, f"bound in "
                                f"{(time.perf_counter() - began) * 1000:.0f} ms"])
            except TimeoutError:
                results.append([channel.name, f"not bound within {timeout:g}s (see the "
                                "warnings above)"])
            finally:
                await channel.stop()
    finally:
        if built.server is not None:
            await built.server.stop()
        if store is not None:
            await store.close()


async def _bound_or_waiting(channel: Channel) -> None:
    """Return once `channel` is bound, or waits for a bind slot others hold."""
    while not channel.ready and not getattr(channel, "waiting_slot", False):
        await asyncio.sleep(0.02)
