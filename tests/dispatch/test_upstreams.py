"""The upstream channels of a channel file (dispatch/upstreams.py): mistakes stop the start
with a message naming them; a valid file builds channels with their provider's code table."""

from __future__ import annotations

import pytest

from yizhan.dispatch.channel_file import PlanError, build_plan, code_book, parse_plan
from yizhan.dispatch.channels.http_upstream import HttpUpstreamChannel
from yizhan.domain.model import MessageStatus
from yizhan.domain.ports import SystemClock

TWILIO = """
[[channel]]
name = "tw"
kind = "twilio"
account_sid = "AC1"
auth_token = "token"
from_number = "+15557122661"
"""


def test_a_valid_upstream_builds_with_its_providers_codes() -> None:
    plan = parse_plan(TWILIO)
    assert plan.channels[0].address == "https://api.twilio.com"
    built = build_plan(plan, SystemClock(), smsc=None)  # type: ignore[arg-type]
    channel = built.channels[0]
    assert isinstance(channel, HttpUpstreamChannel) and channel.provider.kind == "twilio"
    assert channel.settings.allow_networks == ()  # public addresses only by default
    # Records of the channel explain Twilio's codes with the provider's table.
    cause, suggestion = code_book(plan).reason(MessageStatus.FAILED, "tw", "TW:30003")
    assert "unreachable destination handset" in cause and suggestion


@pytest.mark.parametrize(("extra", "said"), [
    ('colour = "red"', "unknown setting(s) colour"),
    ('allow_networks = ["10.0.0.300/8"]', "10.0.0.300/8"),
    ('allow_networks = "127.0.0.0/8"', "allow_networks must be a list"),
    ('codes = "missing.codes.toml"', "missing.codes.toml"),
    ('url = "ftp://sms.example.com"', "must be http(s)://host"),
    ('callback_token = "short"', "callback_token must be 16 or more"),
])
def test_mistakes_are_named(extra: str, said: str) -> None:
    with pytest.raises(PlanError, match="channel 'tw'") as refused:
        parse_plan(TWILIO + extra + "\n")
    assert said in str(refused.value)


def test_missing_credentials_are_named() -> None:
    with pytest.raises(PlanError, match=r"missing setting\(s\) access_key_secret"):
        parse_plan('[[channel]]\nname = "a"\nkind = "aliyun"\naccess_key_id = "x"\n'
                   'template_code = "SMS_1"\n')
    with pytest.raises(PlanError, match="from_number or messaging_service_sid"):
        parse_plan('[[channel]]\nname = "t"\nkind = "twilio"\naccount_sid = "AC"\n'
                   'auth_token = "x"\n')
