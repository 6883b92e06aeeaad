"""Qualifications (资质) through the official v4 SDK against a running Yizhan, on both stores:
submit, list, query one, update, the operator's decision (what `yizhan qualifications
approve|reject` runs), delete, the refusals, and one account never seeing another's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import update

from tests.api.aliyun.sdk import Tenant
from tests.api.aliyun.uploads import with_documents
from tests.conftest import Running
from yizhan.cli.qualifications import decide
from yizhan.domain.model import AccountId, ReviewState, SignatureScenario
from yizhan.storage.tables import signatures

CREDIT_CODE = "91350100M000100Y43"
ID_CARD = "11010519491231002X"


DOCUMENT_FIELDS = ("AdminIDCardFrontFace", "AdminIDCardPic", "LegalPersonIdCardFrontSide",
                   "LegalPersonIdCardBackSide")


def submission(tenant: Tenant | None = None, **more: Any) -> dict[str, Any]:
    """A complete SubmitSmsQualification; bare file names of documents name the tenant's
    uploaded ones (`Tenant.doc`)."""
    given = _submission(**more)
    if tenant is not None:
        for name in DOCUMENT_FIELDS:
            if isinstance(given.get(name), str):
                given[name] = tenant.doc(given[name])
        given["BusinessLicensePics"] = [{**item, "LicensePic": tenant.doc(item["LicensePic"])}
                                        for item in given.get("BusinessLicensePics") or ()]
    return given


def _submission(**more: Any) -> dict[str, Any]:
    return {
        "QualificationName": "驿站科技资质", "CompanyName": "驿站科技（杭州）有限公司",
        "CompanyType": "COMPANY", "OrganizationCode": CREDIT_CODE,
        "BussinessLicenseExpDate": "2020-01-01~2099-12-31",
        "LegalPersonName": "张三", "LegalPersonIDCardType": "identityCard",
        "LegalPersonIDCardNo": ID_CARD, "LegalPersonIdCardEffTime": "2015-01-01~2035-01-01",
        "AdminName": "李四", "AdminIDCardType": "passport", "AdminIDCardNo": "E12345678",
        "AdminIDCardExpDate": "2020-05-01~2030-05-01", "AdminPhoneNo": "+8613800138000",
        "AdminIDCardFrontFace": "admin_front.jpg", "AdminIDCardPic": "admin_back.png",
        "CertifyCode": "123456", "UseBySelf": True, "WhetherShare": False,
        "Remark": "our own brand", **more}


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def flavour() -> str:
    """The v4 SDK's default signing; the whole path runs with HMAC-SHA1 (v4-v1) too. The
    legacy SDK has no qualification actions."""
    return "v4-acs3"


@pytest.fixture
async def tenants(running: Running, flavour: str) -> AsyncIterator[tuple[Tenant, Tenant]]:
    store = running.yz.store
    other = await store.create_account("other", running.demo.account.created_at)
    key = await store.create_access_key(other.id, other.created_at)
    yield (await with_documents(Tenant(running, running.demo.key.id, running.demo.key.secret,
                                       flavour)),
           await with_documents(Tenant(running, key.id, key.secret, flavour)))


@pytest.mark.parametrize("flavour", ["v4-acs3", "v4-v1"])
async def test_submit_query_update_review_delete(running: Running,
                                                 tenants: tuple[Tenant, Tenant]) -> None:
    demo, _ = tenants
    store = running.yz.store
    submitted = await demo.call("SubmitSmsQualification", **submission(demo))
    assert (submitted.code, submitted.body["Success"]) == ("OK", True)
    group = int(submitted.body["Data"])

    listed = await demo.call("QuerySmsQualificationRecord", PageNo=1, PageSize=10)
    assert listed.body["Data"]["Total"] == 1
    row = listed.body["Data"]["List"][0]
    assert (row["GroupId"], row["QualificationGroupName"], row["StateName"],
            row["UseBySelf"], row["LegalPersonName"]) == (group, "驿站科技资质", "INIT", "true",
                                                          "张三")
    order = row["WorkOrderId"]

    single = await demo.call("QuerySingleSmsQualification", QualificationGroupId=group)
    data = single.body["Data"]
    assert (data["State"], data["WorkOrderId"], data["OrganizationCode"], data["AdminPhoneNo"],
            data["AdminIDCardFrontFace"], data["UseBySelf"]) == (
        "INT", order, CREDIT_CODE, "13800138000", demo.doc("admin_front.jpg"), True)

    updated = await demo.call("UpdateSmsQualification", QualificationGroupId=group,
                              OrderId=order, AdminPhoneNo="13900139000", CertifyCode="1",
                              CompanyName="驿站科技（杭州）股份有限公司")
    assert updated.code == "OK"
    single = (await demo.call("QuerySingleSmsQualification", QualificationGroupId=group)).body
    new_order = single["Data"]["WorkOrderId"]
    assert new_order != order and single["Data"]["State"] == "INT"
    assert (single["Data"]["CompanyName"], single["Data"]["AdminPhoneNo"]) == (
        "驿站科技（杭州）股份有限公司", "13900139000")
    stale = await demo.call("UpdateSmsQualification", QualificationGroupId=group,
                            OrderId=order, AdminPhoneNo="13900139000", CertifyCode="1")
    assert stale.code == "isv.QUALIFICATION_NOT_EXIST"

    # the operator's review, as `yizhan qualifications approve` runs it
    await decide(store, group, ReviewState.APPROVED, "资料齐全", "cli operator")
    single = (await demo.call("QuerySingleSmsQualification", QualificationGroupId=group)).body
    assert single["Data"]["State"] == "PASSED"
    listed = await demo.call("QuerySmsQualificationRecord", State="PASS")
    row = listed.body["Data"]["List"][0]
    assert (row["StateName"], row["AuditRemark"]) == ("PASS", "资料齐全") and row["AuditTime"]
    assert (await demo.call("QuerySmsQualificationRecord", State="INIT")).body["Data"][
        "Total"] == 0
    steps = [(d.actor, d.state, d.reason) for d in await store.qualification_decisions(group)]
    assert steps == [("account demo", ReviewState.PENDING, "submitted"),
                     ("account demo", ReviewState.PENDING, "updated"),
                     ("cli operator", ReviewState.APPROVED, "资料齐全")]

    # its company now decides enterprise-name signatures (docs/compliance.md)
    assert (await demo.call("AddSmsSign", SignName="阿里", SignSource=0,
                            Remark="x")).code == "isv.SMS_SIGN_COMPANY_MISMATCH"
    assert (await demo.call("AddSmsSign", SignName="杭州", SignSource=0,
                            Remark="x")).code == "OK"

    approved = await demo.call("UpdateSmsQualification", QualificationGroupId=group,
                               OrderId=new_order, AdminPhoneNo="13900139000", CertifyCode="1")
    assert approved.code == "isv.QUALIFICATION_STATE_ILLEGAL"

    # a signature using it blocks the deletion
    signature = await store.create_signature(AccountId(running.demo.account.id), "驿站科技",
                                             SignatureScenario.GENERAL, ReviewState.APPROVED,
                                             running.demo.account.created_at)
    async with store.engine.begin() as conn:
        await conn.execute(update(signatures).where(signatures.c.id == signature.id)
                           .values(qualification_id=group))
    in_use = await demo.call("DeleteSmsQualification", QualificationGroupId=group,
                             OrderId=new_order)
    assert in_use.code == "isv.QUALIFICATION_IN_USE"
    await store.review_signature(signature.id, ReviewState.DELETED, "gone")
    deleted = await demo.call("DeleteSmsQualification", QualificationGroupId=group,
                              OrderId=new_order)
    assert (deleted.code, deleted.body["Data"]) == ("OK", True)
    gone = await demo.call("QuerySingleSmsQualification", QualificationGroupId=group)
    assert gone.code == "isv.QUALIFICATION_NOT_EXIST"
    assert (await demo.call("QuerySmsQualificationRecord")).body["Data"]["Total"] == 0


async def test_rejection_reason_and_resubmission(running: Running,
                                                 tenants: tuple[Tenant, Tenant]) -> None:
    demo, _ = tenants
    group = int((await demo.call("SubmitSmsQualification", **submission(demo))).body["Data"])
    await decide(running.yz.store, group, ReviewState.REJECTED, "营业执照模糊", "cli op")
    row = (await demo.call("QuerySmsQualificationRecord", State="NOT_PASS")).body["Data"][
        "List"][0]
    assert (row["StateName"], row["AuditRemark"]) == ("NOT_PASS", "营业执照模糊")
    single = (await demo.call("QuerySingleSmsQualification", QualificationGroupId=group)).body
    assert single["Data"]["State"] == "FAILED"
    again = await demo.call("UpdateSmsQualification", QualificationGroupId=group,
                            OrderId=row["WorkOrderId"], AdminPhoneNo="13800138000",
                            CertifyCode="1", BusinessLicensePics=[
                                {"LicensePic": demo.doc("license.jpg"), "Type": "businessLicense"}])
    assert again.code == "OK"
    single = (await demo.call("QuerySingleSmsQualification", QualificationGroupId=group)).body
    assert single["Data"]["State"] == "INT"
    assert single["Data"]["BusinessLicensePics"] == [
        {"LicensePic": demo.doc("license.jpg"), "PicUrl": demo.doc("license.jpg"),
         "Type": "businessLicense"}]


@pytest.mark.parametrize(("params", "code", "says"), [
    ({"QualificationName": None}, "MissingParameter", "QualificationName"),
    ({"CertifyCode": None}, "MissingParameter", "CertifyCode"),
    ({"OrganizationCode": "91350100M000100Y44"}, "isv.QUALIFICATION_INVALID",
     "OrganizationCode"),
    ({"LegalPersonIDCardNo": "110105194912310021"}, "isv.QUALIFICATION_INVALID",
     "LegalPersonIDCardNo"),
    ({"CompanyType": "SHOP"}, "isv.QUALIFICATION_INVALID", "CompanyType"),
    ({"CompanyName": "驿站科技!"}, "isv.QUALIFICATION_INVALID", "CompanyName"),
    ({"AdminPhoneNo": "12345"}, "isv.QUALIFICATION_INVALID", "AdminPhoneNo"),
    ({"BussinessLicenseExpDate": "2030-01-01~2020-01-01"}, "isv.QUALIFICATION_INVALID",
     "BussinessLicenseExpDate"),
    ({"AdminIDCardPic": "照片.jpg"}, "isv.QUALIFICATION_INVALID", "照片.jpg"),
    ({"AdminIDCardPic": "docs/back.exe"}, "isv.QUALIFICATION_INVALID", "docs/back.exe"),
    ({"UseBySelf": False}, "isv.QUALIFICATION_INVALID", "BusinessLicensePics"),
    ({"QualificationName": "12345"}, "isv.QUALIFICATION_INVALID", "QualificationName"),
])
async def test_submission_refusals(tenants: tuple[Tenant, Tenant], params: dict[str, Any],
                                   code: str, says: str) -> None:
    demo, _ = tenants
    given = {k: v for k, v in submission(demo, **params).items() if v is not None}
    refused = await demo.call("SubmitSmsQualification", **given)
    assert refused.code == code and says in refused.message
    assert (await demo.call("QuerySmsQualificationRecord")).body["Data"]["Total"] == 0


async def test_names_are_unique_and_other_accounts_see_nothing(
        tenants: tuple[Tenant, Tenant]) -> None:
    demo, other = tenants
    group = int((await demo.call("SubmitSmsQualification", **submission(demo))).body["Data"])
    twice = await demo.call("SubmitSmsQualification", **submission(demo))
    assert twice.code == "isv.QUALIFICATION_NAME_DUPLICATE"
    order = (await demo.call("QuerySingleSmsQualification", QualificationGroupId=group)).body[
        "Data"]["WorkOrderId"]

    assert (await other.call("QuerySmsQualificationRecord")).body["Data"]["Total"] == 0
    for action, more in (("QuerySingleSmsQualification", {}),
                         ("UpdateSmsQualification", {"AdminPhoneNo": "13800138000",
                                                     "CertifyCode": "1", "OrderId": order}),
                         ("DeleteSmsQualification", {"OrderId": order})):
        refused = await other.call(action, QualificationGroupId=group, **more)
        assert refused.code == "isv.QUALIFICATION_NOT_EXIST", action
    # the filters of the list
    second = submission(demo, QualificationName="他用资质", UseBySelf=False, LegalPersonName="王五",
                        BusinessLicensePics=[{"LicensePic": "l.jpg", "Type": "businessLicense"}])
    assert (await demo.call("SubmitSmsQualification", **second)).code == "OK"
    for filters, names in (({"UseBySelf": False}, ["他用资质"]),
                           ({"UseBySelf": True}, ["驿站科技资质"]),
                           ({"LegalPersonName": "王"}, ["他用资质"]),
                           ({"QualificationGroupName": "科技"}, ["驿站科技资质"]),
                           ({"CompanyName": "杭州"}, ["他用资质", "驿站科技资质"]),
                           ({"WorkOrderId": order}, ["驿站科技资质"]),
                           ({"State": "NOT_FINISH"}, []),
                           ({"PageNo": 2, "PageSize": 1}, ["驿站科技资质"])):
        listed = await demo.call("QuerySmsQualificationRecord", **filters)
        assert [r["QualificationGroupName"] for r in listed.body["Data"]["List"]] == names
    refused = await demo.call("QuerySmsQualificationRecord", State="DONE")
    assert refused.code == "isv.INVALID_PARAMETERS"
    # the same name is free for another account
    assert (await other.call("SubmitSmsQualification", **submission(other))).code == "OK"
    single = (await demo.call("QuerySingleSmsQualification", QualificationGroupId=group)).body
    assert single["Data"]["State"] == "INT"


async def test_more_material_asked_is_not_finish_until_updated(
        running: Running, tenants: tuple[Tenant, Tenant]) -> None:
    """NOT_FINISH (资料待补充): the operator asks for more (`yizhan qualifications
    incomplete`); the tenant sees the state and the reason, and its update sends the
    qualification back to review on a new ticket."""
    demo, _ = tenants
    group = int((await demo.call("SubmitSmsQualification", **submission(demo))).body["Data"])
    await decide(running.yz.store, group, ReviewState.INCOMPLETE, "请补充营业执照", "cli op")
    listed = await demo.call("QuerySmsQualificationRecord", State="NOT_FINISH")
    row = listed.body["Data"]["List"][0]
    assert (row["GroupId"], row["StateName"], row["AuditRemark"]) == (
        group, "NOT_FINISH", "请补充营业执照")
    single = (await demo.call("QuerySingleSmsQualification", QualificationGroupId=group)).body
    assert single["Data"]["State"] == "NOT_FINISH"
    updated = await demo.call("UpdateSmsQualification", QualificationGroupId=group,
                              OrderId=row["WorkOrderId"], AdminPhoneNo="13800138000",
                              CertifyCode="1", BusinessLicensePics=[
                                  {"LicensePic": demo.doc("license.jpg"), "Type": "x"}])
    assert updated.code == "OK"
    single = (await demo.call("QuerySingleSmsQualification", QualificationGroupId=group)).body
    assert single["Data"]["State"] == "INT" and single["Data"]["WorkOrderId"] != row[
        "WorkOrderId"]
    assert (await demo.call("QuerySmsQualificationRecord", State="NOT_FINISH")).body["Data"][
        "Total"] == 0
