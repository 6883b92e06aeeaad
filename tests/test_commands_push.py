"""The operator commands of issue 7: push targets, statistics, failed-numbers export."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from tests.test_cli import yz


def test_push_targets_are_set_checked_and_shown(tmp_path: Path) -> None:
    yz(tmp_path, "demo")
    code, output = yz(tmp_path, "push", "show", "--account", "demo")
    assert code == 0 and "no receipts" in output
    code, output = yz(tmp_path, "push", "set", "--account", "demo", "--receipt-url",
                      "https://example.com/receipts", "--uplink-url", "queue")
    assert code == 0, output
    assert "https://example.com/receipts" in output and "queue" in output
    secret = re.search(r"push secret\s+(\S+)", output).group(1)  # type: ignore[union-attr]
    code, output = yz(tmp_path, "push", "set", "--account", "demo", "--review-url", "ftp://x")
    assert code == 1 and "http(s) URL" in output
    code, output = yz(tmp_path, "push", "show", "--account", "demo")
    assert secret in output and "(off)" in output


def test_stats_and_export_failed(tmp_path: Path) -> None:
    info = json.loads(yz(tmp_path, "demo", "--json")[1])
    code, output = yz(tmp_path, "send", "13800138000", "--account", "demo", "--sign",
                      info["sign_name"], "--template", info["templates"]["verification"],
                      "--param", "code=1")
    assert code == 0, output
    code, output = yz(tmp_path, "stats", "--account", "demo", "--group-by", "carrier")
    assert code == 0 and re.search(r"mobile\s.*\s1\s", output), output
    code, output = yz(tmp_path, "stats", "--account", "demo", "--group-by", "colour")
    assert code == 1
    target = tmp_path / "failed.csv"
    code, output = yz(tmp_path, "export-failed", "--account", "demo", "--from", "2026-01-01",
                      "--to", "2099-01-01", "--output", str(target))
    assert code == 0 and "0 numbers" in output
    assert target.read_text().startswith("phone_number,status,error_code")
    assert yz(tmp_path, "export-failed", "--account", "demo")[0] == 1


def test_export_failed_says_which_numbers_to_send_again(tmp_path: Path) -> None:
    """Issue 14 point 19: blacklisted and virtual-operator numbers are `resend` no, and
    --retryable-only leaves them out."""
    info = json.loads(yz(tmp_path, "demo", "--json")[1])
    assert yz(tmp_path, "blacklist", "add", "13900139000")[0] == 0
    code, output = yz(tmp_path, "send", "13800138000", "13900139000", "17012345678",
                      "--account", "demo", "--sign", info["sign_name"], "--template",
                      info["templates"]["verification"], "--param", "code=1")
    assert code == 0, output
    args = ["export-failed", "--account", "demo", "--from", "2026-01-01", "--to", "2099-01-01"]
    code, output = yz(tmp_path, *args)
    rows = list(csv.DictReader(io.StringIO(output)))
    assert {r["phone_number"]: (r["error_code"], r["resend"]) for r in rows} == {
        "13900139000": ("isv.MOBILE_IN_BLACKLIST", "no"),
        "17012345678": ("isv.MOBILE_NUMBER_ILLEGAL", "no"),
    }
    code, output = yz(tmp_path, *args, "--retryable-only")
    assert code == 0 and output.strip().splitlines() == [",".join(
        ["phone_number", "status", "error_code", "sign_name", "template_code", "biz_id",
         "out_id", "send_time", "resend"])]
