"""The sending rules as units: each has its name, the codes it can answer, when it applies
and its check (docs/policy.md). `policy/chain.py` runs them in the order a chain declares.

A `Rule` looks at the whole request: its refusal rejects the request. A `NumberRule` looks at
one number (an index into the context's recipients, numbers and bodies): its refusal fails
that number alone. The checks themselves live with their rule family (`numbers.py`,
`compliance.py`, `templates.py`, ...); the few that only adapt the context to such a check
are here. Which rules exist is the explicit registry `RULES`; a rule's `codes` only ever
grow, since stored trails name a refusal by its code's position (`policy/trail.py`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING

from yizhan.domain.carriers import MAINLAND_CODE
from yizhan.domain.errors import Refusal
from yizhan.domain.model import AccountStatus, Template, TemplateType
from yizhan.policy import (
    balance,
    blacklist,
    compliance,
    content_filter,
    international,
    numbers,
    opt_outs,
    quiet_hours,
    template_values,
    templates,
    trail,
)

if TYPE_CHECKING:
    from yizhan.policy.chain import Recipient, SendContext

Applies = Callable[["SendContext"], bool]
"""Whether a rule concerns this request at all (False: "not applicable" for the request, or
for each of its numbers)."""
AppliesTo = Callable[["SendContext", int], bool]
"""Whether a number rule concerns this one number."""
NumberCheck = Callable[["SendContext", int], Refusal | None]
"""A per-number check: the context and the index of the recipient (into `recipients`,
`numbers` and `bodies`)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """A request-level rule. `after_lookup`: the check needs what intake looks up (the
    signatures, the template); the chain runs the others first, before any lookup."""

    name: str
    codes: tuple[str, ...]
    check: Callable[[SendContext], Refusal | None]
    applies: Applies | None = None
    """None: every request."""
    after_lookup: bool = False


@dataclass(frozen=True, slots=True)
class NumberRule:
    """A per-number rule. `applies` is asked once per request, `applies_to` per number;
    `vacuous` says the rule cannot refuse any number of the request (its list is empty), so
    every number passes without a look. `check` None: the rule is decided after the chain by
    its own stage (the frequency control), which records its refusals (`SendContext.refuse`)."""

    name: str
    codes: tuple[str, ...]
    check: NumberCheck | None
    applies: Applies | None = None
    applies_to: AppliesTo | None = None
    vacuous: Applies | None = None


# When rules apply.

def promotion(ctx: SendContext) -> bool:
    return ctx.template is not None and ctx.template.type is TemplateType.PROMOTION


def test_send(ctx: SendContext) -> bool:
    """A test signature or a test template: only the account's bound numbers."""
    if ctx.template is not None and ctx.template.test:
        return True
    for signature in ctx.signatures.values():  # (a loop: asked for every request)
        if signature is not None and signature.test:
            return True
    return False


def international_request(ctx: SendContext) -> bool:
    return not all(map(numbers.is_mainland, ctx.numbers))


def mainland_number(ctx: SendContext, index: int) -> bool:
    return ctx.numbers[index].startswith(MAINLAND_CODE)  # asked per number: no further call


def international_number(ctx: SendContext, index: int) -> bool:
    return not ctx.numbers[index].startswith(MAINLAND_CODE)


def counted(ctx: SendContext) -> bool:
    return ctx.counted


# Request-level checks.

def account_active(ctx: SendContext) -> Refusal | None:
    if ctx.account.status is not AccountStatus.ACTIVE:
        return Refusal("isv.OUT_OF_SERVICE", f"account {ctx.account.name!r} is suspended",
                       "account.active")
    return None


def account_balance(ctx: SendContext) -> Refusal | None:
    return balance.check(ctx.account)


def number_count(ctx: SendContext) -> Refusal | None:
    count = len(ctx.recipients)
    if count == 0:
        return Refusal("MissingParameter", "phone numbers", "numbers.count")
    if count > ctx.max_numbers:
        return Refusal("isv.MOBILE_COUNT_OVER_LIMIT",
                       f"{count} numbers, at most {ctx.max_numbers}", "numbers.count")
    return None


def number_format(ctx: SendContext) -> Refusal | None:
    """Reads every number into its E.164 form (`ctx.numbers`), which later rules key on."""
    ctx.numbers = []
    for recipient in ctx.recipients:
        number = numbers.normalize(recipient.phone)
        if isinstance(number, Refusal):
            return number
        ctx.numbers.append(number)
    return None


def signature_approved(ctx: SendContext) -> Refusal | None:
    for name, signature in ctx.signatures.items():
        refusal = compliance.check_signature(signature, name)
        if refusal:
            return refusal
    return None


def template_approved(ctx: SendContext) -> Refusal | None:
    return compliance.check_template(ctx.template, ctx.template_code)


def signature_scene(ctx: SendContext) -> Refusal | None:
    assert ctx.template is not None
    for signature in ctx.signatures.values():
        assert signature is not None
        refusal = compliance.check_scene(signature, ctx.template)
        if refusal:
            return refusal
    return None


_sign_name = attrgetter("sign_name")
_params = attrgetter("params")


def render_bodies(ctx: SendContext) -> Refusal | None:
    """Renders each recipient's text (`ctx.bodies`), which the content filter reads."""
    assert ctx.template is not None
    recipients = ctx.recipients
    first = recipients[0] if recipients else None
    if (first is not None and len(set(map(_sign_name, recipients))) == 1
            and len(set(map(id, map(_params, recipients)))) == 1):
        # SendSms and the native API: one signature and one parameter set for every
        # number, so one rendering serves up to 1000 messages.
        body = _render(ctx.template, first)
        if isinstance(body, Refusal):
            return body
        ctx.bodies = [body] * len(recipients)
        return None
    ctx.bodies = []
    rendered: dict[tuple[str, str], str] = {}  # most requests share one parameter set
    for recipient in ctx.recipients:
        key = (recipient.sign_name, recipient.params if isinstance(recipient.params, str)
               else repr(recipient.params))
        found = rendered.get(key)
        if found is None:
            body = _render(ctx.template, recipient)
            if isinstance(body, Refusal):
                return body
            found = rendered[key] = body
        ctx.bodies.append(found)
    return None


def _render(template: Template, recipient: Recipient) -> str | Refusal:
    """One recipient's text, 【signature】 included."""
    params = templates.parse_params(recipient.params)
    if isinstance(params, Refusal):
        return params
    if template.application.variable_attribute:  # CreateSmsTemplate's TemplateRule
        refusal = template_values.check(template.application.variable_attribute, params)
        if refusal:
            return refusal
    text = templates.render(template.content, params)
    if isinstance(text, Refusal):
        return text
    return f"【{recipient.sign_name}】{text}"


# Per-number checks.

def test_number(ctx: SendContext, index: int) -> Refusal | None:
    assert ctx.template is not None
    signature = ctx.signatures[ctx.recipients[index].sign_name]
    assert signature is not None
    return compliance.check_test_number(signature, ctx.template, ctx.numbers[index],
                                        ctx.test_numbers)


def not_blacklisted(ctx: SendContext, index: int) -> Refusal | None:
    return blacklist.check(ctx.blacklist, ctx.numbers[index], ctx.recipients[index].sign_name)


def not_opted_out(ctx: SendContext, index: int) -> Refusal | None:
    assert ctx.template is not None
    return opt_outs.check(ctx.opt_outs, ctx.template.type, ctx.account.id,
                          ctx.recipients[index].sign_name, ctx.numbers[index])


ILLEGAL_NUMBER = ("isv.MOBILE_NUMBER_ILLEGAL",)

REQUEST_RULES: tuple[Rule, ...] = (
    Rule("account.active", ("isv.OUT_OF_SERVICE",), account_active),
    Rule("account.balance", ("isv.AMOUNT_NOT_ENOUGH",), account_balance),
    Rule("numbers.count", ("MissingParameter", "isv.MOBILE_COUNT_OVER_LIMIT"), number_count),
    Rule("numbers.format", ILLEGAL_NUMBER, number_format),
    Rule("signature.approved", ("isv.SMS_SIGNATURE_ILLEGAL",), signature_approved,
         after_lookup=True),
    Rule("template.approved", ("isv.SMS_TEMPLATE_ILLEGAL",), template_approved,
         after_lookup=True),
    Rule("signature.scene", ("isv.SMS_SIGNATURE_SCENE_ILLEGAL",), signature_scene,
         after_lookup=True),
    Rule("template.opt_out", ("isv.PROMOTION_OPT_OUT_MISSING",), templates.promotion_opt_out,
         promotion, after_lookup=True),
    Rule("template.params", ("isv.INVALID_JSON_PARAM", "isv.TEMPLATE_MISSING_PARAMETERS",
                             "isv.PARAM_LENGTH_LIMIT", "isv.PARAM_NOT_SUPPORT_URL",
                             "isv.PARAM_NOT_SUPPORT_CHARACTER", "isv.TEMPLATE_PARAMS_ILLEGAL"),
         render_bodies,
         after_lookup=True),
)

NUMBER_RULES: tuple[NumberRule, ...] = (
    NumberRule("numbers.segment", ILLEGAL_NUMBER, numbers.supported_segment,
               applies_to=mainland_number),
    NumberRule("test.numbers", ("isv.SMS_TEST_NUMBER_LIMIT",), test_number, test_send),
    NumberRule(international.RULE, ("isv.COUNTRY_REGISTRATION_REQUIRED",),
               international.country_allowed, international_request, international_number),
    NumberRule("blacklist", ("isv.MOBILE_IN_BLACKLIST",), not_blacklisted,
               vacuous=lambda ctx: len(ctx.blacklist) == 0),
    NumberRule("promotion.opt_out", ("isv.MOBILE_OPTED_OUT",), not_opted_out, promotion),
    NumberRule("promotion.hours", ("isv.PROMOTION_TIME_LIMIT",), quiet_hours.promotion_hours,
               promotion, mainland_number),
    NumberRule(content_filter.RULE, ("isv.BLACK_KEY_CONTROL_LIMIT",),
               content_filter.no_blocked_keyword, vacuous=lambda ctx: not ctx.keywords),
    NumberRule("frequency", ("isv.BUSINESS_LIMIT_CONTROL",), None, counted),
)

RULES: Mapping[str, Rule | NumberRule] = {
    **{r.name: r for r in REQUEST_RULES}, **{r.name: r for r in NUMBER_RULES}}
"""Every rule by name: what a chain's declared names resolve to."""

CODES: Mapping[str, tuple[str, ...]] = {name: r.codes for name, r in RULES.items()}


def read_trail(stored: str | None) -> list[trail.Step] | None:
    """A stored trail as (rule, verdict, code) steps, for the shipped rules."""
    return trail.decode(stored, CODES)
