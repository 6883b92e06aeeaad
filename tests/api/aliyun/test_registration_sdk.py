"""A signature's carrier registration as the official v4 SDK reads it (issue 16 point 3):
GetSmsSign's SignIspRegisterDetailList (per carrier: OperatorCode, RegisterStatus,
RegisterStatusReasons with their descriptions, OperatorCompleteTime) and RegisterResult,
for every state; the registration restarting when ChangeSignatureQualification binds
another qualification; and the tenant's REST trigger (docs/compliance.md "Carrier
registration")."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tests.api.aliyun.sdk import Tenant
from tests.api.aliyun.test_signatures_sdk import qualification, sign
from tests.api.aliyun.uploads import with_documents
from tests.compliance.test_qualifications import DETAILS
from tests.conftest import Running, fast_settings
from yizhan.app import registration_service
from yizhan.compliance.registration import RegistrationService
from yizhan.domain.model import AccountId, QualificationKind, ReviewState, Signature
from yizhan.domain.registration import Answer, RegistrationState

S = RegistrationState
OPERATOR = "cli operator"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def demo(running: Running) -> Tenant:
    return await with_documents(Tenant(running, running.demo.key.id, running.demo.key.secret))


@pytest.fixture
def registration(running: Running, tmp_path: Path) -> RegistrationService:
    """The service as `yizhan signs approve|registration-answer` gets it."""
    return registration_service(fast_settings(tmp_path), running.yz.store, running.yz.clock)


async def approved(running: Running, name: str) -> Signature:
    """The operator approves the signature (`yizhan signs approve` does this, then starts
    its registration)."""
    store = running.yz.store
    found = await store.signature(AccountId(running.demo.account.id), name)
    assert found is not None
    sig = await store.review_signature(found.id, ReviewState.APPROVED, "", None, OPERATOR)
    assert sig is not None
    return sig


def carriers(body: dict[str, Any]) -> list[tuple[str, int, list[str]]]:
    return [(d["OperatorCode"], d["RegisterStatus"],
             [r["ReasonCode"] for r in d["RegisterStatusReasons"]])
            for d in body["SignIspRegisterDetailList"]]


async def test_not_registered_for_want_of_a_qualification_or_with_an_unusable_one(
        running: Running, demo: Tenant, registration: RegistrationService) -> None:
    assert (await demo.call("AddSmsSign", SignName="驿站云", SignSource=2, Remark="x")).code \
        == "OK"
    sig = await approved(running, "驿站云")
    assert await registration.on_approved(sig, OPERATOR) is None  # nothing to file
    assert (await registration.start(sig, OPERATOR)).held == "UNBINDING_QUA"  # type: ignore
    got = (await demo.call("GetSmsSign", SignName="驿站云")).body
    assert carriers(got) == [(isp, -2, ["UNBINDING_QUA"])
                             for isp in ("mobile", "unicom", "telecom")]
    assert got["RegisterResult"] == -1
    assert got["SignIspRegisterDetailList"][0]["RegisterStatusReasons"][0][
        "ReasonDescList"] == ["the signature has no qualification bound"]

    # an individual's own-use qualification, bound before the rules (the store, as old
    # data holds it): held with its explanation in both languages
    store = running.yz.store
    account = AccountId(running.demo.account.id)
    q = await store.submit_qualification(account, replace(
        DETAILS, kind=QualificationKind.PERSONAL, for_self=True), OPERATOR,
        running.yz.clock.now())
    await store.review_qualification(q.id, ReviewState.APPROVED, "", OPERATOR,
                                     running.yz.clock.now())
    await store.change_signature_qualification(sig.id, q.id, None, OPERATOR,
                                               running.yz.clock.now())
    await registration.on_qualification_changed(replace(sig, qualification_id=q.id),
                                                OPERATOR)
    got = (await demo.call("GetSmsSign", SignName="驿站云")).body
    assert carriers(got)[0] == ("mobile", -2, ["BINDING_INCOMPLETE_QUA"])
    texts = got["SignIspRegisterDetailList"][0]["RegisterStatusReasons"][0]["ReasonDescList"]
    assert texts[0] == "the bound qualification is incomplete"
    assert "个人自用资质" in texts[1] and "own-use qualification cannot be registered" in texts[1]


async def test_every_state_as_the_sdk_reads_it(
        running: Running, demo: Tenant, registration: RegistrationService) -> None:
    group = await qualification(running, demo)
    assert (await demo.call("CreateSmsSign", **sign(QualificationId=group))).code == "OK"
    sig = await approved(running, "驿站科技")
    assert await registration.on_approved(sig, OPERATOR) is not None
    got = (await demo.call("GetSmsSign", SignName="驿站科技")).body
    assert carriers(got) == [(isp, -1, ["REGISTERING"]) for isp in ("mobile", "unicom",
                                                                     "telecom")]
    assert got["SignIspRegisterDetailList"][0]["OperatorCompleteTime"] == ""
    assert got["RegisterResult"] == -1

    await registration.record_answer(sig, "cmcc", Answer(
        0, False, ("QUALIFICATION_ERROR",), "企业名称与工信部登记信息不一致"), OPERATOR)
    await registration.record_answer(sig, "cucc", Answer(0, True), OPERATOR)
    await registration.record_answer(sig, "ctcc", Answer(0, True), OPERATOR)
    got = (await demo.call("GetSmsSign", SignName="驿站科技")).body
    assert carriers(got) == [("mobile", 0, ["QUALIFICATION_ERROR"]),
                             ("unicom", 1, ["DETECTING"]), ("telecom", 1, ["DETECTING"])]
    mobile = got["SignIspRegisterDetailList"][0]
    assert mobile["RegisterStatusReasons"][0]["ReasonDescList"] == [
        "the qualification does not match the company records", "企业名称与工信部登记信息不一致"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", mobile["OperatorCompleteTime"])
    assert got["RegisterResult"] == 0

    store = running.yz.store
    rows = {r.channel: r for r in await store.sign_registrations(sig.id)}
    now = running.yz.clock.now()
    await store.set_sign_registration(rows["ctcc"].id, S.REGISTERED, ["DETECT_SUCCESS"], now)
    await store.set_sign_registration(rows["cmcc"].id, S.LAPSED, ["NO_SEND_RECORD"], now)
    got = (await demo.call("GetSmsSign", SignName="驿站科技")).body
    assert carriers(got) == [("mobile", 2, ["NO_SEND_RECORD"]), ("unicom", 1, ["DETECTING"]),
                             ("telecom", 3, ["DETECT_SUCCESS"])]
    assert got["RegisterResult"] == 2
    await store.set_sign_registration(rows["cmcc"].id, S.REGISTERED, ["DETECT_SUCCESS"], now)
    got = (await demo.call("GetSmsSign", SignName="驿站科技")).body
    assert [c[1] for c in carriers(got)] == [3, 1, 3] and got["RegisterResult"] == 1


async def test_a_new_qualification_files_again_and_the_tenant_triggers_by_rest(
        running: Running, demo: Tenant, registration: RegistrationService) -> None:
    first = await qualification(running, demo)
    second = await qualification(running, demo, QualificationName="第二资质",
                                 CompanyName="驿站科技（上海）有限公司")
    assert (await demo.call("CreateSmsSign", **sign(QualificationId=first))).code == "OK"
    pending = await running.client.post("/v1/signatures/驿站科技/registration")
    assert (pending.status_code, pending.json()["code"]) == (409, "isv.SIGNATURE_NOT_APPROVED")
    sig = await approved(running, "驿站科技")
    await registration.on_approved(sig, OPERATOR)
    await registration.record_answer(sig, "cmcc", Answer(0, False, ("SIGNATURE_ERROR",)),
                                     OPERATOR)

    changed = await demo.call("ChangeSignatureQualification", SignatureName="驿站科技",
                              QualificationId=second)
    assert changed.code == "OK"
    store = running.yz.store
    rows = await store.sign_registrations(sig.id)
    assert {(r.state, r.qualification_id) for r in rows} == {(S.REGISTERING, second)}
    audit = await store.review_decisions("registration", str(sig.id))
    assert audit[-1].actor == "account demo" and "qualification changed" in audit[-1].reason

    await registration.record_answer(sig, "cucc", Answer(0, False, ("OTHERS_ERROR",)),
                                     OPERATOR)
    triggered = await running.client.post("/v1/signatures/驿站科技/registration")
    body = triggered.json()
    assert (triggered.status_code, body["code"], body["filed"], body["held"]) == (
        200, "OK", ["cucc"], None)
    assert [(c["carrier"], c["state"]) for c in body["carriers"]] == [
        ("mobile", -1), ("unicom", -1), ("telecom", -1)]
    assert body["carriers"][1]["sub_ports"][0]["channel"] == "cucc"
    assert (await store.review_decisions("registration", str(sig.id)))[-1].actor.startswith(
        "api key ")
    shown = await running.client.get("/v1/signatures/驿站科技/registration")
    assert shown.json()["carriers"] == body["carriers"]
    missing = await running.client.get("/v1/signatures/无此签名/registration")
    assert missing.json()["code"] == "isv.SMS_SIGNATURE_ILLEGAL"
