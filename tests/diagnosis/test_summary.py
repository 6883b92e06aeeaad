"""Issue 18 point 3: the diagnosis of a population ("qualification approved, why is my success
rate still low?"): real sends through a running app, the simulated carrier scripted per
number, then GET /v1/diagnosis/summary and `yizhan diagnose --summary` as the tenant and the
operator ask: the success rate per carrier, the leading codes with their explanations, and
each flag raised when its cause is present and only then."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.api.aliyun.sdk import Tenant
from tests.api.test_frequency import MinuteStartClock
from tests.api.test_rest import fresh_number, send_body
from tests.conftest import TEST_MASTER_ENV, Running, eventually
from yizhan.cli.main import app
from yizhan.diagnosis.population import Scope, Summarizer, summary_json
from yizhan.dispatch.channels.simulator import Outcome
from yizhan.domain.model import (
    PhoneNumber,
    ReviewState,
    SignatureScenario,
    TemplateType,
)
from yizhan.domain.ports import Clock, SystemClock
from yizhan.domain.registration import Isp, RegistrationState, SubPort
from yizhan.domain.timezone import CHINA, china_today
from yizhan.storage import reports
from yizhan.storage.sql import hot_sql
from yizhan.storage.store import SqlStore

_serial = itertools.count(random.randrange(10_000_000) * 10)


def number(prefix: str) -> str:
    """A fresh mainland number of a carrier's segment (138: mobile, 130: unicom, 133:
    telecom)."""
    return f"{prefix}{next(_serial) % 100_000_000:08d}"


class NoonClock(SystemClock):
    """Real time, moved to noon China time of today: promotions may go out (08:00-22:00),
    a minute's frequency window starts with the test, and no test straddles a China day."""

    def __init__(self) -> None:
        real = datetime.now(UTC)
        noon = datetime.now(CHINA).replace(hour=12, minute=0, second=0, microsecond=0)
        self._offset = noon.astimezone(UTC) - real

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


@pytest.fixture
def running_clock(request: pytest.FixtureRequest) -> Clock:
    """Noon China time, but the real time for a test marked `real_clock`: the official SDK
    signs its calls with the real time, which the server checks against its own."""
    return (MinuteStartClock() if request.node.get_closest_marker("real_clock")
            else NoonClock())


async def send_all(running: Running, outcomes: dict[str, str],
                   client: httpx.AsyncClient | None = None, **more: Any) -> None:
    """One request to every number of `outcomes`, each answered with its code; returns once
    every record has its final status."""
    for phone, code in outcomes.items():
        running.simulator.script.numbers[phone] = Outcome(code, delay=0.01)
    sent = await (client or running.client).post("/v1/messages", json=send_body(
        running, list(outcomes), **more))
    assert sent.status_code == 200, sent.text
    biz_id = sent.json()["biz_id"]

    async def final() -> bool:
        body = (await (client or running.client).get(
            "/v1/messages", params={"biz_id": biz_id, "page_size": 100})).json()
        return len(body["messages"]) == len(outcomes) and all(
            m["status"] != "waiting" for m in body["messages"])
    await eventually(final, what="every receipt")


async def summary(running: Running, **params: Any) -> dict[str, Any]:
    got = await running.client.get("/v1/diagnosis/summary", params=params)
    assert got.status_code == 200, got.text
    return got.json()  # type: ignore[no-any-return]


def carriers(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["carrier"]: c for c in body["carriers"]}


def flags(body: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(f["kind"], f["carriers"]) for f in body["flags"]]


async def test_rates_leading_codes_and_a_surge_of_one_carrier_code(
        running: Running, tmp_path: Path, database: str) -> None:
    outcomes = {**{number("138"): "DELIVRD" for _ in range(4)},
                **{number("138"): "MK:0006" for _ in range(12)},
                **{number("130"): "DELIVRD" for _ in range(3)},
                **{number("130"): "UNDELIV" for _ in range(2)},
                **{number("133"): "DELIVRD" for _ in range(2)}}
    await send_all(running, outcomes)
    # another account sends the same failures: never counted in this account's summary
    store, now = running.yz.store, running.yz.clock.now()
    other = await store.create_account("other", now)
    key = await store.create_access_key(other.id, now)
    sign = await store.create_signature(other.id, "别家", SignatureScenario.GENERAL,
                                        ReviewState.APPROVED, now)
    template = await store.create_template(other.id, "code", TemplateType.VERIFICATION,
                                           "您的验证码为${code}。", ReviewState.APPROVED, now)
    async with httpx.AsyncClient(base_url=running.base_url, auth=(key.id, key.secret),
                                 timeout=10) as stranger:
        await send_all(running, {number("138"): "MK:0006" for _ in range(5)}, stranger,
                       sign_name=sign.name, template_code=template.code)

    today = china_today(running.yz.clock.now()).isoformat()
    body = await summary(running)  # today by default
    assert body["from"] == body["to"] == today and body["code"] == "OK"
    found = carriers(body)
    assert list(found) == ["mobile", "unicom", "telecom"]
    mobile, unicom, telecom = found["mobile"], found["unicom"], found["telecom"]
    assert (mobile["sent"], mobile["success"], mobile["failed"]) == (16, 4, 12)
    assert mobile["success_rate"] == 0.25 and mobile["waiting"] == 0
    [code] = mobile["codes"]
    assert (code["code"], code["count"], code["share"]) == ("MK:0006", 12, 1.0)
    assert code["cause"] and code["verdict"] == "carrier_code"
    assert (unicom["sent"], unicom["success"], unicom["failed"]) == (5, 3, 2)
    assert [(c["code"], c["count"], c["verdict"]) for c in unicom["codes"]] == [
        ("UNDELIV", 2, "handset_unreachable")]
    assert unicom["codes"][0]["cause"].startswith("undeliverable")
    assert (telecom["sent"], telecom["success"], telecom["codes"]) == (2, 2, [])
    assert body["total"]["sent"] == 23 and body["total"]["success"] == 9

    # a surge: MK:0006 is all of China Mobile's 12 failures, none the day before; UNDELIV
    # (2 on unicom) is under the minimum. No other cause is present.
    assert flags(body) == [("code_surge", ["mobile"])]
    [surge] = body["flags"]
    assert surge["codes"] == ["MK:0006"] and surge["count"] == 12
    assert "China Mobile answered MK:0006 for 12 of its 12 failures" in surge["what"]["en"]
    assert "中国移动返回 MK:0006 共 12 条" in surge["what"]["zh"]
    assert surge["todo"]["en"] and surge["todo"]["zh"]

    # narrowed: another signature, another template, an earlier day have none of it
    assert (await summary(running, sign_name="别家"))["carriers"] == []
    assert (await summary(running, template_code=template.code))["carriers"] == []
    narrowed = await summary(running, sign_name=running.demo.signature.name,
                             template_code=running.verification, date=today)
    assert carriers(narrowed)["mobile"]["failed"] == 12
    yesterday = (china_today(running.yz.clock.now()) - timedelta(days=1)).isoformat()
    ranged = await summary(running, **{"from": yesterday, "to": today})
    assert ranged["from"] == yesterday and carriers(ranged)["mobile"]["sent"] == 16
    assert (await summary(running, date=yesterday))["flags"] == []

    if database == "sqlite":  # the CLI reads the same store; once is enough
        common = ["--database-url", f"sqlite+aiosqlite:///{tmp_path / 'store.db'}",
                  "--data-dir", str(tmp_path)]

        def cli(*args: str) -> str:
            result = CliRunner().invoke(app, ["diagnose", "--summary", *args, *common],
                                        env=TEST_MASTER_ENV)
            assert result.exit_code == 0, result.output
            return result.output

        shown = json.loads(await asyncio.to_thread(
            cli, "--account", running.demo.account.name, "--date", today, "--json"))
        assert shown["carriers"] == body["carriers"] and shown["flags"] == body["flags"]
        text = await asyncio.to_thread(cli, "--account", running.demo.account.name)
        assert "mobile" in text and "25.0%" in text and "MK:0006" in text
        assert "flag code_surge (mobile; side: carrier; 12 message(s))" in text
        chinese = await asyncio.to_thread(cli, "--account", "other", "--zh")
        assert "MK:0006" in chinese and "flags: none the trail can prove" in chinese  # 5 < 10
        wrong = await asyncio.to_thread(CliRunner().invoke, app, [
            "diagnose", "--summary", "--account", "other", "--from", "2026-01-01",
            "--to", "2026-03-01", *common], env=TEST_MASTER_ENV)
        assert wrong.exit_code == 1 and "at most 31 days" in wrong.output


async def registered_except_unicom(running: Running) -> None:
    """The demo signature registered on China Mobile and China Telecom; its registration
    on China Unicom failed (the carrier said the qualification does not match)."""
    store, signature, now = running.yz.store, running.demo.signature, running.yz.clock.now()
    rows = await store.sign_registrations(signature.id)
    missing = {Isp.MOBILE, Isp.UNICOM, Isp.TELECOM} - {r.isp for r in rows}
    if missing:
        rows = await store.file_sign_registrations(
            signature.account_id, signature.id,
            [SubPort(isp, "simulator", f"1069{n}{signature.id}") for n, isp in
             enumerate(sorted(missing))], None, now, now)
    for row in rows:
        failed = row.isp is Isp.UNICOM
        assert await store.set_sign_registration(
            row.id, RegistrationState.FAILED if failed else RegistrationState.REGISTERED,
            ["QUALIFICATION_ERROR"] if failed else ["DETECT_SUCCESS"], now, answered=True)


async def test_each_cause_flagged_registration_frequency_opt_out(running: Running) -> None:
    store, account, now = running.yz.store, running.demo.account, running.yz.clock.now()
    before = await summary(running)
    assert before["carriers"] == [] and before["flags"] == []

    # registration failed on China Unicom only: its numbers answer MB:1077
    await registered_except_unicom(running)
    await send_all(running, {**{number("130"): "MB:1077" for _ in range(3)},
                             number("138"): "DELIVRD", number("133"): "DELIVRD"})
    body = await summary(running)
    assert flags(body) == [("registration", ["unicom"])]
    [registration] = body["flags"]
    assert registration["count"] == 3 and registration["side"] == "tenant"
    assert registration["sign_name"] == running.demo.signature.name
    assert "not usable on China Unicom: registration failed" in registration["what"]["en"]
    assert "China Unicom refused 3 message(s)" in registration["what"]["en"]
    assert "中国联通" in registration["what"]["zh"] and "报备失败" in registration["what"]["zh"]
    assert "start the registration again" in registration["todo"]["en"]
    assert carriers(body)["unicom"]["codes"][0]["code"] == "isv.SIGN_NOT_REGISTERED"

    # frequency refusals: a second code to the same number within the minute
    again = fresh_number()
    await send_all(running, {again: "DELIVRD"})
    await send_all(running, {fresh_number(): "DELIVRD", again: "DELIVRD"})
    # opt-outs: a promotion to a number that replied R
    opted = number("138")
    await store.add_opt_out(account.id, running.demo.signature.name,
                            PhoneNumber(f"+86{opted}"), "uplink R", now)
    promotion = running.demo.templates[TemplateType.PROMOTION].code

    async def refused_promotion() -> bool:
        answer = await running.client.post("/v1/messages", json=send_body(
            running, [number("138"), opted], template_code=promotion,
            template_param={"discount": "8"}))
        assert answer.status_code == 200, answer.text
        return answer.json()["messages"][1]["status"] == "failed"
    await eventually(refused_promotion, what="the opt-out list loaded")

    body = await summary(running)
    kinds = {kind: where for kind, where in flags(body)}
    assert kinds == {"registration": ["unicom"], "frequency": ["mobile"],
                     "opt_out": ["mobile"]}
    by_kind = {f["kind"]: f for f in body["flags"]}
    frequency, opt_out = by_kind["frequency"], by_kind["opt_out"]
    assert frequency["count"] == 1 and frequency["codes"] == ["isv.BUSINESS_LIMIT_CONTROL"]
    assert "frequency control" in frequency["what"]["en"] and "白名单" in frequency["todo"]["zh"]
    assert opt_out["count"] >= 1 and opt_out["codes"] == ["isv.MOBILE_OPTED_OUT"]
    assert "replied R" in opt_out["what"]["en"] and "退订" in opt_out["what"]["zh"]
    # a flag is as narrow as the population: the promotion template has only the opt-out
    narrowed = await summary(running, template_code=promotion)
    assert [f["kind"] for f in narrowed["flags"]] == ["opt_out"]


async def test_a_submit_refused_by_the_carrier_counts_with_its_channel(
        running: Running) -> None:
    """A carrier that refuses the submit itself (no receipt) counts as a failure with its
    code, explained by the table of the channel that refused it."""
    refused = number("186")
    running.simulator.script.numbers[refused] = Outcome(submit="reject:MK:0001")
    await send_all(running, {number("186"): "DELIVRD"})
    sent = await running.client.post("/v1/messages", json=send_body(running, [refused]))
    assert sent.status_code == 200, sent.text

    async def counted() -> dict[str, Any] | None:
        found = carriers(await summary(running)).get("unicom")
        return found if found and found["failed"] else None
    unicom = await eventually(counted, what="the refused submit")
    assert (unicom["sent"], unicom["success"], unicom["failed"]) == (2, 1, 1)
    assert [(c["code"], c["verdict"]) for c in unicom["codes"]] == [
        ("MK:0001", "handset_unreachable")]
    assert unicom["codes"][0]["cause"]


@pytest.mark.real_clock
async def test_keyword_interceptions_by_the_platform_and_a_carrier(running: Running) -> None:
    store, now = running.yz.store, running.yz.clock.now()
    # keyword interceptions: the platform's list and a carrier's MK:0115
    await store.add_keywords(None, ["赌博"], now)
    intercepted = number("133")
    running.simulator.script.numbers[intercepted] = Outcome("MK:0115", delay=0.01)
    tenant = Tenant(running, running.demo.key.id, running.demo.key.secret)
    phones = [number("138"), number("138"), intercepted]

    async def batch() -> Any:
        outcome = await tenant.call(
            "SendBatchSms", PhoneNumberJson=json.dumps(phones),
            SignNameJson=json.dumps([running.demo.signature.name] * 3),
            TemplateCode=running.verification,
            TemplateParamJson=json.dumps([{"code": "1"}, {"code": "赌博"}, {"code": "2"}]))
        return outcome if outcome.code == "OK" else None
    await eventually(batch, what="the keyword list loaded")

    async def keyword_flag() -> dict[str, Any] | None:
        found = [f for f in (await summary(running))["flags"] if f["kind"] == "keyword"]
        return found[0] if found and found[0]["count"] == 2 else None
    keyword = await eventually(keyword_flag, what="both interceptions counted")
    assert keyword["codes"] == ["isv.BLACK_KEY_CONTROL_LIMIT", "MK:0115"]
    assert set(keyword["carriers"]) == {"mobile", "telecom"}
    assert "1 stopped by the platform's or your account's keyword list" in keyword["what"][
        "en"]
    assert "1 intercepted by carriers (MK:0115)" in keyword["what"]["en"]
    assert "内容关键字拦截" in keyword["what"]["zh"] and "退订" in keyword["todo"]["zh"]

    assert [f["kind"] for f in (await summary(running))["flags"]] == ["keyword"]


async def test_a_surge_is_a_jump_against_the_period_before(store: SqlStore) -> None:
    """The surge rule on the counters as status changes write them: a code that is most of
    a carrier's failures surges only when it at least doubled against the period of the
    same length just before."""
    now = datetime.now(CHINA).replace(hour=12)
    account = await store.create_account("surging", now)
    today = now.date()

    async def fail(day_offset: int, code: str, n: int) -> None:
        at = (now - timedelta(days=day_offset)).astimezone(UTC)
        failures = [(at, account.id, "驿站", "SMS_1", f"+86138{k:08d}", "sim", code)
                    for k in range(n)]
        async with store.engine.begin() as conn:
            await conn.run_sync(lambda c: reports.count_codes(
                c, hot_sql(store.is_postgres), failures))

    async def surges(day: date) -> list[tuple[str, list[str], int]]:
        found = await Summarizer(store).summary(Scope(account.id, day, day))
        return [(f["codes"][0], f["carriers"], f["count"])
                for f in summary_json(found)["flags"] if f["kind"] == "code_surge"]

    yesterday = today - timedelta(days=1)
    await fail(1, "MK:0006", 12)
    await fail(0, "MK:0006", 12)
    assert await surges(yesterday) == [("MK:0006", ["mobile"], 12)]  # from nothing
    assert await surges(today) == []  # as many as the day before: steady, no surge
    await fail(0, "MK:0006", 12)
    assert await surges(today) == [("MK:0006", ["mobile"], 24)]  # doubled
    await fail(0, "UNDELIV", 13)
    await fail(0, "EXPIRED", 13)
    assert await surges(today) == []  # 24 of 50 failures: under half
    ranged = await Summarizer(store).summary(Scope(account.id, yesterday, today))
    assert [f.kind for f in ranged.flags] == ["code_surge"]  # 2 days against the 2 before
    assert ranged.flags[0].codes == ("MK:0006",) and ranged.flags[0].count == 36


async def test_bad_ranges_and_openapi(running: Running) -> None:
    c = running.client
    for params in ({"date": "2026-12-07", "from": "2026-12-01"},
                   {"to": "2026-12-07"},
                   {"from": "2026-12-07", "to": "2026-12-01"},
                   {"from": "2026-11-01", "to": "2026-12-07"},
                   {"date": "2026-13-01"}):
        got = await c.get("/v1/diagnosis/summary", params=params)
        assert got.status_code == 400 and got.json()["code"] in ("InvalidParameter",
                                                                 "isv.INVALID_PARAMETERS"), got.text
    ok = await c.get("/v1/diagnosis/summary", params={"from": "2026-11-07",
                                                      "to": "2026-12-07"})
    assert ok.status_code == 200 and ok.json()["carriers"] == []
    route = (await c.get("/openapi.json")).json()["paths"]["/v1/diagnosis/summary"]["get"]
    assert {p["name"] for p in route["parameters"]} == {
        "sign_name", "template_code", "date", "from", "to", "top"}
    example = route["responses"]["200"]["content"]["application/json"]["example"]
    assert example["flags"][0]["kind"] == "registration"
    assert route["summary"].startswith("Why is my success rate low")
