"""`yizhan keywords ...` and `yizhan accounts register|unregister|registrations`, and the
template review linter in `yizhan templates add|list|show|lint`, as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from yizhan.cli.main import app

runner = CliRunner()


def yz(data_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    return result.exit_code, result.output


def test_keywords_add_list_remove_per_list(tmp_path: Path) -> None:
    assert yz(tmp_path, "accounts", "create", "acme")[0] == 0
    code, output = yz(tmp_path, "keywords", "add", "发票", "VPN", "发票")
    assert code == 0 and "2 keyword(s) added to the platform-wide list" in output
    code, output = yz(tmp_path, "keywords", "add", "博彩", "--account", "acme")
    assert code == 0 and "the list of account acme" in output
    code, output = yz(tmp_path, "keywords", "list")
    assert code == 0 and "vpn" in output and "发票" in output and "博彩" not in output
    code, output = yz(tmp_path, "keywords", "list", "-a", "acme")
    assert "博彩" in output and "发票" not in output
    code, output = yz(tmp_path, "keywords", "remove", "VPN")
    assert code == 0 and "1 keyword(s) removed" in output
    assert "vpn" not in yz(tmp_path, "keywords", "list")[1]
    code, output = yz(tmp_path, "keywords", "add", "x", "--account", "nobody")
    assert code == 1 and "no account named 'nobody'" in output


def test_keywords_import_a_file(tmp_path: Path) -> None:
    listing = tmp_path / "words.txt"
    listing.write_text("\ufeff# risky words\n发票\n\n  赌博  \nCasino\n发票\n", "utf-8")
    code, output = yz(tmp_path, "keywords", "import", str(listing))
    assert code == 0 and "3 keyword(s) added" in output
    code, output = yz(tmp_path, "keywords", "import", str(listing))
    assert code == 0 and "0 keyword(s) added" in output and "3 were there already" in output
    listing.write_text("ok\n" + "长" * 65 + "\n", "utf-8")
    code, output = yz(tmp_path, "keywords", "import", str(listing))
    assert code == 1 and "words.txt:2" in output and "nothing was imported" in output
    assert "ok" not in yz(tmp_path, "keywords", "list")[1]


def test_accounts_register_and_unregister(tmp_path: Path) -> None:
    yz(tmp_path, "accounts", "create", "acme")
    code, output = yz(tmp_path, "accounts", "register", "-a", "acme", "--country", "vn",
                      "--sender-id", "ACME")
    assert code == 0 and "sender_id ACME registered for VN" in output
    code, output = yz(tmp_path, "accounts", "register", "-a", "acme", "--country", "US",
                      "--toll-free", "1-800-555-0100")
    assert code == 0 and "toll_free +18005550100 registered for US" in output
    code, output = yz(tmp_path, "accounts", "registrations", "-a", "acme")
    assert code == 0 and "+18005550100" in output and "ACME" in output
    code, output = yz(tmp_path, "accounts", "unregister", "-a", "acme", "--country", "VN",
                      "--sender-id", "ACME")
    assert code == 0 and "removed" in output
    assert "ACME" not in yz(tmp_path, "accounts", "registrations", "-a", "acme")[1]


def test_accounts_register_refuses_what_no_rule_needs(tmp_path: Path) -> None:
    yz(tmp_path, "accounts", "create", "acme")
    cases = [
        (["--country", "FR", "--sender-id", "ACME"], "no country rule needs a registration"),
        (["--country", "US", "--sender-id", "ACME"], "needs a toll_free registration"),
        (["--country", "US", "--toll-free", "+12025550123"], "is not a toll-free number"),
        (["--country", "VN", "--sender-id", "TOO-LONG_NAME"], "1 to 11 letters or digits"),
        (["--country", "VN"], "give one of --toll-free or --sender-id"),
    ]
    for args, message in cases:
        code, output = yz(tmp_path, "accounts", "register", "-a", "acme", *args)
        assert code == 1 and message in output, (args, output)


def test_templates_add_checks_promotions_and_warns_about_characters(tmp_path: Path) -> None:
    yz(tmp_path, "accounts", "create", "acme")
    code, output = yz(tmp_path, "templates", "add", "-a", "acme", "sale", "全场五折",
                      "--type", "promotion")
    assert code == 1 and "isv.PROMOTION_OPT_OUT_MISSING" in output
    assert "refuse: template.opt_out_missing at 4: add 拒收请回复R" in output
    code, output = yz(tmp_path, "templates", "add", "-a", "acme", "sale",
                      "全场\u200b五折😀拒收请回复R", "--type", "promotion")
    assert code == 0 and "pending review" in output
    assert ("warning: template.invisible_character at 2: U+200B ZERO WIDTH SPACE is "
            "invisible") in output
    assert ("warning: template.unsupported_character at 5: U+1F600 GRINNING FACE shows as ? "
            "on handsets") in output
    code, output = yz(tmp_path, "templates", "list", "-a", "acme")
    assert code == 0 and "warning: SMS_" in output and "U+1F600 GRINNING FACE" in output
    tpl = output.split("warning: ")[1].split(":")[0]
    code, output = yz(tmp_path, "templates", "show", tpl)
    assert code == 0 and "promotion pending" in output
    assert "warning: template.invisible_character at 2" in output
    assert yz(tmp_path, "templates", "show", "SMS_0")[0] == 1


@pytest.mark.parametrize(("args", "exit_code", "shown"), [
    (["--type", "promotion", "全场五折"], 1,
     "refuse: template.opt_out_missing at 4: add 拒收请回复R to the promotion's text"),
    (["订单${o}已发货，特价"], 1, "refuse: template.marketing at 10: '特价' is promotional"),
    (["--type", "verification", "您的验证码${num}"], 0,
     "warning: template.verification_code_name at 5"),
    (["订单${o}已发货"], 0, "no findings"),
])
def test_templates_lint_checks_a_text_without_saving_it(
        args: list[str], exit_code: int, shown: str) -> None:
    result = runner.invoke(app, ["templates", "lint", *args])  # no data folder needed
    assert (result.exit_code, shown in result.output) == (exit_code, True), result.output
