"""Country rules from the data file: US and Canada need a toll-free number, Vietnam takes
verification codes (as voice calls) without a Sender ID and everything with one."""

from __future__ import annotations

import pytest

from tests.policy.contexts import context
from yizhan.domain.model import PhoneNumber, RegistrationKind, TemplateType
from yizhan.policy.international import (
    VOICE,
    country_allowed,
    country_rules,
    parse_rules,
    region_of,
)

US, CA, VN, SG = "+12025550123", "+15062345678", "+84987654321", "+6591234567"


def test_the_rules_are_data() -> None:
    rules = country_rules()
    assert {c: r.registration for c, r in rules.items()} == {
        "US": RegistrationKind.TOLL_FREE, "CA": RegistrationKind.TOLL_FREE,
        "VN": RegistrationKind.SENDER_ID}
    assert rules["VN"].without == {TemplateType.VERIFICATION}
    assert rules["US"].without == frozenset()


def test_regions_are_told_apart_within_plus_one() -> None:
    assert region_of(PhoneNumber(US)) == "US"
    assert region_of(PhoneNumber(CA)) == "CA"


@pytest.mark.parametrize("number", [US, CA])
@pytest.mark.parametrize("type_", list(TemplateType))
def test_north_america_needs_a_toll_free_number(number: str, type_: TemplateType) -> None:
    refusal = country_allowed(context([number], type_), 0)
    assert refusal is not None and refusal.code == "isv.COUNTRY_REGISTRATION_REQUIRED"
    assert "toll-free number" in refusal.detail and refusal.rule == "international.country"
    country = region_of(PhoneNumber(number))
    registered = context([number], type_, registrations=frozenset({(country, "toll_free")}))
    assert country_allowed(registered, 0) is None


def test_a_registration_for_another_country_does_not_count() -> None:
    ctx = context([US], registrations=frozenset({("CA", "toll_free"), ("US", "sender_id")}))
    assert country_allowed(ctx, 0) is not None


def test_vietnam_without_sender_id_takes_verification_codes_as_voice_calls() -> None:
    ctx = context(["+8613800138000", VN])
    assert country_allowed(ctx, 1) is None
    assert ctx.notes == {1: f"{VOICE}: Vietnam without a registered Sender ID: "
                            "delivered as a voice call"}


@pytest.mark.parametrize("type_", [TemplateType.NOTIFICATION, TemplateType.PROMOTION,
                                   TemplateType.INTERNATIONAL])
def test_vietnam_without_sender_id_refuses_other_types(type_: TemplateType) -> None:
    ctx = context([VN], type_)
    refusal = country_allowed(ctx, 0)
    assert refusal is not None and refusal.detail == (
        f"Vietnam needs a registered Sender ID for {type_.value} messages "
        "(without one: verification)")
    assert ctx.notes == {}


@pytest.mark.parametrize("type_", list(TemplateType))
def test_vietnam_with_sender_id_takes_every_type_as_sms(type_: TemplateType) -> None:
    ctx = context([VN], type_, registrations=frozenset({("VN", "sender_id")}))
    assert country_allowed(ctx, 0) is None and ctx.notes == {}


@pytest.mark.parametrize("number", ["+8613800138000", SG, "+447911123456"])
def test_mainland_and_countries_without_rules_pass(number: str) -> None:
    assert country_allowed(context([number], TemplateType.PROMOTION), 0) is None


def test_voice_types_must_be_allowed_types() -> None:
    with pytest.raises(ValueError, match="XX"):
        parse_rules('[countries.XX]\nname = "X"\nregistration = "sender_id"\n'
                    'without = []\nvoice_without = ["verification"]\n')
