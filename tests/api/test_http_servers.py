"""Both HTTP servers the API can run on answer the same requests (setting `http_server`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import start_running
from yizhan.domain.ports import SystemClock
from yizhan.storage.store import SqlStore


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
async def test_each_http_server_accepts_a_send_and_answers_errors(
        store: SqlStore, tmp_path: Path, server: str) -> None:
    async with start_running(store, tmp_path, SystemClock(), http_server=server) as running:
        assert running.yz.settings.http_server == server
        sent = await running.client.post("/v1/messages", json={
            "phone_numbers": ["13800138000"], "sign_name": running.demo.signature.name,
            "template_code": running.verification, "template_param": {"code": "1234"}})
        assert sent.status_code == 200 and sent.json()["code"] == "OK"
        assert (await running.client.get("/healthz")).json() == {"status": "ok"}
        unsigned = await running.client.post("/", params={"Action": "SendSms"})
        assert unsigned.status_code == 400 and unsigned.json()["Code"] == "IncompleteSignature"
        missing = await running.client.get("/v1/nothing-here")
        assert missing.status_code == 404
