"""`yizhan calls`: the API call log for the operator, numbers masked unless --unmask or
--json, every account's calls (and unknown keys') or one account's (issue 18 point 2)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from yizhan.app import open_store
from yizhan.cli.main import app
from yizhan.domain.calls import ApiCall
from yizhan.domain.ids import IdGenerator, unix_ms
from yizhan.domain.model import AccountId
from yizhan.settings import Settings

runner = CliRunner()
AT = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 in China


async def _logged(data_dir: Path) -> AccountId:
    store = open_store(Settings(data_dir=data_dir))
    await store.migrate()
    account = await store.create_account("shop", AT)
    ids = IdGenerator()
    await store.add_calls([
        ApiCall(ids.next_id(unix_ms(AT)), "SendSms", account.id, "LTAIshop", "RID-1", 200,
                "isv.SMS_TEMPLATE_ILLEGAL", ("+8613800138000", "+8613800138001"), 1000,
                "驿站", "SMS_1", "10.0.0.7"),
        ApiCall(ids.next_id(unix_ms(AT)), "SendSms", None, "LTAIstranger", "RID-2", 404,
                "InvalidAccessKeyId.NotFound", ("+8613800138000",), 1, "驿站", "SMS_1",
                "10.0.0.8")])
    await store.close()
    return account.id


def test_calls_are_listed_masked_and_by_account(tmp_path: Path) -> None:
    asyncio.run(_logged(tmp_path))
    base = ["calls", "--date", "2026-12-07", "--data-dir", str(tmp_path)]
    shown = runner.invoke(app, [*base, "--phone", "13800138000"], env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    assert "API calls (2 in all)" in shown.output
    assert "138****8000" in shown.output and "13800138000" not in shown.output
    assert "(+998)" in shown.output and "isv.SMS_TEMPLATE_ILLEGAL" in shown.output
    assert "LTAIstranger" in shown.output  # the operator sees unknown keys' calls
    unmasked = runner.invoke(app, [*base, "--unmask"], env={"COLUMNS": "250"})
    assert "13800138000" in unmasked.output
    listed = json.loads(runner.invoke(app, [*base, "--account", "shop", "--json"]).output)
    assert [(c["code"], c["number_count"], c["phone_numbers"]) for c in listed] == [
        ("isv.SMS_TEMPLATE_ILLEGAL", 1000, ["13800138000", "13800138001"])]
    coded = json.loads(runner.invoke(app, [*base, "--code", "InvalidAccessKeyId.NotFound",
                                           "--json"]).output)
    assert [c["access_key_id"] for c in coded] == ["LTAIstranger"]
