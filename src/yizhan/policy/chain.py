"""The request-level policy chain: named checks in a declared order, first refusal wins.

Intake loads what the checks need (account, signatures, template) into a `SendContext`,
then runs `REQUEST_CHAIN`. Each check returns nothing or a `Refusal` naming the rule; checks
that normalise input (numbers, rendering) leave their result in the context for intake to
build the messages from. A refusal here rejects the whole request (docs/domain.md "Sending":
request-level problems). Then `NUMBER_CHAIN` runs for each recipient that passed: a refusal
there fails only that number (a failed record carrying the code) while the others go on
(docs/domain.md: one bad or blocked number never stops the others).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, NamedTuple

from yizhan.domain.errors import Refusal
from yizhan.domain.model import (
    Account,
    AccountStatus,
    PhoneNumber,
    Signature,
    Template,
    TemplateType,
)
from yizhan.policy import (
    balance,
    blacklist,
    compliance,
    content_filter,
    international,
    numbers,
    opt_outs,
    quiet_hours,
    templates,
)
from yizhan.policy.lists import EMPTY_BLACKLIST, NO_OPT_OUTS, Blacklist, OptOuts


class Recipient(NamedTuple):
    """One destination of a send request, with its own signature and parameters (a named
    tuple: a bulk request makes 1000 of them, at half a frozen dataclass's cost)."""

    phone: str
    sign_name: str
    params: str | dict[str, Any] | None = None


@dataclass(slots=True)
class SendContext:
    account: Account
    template_code: str
    recipients: list[Recipient]
    max_numbers: int
    signatures: dict[str, Signature | None] = field(default_factory=dict)
    template: Template | None = None
    numbers: list[PhoneNumber] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    """Rendered text of each recipient's message, 【signature】 included."""
    refusals: list[Refusal | None] = field(default_factory=list)
    """Per recipient, the refusal of `NUMBER_CHAIN` (None: the number goes on)."""
    blacklist: Blacklist = EMPTY_BLACKLIST
    """The platform blacklist as this process last refreshed it (intake loads it)."""
    opt_outs: OptOuts = NO_OPT_OUTS
    """Promotion opt-outs; loaded by intake only for promotion templates."""
    test_numbers: frozenset[PhoneNumber] = frozenset()
    """The account's bound test numbers; loaded only for a test signature or template."""
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    """The moment of the request (intake's injected clock): time-window rules read it."""
    keywords: tuple[content_filter.KeywordMatcher, ...] = ()
    """The keyword lists that apply: platform-wide, then the account's."""
    registrations: frozenset[tuple[str, str]] = frozenset()
    """The account's international registrations as (country, kind); loaded only when the
    request has an international number."""
    notes: dict[int, str] = field(default_factory=dict)
    """Per recipient index, a note for a number that goes on (voice delivery): its reason."""
    memo: dict[tuple[str, str], Refusal | None] = field(default_factory=dict)
    """Per-request results of number checks keyed by (rule, text), for numbers that share
    a text."""


Check = Callable[[SendContext], Refusal | None]
NumberCheck = Callable[[SendContext, int], Refusal | None]
"""A per-number check: the context and the index of the recipient (into `recipients`,
`numbers` and `bodies`)."""


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
    text = templates.render(template.content, params)
    if isinstance(text, Refusal):
        return text
    return f"【{recipient.sign_name}】{text}"


CATALOGUE_CHAIN: tuple[tuple[str, Check], ...] = (
    ("signature.approved", signature_approved),
    ("template.approved", template_approved),
    ("signature.scene", signature_scene),
    ("template.opt_out", templates.promotion_opt_out),
)
"""The checks that look only at the request's signatures and template."""

_CatalogueKey = tuple[object, ...]
_catalogue_verdicts: dict[_CatalogueKey, tuple[Template | None, tuple[Signature | None, ...],
                                               Refusal | None]] = {}


def catalogue_state(ctx: SendContext) -> Refusal | None:
    """`CATALOGUE_CHAIN`, remembered for the objects it looked at: the catalogue's cache
    hands out the same immutable signature and template objects while they are fresh, so
    consecutive requests with the same signature and template share one verdict. A verdict
    holds on to its objects and is used only for those very objects (identity, not
    equality), so a changed or reloaded signature or template is checked again."""
    signatures = tuple(ctx.signatures.values())
    key = (ctx.template_code, id(ctx.template), *ctx.signatures, *map(id, signatures))
    known = _catalogue_verdicts.get(key)
    if (known is not None and known[0] is ctx.template
            and all(a is b for a, b in zip(known[1], signatures, strict=True))):
        return known[2]
    verdict = run(ctx, CATALOGUE_CHAIN)
    if len(_catalogue_verdicts) >= 10_000:
        _catalogue_verdicts.clear()
    _catalogue_verdicts[key] = (ctx.template, signatures, verdict)
    return verdict


REQUEST_CHAIN: tuple[tuple[str, Check], ...] = (
    ("account.active", account_active),
    ("account.balance", account_balance),
    ("numbers.count", number_count),
    ("numbers.format", number_format),
    ("catalogue", catalogue_state),
    ("template.params", render_bodies),
)


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


NUMBER_CHAIN: tuple[tuple[str, NumberCheck], ...] = (
    ("numbers.segment", numbers.supported_segment),
    ("test.numbers", test_number),
    ("international.country", international.country_allowed),
    ("blacklist", not_blacklisted),
    ("promotion.opt_out", not_opted_out),
    ("promotion.hours", quiet_hours.promotion_hours),
    ("content.keywords", content_filter.no_blocked_keyword),
)

LOADED = next(i for i, (name, _) in enumerate(REQUEST_CHAIN) if name == "catalogue")
"""Where the checks that need the signatures and template begin: intake runs the cheaper
ones before it looks anything up."""


def run(ctx: SendContext, chain: tuple[tuple[str, Check], ...] = REQUEST_CHAIN) -> Refusal | None:
    for _name, check in chain:
        refusal = check(ctx)
        if refusal is not None:
            return refusal
    return None


def _promotion(ctx: SendContext) -> bool:
    return ctx.template is not None and ctx.template.type is TemplateType.PROMOTION


APPLIES: dict[str, Callable[[SendContext], bool]] = {
    "test.numbers": lambda ctx: bool(
        (ctx.template is not None and ctx.template.test)
        or any(s is not None and s.test for s in ctx.signatures.values())),
    "international.country": lambda ctx: not all(map(numbers.is_mainland, ctx.numbers)),
    "blacklist": lambda ctx: len(ctx.blacklist) > 0,
    "promotion.opt_out": _promotion,
    "promotion.hours": _promotion,
    "content.keywords": lambda ctx: bool(ctx.keywords),
}
"""Request-level preconditions of per-number rules, by rule name: a rule that cannot refuse
any number of this request (a promotion rule for a verification code, the blacklist when it
is empty) is not run per number. 1000-number requests run each remaining check 1000 times."""
_CONDITIONS = tuple(APPLIES)


_shapes: dict[tuple[int, tuple[bool, ...]], tuple[tuple[tuple[str, NumberCheck], ...],
                                                   tuple[tuple[str, NumberCheck], ...]]] = {}


def _applicable(ctx: SendContext, chain: tuple[tuple[str, NumberCheck], ...],
                ) -> tuple[tuple[str, NumberCheck], ...]:
    """The rules of `chain` whose `APPLIES` precondition holds for this request; the
    filtered chain is kept per chain and outcome of the preconditions."""
    outcome = tuple([APPLIES[name](ctx) for name in _CONDITIONS])
    known = _shapes.get((id(chain), outcome))
    if known is not None and known[0] is chain:
        return known[1]
    holds = dict(zip(_CONDITIONS, outcome, strict=True))
    found = tuple((name, check) for name, check in chain if holds.get(name, True))
    _shapes[id(chain), outcome] = (chain, found)
    return found


def run_numbers(ctx: SendContext,
                chain: tuple[tuple[str, NumberCheck], ...] = NUMBER_CHAIN) -> None:
    """Fill `ctx.refusals`: each recipient's first refusal in `chain`, or None."""
    ctx.refusals = [None] * len(ctx.recipients)
    chain = _applicable(ctx, chain)
    if not chain:
        return
    for index in range(len(ctx.recipients)):
        for _name, check in chain:
            refusal = check(ctx, index)
            if refusal is not None:
                ctx.refusals[index] = refusal
                break
