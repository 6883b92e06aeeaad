"""The operator's pages in a real browser (issue 19 point 3, first half): accounts (create,
suspend and resume, top up, price, packages, people), the review queues of qualifications,
signatures and templates, and the carrier registration of approved signatures. Every page in
both languages (screenshots into docs/console/), every change in the console's audit, a
tenant refused (403) on every page and form, a phone's width."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.aliyun.sdk import SdkClient
from tests.api.aliyun.uploads import JPEG, PNG
from tests.console.conftest import PASSWORD, Console, log_in, new_page, visit

pytestmark = [pytest.mark.timeout(180), pytest.mark.xdist_group("browser")]

BAD_TEMPLATE = "您的验证码为${num}，5分钟内有效。"
"""A verification code not named `code`: the review linter warns, the operator rejects."""
REJECTED = "验证码变量请命名为 ${code}"


def _found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match is not None, (pattern, text)
    return match.group(1)


def _csrf(page: Any) -> str:
    return str(page.locator("header input[name=csrf]").get_attribute("value"))


def _operator(browser: Any, console: Console, lang: str = "en", width: int = 1280) -> Any:
    page = new_page(browser, console, lang, width=width)
    log_in(page, "ops", PASSWORD)
    assert page.url.endswith("/console/operator")
    return page


def _account_id(page: Any, name: str) -> str:
    page.goto("/console/operator")
    href = page.get_by_role("link", name=name, exact=True).get_attribute("href")
    return str(href).rsplit("/", 1)[-1]


def _audit(page: Any) -> list[str]:
    return [" ".join(row.split()) for row in page.locator("#audit tbody tr").all_inner_texts()]


# accounts


def test_the_operator_creates_an_account_whose_key_works_and_is_shown_once(
        browser: Any, console: Console) -> None:
    page = _operator(browser, console)
    page.fill("#create-account input[name=name]", "globex")
    page.click("#create-account button")
    key_id = page.locator("#new-key-id").inner_text()
    secret = page.locator("#new-key-secret").inner_text()
    assert page.locator("h1").inner_text().startswith("globex")
    answer = httpx.get(f"{console.url}/v1/test-numbers", auth=(key_id, secret), timeout=10)
    assert answer.status_code == 200, answer.text
    account = _account_id(page, "globex")
    page.goto(f"/console/operator/accounts/{account}")
    assert secret not in page.content()
    assert any("account created globex" in row for row in _audit(page))
    page.goto("/console/operator")
    page.fill("#create-account input[name=name]", "globex")
    page.click("#create-account button")
    assert page.locator(".error").inner_text() == "An account named globex exists already."
    page.context.close()


def test_money_price_packages_and_suspension_are_changed_and_audited(
        browser: Any, console: Console) -> None:
    console.cli("accounts", "create", "initech")
    page = _operator(browser, console)
    page.goto(f"/console/operator/accounts/{_account_id(page, 'initech')}")
    page.fill("#topup input[name=amount]", "100.5")
    page.fill("#topup input[name=reason]", "bank transfer 2026-12-07")
    page.click("#topup button")
    assert page.locator(".ok").inner_text() == "Done."
    assert page.locator("#account-balance").inner_text() == "100.500 yuan"
    page.fill("#topup input[name=amount]", "12.0001")
    page.fill("#topup input[name=reason]", "typo")
    page.click("#topup button")
    assert "at most 3 decimals" in page.locator(".error").inner_text()
    assert page.locator("#account-balance").inner_text() == "100.500 yuan"
    page.fill("#price input[name=price]", "0.04")
    page.click("#price button")
    assert page.locator("#account-price").inner_text() == "0.040 yuan (the account's own)"
    page.fill("#grant input[name=parts]", "1000")
    page.fill("#grant input[name=days]", "30")
    page.click("#grant button")
    assert page.locator("#packages tbody td").nth(1).inner_text() == "1000"
    page.fill("#suspend input[name=reason]", "unpaid invoice")
    page.click("#suspend button")
    assert page.locator("#account-state").inner_text() == "suspended: its sends are refused"
    assert "unpaid invoice" in page.locator("#history").inner_text()
    assert "cli" not in page.locator("#history").inner_text()
    assert "console ops" in page.locator("#history").inner_text()
    assert "initech" in console.cli("accounts", "history", "initech")
    page.click("#resume button")
    assert page.locator("#account-state").inner_text() == "active"
    audit = " | ".join(_audit(page))
    for entry in ("ops top up 100.500 yuan, balance 100.500: bank transfer 2026-12-07",
                  "ops price 0.040 yuan", "ops package granted", "ops account suspended "
                  "unpaid invoice", "ops account resumed"):
        assert entry in audit, (entry, audit)
    page.fill("#price input[name=price]", "")
    page.click("#price button")
    assert page.locator("#account-price").inner_text().endswith("yuan (the platform's)")
    page.context.close()


def test_the_operator_adds_a_tenant_admin_whose_password_is_shown_once(
        browser: Any, console: Console) -> None:
    console.cli("accounts", "create", "hooli")
    page = _operator(browser, console, "zh")
    page.goto(f"/console/operator/accounts/{_account_id(page, 'hooli')}")
    page.fill("#add-person input[name=login]", "hooli-admin")
    page.select_option("#add-person select[name=role]", "tenant-admin")
    page.click("#add-person button")
    password = page.locator("#new-password").inner_text()
    assert "hooli-admin" in page.locator("#people").inner_text()
    page.fill("#add-person input[name=login]", "hooli-admin")
    page.click("#add-person button")
    assert page.locator(".error").inner_text() == "登录名 hooli-admin 已存在。"
    assert password not in page.content()
    tenant = new_page(browser, console)
    log_in(tenant, "hooli-admin", password)
    assert tenant.url.endswith("/console/overview")
    assert "hooli-admin (tenant admin)" in tenant.locator(".who").inner_text()
    tenant.context.close()
    page.context.close()


# the review queues


def _submit(sdk: SdkClient, documents: dict[str, str], name: str, for_self: bool) -> int:
    """A qualification of 神州科技 submitted through the SDK: its id."""
    submitted = sdk.call(
        "SubmitSmsQualification", QualificationName=name, CompanyName="神州科技有限公司",
        CompanyType="COMPANY", OrganizationCode="91350100M000100Y43",
        BussinessLicenseExpDate="2020-01-01~2099-12-31", LegalPersonName="张三",
        LegalPersonIDCardType="identityCard", LegalPersonIDCardNo="11010519491231002X",
        LegalPersonIdCardEffTime="2015-01-01~2035-01-01", AdminName="李四",
        AdminIDCardType="passport", AdminIDCardNo="E12345678",
        AdminIDCardExpDate="2020-05-01~2030-05-01", AdminPhoneNo="+8613800138000",
        AdminIDCardFrontFace=documents["front.jpg"], AdminIDCardPic=documents["back.png"],
        CertifyCode="123456", UseBySelf=for_self, WhetherShare=False, Remark="our own brand",
        **({} if for_self else {"BusinessLicensePics": [
            {"LicensePic": documents["front.jpg"], "Type": "businessLicense"}]}))
    assert submitted.code == "OK", submitted.message
    return int(submitted.body["Data"])


@pytest.fixture(scope="module")
def waiting(console: Console) -> Iterator[dict[str, Any]]:
    """An account with a qualification (its documents uploaded), a signature and two
    templates, all submitted through the official SDK and waiting for review."""
    made = console.cli("accounts", "create", "shenzhou")
    key = _found(r"AccessKey id\s+(\S+)", made), _found(r"AccessKey secret\s+(\S+)", made)
    sdk = SdkClient("v4-acs3", int(console.url.rsplit(":", 1)[1]), *key)
    policy = sdk.call("GetQualificationOssInfo", BizType="dysms").body["Data"]
    documents = {}
    for name, content in (("front.jpg", JPEG), ("back.png", PNG)):
        documents[name] = policy["StartPath"] + name
        sent = httpx.post(policy["Host"], data={
            "key": documents[name], "OSSAccessKeyId": policy["AccessKeyId"],
            "policy": policy["Policy"], "Signature": policy["Signature"]},
            files={"file": (name, content, "application/octet-stream")}, timeout=10)
        assert sent.status_code == 204, sent.text
    qualification = _submit(sdk, documents, "神州资质", for_self=True)
    signed = sdk.call("AddSmsSign", SignName="神州通知", SignSource=0, Remark="验证码与通知")
    assert signed.code == "OK", signed.message
    codes = []
    for name, content, kind in (("发货", "您的订单${order}已发货", 1), ("验证码", BAD_TEMPLATE, 0)):
        added = sdk.call("AddSmsTemplate", TemplateType=kind,
                         TemplateName=name, TemplateContent=content, Remark="登录")
        assert added.code == "OK", added.message
        codes.append(added.body["TemplateCode"])
    yield {"sdk": sdk, "qualification": qualification, "templates": codes,
           "documents": documents}


def test_the_queue_shows_what_waits_oldest_first_with_its_content(
        browser: Any, console: Console, waiting: dict[str, Any], screenshots: Path) -> None:
    for lang in ("zh", "en"):
        page = _operator(browser, console, lang)
        visit(page, console, "/console/review")
        shown = page.locator("section.waiting").evaluate_all("all => all.map(s => s.id)")
        sign = page.locator("section.waiting", has_text="神州通知").get_attribute("id")
        mine = [f"qualification-{waiting['qualification']}", sign,
                *(f"template-{code}" for code in waiting["templates"])]
        assert [s for s in shown if s in mine] == mine  # the order they were submitted in
        card = page.locator(f"#qualification-{waiting['qualification']}")
        assert "神州科技有限公司" in card.inner_text()
        assert "91350100M000100Y43" in card.inner_text()
        bad = page.locator(f"#template-{waiting['templates'][1]}")
        assert BAD_TEMPLATE in bad.inner_text()
        assert bad.locator(".findings li").count() >= 1
        page.screenshot(path=str(screenshots / f"op-review-{lang}.png"), full_page=True)
        visit(page, console, "/console/review?kind=template")
        assert page.locator("section.waiting").count() >= 2
        assert page.locator("section[id^=qualification-]").count() == 0
        page.context.close()


def test_a_document_of_a_waiting_qualification_opens_for_the_operator_only(
        browser: Any, console: Console, waiting: dict[str, Any]) -> None:
    page = _operator(browser, console)
    page.goto("/console/review?kind=qualification")
    link = page.locator(f"#qualification-{waiting['qualification']} a", has_text="front.jpg")
    href = str(link.get_attribute("href"))
    answer = page.request.get(href)
    assert answer.status == 200 and answer.body() == JPEG
    assert answer.headers["content-type"] == "image/jpeg"
    assert page.request.get(href.replace("front.jpg", "missing.jpg")).status == 404
    tenant = new_page(browser, console)
    log_in(tenant, "acme-admin", PASSWORD)
    assert tenant.request.get(href).status == 403
    tenant.context.close()
    page.context.close()


def test_decisions_reach_the_tenant_and_start_the_registration(
        browser: Any, console: Console, waiting: dict[str, Any], screenshots: Path) -> None:
    page = _operator(browser, console)
    sdk = waiting["sdk"]
    page.goto("/console/review?kind=template")
    bad = waiting["templates"][1]
    answer = page.request.post(f"/console/review/template/{bad}/reject",
                               form={"csrf": _csrf(page), "reason": ""})
    assert answer.status == 422
    page.fill(f"#template-{bad} textarea[name=reason]", REJECTED)
    page.click(f"#template-{bad} form.lint button")
    assert page.locator("#notice").inner_text().startswith("验证码 (")
    assert page.locator(f"#template-{bad}").count() == 0
    queried = sdk.call("QuerySmsTemplate", TemplateCode=bad)
    assert queried.body["TemplateStatus"] == 2, queried.body
    assert queried.body["Reason"] == REJECTED
    listed = sdk.call("QuerySmsTemplateList", PageIndex=1, PageSize=50)
    assert REJECTED in json.dumps(listed.body, ensure_ascii=False)
    again = page.request.post(f"/console/review/template/{bad}/approve",
                              form={"csrf": _csrf(page)})
    assert again.status == 409
    page.goto("/console/review?kind=qualification")
    page.click(f"#qualification-{waiting['qualification']} form.decide button")
    assert page.locator("#notice").inner_text() == "神州资质: approved."
    signed = sdk.call("CreateSmsSign", SignName="神州", SignSource=0, SignType=1,
                      Remark="验证码与通知", QualificationId=waiting["qualification"])
    assert signed.code == "OK", signed.message
    page.goto("/console/review?kind=signature")
    signature = page.locator("section.waiting", has_text="神州资质")
    assert "神州资质" in signature.inner_text()
    signature.locator("form.decide button").first.click()
    notice = page.locator("#notice").inner_text()
    assert notice.startswith("神州: approved. Carrier registration: 神州: "), notice
    queried = sdk.call("QuerySmsSign", SignName="神州")
    assert queried.body["SignStatus"] == 1, queried.body
    good = waiting["templates"][0]
    page.goto("/console/review?kind=template")
    page.click(f"#template-{good} form.decide button")
    assert sdk.call("QuerySmsTemplate", TemplateCode=good).body["TemplateStatus"] == 1
    page.goto(f"/console/operator/accounts/{_account_id(page, 'shenzhou')}")
    audit = " | ".join(_audit(page))
    for entry in (f"template rejected {bad} 验证码 ({bad}): {REJECTED}",
                  "qualification approved", "signature approved", "template approved"):
        assert entry in audit, (entry, audit)
    for lang in ("en", "zh"):
        registrations = _operator(browser, console, lang)
        visit(registrations, console, "/console/registrations")
        card = registrations.locator("section.registration", has_text="神州")
        assert card.count() == 1
        assert card.locator("tbody tr").count() == 3  # mobile, unicom, telecom
        registrations.screenshot(path=str(screenshots / f"op-registrations-{lang}.png"),
                                 full_page=True)
        registrations.context.close()
    page.goto("/console/registrations")
    card = page.locator("section.registration", has_text="神州")
    card.locator("form.inline button").click()
    assert page.url.endswith("/console/registrations")
    answers = card.locator("form.answer")
    assert answers.count() == 3  # each carrier's sub-port is registering
    channel = answers.first.locator("input[name=channel]").get_attribute("value")
    answers.first.locator("select[name=answer]").select_option("SIGNATURE_ERROR")
    answers.first.locator("input[name=reason]").fill("签名与企业名称不符")
    answers.first.locator("button").click()
    assert card.locator("form.answer").count() == 2
    assert "签名与企业名称不符" in json.dumps(sdk.call("GetSmsSign", SignName="神州").body,
                                           ensure_ascii=False)
    answer = page.request.post(f"/console/registrations/{card.get_attribute('id')[13:]}/answer",
                               form={"csrf": _csrf(page), "channel": channel,
                                     "answer": "registered"})
    assert answer.status == 409  # that sub-port answered already
    page.goto(f"/console/operator/accounts/{_account_id(page, 'shenzhou')}")
    audit = " | ".join(_audit(page))
    assert "registration 神州" in audit
    assert f"registration answer 神州 on {channel}: SIGNATURE_ERROR 签名与企业名称不符" in audit
    page.context.close()


def test_a_rejection_without_a_reason_and_a_letterless_approval_are_refused(
        browser: Any, console: Console, waiting: dict[str, Any]) -> None:
    others = _submit(waiting["sdk"], waiting["documents"], "神州他用资质", for_self=False)
    page = _operator(browser, console)
    page.goto("/console/review?kind=qualification")
    card = page.locator(f"#qualification-{others}")
    assert "for others (他用)" in card.inner_text()
    card.locator("form.decide button").first.click()
    assert page.locator(".error").inner_text() == (
        "神州他用资质 is for others (他用): the account needs a valid letter of authorization "
        "from 91350100M000100Y43 before it can be approved.")
    path = f"/console/review/qualification/{others}"
    for decision in ("reject", "incomplete"):
        answer = page.request.post(f"{path}/{decision}", form={"csrf": _csrf(page),
                                                               "reason": "  "})
        assert answer.status == 422 and "needs a reason" in answer.text()
    page.fill(f"#qualification-{others} textarea[name=reason]", "请补充委托授权书")
    page.click(f"#qualification-{others} form.lint button:has-text('Ask for more material')")
    assert page.locator("#notice").inner_text() == "神州他用资质: more material asked for."
    queried = waiting["sdk"].call("QuerySmsQualificationRecord", PageNo=1, PageSize=10)
    assert "请补充委托授权书" in json.dumps(queried.body, ensure_ascii=False)
    answer = page.request.post(f"{path}/reject", form={"csrf": _csrf(page), "reason": "x"})
    assert answer.status == 409
    assert "神州他用资质 is not under review any more." in answer.text()
    for path in ("/console/review/signature/999999/reject",
                 "/console/review/template/NO/incomplete", "/console/review/nothing/1/approve"):
        assert page.request.post(path, form={"csrf": _csrf(page), "reason": "x"}).status == 404
    answer = page.request.post(f"/console/review/qualification/{others}/approve",
                               form={"csrf": "not the token"})
    assert answer.status == 403
    page.context.close()


# who may


def test_a_tenant_is_refused_every_operator_page_and_form(browser: Any,
                                                           console: Console) -> None:
    for login, password in (("acme-admin", PASSWORD), ("demo", console.demo_password),
                            ("demo-viewer", PASSWORD)):
        page = new_page(browser, console)
        log_in(page, login, password)
        csrf = _csrf(page)
        for path in ("/console/operator", "/console/operator/accounts/1", "/console/review",
                     "/console/review?kind=template", "/console/registrations",
                     "/console/review/document?account=1&key=x.jpg"):
            assert page.goto(path).status == 403, (login, path)
        for path in ("/console/operator/accounts", "/console/operator/accounts/1/suspend",
                     "/console/operator/accounts/1/resume", "/console/operator/accounts/1/topup",
                     "/console/operator/accounts/1/price",
                     "/console/operator/accounts/1/packages",
                     "/console/operator/accounts/1/people",
                     "/console/review/qualification/1/approve",
                     "/console/review/signature/1/reject", "/console/review/template/X/approve",
                     "/console/registrations/1/register", "/console/registrations/1/answer"):
            answer = page.request.post(path, form={
                "csrf": csrf, "name": "evil", "reason": "x", "amount": "1000000", "price": "0",
                "parts": "1", "days": "1", "login": "evil", "role": "tenant-admin"})
            assert answer.status == 403, (login, path)
        page.context.close()
    page = _operator(browser, console)
    page.goto("/console/operator")
    names = page.locator("tbody td:nth-child(2)").all_inner_texts()
    assert "evil" not in names
    assert "evil" not in console.cli("console-user", "list")
    page.context.close()


def test_an_account_page_in_both_languages_and_on_a_phone(browser: Any, console: Console,
                                                          screenshots: Path) -> None:
    for lang in ("zh", "en"):
        page = _operator(browser, console, lang)
        account = _account_id(page, "demo")
        visit(page, console, "/console/operator")
        page.screenshot(path=str(screenshots / f"operator-{lang}.png"), full_page=True)
        visit(page, console, f"/console/operator/accounts/{account}")
        assert page.locator("#people").inner_text().count("demo") >= 2  # demo, demo-viewer
        page.screenshot(path=str(screenshots / f"op-account-{lang}.png"), full_page=True)
        page.context.close()
        phone = _operator(browser, console, lang, width=390)
        for path in ("/console/operator", f"/console/operator/accounts/{account}",
                     "/console/review", "/console/registrations"):
            phone.goto(path)
            overflow = phone.evaluate(
                "document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, (path, overflow)
        phone.context.close()

