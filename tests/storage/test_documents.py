"""Uploaded documents in the store (storage/documents.py) and migration 0025: documents
recorded once per key and account; qualification names unique per account at the database,
a deleted one's name free again; rows that already repeated a name renamed, not failing the
upgrade."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

from tests.compliance.test_qualifications import DETAILS
from yizhan.domain.model import AccountId, ReviewState
from yizhan.storage import migrate
from yizhan.storage.engine import create_engine
from yizhan.storage.store import SqlStore
from yizhan.storage.tables import accounts, qualifications

NOW = datetime(2026, 12, 7, 3, tzinfo=UTC)


async def test_a_key_is_recorded_once_per_account(store: SqlStore) -> None:
    one = await store.create_account("one", NOW)
    two = await store.create_account("two", NOW)
    key = f"qualification/{one.id}/a.jpg"
    assert await store.record_document(AccountId(one.id), key, "f1.jpg", 10, "image/jpeg",
                                       "0" * 64, NOW)
    assert not await store.record_document(AccountId(one.id), key, "f2.jpg", 10,
                                           "image/jpeg", "0" * 64, NOW)
    assert await store.documents_uploaded(AccountId(one.id), [key, "x.jpg"]) == {key}
    assert await store.documents_uploaded(AccountId(two.id), [key]) == set()
    found = await store.document(AccountId(one.id), key)
    assert found is not None and (found.file, found.size) == ("f1.jpg", 10)
    assert await store.document(AccountId(two.id), key) is None


async def test_names_are_unique_among_qualifications_not_deleted(store: SqlStore) -> None:
    account = await store.create_account("acme", NOW)
    first = await store.submit_qualification(account.id, DETAILS, "account acme", NOW)
    assert first is not None
    # what a concurrent request meets after its own check passed: the index decides
    assert await store.submit_qualification(account.id, DETAILS, "account acme", NOW) is None
    other = await store.create_account("other", NOW)
    assert await store.submit_qualification(other.id, DETAILS, "account other", NOW)
    await store.delete_qualification(first.id, "account acme", NOW)
    again = await store.submit_qualification(account.id, DETAILS, "account acme", NOW)
    assert again is not None and again.id != first.id


async def test_the_migration_renames_names_repeated_before_it(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    try:
        await migrate.upgrade(engine, "0023_signature_letter")
        async with engine.begin() as conn:
            account = (await conn.execute(insert(accounts).values(
                name="acme", status="active", created_at=NOW))).inserted_primary_key[0]
            for name, state in (("资质", "approved"), ("资质", "pending"), ("资质", "deleted"),
                                ("资质", "rejected"), ("其他", "pending")):
                await conn.execute(insert(qualifications).values(
                    account_id=account, name=name, kind="enterprise", use="self",
                    state=state, reason="", created_at=NOW))
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            rows = (await conn.execute(select(qualifications.c.id, qualifications.c.name)
                                       .order_by(qualifications.c.id))).all()
        assert [name for _, name in rows] == ["资质", "资质_2", "资质", "资质_4", "其他"]
    finally:
        await engine.dispose()
    assert ReviewState.DELETED.value == "deleted"  # the index's condition names this value
