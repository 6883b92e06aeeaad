"""The operator's pages of channels, dead letters, unmatched receipts and the platform's
lists in a real browser (issue 19 point 3): each in both languages (screenshots into
docs/console/), replay of one dead letter and of a selection, the lists' add, bounded paste
and remove, every change audited, a tenant refused on every page and form, the pages
without JavaScript and at a phone's width.

The dead letters and the unmatched receipt are written into the server's database as the
stages leave them (storage/push.py gives a push up into `dead_letters`; storage/unmatched.py
marks a receipt `unmatched_at`): producing them through the stages takes their attempts and
waiting times (minutes), which the session's server cannot be driven through.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.console.conftest import PASSWORD, Console, log_in, new_page, visit

pytestmark = [pytest.mark.timeout(120), pytest.mark.xdist_group("browser")]

UNMATCHED_RAW = "id:9f3a sub:001 dlvrd:001 submit date:2612071000 stat:DELIVRD err:000"


def _db(console: Console) -> sqlite3.Connection:
    return sqlite3.connect(console.data_dir / "yizhan.db")


@pytest.fixture(scope="module")
def letters(console: Console) -> Iterator[list[int]]:
    """Three pushes given up for an account of its own (`opsco`), and a receipt that matched
    no message; the ids of the dead letters."""
    console.cli("accounts", "create", "opsco")
    with _db(console) as db:
        (account_id,) = db.execute("SELECT id FROM accounts WHERE name = 'opsco'").fetchone()
        ids = []
        for n in range(3):
            item = {"account_id": account_id, "topic": "SmsReport", "message_id": None,
                    "payload": json.dumps([{"biz_id": f"ops-{n}"}]), "attempts": 12,
                    "url": "http://127.0.0.1:9/push"}
            cursor = db.execute(
                "INSERT INTO dead_letters (stage, payload, error, created_at) VALUES "
                "('push', ?, 'connection refused', '2026-12-07 02:00:00.000000')",
                (json.dumps({"topic": "push", "message_id": None, "item": item}),))
            ids.append(int(cursor.lastrowid or 0))
        db.execute("INSERT INTO receipts (channel, remote_id, code, status, error_code, raw, "
                   "done_at, received_at, phone, unmatched_at) VALUES ('cmcc', '9f3a', "
                   "'DELIVRD', 'success', '', ?, '2026-12-07 02:00:00.000000', "
                   "'2026-12-07 02:00:00.000000', '+8613700137000', "
                   "'2026-12-07 02:10:00.000000')", (UNMATCHED_RAW,))
    yield ids


def _ops(browser: Any, console: Console, lang: str = "en", **size: int) -> Any:
    page = new_page(browser, console, lang, **size)
    log_in(page, "ops", PASSWORD)
    return page


def _csrf(page: Any) -> str:
    return str(page.locator("header input[name=csrf]").get_attribute("value"))


def _audited(console: Console, action: str) -> list[str]:
    with _db(console) as db:
        return [s for (s,) in db.execute("SELECT subject FROM console_audit WHERE login = "
                                         "'ops' AND action = ? ORDER BY id", (action,))]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_operator_pages_in_both_languages(browser: Any, console: Console, lang: str,
                                              letters: list[int], screenshots: Path) -> None:
    page = _ops(browser, console, lang)
    answer = visit(page, console, "/console/operator/channels")
    assert answer.headers["refresh"] == "15"  # reloads itself, without JavaScript
    rows = page.locator("#channels tbody tr")
    assert rows.count() >= 1
    yes = "是" if lang == "zh" else "yes"
    assert set(page.locator("#channels td.bound").all_inner_texts()) == {yes}
    assert all(int(b) >= 1 for b in page.locator("#channels td.binds").all_inner_texts())
    assert all(w.startswith("0 / ") for w in page.locator("#channels td.window").all_inner_texts())
    closed = "闭合（使用中）" if lang == "zh" else "closed (in use)"
    assert set(page.locator("#channels td.breaker .status").all_inner_texts()) == {closed}
    assert page.locator("#routes tbody tr").count() >= 1
    assert page.locator("header nav a[aria-current]").inner_text() == ("通道" if lang == "zh"
                                                                       else "Channels")
    page.screenshot(path=str(screenshots / f"op-channels-{lang}.png"), full_page=True)
    visit(page, console, "/console/operator/deadletters")
    for letter_id in letters:
        assert page.locator(f"#letters tr[data-letter='{letter_id}']").count() == 1
    page.screenshot(path=str(screenshots / f"op-deadletters-{lang}.png"), full_page=True)
    visit(page, console, f"/console/operator/deadletters/{letters[0]}")
    assert page.locator("#stage").inner_text() == "push"
    assert "ops-0" in page.locator("#payload").inner_text()
    page.screenshot(path=str(screenshots / f"op-deadletter-{lang}.png"), full_page=True)
    visit(page, console, "/console/operator/unmatched")
    assert UNMATCHED_RAW in page.locator("#unmatched td.raw").all_inner_texts()
    page.screenshot(path=str(screenshots / f"op-unmatched-{lang}.png"), full_page=True)
    visit(page, console, "/console/operator/lists")
    page.fill("#keywords-paste", "赌博\n代办证件\nfake invoice")
    page.click("#add-keywords")
    page.fill("#blacklist-paste", "13700137050\n13700137051")
    page.fill("#blacklist-signs", "驿站")
    page.click("#add-blacklist")
    assert page.locator("#keywords-card h2").inner_text() == ("平台关键词" if lang == "zh"
                                                             else "Platform keywords")
    assert {"赌博", "代办证件", "fake invoice"} <= set(page.locator("#keywords li")
                                                   .all_inner_texts())
    assert page.locator("#blacklist tr:has-text('13700137050') td").nth(2).inner_text() == "驿站"
    page.screenshot(path=str(screenshots / f"op-lists-{lang}.png"), full_page=True)
    page.context.close()


def test_dead_letters_replay_one_then_a_selection_audited(browser: Any, console: Console,
                                                          letters: list[int]) -> None:
    page = _ops(browser, console)
    page.goto(f"/console/operator/deadletters/{letters[0]}")
    page.click("#replay")
    assert page.locator("#notice").inner_text() == "1 put back on their stage; 0 were not waiting."
    assert page.locator(f"tr[data-letter='{letters[0]}']").count() == 0  # waiting ones only
    for letter_id in letters[1:]:
        page.check(f"tr[data-letter='{letter_id}'] input[type=checkbox]")
    page.click("#replay-selected")
    assert page.locator("#notice").inner_text() == "2 put back on their stage; 0 were not waiting."
    page.goto("/console/operator/deadletters?all=1")
    for letter_id in letters:
        assert page.locator(f"tr[data-letter='{letter_id}'] td.replayed").inner_text() != "-"
        assert page.locator(f"tr[data-letter='{letter_id}'] input").count() == 0
    page.goto(f"/console/operator/deadletters/{letters[0]}")
    assert page.locator("#replay").count() == 0
    answer = page.request.post(f"/console/operator/deadletters/{letters[0]}/replay",
                               form={"csrf": _csrf(page)})  # once only
    assert "0 put back on their stage; 1 were not waiting." in answer.text()
    assert page.goto("/console/operator/deadletters/99999999").status == 404
    with _db(console) as db:
        pushes = db.execute("SELECT count(*) FROM push_items WHERE payload LIKE '%ops-%'"
                            ).fetchone()[0]
    assert pushes + len(_delivered_or_dead(console)) >= 3  # back on the push stage
    assert _audited(console, "dead letter replayed") == [f"dead letter {i}" for i in letters]
    page.context.close()


def _delivered_or_dead(console: Console) -> list[int]:
    """Replayed pushes the running push stage already took again (given up once more)."""
    with _db(console) as db:
        return [i for (i,) in db.execute("SELECT id FROM dead_letters WHERE replayed_at IS "
                                         "NULL AND payload LIKE '%ops-%'")]


def test_a_selection_is_bounded_needs_one_and_its_csrf_token(browser: Any,
                                                             console: Console) -> None:
    page = _ops(browser, console)
    page.goto("/console/operator/deadletters")
    for path in OPS_FORMS:
        answer = page.request.post(path, form={"csrf": "forged", "words": "forged"})
        assert answer.status == 403, path
    answer = page.request.post("/console/operator/deadletters/replay",
                               form={"csrf": _csrf(page)})
    assert answer.status == 400 and "Tick at least one dead letter." in answer.text()
    many = "&".join(f"id={n}" for n in range(1, 202))
    answer = page.request.post("/console/operator/deadletters/replay",
                               data=f"csrf={_csrf(page)}&{many}", headers={
                                   "content-type": "application/x-www-form-urlencoded"})
    assert answer.status == 413 and "At most 200 at a time." in answer.text()
    page.context.close()


def test_platform_keywords_pasted_removed_bounded_and_audited(browser: Any,
                                                              console: Console) -> None:
    page = _ops(browser, console)
    page.goto("/console/operator/lists")
    page.fill("#keywords-paste", "代开发票\n# a comment\n\n  Casino  \n代开发票")
    page.click("#add-keywords")
    assert page.locator("#notice").inner_text() == "2 keywords added; 0 were there already."
    assert {"代开发票", "casino"} <= set(page.locator("#keywords li").all_inner_texts())
    page.fill("#keywords-paste", "ok\n" + "x" * 65)
    page.click("#add-keywords")
    assert page.locator(".error").inner_text() == ("Line 2: a keyword is 1 to 64 characters; "
                                                   "nothing was added.")
    assert "ok" not in page.locator("#keywords li").all_inner_texts()
    answer = page.request.post("/console/operator/lists/keywords/add", form={
        "csrf": _csrf(page), "words": "\n".join(f"w{n}" for n in range(1001))})
    assert answer.status == 413 and "nothing was changed" in answer.text()
    page.check("#keywords li:has-text('casino') input")
    page.click("#remove-keywords")
    assert page.locator("#notice").inner_text() == "1 removed."
    assert "casino" not in page.locator("#keywords li").all_inner_texts()
    assert console.cli("keywords", "list").count("代开发票") == 1  # the CLI sees the same list
    assert _audited(console, "keywords added")[-1] == "2: 代开发票, casino"
    assert _audited(console, "keywords removed")[-1] == "1: casino"
    page.context.close()


def test_the_platform_blacklist_pasted_found_and_removed(browser: Any,
                                                         console: Console) -> None:
    page = _ops(browser, console, "zh")
    page.goto("/console/operator/lists")
    page.fill("#blacklist-paste", "13700137001\n13700137002\nnot a number\n12")
    page.click("#add-blacklist")
    assert page.locator(".error").inner_text() == ("第 3, 4 行：不是平台可发送的号码；"
                                                   "未添加任何内容。")
    page.fill("#blacklist-paste", "13700137001\n+8613700137002\n13700137001")
    page.fill("#blacklist-signs", "驿站， 其他")
    page.click("#add-blacklist")
    assert page.locator("#notice").inner_text() == "已将 2 个号码加入黑名单。"
    row = page.locator("#blacklist tr:has-text('13700137001')")
    assert row.locator("td").nth(2).inner_text() == "驿站, 其他"
    page.goto("/console/operator/lists?phone=13700137002")
    assert page.locator("#blacklist tbody tr").count() == 1
    page.check("#blacklist tbody tr input")
    page.fill("#unblacklist-paste", "13700137001")
    page.click("#remove-blacklist")
    assert page.locator("#notice").inner_text() == "已从黑名单移除 2 个号码；0 个原本不在名单中。"
    assert page.locator("#blacklist tr:has-text('1370013700')").count() == 0
    assert _audited(console, "blacklist added")[-1] == "2: +8613700137001, +8613700137002"
    assert _audited(console, "blacklist removed")[-1] == "2: +8613700137001, +8613700137002"
    page.context.close()


OPS_PAGES = ("/console/operator/channels", "/console/operator/deadletters",
             "/console/operator/deadletters/1", "/console/operator/unmatched",
             "/console/operator/lists")
OPS_FORMS = ("/console/operator/deadletters/1/replay", "/console/operator/deadletters/replay",
             "/console/operator/lists/keywords/add", "/console/operator/lists/keywords/remove",
             "/console/operator/lists/blacklist/add", "/console/operator/lists/blacklist/remove")


@pytest.mark.parametrize("login", ["acme-admin", "demo-viewer"])
def test_a_tenant_is_refused_on_every_page_and_form(browser: Any, console: Console,
                                                    login: str, letters: list[int]) -> None:
    page = new_page(browser, console)
    log_in(page, login, PASSWORD)
    for path in OPS_PAGES:
        answer = page.goto(path)
        assert answer.status == 403, path
        assert UNMATCHED_RAW not in page.content()
    for path in OPS_FORMS:
        answer = page.request.post(path, form={"csrf": _csrf(page), "id": str(letters[0]),
                                               "words": "tenant", "numbers": "13700137009"})
        assert answer.status == 403, path
    assert console.cli("keywords", "list").count("tenant") == 0
    assert page.locator("header nav a[href='/console/operator/channels']").count() == 0
    page.context.close()


def test_the_operator_pages_work_without_javascript(browser: Any, console: Console) -> None:
    context = browser.new_context(base_url=console.url, java_script_enabled=False)
    page = context.new_page()
    log_in(page, "ops", PASSWORD)
    page.goto("/console/operator/lists")
    page.fill("#keywords-paste", "无脚本")
    page.click("#add-keywords")
    assert "无脚本" in page.locator("#keywords li").all_inner_texts()
    page.goto("/console/operator/channels")
    page.click("#refresh")
    assert page.locator("#channels tbody tr").count() >= 1
    page.goto("/console/operator/unmatched")
    page.select_option("select[name=limit]", "200")
    page.click("form.filters button")
    assert "limit=200" in page.url
    context.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_operator_pages_fit_a_phone(browser: Any, console: Console, lang: str,
                                        letters: list[int], screenshots: Path) -> None:
    page = _ops(browser, console, lang, width=390, height=844)
    for path in OPS_PAGES:
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    page.goto("/console/operator/channels")
    page.screenshot(path=str(screenshots / f"op-channels-phone-{lang}.png"))
    page.context.close()
