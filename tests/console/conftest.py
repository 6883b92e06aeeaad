"""The console's browser tests (issue 19 point 5): a real `yizhan serve` (its demo start
prints the console login), Debian's chromium driven by Playwright, one browser for the
session.

Screenshots of every page in both languages go to docs/console/ with YIZHAN_SCREENSHOTS=1
(`screenshots`). Chromium is `/usr/bin/chromium` (`apt-get install chromium
fonts-noto-cjk`; `.ci/run` installs it). Without it the tests are skipped on a developer's
machine, and fail in CI (the CI environment variable is set), so that a CI run never passes
without them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"
FAILING_NUMBER = "13900139000"
SCRIPT = f"""
[default]
code = "DELIVRD"
delay = 0.05

[numbers.{FAILING_NUMBER}]
code = "UNDELIV"
delay = 0.05
"""
PASSWORD = "correct horse battery"
"""The password of the people the fixture adds (the demo's is read from the banner)."""


@dataclass
class Console:
    url: str
    data_dir: Path
    demo_password: str
    key: tuple[str, str]
    message_ids: list[str]
    """The demo's two messages: delivered (13800138000), failed (13900139000)."""
    operator_password: str = ""
    """The password of `admin`, the operator the demo start makes (read from the banner)."""

    def cli(self, *args: str, stdin: str = "") -> str:
        done = subprocess.run([sys.executable, "-m", "yizhan", *args, "--data-dir",
                               str(self.data_dir)], input=stdin, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout


def _banner(process: subprocess.Popen[str]) -> str:
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Then see it delivered"):
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return "".join(lines)
    raise AssertionError("yizhan serve exited before it was ready:\n" + "".join(lines))


def _found(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match is not None, (pattern, text)
    return match.group(1)


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    folder = tmp_path_factory.mktemp("console")
    script = folder / "outcomes.toml"
    script.write_text(SCRIPT)
    env = {**os.environ, "YIZHAN_DATA_DIR": str(folder / "data"), "YIZHAN_LANGUAGE": "en"}
    process = subprocess.Popen(
        [sys.executable, "-m", "yizhan", "serve", "--port", "0", "--simulator-script",
         str(script)], env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        banner = _banner(process)
        url = _found(r"API endpoint\s+(\S+)", banner)
        found = Console(url, folder / "data", _found(r"password (\S+)\s+shown only now", banner),
                        (_found(r"AccessKey id\s+(\S+)", banner),
                         _found(r"AccessKey secret\s+(\S+)", banner)), [])
        found.operator_password = _found(r"login admin, password (\S+)\s+shown only now",
                                         banner)
        template = _found(r"Template\s+(\S+) \(verification\)", banner)
        found.message_ids = _send(found, template)
        found.cli("accounts", "create", "acme")
        for login, role, account in (("acme-admin", "tenant-admin", "acme"),
                                     ("demo-viewer", "tenant-viewer", "demo"),
                                     ("limited", "tenant-viewer", "demo"),
                                     ("ops", "operator", None)):
            found.cli("console-user", "add", login, "--role", role,
                      *(("--account", account) if account else ()), "--password-stdin",
                      stdin=PASSWORD + "\n")
        yield found
    finally:
        process.terminate()
        process.wait(15)


def _send(console: Console, template: str) -> list[str]:
    """Two messages of the demo, one delivered and one failed, once their receipts came."""
    with httpx.Client(base_url=console.url, auth=console.key, timeout=10) as client:
        sent = client.post("/v1/messages", json={
            "phone_numbers": ["13800138000", FAILING_NUMBER], "sign_name": "驿站",
            "template_code": template, "template_param": {"code": "1234"}}).json()
        ids = [m["message_id"] for m in sent["messages"]]
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            statuses = [client.get(f"/v1/messages/{i}").json()["status"] for i in ids]
            if "waiting" not in statuses:
                return ids
            time.sleep(0.1)  # polling the real server, bounded by the deadline
    raise AssertionError("the demo's messages got no receipt in time")


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tests save their screenshots: docs/console/ when YIZHAN_SCREENSHOTS=1 (to
    refresh the ones docs/console.md shows), else a temporary folder (a test run leaves the
    tree as it was)."""
    if os.environ.get("YIZHAN_SCREENSHOTS") == "1":
        return DOCS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium for a module's tests. Not for the session: Playwright's sync API keeps
    its event loop running in this thread while it is open, and the async tests that a
    worker runs next need the thread without one; pytest closes a module's fixtures as soon
    as the next test is of another module (the browser tests are one xdist group, so that
    they run one after the other on one worker)."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: apt-get install -y chromium fonts-noto-cjk"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM),
                                              args=["--no-sandbox"])
        yield launched
        launched.close()


def new_page(browser: Any, console: Console, lang: str = "en", width: int = 1280,
             height: int = 800) -> Any:
    """A page of a fresh browser context (its own cookies) whose browser asks for `lang`."""
    context = browser.new_context(base_url=console.url, locale="zh-CN" if lang == "zh"
                                  else "en-US", viewport={"width": width, "height": height})
    return context.new_page()


def log_in(page: Any, login: str, password: str) -> None:
    """Log in through the form, and wait for its answer's page (the next page or the login
    again): a `goto` right after the click could otherwise cancel the login's POST while
    argon2 checks the password on a busy machine, leaving no session."""
    page.goto("/console/login")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    with page.expect_navigation(timeout=60_000):
        page.click("form button[type=submit]")


def external_urls(page: Any, base: str) -> list[str]:
    """Every address the page's markup names that is not this server's own (links to
    other hosts, scripts, styles, images, fonts)."""
    html = page.content()
    named = re.findall(r"""(?:src|href|action)\s*=\s*["']([^"']+)""", html)
    named += re.findall(r"url\(([^)]+)\)", html)
    return [u for u in named if re.match(r"^(?:[a-z]+:)?//", u.strip("'\""))
            and not u.startswith(base) and not u.startswith("http://www.w3.org/")]


def visit(page: Any, console: Console, path: str) -> Any:
    """Open `path`, asserting that every request the page made went to this server."""
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    answer = page.goto(path)
    assert all(u.startswith(console.url) or u.startswith("data:") for u in requested), \
        requested
    assert external_urls(page, console.url) == []
    return answer


def add_tenant(console: Console, account: str, admin: str, viewer: str) -> tuple[str, str]:
    """A tenant of a test module's own (its pages start empty, and the other modules' stay
    as they were), with an admin and a viewer whose password is PASSWORD: (admin, viewer)."""
    console.cli("accounts", "create", account)
    for login, role in ((admin, "tenant-admin"), (viewer, "tenant-viewer")):
        console.cli("console-user", "add", login, "--role", role, "--account", account,
                    "--password-stdin", stdin=PASSWORD + "\n")
    return admin, viewer


def logged_in(browser: Any, console: Console, login: str, lang: str = "en",
              width: int = 1280) -> Any:
    """A new page of `login` (a person the fixtures added, PASSWORD), logged in."""
    page = new_page(browser, console, lang, width=width, height=844 if width < 600 else 800)
    log_in(page, login, PASSWORD)
    return page
