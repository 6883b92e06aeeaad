"""Send tasks in the console (issue 19 point 2, the group-send assistant): upload a number
file, read the pre-flight report, start it and watch the progress reach delivered and failed
through the simulator (the page refreshes itself), pause, resume, schedule and cancel,
resend the failures as a new task, download the rejected rows and the results; an upload
over the limit refused with a page that says so; a viewer refused every change, another
tenant not finding the task; both languages (screenshots into docs/console/) and a phone's
width."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import (
    FAILING_NUMBER,
    PASSWORD,
    Console,
    log_in,
    new_page,
    visit,
)
from yizhan.domain.timezone import CHINA

pytestmark = [pytest.mark.timeout(180), pytest.mark.xdist_group("browser")]

NOTICE = "您的订单${order}已发货，请留意查收。"
FILE = ("phone,order\n"
        "13800138011,A1\n"
        f"{FAILING_NUMBER},A2\n"
        "13800138011,A3\n"
        "12345,A4\n"
        "13800138012,A5\n")
"""Three numbers, a duplicate (line 4) and an invalid number (line 5); the simulator fails
FAILING_NUMBER with UNDELIV and delivers the others."""
SETTLE = 30_000
"""Milliseconds a test waits for receipts through the self-refreshing page."""


@pytest.fixture(scope="module")
def notice(console: Console) -> str:
    """An approved notification template of the demo account with one variable."""
    added = console.cli("templates", "add", "--account", "demo", "Order shipped", NOTICE,
                        "--type", "notification")
    code = re.search(r"template (\S+) added", added)
    assert code is not None, added
    console.cli("templates", "approve", code.group(1))
    return code.group(1)


@pytest.fixture
def admin(browser: Any, console: Console) -> Iterator[Any]:
    page = new_page(browser, console)
    log_in(page, "demo", console.demo_password)
    yield page
    page.context.close()


def upload(page: Any, template: str, body: str | bytes, name: str = "numbers.csv",
           task_name: str = "", rate: str = "", params: str = "") -> None:
    """Fill the new task's form and send it (the answer is the task's page, or the list
    with the refusal)."""
    page.goto("/console/tasks")
    page.select_option("select[name=sign_name]", "驿站")
    page.select_option("select[name=template_code]", template)
    page.fill("input[name=name]", task_name)
    page.fill("input[name=rate]", rate)
    page.fill("textarea[name=params]", params)
    page.set_input_files("input[name=file]", files=[{
        "name": name, "mimeType": "text/csv",
        "buffer": body.encode() if isinstance(body, str) else body}])
    page.click("#upload")


def task_id(page: Any) -> int:
    match = re.search(r"/console/tasks/(\d+)$", page.url)
    assert match is not None, page.url
    return int(match.group(1))


def count(page: Any, state: str) -> Any:
    return page.locator(f"#counts [data-state={state}] .value")


def csrf(page: Any) -> str:
    token = page.locator("header input[name=csrf]").get_attribute("value")
    assert token
    return str(token)


def test_upload_report_start_progress_records_and_resend(browser: Any, console: Console,
                                                         notice: str) -> None:
    """The whole flow with JavaScript off: forms, and a page that refreshes itself."""
    from playwright.sync_api import expect

    page = browser.new_context(base_url=console.url, locale="en-US",
                               java_script_enabled=False).new_page()
    log_in(page, "demo", console.demo_password)
    upload(page, notice, FILE, task_name="December notice")
    first = task_id(page)
    assert page.locator("#task-state").inner_text() == "draft"
    report = page.locator("#report")
    assert report.locator("#sendable").inner_text() == "3"
    assert report.locator("#duplicates").inner_text() == "1"
    assert report.locator("#invalid").inner_text() == "1"
    assert report.locator("#blacklisted").inner_text() == "0"
    assert report.locator("#frequency").inner_text() == "0"
    assert report.locator("#carriers").inner_text() == "China Mobile 3"
    assert report.locator("#countries").inner_text() == "CN 3"
    assert report.locator("#parts").inner_text().startswith("3 in all; 1 per message")
    assert "covered" in report.locator("#cost").inner_text()
    rejected = page.request.get(f"/console/tasks/{first}/rejected.csv")
    assert rejected.status == 200
    assert rejected.text().lstrip("\ufeff").splitlines() == [
        "line,value,reason", "4,13800138011,duplicate of line 2", "5,12345,invalid number"]

    page.click("#start")
    assert page.url.endswith(f"/console/tasks/{first}")
    # No reload by the test: the page refreshes itself until the receipts are in.
    assert page.locator("meta[http-equiv=refresh]").count() == 1
    expect(count(page, "delivered")).to_have_text("2", timeout=SETTLE)
    expect(count(page, "failed")).to_have_text("1", timeout=SETTLE)
    expect(page.locator("#task-state")).to_have_text("finished", timeout=SETTLE)
    assert count(page, "pending").inner_text() == "0"
    assert page.locator("#done").inner_text() == "3 of 3 done"
    failure = page.locator("#failures tbody tr")
    assert failure.locator("td").first.inner_text() == "UNDELIV"
    assert failure.locator("td").nth(2).inner_text() != ""  # what it means

    failures = page.request.get(f"/console/tasks/{first}/results.csv?failures=1").text()
    lines = failures.lstrip("\ufeff").splitlines()
    assert len(lines) == 2 and lines[1].startswith(f"3,+86{FAILING_NUMBER},failed,UNDELIV")
    results = page.request.get(f"/console/tasks/{first}/results.csv").text()
    assert len(results.lstrip("\ufeff").splitlines()) == 4

    page.click("#task-records")
    assert page.url.endswith(f"/console/records?task={first}")
    assert sorted(page.locator("td.number").all_inner_texts()) == [
        "138****8011", "138****8012", "139****9000"]

    page.goto(f"/console/tasks/{first}")
    page.click("#resend")
    second = task_id(page)
    assert second != first
    assert page.locator("#task-state").inner_text() == "draft"
    assert page.locator("#report #sendable").inner_text() == "1"  # the UNDELIV number only
    assert page.get_by_text(f"Resend of task {first}").count() == 1
    page.click("#cancel")
    assert page.locator("#task-state").inner_text() == "cancelled"

    page.goto("/console/tasks")
    rows = page.locator("#tasks tbody tr")
    assert rows.filter(has_text=f"#{first} December notice").locator(
        "td.state").inner_text() == "finished"
    page.context.close()


def test_pause_resume_schedule_and_cancel(admin: Any, console: Console, notice: str) -> None:
    page = admin
    numbers = "".join(f"1380013{n:04d},B{n}\n" for n in range(100, 120))
    upload(page, notice, "phone,order\n" + numbers, task_name="slow", rate="0.5")
    slow = task_id(page)
    assert "at 0.5 messages/s" in page.locator("#duration").inner_text()
    page.click("#start")
    assert page.locator("#task-state").inner_text() == "running"
    page.click("#pause")
    assert page.locator("#task-state").inner_text() == "paused"
    assert page.locator("#pause").count() == 0 and page.locator("#resume").count() == 1
    page.click("#resume")
    assert page.locator("#task-state").inner_text() == "running"
    page.click("#cancel")
    assert page.locator("#task-state").inner_text() == "cancelled"
    assert int(count(page, "cancelled").inner_text()) > 0  # the rows never sent
    assert page.locator("#actions #start").count() == 0
    answer = page.request.post(f"/console/tasks/{slow}/resume", form={"csrf": csrf(page)})
    assert answer.status == 409 and "isv.TASK_STATE_CONFLICT" in answer.text()

    upload(page, notice, "phone\n13800138130\n", params="order=C1")
    later = task_id(page)
    tomorrow = (datetime.now(CHINA) + timedelta(days=1)).replace(hour=9, minute=30)
    page.fill("input[name=start_at]", tomorrow.strftime("%Y-%m-%dT%H:%M"))
    page.click("#schedule")
    assert page.url.endswith(f"/console/tasks/{later}")
    assert page.locator("#task-state").inner_text() == "scheduled"
    assert page.locator("#start-at").inner_text().startswith(
        tomorrow.strftime("%Y-%m-%d 09:30"))
    page.click("#cancel")
    assert page.locator("#task-state").inner_text() == "cancelled"


def test_refused_uploads_say_why(admin: Any, console: Console, notice: str) -> None:
    page = admin
    too_large = b"phone,order\n" + b"13800138000,A\n" * (3 * 1024 * 1024 // 14 + 10_000)
    upload(page, notice, too_large)
    assert page.url.endswith("/console/tasks")
    assert "isv.TASK_FILE_TOO_LARGE" in page.locator("#task-error").inner_text()
    upload(page, notice, "phone\n13800138000\n")  # no value for ${order}
    assert "isv.TASK_MISSING_VARIABLE" in page.locator("#task-error").inner_text()
    upload(page, notice, "12345\nabc\n", name="numbers.txt", params="order=A")
    assert "isv.TASK_NO_NUMBERS" in page.locator("#task-error").inner_text()
    upload(page, notice, "not a workbook", name="numbers.xlsx", params="order=A")
    assert "isv.TASK_FILE_UNREADABLE" in page.locator("#task-error").inner_text()
    # The form keeps what was typed.
    assert page.locator("textarea[name=params]").input_value() == "order=A"
    # Past the API's body limit (1 MiB) but within the import's (3 MB): taken.
    padding = "x" * 120_000
    big = "phone,order,note\n" + "".join(f"1380013{n:04d},F{n},{padding}\n"
                                         for n in range(200, 210))
    assert len(big) > 1_100_000
    upload(page, notice, big)
    assert page.locator("#task-state").inner_text() == "draft"
    assert page.locator("#report #sendable").inner_text() == "10"


def test_a_viewer_sees_and_cannot_change_another_tenant_finds_nothing(
        browser: Any, admin: Any, console: Console, notice: str) -> None:
    upload(admin, notice, "phone,order\n13800138140,D1\n")
    task = task_id(admin)
    viewer = new_page(browser, console)
    log_in(viewer, "demo-viewer", PASSWORD)
    viewer.goto("/console/tasks")
    assert viewer.locator("#new-task").count() == 0
    assert viewer.locator(f"#tasks a[href='/console/tasks/{task}']").count() == 1
    viewer.goto(f"/console/tasks/{task}")
    assert viewer.locator("#report #sendable").inner_text() == "1"
    assert viewer.locator("#actions").count() == 0
    token = csrf(viewer)
    for action in ("start", "cancel", "resend", "schedule"):
        answer = viewer.request.post(f"/console/tasks/{task}/{action}",
                                     form={"csrf": token, "start_at": "2030-01-01T09:00"})
        assert answer.status == 403, action
    answer = viewer.request.post("/console/tasks", multipart={
        "csrf": token, "sign_name": "驿站", "template_code": notice,
        "file": {"name": "n.csv", "mimeType": "text/csv",
                 "buffer": b"phone,order\n13800138141,E\n"}})
    assert answer.status == 403
    admin.reload()
    assert admin.locator("#task-state").inner_text() == "draft"  # nothing changed

    other = new_page(browser, console)
    log_in(other, "acme-admin", PASSWORD)
    other.goto("/console/tasks")
    assert other.locator("#tasks").count() == 0
    assert other.goto(f"/console/tasks/{task}").status == 404
    assert "138" not in other.locator("main").inner_text()
    for path in ("rejected.csv", "results.csv"):
        assert other.request.get(f"/console/tasks/{task}/{path}").status == 404
    answer = other.request.post(f"/console/tasks/{task}/start", form={"csrf": csrf(other)})
    assert answer.status == 404
    answer = other.request.post(f"/console/tasks/{task}/start", form={"csrf": "forged"})
    assert answer.status == 403
    admin.reload()
    assert admin.locator("#task-state").inner_text() == "draft"
    viewer.context.close()
    other.context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_pages_in_both_languages_and_on_a_phone(browser: Any, console: Console,
                                                    notice: str, lang: str,
                                                    screenshots: Path) -> None:
    from playwright.sync_api import expect

    page = new_page(browser, console, lang)
    log_in(page, "demo", console.demo_password)
    upload(page, notice, FILE.replace("138001380", "138001385"),
           task_name="十二月通知" if lang == "zh" else "December notice")
    task = task_id(page)
    visit(page, console, f"/console/tasks/{task}")
    assert page.locator("#report-title").inner_text() == ("发送前检查" if lang == "zh"
                                                          else "Pre-flight report")
    assert page.locator("#task-state").inner_text() == ("草稿" if lang == "zh" else "draft")
    page.screenshot(path=str(screenshots / f"task-report-{lang}.png"), full_page=True)
    page.click("#start")
    expect(page.locator("#task-state")).to_have_text("已完成" if lang == "zh" else "finished",
                                                     timeout=SETTLE)
    expect(count(page, "submitted")).to_have_text("0", timeout=SETTLE)
    assert page.locator("#failures tbody tr").count() == 1
    page.screenshot(path=str(screenshots / f"task-{lang}.png"), full_page=True)
    visit(page, console, "/console/tasks")
    assert page.locator("h1").inner_text() == ("群发助手" if lang == "zh" else "Send tasks")
    page.screenshot(path=str(screenshots / f"tasks-{lang}.png"), full_page=True)
    page.context.close()

    phone = new_page(browser, console, lang, width=390, height=844)
    log_in(phone, "demo", console.demo_password)
    for path in ("/console/tasks", f"/console/tasks/{task}"):
        phone.goto(path)
        overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    phone.context.close()


def test_a_promotion_outside_promotion_hours_says_when_it_may_begin(
        admin: Any, console: Console) -> None:
    added = console.cli("templates", "add", "--account", "demo", "Sale",
                        "新品${item}上市，详情见官网，拒收请回复R", "--type", "promotion")
    code = re.search(r"template (\S+) added", added)
    assert code is not None, added
    console.cli("templates", "approve", code.group(1))
    page = admin
    upload(page, code.group(1), "phone\n13800138150\n", params="item=茶")
    task = task_id(page)
    page.goto(f"/console/tasks/{task}?at=2030-01-01T23:00")
    assert page.locator("#hours").inner_text() == (
        "outside them: sending begins 2030-01-02 08:00:00")
    page.fill("#report input[name=at]", "2030-01-02T10:00")
    page.click("#report button")
    assert page.locator("#hours").inner_text() == "within them"
    page.goto(f"/console/tasks/{task}?at=tomorrow")
    assert page.locator("#task-error").inner_text() == "A time is YYYY-MM-DDTHH:MM, China time."
