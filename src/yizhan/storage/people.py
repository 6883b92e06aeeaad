"""The web console's people in the store (`domain/people.py`, docs/console.md "Access"):
users, server-side sessions, failed logins (the login's rate limit) and the audit of what
people did (logins, unmasked records).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.model import AccountId
from yizhan.domain.people import AuditEntry, ConsoleSession, ConsoleUser, Role
from yizhan.storage.tables import (
    console_audit,
    console_login_failures,
    console_sessions,
    console_users,
)


def _user(row: Any) -> ConsoleUser:
    return ConsoleUser(row.id, row.login, Role(row.role),
                       AccountId(row.account_id) if row.account_id is not None else None,
                       row.password_hash, bool(row.disabled), row.created_at)


class PeopleMixin:
    _write: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]

    async def create_console_user(self, login: str, password_hash: str, role: Role,
                                  account_id: AccountId | None, now: datetime) -> ConsoleUser:
        async with self._write() as conn:
            result = await conn.execute(insert(console_users).values(
                login=login, password_hash=password_hash, role=role.value,
                account_id=account_id, disabled=False, created_at=now))
        user_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return ConsoleUser(user_id, login, role, account_id, password_hash, False, now)

    async def console_user(self, login: str) -> ConsoleUser | None:
        async with self._read() as conn:
            row = (await conn.execute(select(console_users)
                                      .where(console_users.c.login == login))).first()
        return _user(row) if row is not None else None

    async def console_users(self, account_id: AccountId | None = None) -> list[ConsoleUser]:
        query = select(console_users).order_by(console_users.c.id)
        if account_id is not None:
            query = query.where(console_users.c.account_id == account_id)
        async with self._read() as conn:
            return [_user(r) for r in await conn.execute(query)]

    async def set_console_password(self, login: str, password_hash: str) -> bool:
        """Change a password; every session of the user ends."""
        async with self._write() as conn:
            changed = (await conn.execute(update(console_users)
                                          .where(console_users.c.login == login)
                                          .values(password_hash=password_hash))).rowcount
            await conn.execute(delete(console_sessions).where(
                console_sessions.c.user_id.in_(select(console_users.c.id)
                                               .where(console_users.c.login == login))))
        return bool(changed)

    async def set_console_disabled(self, login: str, disabled: bool) -> bool:
        """Disable (every session ends) or enable a user."""
        async with self._write() as conn:
            changed = (await conn.execute(update(console_users)
                                          .where(console_users.c.login == login)
                                          .values(disabled=disabled))).rowcount
            if disabled:
                await conn.execute(delete(console_sessions).where(
                    console_sessions.c.user_id.in_(select(console_users.c.id)
                                                   .where(console_users.c.login == login))))
        return bool(changed)

    # sessions

    async def open_console_session(self, token_hash: str, user_id: int, csrf: str,
                                   now: datetime, expires_at: datetime) -> None:
        async with self._write() as conn:
            await conn.execute(delete(console_sessions)
                               .where(console_sessions.c.expires_at <= now))
            await conn.execute(insert(console_sessions).values(
                token_hash=token_hash, user_id=user_id, csrf=csrf, created_at=now,
                expires_at=expires_at))

    async def console_session(self, token_hash: str, now: datetime) -> ConsoleSession | None:
        """The live session of a token's hash with its user (None: unknown, ended, or its
        user disabled)."""
        query = (select(console_sessions.c.token_hash, console_sessions.c.csrf,
                        console_sessions.c.expires_at, console_users)
                 .join(console_users, console_users.c.id == console_sessions.c.user_id)
                 .where(console_sessions.c.token_hash == token_hash,
                        console_sessions.c.expires_at > now,
                        console_users.c.disabled == False))  # noqa: E712
        async with self._read() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        return ConsoleSession(row.token_hash, _user(row), row.csrf, row.expires_at)

    async def close_console_session(self, token_hash: str) -> None:
        async with self._write() as conn:
            await conn.execute(delete(console_sessions)
                               .where(console_sessions.c.token_hash == token_hash))

    # the login's rate limit

    async def login_failures(self, login: str, client: str, since: datetime) -> tuple[int, int]:
        """Failed logins since `since`: (of this login, from this client address)."""
        recent = console_login_failures.c.at >= since
        async with self._read() as conn:
            by_login = await conn.scalar(select(func.count()).where(
                recent, console_login_failures.c.login == login))
            by_client = await conn.scalar(select(func.count()).where(
                recent, console_login_failures.c.client == client))
        return int(by_login or 0), int(by_client or 0)

    async def add_login_failure(self, login: str, client: str, now: datetime,
                                forget_before: datetime) -> None:
        """Count a failed login; those older than `forget_before` are forgotten."""
        async with self._write() as conn:
            await conn.execute(delete(console_login_failures)
                               .where(console_login_failures.c.at < forget_before))
            await conn.execute(insert(console_login_failures).values(
                login=login[:64], client=client[:64], at=now))

    async def clear_login_failures(self, login: str) -> None:
        async with self._write() as conn:
            await conn.execute(delete(console_login_failures)
                               .where(console_login_failures.c.login == login))

    # audit

    async def audit_console(self, user: ConsoleUser, account_id: AccountId | None,
                            action: str, subject: str, now: datetime) -> None:
        async with self._write() as conn:
            await conn.execute(insert(console_audit).values(
                at=now, user_id=user.id, login=user.login, account_id=account_id,
                action=action, subject=subject[:128]))

    async def console_audit(self, account_id: AccountId | None = None,
                            limit: int = 100) -> list[AuditEntry]:
        """The latest entries first: an account's (and its people's logins), or all."""
        query = select(console_audit).order_by(console_audit.c.id.desc()).limit(limit)
        if account_id is not None:
            query = query.where(console_audit.c.account_id == account_id)
        async with self._read() as conn:
            return [AuditEntry(r.at, r.login, AccountId(r.account_id)
                               if r.account_id is not None else None, r.action, r.subject)
                    for r in await conn.execute(query)]


__all__ = ["PeopleMixin"]
