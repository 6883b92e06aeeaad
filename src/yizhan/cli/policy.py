"""Operator commands for the lists the policy checks read: blocked keywords of the content
filter (`yizhan keywords ...`) and accounts' international registrations (`yizhan accounts
register | unregister | registrations`). They work on the store directly (`common.run`); a
running server sees a change within `cache_seconds`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import phonenumbers
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
from yizhan.domain.model import AccountId, RegistrationKind
from yizhan.domain.timezone import china_text
from yizhan.policy.content_filter import MAX_KEYWORD_LENGTH, normalise
from yizhan.policy.international import country_rules
from yizhan.storage.store import SqlStore

keywords_commands = command_set()
accounts_commands = command_set()
"""register, unregister, registrations (in `accounts`)."""

ListAccount = Annotated[str | None, typer.Option(
    "--account", "-a", help="The account's own list. [default: the platform-wide list]")]
Words = Annotated[list[str], typer.Argument(help="Keywords (letters match in any case).")]


async def _scope(store: SqlStore, account: str | None) -> tuple[AccountId | None, str]:
    if account is None:
        return None, "the platform-wide list"
    return (await account_named(store, account)).id, f"the list of account {account}"


def _checked(words: list[str]) -> list[str]:
    cleaned = [normalise(w) for w in words]
    for word in cleaned:
        if not word or len(word) > MAX_KEYWORD_LENGTH:
            raise fail(f"keyword {word!r}: 1 to {MAX_KEYWORD_LENGTH} characters")
    return cleaned


def _add(words: list[str], account: str | None, data_dir: Path | None, config: Path | None,
         database_url: str | None) -> None:
    async def work(store: SqlStore) -> None:
        account_id, where = await _scope(store, account)
        added = await store.add_keywords(account_id, words, clock.now())
        out.print(f"{len(added)} keyword(s) added to {where}; "
                  f"{len(set(words)) - len(added)} were there already", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@keywords_commands.command("add")
def keywords_add(words: Words, account: ListAccount = None, data_dir: DataDir = None,
                 config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """Block keywords: a message whose text contains one is refused
    (isv.BLACK_KEY_CONTROL_LIMIT)."""
    _add(_checked(words), account, data_dir, config, database_url)


@keywords_commands.command("import")
def keywords_import(file: Annotated[Path, typer.Argument(
                        help="UTF-8 text, one keyword per line; blank lines and lines "
                        "starting with # are skipped.")],
                    account: ListAccount = None, data_dir: DataDir = None,
                    config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """Block every keyword of a file (one per line)."""
    try:
        lines = file.read_text("utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot read {file}: {exc}") from exc
    words = []
    for number, line in enumerate(lines, 1):
        word = normalise(line)
        if not word or word.startswith("#"):
            continue
        if len(word) > MAX_KEYWORD_LENGTH:
            raise fail(f"{file}:{number}: more than {MAX_KEYWORD_LENGTH} characters; "
                       "nothing was imported")
        words.append(word)
    _add(words, account, data_dir, config, database_url)


@keywords_commands.command("remove")
def keywords_remove(words: Words, account: ListAccount = None, data_dir: DataDir = None,
                    config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """Unblock keywords."""
    async def work(store: SqlStore) -> None:
        account_id, where = await _scope(store, account)
        removed = await store.remove_keywords(account_id, [normalise(w) for w in words])
        out.print(f"{removed} keyword(s) removed from {where}", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@keywords_commands.command("list")
def keywords_list(account: ListAccount = None, data_dir: DataDir = None,
                  config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """List the blocked keywords of one list."""
    async def work(store: SqlStore) -> None:
        account_id, where = await _scope(store, account)
        found = await store.keywords(account_id)
        table(f"Keywords of {where} ({len(found)})", ["keyword"], [[w] for w in found])

    run(settings_of(data_dir, config, database_url), work)


# International registrations

Country = Annotated[str, typer.Option(help="ISO country code, e.g. US, CA, VN.")]
TollFree = Annotated[str | None, typer.Option(help="A registered toll-free number (+1 8xx...).")]
SenderId = Annotated[str | None, typer.Option(help="A registered Sender ID (1-11 letters or "
                                              "digits).")]


def _registration(country: str, toll_free: str | None,
                  sender_id: str | None) -> tuple[str, RegistrationKind, str]:
    country = country.upper()
    rule = country_rules().get(country)
    if rule is None:
        raise fail(f"no country rule needs a registration for {country!r}; countries with "
                   f"rules: {', '.join(sorted(country_rules()))}")
    if (toll_free is None) == (sender_id is None):
        raise fail("give one of --toll-free or --sender-id")
    kind = RegistrationKind.TOLL_FREE if toll_free is not None else RegistrationKind.SENDER_ID
    if kind is not rule.registration:
        raise fail(f"{rule.name} needs a {rule.registration.value} registration, "
                   f"not {kind.value}")
    if toll_free is not None:
        return country, kind, _toll_free(toll_free)
    assert sender_id is not None
    if not (sender_id.isascii() and sender_id.isalnum() and len(sender_id) <= 11):
        raise fail(f"Sender ID {sender_id!r}: 1 to 11 letters or digits")
    return country, kind, sender_id


def _toll_free(raw: str) -> str:
    try:
        parsed = phonenumbers.parse(raw, "US")
    except phonenumbers.NumberParseException as exc:
        raise fail(f"toll-free number {raw!r}: {exc}") from exc
    if phonenumbers.number_type(parsed) is not phonenumbers.PhoneNumberType.TOLL_FREE:
        raise fail(f"{raw!r} is not a toll-free number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@accounts_commands.command("register")
def accounts_register(account: AccountName, country: Country, toll_free: TollFree = None,
                      sender_id: SenderId = None, data_dir: DataDir = None,
                      config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """Record an account's registration for a country (a toll-free number for the US and
    Canada, a Sender ID for Vietnam), which lets it send there."""
    where, kind, value = _registration(country, toll_free, sender_id)

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        if not await store.add_registration(owner.id, where, kind, value, clock.now()):
            raise fail(f"account {account} has this registration already")
        out.print(f"account {account}: {kind.value} {value} registered for {where}",
                  highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@accounts_commands.command("unregister")
def accounts_unregister(account: AccountName, country: Country, toll_free: TollFree = None,
                        sender_id: SenderId = None, data_dir: DataDir = None,
                        config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """Remove a registration: sending to that country is restricted again."""
    where, kind, value = _registration(country, toll_free, sender_id)

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        if not await store.remove_registration(owner.id, where, kind, value):
            raise fail(f"account {account} has no {kind.value} {value} for {where}")
        out.print(f"account {account}: {kind.value} {value} for {where} removed",
                  highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@accounts_commands.command("registrations")
def accounts_registrations(account: AccountName, data_dir: DataDir = None,
                           config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """List an account's international registrations."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        rows = [[r.country, r.kind.value, r.value, china_text(r.created_at)]
                for r in await store.registrations(owner.id)]
        table(f"Registrations of {account}", ["country", "kind", "value",
                                              "registered (China time)"], rows)

    run(settings_of(data_dir, config, database_url), work)
