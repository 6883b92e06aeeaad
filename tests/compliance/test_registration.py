"""Carrier registration, the platform's side (issue 16 point 3): what starting files or
holds, the sweeper handing filings to carriers and bringing their answers back, and every
transition the clock drives (overdue and timeout, verification by deliveries, lapse), on
the real store with the built-in channel plan (cmcc, cucc, ctcc)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from itertools import count
from pathlib import Path

import pytest

from tests.compliance.test_qualifications import DETAILS
from tests.conftest import ManualClock, eventually, fast_settings, start_running
from yizhan.app import registration_service
from yizhan.compliance.registration import (
    RegistrationService,
    RegistrationSettings,
    Started,
)
from yizhan.compliance.registration_sweeper import ManualRegistrar, RegistrationSweeper
from yizhan.dispatch.channel_file import load_plan
from yizhan.domain.errors import Refusal
from yizhan.domain.events import Receipt
from yizhan.domain.ids import IdGenerator
from yizhan.domain.model import (
    Message,
    MessageStatus,
    PhoneNumber,
    QualificationKind,
    ReviewState,
    Signature,
    SignatureScenario,
    TemplateCode,
    TemplateType,
)
from yizhan.domain.ports import Accepted, ReceiptUpdate, SubmitOutcome
from yizhan.domain.registration import (
    Answer,
    Filing,
    Isp,
    RegistrationState,
    SubPortRegistration,
    register_result,
)
from yizhan.storage.store import SqlStore

S = RegistrationState
ACTOR = "cli operator"
SETTINGS = RegistrationSettings(answer_days=7, verify_deliveries=3, lapse_days=180)
REMOTE = count(1)


class Carrier:
    """A registrar answering as the test tells it: the port's test double (no real carrier
    runs here). It keeps what it was handed and hands out the answers queued."""

    def __init__(self) -> None:
        self.filed: list[Filing] = []
        self.queued: list[Answer] = []

    async def file(self, filings: Sequence[Filing]) -> None:
        self.filed.extend(filings)

    async def answers(self) -> list[Answer]:
        given, self.queued = self.queued, []
        return given


def service(store: SqlStore, clock: ManualClock) -> RegistrationService:
    return RegistrationService(store, clock, load_plan(None), SETTINGS)


async def signature(store: SqlStore, clock: ManualClock, *, qualified: bool = True,
                    approved: bool = True, name: str = "驿站科技", **details: object,
                    ) -> Signature:
    """An account's signature, approved, bound to an approved (or `approved=False`:
    pending) qualification of `DETAILS` changed by `details`."""
    account = await store.account_by_name("acme") or await store.create_account(
        "acme", clock.now())
    qid = None
    if qualified:  # one qualification per signature (names are unique per account)
        details.setdefault("name", f"{DETAILS.name}{name}")
        q = await store.submit_qualification(account.id, replace(DETAILS, **details), ACTOR,
                                             clock.now())
        if approved:
            await store.review_qualification(q.id, ReviewState.APPROVED, "", ACTOR,
                                             clock.now())
        qid = q.id
    made = await store.create_signature(account.id, name, SignatureScenario.GENERAL,
                                        ReviewState.APPROVED, clock.now(),
                                        qualification_id=qid)
    return made


async def rows(store: SqlStore, sig: Signature) -> dict[str, SubPortRegistration]:
    return {r.channel: r for r in await store.sign_registrations(sig.id)}


def states(found: dict[str, SubPortRegistration]) -> dict[str, tuple[int, tuple[str, ...]]]:
    return {channel: (int(r.state), r.reasons) for channel, r in found.items()}


async def deliver(store: SqlStore, clock: ManualClock, sig: Signature, channel: str,
                  number: int, code: str = "DELIVRD") -> None:
    """`number` messages of the signature sent through `channel`, each answered `code`."""
    ids = IdGenerator()
    made = [Message.queued(id=ids.next_id(), biz_id=ids.biz_id(1), account_id=sig.account_id,
                           phone=PhoneNumber("+8613800138000"), sign_name=sig.name,
                           template_code=TemplateCode("SMS_100000001"),
                           template_type=TemplateType.NOTIFICATION, content="【驿站科技】hi",
                           segments=1, out_id="", created_at=clock.now())
            for _ in range(number)]
    await store.accept(made)
    claims, _ = await store.claim_dispatch(clock.now(), 100, timedelta(minutes=5))
    remote = {c.message.id: f"r{next(REMOTE)}" for c in claims}
    await store.finish_submits([SubmitOutcome(c, channel, Accepted(remote[c.message.id]))
                                for c in claims], clock.now())
    status = MessageStatus.SUCCESS if code == "DELIVRD" else MessageStatus.FAILED
    await store.store_receipts([ReceiptUpdate(Receipt(channel, r, code, clock.now()), status,
                                              code) for r in remote.values()], clock.now())


async def confirmed(store: SqlStore, clock: ManualClock, *channels: str,
                    ) -> tuple[Signature, RegistrationService]:
    """A signature filed everywhere, that the carriers of `channels` have confirmed."""
    sig = await signature(store, clock)
    registration = service(store, clock)
    await registration.start(sig, ACTOR)
    found = await rows(store, sig)
    for channel in channels:
        await registration.apply(Answer(found[channel].id, True))
    return sig, registration


# Starting: what is filed, what is held and why


async def test_an_approved_signature_is_filed_on_every_sub_port_with_its_company(
        store: SqlStore, clock: ManualClock) -> None:
    sig = await signature(store, clock)
    started = await service(store, clock).start(sig, ACTOR, "signature approved")
    assert isinstance(started, Started) and started.held is None
    found = await rows(store, sig)
    assert states(found) == {c: (-1, ("REGISTERING",)) for c in ("cmcc", "cucc", "ctcc")}
    cmcc = found["cmcc"]
    assert (cmcc.isp, cmcc.sub_port, cmcc.qualification_id) == (
        Isp.MOBILE, f"1069001{sig.id}", sig.qualification_id)
    assert (cmcc.requested_at, cmcc.due_at) == (clock.now(), clock.now() + timedelta(days=7))
    audit = await store.review_decisions("registration", str(sig.id))
    assert [(d.actor, d.reason.split(":")[0]) for d in audit] == [
        (ACTOR, "signature approved")]
    assert "filed on 3 sub-port(s) (cmcc, cucc, ctcc)" in audit[0].reason


@pytest.mark.parametrize(("case", "reason", "words"), [
    ("no qualification", "UNBINDING_QUA", ""),
    ("qualification pending", "BINDING_INCOMPLETE_QUA", "pending"),
    ("individual, own use", "BINDING_INCOMPLETE_QUA", "个人自用资质不能用于运营商实名制报备"),
    ("incomplete", "BINDING_INCOMPLETE_QUA", "OrganizationCode"),
])
async def test_a_signature_without_a_qualification_that_stands_is_held_not_filed(
        store: SqlStore, clock: ManualClock, case: str, reason: str, words: str) -> None:
    sig = await signature(store, clock, **{
        "no qualification": {"qualified": False},
        "qualification pending": {"approved": False},
        "individual, own use": {"kind": QualificationKind.PERSONAL, "for_self": True},
        "incomplete": {"organization_code": "91350100M000100Y44"},
    }[case])
    registration = service(store, clock)
    started = await registration.start(sig, ACTOR)
    assert isinstance(started, Started) and started.held == reason
    found = await rows(store, sig)
    assert states(found) == {c: (-2, (reason,)) for c in ("cmcc", "cucc", "ctcc")}
    assert all(words in r.detail and r.requested_at is None for r in found.values())
    if case == "individual, own use":  # said in both languages
        assert "own-use qualification cannot be registered" in found["cmcc"].detail
    carriers = await registration.carriers(sig)
    assert [(c.isp.value, int(c.state), c.reasons) for c in carriers] == [
        (isp, -2, (reason,)) for isp in ("mobile", "unicom", "telecom")]
    assert "not filed" in (await store.review_decisions("registration", str(sig.id)))[0].reason


async def test_only_an_approved_signature_is_registered(store: SqlStore,
                                                        clock: ManualClock) -> None:
    sig = await signature(store, clock)
    pending = replace(sig, state=ReviewState.PENDING)
    refused = await service(store, clock).start(pending, ACTOR)
    assert isinstance(refused, Refusal) and refused.code == "isv.SIGNATURE_NOT_APPROVED"
    assert await rows(store, sig) == {}
    assert await service(store, clock).on_approved(pending, ACTOR) is None
    unbound = await signature(store, clock, qualified=False, name="驿站云")
    assert await service(store, clock).on_approved(unbound, ACTOR) is None  # nothing to file
    assert await rows(store, unbound) == {}


async def test_a_new_qualification_and_a_re_approval_file_again(
        store: SqlStore, clock: ManualClock) -> None:
    sig = await signature(store, clock)
    registration = service(store, clock)
    await registration.on_approved(sig, ACTOR)
    first = await rows(store, sig)
    await store.set_sign_registration(first["cmcc"].id, S.FAILED, ["QUALIFICATION_ERROR"],
                                      clock.now(), answered=True)
    clock.advance(days=2)
    other = await store.submit_qualification(sig.account_id, replace(
        DETAILS, name="第二资质"), ACTOR, clock.now())
    approved = await store.review_qualification(other.id, ReviewState.APPROVED, "", ACTOR,
                                                clock.now())
    assert approved is not None
    await store.change_signature_qualification(sig.id, other.id, None, ACTOR, clock.now())
    moved = replace(sig, qualification_id=other.id)
    assert await registration.on_qualification_changed(moved, "account acme") is not None
    again = await rows(store, sig)
    assert {r.qualification_id for r in again.values()} == {other.id}
    assert states(again)["cmcc"] == (-1, ("REGISTERING",))
    assert again["cmcc"].id == first["cmcc"].id and again["cmcc"].requested_at == clock.now()

    clock.advance(days=1)
    refiled = await registration.on_qualification_approved(approved, ACTOR)
    assert [s.signature.name for s in refiled] == ["驿站科技"]
    assert {r.requested_at for r in (await rows(store, sig)).values()} == {clock.now()}
    reasons = [d.reason.split(":")[0]
               for d in await store.review_decisions("registration", str(sig.id))]
    assert reasons == ["signature approved", "qualification changed", "qualification approved"]


async def test_the_explicit_trigger_files_only_what_is_missing_failed_or_lapsed(
        store: SqlStore, clock: ManualClock) -> None:
    old = await signature(store, clock, name="驿站科技")
    unbound = await signature(store, clock, qualified=False, name="驿站云")
    registration = service(store, clock)
    await registration.start(old, ACTOR)
    found = await rows(store, old)
    await registration.apply(Answer(found["cmcc"].id, True))
    await registration.apply(Answer(found["cucc"].id, False, ("SIGNATURE_ERROR",)))
    clock.advance(days=1)

    done = await registration.register_all(old.account_id, ACTOR)
    assert [(s.signature.name, s.held, sorted(r.channel for r in s.filed)) for s in done] == [
        ("驿站科技", None, ["cucc"]), ("驿站云", "UNBINDING_QUA", ["cmcc", "ctcc", "cucc"])]
    after = await rows(store, old)
    assert states(after) == {"cmcc": (1, ("DETECTING",)), "cucc": (-1, ("REGISTERING",)),
                             "ctcc": (-1, ("REGISTERING",))}
    assert after["ctcc"].requested_at == found["ctcc"].requested_at  # left registering
    again = await registration.register_all(None, ACTOR)  # only the held one, held again
    assert [(s.signature.id, s.held) for s in again] == [(unbound.id, "UNBINDING_QUA")]

    # a qualification bound to the held signature: -2 becomes -1 on every sub-port
    await store.change_signature_qualification(unbound.id, old.qualification_id or 0, None,
                                               ACTOR, clock.now())
    bound = replace(unbound, qualification_id=old.qualification_id)
    assert await registration.on_qualification_changed(bound, "account acme") is not None
    assert states(await rows(store, unbound)) == {
        c: (-1, ("REGISTERING",)) for c in ("cmcc", "cucc", "ctcc")}


# The sweeper: filing, refiling after a restart, answers


async def test_the_sweeper_files_each_registration_once_and_again_after_a_restart(
        store: SqlStore, clock: ManualClock) -> None:
    sig = await signature(store, clock)
    registration = service(store, clock)
    await registration.start(sig, ACTOR)
    mobile, manual = Carrier(), Carrier()
    sweeper = RegistrationSweeper(registration, {"cmcc": mobile, "cucc": mobile}, manual)
    await sweeper.round()
    assert sorted(f.sub_port.channel for f in mobile.filed) == ["cmcc", "cucc"]
    assert [f.sub_port.channel for f in manual.filed] == ["ctcc"]  # a real carrier
    f = manual.filed[0]
    assert (f.sign_name, f.source, f.company, f.credit_code, f.legal_person, f.for_others) == (
        "驿站科技", "enterprise", DETAILS.company_name, DETAILS.organization_code, "张三", False)
    await sweeper.round()
    assert len(mobile.filed) == 2  # once per process

    restarted = RegistrationSweeper(registration, {"cmcc": mobile, "cucc": mobile}, manual)
    await restarted.round()
    assert len(mobile.filed) == 4 and len(manual.filed) == 2  # idempotent per id: again
    clock.advance(days=1)
    await registration.start(sig, ACTOR, "qualification changed")  # a new request time
    await restarted.round()
    assert len(mobile.filed) == 6


async def test_the_sweeper_walks_every_row_in_pages_and_files_in_batches(
        store: SqlStore, clock: ManualClock) -> None:
    registration = service(store, clock)
    for name in ("驿站科技", "驿站云"):
        await registration.start(await signature(store, clock, name=name), ACTOR)
    walked = [r.id async for r in registration.walk([S.REGISTERING], page=2)]
    assert len(walked) == 6 and walked == sorted(walked)
    carrier = Carrier()
    sweeper = RegistrationSweeper(registration, {}, carrier, batch=4)
    assert await sweeper.file() == 4
    assert await sweeper.file() == 2
    assert await sweeper.file() == 0
    assert sorted(f.registration_id for f in carrier.filed) == walked


async def test_answers_register_or_fail_each_sub_port_stamped(
        store: SqlStore, clock: ManualClock) -> None:
    sig = await signature(store, clock)
    registration = service(store, clock)
    await registration.start(sig, ACTOR)
    carrier = Carrier()
    sweeper = RegistrationSweeper(registration, {c: carrier for c in ("cmcc", "cucc", "ctcc")})
    await sweeper.round()
    ids = {f.sub_port.channel: f.registration_id for f in carrier.filed}
    clock.advance(days=5)
    carrier.queued = [Answer(ids["cmcc"], True),
                      Answer(ids["cucc"], False, ("QUALIFICATION_ERROR",),
                             "企业名称与工信部登记不一致"),
                      Answer(ids["ctcc"], False, ("MADE_UP",))]
    await sweeper.round()
    found = await rows(store, sig)
    assert states(found) == {"cmcc": (1, ("DETECTING",)),
                             "cucc": (0, ("QUALIFICATION_ERROR",)),
                             "ctcc": (0, ("OTHERS_ERROR",))}
    assert {r.answered_at for r in found.values()} == {clock.now()}
    assert found["cucc"].detail == "企业名称与工信部登记不一致"
    carrier.queued = [Answer(ids["cmcc"], False, ("SIGNATURE_ERROR",))]  # answered already
    await sweeper.round()
    assert states(await rows(store, sig))["cmcc"] == (1, ("DETECTING",))
    carriers = await registration.carriers(sig)
    assert [int(c.state) for c in carriers] == [1, 0, 0] and register_result(carriers) == 0


async def test_a_late_answer_to_an_earlier_request_is_not_taken_for_the_new_one(
        store: SqlStore, clock: ManualClock) -> None:
    """The carrier refused the first request; the tenant registered again; an answer that
    still names the first request (delivered late, or twice) leaves the new one waiting,
    and the answer to the new request is applied."""
    sig = await signature(store, clock)
    registration = service(store, clock)
    await registration.start(sig, ACTOR)
    carrier = Carrier()
    sweeper = RegistrationSweeper(registration, {c: carrier for c in ("cmcc", "cucc", "ctcc")})
    await sweeper.round()
    first = {f.sub_port.channel: f for f in carrier.filed}["cucc"]
    carrier.queued = [Answer(first.registration_id, False, ("OTHERS_ERROR",),
                             requested_at=first.requested_at)]
    await sweeper.round()
    clock.advance(hours=1)
    await registration.start(sig, ACTOR)  # the trigger: cucc is filed again
    await sweeper.round()
    second = [f for f in carrier.filed if f.sub_port.channel == "cucc"][-1]
    assert (second.registration_id, second.requested_at) == (first.registration_id,
                                                             clock.now())
    carrier.queued = [Answer(first.registration_id, False, ("OTHERS_ERROR",),
                             requested_at=first.requested_at)]
    await sweeper.round()
    assert states(await rows(store, sig))["cucc"] == (-1, ("REGISTERING",))
    carrier.queued = [Answer(second.registration_id, True, requested_at=second.requested_at)]
    await sweeper.round()
    assert states(await rows(store, sig))["cucc"] == (1, ("DETECTING",))


async def test_the_operator_records_a_real_carriers_answer(
        store: SqlStore, clock: ManualClock) -> None:
    sig = await signature(store, clock)
    registration = service(store, clock)
    await registration.start(sig, ACTOR)
    sweeper = RegistrationSweeper(registration, {}, ManualRegistrar())
    await sweeper.round()  # filed by hand: nothing answers
    assert states(await rows(store, sig))["ctcc"] == (-1, ("REGISTERING",))
    clock.advance(days=6)
    row = await registration.record_answer(sig, "ctcc", Answer(0, True), "cli ops")
    assert row is not None and (row.state, row.answered_at) == (
        S.AWAITING_VERIFICATION, clock.now())
    assert await registration.record_answer(sig, "ctcc", Answer(0, True), "cli ops") is None
    failed = await registration.record_answer(
        sig, "cucc", Answer(0, False, ("SIGNATURE_QUALIFICATION_ERROR",), "不是该企业"), "cli ops")
    assert failed is not None and failed.reasons == ("SIGNATURE_QUALIFICATION_ERROR",)
    audit = await store.review_decisions("registration", str(sig.id))
    assert [d.actor for d in audit][-2:] == ["cli ops", "cli ops"]
    assert "carrier answer on cucc" in audit[-1].reason and "不是该企业" in audit[-1].reason


# The clock's transitions


async def test_an_unanswered_registration_is_overdue_then_fails_a_period_later(
        store: SqlStore, clock: ManualClock) -> None:
    sig = await signature(store, clock)
    registration = service(store, clock)
    await registration.start(sig, ACTOR)
    due = (await rows(store, sig))["cmcc"].due_at
    clock.advance(days=7, hours=1)  # past due: overdue, still registering
    assert await registration.time_out() == 0
    assert states(await rows(store, sig))["cmcc"] == (-1, ("REGISTERING",))
    assert due is not None and due < clock.now()
    clock.advance(days=7)
    assert await registration.time_out() == 3
    found = await rows(store, sig)
    assert states(found)["cmcc"] == (0, ("REGISTER_TIMEOUT",))
    assert found["cmcc"].answered_at is None and "had not answered" in found["cmcc"].detail


async def test_deliveries_through_the_sub_ports_channel_verify_it(
        store: SqlStore, clock: ManualClock) -> None:
    sig = await signature(store, clock)
    registration = service(store, clock)
    await deliver(store, clock, sig, "cmcc", 2)  # before registration: not counted
    await registration.start(sig, ACTOR)
    found = await rows(store, sig)
    clock.advance(days=5)
    await registration.apply(Answer(found["cmcc"].id, True))
    clock.advance(minutes=1)
    await deliver(store, clock, sig, "cmcc", 2)
    await deliver(store, clock, sig, "cucc", 3)  # another channel's
    await deliver(store, clock, sig, "cmcc", 2, code="UNDELIV")  # not delivered
    assert await registration.verify() == 0
    cmcc = (await rows(store, sig))["cmcc"]
    assert (cmcc.state, cmcc.deliveries) == (S.AWAITING_VERIFICATION, 2)
    await deliver(store, clock, sig, "cmcc", 1)
    assert await registration.verify() == 1
    cmcc = (await rows(store, sig))["cmcc"]
    assert (cmcc.state, cmcc.reasons, cmcc.deliveries) == (S.REGISTERED, ("DETECT_SUCCESS",), 3)


async def test_six_months_without_a_send_lapse_it_and_the_trigger_files_it_again(
        store: SqlStore, clock: ManualClock) -> None:
    sig, registration = await confirmed(store, clock, "cmcc", "cucc")
    await deliver(store, clock, sig, "cmcc", 3)
    assert await registration.verify() == 1  # cmcc registered (3), cucc awaiting (1)
    clock.advance(days=100)
    await deliver(store, clock, sig, "cucc", 1)  # a send resets the six months
    clock.advance(days=81)  # 181 days after the answer, 81 after the send
    assert await registration.lapse() == 0
    clock.advance(days=100)
    assert await registration.lapse() == 2
    assert {c: s for c, s in states(await rows(store, sig)).items() if c != "ctcc"} == {
        "cmcc": (2, ("NO_SEND_RECORD",)), "cucc": (2, ("NO_SEND_RECORD",))}
    carriers = await registration.carriers(sig)
    assert [int(c.state) for c in carriers][:2] == [2, 2]
    started = await registration.start(sig, ACTOR, only_missing=True)
    assert isinstance(started, Started) and sorted(r.channel for r in started.filed) == [
        "cmcc", "cucc"]  # ctcc is still registering


async def test_the_sweeper_runs_the_lapse_at_most_every_lapse_every_seconds(
        store: SqlStore, clock: ManualClock) -> None:
    sig, registration = await confirmed(store, clock, "cmcc")
    sweeper = RegistrationSweeper(registration, {}, lapse_every=3600)
    await sweeper.round()
    clock._now += timedelta(days=181)  # the calendar moves; the sweeper's hour has not
    await sweeper.round()
    assert states(await rows(store, sig))["cmcc"] == (1, ("DETECTING",))
    clock.advance(hours=1)
    await sweeper.round()
    assert states(await rows(store, sig))["cmcc"] == (2, ("NO_SEND_RECORD",))


async def test_the_server_runs_the_sweeper_with_its_delivery_stages(
        store: SqlStore, tmp_path: Path) -> None:
    """`app.build` starts the sweeper with the pipeline: a registration nobody answers
    fails once the clock passes its due date by a whole answer period."""
    clock = ManualClock()
    async with start_running(store, tmp_path, clock,
                             registration_sweep_seconds=0.02) as running:
        sig = await signature(store, clock)
        await registration_service(fast_settings(tmp_path), store, clock).start(sig, ACTOR)
        clock.advance(days=14, minutes=1)

        async def timed_out() -> bool:
            return {r.state for r in await store.sign_registrations(sig.id)} == {S.FAILED}

        await eventually(timed_out, what="the sweeper's timeout")
        assert running.yz.settings.registration_sweep_seconds == 0.02
