"""The operator commands for account state: money, test numbers, opt-outs, the blacklist,
and their effect on `yizhan send` (a refused number is a failed record with its code)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from tests.test_cli import yz
from yizhan.app import open_store
from yizhan.domain.model import ReviewState
from yizhan.settings import Settings


def test_money_commands(tmp_path: Path) -> None:
    yz(tmp_path, "demo")
    code, output = yz(tmp_path, "accounts", "topup", "--account", "demo", "12.5")
    assert code == 0 and "balance 12.500 yuan" in output
    assert yz(tmp_path, "accounts", "topup", "--account", "demo", "0.0001")[0] == 1
    assert yz(tmp_path, "accounts", "topup", "--account", "demo", "lots")[0] == 1
    assert yz(tmp_path, "accounts", "price", "--account", "demo", "0.04")[0] == 0
    code, output = yz(tmp_path, "accounts", "packages", "add", "--account", "demo", "500",
                      "--days", "30")
    assert code == 0 and "500 parts" in output
    code, output = yz(tmp_path, "accounts", "balance", "--account", "demo")
    assert "12.500 yuan" in output and "0.040 yuan (the account's own)" in output
    assert re.search(r"500\s.*500\s.*valid", output)
    assert yz(tmp_path, "accounts", "price", "--account", "demo", "--platform")[0] == 0
    assert "the platform's" in yz(tmp_path, "accounts", "balance", "--account", "demo")[1]
    assert yz(tmp_path, "accounts", "price", "--account", "demo")[0] == 1


def test_a_negative_top_up_corrects_a_mistake(tmp_path: Path) -> None:
    """Issue 14 point 18: `topup --account demo -1` is an amount, not an unknown option."""
    yz(tmp_path, "demo")
    assert yz(tmp_path, "accounts", "topup", "--account", "demo", "10")[0] == 0
    code, output = yz(tmp_path, "accounts", "topup", "--account", "demo", "-1")
    assert code == 0, output
    assert "1.000 yuan taken off (a correction), balance 9.000 yuan" in output
    code, output = yz(tmp_path, "accounts", "topup", "-2.5", "--account", "demo")
    assert code == 0 and "balance 6.500 yuan" in output, output
    assert "6.500 yuan" in yz(tmp_path, "accounts", "balance", "--account", "demo")[1]
    code, output = yz(tmp_path, "accounts", "topup", "--account", "demo", "-x")
    assert code == 1 and "'-x' is not an amount of yuan" in output


def test_lists_and_their_effect_on_send(tmp_path: Path) -> None:
    info = json.loads(yz(tmp_path, "demo", "--json")[1])
    assert yz(tmp_path, "accounts", "test-numbers", "bind", "--account", "demo",
              "13800138000")[0] == 0
    assert "13800138000" in yz(tmp_path, "accounts", "test-numbers", "list", "--account",
                               "demo")[1]
    assert yz(tmp_path, "accounts", "test-numbers", "unbind", "--account", "demo",
              "13800138000")[0] == 0
    assert yz(tmp_path, "accounts", "test-numbers", "unbind", "--account", "demo",
              "13800138000")[0] == 1
    code, output = yz(tmp_path, "opt-outs", "add", "--account", "demo", "--sign", "驿站",
                      "13700137000", "13700137000")
    assert code == 0 and "1 numbers opted out" in output
    assert "13700137000" in yz(tmp_path, "opt-outs", "list", "--account", "demo")[1]
    csv = tmp_path / "complaints.csv"
    csv.write_text("number,signatures,source\n13900139000,驿站,12321\n13600136000\nbad\n")
    code, output = yz(tmp_path, "blacklist", "import", str(csv))
    assert code == 0 and "2 numbers blacklisted, 1 rows rejected" in output
    code, output = yz(tmp_path, "blacklist", "list")
    assert "2 numbers" in output and "12321" in output and "all" in output
    assert "1 numbers taken off" in yz(tmp_path, "blacklist", "remove", "13600136000")[1]

    code, output = yz(tmp_path, "send", "13800138000", "13900139000", "--account", "demo",
                      "--sign", "驿站", "--template", info["templates"]["verification"],
                      "--param", "code=1")
    assert code == 0, output
    biz_id = re.search(r"BizId (\S+)", output).group(1)  # type: ignore[union-attr]
    rows = json.loads(yz(tmp_path, "records", "--account", "demo", "--biz-id", biz_id,
                         "--json")[1])
    assert [(r["status"], r["error_code"]) for r in rows] == [
        ("waiting", ""), ("failed", "isv.MOBILE_IN_BLACKLIST")]
    assert rows[1]["charge"] is None
    code, output = yz(tmp_path, "send", "13700137000", "--account", "demo", "--sign", "驿站",
                      "--template", info["templates"]["promotion"], "--param", "discount=8")
    assert code == 1 and "isv.MOBILE_OPTED_OUT" in output


def test_a_deleted_signature_cannot_be_approved_again(tmp_path: Path) -> None:
    yz(tmp_path, "demo")
    code, output = yz(tmp_path, "signs", "add", "--account", "demo", "旧签名", "--test")
    sign_id = int(re.search(r"id (\d+)", output).group(1))  # type: ignore[union-attr]
    assert "general (test)" in yz(tmp_path, "signs", "list")[1]

    async def delete() -> None:
        store = open_store(Settings(data_dir=tmp_path))
        await store.review_signature(sign_id, ReviewState.DELETED, "deleted by the account")
        await store.close()

    asyncio.run(delete())
    code, output = yz(tmp_path, "signs", "approve", str(sign_id))
    assert code == 1 and "cannot be restored" in output
    assert "deleted" in yz(tmp_path, "signs", "list")[1]
