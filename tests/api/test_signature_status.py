"""What blocks a signature, in the native REST API and the CLI (issue 16 point 6):
`GET /v1/signatures/{name}/status` (the tenant's own signatures only, in the OpenAPI
reference) and `yizhan signs status NAME --account ACCOUNT` (a table, or `--json`)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.compliance.test_qualifications import DETAILS
from tests.conftest import Running
from tests.test_commands_qualifications import yz
from yizhan.app import open_store
from yizhan.domain.model import ReviewState, SignatureScenario
from yizhan.domain.registration import Isp, RegistrationState, SubPort
from yizhan.settings import Settings

NOW = datetime(2026, 12, 7, 3, tzinfo=UTC)
PORTS = [SubPort(Isp.MOBILE, "cmcc", "1069001"), SubPort(Isp.UNICOM, "cucc", "1069002")]


async def test_a_tenant_reads_what_blocks_its_signature_per_carrier(running: Running) -> None:
    store, account = running.yz.store, running.demo.account
    qualification = await store.submit_qualification(account.id, DETAILS, "account demo", NOW)
    await store.review_qualification(qualification.id, ReviewState.APPROVED, "", "cli op", NOW)
    sig = await store.create_signature(account.id, "驿站科技", SignatureScenario.GENERAL,
                                       ReviewState.APPROVED, NOW,
                                       qualification_id=qualification.id)
    rows = await store.file_sign_registrations(account.id, sig.id, PORTS, qualification.id,
                                               NOW, NOW + timedelta(days=7))
    await store.set_sign_registration(rows[1].id, RegistrationState.FAILED,
                                      ["SIGNATURE_QUALIFICATION_ERROR"], NOW, answered=True)

    got = await running.client.get("/v1/signatures/驿站科技/status")
    assert got.status_code == 200, got.text
    body = got.json()
    assert (body["code"], body["sign_name"], body["sign_status"], body["sending"]) == (
        "OK", "驿站科技", "approved", [])
    mobile, unicom, telecom = body["carriers"]
    assert (mobile["carrier"], mobile["cause"], mobile["register_status"], mobile["blocked"],
            mobile["due"]) == ("mobile", "registering", -1, True, "2026-12-14T03:00:00+00:00")
    assert mobile["message_zh"] == "报备中：2026-12-07 提交，预计 2026-12-14 前答复"
    assert "5-7 working days" in mobile["next_step_en"]
    assert (unicom["cause"], unicom["reasons"]) == ("failed", ["SIGNATURE_QUALIFICATION_ERROR"])
    assert unicom["message_en"] == ("registration failed: the signature does not belong to "
                                    "the qualification's company")
    assert (telecom["cause"], telecom["register_status"]) == ("not_started", -2)

    # This server's one channel takes no registration: the demo signature has no rows, and
    # no qualification either.
    demo = (await running.client.get(
        f"/v1/signatures/{running.demo.signature.name}/status")).json()
    assert demo["sending"] == [] and {c["cause"] for c in demo["carriers"]} == {"no_qualification"}


async def test_another_accounts_or_an_unknown_signature_is_not_found(running: Running) -> None:
    store = running.yz.store
    other = await store.create_account("other", NOW)
    await store.create_signature(other.id, "别家公司", SignatureScenario.GENERAL,
                                 ReviewState.APPROVED, NOW)
    for name in ("别家公司", "没有这个"):
        got = await running.client.get(f"/v1/signatures/{name}/status")
        assert (got.status_code, got.json()["code"]) == (404, "SignatureNotFound")
    spec = (await running.client.get("/openapi.json")).json()
    assert "get" in spec["paths"]["/v1/signatures/{name}/status"]


async def _seeded(data_dir: Path) -> None:
    store = open_store(Settings(data_dir=data_dir))
    await store.migrate()
    account = await store.create_account("acme", NOW)
    qualification = await store.submit_qualification(account.id, DETAILS, "account acme", NOW)
    await store.create_signature(account.id, "驿站科技", SignatureScenario.GENERAL,
                                 ReviewState.APPROVED, NOW, qualification_id=qualification.id)
    await store.close()


def test_the_cli_shows_the_same_per_carrier_table_or_json(tmp_path: Path) -> None:
    asyncio.run(_seeded(tmp_path))
    code, output = yz(tmp_path, "signs", "status", "驿站科技", "--account", "acme")
    assert code == 0, output
    rows = [line for line in output.splitlines() if line.startswith("│ ") and "│ no" in line]
    assert [r.split("│")[1].strip() for r in rows] == ["mobile", "unicom", "telecom"]
    assert "the bound qualification is under review" in output
    code, output = yz(tmp_path, "signs", "status", "驿站科技", "--account", "acme", "--json")
    assert code == 0, output
    shown = json.loads(output)
    assert [c["cause"] for c in shown["carriers"]] == ["qualification_pending"] * 3
    assert shown["carriers"][0]["message_zh"] == "关联的资质审核中"
    code, output = yz(tmp_path, "signs", "status", "别的", "--account", "acme")
    assert code == 1 and "has no signature '别的'" in output
