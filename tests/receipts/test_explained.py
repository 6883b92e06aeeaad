"""A failed record says why and what to do, explained with the code table of the channel
that reported it: in REST, in pushed (and pulled) SmsReports, in QuerySendDetails through the
official SDKs, and in `yizhan records` (issue 14 point 14). The receipts come over real SMPP
from the embedded simulator, classified once, at the channel."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.api.aliyun.sdk import SdkClient
from tests.api.test_rest import final_messages, send_body
from tests.conftest import TEST_MASTER_ENV, Running, eventually, start_running
from yizhan.cli.main import app
from yizhan.domain.ports import SystemClock
from yizhan.domain.timezone import china_today
from yizhan.storage.store import SqlStore

CARRIER_ONLY = "the handset refuses messages from 106 numbers"
"""A code only the channel's table knows."""
NUMBERS = {"13800000001": "XQ:0045", "13800000002": "DB:0141", "13800000003": "MK:0115",
           "13800000004": "DELIVRD"}
EXPECTED = {  # number -> status, error code, reason, suggestion
    "13800000001": ("failed", "XQ:0045", CARRIER_ONLY, "ask the user to lift the block"),
    "13800000002": ("failed", "DB:0141", "the number is on the gateway blacklist",
                    "do not send to this number"),
    "13800000003": ("failed", "MK:0115",
                    "intercepted as spam by the carrier (keyword interception)",
                    "remove risky words from the template and variables"),
    "13800000004": ("success", "DELIVERED", "", ""),
}


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


def channel_file(folder: Path) -> Path:
    (folder / "carrier.codes.toml").write_text(
        f'[codes."XQ:0045"]\ncause = "{CARRIER_ONLY}"\n'
        'suggestion = "ask the user to lift the block"\n')
    (folder / "carrier.toml").write_text("[default]\ndelay = 0\n" + "".join(
        f'[numbers.{number}]\ncode = "{code}"\n' for number, code in NUMBERS.items()))
    path = folder / "channels.toml"
    path.write_text('[[channel]]\nname = "cmcc"\nkind = "smpp-simulator"\n'
                    'channel_code = "9001"\ncodes = "carrier.codes.toml"\n\n'
                    '[[route]]\nname = "all"\nchannels = ["cmcc"]\n\n'
                    '[simulator]\nscript = "carrier.toml"\n')
    return path


@pytest.fixture
async def carrier(store: SqlStore, tmp_path: Path) -> AsyncIterator[Running]:
    async with start_running(store, tmp_path, SystemClock(), embedded=True,
                             channels_file=channel_file(tmp_path), cache_seconds=0) as started:
        yield started


async def sent(running: Running) -> list[dict[str, Any]]:
    await running.client.put("/v1/push", json={"receipt_url": "queue"})
    answer = await running.client.post("/v1/messages", json=send_body(running, list(NUMBERS)))
    assert answer.status_code == 200, answer.text
    return await final_messages(running, answer.json()["biz_id"])


async def test_records_and_pushes_explain_codes_with_the_channels_table(
        carrier: Running, store: SqlStore, tmp_path: Path, database: str) -> None:
    """issue 14 point 14: `"reason": ""` for DB:0141 or MK:0115, and a code only the
    channel's table knows was explained nowhere (CodeTable.explain had no caller)."""
    records = await sent(carrier)
    assert {m["phone_number"]: (m["status"], m["error_code"], m["reason"], m["suggestion"])
            for m in records} == EXPECTED

    async def reports() -> list[dict[str, Any]] | None:
        items = (await carrier.client.get("/v1/queue/SmsReport",
                                          params={"max_items": 10})).json()["items"]
        return items if len(items) == 4 else None

    pulled = {i["body"]["phone_number"]: i["body"] for i in await eventually(reports)}
    assert {n: b["err_msg"] for n, b in pulled.items()} == {
        n: reason or "用户接收成功" for n, (_, _, reason, _) in EXPECTED.items()}
    assert all("_channel" not in body for body in pulled.values())

    port = int(carrier.base_url.rsplit(":", 1)[1])
    day = china_today(carrier.yz.clock.now()).strftime("%Y%m%d")
    for flavour in ("v4-acs3", "legacy"):
        sdk = SdkClient(flavour, port, carrier.demo.key.id, carrier.demo.key.secret)
        for number, (_, code, reason, suggestion) in EXPECTED.items():
            found = await asyncio.to_thread(sdk.call, "QuerySendDetails", PhoneNumber=number,
                                            SendDate=day, PageSize=10, CurrentPage=1)
            [dto] = found.body["SmsSendDetailDTOs"]["SmsSendDetailDTO"]
            assert dto["ErrCode"] == code  # the SDK contract: ErrCode is the code
            if flavour == "legacy":  # the raw answer: our two keys on failed records
                assert (dto.get("Reason", ""), dto.get("Suggestion", "")) == (reason,
                                                                              suggestion)
    if database == "sqlite":  # the CLI reads the same store
        result = await asyncio.to_thread(CliRunner().invoke, app, [
            "records", "--account", carrier.demo.account.name, "--json", "--database-url",
            f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", "--data-dir", str(tmp_path)],
            env={"YIZHAN_CHANNELS_FILE": str(tmp_path / "channels.toml"), **TEST_MASTER_ENV})
        assert result.exit_code == 0, result.output
        shown = {r["phone_number"]: (r["status"], r["error_code"], r["reason"],
                                     r["suggestion"]) for r in json.loads(result.output)}
        assert shown == EXPECTED
