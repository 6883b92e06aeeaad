"""Frequency control in the `yizhan` CLI: an account's own limits, its whitelist, the audit
of changes, the explanation of what a send would meet, and enterprise verification.

    yizhan frequency limits -a ACCOUNT
    yizhan frequency set -a ACCOUNT RULE VALUE      (unset: RULE without a value)
    yizhan frequency whitelist list|add|remove -a ACCOUNT [NUMBER]
    yizhan frequency audit -a ACCOUNT
    yizhan frequency explain -a ACCOUNT --sign S --template T NUMBER [--json]
    yizhan accounts verify-enterprise ACCOUNT --company NAME

Changes are made in the store (audited as `cli <user>`) and reach a running server within
`cache_seconds`. Explaining counts nothing.
"""

from __future__ import annotations

import getpass
import json
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
from yizhan.domain.model import PhoneNumber
from yizhan.domain.timezone import china_text
from yizhan.policy import numbers
from yizhan.policy.flow_control import explain_send, explanation_json
from yizhan.policy.frequency import RULES, validate_limit
from yizhan.storage.frequency import FrequencySettings
from yizhan.storage.store import SqlStore

frequency_commands = command_set()
whitelist_app = typer.Typer(help="Numbers exempt from the platform's limits "
                            "(enterprise-verified accounts).", no_args_is_help=True)
frequency_commands.add_typer(whitelist_app, name="whitelist")
accounts_commands = command_set()
"""verify-enterprise (in `accounts`)."""


def actor() -> str:
    return f"cli {getpass.getuser()}"


def _show_limits(profile_limits: dict[str, int], enterprise: bool, name: str) -> None:
    out.print(f"{name}: enterprise-verified {'yes' if enterprise else 'no'}", highlight=False)
    rows = [[r.id, r.window.value, r.limit, profile_limits.get(r.id, ""),
             min(r.limit, profile_limits.get(r.id, r.limit))] for r in RULES]
    table("Frequency limits (messages per window)",
          ["rule", "window", "platform", "account", "effective"], rows)


@frequency_commands.command("limits")
def limits(account: AccountName, data_dir: DataDir = None, config: ConfigFile = None,
           database_url: DatabaseUrl = None) -> None:
    """Show the platform's limits, the account's own, and the effective ones."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        profile = await FrequencySettings(store).frequency_profile(owner.id)
        _show_limits(dict(profile.limits), profile.enterprise, owner.name)

    run(settings_of(data_dir, config, database_url), work)


@frequency_commands.command("set")
def set_limit(account: AccountName,
              rule: Annotated[str, typer.Argument(help="Rule id (`yizhan frequency limits`).")],
              value: Annotated[int | None, typer.Argument(
                  help="The account's limit, at most the platform's; omit to remove it.")
                               ] = None,
              data_dir: DataDir = None, config: ConfigFile = None,
              database_url: DatabaseUrl = None) -> None:
    """Set (or remove) an account's own, lower limit for one rule."""
    refusal = validate_limit(rule, 1 if value is None else value)
    if refusal is not None:
        raise fail(refusal.detail)

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        old, new = await FrequencySettings(store).set_limit(owner.id, rule, value, actor(),
                                                            clock.now())
        out.print(f"{owner.name}: {rule} {_shown(old)} -> {_shown(new)}", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


def _shown(value: int | None) -> str:
    return "platform default" if value is None else str(value)


@whitelist_app.command("list")
def whitelist_list(account: AccountName, data_dir: DataDir = None, config: ConfigFile = None,
                   database_url: DatabaseUrl = None) -> None:
    """List an account's whitelisted numbers."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        listed = await FrequencySettings(store).whitelist(owner.id)
        table(f"Whitelist of {owner.name}", ["number", "added (China time)"],
              [[numbers.display(PhoneNumber(p)), china_text(at)] for p, at in listed])

    run(settings_of(data_dir, config, database_url), work)


def _whitelist(account: str, number: str, listed: bool, data_dir: DataDir,
               config: ConfigFile, database_url: DatabaseUrl) -> None:
    phone = numbers.normalize(number)
    if isinstance(phone, Refusal):
        raise fail(f"{phone.code}: {phone.message()}")

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        settings = FrequencySettings(store)
        if listed and not await settings.enterprise(owner.id):
            raise fail(f"{owner.name} is not enterprise-verified: only enterprise accounts may "
                       f"whitelist numbers (`yizhan accounts verify-enterprise {owner.name} "
                       "--company NAME`)")
        changed = await settings.set_whitelisted(owner.id, phone, listed, actor(), clock.now())
        state = "whitelisted" if listed else "not whitelisted"
        out.print(f"{numbers.display(phone)} {state}{'' if changed else ' (already)'}",
                  highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@whitelist_app.command("add")
def whitelist_add(number: str, account: AccountName, data_dir: DataDir = None,
                  config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """Exempt a number from the platform's limits (the account's own limits still apply)."""
    _whitelist(account, number, True, data_dir, config, database_url)


@whitelist_app.command("remove")
def whitelist_remove(number: str, account: AccountName, data_dir: DataDir = None,
                     config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """Take a number off the whitelist."""
    _whitelist(account, number, False, data_dir, config, database_url)


@frequency_commands.command("audit")
def audit(account: AccountName, limit: Annotated[int, typer.Option(help="Most rows.")] = 50,
          data_dir: DataDir = None, config: ConfigFile = None,
          database_url: DatabaseUrl = None) -> None:
    """Changes of an account's frequency settings, latest first."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        entries = await FrequencySettings(store).audit(owner.id, limit)
        table(f"Frequency settings changes of {owner.name}",
              ["when (China time)", "who", "what", "old", "new"],
              [[china_text(e.at), e.actor, e.item, e.old, e.new] for e in entries])

    run(settings_of(data_dir, config, database_url), work)


@frequency_commands.command("explain")
def explain(number: str, account: AccountName,
            sign: Annotated[str, typer.Option(help="Signature name.")],
            template: Annotated[str, typer.Option(help="Template code.")],
            as_json: Annotated[bool, typer.Option("--json")] = False,
            data_dir: DataDir = None, config: ConfigFile = None,
            database_url: DatabaseUrl = None) -> None:
    """Would a send pass frequency control now? Counts in each window, and the earliest
    time it would pass. Counts nothing."""
    from yizhan.app import frequency_control

    settings = settings_of(data_dir, config, database_url)

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        async with frequency_control(settings, store, clock) as control:
            result = await explain_send(store, control, owner, sign, template, number)
        if isinstance(result, Refusal):
            raise fail(f"{result.code}: {result.message()}")
        if as_json:
            print(json.dumps(explanation_json(result), ensure_ascii=False))
            return
        verdict = ("passes now" if result.passes else
                   f"refused until {china_text(result.earliest)} (China time)")
        out.print(f"A send to {number} {verdict}"
                  f"{' (whitelisted)' if result.whitelisted else ''}", highlight=False)
        table("Windows", ["rule", "count", "window (China time)", "blocking"],
              [[w.limit.rule.id + (" (own)" if w.limit.own else ""),
                f"{w.count}/{w.limit.limit}",
                f"{china_text(w.start)[5:]} - {china_text(w.resets_at)[5:]}" if w.start
                else "not open", "yes" if w.blocking else ""] for w in result.windows])

    run(settings, work)


@accounts_commands.command("verify-enterprise")
def verify_enterprise(account: str,
                      company: Annotated[str, typer.Option(help="The verified company name.")],
                      data_dir: DataDir = None, config: ConfigFile = None,
                      database_url: DatabaseUrl = None) -> None:
    """Mark an account enterprise-verified (an approved enterprise qualification): it may
    then whitelist numbers."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        done = await FrequencySettings(store).verify_enterprise(owner.id, company, actor(),
                                                                clock.now())
        out.print(f"{owner.name} {'is now' if done else 'was already'} enterprise-verified",
                  highlight=False)

    run(settings_of(data_dir, config, database_url), work)
