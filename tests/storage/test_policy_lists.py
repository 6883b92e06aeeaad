"""Keyword lists and international registrations in the store (SQLite and PostgreSQL)."""

from __future__ import annotations

from tests.conftest import ManualClock
from yizhan.domain.model import RegistrationKind
from yizhan.storage.store import SqlStore


async def test_platform_and_account_keyword_lists_are_separate(
        store: SqlStore, clock: ManualClock) -> None:
    acme = await store.create_account("acme", clock.now())
    assert await store.add_keywords(None, ["发票", "赌博", "发票"], clock.now()) == ["发票", "赌博"]
    assert await store.add_keywords(acme.id, ["博彩", "发票"], clock.now()) == ["博彩", "发票"]
    assert await store.add_keywords(None, ["赌博", "vpn"], clock.now()) == ["vpn"]
    assert await store.keywords(None) == ("vpn", "发票", "赌博")
    assert await store.keywords(acme.id) == ("博彩", "发票")
    assert await store.remove_keywords(None, ["发票", "nothing"]) == 1
    assert await store.keywords(None) == ("vpn", "赌博")
    assert await store.keywords(acme.id) == ("博彩", "发票")


async def test_registrations(store: SqlStore, clock: ManualClock) -> None:
    acme = await store.create_account("acme", clock.now())
    other = await store.create_account("other", clock.now())
    assert await store.add_registration(acme.id, "VN", RegistrationKind.SENDER_ID, "ACME",
                                        clock.now())
    assert not await store.add_registration(acme.id, "VN", RegistrationKind.SENDER_ID, "ACME",
                                            clock.now())
    assert await store.add_registration(acme.id, "US", RegistrationKind.TOLL_FREE,
                                        "+18005550100", clock.now())
    found = await store.registrations(acme.id)
    assert [(r.country, r.kind, r.value) for r in found] == [
        ("US", RegistrationKind.TOLL_FREE, "+18005550100"),
        ("VN", RegistrationKind.SENDER_ID, "ACME")]
    assert found[0].created_at == clock.now()
    assert await store.registrations(other.id) == ()
    assert await store.remove_registration(acme.id, "VN", RegistrationKind.SENDER_ID, "ACME")
    assert not await store.remove_registration(acme.id, "VN", RegistrationKind.SENDER_ID,
                                               "ACME")
    assert len(await store.registrations(acme.id)) == 1
