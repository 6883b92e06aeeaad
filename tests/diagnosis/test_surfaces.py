"""The ways to ask (issue 18 point 4): GET /v1/diagnosis by number and date and by BizId and
number, OpenAPI, and the operator's `yizhan diagnose` (text and --json, by id and by
number)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from tests.api.test_rest import fresh_number, send_body
from tests.conftest import TEST_MASTER_ENV, Running, eventually
from yizhan.cli.main import app
from yizhan.dispatch.channels.simulator import Outcome
from yizhan.domain.timezone import china_today


async def test_by_number_and_date_and_by_biz_id(running: Running) -> None:
    number = fresh_number()
    running.simulator.script.numbers[number] = Outcome("UNDELIV", delay=0.01)
    sent = (await running.client.post("/v1/messages", json=send_body(running, [number]))).json()
    today = china_today(running.yz.clock.now()).isoformat()

    async def final() -> dict | None:
        body = (await running.client.get("/v1/diagnosis", params={
            "phone_number": number, "date": today})).json()
        return body if body["messages"] and body["messages"][0]["message"]["status"] != \
            "waiting" else None
    body = await eventually(final, what="the receipt")
    assert body["phone_number"] == number and body["date"] == today
    # the call log is read too: the accepted send is no refused call
    assert body["call_log"] is True and body["refused_calls"] == []
    [found] = body["messages"]
    assert found["verdict"]["cause"] == "handset_unreachable"
    assert found["message"]["message_id"] == sent["messages"][0]["message_id"]
    by_biz = (await running.client.get("/v1/diagnosis", params={
        "biz_id": sent["biz_id"], "phone_number": number})).json()
    assert [d["message"]["message_id"] for d in by_biz["messages"]] == [
        found["message"]["message_id"]]
    missing = await running.client.get("/v1/diagnosis", params={
        "biz_id": "123456789012345^0", "phone_number": number})
    assert missing.status_code == 404 and missing.json()["code"] == "BizIdNotFound"
    wrong = await running.client.get("/v1/diagnosis", params={"phone_number": "12"})
    assert wrong.json()["code"] == "isv.MOBILE_NUMBER_ILLEGAL"
    yesterday = (await running.client.get("/v1/diagnosis", params={
        "phone_number": number, "date": "2020-01-01"})).json()
    assert yesterday["messages"] == []


async def test_openapi_documents_both_routes(running: Running) -> None:
    paths = (await running.client.get("/openapi.json")).json()["paths"]
    one = paths["/v1/messages/{message_id}/diagnosis"]["get"]
    assert "404" in one["responses"] and one["summary"].startswith("Why did this SMS fail")
    query = {p["name"] for p in paths["/v1/diagnosis"]["get"]["parameters"]}
    assert query == {"phone_number", "date", "biz_id"}


async def test_cli_diagnose(running: Running, tmp_path: Path, database: str) -> None:
    if database != "sqlite":
        return  # the CLI reads the same store; once is enough
    number = fresh_number()
    running.simulator.script.numbers[number] = Outcome("W-BLACK", delay=0.01)
    sent = (await running.client.post("/v1/messages", json=send_body(running, [number]))).json()
    message_id = sent["messages"][0]["message_id"]
    store = running.yz.store

    async def final() -> bool:
        found = await store.message(running.demo.account.id, int(message_id))
        return found is not None and found.status.final
    await eventually(final, what="the receipt")
    common = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
              "--data-dir", str(tmp_path)]

    def cli(*args: str) -> str:
        result = CliRunner().invoke(app, ["diagnose", *args, *common], env=TEST_MASTER_ENV)
        assert result.exit_code == 0, result.output
        return result.output

    text = await asyncio.to_thread(cli, message_id)
    assert "verdict: carrier_blacklist (side: carrier)" in text
    assert "receipt    W-BLACK -> failed W-BLACK" in text
    assert "您的验证码为****" in text  # content masked
    chinese = await asyncio.to_thread(cli, message_id, "--zh")
    assert "(side: 运营商)" in chinese and "12321" in chinese
    shown = json.loads(await asyncio.to_thread(cli, "--phone", number, "--account",
                                               running.demo.account.name, "--json"))
    assert [m["verdict"]["cause"] for m in shown["messages"]] == ["carrier_blacklist"]
    result = await asyncio.to_thread(CliRunner().invoke, app, [
        "diagnose", "999999", *common], env=TEST_MASTER_ENV)
    assert result.exit_code == 1 and "no message 999999" in result.output
