"""Country rules for international numbers (docs/domain.md "International"), read from the data
file `data/countries.toml`: the United States and Canada need a registered toll-free number;
Vietnam takes only verification codes (delivered as a voice call) without a registered
Sender ID, every type with one.

Runs per number on the account's registrations, which intake loads (cached) into the
context. A number that may go only as a voice call goes on with a note that intake writes
into the message's reason (`VOICE` prefix), where routing reads it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import TYPE_CHECKING

import phonenumbers

from yizhan.domain.errors import Refusal
from yizhan.domain.model import PhoneNumber, RegistrationKind, TemplateType
from yizhan.policy.numbers import is_mainland

if TYPE_CHECKING:
    from yizhan.policy.chain import SendContext

RULE = "international.country"
VOICE = "international.voice"
"""Prefix of the reason of a message that is to be delivered as a voice call."""


@dataclass(frozen=True, slots=True)
class CountryRule:
    country: str
    name: str
    registration: RegistrationKind
    without: frozenset[TemplateType]
    voice_without: frozenset[TemplateType]


@cache
def country_rules() -> dict[str, CountryRule]:
    text = resources.files("yizhan.policy").joinpath("data/countries.toml").read_text("utf-8")
    return parse_rules(text)


def parse_rules(text: str) -> dict[str, CountryRule]:
    rules = {}
    for country, entry in tomllib.loads(text)["countries"].items():
        without = frozenset(TemplateType(t) for t in entry.get("without", []))
        voice = frozenset(TemplateType(t) for t in entry.get("voice_without", []))
        if not voice <= without:
            raise ValueError(f"countries: {country}: voice_without must be part of without")
        rules[country] = CountryRule(country, entry["name"],
                                     RegistrationKind(entry["registration"]), without, voice)
    return rules


@lru_cache(maxsize=65536)
def region_of(number: PhoneNumber) -> str | None:
    """The ISO region of an E.164 number (None when libphonenumber cannot tell)."""
    return phonenumbers.region_code_for_number(phonenumbers.parse(number))


def country_allowed(ctx: SendContext, index: int) -> Refusal | None:
    number = ctx.numbers[index]
    if is_mainland(number):
        return None
    region = region_of(number)
    rule = country_rules().get(region) if region else None
    if rule is None or (rule.country, rule.registration) in ctx.registrations:
        return None
    assert ctx.template is not None
    kind = ctx.template.type
    if kind in rule.voice_without:
        ctx.notes[index] = (f"{VOICE}: {rule.name} without a registered "
                            f"{_label(rule.registration)}: delivered as a voice call")
    if kind in rule.without:
        return None
    allowed = ", ".join(sorted(t.value for t in rule.without)) or "nothing"
    return Refusal("isv.COUNTRY_REGISTRATION_REQUIRED",
                   f"{rule.name} needs a registered {_label(rule.registration)} for "
                   f"{kind.value} messages (without one: {allowed})", RULE)


def _label(kind: RegistrationKind) -> str:
    return "toll-free number" if kind is RegistrationKind.TOLL_FREE else "Sender ID"
