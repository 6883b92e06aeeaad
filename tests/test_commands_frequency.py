"""The `yizhan frequency` commands and `accounts verify-enterprise`, as an operator runs
them on the embedded store, with `yizhan send` meeting the limits they set."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from yizhan.cli.main import app

runner = CliRunner()


def yz(data_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    return result.exit_code, result.output


def test_limits_whitelist_audit_explain_and_send(tmp_path: Path) -> None:
    info = json.loads(yz(tmp_path, "demo", "--json")[1])
    sign, template = info["sign_name"], info["templates"]["verification"]
    send = ("send", "13800138000", "--account", "demo", "--sign", sign, "--template", template,
            "--param", "code=1234")

    code, output = yz(tmp_path, "frequency", "set", "--account", "demo", "verification.hour", "9")
    assert code == 1 and "from 1 to 5" in output
    code, output = yz(tmp_path, "frequency", "set", "--account", "demo", "verification.day", "2")
    assert code == 0 and "verification.day platform default -> 2" in output
    code, output = yz(tmp_path, "frequency", "limits", "--account", "demo")
    assert code == 0 and "verification.day" in output and "enterprise-verified no" in output

    assert yz(tmp_path, *send)[0] == 0
    code, output = yz(tmp_path, *send)  # a second code within the minute
    assert code == 1 and "isv.BUSINESS_LIMIT_CONTROL" in output and "1 per minute" in output

    code, output = yz(tmp_path, "frequency", "explain", "13800138000", "--account", "demo",
                      "--sign", sign, "--template", template, "--json")
    explained = json.loads(output)
    assert code == 0 and explained["passes"] is False
    assert [(w["rule"], w["count"]) for w in explained["windows"]] == [
        ("verification.minute", 1), ("verification.hour", 1), ("verification.day", 1),
        ("verification.number.day", 1)]
    code, output = yz(tmp_path, "frequency", "explain", "13800138000", "--account", "demo",
                      "--sign", sign, "--template", template)
    assert code == 0 and "refused until" in output and "1/1" in output

    code, output = yz(tmp_path, "frequency", "whitelist", "add", "13800138000", "--account",
                      "demo")
    assert code == 1 and "not enterprise-verified" in output
    code, output = yz(tmp_path, "accounts", "verify-enterprise", "demo", "--company", "驿站科技")
    assert code == 0 and "is now enterprise-verified" in output
    code, output = yz(tmp_path, "frequency", "whitelist", "add", "13800138000", "--account",
                      "demo")
    assert code == 0 and "whitelisted" in output
    assert "13800138000" in yz(tmp_path, "frequency", "whitelist", "list", "--account", "demo")[1]
    assert yz(tmp_path, *send)[0] == 0  # platform limits skipped; own day limit 2 holds
    code, output = yz(tmp_path, *send)
    assert code == 1 and "2 per day (your account's" in output

    code, output = yz(tmp_path, "frequency", "audit", "--account", "demo")
    assert code == 0
    for item in ("limit verification.day", "enterprise verification", "whitelist"):
        assert item in output
