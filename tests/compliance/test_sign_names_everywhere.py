"""The same signature names refused alike through the official Alibaba SDK (AddSmsSign,
ModifySmsSign) and the operator CLI (`yizhan signs add`), and old signatures from a closed
source flagged where signatures are listed (docs/compliance.md "Signature names"). The native
REST API has no signature routes yet."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.api.aliyun.sdk import SdkClient
from tests.conftest import TEST_MASTER_ENV, Running, opened_store
from yizhan.cli.main import app
from yizhan.domain.model import ReviewState, SignatureScenario
from yizhan.storage.frequency import FrequencySettings

COMPANY = "杭州驿站科技有限公司"
REFUSED = [  # name, Alibaba SignSource, CLI --source, the code every way in answers
    ("12345", 5, "trademark", "isv.SMS_SIGN_NAME_ILLEGAL"),
    ("a", 5, "trademark", "isv.SMS_SIGN_NAME_ILLEGAL"),
    ("驿" * 27, 5, "trademark", "isv.SMS_SIGN_NAME_ILLEGAL"),
    ("阿里", 0, "enterprise", "isv.SMS_SIGN_COMPANY_MISMATCH"),
    ("驿站", 3, "public_account", "isv.SMS_SIGN_SOURCE_CLOSED"),
]


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)


async def test_sdk_and_cli_refuse_the_same_names_with_the_same_code(
        running: Running, tmp_path: Path) -> None:
    store, now = running.yz.store, running.yz.clock.now()
    await FrequencySettings(store).verify_enterprise(running.demo.account.id, COMPANY, "test",
                                                     now)
    port = int(running.base_url.rsplit(":", 1)[1])
    sdk = SdkClient("v4-acs3", port, running.demo.key.id, running.demo.key.secret)
    cli_dir = tmp_path / "cli"
    cli_dir.mkdir()
    async with opened_store("sqlite", cli_dir) as cli_store:  # the CLI's own store
        owner = await cli_store.create_account("acme", now)
        await FrequencySettings(cli_store).verify_enterprise(owner.id, COMPANY, "test", now)
    url = f"sqlite+aiosqlite:///{cli_dir / 'store.db'}"

    def cli(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, [*args, "--database-url", url, "--data-dir",
                                          str(cli_dir)], env=TEST_MASTER_ENV)
        return result.exit_code, result.output

    answers = {}
    for name, number, source, code in REFUSED:
        added = await asyncio.to_thread(sdk.call, "AddSmsSign", SignName=name, SignSource=number,
                                        Remark="x", SignFileList=[
                                            {"FileContents": "aGk=", "FileSuffix": "jpg"}])
        exit_code, output = await asyncio.to_thread(cli, "signs", "add", "--account", "acme", name,
                                                    "--source", source)
        answers[name] = (added.status, added.code, exit_code, code in output)
    assert answers == {name: (200, code, 1, True) for name, _, _, code in REFUSED}
    assert await store.signature(running.demo.account.id, "阿里") is None
    # the same names pass where they break no rule: a contiguous part of the company
    added = await asyncio.to_thread(sdk.call, "AddSmsSign", SignName="杭州驿站", SignSource=0,
                                    Remark="x", SignFileList=[
                                        {"FileContents": "aGk=", "FileSuffix": "jpg"}])
    assert added.code == "OK"
    assert (await asyncio.to_thread(cli, "signs", "add", "--account", "acme", "杭州驿站"))[0] == 0
    # ModifySmsSign resubmits through the same validator
    modified = await asyncio.to_thread(sdk.call, "ModifySmsSign", SignName="杭州驿站",
                                       SignSource=4, Remark="x", SignFileList=[
                                           {"FileContents": "aGk=", "FileSuffix": "jpg"}])
    assert modified.code == "isv.SMS_SIGN_SOURCE_CLOSED"


async def test_old_signatures_from_a_closed_source_are_flagged_in_the_list(
        tmp_path: Path) -> None:
    async with opened_store("sqlite", tmp_path) as store:
        from datetime import UTC, datetime
        now = datetime(2026, 12, 7, tzinfo=UTC)
        owner = await store.create_account("acme", now)
        for name, source in (("老店铺", "shop"), ("老公众号", "public_account"),
                             ("驿站", "trademark")):
            await store.create_signature(owner.id, name, SignatureScenario.GENERAL,
                                         ReviewState.APPROVED, now, source=source)
        assert {s.name: s.source for s in await store.list_signatures(owner.id)} == {
            "老店铺": "shop", "老公众号": "public_account", "驿站": "trademark"}
    result = await asyncio.to_thread(
        CliRunner().invoke, app, ["signs", "list", "--account", "acme", "--database-url",
                                  f"sqlite+aiosqlite:///{tmp_path / 'store.db'}", "--data-dir",
                                  str(tmp_path)], env={**TEST_MASTER_ENV, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    lines = {line.split("│")[3].strip(): line for line in result.output.splitlines()
             if line.count("│") > 4}
    assert "shop (closed)" in lines["老店铺"] and "public_account (closed)" in lines["老公众号"]
    assert "closed" not in lines["驿站"] and "trademark" in lines["驿站"]
