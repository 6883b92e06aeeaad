"""The whole flow through the console's pages, in English (issue 19 point 5): from an empty
account to a failed message's diagnosis, with nothing but two people in a browser. The
operator creates the account, tops it up and adds its tenant admin; the tenant admin submits
a qualification, the operator approves it; the tenant submits a signature on it, the
operator approves it and records the carriers' answers to its registration (the simulated
carriers answer by themselves only a minute or two later); the tenant submits a template,
the operator approves it; the tenant sends a task from a number file, follows its progress
until the simulator's receipts are in (two delivered, FAILING_NUMBER failed), opens the
task's records and the failed message, whose diagnosis names its cause. No CLI, no SDK: the
steps are the pages' forms."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.console import test_qualifications as q  # its form helpers and FIELDS
from tests.console.conftest import FAILING_NUMBER, PASSWORD, Console, log_in, new_page

pytestmark = [pytest.mark.timeout(300), pytest.mark.xdist_group("browser")]

ACCOUNT = "flowco"
ADMIN = "flow-admin"
QUALIFICATION = "驿站流程资质"
SIGNATURE = "驿站科技"  # a contiguous part of the FIELDS' company name: the carriers register it
NOTICE = "您的订单${order}已发货，请留意查收。"
FILE = ("phone,order\n"
        "13800138021,F1\n"
        f"{FAILING_NUMBER},F2\n"
        "13800138022,F3\n")
"""Two numbers the simulator delivers, and FAILING_NUMBER, which it fails with UNDELIV."""
SETTLE = 60.0
"""Seconds the test reloads the task's page for, waiting for the receipts."""


def approve(operator: Any, kind: str, card: Any) -> str:
    """Approve the waiting item `card` of the review queue of `kind`: the notice."""
    operator.goto(f"/console/review?kind={kind}")
    card(operator).locator("form.inline.decide button").click()
    return str(operator.locator("#notice").inner_text())


def test_from_an_empty_account_to_a_failed_messages_diagnosis(browser: Any,
                                                               console: Console) -> None:
    from playwright.sync_api import expect

    operator = new_page(browser, console)
    log_in(operator, "ops", PASSWORD)
    # the operator: the account, its money, its tenant admin
    operator.fill("#create-account input[name=name]", ACCOUNT)
    operator.click("#create-account button")
    assert operator.locator("h1").inner_text().startswith(ACCOUNT)
    operator.fill("#topup input[name=amount]", "10")
    operator.fill("#topup input[name=reason]", "first payment")
    operator.click("#topup button")
    assert operator.locator("#account-balance").inner_text() == "10.000 yuan"
    operator.fill("#add-person input[name=login]", ADMIN)
    operator.select_option("#add-person select[name=role]", "tenant-admin")
    operator.click("#add-person button")
    password = operator.locator("#new-password").inner_text()

    tenant = new_page(browser, console)
    log_in(tenant, ADMIN, password)
    assert tenant.url.endswith("/console/overview")
    # the tenant: a qualification, its documents uploaded from the page
    keys = {}
    for role, name, kind, body in (("AdminIDCardFrontFace", "front.png", "image/png", q.PNG),
                                   ("AdminIDCardPic", "back.jpg", "image/jpeg", q.JPEG),
                                   ("BusinessLicensePic", "licence.pdf", "application/pdf",
                                    q.PDF)):
        q.upload(tenant, role, name, kind, body)
        keys[role] = q.uploaded_key(tenant)
    q.fill(tenant, {**q.FIELDS, "QualificationName": QUALIFICATION}, keys)
    tenant.click("#qual-submit")
    qualification = q.submitted_id(tenant)
    # the operator approves it
    notice = approve(operator, "qualification",
                     lambda page: page.locator(f"#qualification-{qualification}"))
    assert notice == f"{QUALIFICATION}: approved."
    # the tenant: a signature on it
    tenant.goto("/console/signatures")
    tenant.fill("#sign-name", SIGNATURE)
    tenant.select_option("#sign-qualification", str(qualification))
    tenant.fill("#sign-remark", "order notices")
    tenant.click("#sign-submit")
    assert tenant.locator("#done").inner_text().startswith(f"Signature {SIGNATURE} ")
    # the operator approves it, which files its registration with every carrier
    notice = approve(operator, "signature",
                     lambda page: page.locator("section.waiting", has_text=QUALIFICATION))
    assert notice.startswith(f"{SIGNATURE}: approved. Carrier registration: "), notice
    # and records each carrier's answer: registered
    operator.goto("/console/registrations")
    card = operator.locator("section.registration", has_text=ACCOUNT)
    assert card.locator("tbody tr").count() == 3  # mobile, unicom, telecom
    answers = card.locator("form.answer")
    assert answers.count() == 3, card.inner_text()
    for left in (2, 1, 0):
        answers.first.locator("select[name=answer]").select_option("registered")
        answers.first.locator("button").click()
        assert answers.count() == left
    tenant.goto("/console/signatures")
    signature = tenant.locator("section.signature", has_text=SIGNATURE)
    assert signature.locator("dd.state").inner_text() == "approved"
    assert signature.locator("tbody .status").all_inner_texts() == ["can send"] * 3
    # the tenant: a template, approved by the operator
    tenant.goto("/console/templates")
    tenant.select_option("#lint-type", "notification")
    tenant.fill("#tpl-name", "Order shipped")
    tenant.fill("#lint-content", NOTICE)
    tenant.fill("#tpl-remark", "sent when an order ships")
    tenant.click("#tpl-submit")
    code = tenant.locator("#done").inner_text().split(" ")[1]
    notice = approve(operator, "template", lambda page: page.locator(f"#template-{code}"))
    assert notice.startswith("Order shipped ("), notice
    # the tenant: a send task from a number file, its pre-flight report, started
    tenant.goto("/console/tasks")
    tenant.select_option("select[name=sign_name]", SIGNATURE)
    tenant.select_option("select[name=template_code]", code)
    tenant.fill("input[name=name]", "First shipment notices")
    tenant.set_input_files("input[name=file]", files=[{
        "name": "numbers.csv", "mimeType": "text/csv", "buffer": FILE.encode()}])
    tenant.click("#upload")
    match = re.search(r"/console/tasks/(\d+)$", tenant.url)
    assert match is not None, tenant.url
    task = int(match.group(1))
    assert tenant.locator("#report #sendable").inner_text() == "3"
    assert "covered" in tenant.locator("#report #cost").inner_text()
    tenant.click("#start")
    # its progress, reloaded until the receipts are in
    state = tenant.locator("#task-state")
    deadline = time.monotonic() + SETTLE
    while state.inner_text() != "finished":
        assert time.monotonic() < deadline, tenant.locator("main").inner_text()
        try:  # the page refreshes itself; the test reloads as well, to be sure
            expect(state).to_have_text("finished", timeout=2_000)
        except AssertionError:
            tenant.reload()
    count = "#counts [data-state={}] .value".format
    assert tenant.locator(count("delivered")).inner_text() == "2"
    assert tenant.locator(count("failed")).inner_text() == "1"
    assert tenant.locator("#done").inner_text() == "3 of 3 done"
    assert tenant.locator("#failures tbody tr td").first.inner_text() == "UNDELIV"
    # its records, and the failed message's diagnosis
    tenant.click("#task-records")
    assert tenant.url.endswith(f"/console/records?task={task}")
    rows = tenant.locator("table.records tbody tr")
    assert rows.count() == 3
    failed = rows.filter(has_text="UNDELIV")
    assert failed.locator("td.number").inner_text() == "139****9000"
    failed.locator("a").click()
    assert re.search(r"/console/records/\d+$", tenant.url), tenant.url
    assert "UNDELIV" in tenant.locator("section.card dl.facts").first.inner_text()
    assert tenant.locator("#cause").inner_text() == "handset_unreachable"
    assert tenant.locator("#what").inner_text().startswith(
        "The handset could not take the message (receipt UNDELIV)")
    assert "send again when the user is reachable" in tenant.locator("#todo").inner_text()
    operator.context.close()
    tenant.context.close()
