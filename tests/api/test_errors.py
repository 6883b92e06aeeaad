"""Error answers of the native API and the Alibaba-compatible endpoint (api/errors.py):
unexpected errors are logged once with the id the answer carries; request ids are random."""

from __future__ import annotations

import itertools
import logging
import uuid
from urllib.parse import urlencode

import httpx
import pytest

from tests.api.aliyun.test_rpc_wire import creds, signed_query
from tests.conftest import Running
from yizhan.api.aliyun.actions import ACTIONS


def unexpected_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_an_unexpected_rest_error_is_logged_once_with_the_id_of_the_answer(
        running: Running, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Issue 14 point 6: the 500s of the review left no line in the server log. Now one
    record with the traceback and an error id, and the answer carries the same id."""
    async def broken(*args: object) -> None:
        raise RuntimeError("the store fell over")

    monkeypatch.setattr(running.yz.store, "message", broken)
    with caplog.at_level(logging.INFO):
        r = await running.client.get("/v1/messages/123")
    body = r.json()
    assert (r.status_code, body["code"]) == (500, "InternalError")
    assert "the store fell over" not in r.text  # no internals leak to the client
    assert body["request_id"] in body["message"]
    [record] = unexpected_records(caplog)
    assert record.exc_info is not None and "the store fell over" in str(record.exc_info[1])
    assert record.__dict__["error_id"] == body["request_id"]
    assert body["request_id"] in record.getMessage()
    assert "GET /v1/messages/123" in record.getMessage()


async def test_an_unexpected_rpc_error_is_logged_once_with_its_request_id(
        running: Running, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """Issue 14 point 6, on the Alibaba-compatible endpoint: the RequestId is the error id."""
    async def broken(ctx: object) -> dict[str, str]:
        raise RuntimeError("the store fell over")

    monkeypatch.setitem(ACTIONS, "QuerySmsSignList", broken)
    with caplog.at_level(logging.INFO):
        async with httpx.AsyncClient(base_url=running.base_url) as client:
            r = await client.post("/?" + urlencode(signed_query(*creds(running), {})))
    assert (r.status_code, r.json()["Code"]) == (500, "InternalError")
    [record] = unexpected_records(caplog)
    assert record.exc_info is not None
    assert record.__dict__["error_id"] == r.json()["RequestId"]


async def test_request_ids_are_random_uuid4_on_both_apis(running: Running) -> None:
    """Issue 14 point 27: RequestIds counted up from a per-process prefix (...C56, ...C57);
    Alibaba's are random version-4 UUIDs in upper case, and so are ours now."""
    rest = [(await running.client.get("/v1/messages/1")).json()["request_id"]
            for _ in range(5)]
    async with httpx.AsyncClient(base_url=running.base_url) as client:
        rpc = [(await client.post("/", params={"Action": "SendSms"})).json()["RequestId"]
               for _ in range(5)]
    for ids in (rest, rpc):
        for rid in ids:
            assert uuid.UUID(rid).version == 4 and rid == rid.upper()
        for first, second in itertools.pairwise(ids):
            assert first.replace("-", "")[:20] != second.replace("-", "")[:20]
