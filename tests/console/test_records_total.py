"""The records page over more records than it counts (docs/console.md "Send records"): the
total stops at 10,000 ("more than 10,000 records"), the pages at the 200th."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.console.conftest import PASSWORD, Console, log_in, new_page

pytestmark = [pytest.mark.timeout(120), pytest.mark.xdist_group("browser")]
RECORDS = 10_050


def _fill(console: Console, account: str) -> None:
    """RECORDS messages of today for `account`, written to the server's store in bulk (as
    bench/console_pages.py fills it)."""
    now = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=1)
    with sqlite3.connect(console.data_dir / "yizhan.db") as db:
        [(owner,)] = db.execute("SELECT id FROM accounts WHERE name = ?", (account,))
        at = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        base = 9_000_000_000_000_000_000
        db.executemany(
            "INSERT INTO messages (id, biz_id, account_id, phone, sign_name, template_code, "
            "template_type, content, segments, status, error_code, reason, out_id, "
            "dispatch_state, channel, remote_id, created_at, route) VALUES (?, ?, ?, ?, "
            "'驿站', 'SMS_1', 'notification', '【驿站】hi', 1, 'success', 'DELIVRD', '', '', "
            "'done', 'sim', '', ?, '')",
            [(base + n, f"{base + n}^0", owner, f"+86138{n:08d}", at) for n in range(RECORDS)])


@pytest.fixture(scope="module")
def bulk(console: Console) -> str:
    """The account `bulk` with RECORDS messages of today and its tenant admin's login."""
    console.cli("accounts", "create", "bulk")
    console.cli("console-user", "add", "bulk-admin", "--role", "tenant-admin",
                "--account", "bulk", "--password-stdin", stdin=PASSWORD + "\n")
    _fill(console, "bulk")
    return "bulk-admin"


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_more_records_than_counted(browser: Any, console: Console, bulk: str,
                                   lang: str) -> None:
    page = new_page(browser, console, lang)
    log_in(page, bulk, PASSWORD)
    assert page.url.endswith("/console/overview"), page.url
    page.goto("/console/records")
    assert page.locator("#total").inner_text() == (
        "超过 10,000 条" if lang == "zh" else "more than 10,000 records")
    assert page.locator("nav.pages span").inner_text() == "1 / 200+"
    page.goto("/console/records?page=500")  # as far as the count goes
    assert page.locator("nav.pages span").inner_text() == "200 / 200+"
    assert page.locator("table.records tbody tr").count() == 50
    page.context.close()
