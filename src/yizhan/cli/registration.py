"""Carrier registration of signatures, the operator's side: `yizhan signs register` (the
explicit trigger, for one signature or `--all`), `yizhan signs registration` (the state per
carrier and sub-port) and `yizhan signs registration-answer` (a real carrier's answer,
which the operator received by hand). Every trigger and answer is audited with who gave it
(`yizhan signs show` lists them); docs/compliance.md "Carrier registration"."""

from __future__ import annotations

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
    operator,
    out,
    registration_of,
    run,
    settings_of,
    table,
)
from yizhan.compliance.registration import CARRIER_REFUSALS, Started
from yizhan.domain.errors import Refusal
from yizhan.domain.model import ReviewState, Signature
from yizhan.domain.registration import REASONS, Answer, RegistrationState
from yizhan.domain.timezone import china_text
from yizhan.storage.store import SqlStore

signs_commands = command_set()


async def _signature(store: SqlStore, account: str, name: str) -> Signature:
    owner = await account_named(store, account)
    found = await store.signature(owner.id, name)
    if found is None or found.state is ReviewState.DELETED:
        raise fail(f"account {account!r} has no signature {name!r} (`yizhan signs list`)")
    return found


def _print_started(started: Started) -> None:
    s = started.signature
    if started.held:
        out.print(f"signature {s.name}: not filed, {started.held} "
                  f"({REASONS[started.held][1]}) {started.detail}".rstrip(), highlight=False)
    else:
        out.print(f"signature {s.name}: filed on {len(started.filed)} sub-port(s) "
                  f"{', '.join(r.channel for r in started.filed)}", highlight=False)


@signs_commands.command("register")
def signs_register(
        name: Annotated[str | None, typer.Argument(help="The signature (omit with --all).")] = None,
        account: Annotated[str | None, typer.Option("--account", "-a")] = None,
        every: Annotated[bool, typer.Option(
            "--all", help="Every approved signature (of --account, or of every account) "
            "with a sub-port not registering nor registered.")] = False,
        data_dir: DataDir = None, config: ConfigFile = None,
        database_url: DatabaseUrl = None) -> None:
    """Register a signature with the carriers: for signatures approved before registration
    existed, and to file again what failed or lapsed. Sub-ports registering or registered
    are left as they are."""
    if every == (name is not None):
        raise fail("name one signature (with --account), or give --all")
    if name is not None and account is None:
        raise fail("a signature is named within its account: give --account")
    settings = settings_of(data_dir, config, database_url)

    async def work(store: SqlStore) -> None:
        registration = registration_of(settings, store)
        if every:
            owner = await account_named(store, account) if account else None
            done = await registration.register_all(owner.id if owner else None, operator())
            for started in done:
                _print_started(started)
            out.print(f"{len(done)} signature(s) registered", highlight=False)
            return
        assert name is not None and account is not None
        one = await registration.start(await _signature(store, account, name), operator(),
                                       only_missing=True)
        if isinstance(one, Refusal):
            raise fail(f"{one.code}: {one.message()}")
        _print_started(one)

    run(settings, work)


@signs_commands.command("registration")
def signs_registration(name: str, account: AccountName, data_dir: DataDir = None,
                       config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """A signature's carrier registration: each carrier's state (what GetSmsSign answers),
    then each sub-port with its reasons, request, due date, answer and deliveries."""
    settings = settings_of(data_dir, config, database_url)

    async def work(store: SqlStore) -> None:
        signature = await _signature(store, account, name)
        carriers = await registration_of(settings, store).carriers(signature)
        now = clock.now()
        table(f"Registration of {signature.name}", ["carrier", "state", "reasons"],
              [[c.isp.value, f"{int(c.state)} {c.state.name.lower()}",
                "; ".join(f"{code} {REASONS[code][0]} / {REASONS[code][1]}"
                          for code in c.reasons if code in REASONS)] for c in carriers])
        rows = [r for c in carriers for r in c.sub_ports]
        table("Sub-ports", ["carrier", "channel", "sub-port", "state", "reason", "requested",
                            "due", "answered", "deliveries"],
              [[r.isp.value, r.channel, r.sub_port, f"{int(r.state)} {r.state.name.lower()}",
                "; ".join([*(f"{c} {REASONS[c][0]} / {REASONS[c][1]}"
                             for c in r.reasons if c in REASONS),
                           *([r.detail] if r.detail else [])]),
                china_text(r.requested_at),
                china_text(r.due_at) + (" (overdue)" if r.due_at and r.due_at < now
                                        and r.state is RegistrationState.REGISTERING else ""),
                china_text(r.answered_at), r.deliveries] for r in rows])

    run(settings, work)


@signs_commands.command("registration-answer")
def signs_registration_answer(
        name: str, account: AccountName,
        channel: Annotated[str, typer.Option(help="The channel whose sub-port was answered.")],
        registered: Annotated[bool, typer.Option(
            "--registered", help="The carrier registered it.")] = False,
        failed: Annotated[str | None, typer.Option(
            "--failed", help="The carrier refused it, for this reason: "
            + ", ".join(CARRIER_REFUSALS) + ".")] = None,
        detail: Annotated[str, typer.Option(
            help="The carrier's own words, shown to the tenant.")] = "",
        data_dir: DataDir = None, config: ConfigFile = None,
        database_url: DatabaseUrl = None) -> None:
    """Record a real carrier's answer to a registration the operator filed by hand: the
    sub-port is then awaiting verification, or failed with the carrier's reason."""
    if registered == (failed is not None):
        raise fail("give --registered or --failed REASON")
    if failed is not None and failed not in CARRIER_REFUSALS:
        raise fail(f"unknown reason {failed!r}; one of {', '.join(CARRIER_REFUSALS)}")
    if len(detail) > 500:
        raise fail("--detail: at most 500 characters")
    settings = settings_of(data_dir, config, database_url)

    async def work(store: SqlStore) -> None:
        signature = await _signature(store, account, name)
        answer = Answer(0, registered, (failed,) if failed else (), detail)
        row = await registration_of(settings, store).record_answer(signature, channel, answer,
                                                                   operator())
        if row is None:
            raise fail(f"signature {name} is not registering on channel {channel!r} "
                       f"(`yizhan signs registration {name} --account {account}`)")
        out.print(f"signature {name} on {row.channel} ({row.sub_port}): "
                  f"{int(row.state)} {row.state.name.lower()}", highlight=False)

    run(settings, work)
