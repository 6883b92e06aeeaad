"""A new tenant's whole compliance path, tried as a new user would (issue 16, the done
criterion): the tenant works through the official Alibaba SDK alone, the operator through
the `yizhan` CLI, the carriers are the embedded SMPP simulator over real loopback binds
(one channel per carrier, each requiring registration), and the clock is driven.

documents uploaded -> qualification submitted -> operator approves -> signature created ->
operator approves -> registration filed on each carrier's sub-port -> China Unicom refuses
it once, the others register -> a send to a Unicom number fails with the carriers'
real-name error while a China Mobile one is delivered -> the tenant sees why and triggers
registration again -> Unicom registers -> the send succeeds -> successful deliveries verify
each carrier -> registered everywhere.

The operator's commands run on the same SQLite store as the server (the CLI opens it by
its URL), so this test runs on SQLite only; every step it takes is tested on PostgreSQL
too by the tests of that step."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.api.aliyun.sdk import Tenant
from tests.api.aliyun.test_qualifications_sdk import submission
from tests.api.aliyun.uploads import with_documents
from tests.conftest import TEST_MASTER_ENV, ManualClock, start_running
from yizhan.cli.main import app
from yizhan.domain.timezone import china_today
from yizhan.storage.store import SqlStore

SEED = "签名实名制报备问题。应运营商要求，各短信发送通道需完成对应签名的实名制报备"
MOBILE, UNICOM, TELECOM = "13800138000", "13000130000", "18900189000"
SIGN = "驿站科技"
CHANNELS = """
[[channel]]
name = "cmcc"
kind = "smpp-simulator"
channel_code = "9001"
carrier = "china_mobile"
registration = true

[[channel]]
name = "cucc"
kind = "smpp-simulator"
channel_code = "9002"
carrier = "china_unicom"
registration = true

[[channel]]
name = "ctcc"
kind = "smpp-simulator"
channel_code = "9003"
carrier = "china_telecom"
registration = true

# Carrier-direct channels: each carrier's numbers go to its own gateway only.
[[route]]
name = "china-mobile"
carriers = ["china_mobile"]
channels = ["cmcc"]

[[route]]
name = "china-unicom"
carriers = ["china_unicom"]
channels = ["cucc"]

[[route]]
name = "china-telecom"
carriers = ["china_telecom"]
channels = ["ctcc"]

[simulator]
script = "carrier.toml"
registration_seconds = 300      # the carriers answer 5 minutes after the filing

[[simulator.refusals]]          # China Unicom refuses the first filing
carrier = "china_unicom"
reason = "OTHERS_ERROR"
detail = "联通通道维护"
times = 1
"""


@pytest.fixture
def database() -> str:
    return "sqlite"


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


class Operator:
    """The `yizhan` CLI on the server's store and channel file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.env = {"YIZHAN_CHANNELS_FILE": str(folder / "channels.toml"), "COLUMNS": "200",
                    **TEST_MASTER_ENV}

    async def __call__(self, *args: str) -> str:
        result = await asyncio.to_thread(CliRunner().invoke, app, [
            *args, "--database-url", f"sqlite+aiosqlite:///{self.folder / 'store.db'}",
            "--data-dir", str(self.folder)], env=self.env)
        assert result.exit_code == 0, result.output
        return result.output


def carrier_files(folder: Path) -> None:
    (folder / "carrier.toml").write_text("[default]\ndelay = 0\n")
    (folder / "channels.toml").write_text(CHANNELS)


async def settle(clock: ManualClock, check: Callable[[], Awaitable[Any]], what: str,
                 step: float = 1.0, steps: int = 200) -> Any:
    """Move the clock `step` seconds at a time (the server's loops run on it) until
    `check` answers something truthy."""
    for _ in range(steps):
        found = await check()
        if found:
            return found
        clock.advance(seconds=step)
        await asyncio.sleep(0.05)  # the loops' rounds are paced in real time
    raise AssertionError(f"never came: {what}")


async def tick(clock: ManualClock, seconds: int = 3) -> None:
    """Let the server's loops run for `seconds` of the clock, one second at a time: the
    simulated carriers read the platform's record of their answers every `cache_seconds`
    (a real carrier knows its own answer at once)."""
    for _ in range(seconds):
        clock.advance(seconds=1)
        await asyncio.sleep(0.15)


async def carriers(tenant: Tenant) -> dict[str, tuple[int, list[str]]]:
    """GetSmsSign's registration per carrier: state and reason codes."""
    got = await tenant.call("GetSmsSign", SignName=SIGN)
    assert got.code == "OK", got.message
    return {d["OperatorCode"]: (d["RegisterStatus"],
                                [r["ReasonCode"] for r in d["RegisterStatusReasons"]])
            for d in got.body["SignIspRegisterDetailList"]}


async def test_a_new_tenant_goes_from_nothing_to_a_registered_signature(
        store: SqlStore, tmp_path: Path) -> None:
    # The official SDK signs with the real time, which the server takes within 15 minutes
    # of its own: the driven clock starts 14 minutes behind the real time, so that the
    # whole path may move it about 25 minutes on (the carriers answer in 5).
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=14))
    carrier_files(tmp_path)
    operator = Operator(tmp_path)
    async with start_running(store, tmp_path, clock, embedded=True,
                             channels_file=tmp_path / "channels.toml", cache_seconds=0.1,
                             registration_sweep_seconds=0.02,
                             registration_verify_deliveries=2) as running:
        # The operator opens an account for the new tenant and gives it an AccessKey.
        await operator("accounts", "create", "feige")
        shown = await operator("keys", "create", "--account", "feige")
        key_id, secret = (line.split()[2] for line in shown.splitlines()[:2])
        tenant = await with_documents(Tenant(running, key_id, secret))  # the OSS upload form

        # 1. The qualification, with the documents just uploaded; the operator approves.
        submitted = await tenant.call("SubmitSmsQualification", **submission(tenant))
        assert submitted.code == "OK", submitted.message
        group = int(submitted.body["Data"])
        queue = await operator("review", "queue", "--kind", "qualification")
        assert "驿站科技资质" in queue
        await operator("qualifications", "approve", str(group))
        record = await tenant.call("QuerySingleSmsQualification", QualificationGroupId=group)
        assert record.body["Data"]["State"] == "PASSED", record.body

        # 2. The signature on it; the operator approves it, which files the registration on
        # each carrier's sub-port. Then a template related to it, approved too.
        created = await tenant.call("CreateSmsSign", SignName=SIGN, SignSource=0, SignType=1,
                                    QualificationId=group, Remark="验证码，官网 https://f.example")
        assert created.code == "OK", created.message
        listed = await operator("signs", "list", "--account", "feige")
        [signature_id] = [re.findall(r"\d+", line)[0] for line in listed.splitlines()
                          if SIGN in line]
        await operator("signs", "approve", signature_id)
        template = await tenant.call(
            "CreateSmsTemplate", TemplateType=0, TemplateName="登录验证码",
            TemplateContent="您的验证码为${code}，5分钟内有效。", RelatedSignName=SIGN,
            TemplateRule='{"code":"numberCaptcha"}', Remark="login codes")
        assert template.code == "OK", template.message
        code = template.body["TemplateCode"]
        await operator("templates", "approve", code)
        assert await carriers(tenant) == {
            isp: (-1, ["REGISTERING"]) for isp in ("mobile", "unicom", "telecom")}

        # 3. The carriers answer (days for real ones, minutes here): China Unicom refuses
        # (channel maintenance), the others register.
        async def answered() -> dict[str, tuple[int, list[str]]] | None:
            states = await carriers(tenant)
            return states if all(s != -1 for s, _ in states.values()) else None

        states = await settle(clock, answered, "the carriers' answers", step=30)
        assert states == {"mobile": (1, ["DETECTING"]), "unicom": (0, ["OTHERS_ERROR"]),
                          "telecom": (1, ["DETECTING"])}
        await tick(clock)

        # 4. Sends: China Mobile delivers; China Unicom's gateway refuses the signature with
        # the carriers' real-name error, which the tenant reads through the SDK.
        async def send(number: str) -> tuple[str, str]:
            """The BizId and the China day of a verification code sent to `number`."""
            sent = await tenant.call("SendSms", PhoneNumbers=number, SignName=SIGN,
                                     TemplateCode=code, TemplateParam='{"code":"123456"}')
            assert sent.code == "OK", sent.message
            return str(sent.body["BizId"]), china_today(clock.now()).strftime("%Y%m%d")

        async def outcome(number: str, sent: tuple[str, str]) -> dict[str, Any] | None:
            found = await tenant.call(
                "QuerySendDetails", PhoneNumber=number, BizId=sent[0], PageSize=10,
                CurrentPage=1, SendDate=sent[1])
            [dto] = found.body["SmsSendDetailDTOs"]["SmsSendDetailDTO"]
            return dto if dto["SendStatus"] != 1 else None  # 1: waiting for the receipt

        async def receipt(number: str) -> dict[str, Any]:
            """The record of a code sent to `number`, once its receipt is in."""
            sent = await send(number)
            return await settle(clock, lambda: outcome(number, sent), f"the receipt of {number}")

        mobile = await receipt(MOBILE)
        assert (mobile["SendStatus"], mobile["ErrCode"]) == (3, "DELIVERED")
        unicom = await receipt(UNICOM)
        assert (unicom["SendStatus"], unicom["ErrCode"]) == (2, "isv.SIGN_NOT_REGISTERED")
        # ... the record says why in the carriers' words, and what blocks the signature
        # says what to do: the tenant's REST API, and the operator's CLI alike.
        async with httpx.AsyncClient(base_url=running.base_url, auth=(key_id, secret),
                                     timeout=10, trust_env=False) as rest:
            [record] = (await rest.get("/v1/messages", params={"phone_number": UNICOM})
                        ).json()["messages"]
            assert record["reason"].startswith(SEED)
            status = (await rest.get(f"/v1/signatures/{SIGN}/status")).json()
            shown = json.loads(await operator("signs", "status", SIGN, "--account", "feige",
                                              "--json"))
            assert shown["carriers"] == status["carriers"]
            blocked = {c["carrier"]: c for c in status["carriers"]}
            assert (blocked["unicom"]["blocked"], blocked["unicom"]["cause"],
                    blocked["unicom"]["reasons"]) == (True, "failed", ["OTHERS_ERROR"])
            assert (blocked["mobile"]["blocked"], blocked["mobile"]["cause"]) == (
                False, "awaiting_verification")

            # 5. The tenant triggers the registration again (REST, with its AccessKey); China
            # Unicom registers it this time, and the send succeeds.
            again = await rest.post(f"/v1/signatures/{SIGN}/registration")
            assert again.status_code == 200, again.text
            assert again.json()["filed"] == ["cucc"]
        states = await settle(clock, answered, "China Unicom's second answer", step=30)
        assert states["unicom"] == (1, ["DETECTING"])
        await tick(clock)
        unicom = await receipt("13000130001")
        assert (unicom["SendStatus"], unicom["ErrCode"]) == (3, "DELIVERED")

        # 6. Successful deliveries to each carrier's numbers verify it (two here: the
        # `registration_verify_deliveries` setting): registered everywhere.
        for number in ("13800138001", "13000130002", TELECOM, "18900189001"):
            assert (await receipt(number))["ErrCode"] == "DELIVERED"

        async def verified() -> dict[str, tuple[int, list[str]]] | None:
            states = await carriers(tenant)
            return states if all(s == 3 for s, _ in states.values()) else None

        assert await settle(clock, verified, "verification") == {
            isp: (3, ["DETECT_SUCCESS"]) for isp in ("mobile", "unicom", "telecom")}
        got = await tenant.call("GetSmsSign", SignName=SIGN)
        assert got.body["RegisterResult"] == 1
