"""Uploaded documents of qualifications and letters: the files in the data folder and their
record in the store (docs/compliance.md "Document uploads").

Files live in `<data>/uploads/<account id>/` under a random name (never the key the tenant
chose, so no key reaches the file system as a path), folders 0700 and files 0600. An upload
is received into `<data>/uploads/incoming/` and moved into the account's folder only once
its signature, size and type passed (`api/aliyun/uploads.py`), then recorded.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable, Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from yizhan.domain.model import AccountId
from yizhan.storage.tables import qualification_documents


@dataclass(frozen=True, slots=True)
class Document:
    """An uploaded document, as recorded."""

    id: int
    account_id: AccountId
    key: str
    file: str
    """The file's name in the account's folder."""
    size: int
    content_type: str
    sha256: str
    uploaded_at: datetime


UPLOADS = "uploads"
INCOMING = "incoming"


def _folder(path: Path) -> Path:
    """`path` and its parent (the uploads folder) made 0700 if missing or looser."""
    for folder in (path.parent, path):
        folder.mkdir(mode=0o700, exist_ok=True)
        if stat.S_IMODE(folder.stat().st_mode) != 0o700:
            folder.chmod(0o700)
    return path


class DocumentFolder:
    """The uploaded files under `<data>/uploads` (`compliance.documents.DocumentFiles`)."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / UPLOADS

    def incoming(self) -> Path:
        path = _folder(self.root / INCOMING) / secrets.token_hex(16)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        return path

    def keep(self, incoming: Path, account_id: AccountId, suffix: str) -> str:
        name = secrets.token_hex(16) + suffix
        os.replace(incoming, _folder(self.root / str(int(account_id))) / name)
        return name

    def discard(self, incoming: Path) -> None:
        incoming.unlink(missing_ok=True)

    def drop(self, account_id: AccountId, name: str) -> None:
        (self.root / str(int(account_id)) / name).unlink(missing_ok=True)

    def path(self, document: Document) -> Path:
        """The file of a recorded document."""
        return self.kept(document.account_id, document.file)

    def kept(self, account_id: AccountId, name: str) -> Path:
        return self.root / str(int(account_id)) / name


class DocumentsMixin:
    _write: Callable[[], AbstractAsyncContextManager[AsyncConnection]]
    _read: Callable[[], AbstractAsyncContextManager[AsyncConnection]]

    async def record_document(self, account_id: AccountId, key: str, file: str, size: int,
                              content_type: str, sha256: str, now: datetime) -> bool:
        try:
            async with self._write() as conn:
                await conn.execute(insert(qualification_documents).values(
                    account_id=account_id, key=key, file=file, size=size,
                    content_type=content_type, sha256=sha256, uploaded_at=now))
        except IntegrityError:  # the key was written already (or meanwhile)
            return False
        return True

    async def documents_uploaded(self, account_id: AccountId,
                                 keys: Collection[str]) -> set[str]:
        if not keys:
            return set()
        d = qualification_documents.c
        async with self._read() as conn:
            rows = await conn.execute(select(d.key).where(d.account_id == account_id,
                                                          d.key.in_(list(keys))))
            return {r.key for r in rows}

    async def document(self, account_id: AccountId, key: str) -> Document | None:
        """The account's document of `key` (the operator's review reads it)."""
        d = qualification_documents.c
        async with self._read() as conn:
            row = (await conn.execute(select(qualification_documents).where(
                d.account_id == account_id, d.key == key))).first()
        if row is None:
            return None
        return Document(row.id, AccountId(row.account_id), row.key, row.file, row.size,
                        row.content_type, row.sha256, row.uploaded_at)
