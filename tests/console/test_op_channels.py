"""The operator's channel page against a running process on a driven clock (console/
op_channels.py, dispatch/recent.py): a message's submit shows in its channel's last minute
and leaves it a minute later; a process of role `api` says that it dispatches nothing."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.conftest import ManualClock, Running, eventually, start_running
from yizhan.console.pages import SESSION_COOKIE, token_hash
from yizhan.domain.people import Role
from yizhan.storage.store import SqlStore


async def _operator(running: Running) -> httpx.AsyncClient:
    """A client with an operator's session (as a login opens one)."""
    store, now = running.yz.store, running.yz.clock.now()
    user = await store.create_console_user("ops", "not a hash", Role.OPERATOR, None, now)
    token = secrets.token_urlsafe(32)
    await store.open_console_session(token_hash(token), user.id, "csrf", now,
                                     now + timedelta(hours=1))
    return httpx.AsyncClient(base_url=running.base_url, cookies={SESSION_COOKIE: token},
                             timeout=10)


def _cell(html: str, channel: str, name: str) -> str:
    row = re.search(rf'<tr data-channel="{channel}">(.*?)</tr>', html, re.S)
    assert row is not None, html
    cell = re.search(rf'<td class="{name}">(.*?)</td>', row.group(1), re.S)
    assert cell is not None, row.group(1)
    return cell.group(1).strip()


async def test_a_submit_shows_in_its_channel_minute_then_leaves_it(store: SqlStore,
                                                                   tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC))  # the API signs with the real time
    async with start_running(store, tmp_path, clock, embedded=True) as running:
        sent = await running.client.post("/v1/messages", json={
            "phone_numbers": ["13800138000"], "sign_name": running.demo.signature.name,
            "template_code": running.verification, "template_param": {"code": "1234"}})
        message_id = sent.json()["messages"][0]["message_id"]

        async def submitted() -> bool:
            found = await running.client.get(f"/v1/messages/{message_id}")
            return bool(found.json().get("channel"))

        await eventually(submitted, what="the submit")
        async with await _operator(running) as ops:
            page = (await ops.get("/console/operator/channels")).text
            assert _cell(page, "cmcc", "submits") == "1"  # China Mobile's number
            assert _cell(page, "cmcc", "error-rate") == "0.0 %"
            assert _cell(page, "cucc", "submits") == "0"
            assert _cell(page, "cucc", "error-rate") == "-"
            assert _cell(page, "cmcc", "bound") == "yes"
            clock.advance(seconds=61)
            page = (await ops.get("/console/operator/channels")).text
            assert _cell(page, "cmcc", "submits") == "0"


async def test_a_process_of_role_api_says_it_dispatches_nothing(store: SqlStore,
                                                               tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC))
    async with start_running(store, tmp_path, clock, embedded=True, role="api") as running:
        async with await _operator(running) as ops:
            answer = await ops.get("/console/operator/channels")
    assert answer.status_code == 200
    assert 'id="not-dispatching"' in answer.text
    assert _cell(answer.text, "cmcc", "bound") == "no"
