"""Accounts, AccessKeys, signatures and templates in the SQL store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Row, false, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain import ids
from yizhan.domain.model import (
    AccessKey,
    AccessKeyId,
    Account,
    AccountEvent,
    AccountId,
    AccountStatus,
    KeyStatus,
    ReviewDecision,
    ReviewState,
    Signature,
    SignatureDetails,
    SignatureScenario,
    Template,
    TemplateApplication,
    TemplateCode,
    TemplateFilters,
    TemplateType,
    UsableState,
)
from yizhan.domain.push import SIGN_REPORT, TEMPLATE_REPORT
from yizhan.storage import reports
from yizhan.storage.sealed import row_label
from yizhan.storage.sealing import Sealer
from yizhan.storage.sql import hot_sql
from yizhan.storage.tables import (
    access_keys,
    account_events,
    accounts,
    qualifications,
    review_decisions,
    signatures,
    templates,
)

T = TypeVar("T")


def account_of_row(row: Row[Any]) -> Account:
    return Account(AccountId(row.id), row.name, AccountStatus(row.status), row.created_at,
                   row.balance, row.part_price)


def _key(row: Row[Any], sealer: Sealer) -> AccessKey:
    return AccessKey(AccessKeyId(row.id), AccountId(row.account_id),
                     sealer.open(row.secret, row_label("access_keys", row.id)),
                     KeyStatus(row.status), row.created_at)


def signature_of_row(row: Row[Any]) -> Signature:
    return Signature(row.id, AccountId(row.account_id), row.name,
                     SignatureScenario(row.scenario), ReviewState(row.state), row.reason,
                     row.created_at, bool(row.test), row.source, row.qualification_id,
                     row.remark, row.letter_id, SignatureDetails(
                         row.apply_scene, tuple(orjson.loads(row.files)) if row.files else (),
                         row.app_icp_record_id, row.trademark_id))


def _details(details: SignatureDetails) -> dict[str, Any]:
    return {"apply_scene": details.apply_scene,
            "files": orjson.dumps(list(details.files)).decode() if details.files else "",
            "app_icp_record_id": details.app_icp_record_id,
            "trademark_id": details.trademark_id}


def template_of_row(row: Row[Any]) -> Template:
    return Template(TemplateCode(row.code), AccountId(row.account_id), row.name,
                    TemplateType(row.type), row.content, ReviewState(row.state), row.reason,
                    row.created_at, bool(row.test), row.remark, TemplateApplication(
                        row.related_sign_name, row.variable_attribute, row.intl_type,
                        row.apply_scene), row.reviewed_at)


def _application(application: TemplateApplication) -> dict[str, Any]:
    return {"related_sign_name": application.related_sign_name,
            "variable_attribute": application.variable_attribute,
            "intl_type": application.intl_type, "apply_scene": application.apply_scene}


def _audit(conn: AsyncConnection, kind: str, subject: str, account_id: int, actor: str,
           state: ReviewState, reason: str, now: datetime | None,
           action: str = "review") -> Any:
    """The audit row (`review_decisions`) of an operator's decision, or of the tenant's
    own deletion, resubmission or change of qualification (`action`), in its
    transaction."""
    if action == "review" and state is ReviewState.DELETED:
        action = "delete"
    return conn.execute(insert(review_decisions).values(
        kind=kind, subject=subject, account_id=account_id, actor=actor, state=state.value,
        reason=reason, at=now or datetime.now(UTC), action=action))


def _report_review(conn: Connection, account_id: int, topic: str, subject: dict[str, Any],
                   state: ReviewState, reason: str, now: datetime | None) -> None:
    reports.report_review(conn, hot_sql(conn.dialect.name == "postgresql"), account_id, topic,
                          subject, state.value, reason, now or datetime.now(UTC))


class CatalogueMixin:
    sealer: Sealer
    _write: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]

    # Accounts

    async def create_account(self, name: str, now: datetime) -> Account:
        async with self._write() as conn:
            result = await conn.execute(insert(accounts).values(
                name=name, status=AccountStatus.ACTIVE, created_at=now))
            account_id = AccountId(int(result.inserted_primary_key[0]))  # type: ignore[index]
        return Account(account_id, name, AccountStatus.ACTIVE, now)

    async def account(self, account_id: AccountId) -> Account | None:
        return await self._one(select(accounts).where(accounts.c.id == account_id), account_of_row)

    async def account_by_name(self, name: str) -> Account | None:
        return await self._one(select(accounts).where(accounts.c.name == name), account_of_row)

    async def list_accounts(self) -> list[Account]:
        return await self._all(select(accounts).order_by(accounts.c.id), account_of_row)

    async def set_account_status(self, account_id: AccountId, status: AccountStatus,
                                 reason: str, actor: str, now: datetime) -> bool:
        """Suspend or resume an account, with its audit row in the same transaction; False
        when the account is in that state already (nothing is recorded)."""
        async with self._write() as conn:
            changed = await conn.execute(update(accounts).where(
                accounts.c.id == account_id, accounts.c.status != status).values(status=status))
            if changed.rowcount != 1:
                return False
            await conn.execute(insert(account_events).values(
                account_id=account_id, action=status, reason=reason, actor=actor,
                created_at=now))
        return True

    async def account_events(self, account_id: AccountId | None = None) -> list[AccountEvent]:
        """Suspensions and resumptions, oldest first (of one account, or of all)."""
        query = select(account_events).order_by(account_events.c.id)
        if account_id is not None:
            query = query.where(account_events.c.account_id == account_id)
        return await self._all(query, lambda row: AccountEvent(
            AccountId(row.account_id), AccountStatus(row.action), row.reason, row.actor,
            row.created_at))

    # AccessKeys

    async def create_access_key(self, account_id: AccountId, now: datetime) -> AccessKey:
        key = AccessKey(AccessKeyId(ids.new_access_key_id()), account_id,
                        ids.new_access_key_secret(), KeyStatus.ENABLED, now)
        async with self._write() as conn:
            await conn.execute(insert(access_keys).values(
                id=key.id, account_id=account_id, status=key.status,
                secret=self.sealer.seal(key.secret, row_label("access_keys", key.id)),
                created_at=now))
        return key

    async def access_key(self, key_id: str) -> AccessKey | None:
        """The key with its secret opened (the API caches it: `api/auth.py`)."""
        return await self._one(select(access_keys).where(access_keys.c.id == key_id),
                               lambda row: _key(row, self.sealer))

    async def list_access_keys(self, account_id: AccountId | None = None) -> list[AccessKey]:
        query = select(access_keys).order_by(access_keys.c.created_at)
        if account_id is not None:
            query = query.where(access_keys.c.account_id == account_id)
        return await self._all(query, lambda row: _key(row, self.sealer))

    async def set_access_key_status(self, key_id: str, status: KeyStatus) -> bool:
        async with self._write() as conn:
            result = await conn.execute(update(access_keys).where(access_keys.c.id == key_id)
                                        .values(status=status))
        return result.rowcount == 1

    # Signatures

    async def create_signature(self, account_id: AccountId, name: str,
                               scenario: SignatureScenario, state: ReviewState,
                               now: datetime, source: str = "enterprise",
                               remark: str = "", test: bool = False,
                               qualification_id: int | None = None,
                               letter_id: int | None = None,
                               details: SignatureDetails = SignatureDetails()) -> Signature:
        async with self._write() as conn:
            result = await conn.execute(insert(signatures).values(
                account_id=account_id, name=name, scenario=scenario, state=state, reason="",
                created_at=now, source=source, remark=remark, test=test,
                qualification_id=qualification_id, letter_id=letter_id, **_details(details)))
        signature_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return Signature(signature_id, account_id, name, scenario, state, "", now, test, source,
                         qualification_id, remark, letter_id, details)

    async def company_name(self, account_id: AccountId) -> str | None:
        """The company of the account's approved enterprise qualification (the latest), or
        None: the enterprise-name rule of signatures applies only when it is known. A
        qualification submitted through the API names its company in `company_name` (its
        `name` is the qualification's own); one the operator recorded with `accounts
        verify-enterprise` has only `name`, the company's."""
        company = func.coalesce(func.nullif(qualifications.c.company_name, ""),
                                qualifications.c.name)
        async with self._read() as conn:
            found: str | None = await conn.scalar(select(company).where(
                qualifications.c.account_id == account_id,
                qualifications.c.kind == "enterprise",
                qualifications.c.state == ReviewState.APPROVED.value)
                .order_by(qualifications.c.id.desc()).limit(1))
        return found

    async def signature(self, account_id: AccountId, name: str) -> Signature | None:
        return await self._one(select(signatures).where(
            signatures.c.account_id == account_id, signatures.c.name == name), signature_of_row)

    async def signature_ids(self, pairs: Sequence[tuple[AccountId, str]]
                            ) -> dict[tuple[AccountId, str], int]:
        """The ids of signatures by (account, name): a signature's id is its extension code
        (docs/channels.md "Uplinks")."""
        found: dict[tuple[AccountId, str], int] = {}
        wanted = set(pairs)
        names = sorted({name for _, name in wanted})
        async with self._read() as conn:
            for start in range(0, len(names), 500):
                rows = await conn.execute(select(
                    signatures.c.id, signatures.c.account_id, signatures.c.name).where(
                    signatures.c.name.in_(names[start:start + 500])))
                for row in rows:
                    pair = (AccountId(row.account_id), row.name)
                    if pair in wanted:
                        found[pair] = int(row.id)
        return found

    async def list_signatures(self, account_id: AccountId | None = None) -> list[Signature]:
        query = select(signatures).order_by(signatures.c.id)
        if account_id is not None:
            query = query.where(signatures.c.account_id == account_id)
        return await self._all(query, signature_of_row)

    async def update_signature(self, signature_id: int, scenario: SignatureScenario,
                               source: str, remark: str,
                               qualification_id: int | None = None,
                               letter_id: int | None = None,
                               details: SignatureDetails | None = None,
                               actor: str | None = None, now: datetime | None = None) -> None:
        """A tenant's change: the signature goes back to review, audited as a resubmission
        when `actor` is given. A `qualification_id` given replaces its qualification, its
        letter (`letter_id`, None for own use) and its `details` (UpdateSmsSign); None keeps
        them (ModifySmsSign)."""
        more = {} if qualification_id is None else {"qualification_id": qualification_id,
                                                    "letter_id": letter_id}
        if details is not None:
            more |= _details(details)
        async with self._write() as conn:
            row = (await conn.execute(update(signatures).where(signatures.c.id == signature_id)
                                      .values(scenario=scenario, source=source, remark=remark,
                                              state=ReviewState.PENDING, reason="", **more)
                                      .returning(signatures.c.account_id))).first()
            if row is not None and actor is not None:
                await _audit(conn, "signature", str(signature_id), row.account_id, actor,
                             ReviewState.PENDING, "resubmitted for review", now, "resubmit")

    async def change_signature_qualification(self, signature_id: int, qualification_id: int,
                                             letter_id: int | None, actor: str,
                                             now: datetime) -> None:
        """ChangeSignatureQualification, after its checks (the company rule, the letter):
        another qualification (and its letter, None for own use) stands behind the
        signature; its review state is kept (docs/compliance.md "Signature actions"). One
        transaction, audited in `review_decisions` (action "change_qualification"): what a
        change of qualification sets off (carrier registration starting again) belongs in
        this transaction."""
        async with self._write() as conn:
            row = (await conn.execute(select(signatures).where(
                signatures.c.id == signature_id))).first()
            if row is None:
                return
            await conn.execute(update(signatures).where(signatures.c.id == signature_id)
                               .values(qualification_id=qualification_id, letter_id=letter_id))
            letter = f", letter {letter_id}" if letter_id is not None else ""
            await _audit(conn, "signature", str(signature_id), row.account_id, actor,
                         ReviewState(row.state), f"qualification {row.qualification_id} -> "
                         f"{qualification_id}{letter}", now, "change_qualification")

    async def page_signatures(self, account_id: AccountId, offset: int,
                              limit: int) -> tuple[int, list[Signature]]:
        return await self._page(select(signatures).where(signatures.c.account_id == account_id)
                                .order_by(signatures.c.id), offset, limit, signature_of_row)

    async def review_signature(self, signature_id: int, state: ReviewState,
                               reason: str = "", now: datetime | None = None,
                               actor: str | None = None) -> Signature | None:
        """Set a signature's review state; an approval or rejection is reported to the
        account (SignSmsReport) in the same transaction, and an operator's decision (an
        `actor` given) is audited there too (`review_decisions`). A deleted signature stays
        deleted (docs/domain.md: deleted ones cannot be restored) and is returned as it is."""
        async with self._write() as conn:
            changed = await conn.execute(update(signatures).where(
                signatures.c.id == signature_id, signatures.c.state != ReviewState.DELETED)
                .values(state=state, reason=reason))
            row = (await conn.execute(select(signatures).where(
                signatures.c.id == signature_id))).first()
            if row is not None and changed.rowcount == 1 and actor is not None:
                await _audit(conn, "signature", str(row.id), row.account_id, actor, state,
                             reason, now)
            if row is not None and row.state != ReviewState.DELETED:
                await conn.run_sync(_report_review, row.account_id, SIGN_REPORT, {
                    "sign_name": row.name, "order_id": str(row.id)}, state, reason, now)
        return signature_of_row(row) if row else None

    # Templates

    async def create_template(self, account_id: AccountId, name: str, type_: TemplateType,
                              content: str, state: ReviewState, now: datetime,
                              remark: str = "", test: bool = False,
                              application: TemplateApplication = TemplateApplication(),
                              ) -> Template:
        async with self._write() as conn:
            while True:  # template codes are random; draw again on the rare clash
                code = TemplateCode(ids.new_template_code())
                taken = await conn.scalar(select(templates.c.code).where(templates.c.code == code))
                if not taken:
                    break
            await conn.execute(insert(templates).values(
                code=code, account_id=account_id, name=name, type=type_, content=content,
                state=state, reason="", created_at=now, remark=remark, test=test,
                **_application(application)))
        return Template(code, account_id, name, type_, content, state, "", now, test, remark,
                        application)

    async def template(self, account_id: AccountId, code: str) -> Template | None:
        return await self._one(select(templates).where(
            templates.c.account_id == account_id, templates.c.code == code), template_of_row)

    async def list_templates(self, account_id: AccountId | None = None) -> list[Template]:
        query = select(templates).order_by(templates.c.created_at, templates.c.code)
        if account_id is not None:
            query = query.where(templates.c.account_id == account_id)
        return await self._all(query, template_of_row)

    async def update_template(self, code: str, name: str, type_: TemplateType, content: str,
                              remark: str, application: TemplateApplication | None = None,
                              actor: str | None = None, now: datetime | None = None) -> None:
        """A tenant's change: the template goes back to review, audited as a resubmission
        when `actor` is given. Without `application` (ModifySmsTemplate) the related
        signature, variable attributes etc. stay."""
        more = _application(application) if application is not None else {}
        async with self._write() as conn:
            row = (await conn.execute(update(templates).where(templates.c.code == code).values(
                name=name, type=type_, content=content, remark=remark,
                state=ReviewState.PENDING, reason="", **more)
                .returning(templates.c.account_id))).first()
            if row is not None and actor is not None:
                await _audit(conn, "template", code, row.account_id, actor,
                             ReviewState.PENDING, "resubmitted for review", now, "resubmit")

    async def page_templates(self, account_id: AccountId, offset: int, limit: int,
                             state: ReviewState | None = None,
                             type_: TemplateType | None = None,
                             filters: TemplateFilters = TemplateFilters(),
                             ) -> tuple[int, list[Template]]:
        """The account's templates, oldest first, optionally only of one state and type and
        matching `filters`."""
        query = select(templates).where(templates.c.account_id == account_id)
        if state is not None:
            query = query.where(templates.c.state == state)
        if type_ is not None:
            query = query.where(templates.c.type == type_)
        if filters.sign_name is not None:
            query = query.where(templates.c.related_sign_name == filters.sign_name)
        if filters.code is not None:
            query = query.where(templates.c.code == filters.code)
        if filters.name_part is not None:
            query = query.where(templates.c.name.contains(filters.name_part, autoescape=True))
        if filters.usable is not None:
            usable = {UsableState.AVAILABLE: templates.c.state == ReviewState.APPROVED,
                      UsableState.UNAVAILABLE: templates.c.state != ReviewState.APPROVED,
                      UsableState.MISSING_SIGNATURE: templates.c.related_sign_name == ""}
            query = query.where(or_(false(), *(usable[u] for u in filters.usable
                                               if u in usable)))
        return await self._page(query.order_by(templates.c.created_at, templates.c.code),
                                offset, limit, template_of_row)

    async def review_template(self, code: str, state: ReviewState, reason: str = "",
                              now: datetime | None = None, actor: str | None = None,
                              ) -> Template | None:
        """Set a template's review state; an approval or rejection is reported to the
        account (TemplateSmsReport) in the same transaction, and an operator's decision (an
        `actor` given) is audited there too (`review_decisions`). A deleted template stays
        deleted and is returned as it is."""
        async with self._write() as conn:
            changed = await conn.execute(update(templates).where(
                templates.c.code == code, templates.c.state != ReviewState.DELETED)
                .values(state=state, reason=reason, **({} if state is ReviewState.DELETED else
                                                       {"reviewed_at": now or datetime.now(UTC)})))
            row = (await conn.execute(select(templates).where(templates.c.code == code))).first()
            if row is not None and changed.rowcount == 1 and actor is not None:
                await _audit(conn, "template", row.code, row.account_id, actor, state, reason,
                             now)
            if row is not None and row.state != ReviewState.DELETED:
                await conn.run_sync(_report_review, row.account_id, TEMPLATE_REPORT, {
                    "template_code": row.code, "template_name": row.name,
                    "template_type": row.type, "order_id": row.code}, state, reason, now)
        return template_of_row(row) if row else None

    async def review_decisions(self, kind: str, subject: str) -> list[ReviewDecision]:
        """Every audited decision on a signature (kind "signature", its id) or a template
        ("template", its code), the operator's and the tenant's, oldest first."""
        d = review_decisions.c
        return await self._all(select(review_decisions).where(
            d.kind == kind, d.subject == subject).order_by(d.id), lambda r: ReviewDecision(
                r.kind, r.subject, AccountId(r.account_id), r.actor, ReviewState(r.state),
                r.reason, r.at, r.action))

    async def last_review_at(self, kind: str, subject: str) -> datetime | None:
        """When the operator last approved or rejected the item (GetSmsSign's AuditDate),
        or None."""
        d = review_decisions.c
        async with self._read() as conn:
            found: datetime | None = await conn.scalar(select(d.at).where(
                d.kind == kind, d.subject == subject, d.action == "review",
                d.state.in_((ReviewState.APPROVED.value, ReviewState.REJECTED.value)))
                .order_by(d.id.desc()).limit(1))
        return found

    async def resubmitted_at(self, kind: str) -> dict[str, datetime]:
        """When each signature (kind "signature") or template ("template") was last sent
        back to review by its tenant, by subject: the review queue's "since"."""
        d = review_decisions.c
        async with self._read() as conn:
            rows = await conn.execute(select(d.subject, func.max(d.at)).where(
                d.kind == kind, d.action == "resubmit").group_by(d.subject))
            return {subject: at for subject, at in rows}

    # Helpers

    async def _one(self, query: Any, make: Callable[[Row[Any]], T]) -> T | None:
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        return make(row) if row else None

    async def _page(self, query: Any, offset: int, limit: int,
                    make: Callable[[Row[Any]], T]) -> tuple[int, list[T]]:
        async with self._read() as conn:
            total = await conn.scalar(select(func.count()).select_from(query.subquery()))
            rows = (await conn.execute(query.offset(offset).limit(limit))).all()
        return int(total or 0), [make(row) for row in rows]

    async def _all(self, query: Any, make: Callable[[Row[Any]], T]) -> list[T]:
        async with self._read() as conn:
            rows = (await conn.execute(query)).all()
        return [make(row) for row in rows]


__all__ = ["AsyncIterator", "CatalogueMixin"]
