"""Carrier registration rows, one per signature and sub-port (issue 16 point 3): filing
starts (and restarts) each sub-port, answers move one row, and the channels where the
carrier accepts a signature are what dispatch asks for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from yizhan.domain.model import ReviewState, SignatureScenario
from yizhan.domain.registration import Isp, RegistrationState, SubPort
from yizhan.storage.store import SqlStore

NOW = datetime(2026, 12, 7, 3, tzinfo=UTC)
DUE = NOW + timedelta(days=7)
PORTS = [SubPort(Isp.MOBILE, "cmcc", "10690017"), SubPort(Isp.UNICOM, "cucc", "10690027")]


async def test_filing_answering_and_refiling(store: SqlStore) -> None:
    account = await store.create_account("acme", NOW)
    sig = await store.create_signature(account.id, "驿站科技", SignatureScenario.GENERAL,
                                       ReviewState.APPROVED, NOW)
    rows = await store.file_sign_registrations(account.id, sig.id, PORTS, None, NOW, DUE)
    assert [(r.isp, r.channel, r.sub_port, r.state, r.reasons, r.due_at, r.sign_name)
            for r in rows] == [
        (Isp.MOBILE, "cmcc", "10690017", RegistrationState.REGISTERING, ("REGISTERING",),
         DUE, "驿站科技"),
        (Isp.UNICOM, "cucc", "10690027", RegistrationState.REGISTERING, ("REGISTERING",),
         DUE, "驿站科技")]
    assert await store.sign_registrations_in([RegistrationState.REGISTERING],
                                             due_by=NOW) == []
    due = await store.sign_registrations_in([RegistrationState.REGISTERING], due_by=DUE)
    assert [r.channel for r in due] == ["cmcc", "cucc"]

    later = NOW + timedelta(days=5)
    mobile = rows[0]
    assert await store.set_sign_registration(
        mobile.id, RegistrationState.AWAITING_VERIFICATION, ["DETECTING"], later,
        answered=True, expect=[RegistrationState.REGISTERING])
    assert not await store.set_sign_registration(  # answered already
        mobile.id, RegistrationState.FAILED, ["OTHERS_ERROR"], later,
        expect=[RegistrationState.REGISTERING])
    await store.count_sign_deliveries([mobile.id], 2, later)
    got = await store.sign_registration(mobile.id)
    assert got is not None
    assert (got.state, got.answered_at, got.deliveries) == (
        RegistrationState.AWAITING_VERIFICATION, later, 2)
    assert await store.registered_channels([(account.id, "驿站科技"), (account.id, "别的")]) == {
        (account.id, "驿站科技"): frozenset({"cmcc"})}

    # Filing again (a new qualification) starts every sub-port over, one row each.
    again = await store.file_sign_registrations(account.id, sig.id, PORTS, None, later,
                                                later + timedelta(days=7))
    assert [(r.state, r.deliveries, r.answered_at) for r in again] == [
        (RegistrationState.REGISTERING, 0, None)] * 2
    assert await store.registered_channels([(account.id, "驿站科技")]) == {}


async def test_the_sub_ports_a_carrier_accepts_are_those_answered_registered(
        store: SqlStore) -> None:
    account = await store.create_account("acme", NOW)
    sig = await store.create_signature(account.id, "驿站科技", SignatureScenario.GENERAL,
                                       ReviewState.APPROVED, NOW)
    rows = await store.file_sign_registrations(account.id, sig.id, PORTS, None, NOW, DUE)
    assert await store.usable_sub_ports() == set()
    await store.set_sign_registration(rows[0].id, RegistrationState.AWAITING_VERIFICATION,
                                      ["DETECTING"], NOW, answered=True)
    await store.set_sign_registration(rows[1].id, RegistrationState.FAILED,
                                      ["OTHERS_ERROR"], NOW, answered=True)
    assert await store.usable_sub_ports() == {("10690017", "驿站科技")}
    await store.set_sign_registration(rows[1].id, RegistrationState.REGISTERED, [], NOW)
    assert await store.usable_sub_ports() == {("10690017", "驿站科技"),
                                              ("10690027", "驿站科技")}
