"""One Yizhan as the upstream of another, over its Dysmsapi endpoint (a channel of kind
`aliyun`, dispatch/channels/aliyun_upstream.py): a message sent to the downstream reaches
the upstream's carrier simulator, and its receipt comes back down to a final status in the
downstream's records; a route whose first upstream cannot take messages fails over to the
second. Two real Yizhans on loopback, each with its own SQLite store."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Running, eventually, opened_store, start_running
from yizhan.dispatch.upstreams import upstream_channel
from yizhan.domain.model import BlacklistEntry, PhoneNumber, ReviewState, TemplateType
from yizhan.domain.ports import Rejected, Retryable, SubmitRequest, SystemClock

PASS_THROUGH = "${content}"


def channel_file(tmp_path: Path, up: Running, template: str, *, first: str = "",
                 more: str = "poll_seconds = 0.05") -> Path:
    """A downstream channel file: the upstream Yizhan as channel `up`, loopback allowed;
    `first`: a channel before it in the route (failover); `more`: its other settings."""
    key = up.demo.key
    first = first.replace("{url}", up.base_url).replace("{key}", key.id)
    text = f"""
[[channel]]
name = "up"
kind = "aliyun"
url = "{up.base_url}"
access_key_id = "{key.id}"
access_key_secret = "{key.secret}"
template_code = "{template}"
allow_networks = ["127.0.0.0/8"]
{more}
{first}
[[route]]
name = "all"
channels = [{'"dead", ' if first else ''}{{name = "up", tier = {2 if first else 1}}}]
"""
    path = tmp_path / "channels.toml"
    path.write_text(text, "utf-8")
    return path


async def pass_through(up: Running) -> str:
    """The upstream account's template that carries the downstream's text."""
    template = await up.yz.store.create_template(
        up.demo.account.id, "pass-through", TemplateType.NOTIFICATION, PASS_THROUGH,
        ReviewState.APPROVED, datetime.now(UTC))
    return str(template.code)


async def pair(stack: AsyncExitStack, tmp_path: Path, first: str = "",
               blacklist: tuple[str, ...] = (), more: str = "poll_seconds = 0.05",
               **up_settings: Any) -> tuple[Running, Running]:
    """An upstream Yizhan (its numbers in `blacklist` on its platform blacklist) and a
    downstream one sending through it."""
    clock = SystemClock()
    (tmp_path / "up").mkdir(exist_ok=True)
    up_store = await stack.enter_async_context(opened_store("sqlite", tmp_path / "up"))
    await up_store.add_blacklisted([BlacklistEntry(PhoneNumber(p), (), "test", clock.now())
                                    for p in blacklist])
    up = await stack.enter_async_context(start_running(
        up_store, tmp_path / "up", clock, push_allowed_networks=["127.0.0.0/8"],
        **up_settings))
    template = await pass_through(up)
    if "{push_secret}" in more:  # the account's push secret, made with its first target
        endpoints = await up_store.set_push_endpoints(
            up.demo.account.id, clock.now(), receipt_url="https://receiver.example.com/")
        more = more.replace("{push_secret}", endpoints.secret)
    (tmp_path / "down").mkdir(exist_ok=True)
    down_store = await stack.enter_async_context(opened_store("sqlite", tmp_path / "down"))
    down = await stack.enter_async_context(start_running(
        down_store, tmp_path / "down", clock, embedded=True,
        channels_file=channel_file(tmp_path / "down", up, template, first=first, more=more)))
    return up, down


@pytest.fixture
async def stack() -> AsyncIterator[AsyncExitStack]:
    async with AsyncExitStack() as opened:
        yield opened


async def send(down: Running, phone: str) -> str:
    answer = (await down.client.post("/v1/messages", json={
        "phone_numbers": [phone], "sign_name": down.demo.signature.name,
        "template_code": down.verification, "template_param": {"code": "4321"}})).json()
    assert answer["code"] == "OK", answer
    return str(answer["biz_id"])


async def record(down: Running, biz_id: str) -> dict[str, Any]:
    """The record as the tenant reads it, and the router's decision the store keeps."""
    found = (await down.client.get("/v1/messages", params={"biz_id": biz_id})).json()
    stored = await down.yz.store.messages_by_biz(down.demo.account.id, biz_id)
    return {**found["messages"][0], "route": stored[0].route}


async def final(down: Running, biz_id: str) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        message = await record(down, biz_id)
        return message if message["status"] in ("success", "failed", "unknown") else None
    return dict(await eventually(done, 20, "a final status downstream"))


async def test_a_message_through_an_upstream_yizhan_is_delivered_and_reported_back(
        stack: AsyncExitStack, tmp_path: Path) -> None:
    up, down = await pair(stack, tmp_path)
    biz_id = await send(down, "13800138000")
    message = await final(down, biz_id)
    assert message["status"] == "success" and message["channel"] == "up"
    # It reached the upstream's carrier, once, with the downstream's text and signature.
    assert sum(up.simulator.submits.values()) == 1
    upstream = (await up.client.get("/v1/messages", params={
        "phone_number": "13800138000"})).json()["messages"]
    assert [m["content"] for m in upstream] == [message["content"]]
    assert message["content"].startswith(f"【{down.demo.signature.name}】")
    assert "4321" in message["content"]


TOKEN = "push-token-0123456789"


async def test_receipts_pushed_by_the_upstream_yizhan_reach_the_downstream(
        stack: AsyncExitStack, tmp_path: Path) -> None:
    # No polling: the upstream's account pushes its SmsReports to the downstream's callback.
    # The downstream also checks the upstream's X-Yizhan-Signature under the push secret
    # the upstream account shows (GET /v1/push): set before the downstream starts.
    up, down = await pair(stack, tmp_path, more=f'poll_seconds = 0\ncallback_token = '
                          f'"{TOKEN}"\npush_secret = "{{push_secret}}"')
    secret = (await up.client.get("/v1/push")).json()["secret"]
    assert f'push_secret = "{secret}"' in (tmp_path / "down" / "channels.toml").read_text()
    pushed = await up.client.put("/v1/push", json={
        "receipt_url": f"{down.base_url}/callbacks/up/{TOKEN}"})
    assert pushed.json()["code"] == "OK", pushed.json()
    assert pushed.json()["secret"] == secret
    message = await final(down, await send(down, "13800138005"))
    assert message["status"] == "success" and message["channel"] == "up"
    # A push with the right token but without the signature is refused.
    unsigned = await down.client.post(f"/callbacks/up/{TOKEN}", json=[{
        "biz_id": "1^0", "success": True, "err_code": "DELIVERED"}])
    assert unsigned.status_code == 403
    # A push with a wrong token is refused like an unknown channel, and stores nothing.
    wrong = await down.client.post("/callbacks/up/not-the-token-at-all", json=[{
        "biz_id": "1^0", "success": True, "err_code": "DELIVERED"}])
    assert wrong.status_code == 404


async def test_the_upstreams_throttling_is_a_pause_not_a_loss(
        stack: AsyncExitStack, tmp_path: Path) -> None:
    # The upstream takes one request a second from the account (Throttling.User beyond):
    # three numbers at once are throttled, paused, sent again, each delivered once.
    up, down = await pair(stack, tmp_path, api_rate_limit=1,
                          more=f'poll_seconds = 0\ncallback_token = "{TOKEN}"')
    assert (await up.client.put("/v1/push", json={
        "receipt_url": f"{down.base_url}/callbacks/up/{TOKEN}"})).json()["code"] == "OK"
    phones = ["13800138006", "13800138007", "13800138008"]
    answer = (await down.client.post("/v1/messages", json={
        "phone_numbers": phones, "sign_name": down.demo.signature.name,
        "template_code": down.verification, "template_param": {"code": "4321"}})).json()
    assert answer["code"] == "OK", answer

    async def delivered() -> list[Any] | None:
        found = (await down.client.get("/v1/messages", params={
            "biz_id": answer["biz_id"]})).json()["messages"]
        statuses = sorted(m["status"] for m in found)
        return found if statuses == ["success"] * 3 else None
    await eventually(delivered, 30, "three deliveries through a throttling upstream")
    assert sorted(up.simulator.submits.values()) == [1, 1, 1]
    metrics = down.yz.metrics.render().decode()
    retried = re.search(r'yizhan_channel_submits_total\{channel="up",result="retryable"\} '
                        r'(\d+)', metrics)
    assert retried is not None and int(retried.group(1)) >= 1  # it was throttled


async def test_a_failure_upstream_comes_back_with_its_code(
        stack: AsyncExitStack, tmp_path: Path) -> None:
    up, down = await pair(stack, tmp_path)
    up.simulator.script.numbers["13800138001"] = type(up.simulator.script.default)(
        code="MK:0001", delay=0.01)
    message = await final(down, await send(down, "13800138001"))
    assert (message["status"], message["error_code"]) == ("failed", "MK:0001")
    assert "no such subscriber" in message["reason"]


async def test_a_refusal_upstream_is_the_messages_refusal(
        stack: AsyncExitStack, tmp_path: Path) -> None:
    up, down = await pair(stack, tmp_path, blacklist=("+8613800138002",))
    message = await final(down, await send(down, "13800138002"))
    assert (message["status"], message["error_code"]) == ("failed", "isv.MOBILE_IN_BLACKLIST")
    assert message["channel"] == "up"
    assert sum(up.simulator.submits.values()) == 0


@pytest.mark.parametrize("dead", ["unreachable", "refusing"])
async def test_a_route_fails_over_from_an_upstream_that_cannot_take_it(
        stack: AsyncExitStack, tmp_path: Path, dead: str) -> None:
    # `dead` is an upstream on a loopback port nobody listens on (connection refused), or
    # the same upstream Yizhan with a wrong secret (SignatureDoesNotMatch): nothing taken
    # either way, so the message goes on to `up`, the route's second tier.
    url = "http://127.0.0.1:9" if dead == "unreachable" else "{url}"
    first = f"""
[[channel]]
name = "dead"
kind = "aliyun"
url = "{url}"
access_key_id = "{{key}}"
access_key_secret = "not-the-secret"
template_code = "SMS_1"
allow_networks = ["127.0.0.0/8"]
"""
    up, down = await pair(stack, tmp_path, first=first)
    message = await final(down, await send(down, "13800138003"))
    assert message["status"] == "success" and message["channel"] == "up"
    assert "dead could not take it" in message["route"], message["route"]
    reason = ("All connection attempts failed" if dead == "unreachable"
              else "refused the channel's request (SignatureDoesNotMatch")
    assert reason in message["route"]
    assert sum(up.simulator.submits.values()) == 1


async def test_an_upstream_on_an_internal_address_is_refused_unless_allowed(
        stack: AsyncExitStack, tmp_path: Path) -> None:
    up, _ = await pair(stack, tmp_path)
    options = {"url": up.base_url, "access_key_id": up.demo.key.id,
               "access_key_secret": up.demo.key.secret, "template_code": "SMS_1"}
    request = SubmitRequest(1, "+8613800138004", "【驿站】hello", 1, sign_name="驿站")
    refused = upstream_channel("strict", "aliyun", options, SystemClock())
    result = await refused.submit(request)
    await refused.stop()
    assert isinstance(result, Retryable)  # nothing left: another channel may take it
    assert "127.0.0.1, a loopback address" in result.reason
    assert "allow_networks" in result.reason
    assert sum(up.simulator.submits.values()) == 0
    # Allowed, the same request reaches it (refused there: no such template).
    allowed = upstream_channel("allowed", "aliyun", {
        **options, "allow_networks": ["127.0.0.0/8"]}, SystemClock())
    answer = await allowed.submit(request)
    await allowed.stop()
    assert isinstance(answer, Rejected | Retryable) and "loopback" not in str(answer)
