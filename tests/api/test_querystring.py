"""Query strings are read as UTF-8 (api/querystring.py), raw or escaped, on the native API and
on the Alibaba-compatible endpoint; text that is not UTF-8 is refused."""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.api.aliyun.test_rpc_wire import creds, signed_query
from tests.api.raw_http import RawAnswer, exchange
from tests.conftest import Running, start_running
from yizhan.domain.ports import SystemClock
from yizhan.storage.store import SqlStore


async def get(running: Running, target: bytes, auth: bool = True) -> RawAnswer:
    basic = base64.b64encode(f"{running.demo.key.id}:{running.demo.key.secret}".encode())
    lines = [b"GET " + target + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    if auth:
        lines.append(b"Authorization: Basic " + basic)
    return await exchange(running.base_url, b"\r\n".join(lines))


async def test_raw_utf8_in_a_rest_query_is_read_as_utf8(running: Running) -> None:
    """Issue 14 point 11: `?sign_name=驿站` sent raw, as curl sends it, was read as Latin-1
    (`signature 'é©¿ç«\\x99': not found`) and the statistics silently had no rows. (On the
    default server, granian; uvicorn's parser refuses raw non-ASCII in a URL with a 400.)"""
    sign = running.demo.signature.name.encode()
    explained = await get(running, b"/v1/frequency/explain?sign_name=" + sign +
                          b"&template_code=" + running.verification.encode() +
                          b"&phone_number=13800138000")
    assert explained.status == 200 and explained.json()["code"] == "OK", explained
    sent = await running.client.post("/v1/messages", json={
        "phone_numbers": ["13800138000"], "sign_name": running.demo.signature.name,
        "template_code": running.verification, "template_param": {"code": "1234"}})
    assert sent.status_code == 200
    stats = await get(running, b"/v1/statistics?group_by=sign_name&sign_name=" + sign)
    assert stats.status == 200
    assert stats.json()["rows"] == [stats.json()["rows"][0]] and \
        stats.json()["rows"][0]["sign_name"] == running.demo.signature.name  # type: ignore[index]


@pytest.mark.parametrize("server", ["granian", "uvicorn"])
async def test_a_query_that_is_not_utf8_is_refused(store: SqlStore, tmp_path: Path,
                                                   server: str) -> None:
    """Issue 14 point 11: bytes that are no UTF-8, raw or escaped, answer InvalidParameter
    (they became U+FFFD or Latin-1 letters silently). Both servers refuse raw ones themselves,
    with a bare 400, before the application sees them."""
    async with start_running(store, tmp_path, SystemClock(), http_server=server) as running:
        for query in (b"sign_name=\xe9\xa9", b"sign_name=%E9%A9", b"sign_name=\xff"):
            answer = await get(running, b"/v1/statistics?" + query)
            assert answer.status == 400, query
            if b"%" in query:
                assert answer.json()["code"] == "InvalidParameter", query
                assert "UTF-8" in str(answer.json()["message"])


async def test_raw_utf8_in_a_signed_rpc_get_is_read_as_utf8(running: Running) -> None:
    """Issue 14 point 11, on the Alibaba-compatible endpoint's GET: the signature covers the
    decoded values, so a raw `SignName=驿站` matches the one the client signed."""
    name = running.demo.signature.name
    query = signed_query(*creds(running), {"Action": "QuerySmsSign", "SignName": name},
                         method="GET")
    target = "/?" + "&".join(f"{k}={v if k == 'SignName' else quote(v, safe='')}"
                             for k, v in query.items())
    answer = await get(running, target.encode(), auth=False)
    assert answer.status == 200 and answer.json()["Code"] == "OK", answer
    assert answer.json()["SignName"] == name
    broken = await get(running, target.replace(name, "%E9%A9").encode(), auth=False)
    assert broken.status == 400 and broken.json()["Code"] == "InvalidParameter"


async def test_a_nul_in_a_parameter_is_refused(running: Running) -> None:
    """Issue 14 point 5: a NUL in a text parameter reached the store, and PostgreSQL, which
    cannot hold one, answered InternalError (for `biz_id=%00`, a plain-text 500). Now it is
    InvalidParameter on both APIs, in the query string and in the Alibaba API's form body."""
    rest = await running.client.get("/v1/statistics", params={"sign_name": "a\x00"})
    assert rest.status_code == 400 and rest.json()["code"] == "InvalidParameter"
    assert "NUL" in rest.json()["message"]
    query = signed_query(*creds(running), {"Action": "QuerySmsTemplate",
                                           "TemplateCode": "SMS_\x00"})
    async with httpx.AsyncClient(base_url=running.base_url) as client:
        in_query = await client.post("/", params=query)
        in_form = await client.post("/", data=query)
    for answer in (in_query, in_form):
        assert answer.status_code == 400 and answer.json()["Code"] == "InvalidParameter"
