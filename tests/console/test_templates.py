"""The templates page in a real browser (issue 19 point 2): a tenant admin submits a template
(AddSmsTemplate's refusals, with the API's codes and messages, in the viewer's language),
sees the reviewer's rejection and its reason, changes the template and submits it again
(ModifySmsTemplate: not once approved), deletes one (DeleteSmsTemplate); the linter's hints
stay; a viewer cannot change anything (403); another tenant's template is 404; a phone's
width. The tests use an account of their own, so that the other pages' tests see the demo's
templates as they were."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import PASSWORD, Console, add_tenant, log_in, logged_in, visit

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("browser")]

ACCOUNT = "tplco"
NOTICE = "您的订单${order}已发货，请注意查收"
PROMOTION = "新用户首月短信${discount}折，详情见官网"


@pytest.fixture(scope="module")
def people(console: Console) -> tuple[str, str]:
    return add_tenant(console, ACCOUNT, "tpl-admin", "tpl-viewer")


def csrf_of(page: Any) -> str:
    return str(page.locator("header input[name=csrf]").get_attribute("value"))


def row(page: Any, code: str) -> Any:
    return page.locator(f"#templates tr[data-code='{code}']")


def submit_template(page: Any, type_: str, name: str, content: str, remark: str) -> None:
    page.select_option("#lint-type", type_)
    page.fill("#tpl-name", name)
    page.fill("#lint-content", content)
    page.fill("#tpl-remark", remark)
    page.click("#tpl-submit")


def audited(console: Console, action: str) -> list[str]:
    with sqlite3.connect(console.data_dir / "yizhan.db") as db:
        return [r[0] for r in db.execute(
            "SELECT subject FROM console_audit WHERE action = ? ORDER BY id", (action,))]


def test_an_admin_submits_sees_the_rejection_changes_and_deletes_a_template(
        browser: Any, console: Console, people: tuple[str, str]) -> None:
    page = logged_in(browser, console, people[0], "zh")
    visit(page, console, "/console/templates")
    assert page.locator("#templates").count() == 0
    # refused as the API refuses it: a promotion without its opt-out words
    submit_template(page, "promotion", "首月优惠", PROMOTION, "新用户促销")
    assert page.locator("#refusal .error").inner_text() == "未能提交: isv.PROMOTION_OPT_OUT_MISSING"
    assert "拒收请回复R" in page.locator("#refusal").inner_text()
    assert page.locator("#tpl-name").input_value() == "首月优惠"  # the form keeps the text
    assert page.locator("#hints li.refuses").count() >= 1  # and its hints
    # too long a text: the API's own limit and words
    submit_template(page, "notification", "发货通知", NOTICE + "。" * 500, "发货通知")
    assert "isv.INVALID_PARAMETERS" in page.locator("#refusal").inner_text()
    assert "TemplateName has at most 30 characters" in page.locator("#refusal").inner_text()
    # accepted
    submit_template(page, "notification", "发货通知", NOTICE, "订单发货后通知买家")
    done = page.locator("#done").inner_text()
    assert done.startswith("模板 ") and done.endswith(" 已提交，正在审核。")
    code = done.split(" ")[1]
    assert row(page, code).locator("td.state").inner_text() == "审核中"
    # the operator rejects it, with a reason the tenant sees
    console.cli("templates", "reject", code, "--reason", "变量 order 请说明用途")
    page.goto("/console/templates")
    assert row(page, code).locator("td.state").inner_text() == \
        "未通过\n原因: 变量 order 请说明用途"
    # changed and submitted again: under review once more
    row(page, code).locator("a.edit").click()
    assert page.locator("#lint-content").input_value() == NOTICE
    assert page.locator("#tpl-remark").input_value() == "订单发货后通知买家"
    page.fill("#lint-content", "您的订单${order}已发货，订单号用于查询物流")
    page.click("#tpl-submit")
    assert page.locator("#done").inner_text() == f"模板 {code} 已修改，重新进入审核。"
    assert row(page, code).locator("td.state").inner_text() == "审核中"
    assert "订单号用于查询物流" in row(page, code).locator("td.content").inner_text()
    # once approved it is not changed any more: no link, and the form is refused
    console.cli("templates", "approve", code)
    page.goto("/console/templates")
    assert row(page, code).locator("a.edit").count() == 0
    answer = page.request.post(f"/console/templates/{code}", form={
        "csrf": csrf_of(page), "do": "submit", "type": "notification", "name": "改名",
        "content": NOTICE, "remark": ""})
    assert answer.status == 400
    assert "an approved template cannot be changed" in answer.text()
    # deleted
    row(page, code).locator("button.delete").click()
    assert page.locator("#done").inner_text() == f"模板 {code} 已删除。"
    assert row(page, code).count() == 0
    assert audited(console, "AddSmsTemplate")[-1] == f"template {code}"
    assert audited(console, "ModifySmsTemplate")[-1] == f"template {code}"
    assert audited(console, "DeleteSmsTemplate")[-1] == f"template {code}"
    page.context.close()


def test_refusals_speak_the_viewers_language(browser: Any, console: Console,
                                            people: tuple[str, str]) -> None:
    page = logged_in(browser, console, people[0], "en")
    page.goto("/console/templates")
    submit_template(page, "notification", "", NOTICE, "")
    assert page.locator("#refusal .error").inner_text() == "Refused: MissingParameter"
    assert page.locator("#refusal p").nth(1).inner_text() == \
        'The input parameter "TemplateName" that is mandatory for processing this request ' \
        "is not supplied."
    page.context.close()


def test_the_forms_work_without_javascript(browser: Any, console: Console,
                                           people: tuple[str, str]) -> None:
    context = browser.new_context(base_url=console.url, java_script_enabled=False)
    page = context.new_page()
    log_in(page, people[0], PASSWORD)
    page.goto("/console/templates")
    page.select_option("#lint-type", "promotion")
    page.fill("#lint-content", PROMOTION)
    page.click("form.lint button[value=check]")  # the hints, nothing submitted
    assert "拒收请回复R" in page.locator("#hints li.refuses").inner_text()
    assert page.locator("#lint-content").input_value() == PROMOTION
    page.fill("#tpl-name", "首月优惠")
    page.fill("#lint-content", PROMOTION + "拒收请回复R")
    page.click("#tpl-submit")
    assert "under review" in page.locator("#done").inner_text()
    context.close()


def test_a_viewer_sees_the_hints_and_cannot_change_anything(
        browser: Any, console: Console, people: tuple[str, str]) -> None:
    admin = logged_in(browser, console, people[0])
    admin.goto("/console/templates")
    submit_template(admin, "verification", "登录验证码", "您的验证码为${code}，5分钟内有效",
                    "登录")
    code = admin.locator("#done").inner_text().split(" ")[1]
    viewer = logged_in(browser, console, people[1])
    viewer.goto("/console/templates")
    assert row(viewer, code).count() == 1
    assert viewer.locator("#tpl-submit").count() == 0
    assert viewer.locator("#templates button, #templates a.edit").count() == 0
    viewer.select_option("#lint-type", "promotion")  # the hints stay for a viewer
    viewer.fill("#lint-content", PROMOTION)
    viewer.locator("#hints li.refuses").first.wait_for()
    csrf = csrf_of(viewer)
    for path, form in (("/console/templates", {"do": "submit", "type": "notification",
                                                "name": "x", "content": NOTICE}),
                       (f"/console/templates/{code}", {"do": "submit", "type": "notification",
                                                       "name": "x", "content": NOTICE}),
                       (f"/console/templates/{code}/delete", {})):
        assert viewer.request.post(path, form={"csrf": csrf, **form}).status == 403
    admin.goto("/console/templates")
    assert row(admin, code).count() == 1  # still there, unchanged
    admin.context.close()
    viewer.context.close()


def test_another_tenants_template_is_not_found(browser: Any, console: Console,
                                               people: tuple[str, str]) -> None:
    page = logged_in(browser, console, people[0])
    page.goto("/console/templates")
    submit_template(page, "notification", "到货通知", "您的包裹${parcel}已到站", "到货")
    code = page.locator("#done").inner_text().split(" ")[1]
    other = logged_in(browser, console, "acme-admin")
    assert other.goto(f"/console/templates?edit={code}").status == 404
    assert code not in other.locator("main").inner_text()
    csrf = csrf_of(other)
    answer = other.request.post(f"/console/templates/{code}", form={
        "csrf": csrf, "do": "submit", "type": "notification", "name": "夺取",
        "content": NOTICE})
    assert answer.status == 404 and "您的包裹" not in answer.text()
    assert other.request.post(f"/console/templates/{code}/delete",
                              form={"csrf": csrf}).status == 404
    page.goto("/console/templates")
    assert row(page, code).locator("td.content").inner_text() == "您的包裹${parcel}已到站"
    page.context.close()
    other.context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_page_in_both_languages_and_on_a_phone(browser: Any, console: Console,
                                                   people: tuple[str, str], lang: str,
                                                   screenshots: Path) -> None:
    page = logged_in(browser, console, people[0], lang)
    visit(page, console, "/console/templates")
    page.select_option("#lint-type", "promotion")
    page.fill("#tpl-name", "周末促销")
    page.fill("#lint-content", PROMOTION)
    page.locator("#hints li.refuses").wait_for()
    assert page.locator("h2").first.inner_text() == ("提交模板审核" if lang == "zh"
                                                     else "Submit a template for review")
    page.screenshot(path=str(screenshots / f"templates-submit-{lang}.png"), full_page=True)
    phone = logged_in(browser, console, people[0], lang, width=390)
    phone.goto("/console/templates")
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    page.context.close()
    phone.context.close()
