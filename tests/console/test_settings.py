"""The tenant's settings pages in a real browser (issue 19 point 2): frequency limits and
the whitelist, blacklist and opt-outs, push settings with a test push to a real receiver on
this machine; both languages with screenshots, a viewer refused, another tenant isolated, a
phone's width.

The pages that change settings run against a server of this module's own (so that the
session's shared demo account stays as the other console tests expect it), started with
`push_allowed_networks = ["127.0.0.0/8"]` as an operator would for a receiver on the same
machine (docs/push.md); the shared server, which allows no such network, shows the refusals
of the platform's SSRF guard.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.console.conftest import (
    PASSWORD,
    Console,
    _banner,
    _found,
    log_in,
    new_page,
    visit,
)

pytestmark = [pytest.mark.timeout(120), pytest.mark.xdist_group("browser")]


@dataclass
class Own(Console):
    template: str = ""
    """The demo's verification template."""


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Own]:
    """A `yizhan serve` of this module's own, loopback push targets allowed, with a viewer
    of the demo account and a second account `acme` with its admin."""
    folder = tmp_path_factory.mktemp("settings")
    env = {**os.environ, "YIZHAN_DATA_DIR": str(folder / "data"), "YIZHAN_LANGUAGE": "en",
           "YIZHAN_PUSH_ALLOWED_NETWORKS": '["127.0.0.0/8"]', "YIZHAN_PUSH_TIMEOUT_SECONDS": "2"}
    process = subprocess.Popen([sys.executable, "-m", "yizhan", "serve", "--port", "0"], env=env,
                               text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        banner = _banner(process)
        started = Own(_found(r"API endpoint\s+(\S+)", banner), folder / "data",
                      _found(r"password (\S+)\s+shown only now", banner),
                      (_found(r"AccessKey id\s+(\S+)", banner),
                       _found(r"AccessKey secret\s+(\S+)", banner)), [],
                      template=_found(r"Template\s+(\S+) \(verification\)", banner))
        started.cli("accounts", "create", "acme")
        for login, role, account in (("demo-viewer", "tenant-viewer", "demo"),
                                     ("acme-admin", "tenant-admin", "acme")):
            started.cli("console-user", "add", login, "--role", role, "--account", account,
                        "--password-stdin", stdin=PASSWORD + "\n")
        yield started
    finally:
        process.terminate()
        process.wait(15)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), found.handler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}/receipts"
    yield found
    server.shutdown()
    server.server_close()


class Receiver:
    """A tenant's push receiver: answers `status` with `{"code": 0}` and keeps each post."""

    def __init__(self) -> None:
        self.url = ""
        self.status = 200
        self.posts: list[tuple[dict[str, str], bytes]] = []

    def handler(self) -> type[BaseHTTPRequestHandler]:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                outer.posts.append((dict(self.headers.items()), body))
                answer = b'{"code": 0, "msg": "ok"}'
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _signed(secret: str, headers: dict[str, str], body: bytes) -> bool:
    lowered = {k.lower(): v for k, v in headers.items()}
    expected = "v1=" + hmac.new(secret.encode(), lowered["x-yizhan-timestamp"].encode() + b"."
                                + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, lowered["x-yizhan-signature"])


def _csrf(page: Any) -> str:
    value = page.locator("header input[name=csrf]").get_attribute("value")
    assert isinstance(value, str)
    return value


def test_an_admin_lowers_limits_and_whitelists_numbers_as_the_api_sees_them(
        browser: Any, own: Own) -> None:
    page = new_page(browser, own)
    log_in(page, "demo", own.demo_password)
    page.goto("/console/frequency")
    page.fill("input[name='verification.hour']", "3")
    page.fill("input[name='promotion.day']", "60")  # above the platform's 50: all refused
    page.click("#save-limits")
    assert "isv.INVALID_PARAMETERS" in page.locator(".error").inner_text()
    assert "promotion.day: from 1 to 50" in page.locator(".error").inner_text()
    with httpx.Client(base_url=own.url, auth=own.key, timeout=10) as api:
        rules = {r["rule"]: r for r in api.get("/v1/frequency/limits").json()["rules"]}
        assert rules["verification.hour"]["account"] is None  # nothing saved
        page.fill("input[name='verification.hour']", "3")
        page.fill("input[name='promotion.day']", "")
        page.click("#save-limits")
        assert page.locator(".ok").inner_text() == ("Limits saved; they apply from the next "
                                                    "send.")
        assert page.locator("tr[data-rule='verification.hour'] .effective").inner_text() == "3"
        rules = {r["rule"]: r for r in api.get("/v1/frequency/limits").json()["rules"]}
        assert rules["verification.hour"]["account"] == 3
        assert rules["verification.hour"]["effective"] == 3

        number = "#whitelist-form input[name=number]"
        page.fill(number, "13800138000")  # not enterprise-verified yet
        page.click("#whitelist-add")
        assert page.locator(".error").inner_text().startswith(
            "isv.ENTERPRISE_ACCOUNT_REQUIRED: Only enterprise-verified accounts")
        own.cli("accounts", "verify-enterprise", "demo", "--company", "驿站科技")
        page.fill(number, "13800138000")
        page.click("#whitelist-add")
        assert page.locator(".ok").inner_text() == "138****8000 is whitelisted."
        assert page.locator("#whitelist td.number").all_inner_texts() == ["138****8000"]
        assert page.locator("#enterprise").inner_text() == "yes"
        assert [n["phone_number"] for n in api.get("/v1/frequency/whitelist").json()[
            "numbers"]] == ["13800138000"]
        page.fill(number, "12345")
        page.click("#whitelist-add")
        assert page.locator(".error").inner_text().startswith("isv.MOBILE_NUMBER_ILLEGAL")
        page.fill(number, "+8613800138000")  # the same number, taken off
        page.click("#whitelist-remove")
        assert page.locator(".ok").inner_text() == "138****8000 is no longer whitelisted."
        assert api.get("/v1/frequency/whitelist").json()["numbers"] == []
        changes = page.locator("#changes tbody tr").all_inner_texts()
        assert all("console demo" in c for c in changes[:2])  # then the CLI's verification
        assert "whitelist 138****8000" in changes[0] and "13800138000" not in page.content()
        assert any("limit verification.hour" in c for c in changes)

        assert api.post("/v1/messages", json={  # one code: what a second would meet
            "phone_numbers": ["13800138001"], "sign_name": "驿站", "template_code": own.template,
            "template_param": {"code": "1234"}}).status_code == 200
    page.fill("input[name=sign]", "驿站")
    page.fill("input[name=template]", own.template)
    page.fill("#explain-form input[name=number]", "13800138001")
    page.click("#explain")
    assert page.locator("#verdict").inner_text().startswith(
        "A send to 138****8001 is refused until ")
    minute = page.locator("#windows tr[data-rule='verification.minute'] td")
    assert minute.all_inner_texts()[:2] == ["verification.minute", "1/1"]
    assert minute.nth(3).inner_text() == "yes"  # blocking
    assert page.locator("#windows tr[data-rule='verification.hour'] td").nth(0).inner_text() \
        == "verification.hour (your account's)"
    assert page.locator("#windows tr[data-rule='verification.hour'] .count").inner_text() \
        == "1/3"
    page.goto("/console/frequency?sign=驿站&template=SMS_0&number=13800138001")
    assert page.locator(".error").inner_text().startswith("isv.SMS_TEMPLATE_ILLEGAL")
    page.context.close()


def test_opt_outs_are_recorded_searched_and_never_removed(browser: Any, own: Console) -> None:
    own.cli("opt-outs", "add", "--account", "demo", "--sign", "驿站", "13700137000",
            "--source", "uplink 'TD' (extension)")
    own.cli("blacklist", "add", "13600136000", "--sign", "驿站")
    own.cli("blacklist", "add", "13500135000")
    page = new_page(browser, own)
    log_in(page, "demo", own.demo_password)
    page.goto("/console/lists")
    assert page.locator("#opt-outs td.number").all_inner_texts() == ["137****7000"]
    assert "uplink 'TD' (extension)" in page.locator("#opt-outs").inner_text()
    assert page.locator("#opt-outs button").count() == 0  # nothing to remove with
    page.select_option("form.lint select[name=sign]", "驿站")
    page.fill("textarea[name=numbers]", "13900139001\n13900139002, 13700137000")
    page.click("#add-opt-outs")  # the box not ticked
    assert page.locator(".error").inner_text() == ("Tick the box to confirm: an opt-out "
                                                   "cannot be undone.")
    page.select_option("form.lint select[name=sign]", "驿站")
    page.fill("textarea[name=numbers]", "13900139001\n12345")
    page.check("input[name=confirm]")
    page.click("#add-opt-outs")
    assert page.locator(".error").inner_text().startswith("Line 2: isv.MOBILE_NUMBER_ILLEGAL")
    page.select_option("form.lint select[name=sign]", "驿站")
    page.fill("textarea[name=numbers]", " ".join(["13900139001"] * 1001))
    page.check("input[name=confirm]")
    page.click("#add-opt-outs")
    assert page.locator(".error").inner_text() == ("At most 1000 numbers at once; this paste "
                                                   "holds 1001.")
    page.select_option("form.lint select[name=sign]", "驿站")
    page.fill("textarea[name=numbers]", "13900139001\n13900139002, 13700137000")
    page.check("input[name=confirm]")
    page.click("#add-opt-outs")
    assert page.locator(".ok").inner_text() == ("2 numbers opted out of the promotions of 驿站 "
                                                "(1 had already).")
    assert sorted(page.locator("#opt-outs td.number").all_inner_texts()) == [
        "137****7000", "139****9001", "139****9002"]
    assert "console demo" in page.locator("#opt-outs").inner_text()
    page.fill("input[name=phone]", "+8613900139002")  # search by the number, any form
    page.click("form.filters button")
    assert page.locator("#opt-outs td.number").all_inner_texts() == ["139****9002"]
    assert page.locator("#blacklist-answer").inner_text() == (
        "139****9002 is not blacklisted for your signatures.")
    page.goto("/console/lists?phone=13600136000")
    assert page.locator("#blacklist-answer").inner_text().startswith(
        "136****6000 is blacklisted for your signatures 驿站 since ")
    page.goto("/console/lists?phone=13500135000")
    assert "blacklisted for every signature" in page.locator("#blacklist-answer").inner_text()
    assert "isv.MOBILE_IN_BLACKLIST" in page.locator("#blacklist-answer").inner_text()
    assert page.locator("#opt-outs td").count() == 0
    other = new_page(browser, own, "zh")  # another tenant sees none of them
    log_in(other, "acme-admin", PASSWORD)
    other.goto("/console/lists?phone=13900139002")
    assert other.locator("#opt-outs td").count() == 0
    assert other.locator("form.filters option").count() == 1  # no signature: "all" only
    assert other.locator("#blacklist-answer").inner_text() == ("139****9002 未被拉黑，"
                                                                "不影响您的签名。")
    with sqlite3.connect(own.data_dir / "yizhan.db") as db:
        audited = db.execute("SELECT subject FROM console_audit WHERE action = ?",
                             ("opt-outs recorded",)).fetchall()
    assert audited == [("驿站: 2",)]
    page.context.close()
    other.context.close()


def test_push_targets_a_secret_shown_once_and_a_test_push_to_a_real_receiver(
        browser: Any, own: Console, receiver: Receiver) -> None:
    page = new_page(browser, own)
    log_in(page, "demo", own.demo_password)
    page.goto("/console/push")
    assert page.locator(".test-push").count() == 0
    page.fill("input[name=receipt_url]", "ftp://tenant.example/x")
    page.click("#save-targets")
    assert page.locator(".error").inner_text().startswith("InvalidParameter")
    page.fill("input[name=receipt_url]", receiver.url)
    page.fill("input[name=uplink_url]", "queue")
    page.click("#save-targets")
    secret = page.locator("#new-secret").inner_text()  # made with the first target
    assert len(secret) >= 32
    with httpx.Client(base_url=own.url, auth=own.key, timeout=10) as api:
        pushed = api.get("/v1/push").json()
    assert (pushed["receipt_url"], pushed["uplink_url"], pushed["secret"]) == (
        receiver.url, "queue", secret)
    page.goto("/console/push")
    assert secret not in page.content()  # never listed
    states = page.locator("#targets td.state").all_inner_texts()
    assert states == ["pushed", "pull queue", "off"]
    assert page.locator(".test-push").count() == 1  # only a URL can be tried

    page.click(".test-push")
    assert page.locator("#trial-outcome").inner_text().startswith("taken")
    assert page.locator("#trial-status").inner_text() == "200"
    assert page.locator("#trial-time").inner_text().endswith(" ms")
    headers, body = receiver.posts[-1]
    assert _signed(secret, headers, body)
    assert headers["X-Yizhan-Topic"] == "SmsReport"
    item = orjson.loads(body)[0]
    assert item["test"] is True and item["status"] == "success"

    receiver.status = 500
    page.click(".test-push")
    assert page.locator("#trial-outcome").inner_text() == "failed"
    assert page.locator("#trial-status").inner_text() == "500"
    assert page.locator("#trial-error").inner_text() == "HTTP 500"
    receiver.status = 200

    page.click("#rotate-secret")
    rotated = page.locator("#new-secret").inner_text()
    assert rotated != secret
    page.goto("/console/push")
    assert rotated not in page.content()
    page.click(".test-push")
    assert _signed(rotated, *receiver.posts[-1])
    assert len(receiver.posts) == 3

    other = new_page(browser, own)  # another tenant: none of this
    log_in(other, "acme-admin", PASSWORD)
    other.goto("/console/push")
    assert receiver.url not in other.content()
    assert other.locator("#targets td.state").all_inner_texts() == ["off"] * 3
    page.context.close()
    other.context.close()


def _local_name() -> str | None:
    """This machine's name, when it resolves to an address that is not public (a name the
    set-time check lets through and only the connect-time check refuses)."""
    name = socket.gethostname()
    try:
        address = ipaddress.ip_address(socket.gethostbyname(name))
    except OSError:
        return None
    return None if address.is_global else name


def test_the_ssrf_guard_refuses_internal_addresses_on_the_page(browser: Any,
                                                               console: Console) -> None:
    page = new_page(browser, console, "zh")
    log_in(page, "acme-admin", PASSWORD)
    page.goto("/console/push")
    page.fill("input[name=receipt_url]", "http://169.254.169.254/latest/meta-data/")
    page.click("#save-targets")
    error = page.locator("#push-error").inner_text()
    assert error.startswith("PushAddressForbidden: ") and "169.254.169.254" in error
    page.goto("/console/push")
    assert page.locator("#targets td.state").first.inner_text() == "关闭"  # nothing saved
    name = _local_name()
    if name is None:
        pytest.skip("this machine's name resolves to a public address")
    page.fill("input[name=receipt_url]", f"http://{name}:9/receipts")
    page.click("#save-targets")
    page.click(".test-push")
    assert page.locator("#push-error").inner_text().startswith("PushAddressForbidden: ")
    assert page.locator("#trial-status").inner_text() == "无应答"
    assert f"push refused: {name} resolves to" in page.locator("#trial-error").inner_text()
    page.context.close()


def test_a_viewer_reads_the_settings_and_changes_nothing(browser: Any, own: Own) -> None:
    page = new_page(browser, own)
    log_in(page, "demo-viewer", PASSWORD)
    for path in ("/console/frequency", "/console/lists", "/console/push"):
        assert page.goto(path).status == 200
        assert page.locator("main form[method=post]").count() == 0, path
    csrf = _csrf(page)
    for path, form in (("/console/frequency/limits", {"verification.hour": "2"}),
                       ("/console/frequency/whitelist", {"number": "13800138000",
                                                         "action": "add"}),
                       ("/console/lists/opt-outs", {"sign": "驿站", "numbers": "13900139005",
                                                    "confirm": "yes"}),
                       ("/console/push", {"receipt_url": ""}),
                       ("/console/push/secret", {}),
                       ("/console/push/test", {"kind": "receipt_url"})):
        assert page.request.post(path, form={"csrf": csrf, **form}).status == 403, path
    admin = new_page(browser, own)  # an admin's form without its session's token
    log_in(admin, "demo", own.demo_password)
    for path in ("/console/frequency/limits", "/console/lists/opt-outs", "/console/push/test"):
        assert admin.request.post(path, form={"kind": "receipt_url"}).status == 403, path
    page.context.close()
    admin.context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_settings_pages_fit_a_phone(browser: Any, own: Console, lang: str,
                                        screenshots: Path) -> None:
    page = new_page(browser, own, lang, width=390, height=844)
    log_in(page, "demo", own.demo_password)
    for path in ("/console/frequency", "/console/lists", "/console/push"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    page.screenshot(path=str(screenshots / f"push-phone-{lang}.png"))
    page.context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_settings_pages_in_both_languages(browser: Any, own: Own, lang: str,
                                              receiver: Receiver, screenshots: Path) -> None:
    """Last of the module, so that the screenshots show what the tests above set."""
    page = new_page(browser, own, lang)
    log_in(page, "demo", own.demo_password)
    visit(page, own, f"/console/frequency?sign=驿站&template={own.template}"
                     "&number=13800138001")
    assert page.locator("#verdict").count() == 1
    assert page.locator("h1").inner_text() == ("频率限制与白名单" if lang == "zh"
                                               else "Frequency limits and whitelist")
    hour = page.locator("tr[data-rule='verification.hour'] td")
    assert hour.nth(3).inner_text() == "5"  # the platform's: 5 per hour
    assert page.locator("#limits tbody tr").count() == 7
    page.screenshot(path=str(screenshots / f"frequency-{lang}.png"), full_page=True)
    visit(page, own, "/console/lists")
    assert page.locator("h2#opt-outs-title").inner_text() == ("推广退订" if lang == "zh"
                                                              else "Promotion opt-outs")
    page.screenshot(path=str(screenshots / f"lists-{lang}.png"), full_page=True)
    visit(page, own, "/console/push")
    assert page.locator("#targets tbody tr").count() == 3
    page.fill("input[name=receipt_url]", receiver.url)
    page.click("#save-targets")
    page.click(".test-push")
    assert page.locator("#trial-status").inner_text() == "200"
    page.screenshot(path=str(screenshots / f"push-{lang}.png"), full_page=True)
    page.context.close()
