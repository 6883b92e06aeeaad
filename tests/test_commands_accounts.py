"""`yizhan accounts suspend|resume|history` (issue 14 point 20): audited, shown by `accounts
list`, and a suspended account's `yizhan send` is refused with isv.OUT_OF_SERVICE while its
records stay readable."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.test_cli import yz


def _send(tmp_path: Path, info: dict[str, str], number: str) -> tuple[int, str]:
    return yz(tmp_path, "send", number, "--account", "demo", "--sign", info["sign_name"],
              "--template", info["templates"]["verification"], "--param", "code=1")


def test_suspend_and_resume_are_audited_and_stop_sends(tmp_path: Path) -> None:
    info = json.loads(yz(tmp_path, "demo", "--json")[1])
    assert _send(tmp_path, info, "13800138000")[0] == 0
    code, output = yz(tmp_path, "accounts", "suspend", "demo", "--reason", "")
    assert code == 1 and "--reason must say why" in output
    code, output = yz(tmp_path, "accounts", "suspend", "demo", "--reason",
                      "invoice 42 unpaid", "--by", "alice")
    assert code == 0 and "isv.OUT_OF_SERVICE" in output, output
    assert yz(tmp_path, "accounts", "suspend", "demo", "--reason", "again")[1].count(
        "suspended already") == 1
    code, output = yz(tmp_path, "accounts", "list")
    [row] = [line for line in output.splitlines() if " demo " in line]
    assert "suspended" in row and "by alice: invoice 42 unpaid" in row

    code, output = _send(tmp_path, info, "13900139000")
    assert code == 1 and "isv.OUT_OF_SERVICE" in output
    code, output = yz(tmp_path, "records", "--account", "demo", "--json")
    assert code == 0 and [r["phone_number"] for r in json.loads(output)] == ["13800138000"]

    assert yz(tmp_path, "accounts", "resume", "demo", "--by", "bob", "--reason", "paid")[0] == 0
    assert "suspended" not in next(line for line in yz(tmp_path, "accounts", "list")[1]
                               .splitlines() if " demo " in line)
    assert _send(tmp_path, info, "13900139000")[0] == 0
    code, output = yz(tmp_path, "accounts", "history", "demo")
    assert code == 0
    assert re.search(r"demo\W+suspended\W+alice\W+invoice 42 unpaid", output), output
    assert re.search(r"demo\W+active\W+bob\W+paid", output), output
    assert output.index("alice") < output.index("bob")
    assert yz(tmp_path, "accounts", "history", "nobody")[0] == 1
