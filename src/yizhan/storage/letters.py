"""Letters of authorization (委托授权书) in the SQL store (docs/compliance.md "Authorization
letters"). Queries take an account id and see that account's rows only."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Row, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.model import AccountId, AuthorizationLetter, LetterDetails, ReviewState
from yizhan.storage.tables import authorization_letters, signatures

LETTER_COLUMNS = ("name", "authorizing", "organization_code", "authorized", "valid",
                  "document")


def _letter(row: Row[Any]) -> AuthorizationLetter:
    details = LetterDetails(signs=tuple(orjson.loads(row.signs)),
                            **{c: getattr(row, c) for c in LETTER_COLUMNS})
    return AuthorizationLetter(row.id, AccountId(row.account_id), details, row.created_at)


class LettersMixin:
    _write: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]

    async def create_letter(self, account_id: AccountId, details: LetterDetails,
                            now: datetime) -> AuthorizationLetter | None:
        """Store the (checked) letter; None when the account has one of that name (created
        meanwhile by a concurrent request: the unique constraint decides)."""
        try:
            async with self._write() as conn:
                result = await conn.execute(insert(authorization_letters).values(
                    account_id=account_id, created_at=now,
                    signs=orjson.dumps(list(details.signs)).decode(),
                    **{c: getattr(details, c) for c in LETTER_COLUMNS}))
                new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        except IntegrityError:
            return None
        found = await self._letters(authorization_letters.c.id == new_id)
        return found[0]

    async def _letters(self, *where: ColumnElement[bool]) -> list[AuthorizationLetter]:
        async with self._read() as conn:
            rows = await conn.execute(select(authorization_letters).where(*where)
                                      .order_by(authorization_letters.c.id.desc()))
            return [_letter(r) for r in rows]

    async def letter_named(self, account_id: AccountId,
                           name: str) -> AuthorizationLetter | None:
        found = await self._letters(authorization_letters.c.account_id == account_id,
                                    authorization_letters.c.name == name)
        return found[0] if found else None

    async def letters(self, account_id: AccountId, where: Any) -> list[AuthorizationLetter]:
        """The account's letters, newest first. `where` is a
        `compliance.letters.LetterFilter`: ids and the credit code match exactly, a
        signature name is one of the letter's."""
        c = authorization_letters.c
        conditions: list[ColumnElement[bool]] = [c.account_id == account_id]
        if where.ids is not None:
            conditions.append(c.id.in_(where.ids))
        if where.organization_code:
            conditions.append(c.organization_code == where.organization_code)
        found = await self._letters(*conditions)
        if where.sign_name:
            found = [letter for letter in found if where.sign_name in letter.details.signs]
        return found

    async def approved_sign_names(self, account_id: AccountId) -> set[str]:
        """The names of the account's approved signatures (a letter's State follows them)."""
        async with self._read() as conn:
            rows = await conn.execute(select(signatures.c.name).where(
                signatures.c.account_id == account_id,
                signatures.c.state == ReviewState.APPROVED.value))
            return {r.name for r in rows}
