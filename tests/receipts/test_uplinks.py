"""The opt-out rule of handset replies (receipts/uplinks.py), which the store applies."""

from __future__ import annotations

from datetime import UTC, datetime

from yizhan.domain.events import Uplink
from yizhan.domain.model import AccountId, OptOut, PhoneNumber, UplinkOwner
from yizhan.receipts import uplinks

AT = datetime(2026, 11, 25, 4, 0, tzinfo=UTC)
OWNER = UplinkOwner(AccountId(3), "驿站", PhoneNumber("+8613800138000"), "extension 12")
WORDS = uplinks.normalised(uplinks.OPT_OUT_WORDS)


def reply(text: str) -> Uplink:
    return Uplink("sim", "13800138000", "10690012", text, AT)


def test_an_opt_out_word_takes_the_number_off_the_signature_it_answered() -> None:
    assert uplinks.opt_out(reply(" td。"), OWNER, WORDS) == OptOut(
        AccountId(3), "驿站", PhoneNumber("+8613800138000"), "uplink 'td。' (extension 12)", AT)


def test_any_other_reply_opts_nothing_out() -> None:
    assert uplinks.opt_out(reply("Really?"), OWNER, WORDS) is None
    assert uplinks.opt_out(reply("R"), OWNER, uplinks.normalised(["STOP"])) is None
