"""Send tasks over the native REST API (`/v1/tasks`, issue 17 point 7): a real server, real
multipart uploads with httpx, the whole path file -> pre-flight -> schedule -> start ->
pause -> resume -> cancel, the CSV downloads, another account's 404, and the upload's
refusals. The clock is a `ManualClock`; the task engine is run by the test, one round at a
time (the server's own engine is off), and nothing is dispatched (role "api"), so every
count is exact; the test of results and resend dispatches to the simulator, with receipts."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.raw_http import exchange
from tests.conftest import ManualClock, Running, eventually, start_running
from yizhan.dispatch.channels.simulator import Outcome
from yizhan.domain.model import BlacklistEntry, PhoneNumber, TemplateType
from yizhan.domain.ports import SystemClock
from yizhan.storage.store import SqlStore
from yizhan.tasks import service as task_service
from yizhan.tasks.engine import TaskEngine

NOTICE = ("phone,order\n13800138000,A1\n13800138001,A2\n13800138000,A3\n12345,A4\n"
          "13800138002,A5\n13800138003,A6\n13800138004,A7\n")
FILE_LIMIT = 1024


@pytest.fixture
async def running(store: SqlStore, tmp_path: Path) -> AsyncIterator[Running]:
    clock = ManualClock()  # 2026-11-25 12:00 China time: inside promotion hours
    async with start_running(store, tmp_path, clock, role="api", task_engine=False,
                             cache_seconds=0, task_max_file_bytes=FILE_LIMIT,
                             max_body_bytes=1024, price_per_part="0.045") as started:
        yield started


def form(running: Running, **more: str) -> dict[str, str]:
    return {"sign_name": running.demo.signature.name,
            "template_code": running.demo.templates[TemplateType.NOTIFICATION].code,
            "name": "December notice", **more}


async def upload(running: Running, data: bytes | str, name: str = "numbers.csv",
                 client: httpx.AsyncClient | None = None, **more: str) -> httpx.Response:
    content = data.encode() if isinstance(data, str) else data
    return await (client or running.client).post(
        "/v1/tasks", data=form(running, **more), files={"file": (name, content, "text/csv")})


def expect(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


def framed(total: int) -> Iterator[bytes]:
    """A chunked body: a form's file part, then digits without end (the client stops
    sending when the answer comes)."""
    first = (b'--b0undary\r\nContent-Disposition: form-data; name="file"; '
             b'filename="n.csv"\r\n\r\n')
    yield f"{len(first):X}\r\n".encode() + first + b"\r\n"
    for _ in range(total // 4096):
        yield b"1000\r\n" + b"1" * 4096 + b"\r\n"


async def streamed(total: int) -> AsyncIterator[bytes]:
    """`framed` as an async client sends it (chunked by the client itself)."""
    for chunk in framed(total):
        yield chunk.split(b"\r\n", 1)[1][:-2]


def engine(running: Running) -> TaskEngine:
    return TaskEngine(running.yz.store, running.yz.intake, running.yz.clock, chunk=2,
                      outbox_bound=1000)


async def counts(running: Running, task_id: str) -> dict[str, int]:
    body = expect(await running.client.get(f"/v1/tasks/{task_id}/progress"), 200, "OK")
    return {k: v for k, v in body["progress"]["counts"].items() if v}


async def test_file_preflight_schedule_start_pause_resume_cancel(running: Running) -> None:
    c, clock = running.client, running.yz.clock
    assert isinstance(clock, ManualClock)
    await running.yz.store.add_blacklisted([BlacklistEntry(
        PhoneNumber("+8613800138001"), (), "test", clock.now())])
    created = expect(await upload(running, NOTICE), 200, "OK")["task"]
    task_id = created["task_id"]
    assert (created["state"], created["numbers"], created["rejected"],
            created["duplicates"], created["name"]) == ("draft", 5, 2, 1, "December notice")
    assert created["out_id"] == f"task-{task_id}"
    assert created["created_at"].endswith("+08:00")

    rejected = await c.get(f"/v1/tasks/{task_id}/rejected-rows")
    assert rejected.status_code == 200 and rejected.headers["content-type"].startswith(
        "text/csv")
    assert f"task-{task_id}-rejected.csv" in rejected.headers["content-disposition"]
    assert rejected.text.splitlines() == [
        "line,value,reason", "4,13800138000,duplicate of line 2", "5,12345,invalid number"]

    report = expect(await c.get(f"/v1/tasks/{task_id}/preflight"), 200, "OK")["preflight"]
    assert (report["numbers"], report["invalid"], report["duplicates"],
            report["blacklisted"], report["sendable"]) == (5, 1, 1, 1, 4)
    assert report["carriers"] == {"china_mobile": 5} and report["countries"] == {"CN": 5}
    assert (report["parts"], report["parts_per_message"]) == (4, [1])
    assert report["within_hours"] and report["next_start"] is None
    assert report["cost"] == "0.180" and report["covered"] is False  # the demo's balance: 0

    start_at = (clock.now() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S") + "+00:00"
    scheduled = expect(await c.post(f"/v1/tasks/{task_id}/schedule",
                                    json={"start_at": start_at}), 200, "OK")["task"]
    assert scheduled["state"] == "scheduled"
    assert scheduled["start_at"] == "2026-11-25T13:00:00+08:00"  # shown in China time
    assert await engine(running).run_once() == 0  # not yet due
    assert await counts(running, task_id) == {"pending": 5}
    waiting = expect(await c.get(f"/v1/tasks/{task_id}/progress"), 200, "OK")["progress"]
    assert waiting["waiting_until"] == "2026-11-25T13:00:00+08:00"

    started = expect(await c.post(f"/v1/tasks/{task_id}/start"), 200, "OK")["task"]
    assert started["state"] == "running"
    assert await engine(running).run_once() == 2  # the blacklisted number: a failed record
    assert await counts(running, task_id) == {"pending": 3, "submitted": 1, "refused": 1}
    progress = expect(await c.get(f"/v1/tasks/{task_id}/progress"), 200, "OK")["progress"]
    [failure] = progress["failures"]
    assert failure["numbers"] == 1 and failure["code"].startswith("isv.")
    assert failure["explanation"]

    assert expect(await c.post(f"/v1/tasks/{task_id}/pause"), 200,
                  "OK")["task"]["state"] == "paused"
    assert await engine(running).run_once() == 0
    expect(await c.post(f"/v1/tasks/{task_id}/pause"), 409, "isv.TASK_STATE_CONFLICT")
    assert expect(await c.post(f"/v1/tasks/{task_id}/resume"), 200,
                  "OK")["task"]["state"] == "running"
    assert await engine(running).run_once() == 2
    cancelled = expect(await c.post(f"/v1/tasks/{task_id}/cancel"), 200, "OK")["task"]
    assert cancelled["state"] == "cancelled"
    assert await engine(running).run_once() == 0
    assert await counts(running, task_id) == {"submitted": 3, "refused": 1, "cancelled": 1}
    body = expect(await c.post(f"/v1/tasks/{task_id}/start"), 409, "isv.TASK_STATE_CONFLICT")
    assert "cancelled" in body["message"]

    results = list(csv.DictReader(io.StringIO((await c.get(
        f"/v1/tasks/{task_id}/results")).text)))
    assert [(r["line"], r["phone"], r["state"]) for r in results] == [
        ("2", "+8613800138000", "submitted"), ("3", "+8613800138001", "refused"),
        ("6", "+8613800138002", "submitted"), ("7", "+8613800138003", "submitted"),
        ("8", "+8613800138004", "cancelled")]
    failed = (await c.get(f"/v1/tasks/{task_id}/results",
                          params={"states": "failed,unknown,refused"})).text.splitlines()
    assert len(failed) == 2 and failed[1].startswith("3,+8613800138001,refused,isv.")
    expect(await c.get(f"/v1/tasks/{task_id}/results", params={"states": "lost"}), 400,
           "InvalidParameter")

    page = expect(await c.get(f"/v1/tasks/{task_id}/messages",
                              params={"page_size": 3}), 200, "OK")
    assert page["total"] == 4 and len(page["messages"]) == 3
    assert [m["phone_number"] for m in page["messages"]] == [
        "13800138000", "13800138001", "13800138002"]
    assert page["messages"][1]["status"] == "failed"
    # The blacklisted number is no failure a resend can cure.
    expect(await c.post(f"/v1/tasks/{task_id}/resend-failures"), 409,
           "isv.TASK_NOTHING_TO_RESEND")
    listed = expect(await c.get("/v1/tasks"), 200, "OK")["tasks"]
    assert [(t["task_id"], t["state"]) for t in listed] == [(task_id, "cancelled")]
    shown = expect(await c.get(f"/v1/tasks/{task_id}"), 200, "OK")["task"]
    assert shown["state"] == "cancelled" and shown["finished_at"]


async def test_a_promotion_planned_at_night_names_the_next_start(running: Running) -> None:
    created = expect(await upload(running, "13800138000\n13800138001\n", "numbers.txt",
                                  template_code=running.demo.templates[
                                      TemplateType.PROMOTION].code, rate="0.5",
                                  params='{"discount": "8"}'), 200, "OK")
    task_id = created["task"]["task_id"]
    assert created["task"]["rate"] == 0.5
    r = await running.client.get(f"/v1/tasks/{task_id}/preflight",
                                 params={"at": "2026-11-25T23:30:00+08:00"})
    report = expect(r, 200, "OK")["preflight"]
    assert report["promotion"] and not report["within_hours"]
    assert report["next_start"] == "2026-11-26T08:00:00+08:00"
    assert report["seconds"] == 4.0  # 2 numbers at 0.5 a second
    expect(await running.client.get(f"/v1/tasks/{task_id}/preflight",
                                    params={"at": "2026-11-25T23:30:00"}),
           400, "InvalidParameter")
    expect(await running.client.post(f"/v1/tasks/{task_id}/schedule",
                                     json={"start_at": "2026-11-26T09:00:00"}),
           400, "InvalidParameter")
    expect(await running.client.post(f"/v1/tasks/{task_id}/schedule", json={}), 400,
           "MissingParameter")


async def test_another_account_sees_none_of_the_tasks(running: Running) -> None:
    task_id = expect(await upload(running, NOTICE), 200, "OK")["task"]["task_id"]
    store, now = running.yz.store, running.yz.clock.now()
    other = await store.create_account("other", now)
    key = await store.create_access_key(other.id, now)
    async with httpx.AsyncClient(base_url=running.base_url, auth=(key.id, key.secret),
                                 timeout=10) as stranger:
        for method, path in [("GET", ""), ("GET", "/preflight"), ("GET", "/progress"),
                             ("GET", "/rejected-rows"), ("GET", "/results"),
                             ("GET", "/messages"), ("POST", "/start"), ("POST", "/cancel"),
                             ("POST", "/resend-failures")]:
            r = await stranger.request(method, f"/v1/tasks/{task_id}{path}")
            expect(r, 404, "isv.TASK_NOT_FOUND")
        assert expect(await stranger.get("/v1/tasks"), 200, "OK")["tasks"] == []
    expect(await running.client.get("/v1/tasks/999999"), 404, "isv.TASK_NOT_FOUND")
    expect(await running.client.get(f"/v1/tasks/{task_id}"), 200, "OK")
    r = await running.client.get(f"/v1/tasks/{task_id}", auth=("nobody", "wrong"))
    assert r.status_code == 401


async def test_an_upload_over_the_limits_is_refused(running: Running) -> None:
    """The upload has its own bound (the file limit plus the form), apart from the API's
    body limit (1 KiB here): a file under the limit passes it; a body past the bound is
    refused from its Content-Length, or while it streams without one; a file over the
    limit inside the bound is refused by the import."""
    line = "13800138000\n"
    small = line * 80  # 960 bytes: the body (about 1.4 KiB) passes the API's 1 KiB limit
    order = '{"order": "A1"}'
    assert expect(await upload(running, small, params=order), 200, "OK")["task"][
        "numbers"] == 1
    over = expect(await upload(running, line * 100, params=order), 413,
                  "isv.TASK_FILE_TOO_LARGE")
    assert "1024" in over["message"]
    huge = 64 << 20  # far past the file limit and the form's 64 KiB, sent as curl would
    key = running.demo.key
    auth = base64.b64encode(f"{key.id}:{key.secret}".encode()).decode()
    head = ["POST /v1/tasks HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Basic {auth}",
            "Content-Type: multipart/form-data; boundary=b0undary"]
    part = (b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="n.csv"'
            b"\r\n\r\n")
    block = part + b"1" * 4096
    announced = await exchange(running.base_url,
                               "\r\n".join([*head, f"Content-Length: {huge}"]).encode(),
                               (block for _ in range(huge // len(block))))
    streamed = await exchange(running.base_url,
                              "\r\n".join([*head, "Transfer-Encoding: chunked"]).encode(),
                              framed(huge))
    for answer in (announced, streamed):
        assert answer.status == 413, answer
        assert answer.json()["code"] == "isv.TASK_FILE_TOO_LARGE"
        assert answer.headers.get("connection") == "close"
        assert answer.sent < 16 << 20  # the socket buffers' worth, not the whole body
    assert expect(await running.client.get("/v1/tasks"), 200, "OK")["tasks"][0][
        "numbers"] == 1  # only the first upload made a task


async def test_a_bad_upload_is_refused_with_its_reason(running: Running) -> None:
    c = running.client
    order = '{"order": "A1"}'
    expect(await upload(running, b"PK\x03\x04 not really a workbook", "numbers.xlsx",
                        params=order), 400, "isv.TASK_FILE_UNREADABLE")
    body = expect(await upload(running, "phone\n12345\nabc\n", params=order), 400,
                  "isv.TASK_NO_NUMBERS")
    assert "2 row(s) rejected" in body["message"]
    expect(await c.post("/v1/tasks", json={"sign_name": "x"}), 400, "InvalidParameter")
    r = await c.post("/v1/tasks", data={"template_code": "SMS_1"},
                     files={"file": ("n.csv", b"13800138000\n", "text/csv")})
    expect(r, 400, "MissingParameter")
    r = await c.post("/v1/tasks", data=form(running))
    assert r.status_code == 400  # a form without a file
    expect(await upload(running, NOTICE, params="[1]"), 400, "InvalidParameter")
    expect(await upload(running, NOTICE, rate="fast"), 400, "InvalidParameter")
    expect(await upload(running, NOTICE, rate="0"), 400, "InvalidParameter")
    expect(await upload(running, NOTICE, sign_name="nobody"), 400,
           "isv.SMS_SIGNATURE_ILLEGAL")
    boundary = "b0undary"
    cut = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
           f"filename=\"n.csv\"\r\n\r\n13800138000\n").encode()  # no closing boundary
    # (The server may close a connection whose body ended early: not one to reuse.)
    r = await c.post("/v1/tasks", content=cut, headers={
        "content-type": f"multipart/form-data; boundary={boundary}", "connection": "close"})
    body = expect(r, 400, "InvalidParameter")
    assert "ended early" in body["message"]
    r = await c.post("/v1/tasks", data=form(running), auth=("LTAInobody", "wrong"),
                     files={"file": ("n.csv", NOTICE.encode(), "text/csv")})
    expect(r, 401, "Unauthorized")  # refused before its body was read: read, then answered
    assert expect(await c.get("/v1/tasks"), 200, "OK")["tasks"] == []


@pytest.mark.xfail(reason="known defect: now and then the server resets a new connection "
                   "whose chunked upload it refuses before the body (the client's first "
                   "write fails); seen under load, session 13", strict=False)
async def test_a_chunked_upload_refused_before_its_body_is_answered(running: Running) -> None:
    for _ in range(3):  # a chunked body of 2.4 MB: still being sent at the refusal
        r = await running.client.post(
            "/v1/tasks", content=streamed(2_400_000), auth=("LTAInobody", "wrong"),
            headers={"content-type": "multipart/form-data; boundary=b0undary"})
        expect(r, 401, "Unauthorized")


async def test_the_task_routes_are_documented_with_examples(running: Running) -> None:
    spec = (await running.client.get("/openapi.json")).json()
    routes = {(method, path) for path, ops in spec["paths"].items() if
              path.startswith("/v1/tasks") for method in ops}
    assert len(routes) == 14
    for method, path in routes:
        operation = spec["paths"][path][method]
        ok = operation["responses"]["200"]["content"]
        assert any("example" in media for media in ok.values()), (method, path)
        assert "404" in operation["responses"] or path == "/v1/tasks", (method, path)
    upload_body = spec["paths"]["/v1/tasks"]["post"]["requestBody"]["content"]
    assert upload_body["multipart/form-data"]["schema"]["properties"]["file"][
        "format"] == "binary"


@pytest.fixture
async def sending(store: SqlStore, tmp_path: Path) -> AsyncIterator[Running]:
    """A server that dispatches to its simulator (receipts on), the engine driven by the
    test; on the system clock, as the receipts come in real time."""
    async with start_running(store, tmp_path, SystemClock(), task_engine=False,
                             cache_seconds=0) as started:
        yield started


async def test_results_and_resend_of_the_retryable_failures(sending: Running) -> None:
    """A number the carrier could not deliver (UNDELIV) is a failure a resend may cure:
    the results list it with its code, and resend-failures makes a new draft task of it
    alone, naming its source."""
    c = sending.client
    sending.simulator.script.numbers["13900139000"] = Outcome("UNDELIV", delay=0.01)
    task_id = expect(await upload(sending, "phone,order\n13800138000,A1\n13900139000,A2\n"),
                     200, "OK")["task"]["task_id"]
    expect(await c.post(f"/v1/tasks/{task_id}/start"), 200, "OK")
    feeder = engine(sending)
    assert await feeder.run_once() == 2
    await feeder.run_once()  # no number left: the task finishes

    async def settled() -> dict[str, int] | None:
        now = await counts(sending, task_id)
        return now if set(now) <= {"delivered", "failed"} else None

    assert await eventually(settled, what="receipts") == {"delivered": 1, "failed": 1}
    assert expect(await c.get(f"/v1/tasks/{task_id}"), 200, "OK")["task"]["state"] == \
        "finished"
    progress = expect(await c.get(f"/v1/tasks/{task_id}/progress"), 200, "OK")["progress"]
    failures = {f["code"]: f for f in progress["failures"]}
    assert list(failures) == ["UNDELIV"]  # the delivered number's code is no failure
    assert failures["UNDELIV"]["numbers"] == 1 and failures["UNDELIV"]["explanation"]
    failed = (await c.get(f"/v1/tasks/{task_id}/results",
                          params={"states": "failed"})).text.splitlines()
    assert len(failed) == 2 and failed[1].startswith("3,+8613900139000,failed,UNDELIV,")

    again = expect(await c.post(f"/v1/tasks/{task_id}/resend-failures"), 200, "OK")["task"]
    assert (again["state"], again["numbers"], again["source_task_id"]) == (
        "draft", 1, task_id)
    assert again["name"] == "December notice (resend)"
    report = expect(await c.get(f"/v1/tasks/{again['task_id']}/preflight"), 200,
                    "OK")["preflight"]
    assert report["sendable"] == 1


async def test_exports_are_read_a_page_at_a_time_and_join_up(
        running: Running, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 500,000-number task's export is streamed a page at a time: with pages of two rows
    the files are the same as in one read, the state filter applied across the pages."""
    monkeypatch.setattr(task_service, "EXPORT_PAGE", 2)
    c = running.client
    task_id = expect(await upload(running, NOTICE), 200, "OK")["task"]["task_id"]
    rejected = await c.get(f"/v1/tasks/{task_id}/rejected-rows")
    assert rejected.text.splitlines() == [
        "line,value,reason", "4,13800138000,duplicate of line 2", "5,12345,invalid number"]
    results = list(csv.DictReader(io.StringIO((await c.get(
        f"/v1/tasks/{task_id}/results")).text)))
    assert [(r["line"], r["phone"], r["state"]) for r in results] == [
        (line, f"+86{phone}", "pending") for line, phone in (
            ("2", "13800138000"), ("3", "13800138001"), ("6", "13800138002"),
            ("7", "13800138003"), ("8", "13800138004"))]
    assert (await c.get(f"/v1/tasks/{task_id}/results",
                        params={"states": "failed"})).text.splitlines() == [
        "line,phone,state,error_code,reason,biz_id,message_id"]
