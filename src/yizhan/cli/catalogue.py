"""Signatures and templates, and their review: `yizhan signs add|list|show|approve|reject`
and `yizhan templates add|list|show|lint|approve|reject`. Every operator decision is audited
(`review_decisions`) and `show` lists them. Templates are checked by the review linter
(policy/templates.py `lint`): refusing findings stop `add`, every finding is printed to the
operator."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

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
from yizhan.compliance.signatures import SignSource, check_sign_name, closed_source
from yizhan.domain.model import ReviewDecision, ReviewState, SignatureScenario, TemplateType
from yizhan.domain.timezone import china_text
from yizhan.policy import templates
from yizhan.storage.store import SqlStore

signs_commands = command_set()
templates_commands = command_set()


# signatures


@signs_commands.command("add")
def signs_add(account: AccountName, name: str,
              scenario: Annotated[SignatureScenario, typer.Option()] = SignatureScenario.GENERAL,
              source: Annotated[SignSource, typer.Option(
                  help="Where the name comes from; closed sources are refused.")] = (
                  SignSource.ENTERPRISE),
              test: Annotated[bool, typer.Option(
                  "--test", help="A test signature: sends only to bound test numbers.")] = False,
              data_dir: DataDir = None, config: ConfigFile = None,
              database_url: DatabaseUrl = None) -> None:
    """Add a signature for an account; it starts pending review. The name and source follow
    the same rules as AddSmsSign (docs/compliance.md "Signature names")."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        refusal = check_sign_name(name, source, await store.company_name(owner.id))
        if refusal:
            raise fail(f"{refusal.code}: {refusal.message()}")
        if await store.signature(owner.id, name):
            raise fail(f"account {account!r} has a signature {name!r} already")
        sig = await store.create_signature(owner.id, name, scenario, ReviewState.PENDING,
                                           clock.now(), source=source, test=test)
        out.print(f"signature {sig.name} (id {sig.id}) added, pending review", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@signs_commands.command("list")
def signs_list(account: Annotated[str | None, typer.Option("--account", "-a")] = None,
               data_dir: DataDir = None, config: ConfigFile = None,
               database_url: DatabaseUrl = None) -> None:
    """List signatures with their review state and source; a source closed to new
    signatures is flagged `(closed)`."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account) if account else None
        names = {a.id: a.name for a in await store.list_accounts()}
        rows = [[s.id, names.get(s.account_id), s.name,
                 s.scenario.value + (" (test)" if s.test else ""),
                 s.source + (" (closed)" if closed_source(s.source) else ""), s.state.value,
                 s.reason]
                for s in await store.list_signatures(owner.id if owner else None)]
        table("Signatures", ["id", "account", "name", "scenario", "source", "state", "reason"],
              rows)

    run(settings_of(data_dir, config, database_url), work)


@signs_commands.command("show")
def signs_show(name: str,
               account: Annotated[str, typer.Option("--account", "-a")],
               data_dir: DataDir = None, config: ConfigFile = None,
               database_url: DatabaseUrl = None) -> None:
    """Show one signature of an account, the material given for its review, every decision
    on it (the operator's, and the tenant's deletions, resubmissions and changes of
    qualification), who started its carrier registration and what the carriers answered."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        s = await store.signature(owner.id, name)
        if s is None:
            raise fail(f"account {account!r} has no signature {name!r} (`yizhan signs list`)")
        out.print(f"signature {s.name} (id {s.id}) {s.scenario.value} {s.source} "
                  f"{s.state.value}" + (f" ({s.reason})" if s.reason else ""), highlight=False)
        d = s.details
        for label, value in (("qualification", s.qualification_id), ("letter", s.letter_id),
                             ("remark", s.remark), ("scene", d.apply_scene),
                             ("app ICP filing", d.app_icp_record_id),
                             ("trademark", d.trademark_id), ("files", ", ".join(d.files))):
            if value:
                out.print(f"{label}: {value}", highlight=False)
        _print_history(await store.review_decisions("signature", str(s.id)))
        registration = await store.review_decisions("registration", str(s.id))
        if registration:
            table("Registration triggers and answers", ["at", "who", "reason"],
                  [[china_text(d.at), d.actor, d.reason] for d in registration])

    run(settings_of(data_dir, config, database_url), work)


def _print_history(decisions: list[ReviewDecision]) -> None:
    """Every audited decision, oldest first (`review_decisions`): the operator's reviews
    and the tenant's own deletions, resubmissions and changes of qualification."""
    table("Review", ["at", "who", "action", "state", "reason"],
          [[china_text(d.at), d.actor, d.action, d.state.value, d.reason] for d in decisions])


def _review_signature(signature_id: int, state: ReviewState, reason: str,
                      data_dir: DataDir, config: ConfigFile, database_url: DatabaseUrl) -> None:
    settings = settings_of(data_dir, config, database_url)

    async def work(store: SqlStore) -> None:
        sig = await store.review_signature(signature_id, state, reason, clock.now(), operator())
        if sig is None:
            raise fail(f"no signature with id {signature_id} (`yizhan signs list`)")
        if sig.state is ReviewState.DELETED and state is not ReviewState.DELETED:
            raise fail(f"signature {sig.name} (id {sig.id}) is deleted; deleted signatures "
                       "cannot be restored")
        out.print(f"signature {sig.name} (id {sig.id}) {state.value}", highlight=False)
        started = await registration_of(settings, store).on_approved(sig, operator())
        if started is not None:
            out.print("carrier registration " + (
                f"not filed: {started.held} {started.detail}" if started.held else
                f"started on {len(started.filed)} sub-port(s)"), highlight=False)

    run(settings, work)


@signs_commands.command("approve")
def signs_approve(signature_id: int, data_dir: DataDir = None, config: ConfigFile = None,
                  database_url: DatabaseUrl = None) -> None:
    """Approve a signature: it can send from now on, and its carrier registration starts
    when a qualification stands behind it (docs/compliance.md "Carrier registration")."""
    _review_signature(signature_id, ReviewState.APPROVED, "", data_dir, config, database_url)


@signs_commands.command("reject")
def signs_reject(signature_id: int,
                 reason: Annotated[str, typer.Option(help="Why, shown to the tenant.")],
                 data_dir: DataDir = None, config: ConfigFile = None,
                 database_url: DatabaseUrl = None) -> None:
    """Reject a signature with a reason."""
    _review_signature(signature_id, ReviewState.REJECTED, reason, data_dir, config,
                      database_url)


# templates


@templates_commands.command("add")
def templates_add(account: AccountName, name: str, content: str,
                  type_: Annotated[TemplateType, typer.Option("--type")] = (
                      TemplateType.NOTIFICATION),
                  test: Annotated[bool, typer.Option(
                      "--test", help="A test template: sends only to bound test numbers.")] = (
                      False),
                  data_dir: DataDir = None, config: ConfigFile = None,
                  database_url: DatabaseUrl = None) -> None:
    """Add a template for an account; it starts pending review. The review linter's
    refusing findings (a promotion without 拒收请回复R, marketing words in a notification, ...)
    stop it; its warnings are printed."""
    refusal = templates.check_new_template(type_, content)
    if refusal:
        _print_findings(type_, content)
        raise fail(f"{refusal.code}: {refusal.message()}")

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        tpl = await store.create_template(owner.id, name, type_, content, ReviewState.PENDING,
                                          clock.now(), test=test)
        out.print(f"template {tpl.code} added, pending review", highlight=False)
        _print_findings(tpl.type, tpl.content)

    run(settings_of(data_dir, config, database_url), work)


@templates_commands.command("list")
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
                _print_findings(t.type, t.content, f"{t.code}: ")

    run(settings_of(data_dir, config, database_url), work)


@templates_commands.command("show")
def templates_show(code: str, data_dir: DataDir = None, config: ConfigFile = None,
                   database_url: DatabaseUrl = None) -> None:
    """Show one template with the review linter's findings and every operator decision
    on it."""
    async def work(store: SqlStore) -> None:
        found = [t for t in await store.list_templates() if t.code == code]
        if not found:
            raise fail(f"no template {code!r} (`yizhan templates list`)")
        t = found[0]
        out.print(f"template {t.code} {t.name!r} {t.type.value} {t.state.value}"
                  + (f" ({t.reason})" if t.reason else ""), highlight=False)
        out.print(t.content, highlight=False)
        a = t.application
        for label, value in (("remark", t.remark), ("related signature", a.related_sign_name),
                             ("variables", a.variable_attribute), ("scene", a.apply_scene),
                             ("international type", "" if a.intl_type is None else
                              ("notification", "promotion", "verification")[a.intl_type])):
            if value:
                out.print(f"{label}: {value}", highlight=False)
        if not _print_findings(t.type, t.content):
            out.print("no findings", highlight=False)
        _print_history(await store.review_decisions("template", t.code))

    run(settings_of(data_dir, config, database_url), work)


@templates_commands.command("lint")
def templates_lint(content: str,
                   type_: Annotated[TemplateType, typer.Option("--type")] = (
                       TemplateType.NOTIFICATION)) -> None:
    """Check a template text without saving it; exits 1 if a finding refuses it."""
    if not _print_findings(type_, content):
        out.print("no findings", highlight=False)
    if templates.check_new_template(type_, content):
        raise typer.Exit(1)


def _review_template(code: str, state: ReviewState, reason: str, data_dir: DataDir,
                     config: ConfigFile, database_url: DatabaseUrl) -> None:
    async def work(store: SqlStore) -> None:
        tpl = await store.review_template(code, state, reason, clock.now(), operator())
        if tpl is None:
            raise fail(f"no template {code!r} (`yizhan templates list`)")
        if tpl.state is ReviewState.DELETED and state is not ReviewState.DELETED:
            raise fail(f"template {tpl.code} is deleted; deleted templates cannot be restored")
        out.print(f"template {tpl.code} {state.value}", highlight=False)
        _print_findings(tpl.type, tpl.content)

    run(settings_of(data_dir, config, database_url), work)


def _print_findings(type_: TemplateType, content: str, prefix: str = "") -> int:
    """What the review linter finds in a template (templates.py `lint`); how many."""
    findings = templates.lint(type_, content)
    for f in findings:
        label = ("[red]refuse:[/red]" if f.severity is templates.Severity.REFUSE
                 else "[yellow]warning:[/yellow]")
        out.print(f"{label} {prefix}{f.rule} at {f.start}: {escape(f.en)} / {escape(f.zh)}",
                  highlight=False, soft_wrap=True)
    return len(findings)


@templates_commands.command("approve")
def templates_approve(code: str, data_dir: DataDir = None, config: ConfigFile = None,
                      database_url: DatabaseUrl = None) -> None:
    """Approve a template: it can send from now on."""
    _review_template(code, ReviewState.APPROVED, "", data_dir, config, database_url)


@templates_commands.command("reject")
def templates_reject(code: str,
                     reason: Annotated[str, typer.Option(help="Why, shown to the tenant.")],
                     data_dir: DataDir = None, config: ConfigFile = None,
                     database_url: DatabaseUrl = None) -> None:
    """Reject a template with a reason."""
    _review_template(code, ReviewState.REJECTED, reason, data_dir, config, database_url)
