"""Letters of authorization (委托授权书) through the official v4 SDK against a running
Yizhan, on both stores: create, query with every filter, the states the SDK documents, the
refusals (registered codes, English and Chinese), one account never seeing another's, and
the operator's approval of a qualification for others standing on a letter."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import typer

from tests.api.aliyun import test_qualifications_sdk as qualifications
from tests.api.aliyun.test_qualifications_sdk import CREDIT_CODE, Tenant, submission
from tests.conftest import ManualClock, Running
from yizhan.cli.qualifications import decide
from yizhan.domain.errors import REGISTRY
from yizhan.domain.model import AccountId, LetterDetails, ReviewState, SignatureScenario
from yizhan.domain.timezone import china_today

# the qualification tests' fixtures: two tenants on the running Yizhan, no proxy, v4 signing
tenants = qualifications.tenants
no_proxy = qualifications.no_proxy
flavour = qualifications.flavour

OTHER_CODE = "91110000600037341L"
"""A second valid unified social credit code (the authorizing party of `other_letter`)."""


@pytest.fixture
def running_clock() -> ManualClock:
    """The server's clock stands still at the real time (the SDK signs with the real time)."""
    return ManualClock(datetime.now(UTC))


def today() -> date:
    return china_today(datetime.now(UTC))


def letter(tenant: Tenant | None = None, **more: Any) -> dict[str, Any]:
    """A complete CreateSmsAuthorizationLetter; a bare file name of its picture names the
    tenant's uploaded one (`Tenant.doc`)."""
    start, end = today() - timedelta(days=30), today() + timedelta(days=700)
    given = {"AuthorizationLetterName": "驿站授权书", "Authorization": "驿站科技（杭州）有限公司",
            "OrganizationCode": CREDIT_CODE, "ProxyAuthorization": "杭州代理网络有限公司",
            "SignList": ["驿站科技", "云帆物流"], "AuthorizationLetterPic": "a1.png",
            "AuthorizationLetterExpDate": f"{start}~{end}", **more}
    if tenant is not None and isinstance(given["AuthorizationLetterPic"], str):
        given["AuthorizationLetterPic"] = tenant.doc(given["AuthorizationLetterPic"])
    return given


def names(outcome: Any) -> list[str]:
    assert outcome.code == "OK", outcome.message
    return [row["AuthorizationLetterName"] for row in outcome.body["Data"]]


@pytest.mark.parametrize("flavour", ["v4-acs3", "v4-v1"])
async def test_create_query_filters_and_states(running: Running,
                                               tenants: tuple[Tenant, Tenant]) -> None:
    demo, other = tenants
    created = await demo.call("CreateSmsAuthorizationLetter", **letter(demo))
    assert (created.code, created.body["Success"]) == ("OK", True)
    first = int(created.body["Data"])
    later = f"{today() + timedelta(days=10)}~{today() + timedelta(days=400)}"
    second = int((await demo.call("CreateSmsAuthorizationLetter", **letter(demo,
        AuthorizationLetterName="第二授权书", OrganizationCode=OTHER_CODE,
        Authorization="北京另一家公司", SignList=["另一签名"],
        AuthorizationLetterExpDate=later))).body["Data"])

    everything = await demo.call("QuerySmsAuthorizationLetter")
    assert names(everything) == ["第二授权书", "驿站授权书"]
    row = everything.body["Data"][1]
    assert row == {
        "AuthorizationLetterId": first, "AuthorizationLetterName": "驿站授权书",
        "Authorization": "驿站科技（杭州）有限公司", "OrganizationCode": CREDIT_CODE,
        "ProxyAuthorization": "杭州代理网络有限公司", "SignScope": "驿站科技、云帆物流",
        "AuthorizationLetterExpDate": letter()["AuthorizationLetterExpDate"],
        "AuthorizationLetterPic": demo.doc("a1.png"), "State": "INT", "Status": "VALID"}
    # not yet begun: INVALID until its first day
    assert everything.body["Data"][0]["Status"] == "INVALID"

    for filters, expected in (({"AuthorizationLetterIdList": [first]}, ["驿站授权书"]),
                              ({"AuthorizationLetterIdList": [first, second]},
                               ["第二授权书", "驿站授权书"]),
                              ({"OrganizationCode": OTHER_CODE}, ["第二授权书"]),
                              ({"SignName": "云帆物流"}, ["驿站授权书"]),
                              ({"SignName": "云帆"}, []),
                              ({"Status": "VALID"}, ["驿站授权书"]),
                              ({"Status": "INVALID"}, ["第二授权书"]),
                              ({"State": "INT"}, ["第二授权书", "驿站授权书"]),
                              ({"State": "PASSED"}, [])):
        assert names(await demo.call("QuerySmsAuthorizationLetter", **filters)) == expected, \
            filters

    # PASSED once a signature it covers is approved (the demo account's 驿站 is covered by
    # none of them)
    store = running.yz.store
    await store.create_signature(AccountId(running.demo.account.id), "云帆物流",
                                 SignatureScenario.GENERAL, ReviewState.APPROVED,
                                 running.demo.account.created_at)
    assert names(await demo.call("QuerySmsAuthorizationLetter", State="PASSED")) == [
        "驿站授权书"]

    # another account sees none of them, not even by id, and may use the same name
    assert names(await other.call("QuerySmsAuthorizationLetter")) == []
    assert names(await other.call("QuerySmsAuthorizationLetter",
                                  AuthorizationLetterIdList=[first, second])) == []
    assert (await other.call("CreateSmsAuthorizationLetter", **letter(other))).code == "OK"
    assert names(await demo.call("QuerySmsAuthorizationLetter")) == ["第二授权书", "驿站授权书"]


@pytest.mark.parametrize(("params", "code", "says"), [
    ({"AuthorizationLetterName": None}, "MissingParameter", "AuthorizationLetterName"),
    ({"SignList": None}, "MissingParameter", "SignList"),
    ({"AuthorizationLetterPic": None}, "MissingParameter", "AuthorizationLetterPic"),
    ({"OrganizationCode": "91350100M000100Y44"}, "isv.AUTHORIZATION_LETTER_INVALID",
     "OrganizationCode"),
    ({"AuthorizationLetterName": "12345"}, "isv.AUTHORIZATION_LETTER_INVALID",
     "AuthorizationLetterName"),
    ({"Authorization": "驿站#科技"}, "isv.AUTHORIZATION_LETTER_INVALID", "Authorization"),
    ({"ProxyAuthorization": "x" * 151}, "isv.AUTHORIZATION_LETTER_INVALID",
     "ProxyAuthorization"),
    ({"AuthorizationLetterExpDate": "2026-01-01"}, "isv.AUTHORIZATION_LETTER_INVALID",
     "AuthorizationLetterExpDate"),
    ({"AuthorizationLetterExpDate": "2020-01-01~2021-01-01"},
     "isv.AUTHORIZATION_LETTER_INVALID", "ended already"),
    ({"AuthorizationLetterExpDate": "2027-02-30~2028-01-01"},
     "isv.AUTHORIZATION_LETTER_INVALID", "does not exist"),
    ({"AuthorizationLetterPic": "letters/授权.png"}, "isv.AUTHORIZATION_LETTER_INVALID",
     "AuthorizationLetterPic"),
    ({"AuthorizationLetterPic": "letters/a.pdf"}, "isv.AUTHORIZATION_LETTER_INVALID",
     "AuthorizationLetterPic"),
    ({"SignList": []}, "isv.AUTHORIZATION_LETTER_INVALID", "SignList"),
    ({"SignList": [f"签名{i}" for i in range(101)]}, "isv.AUTHORIZATION_LETTER_INVALID",
     "SignList"),
    ({"SignList": ["云帆物流", "云帆物流"]}, "isv.AUTHORIZATION_LETTER_INVALID", "twice"),
    ({"SignList": ["12345"]}, "isv.AUTHORIZATION_LETTER_INVALID", "SignList"),
])
async def test_create_refusals(tenants: tuple[Tenant, Tenant], params: dict[str, Any],
                               code: str, says: str) -> None:
    demo, _ = tenants
    given = {k: v for k, v in letter(demo, **params).items() if v is not None}
    refused = await demo.call("CreateSmsAuthorizationLetter", **given)
    assert refused.code == code and says in refused.message, refused.message
    assert names(await demo.call("QuerySmsAuthorizationLetter")) == []


async def test_duplicate_names_bad_filters_and_chinese_messages(
        tenants: tuple[Tenant, Tenant], running: Running) -> None:
    demo, _ = tenants
    assert (await demo.call("CreateSmsAuthorizationLetter", **letter(demo))).code == "OK"
    twice = await demo.call("CreateSmsAuthorizationLetter", **letter(demo))
    assert twice.code == "isv.AUTHORIZATION_LETTER_NAME_DUPLICATE"
    assert "AuthorizationLetterName" in twice.message
    # a concurrent request that passed the name check meets the unique constraint
    details = LetterDetails("驿站授权书", "甲公司", CREDIT_CODE, "乙公司", ("驿站科技",),
                            "2026-01-01~2030-01-01", "a.png")
    store = running.yz.store
    assert await store.create_letter(AccountId(running.demo.account.id), details,
                                     running.demo.account.created_at) is None
    for filters in ({"State": "PASS"}, {"Status": "EXPIRED"},
                    {"AuthorizationLetterIdList": ["x"]},
                    {"AuthorizationLetterIdList": [2**63]},
                    {"AuthorizationLetterIdList": [0]},
                    {"AuthorizationLetterIdList": list(range(1, 102))}):
        refused = await demo.call("QuerySmsAuthorizationLetter", **filters)
        assert refused.code == "isv.INVALID_PARAMETERS", filters
    for code in ("isv.AUTHORIZATION_LETTER_INVALID", "isv.AUTHORIZATION_LETTER_NAME_DUPLICATE"):
        assert "委托授权书" in REGISTRY[code].zh and "authorization letter" in REGISTRY[code].en


async def test_qualification_for_others_is_approved_only_on_a_valid_letter(
        running: Running, tenants: tuple[Tenant, Tenant]) -> None:
    demo, other = tenants
    store = running.yz.store
    for_others = submission(demo, UseBySelf=False, OrganizationCode=OTHER_CODE,
                            BusinessLicensePics=[{"LicensePic": "l.jpg", "Type": "x"}])
    group = int((await demo.call("SubmitSmsQualification", **for_others)).body["Data"])
    with pytest.raises(typer.Exit):
        await decide(store, group, ReviewState.APPROVED, "", "cli operator")
    # another account's letter, and a letter from another company, do not count
    assert (await other.call("CreateSmsAuthorizationLetter",
                             **letter(other, OrganizationCode=OTHER_CODE))).code == "OK"
    assert (await demo.call("CreateSmsAuthorizationLetter", **letter(demo))).code == "OK"
    later = f"{today() + timedelta(days=10)}~{today() + timedelta(days=400)}"
    assert (await demo.call("CreateSmsAuthorizationLetter", **letter(demo,
        AuthorizationLetterName="未生效", OrganizationCode=OTHER_CODE,
        AuthorizationLetterExpDate=later))).code == "OK"
    with pytest.raises(typer.Exit):
        await decide(store, group, ReviewState.APPROVED, "", "cli operator")
    assert (await store.qualification_by_id(group)).state is ReviewState.PENDING  # type: ignore[union-attr]
    assert (await demo.call("CreateSmsAuthorizationLetter", **letter(demo,
        AuthorizationLetterName="有效", OrganizationCode=OTHER_CODE))).code == "OK"
    decided = await decide(store, group, ReviewState.APPROVED, "", "cli operator")
    assert decided.state is ReviewState.APPROVED
    # a qualification for own use needs none
    own = int((await demo.call("SubmitSmsQualification", **submission(demo,
        QualificationName="自用资质", OrganizationCode=OTHER_CODE))).body["Data"])
    assert (await decide(store, own, ReviewState.APPROVED, "", "cli operator")).state is \
        ReviewState.APPROVED
