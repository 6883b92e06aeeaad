"""Carrier receipt codes: success normalised, failures kept verbatim, every code family of
docs/errors.md "Receipt codes" explained (by its own entry or its prefix), and a channel's own
table over them."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from yizhan.domain.codes import PLATFORM, CodeTable, classify, explain
from yizhan.domain.model import MessageStatus


def test_delivered_is_normalised_and_failures_keep_their_code() -> None:
    assert classify("DELIVRD") == (MessageStatus.SUCCESS, "DELIVERED")
    assert classify("delivrd") == (MessageStatus.SUCCESS, "DELIVERED")
    assert classify("MK:0023") == (MessageStatus.FAILED, "MK:0023")


@pytest.mark.parametrize(("code", "words"), [
    ("MK:0001", "no such subscriber"), ("MK:0115", "spam"), ("DB:0141", "blacklist"),
    ("MK:9999", "China Mobile"), ("MN:0017", "network-side"), ("MI:0054", "HLR"),
    ("IB:0011", "inter-gateway"), ("GB:0001", "frequency control"),
    ("ESME_RINVDSTADR", "SMPP gateway"), ("expired", "validity period"),
])
def test_every_family_is_explained(code: str, words: str) -> None:
    info = explain(code)
    assert info is not None and words in info.cause


def test_an_unknown_code_has_no_explanation() -> None:
    assert explain("XYZ") is None


# ---- per-channel tables ------------------------------------------------------------------

CHANNEL_TOML = """
[codes."UNDELIV/001"]
code = "MK:0001"

[codes."undeliv/045"]
code = "CM:0045"
cause = "the handset refuses messages from 106 numbers"
suggestion = "ask the user to lift the block"

[codes.UNDELIV]
code = "CM:UNDELIV"

[codes.ENROUTE]
status = "waiting"

[codes."0"]
status = "success"

[codes."MK:0001"]
code = "MK:0001"
status = "failed"
"""


def test_a_channel_table_reads_stat_with_err_then_stat_then_the_platform(tmp_path: Path) -> None:
    path = tmp_path / "cmcc-bj.codes.toml"
    path.write_text(CHANNEL_TOML, encoding="utf-8")
    table = CodeTable.load(path)
    assert table.name == "cmcc-bj.codes" and len(table) == 6
    assert table.read("UNDELIV", "001") == (MessageStatus.FAILED, "MK:0001")
    assert table.read("Undeliv", "045") == (MessageStatus.FAILED, "CM:0045")  # no case
    assert table.read("UNDELIV", "777") == (MessageStatus.FAILED, "CM:UNDELIV")
    assert table.read("UNDELIV") == (MessageStatus.FAILED, "CM:UNDELIV")
    assert table.read("ENROUTE") == (MessageStatus.WAITING, "ENROUTE")
    assert table.read("0") == (MessageStatus.SUCCESS, "DELIVERED")
    # not listed: the platform's rules
    assert table.read("DELIVRD", "000") == (MessageStatus.SUCCESS, "DELIVERED")
    assert table.read("EXPIRED") == (MessageStatus.FAILED, "EXPIRED")
    assert PLATFORM.read("UNDELIV", "001") == (MessageStatus.FAILED, "UNDELIV")


def test_a_channel_explains_its_own_codes_and_the_platform_the_rest() -> None:
    table = CodeTable.from_data(tomllib.loads(CHANNEL_TOML))
    own = table.explain("cm:0045")
    assert own is not None and "106 numbers" in own.cause and "lift" in own.suggestion
    platform = table.explain("MK:0001")
    assert platform is not None and "no such subscriber" in platform.cause
    assert table.explain("CM:UNDELIV") is None  # a code without a cause anywhere


@pytest.mark.parametrize(("entry", "words"), [
    ({"status": "lost"}, "status must be one of"), ({"cose": "MK:0001"}, "unknown fields cose"),
])
def test_a_malformed_table_says_what_is_wrong(entry: dict[str, str], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        CodeTable.from_data({"codes": {"UNDELIV": entry}})
