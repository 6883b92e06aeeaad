"""The console in a real browser (issue 19 points 1, 2, 4 and 5): login and logout, a wrong
password, the login's rate limit, the language switch and Accept-Language, every page in
both languages (screenshots into docs/console/), masking and the audited unmask, a tenant
seeing only its own data, no asset from another host, and a phone's width."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import (
    FAILING_NUMBER,
    PASSWORD,
    Console,
    log_in,
    new_page,
    visit,
)

pytestmark = [pytest.mark.timeout(120), pytest.mark.xdist_group("browser")]


def test_a_wrong_password_is_refused_and_the_right_one_logs_in(browser: Any,
                                                                 console: Console) -> None:
    page = new_page(browser, console)
    log_in(page, "demo", "not the password")
    assert page.locator(".error").inner_text() == "Wrong login or password."
    assert "/console/login" in page.url
    log_in(page, "demo", console.demo_password)
    assert page.url.endswith("/console/overview")
    cookie = next(c for c in page.context.cookies() if c["name"] == "yizhan_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    page.context.close()


def test_logout_ends_the_session_on_the_server(browser: Any, console: Console) -> None:
    page = new_page(browser, console)
    log_in(page, "demo", console.demo_password)
    stolen = [c for c in page.context.cookies() if c["name"] == "yizhan_session"]
    page.click("header form button")  # log out
    assert "/console/login" in page.url
    page.goto("/console/overview")
    assert "/console/login" in page.url
    other = new_page(browser, console)  # the old cookie, replayed, opens nothing
    other.context.add_cookies(stolen)
    other.goto("/console/records")
    assert "/console/login?next=%2Fconsole%2Frecords" in other.url
    page.context.close()
    other.context.close()


def test_failed_logins_past_the_limit_are_refused_even_with_the_right_password(
        browser: Any, console: Console) -> None:
    page = new_page(browser, console, "zh")
    for _ in range(5):
        log_in(page, "limited", "wrong password")
        assert page.locator(".error").inner_text() == "登录名或密码错误。"
    log_in(page, "limited", PASSWORD)
    assert "登录失败次数过多" in page.locator(".error").inner_text()
    assert "/console/login" in page.url
    page.context.close()


def test_the_language_follows_the_browser_then_the_switch(browser: Any,
                                                          console: Console) -> None:
    page = new_page(browser, console, "zh")
    page.goto("/console/login")
    assert page.locator("h1").inner_text() == "登录"
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    page.click("text=English")
    assert page.locator("h1").inner_text() == "Log in"
    log_in(page, "demo", console.demo_password)
    assert page.locator("h1").inner_text().startswith("Overview")
    page.click("text=中文")
    assert page.locator("h1").inner_text().startswith("概览")
    assert page.url.endswith("/console/overview")
    page.context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_page_in_both_languages(browser: Any, console: Console, lang: str,
                                      screenshots: Path) -> None:
    page = new_page(browser, console, lang)
    visit(page, console, "/console/login")
    page.screenshot(path=str(screenshots / f"login-{lang}.png"))
    log_in(page, "demo", console.demo_password)
    visit(page, console, "/console/overview")
    assert page.locator("#today-sent").inner_text() == "2"
    assert page.locator("#today-success").inner_text() == "1"
    assert page.locator("#today-rate").inner_text() == "50.0 %"
    mobile = "中国移动" if lang == "zh" else "China Mobile"
    assert page.locator("svg.chart text", has_text=mobile).count() == 1  # labelled bars
    page.screenshot(path=str(screenshots / f"overview-{lang}.png"), full_page=True)
    visit(page, console, "/console/records")
    assert page.locator("#total").inner_text() == ("共 2 条" if lang == "zh" else "2 records")
    numbers = page.locator("td.number").all_inner_texts()
    assert sorted(numbers) == ["138****8000", "139****9000"]  # masked
    assert all("1234" not in c for c in page.locator("td.content").all_inner_texts())
    page.screenshot(path=str(screenshots / f"records-{lang}.png"), full_page=True)
    visit(page, console, f"/console/records/{console.message_ids[1]}")
    assert page.locator("#phone").inner_text() == "139****9000"
    assert page.locator("#cause").inner_text() != ""
    assert page.locator("#what").inner_text() != ""
    page.screenshot(path=str(screenshots / f"message-{lang}.png"), full_page=True)
    visit(page, console, "/console/statistics")
    assert page.locator("#stats tbody tr").count() == 1  # today's only row
    assert page.locator("#stats tbody td").all_inner_texts()[1:3] == ["2", "1"]
    page.screenshot(path=str(screenshots / f"statistics-{lang}.png"), full_page=True)
    visit(page, console, "/console/signatures")
    assert page.locator("section.signature h2").first.inner_text() == "驿站"
    can_send = "可发送" if lang == "zh" else "can send"
    assert page.locator("section.signature .status").all_inner_texts() == [can_send] * 3
    page.screenshot(path=str(screenshots / f"signatures-{lang}.png"), full_page=True)
    visit(page, console, "/console/calls?action=POST%20%2Fv1%2Fmessages")  # the send
    assert page.locator("#total").inner_text() == ("共 1 次调用" if lang == "zh"
                                                   else "1 calls")
    assert page.locator("td.number").inner_text() == "138****8000, 139****9000"
    page.screenshot(path=str(screenshots / f"calls-{lang}.png"), full_page=True)
    visit(page, console, "/console/templates")
    assert page.locator("#templates tbody tr").count() == 3  # the demo's three
    page.screenshot(path=str(screenshots / f"templates-{lang}.png"), full_page=True)
    visit(page, console, "/console/keys")
    assert page.locator("header nav a[aria-current]").inner_text() == (
        "AccessKey" if lang == "zh" else "AccessKeys")
    assert console.key[0] in page.locator("#keys td.key").all_inner_texts()
    assert console.key[1] not in page.content()  # a secret is never listed
    page.screenshot(path=str(screenshots / f"keys-{lang}.png"), full_page=True)
    page.context.close()


def test_an_admin_creates_and_disables_an_access_key_a_viewer_cannot(
        browser: Any, console: Console) -> None:
    page = new_page(browser, console)
    log_in(page, "demo", console.demo_password)
    page.goto("/console/keys")
    page.click("#create-key")
    key = (page.locator("#new-key-id").inner_text(), page.locator("#new-key-secret").inner_text())
    with httpx.Client(base_url=console.url, auth=key, timeout=10) as client:
        assert client.get("/v1/test-numbers").status_code == 200  # the new key works
        page.goto("/console/keys")
        assert key[1] not in page.content()  # shown once only
        viewer = new_page(browser, console)
        log_in(viewer, "demo-viewer", PASSWORD)
        viewer.goto("/console/keys")
        assert viewer.locator("#create-key").count() == 0
        assert viewer.locator("#keys button").count() == 0
        csrf = viewer.locator("header input[name=csrf]").get_attribute("value")
        assert viewer.request.post(f"/console/keys/{key[0]}/disable",
                                   form={"csrf": csrf}).status == 403
        other = new_page(browser, console)  # another tenant cannot disable it either
        log_in(other, "acme-admin", PASSWORD)
        csrf = other.locator("header input[name=csrf]").get_attribute("value")
        assert other.request.post(f"/console/keys/{key[0]}/disable",
                                  form={"csrf": csrf}).status == 404
        assert key[0] not in other.content()
        page.locator(f"tr:has-text('{key[0]}') button").click()
        assert page.locator(f"tr:has-text('{key[0]}') td").nth(1).inner_text() == "disabled"
        deadline = time.monotonic() + 10  # the API's key cache lets it go within a second
        while client.get("/v1/test-numbers").status_code == 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    with sqlite3.connect(console.data_dir / "yizhan.db") as db:
        audited = db.execute("SELECT action FROM console_audit WHERE subject = ?",
                             (key[0],)).fetchall()
    assert sorted(audited) == [("key created",), ("key disabled",)]
    for opened in (page, viewer, other):
        opened.context.close()


PROMOTION = "新用户首月短信${discount}折，详情见官网"


def test_the_template_linter_hints_as_one_types(browser: Any, console: Console) -> None:
    page = new_page(browser, console, "zh")
    log_in(page, "demo", console.demo_password)
    page.goto("/console/templates")
    page.select_option("#lint-type", "promotion")
    page.fill("#lint-content", PROMOTION)  # no button pressed: console.js asks
    hint = page.locator("#hints li.refuses")
    hint.wait_for()
    assert "拒收请回复R" in hint.inner_text()
    assert "isv.PROMOTION_OPT_OUT_MISSING" in hint.inner_text()
    page.fill("#lint-content", PROMOTION + "拒收请回复R")
    page.locator("#hints .ok").wait_for()
    page.context.close()


def test_the_template_linter_works_without_javascript(browser: Any,
                                                      console: Console) -> None:
    context = browser.new_context(base_url=console.url, java_script_enabled=False)
    page = context.new_page()
    log_in(page, "demo", console.demo_password)
    page.goto("/console/templates")
    page.select_option("#lint-type", "promotion")
    page.fill("#lint-content", PROMOTION)
    page.click("form.lint button")
    assert "拒收请回复R" in page.locator("#hints li.refuses").inner_text()
    context.close()


def test_statistics_download_as_csv(browser: Any, console: Console) -> None:
    page = new_page(browser, console)
    log_in(page, "demo", console.demo_password)
    page.goto("/console/statistics?group=carrier")
    answer = page.request.get(page.locator("#csv").get_attribute("href"))
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    lines = answer.text().lstrip("\ufeff").splitlines()
    assert lines == ["carrier,sent,success,failed,unknown,waiting,billed_parts,success_rate",
                     "china_mobile,2,1,1,0,0,1,0.5000"]  # the failed one is not billed
    page.context.close()


def test_records_filters(browser: Any, console: Console) -> None:
    page = new_page(browser, console)
    log_in(page, "demo", console.demo_password)
    page.goto(f"/console/records?phone={FAILING_NUMBER}")
    assert page.locator("td.number").all_inner_texts() == ["139****9000"]
    page.goto("/console/records")
    page.select_option("select[name=status]", "success")
    page.click("form.filters button")
    assert page.locator("td.number").all_inner_texts() == ["138****8000"]
    page.goto("/console/records?sign_name=nope")
    assert page.locator("#total").inner_text() == "0 records"
    page.goto("/console/records?phone=abc")
    assert page.locator(".error").inner_text().startswith("A filter is not valid")
    page.context.close()


def test_an_admin_unmasks_a_record_and_it_is_audited_a_viewer_cannot(
        browser: Any, console: Console) -> None:
    page = new_page(browser, console)
    log_in(page, "demo", console.demo_password)
    page.goto(f"/console/records/{console.message_ids[0]}")
    page.click("text=Show unmasked")
    assert page.locator("#phone").inner_text() == "13800138000"
    assert "1234" in page.locator("#content").inner_text()
    with sqlite3.connect(console.data_dir / "yizhan.db") as db:
        audited = db.execute("SELECT login, action, subject FROM console_audit "
                             "WHERE action = 'unmask'").fetchall()
    assert ("demo", "unmask", f"message {console.message_ids[0]}") in audited
    viewer = new_page(browser, console)
    log_in(viewer, "demo-viewer", PASSWORD)
    viewer.goto(f"/console/records/{console.message_ids[0]}")
    assert viewer.locator("text=Show unmasked").count() == 0
    assert viewer.locator("#phone").inner_text() == "138****8000"
    csrf = viewer.locator("header input[name=csrf]").get_attribute("value")
    answer = viewer.request.post(f"/console/records/{console.message_ids[0]}/unmask",
                                 form={"csrf": csrf})
    assert answer.status == 403 and "13800138000" not in answer.text()
    page.context.close()
    viewer.context.close()


def test_a_form_without_its_csrf_token_is_refused(browser: Any, console: Console) -> None:
    page = new_page(browser, console)
    log_in(page, "demo", console.demo_password)
    answer = page.request.post(f"/console/records/{console.message_ids[0]}/unmask",
                               form={"csrf": "forged"})
    assert answer.status == 403 and "13800138000" not in answer.text()
    answer = page.request.post("/console/logout", form={})
    assert answer.status == 403
    page.context.close()


def test_a_tenant_sees_only_its_own_data_on_every_page(browser: Any,
                                                       console: Console) -> None:
    page = new_page(browser, console)
    log_in(page, "acme-admin", PASSWORD)
    assert page.locator("h1").inner_text() == "Overview · acme"
    assert page.locator("#today-sent").inner_text() == "0"
    page.goto("/console/records")
    assert page.locator("#total").inner_text() == "0 records"
    for message_id in console.message_ids:  # the demo's messages: as if they did not exist
        answer = page.goto(f"/console/records/{message_id}")
        assert answer.status == 404
        assert "138" not in page.locator("main").inner_text()
        answer = page.request.post(
            f"/console/records/{message_id}/unmask",
            form={"csrf": page.locator("header input[name=csrf]").get_attribute("value")})
        assert answer.status == 404 and "13800138000" not in answer.text()
    page.goto("/console/statistics")
    assert page.locator("#stats").count() == 0
    csv = page.request.get("/console/statistics.csv").text().lstrip("\ufeff").splitlines()
    assert len(csv) == 1  # the header only
    page.goto("/console/signatures")
    assert page.locator("section.signature").count() == 0
    page.goto("/console/calls")
    assert page.locator("#total").inner_text() == "0 calls"
    page.goto("/console/keys")
    assert console.key[0] not in page.content()
    page.goto("/console/templates")
    assert page.locator("#templates").count() == 0  # none of the demo's
    assert page.goto("/console/operator").status == 403
    page.context.close()


def test_the_operator_sees_the_accounts_and_no_tenant_page(browser: Any, console: Console,
                                                           screenshots: Path) -> None:
    page = new_page(browser, console, "zh")
    log_in(page, "ops", PASSWORD)
    assert page.url.endswith("/console/operator")
    names = page.locator("tbody td:nth-child(2)").all_inner_texts()
    assert {"demo", "acme"} <= set(names)
    page.screenshot(path=str(screenshots / "operator-zh.png"))
    assert page.goto("/console/records").status == 403
    page.context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_pages_fit_a_phone(browser: Any, console: Console, lang: str,
                           screenshots: Path) -> None:
    page = new_page(browser, console, lang, width=390, height=844)
    log_in(page, "demo", console.demo_password)
    for path in ("/console/overview", "/console/records",
                 f"/console/records/{console.message_ids[1]}"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    page.goto("/console/records")
    page.screenshot(path=str(screenshots / f"records-phone-{lang}.png"))
    page.context.close()


def test_the_printed_operator_login_opens_the_operators_pages(browser: Any,
                                                              console: Console) -> None:
    page = new_page(browser, console)
    log_in(page, "admin", console.operator_password)
    assert page.url.endswith("/console/operator")
    assert page.goto("/console/review").status == 200
    assert page.goto("/console/overview").status == 403  # an operator has no account
    page.context.close()
