"""Operator commands of the `yizhan` CLI: accounts, keys, signatures, templates, send,
records and dead letters. They work on the store directly (see `cli.run`)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from yizhan import send_via_server
from yizhan.cli import (
    AccountName,
    ConfigFile,
    DatabaseUrl,
    DataDir,
    accounts_app,
    app,
    deadletters_app,
    fail,
    keys_app,
    out,
    run,
    settings_of,
    signs_app,
    store_name,
    table,
    templates_app,
)
from yizhan.domain.codes import CodeBook
from yizhan.domain.errors import Refusal
from yizhan.domain.model import (
    AccessKey,
    Account,
    AccountStatus,
    KeyStatus,
    Message,
    ReviewState,
    SignatureScenario,
    TemplateType,
)
from yizhan.domain.ports import SystemClock
from yizhan.domain.timezone import china_day_bounds, china_text, china_today
from yizhan.policy import numbers, templates
from yizhan.policy.balance import money
from yizhan.runtime import server_lock
from yizhan.settings import Settings
from yizhan.storage.store import SqlStore

clock = SystemClock()


async def account_named(store: SqlStore, name: str) -> Account:
    account = await store.account_by_name(name)
    if account is None:
        raise fail(f"no account named {name!r} (`yizhan accounts list` shows them)")
    return account


# accounts


@accounts_app.command("create")
def accounts_create(name: str, data_dir: DataDir = None, config: ConfigFile = None,
                    database_url: DatabaseUrl = None) -> None:
    """Create an account and its first AccessKey (the secret is shown once)."""
    async def work(store: SqlStore) -> None:
        if await store.account_by_name(name):
            raise fail(f"an account named {name!r} exists already")
        account = await store.create_account(name, clock.now())
        key = await store.create_access_key(account.id, clock.now())
        out.print(f"account {account.name} (id {account.id}) created", highlight=False)
        out.print(f"AccessKey id      {key.id}", highlight=False)
        out.print(f"AccessKey secret  {key.secret}   (shown only now: keep it)",
                  highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@accounts_app.command("list")
def accounts_list(data_dir: DataDir = None, config: ConfigFile = None,
                  database_url: DatabaseUrl = None) -> None:
    """List accounts; a suspended one with when, by whom and why (`accounts history`)."""
    async def work(store: SqlStore) -> None:
        last = {e.account_id: e for e in await store.account_events()}  # oldest first
        rows = []
        for a in await store.list_accounts():
            event = last.get(a.id) if a.status is AccountStatus.SUSPENDED else None
            why = f"{china_text(event.created_at)} by {event.actor}: {event.reason}" \
                if event else ""
            rows.append([a.id, a.name, a.status.value, china_text(a.created_at), why])
        table("Accounts", ["id", "name", "status", "created (China time)", "reason"], rows)

    run(settings_of(data_dir, config, database_url), work)


# keys


@keys_app.command("create")
def keys_create(account: AccountName, data_dir: DataDir = None, config: ConfigFile = None,
                database_url: DatabaseUrl = None) -> None:
    """Create an AccessKey for an account; the secret is shown only now."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        key = await store.create_access_key(owner.id, clock.now())
        out.print(f"AccessKey id      {key.id}", highlight=False)
        out.print(f"AccessKey secret  {key.secret}   (shown only now: keep it)",
                  highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@keys_app.command("list")
def keys_list(account: Annotated[str | None, typer.Option("--account", "-a")] = None,
              data_dir: DataDir = None, config: ConfigFile = None,
              database_url: DatabaseUrl = None) -> None:
    """List AccessKey ids and states (never secrets)."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account) if account else None
        names = {a.id: a.name for a in await store.list_accounts()}
        rows = [[k.id, names.get(k.account_id, k.account_id), k.status.value,
                 china_text(k.created_at)]
                for k in await store.list_access_keys(owner.id if owner else None)]
        table("AccessKeys", ["id", "account", "status", "created (China time)"], rows)

    run(settings_of(data_dir, config, database_url), work)


@keys_app.command("disable")
def keys_disable(key_id: str, data_dir: DataDir = None, config: ConfigFile = None,
                 database_url: DatabaseUrl = None) -> None:
    """Disable an AccessKey: requests signed with it are refused from now on."""
    async def work(store: SqlStore) -> None:
        if not await store.set_access_key_status(key_id, KeyStatus.DISABLED):
            raise fail(f"no AccessKey {key_id!r}")
        out.print(f"AccessKey {key_id} disabled", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


# signatures


@signs_app.command("add")
def signs_add(account: AccountName, name: str,
              scenario: Annotated[SignatureScenario, typer.Option()] = SignatureScenario.GENERAL,
              test: Annotated[bool, typer.Option(
                  "--test", help="A test signature: sends only to bound test numbers.")] = False,
              data_dir: DataDir = None, config: ConfigFile = None,
              database_url: DatabaseUrl = None) -> None:
    """Add a signature for an account; it starts pending review."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        if await store.signature(owner.id, name):
            raise fail(f"account {account!r} has a signature {name!r} already")
        sig = await store.create_signature(owner.id, name, scenario, ReviewState.PENDING,
                                           clock.now(), test=test)
        out.print(f"signature {sig.name} (id {sig.id}) added, pending review", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@signs_app.command("list")
def signs_list(account: Annotated[str | None, typer.Option("--account", "-a")] = None,
               data_dir: DataDir = None, config: ConfigFile = None,
               database_url: DatabaseUrl = None) -> None:
    """List signatures with their review state."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account) if account else None
        names = {a.id: a.name for a in await store.list_accounts()}
        rows = [[s.id, names.get(s.account_id), s.name,
                 s.scenario.value + (" (test)" if s.test else ""), s.state.value, s.reason]
                for s in await store.list_signatures(owner.id if owner else None)]
        table("Signatures", ["id", "account", "name", "scenario", "state", "reason"], rows)

    run(settings_of(data_dir, config, database_url), work)


def _review_signature(signature_id: int, state: ReviewState, reason: str,
                      data_dir: DataDir, config: ConfigFile, database_url: DatabaseUrl) -> None:
    async def work(store: SqlStore) -> None:
        sig = await store.review_signature(signature_id, state, reason)
        if sig is None:
            raise fail(f"no signature with id {signature_id} (`yizhan signs list`)")
        if sig.state is ReviewState.DELETED and state is not ReviewState.DELETED:
            raise fail(f"signature {sig.name} (id {sig.id}) is deleted; deleted signatures "
                       "cannot be restored")
        out.print(f"signature {sig.name} (id {sig.id}) {state.value}", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@signs_app.command("approve")
def signs_approve(signature_id: int, data_dir: DataDir = None, config: ConfigFile = None,
                  database_url: DatabaseUrl = None) -> None:
    """Approve a signature: it can send from now on."""
    _review_signature(signature_id, ReviewState.APPROVED, "", data_dir, config, database_url)


@signs_app.command("reject")
def signs_reject(signature_id: int,
                 reason: Annotated[str, typer.Option(help="Why, shown to the tenant.")],
                 data_dir: DataDir = None, config: ConfigFile = None,
                 database_url: DatabaseUrl = None) -> None:
    """Reject a signature with a reason."""
    _review_signature(signature_id, ReviewState.REJECTED, reason, data_dir, config,
                      database_url)


# templates


@templates_app.command("add")
def templates_add(account: AccountName, name: str, content: str,
                  type_: Annotated[TemplateType, typer.Option("--type")] = (
                      TemplateType.NOTIFICATION),
                  test: Annotated[bool, typer.Option(
                      "--test", help="A test template: sends only to bound test numbers.")] = (
                      False),
                  data_dir: DataDir = None, config: ConfigFile = None,
                  database_url: DatabaseUrl = None) -> None:
    """Add a template for an account; it starts pending review. A promotion must carry the
    opt-out text 拒收请回复R; invisible or unsupported characters are warned about."""
    refusal = templates.check_new_template(type_, content)
    if refusal:
        raise fail(f"{refusal.code}: {refusal.message()}")

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        tpl = await store.create_template(owner.id, name, type_, content, ReviewState.PENDING,
                                          clock.now(), test=test)
        out.print(f"template {tpl.code} added, pending review", highlight=False)
        _print_warnings(tpl.content)

    run(settings_of(data_dir, config, database_url), work)


@templates_app.command("list")
def templates_list(account: Annotated[str | None, typer.Option("--account", "-a")] = None,
                   data_dir: DataDir = None, config: ConfigFile = None,
                   database_url: DatabaseUrl = None) -> None:
    """List templates with their review state."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account) if account else None
        names = {a.id: a.name for a in await store.list_accounts()}
        found = await store.list_templates(owner.id if owner else None)
        rows = [[t.code, names.get(t.account_id), t.type.value + (" (test)" if t.test else ""),
                 t.state.value, t.content, t.reason] for t in found]
        table("Templates", ["code", "account", "type", "state", "content", "reason"], rows)
        for t in found:
            if t.state is ReviewState.PENDING:
                _print_warnings(t.content, f"{t.code}: ")

    run(settings_of(data_dir, config, database_url), work)


def _review_template(code: str, state: ReviewState, reason: str, data_dir: DataDir,
                     config: ConfigFile, database_url: DatabaseUrl) -> None:
    async def work(store: SqlStore) -> None:
        tpl = await store.review_template(code, state, reason)
        if tpl is None:
            raise fail(f"no template {code!r} (`yizhan templates list`)")
        if tpl.state is ReviewState.DELETED and state is not ReviewState.DELETED:
            raise fail(f"template {tpl.code} is deleted; deleted templates cannot be restored")
        out.print(f"template {tpl.code} {state.value}", highlight=False)
        _print_warnings(tpl.content)

    run(settings_of(data_dir, config, database_url), work)


def _print_warnings(content: str, prefix: str = "") -> None:
    """What the reviewer should know about a template's characters (templates.py)."""
    for warning in templates.review_warnings(content):
        out.print(f"[yellow]warning:[/yellow] {prefix}{warning}", highlight=False)


@templates_app.command("approve")
def templates_approve(code: str, data_dir: DataDir = None, config: ConfigFile = None,
                      database_url: DatabaseUrl = None) -> None:
    """Approve a template: it can send from now on."""
    _review_template(code, ReviewState.APPROVED, "", data_dir, config, database_url)


@templates_app.command("reject")
def templates_reject(code: str,
                     reason: Annotated[str, typer.Option(help="Why, shown to the tenant.")],
                     data_dir: DataDir = None, config: ConfigFile = None,
                     database_url: DatabaseUrl = None) -> None:
    """Reject a template with a reason."""
    _review_template(code, ReviewState.REJECTED, reason, data_dir, config, database_url)


# send and records


@app.command()
def send(phone_numbers: Annotated[list[str], typer.Argument(help="Destination numbers.")],
         account: AccountName, sign: Annotated[str, typer.Option(help="Signature name.")],
         template: Annotated[str, typer.Option(help="Template code.")],
         param: Annotated[list[str] | None, typer.Option(
             help="Template variable as name=value; repeat for several.")] = None,
         out_id: Annotated[str, typer.Option(help="Your own reference.")] = "",
         data_dir: DataDir = None, config: ConfigFile = None,
         database_url: DatabaseUrl = None) -> None:
    """Send as an account. Beside a running `yizhan serve` on the same data folder the send
    goes through its API (so its frequency limits count it); otherwise it is stored here and
    the next server to run delivers it."""
    from yizhan.app import rate_counter
    from yizhan.backends.local import LocalBus
    from yizhan.domain.ids import IdGenerator
    from yizhan.intake.accept import Intake, SendRequest
    from yizhan.policy.chain import Recipient
    from yizhan.policy.flow_control import FrequencyControl
    from yizhan.policy.lists import PolicyLists
    from yizhan.runtime.batching import Batcher
    from yizhan.storage.frequency import FrequencySettings

    params = {}
    for item in param or []:
        name, sep, value = item.partition("=")
        if not sep:
            raise fail(f"--param {item!r}: write it as name=value")
        params[name] = value

    settings = settings_of(data_dir, config, database_url)
    server = server_lock.holder(settings.data_dir)
    if server is not None and server.store in ("", store_name(settings)):
        _send_through(server, settings, account, {
            "phone_numbers": phone_numbers, "sign_name": sign, "template_code": template,
            "template_param": params, "out_id": out_id})
        return

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        counter, flush = await rate_counter(settings, store, clock)
        committer = Batcher("intake", flush, clock, max_delay=0)
        committer.start()
        frequency = FrequencyControl(counter, FrequencySettings(store), clock)
        intake = Intake(store, committer, clock, IdGenerator(), LocalBus(),
                        PolicyLists(store, clock, 0), part_price=settings.part_price,
                        frequency=frequency if settings.frequency_control else None)
        try:
            result = await intake.send(owner, SendRequest(
                template, [Recipient(p, sign, params) for p in phone_numbers], out_id))
        finally:
            await committer.stop()
            await counter.close()
        if isinstance(result, Refusal):
            raise fail(f"{result.code}: {result.message()}")
        out.print(f"accepted, BizId {result.biz_id}", highlight=False)
        table("Messages", ["message id", "number", "parts", "status"],
              [[m.id, numbers.display(m.phone), m.segments, m.status.value]
               for m in result.messages])

    run(settings, work)


def _send_through(server: server_lock.Holder, settings: Settings, account: str,
                  body: dict[str, Any]) -> None:
    """`send` through the running server's API (`send_via_server.py`)."""
    if not server.url:
        raise fail(f"a yizhan serve (pid {server.pid}) is starting on this data folder; "
                   "send again once it is running")

    async def key_of(store: SqlStore) -> AccessKey:
        owner = await account_named(store, account)
        key = send_via_server.usable_key(await store.list_access_keys(owner.id))
        if key is None:
            raise fail(f"account {owner.name} has no enabled AccessKey to send through the "
                       f"running server: `yizhan keys create --account {owner.name}`")
        return key

    result = send_via_server.send(server, run(settings, key_of), body)
    if isinstance(result, send_via_server.Failure):
        raise fail(f"{result.code}: {result.message}")
    out.print(f"accepted by the running server (pid {server.pid}, {server.url}), "
              f"BizId {result['biz_id']}", highlight=False, soft_wrap=True)
    table("Messages", ["message id", "number", "parts", "status"],
          [[m["message_id"], m["phone_number"], m["segments"], m["status"]]
           for m in result["messages"]])


@app.command()
def records(account: AccountName,
            phone: Annotated[str | None, typer.Option(help="Destination number.")] = None,
            day: Annotated[str | None, typer.Option(
                "--date", help="China calendar day YYYY-MM-DD [default: today]")] = None,
            biz_id: Annotated[str | None, typer.Option(help="One send request.")] = None,
            limit: Annotated[int, typer.Option(help="Most rows shown.")] = 50,
            as_json: Annotated[bool, typer.Option("--json")] = False,
            unmask: Annotated[bool, typer.Option(
                help="Show message content in full (masked by default).")] = False,
            data_dir: DataDir = None, config: ConfigFile = None,
            database_url: DatabaseUrl = None) -> None:
    """Show sending records of an account: by BizId, or by day (and number). Digits and
    letters of the content are masked unless --unmask."""
    from yizhan.records.masking import mask
    shown = (lambda text: text) if unmask else mask
    settings = settings_of(data_dir, config, database_url)
    book = _code_book(settings.channels_file)

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        if biz_id:
            found = await store.messages_by_biz(owner.id, biz_id)
            total = len(found)
        else:
            number = None
            if phone:
                parsed = numbers.normalize(phone)
                if isinstance(parsed, Refusal):
                    raise fail(f"{parsed.code}: {parsed.message()}")
                number = parsed
            try:
                the_day = date.fromisoformat(day) if day else china_today(clock.now())
            except ValueError as exc:
                raise fail(f"--date {day!r}: use YYYY-MM-DD") from exc
            start, end = china_day_bounds(the_day)
            total, found = await store.query_messages(owner.id, number, start, end, 0, limit)
        why = [book.reason(m.status, m.channel, m.error_code, m.reason) for m in found]
        if as_json:
            print(json.dumps([{"message_id": str(m.id), "biz_id": m.biz_id,
                               "phone_number": numbers.display(m.phone), "status": m.status,
                               "error_code": m.error_code, "reason": reason,
                               "suggestion": suggestion,
                               "segments": m.segments, "charge": charge_text(m),
                               "package_parts": m.package_parts,
                               "content": shown(m.content)}
                              for m, (reason, suggestion) in zip(found, why, strict=True)],
                             ensure_ascii=False))
            return
        table(f"Records ({total} in all)",
              ["sent (China time)", "number", "status", "code", "reason", "parts", "charge",
               "content", "BizId"],
              [[china_text(m.created_at), numbers.display(m.phone), m.status.value,
                m.error_code, reason, m.segments, charge_text(m) or "-", shown(m.content),
                m.biz_id] for m, (reason, _) in zip(found, why, strict=True)])

    run(settings, work)


def _code_book(channels_file: Path | None) -> CodeBook:
    """The channels' code tables, which explain the records' codes (docs/records.md)."""
    from yizhan.dispatch.channel_file import PlanError, code_book, load_plan
    try:
        return code_book(load_plan(channels_file))
    except (PlanError, ValueError) as exc:
        raise fail(str(exc)) from exc


def charge_text(m: Message) -> str | None:
    """What a record cost: yuan from the balance and parts from packages; None if unbilled."""
    if m.charged_at is None:
        return None
    text = money(m.charge)
    return f"{text} + {m.package_parts} pkg" if m.package_parts else text


# dead letters


@deadletters_app.command("list")
def deadletters_list(all_: Annotated[bool, typer.Option("--all", help="Include replayed.")] = False,
                     data_dir: DataDir = None, config: ConfigFile = None,
                     database_url: DatabaseUrl = None) -> None:
    """List items a stage gave up on."""
    async def work(store: SqlStore) -> None:
        rows = [[d.id, d.stage, china_text(d.created_at), d.error[:60],
                 china_text(d.replayed_at)] for d in await store.list_dead_letters(all_)]
        table("Dead letters", ["id", "stage", "when (China time)", "error", "replayed"], rows)

    run(settings_of(data_dir, config, database_url), work)


@deadletters_app.command("show")
def deadletters_show(letter_id: int, data_dir: DataDir = None, config: ConfigFile = None,
                     database_url: DatabaseUrl = None) -> None:
    """Show one dead letter in full."""
    async def work(store: SqlStore) -> None:
        letter = await store.dead_letter(letter_id)
        if letter is None:
            raise fail(f"no dead letter {letter_id}")
        print(json.dumps({"id": letter.id, "stage": letter.stage, "payload": letter.payload,
                          "error": letter.error, "created_at": letter.created_at.isoformat(),
                          "replayed_at": letter.replayed_at and letter.replayed_at.isoformat()},
                         ensure_ascii=False, indent=2))

    run(settings_of(data_dir, config, database_url), work)


@deadletters_app.command("replay")
def deadletters_replay(letter_id: int, data_dir: DataDir = None, config: ConfigFile = None,
                       database_url: DatabaseUrl = None) -> None:
    """Put a dead letter back on its stage; a running server picks it up."""
    async def work(store: SqlStore) -> None:
        letter = await store.replay_dead_letter(letter_id, clock.now())
        if letter is None:
            raise fail(f"no dead letter {letter_id} waiting for replay")
        out.print(f"dead letter {letter_id} put back on stage {letter.stage}", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


__all__ = ["app"]
