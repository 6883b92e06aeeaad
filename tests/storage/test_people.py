"""The console's people in the store (storage/people.py): sessions end at their time, with
their user's password change or disabling, and at logout; failed logins are counted per
login and per address within a window."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import ManualClock
from yizhan.domain.people import Role
from yizhan.runtime import passwords
from yizhan.storage.store import SqlStore


async def test_a_session_lives_until_its_end_or_its_logout(store: SqlStore,
                                                           clock: ManualClock) -> None:
    account = await store.create_account("acme", clock.now())
    user = await store.create_console_user("ann", passwords.hash_password("a long secret"),
                                           Role.TENANT_ADMIN, account.id, clock.now())
    await store.open_console_session("h1", user.id, "csrf1", clock.now(),
                                     clock.now() + timedelta(hours=12))
    found = await store.console_session("h1", clock.now())
    assert found is not None and found.user.login == "ann" and found.csrf == "csrf1"
    assert found.user.account_id == account.id and found.user.role is Role.TENANT_ADMIN
    assert await store.console_session("h2", clock.now()) is None
    clock.advance(hours=12)
    assert await store.console_session("h1", clock.now()) is None  # ended
    await store.open_console_session("h3", user.id, "csrf3", clock.now(),
                                     clock.now() + timedelta(hours=12))
    await store.close_console_session("h3")
    assert await store.console_session("h3", clock.now()) is None


async def test_a_new_password_or_disabling_ends_every_session(store: SqlStore,
                                                              clock: ManualClock) -> None:
    user = await store.create_console_user("ops", passwords.hash_password("a long secret"),
                                           Role.OPERATOR, None, clock.now())
    end = clock.now() + timedelta(hours=1)
    await store.open_console_session("a", user.id, "c", clock.now(), end)
    assert await store.set_console_password("ops", passwords.hash_password("another one!"))
    assert await store.console_session("a", clock.now()) is None
    await store.open_console_session("b", user.id, "c", clock.now(), end)
    assert await store.set_console_disabled("ops", True)
    assert await store.console_session("b", clock.now()) is None
    assert not await store.set_console_password("nobody", "x")
    found = await store.console_user("ops")
    assert found is not None and found.disabled
    assert passwords.verify(found.password_hash, "another one!")


async def test_failed_logins_are_counted_within_their_window(store: SqlStore,
                                                             clock: ManualClock) -> None:
    window = timedelta(minutes=15)
    for login, client in (("ann", "10.0.0.1"), ("ann", "10.0.0.2"), ("bob", "10.0.0.1")):
        await store.add_login_failure(login, client, clock.now(), clock.now() - window)
    assert await store.login_failures("ann", "10.0.0.1", clock.now() - window) == (2, 2)
    clock.advance(minutes=16)
    assert await store.login_failures("ann", "10.0.0.1", clock.now() - window) == (0, 0)
    await store.add_login_failure("ann", "10.0.0.1", clock.now(), clock.now() - window)
    await store.clear_login_failures("ann")
    assert await store.login_failures("ann", "10.0.0.1", clock.now() - window) == (0, 0)
