"""The operator's review of qualifications (资质): `yizhan qualifications list|show|approve|
reject` (docs/compliance.md "Qualifications"). Every decision is audited (who, when, the
reason) and the tenant sees it through QuerySingleSmsQualification and
QuerySmsQualificationRecord."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from yizhan.cli.common import (
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
from yizhan.compliance.qualifications import RECORD_STATES, admin_phone, personal_problems
from yizhan.compliance.registration import RegistrationService
from yizhan.domain.model import Qualification, QualificationDetails, QualificationKind, ReviewState
from yizhan.domain.timezone import china_text
from yizhan.policy import review
from yizhan.storage.documents import DocumentFolder
from yizhan.storage.store import SqlStore

qualifications_commands = command_set()


async def decide(store: SqlStore, qualification_id: int, state: ReviewState, reason: str,
                 actor: str, registration: RegistrationService | None = None,
                 ) -> Qualification:
    """Approve or reject a qualification under review, audited; what the commands run
    (`compliance.review.decide_qualification`, as the console's review page). An approval
    (again, after an update) files its approved signatures with the carriers again
    (`registration`)."""
    done = await review.decide_qualification(store, qualification_id, state, reason, actor,
                                             clock.now(), registration)
    if isinstance(done, tuple):
        problem, found = done
        raise fail(_refusal(problem, qualification_id, found))
    for started in done.registrations:
        out.print(f"signature {started.signature.name}: registration "
                  + (f"not filed ({started.held})" if started.held else
                     f"filed on {len(started.filed)} sub-port(s)"), highlight=False)
    return done.qualification


def _refusal(problem: review.Problem, qualification_id: int, found: Qualification | None) -> str:
    if found is None:
        return f"no qualification with id {qualification_id} (`yizhan qualifications list`)"
    if problem is review.Problem.NOT_PENDING:
        return (f"qualification {found.details.name} (id {found.id}) is "
                f"{found.state.value}, not under review")
    if problem is review.Problem.NEEDS_REASON:
        return ("a rejection or a request for more material needs a --reason, shown to "
                "the tenant")
    code = found.details.organization_code
    return (f"qualification {found.details.name} is for others (他用): the account "
            f"needs a valid authorization letter from {code} "
            "(CreateSmsAuthorizationLetter) before it can be approved; ask for "
            "it (`yizhan qualifications incomplete ID --reason ...`), reject it, or "
            "wait for the letter")


@qualifications_commands.command("list")
def qualifications_list(
        account: Annotated[str | None, typer.Option("--account", "-a")] = None,
        state: Annotated[ReviewState | None, typer.Option(
            help="Only this state (pending: the review queue).")] = None,
        data_dir: DataDir = None, config: ConfigFile = None,
        database_url: DatabaseUrl = None) -> None:
    """List qualifications with their review state."""
    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account) if account else None
        names = {a.id: a.name for a in await store.list_accounts()}
        rows = [[q.id, names.get(q.account_id), q.details.name, q.details.company_name,
                 "self" if q.details.for_self else "others", q.state.value, q.order_id,
                 q.reason]
                for q in await store.list_qualifications(owner.id if owner else None, state)]
        table("Qualifications", ["id", "account", "name", "company", "use", "state", "ticket",
                                 "reason"], rows)

    run(settings_of(data_dir, config, database_url), work)


@qualifications_commands.command("show")
def qualifications_show(qualification_id: int, data_dir: DataDir = None,
                        config: ConfigFile = None, database_url: DatabaseUrl = None) -> None:
    """Show a qualification's details, documents and every step of its review."""
    async def work(store: SqlStore) -> None:
        q = await store.qualification_by_id(qualification_id)
        if q is None:
            raise fail(f"no qualification with id {qualification_id}")
        d = q.details
        for label, value in (
                ("name", d.name), ("state", f"{q.state.value} ({RECORD_STATES[q.state]})"),
                ("use", "self (自用)" if d.for_self else "others (他用)"),
                ("company", f"{d.company_name} ({d.company_type}, {d.organization_code}, "
                            f"licence {d.license_valid})"),
                ("legal person", f"{d.legal_person_name} ({d.legal_person_id_type} "
                                 f"{d.legal_person_id_no}, {d.legal_person_id_valid})"),
                ("administrator", f"{d.admin_name} ({d.admin_id_type} {d.admin_id_no}, "
                                  f"{d.admin_id_valid}), {d.admin_phone}"),
                ("usable for registration", "yes" if q.usable_for_registration else "no"),
                ("remark", d.remark)):
            out.print(f"{label}: {value}", highlight=False)
        table("Documents", ["role", "reference"], [list(doc) for doc in d.documents])
        table("Review", ["at", "ticket", "who", "state", "reason"],
              [[china_text(e.at), e.order_id, e.actor, e.state.value, e.reason]
               for e in await store.qualification_decisions(q.id)])

    run(settings_of(data_dir, config, database_url), work)


@qualifications_commands.command("approve")
def qualifications_approve(
        qualification_id: int,
        reason: Annotated[str, typer.Option(help="A note shown to the tenant.")] = "",
        data_dir: DataDir = None, config: ConfigFile = None,
        database_url: DatabaseUrl = None) -> None:
    """Approve a qualification under review."""
    _decide(qualification_id, ReviewState.APPROVED, reason, data_dir, config, database_url)


@qualifications_commands.command("reject")
def qualifications_reject(
        qualification_id: int,
        reason: Annotated[str, typer.Option(help="Why, shown to the tenant.")],
        data_dir: DataDir = None, config: ConfigFile = None,
        database_url: DatabaseUrl = None) -> None:
    """Reject a qualification under review, with a reason."""
    _decide(qualification_id, ReviewState.REJECTED, reason, data_dir, config, database_url)


@qualifications_commands.command("incomplete")
def qualifications_incomplete(
        qualification_id: int,
        reason: Annotated[str, typer.Option(help="What is missing, shown to the tenant.")],
        data_dir: DataDir = None, config: ConfigFile = None,
        database_url: DatabaseUrl = None) -> None:
    """Ask for more material (NOT_FINISH): the tenant's update sends it back to review."""
    _decide(qualification_id, ReviewState.INCOMPLETE, reason, data_dir, config, database_url)


@qualifications_commands.command("personal")
def qualifications_personal(
        account: str, name: str,
        person: Annotated[str, typer.Option(help="The individual's name.")],
        id_no: Annotated[str, typer.Option(help="The certificate's number.")],
        id_valid: Annotated[str, typer.Option(help="Its validity, YYYY-MM-DD~YYYY-MM-DD.")],
        phone: Annotated[str, typer.Option(help="The individual's mobile number.")],
        id_type: Annotated[str, typer.Option(help="identityCard, passport, ...")] =
        "identityCard",
        for_others: Annotated[bool, typer.Option(
            "--for-others", help="For others (他用); default: own use (自用), which can "
            "never be used for carrier registration.")] = False,
        data_dir: DataDir = None, config: ConfigFile = None,
        database_url: DatabaseUrl = None) -> None:
    """Record an individual's qualification, approved (the SDK submits enterprises only)."""
    details = QualificationDetails(
        name, QualificationKind.PERSONAL, not for_others, legal_person_name=person,
        legal_person_id_type=id_type, legal_person_id_no=id_no, legal_person_id_valid=id_valid,
        admin_name=person, admin_id_type=id_type, admin_id_no=id_no, admin_id_valid=id_valid,
        admin_phone=admin_phone(phone))
    problems = personal_problems(details)
    if problems:
        raise fail("; ".join(problems))

    async def work(store: SqlStore) -> None:
        owner = await account_named(store, account)
        actor = operator()
        made = await store.submit_qualification(owner.id, details, actor, clock.now())
        if made is None:
            raise fail(f"account {account} has a qualification named {name} already")
        q = await store.review_qualification(made.id, ReviewState.APPROVED,
                                             "recorded by the operator", actor, clock.now())
        assert q is not None
        usable = "usable" if q.usable_for_registration else \
            "NOT usable (an individual's own-use qualification)"
        out.print(f"qualification {name} (id {q.id}) approved, {usable} for carrier "
                  "registration", highlight=False)

    run(settings_of(data_dir, config, database_url), work)


@qualifications_commands.command("document")
def qualifications_document(
        qualification_id: int, key: str,
        to: Annotated[Path, typer.Option("--out", help="The file to write (new, 0600).")],
        data_dir: DataDir = None, config: ConfigFile = None,
        database_url: DatabaseUrl = None) -> None:
    """Write out a document of a qualification (its key, as `show` lists) for review."""
    settings = settings_of(data_dir, config, database_url)

    async def work(store: SqlStore) -> None:
        q = await store.qualification_by_id(qualification_id)
        if q is None:
            raise fail(f"no qualification with id {qualification_id}")
        if key not in {ref for _, ref in q.details.documents}:
            raise fail(f"qualification {q.id} names no document {key} (`yizhan "
                       "qualifications show ID` lists them)")
        found = await store.document(q.account_id, key)
        if found is None:
            raise fail(f"{key} was never uploaded (a reference from before uploads)")
        source = DocumentFolder(settings.data_dir).path(found)
        try:
            fd = os.open(to, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise fail(f"{to} exists already") from None
        with os.fdopen(fd, "wb") as written:
            written.write(source.read_bytes())
        out.print(f"{key} ({found.content_type}, {found.size} bytes) written to {to}",
                  highlight=False)

    run(settings, work)


def _decide(qualification_id: int, state: ReviewState, reason: str, data_dir: DataDir,
            config: ConfigFile, database_url: DatabaseUrl) -> None:
    settings = settings_of(data_dir, config, database_url)

    async def work(store: SqlStore) -> None:
        q = await decide(store, qualification_id, state, reason, operator(),
                         registration_of(settings, store))
        out.print(f"qualification {q.details.name} (id {q.id}) {state.value}",
                  highlight=False)

    run(settings, work)
