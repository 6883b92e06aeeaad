"""The qualifications page in a real browser (issue 19 point 2), and the tenant's part of the
whole flow through the pages: documents uploaded (bounded, by content type), a qualification
submitted (SubmitSmsQualification's refusals, with the API's codes and messages), rejected
with a reason and approved by the operator, a signature submitted on it from the signatures
page (CreateSmsSign), approved, then a template. A viewer cannot upload or submit (403);
another tenant's qualification and document are 404. The tests use an account of their
own, so that the other pages' tests see the demo's and acme's pages as they were."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import Console, add_tenant, logged_in, visit

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("browser")]

ACCOUNT = "qualco"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8
PDF = b"%PDF-1.4\n" + b"licence " * 200
COMPANY = "驿站科技（杭州）有限公司"
FIELDS = {
    "QualificationName": "驿站科技资质", "CompanyName": COMPANY,
    "OrganizationCode": "91350100M000100Y43", "BussinessLicenseExpDate": "2020-01-01~2099-12-31",
    "LegalPersonName": "张三", "LegalPersonIDCardNo": "11010519491231002X",
    "LegalPersonIdCardEffTime": "2015-01-01~2035-01-01", "AdminName": "李四",
    "AdminIDCardNo": "11010519491231002X", "AdminIDCardExpDate": "2020-05-01~2030-05-01",
    "AdminPhoneNo": "13800138000"}


@pytest.fixture(scope="module")
def people(console: Console) -> tuple[str, str]:
    return add_tenant(console, ACCOUNT, "qual-admin", "qual-viewer")


def upload(page: Any, role: str, name: str, kind: str, body: bytes) -> None:
    page.goto("/console/qualifications")
    page.select_option("#upload-role", role)
    page.set_input_files("#upload-file", files=[{"name": name, "mimeType": kind,
                                                 "buffer": body}])
    page.click("#upload button[type=submit]")


def uploaded_key(page: Any) -> str:
    done = page.locator("#done").inner_text()
    return next(word for word in done.split(" ") if word.startswith("qualification/"))


def fill(page: Any, fields: dict[str, str], documents: dict[str, str]) -> None:
    for name, value in fields.items():
        page.fill(f"#q-{name}", value)
    for name, key in documents.items():
        page.select_option(f"#q-{name}", key)


def row(page: Any, qualification_id: int) -> Any:
    return page.locator(f"#qualifications tr[data-id='{qualification_id}']")


def submitted_id(page: Any) -> int:
    done = page.locator("#done").inner_text()
    return int(done.split(" ")[1])


def signature_id(console: Console, name: str) -> int:
    with sqlite3.connect(console.data_dir / "yizhan.db") as db:
        found = db.execute("SELECT s.id FROM signatures s JOIN accounts a ON a.id = s.account_id"
                           " WHERE a.name = ? AND s.name = ?", (ACCOUNT, name)).fetchone()
    return int(found[0])


def test_the_tenants_flow_qualification_signature_template(
        browser: Any, console: Console, people: tuple[str, str], screenshots: Path) -> None:
    page = logged_in(browser, console, people[0], "zh")
    visit(page, console, "/console/qualifications")
    assert page.locator("main").inner_text().count("暂无资质。") == 1
    upload(page, "AdminIDCardFrontFace", "身份证 正面.png", "image/png", PNG)
    front = uploaded_key(page)
    assert front.startswith("qualification/") and front.endswith(".png")
    assert "admin_id_front-" in front
    upload(page, "AdminIDCardPic", "back.jpg", "image/jpeg", JPEG)
    back = uploaded_key(page)
    upload(page, "BusinessLicensePic", "licence.pdf", "application/pdf", PDF)
    licence = uploaded_key(page)
    assert page.locator("#documents td.key").all_inner_texts() == [licence, back, front]
    # refused as the API refuses it: the credit code's check character is wrong
    documents = {"AdminIDCardFrontFace": front, "AdminIDCardPic": back,
                 "BusinessLicensePic": licence}
    fill(page, {**FIELDS, "OrganizationCode": "91350100M000100Y44"}, documents)
    page.click("#qual-submit")
    assert page.locator("#refusal .error").inner_text() == "未能提交: isv.QUALIFICATION_INVALID"
    assert "OrganizationCode is not a valid unified social credit code" in \
        page.locator("#refusal").inner_text()
    assert page.locator("#q-CompanyName").input_value() == COMPANY  # the form kept
    assert page.locator("#q-AdminIDCardPic").input_value() == back
    # submitted; the operator rejects it with a reason the tenant sees
    page.fill("#q-OrganizationCode", FIELDS["OrganizationCode"])
    page.click("#qual-submit")
    rejected = submitted_id(page)
    assert row(page, rejected).locator("td.state").inner_text() == "审核中"
    console.cli("qualifications", "reject", str(rejected), "--reason", "营业执照照片不清晰")
    page.goto("/console/qualifications")
    assert row(page, rejected).locator("td.state").inner_text() == \
        "未通过\n审核意见: 营业执照照片不清晰"
    # a second one, approved
    fill(page, {**FIELDS, "QualificationName": "驿站科技资质二"}, documents)
    page.click("#qual-submit")
    approved = submitted_id(page)
    console.cli("qualifications", "approve", str(approved))
    # a signature on it, from the signatures page
    page.goto("/console/signatures")
    page.fill("#sign-name", "阿里")  # not a part of the company's name: the API's refusal
    page.select_option("#sign-qualification", str(approved))
    page.fill("#sign-remark", "订单通知")
    page.click("#sign-submit")
    assert page.locator("#refusal .error").inner_text() == \
        "未能提交: isv.SMS_SIGN_COMPANY_MISMATCH"
    page.fill("#sign-name", "驿站科技")
    page.click("#sign-submit")
    assert page.locator("#done").inner_text() == "签名 驿站科技 已提交，正在审核。"
    assert page.locator("section.signature h2").first.inner_text() == "驿站科技"
    console.cli("signs", "approve", str(signature_id(console, "驿站科技")))
    page.goto("/console/qualifications")
    assert row(page, approved).locator("td.state").inner_text() == "审核通过"
    assert row(page, approved).locator("td.using").inner_text() == "驿站科技"
    page.screenshot(path=str(screenshots / "qualifications-zh.png"), full_page=True)
    # the qualification's page: its documents, to look at, and the signature using it
    row(page, approved).locator("a").click()
    assert page.locator("#using").inner_text() == "驿站科技"
    assert page.locator("#state").inner_text() == "审核通过"
    page.screenshot(path=str(screenshots / "qualification-zh.png"), full_page=True)
    link = page.locator("#documents tr", has_text=front).locator("a.view")
    answer = page.request.get(str(link.get_attribute("href")))
    assert answer.status == 200 and answer.headers["content-type"] == "image/png"
    assert answer.body() == PNG
    answer = page.request.get(str(page.locator("#documents tr", has_text=licence)
                                  .locator("a.view").get_attribute("href")))
    assert answer.headers["content-disposition"].startswith("attachment")
    # then a template, and the signature's page shows it approved
    page.goto("/console/templates")
    page.fill("#tpl-name", "发货通知")
    page.fill("#lint-content", "您的订单${order}已发货")
    page.fill("#tpl-remark", "订单发货")
    page.click("#tpl-submit")
    assert page.locator("#done").inner_text().endswith("已提交，正在审核。")
    page.goto("/console/signatures")
    assert page.locator("section.signature dd.state").first.inner_text() == "审核通过"
    page.context.close()


def test_uploads_are_bounded_and_checked_by_content(browser: Any, console: Console,
                                                    people: tuple[str, str]) -> None:
    page = logged_in(browser, console, people[0], "en")
    upload(page, "AdminIDCardFrontFace", "huge.png", "image/png",
           PNG + bytes(6 * 1024 * 1024))  # over upload_max_bytes (5 MiB)
    assert page.locator("#refusal .error").inner_text() == "Refused: EntityTooLarge"
    assert "more than 5242880 bytes" in page.locator("#refusal").inner_text()
    upload(page, "AdminIDCardFrontFace", "fake.png", "image/png", b"not an image at all")
    assert page.locator("#refusal .error").inner_text() == "Refused: InvalidDocumentType"
    with sqlite3.connect(console.data_dir / "yizhan.db") as db:
        keys = [r[0] for r in db.execute(
            "SELECT d.key FROM qualification_documents d JOIN accounts a ON a.id = d.account_id"
            " WHERE a.name = ?", (ACCOUNT,))]
    assert not any("fake" in k or "huge" in k for k in keys)
    page.context.close()


def test_a_viewer_cannot_upload_or_submit(browser: Any, console: Console,
                                          people: tuple[str, str]) -> None:
    page = logged_in(browser, console, people[1])
    page.goto("/console/qualifications")
    assert page.locator("#upload, #submit").count() == 0
    csrf = page.locator("header input[name=csrf]").get_attribute("value")
    answer = page.request.post("/console/qualifications/documents", multipart={
        "csrf": csrf, "role": "AdminIDCardFrontFace",
        "file": {"name": "front.png", "mimeType": "image/png", "buffer": PNG}})
    assert answer.status == 403
    answer = page.request.post("/console/qualifications", form={"csrf": csrf, **FIELDS})
    assert answer.status == 403
    page.goto("/console/signatures")
    assert page.locator("#new-signature").count() == 0
    assert page.request.post("/console/signatures", form={
        "csrf": csrf, "SignName": "驿站科技", "QualificationId": "1"}).status == 403
    page.context.close()


def test_another_tenants_qualification_and_document_are_not_found(
        browser: Any, console: Console, people: tuple[str, str]) -> None:
    owner = logged_in(browser, console, people[0])
    upload(owner, "AdminIDCardFrontFace", "front.png", "image/png", PNG)
    front = uploaded_key(owner)
    upload(owner, "AdminIDCardPic", "back.png", "image/png", PNG)
    back = uploaded_key(owner)
    fill(owner, {**FIELDS, "QualificationName": "隔离测验资质"},
         {"AdminIDCardFrontFace": front, "AdminIDCardPic": back})
    owner.click("#qual-submit")
    mine = submitted_id(owner)
    assert owner.request.get(f"/console/qualifications/{mine}/document?key={front}").ok
    other = logged_in(browser, console, "acme-admin")
    other.goto("/console/qualifications")
    assert front not in other.locator("main").inner_text()
    assert other.locator(f"#qualifications tr[data-id='{mine}']").count() == 0
    answer = other.goto(f"/console/qualifications/{mine}")
    assert answer.status == 404 and COMPANY not in other.locator("main").inner_text()
    answer = other.request.get(f"/console/qualifications/{mine}/document?key={front}")
    assert answer.status == 404 and answer.body() != PNG
    # nor may it name the document in a qualification of its own
    csrf = other.locator("header input[name=csrf]").get_attribute("value")
    answer = other.request.post("/console/qualifications", form={
        "csrf": csrf, **FIELDS, "UseBySelf": "true", "CompanyType": "COMPANY",
        "LegalPersonIDCardType": "identityCard", "AdminIDCardType": "identityCard",
        "AdminIDCardFrontFace": front, "AdminIDCardPic": back})
    assert answer.status == 400 and "isv.DOCUMENT_NOT_UPLOADED" in answer.text()
    owner.context.close()
    other.context.close()


def test_the_page_in_english_and_on_a_phone(browser: Any, console: Console,
                                            people: tuple[str, str], screenshots: Path) -> None:
    page = logged_in(browser, console, people[0], "en")
    visit(page, console, "/console/qualifications")
    assert page.locator("h1").inner_text() == "Qualifications"
    assert page.locator("header nav a", has_text="Qualifications").count() == 1
    page.screenshot(path=str(screenshots / "qualifications-en.png"), full_page=True)
    approved = page.locator("#qualifications tr", has_text="approved").locator("td a")
    if approved.count():  # after the flow's test
        approved.first.click()
        assert page.locator("#documents td").first.inner_text() == \
            "Administrator's ID card, front"
        assert page.locator("#documents a.view").count() >= 2
        page.screenshot(path=str(screenshots / "qualification-en.png"), full_page=True)
    phone = logged_in(browser, console, people[0], "zh", width=390)
    for path in ("/console/qualifications", "/console/signatures"):
        phone.goto(path)
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    page.context.close()
    phone.context.close()
