"""The limits of frequency control (流控): which counters a message must pass, and how a
blocked message is explained.

Implements the table of docs/domain.md "Frequency control". A message's checks depend on its
template type, signature, template, number and account:

- verification codes to mainland numbers: same signature + number, 1 per minute, 5 per
  hour, 10 per day (`verification.minute`, `.hour`, `.day`); same number, all signatures of
  all accounts, 40 per day (`verification.number.day`);
- notifications and promotions to mainland numbers: same signature + template + number,
  50 per day (`notification.day`, `promotion.day`);
- every message to a number outside the mainland: same number, 20 per day
  (`international.day`).

An account may set lower limits (`FrequencyProfile.limits`, never above the platform's).
On a rule keyed by signature (the account's own) the lower limit replaces the platform's;
on a rule keyed by the number alone (shared by every account) the platform's counter stays
and the account's limit is one more counter of the account's own messages to that number.
Numbers whitelisted by an enterprise-verified account skip the platform's limits; limits
the account set itself still apply to them. docs/frequency.md tells users the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from yizhan.domain.errors import Refusal
from yizhan.domain.model import AccountId, TemplateType
from yizhan.domain.rates import (
    Admitted,
    Blocked,
    FrequencyProfile,
    RateCheck,
    Shape,
    Window,
    from_ms,
)
from yizhan.domain.timezone import china_text


class Scope(StrEnum):
    SIGNATURE = "signature"
    """same signature + same number"""
    SIGNATURE_TEMPLATE = "signature_template"
    """same signature + same template + same number"""
    NUMBER = "number"
    """same number, every signature of every account"""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    scope: Scope
    window: Window
    limit: int
    what: str
    """The limit in words, for refusals and explanations."""
    alibaba: str
    """Alibaba's message for this window (clients match on it): 触发小时级流控."""
    family: str
    """Rules of one family count on one key, each in its own window (`verification.minute`,
    `.hour` and `.day` are the windows of `verification`)."""


_ALIBABA = {Window.MINUTE: "触发分钟级流控", Window.HOUR: "触发小时级流控",
            Window.DAY: "触发天级流控"}


def _rule(id_: str, scope: Scope, window: Window, limit: int, what: str) -> Rule:
    return Rule(id_, scope, window, limit, what, _ALIBABA[window], id_.rsplit(".", 1)[0])


RULES: tuple[Rule, ...] = (
    _rule("verification.minute", Scope.SIGNATURE, Window.MINUTE, 1,
          "verification codes: same signature and number"),
    _rule("verification.hour", Scope.SIGNATURE, Window.HOUR, 5,
          "verification codes: same signature and number"),
    _rule("verification.day", Scope.SIGNATURE, Window.DAY, 10,
          "verification codes: same signature and number"),
    _rule("verification.number.day", Scope.NUMBER, Window.DAY, 40,
          "verification codes: same number, all signatures and accounts"),
    _rule("notification.day", Scope.SIGNATURE_TEMPLATE, Window.DAY, 50,
          "notifications: same signature, template and number"),
    _rule("promotion.day", Scope.SIGNATURE_TEMPLATE, Window.DAY, 50,
          "promotions: same signature, template and number"),
    _rule("international.day", Scope.NUMBER, Window.DAY, 20,
          "international messages: same number"),
)
BY_ID: dict[str, Rule] = {r.id: r for r in RULES}
INDEX: dict[str, int] = {r.id: i for i, r in enumerate(RULES)}
"""A rule's number in stored records (`record`): `RULES` only ever grows at its end."""

_MAINLAND: dict[TemplateType, tuple[Rule, ...]] = {
    TemplateType.VERIFICATION: tuple(r for r in RULES if r.id.startswith("verification.")),
    TemplateType.NOTIFICATION: (BY_ID["notification.day"],),
    TemplateType.PROMOTION: (BY_ID["promotion.day"],),
    # An international template sent to a mainland number is a notification there.
    TemplateType.INTERNATIONAL: (BY_ID["notification.day"],),
}
_INTERNATIONAL = (BY_ID["international.day"],)


PLATFORM = FrequencyProfile()


class Limit(NamedTuple):
    """One check of a message (its first three fields are a `RateCheck`'s, so a list of
    limits goes to the counter as it is), with the rule it comes from; `own` when the limit
    is the account's own."""

    key: str
    window: Window
    limit: int
    rule: Rule
    own: bool = False

    @property
    def check(self) -> RateCheck:
        return RateCheck(self.key, self.window, self.limit)

    def describe(self) -> str:
        whose = " (your account's limit)" if self.own else ""
        return f"{self.rule.what}, {self.limit} per {self.rule.window.value}{whose}"


def rules_for(template_type: TemplateType, number: str) -> tuple[Rule, ...]:
    return _MAINLAND[template_type] if number.startswith("+86") else _INTERNATIONAL


def limits_for(account: AccountId, sign_name: str, template_code: str,
               template_type: TemplateType, number: str,
               profile: FrequencyProfile = PLATFORM) -> list[Limit]:
    """The checks a message must pass, for this account's profile."""
    own_limits = profile.limits
    if not own_limits and not profile.whitelist:  # the usual case, on every send: short
        return _platform_limits(account, sign_name, template_code, template_type, number)
    whitelisted = profile.enterprise and number in profile.whitelist
    limits: list[Limit] = []
    key = family = ""
    for rule in rules_for(template_type, number):
        own = own_limits.get(rule.id) if own_limits else None
        if rule.scope is Scope.NUMBER:
            if not whitelisted:
                limits.append(Limit(rule.family + ":" + number, rule.window, rule.limit, rule))
            if own is not None:
                limits.append(Limit(f"{rule.family}:a{account}:{number}", rule.window, own,
                                    rule, True))
            continue
        if whitelisted and own is None:
            continue
        if rule.family != family:  # the rules of a family share the key
            family = rule.family
            key = _account_key(rule, account, number, template_code, sign_name)
        if own is None:
            limits.append(Limit(key, rule.window, rule.limit, rule))
        else:
            limits.append(Limit(key, rule.window, min(own, rule.limit), rule,
                                own < rule.limit or whitelisted))
    return limits


def _account_key(rule: Rule, account: AccountId, number: str, template_code: str,
                 sign_name: str) -> str:
    """The counter key of a rule keyed by the account's signature (and template) and the
    number; these keys are stored (SQL rows, Redis keys), so they are made here only. The
    sign name goes last: the other parts hold no colon, so keys cannot collide."""
    if rule.scope is Scope.SIGNATURE:
        return f"{rule.family}:{account}:{number}:{sign_name}"
    return f"{rule.family}:{account}:{number}:{template_code}:{sign_name}"


def _plan(rules: tuple[Rule, ...]) -> tuple[tuple[Rule, bool, bool, str], ...]:
    """Per rule: itself, whether it is keyed by the number alone, whether it opens a new
    key (the rules of a family share one), and the prefix of a number-alone key."""
    plan = []
    family = ""
    for rule in rules:
        opens = rule.scope is not Scope.NUMBER and rule.family != family
        if opens:
            family = rule.family
        plan.append((rule, rule.scope is Scope.NUMBER, opens, rule.family + ":"))
    return tuple(plan)


_PLANS = {(type_, mainland): _plan(_MAINLAND[type_] if mainland else _INTERNATIONAL)
          for type_ in TemplateType for mainland in (True, False)}
_new = tuple.__new__


def _shape(plan: tuple[tuple[Rule, bool, bool, str], ...]) -> Shape:
    """The platform limits of a plan as a pattern over the keys `platform_keys` makes."""
    slots = []
    keys = account_key = 0
    for rule, by_number, opens, _prefix in plan:
        if by_number:  # a key of its own
            slots.append((keys, rule.window, rule.limit))
            keys += 1
            continue
        if opens:  # the key of this family's rules
            account_key, keys = keys, keys + 1
        slots.append((account_key, rule.window, rule.limit))
    return Shape(tuple(slots))


_SHAPES = {kind: _shape(plan) for kind, plan in _PLANS.items()}


def platform_keys(account: AccountId, sign_name: str, template_code: str,
                  template_type: TemplateType, number: str) -> tuple[Shape, list[str]]:
    """The counter keys of a message under the platform's limits alone (an account with no
    setting of its own), and their shape: `limits_for` without the checks, for the
    counter's short way (`Windows.admit_keys`); `shape.checks(keys)` are the checks of
    `limits_for`, in its order."""
    kind = template_type, number.startswith("+86")
    keys = []
    for rule, by_number, opens, prefix in _PLANS[kind]:
        if by_number:
            keys.append(prefix + number)
        elif opens:
            keys.append(_account_key(rule, account, number, template_code, sign_name))
    return _SHAPES[kind], keys


def _platform_limits(account: AccountId, sign_name: str, template_code: str,
                     template_type: TemplateType, number: str) -> list[Limit]:
    """`limits_for` with no setting of the account's own (on every send: kept short)."""
    limits: list[Limit] = []
    key = ""
    for rule, by_number, opens, prefix in _PLANS[template_type, number.startswith("+86")]:
        if by_number:
            limits.append(_new(Limit, (prefix + number, rule.window, rule.limit, rule, False)))
            continue
        if opens:
            key = _account_key(rule, account, number, template_code, sign_name)
        limits.append(_new(Limit, (key, rule.window, rule.limit, rule, False)))
    return limits


def refusal(limit: Limit, blocked: Blocked) -> Refusal:
    """`isv.BUSINESS_LIMIT_CONTROL` naming the limit and when it resets; the detail also
    carries Alibaba's own wording (触发小时级流控Permits:5), which some clients match on."""
    resets = china_text(from_ms(blocked.resets_at))
    return Refusal("isv.BUSINESS_LIMIT_CONTROL",
                   f"{limit.describe()}; sends again from {resets} China time "
                   f"({limit.rule.alibaba}Permits:{limit.limit})",
                   f"frequency.{limit.rule.id}")


def validate_limit(rule_id: str, value: int) -> Refusal | None:
    """An account's lower limit: a known rule, 1 up to the platform's limit."""
    rule = BY_ID.get(rule_id)
    if rule is None:
        return Refusal("isv.INVALID_PARAMETERS",
                       f"no frequency rule {rule_id!r}; rules: {', '.join(BY_ID)}")
    if not 1 <= value <= rule.limit:
        return Refusal("isv.INVALID_PARAMETERS",
                       f"{rule_id}: from 1 to {rule.limit} (the platform's limit), not {value}")
    return None


# What the trail keeps of the moment of a send (policy/trail.py, docs/diagnosis.md).


@dataclass(frozen=True, slots=True)
class Seen:
    """One window a message was checked against, as the trail keeps it."""

    rule: Rule
    limit: int
    own: bool
    """The account's own limit (or its own counter, on a rule keyed by the number alone)."""
    count: int
    """The messages the window held before this one: at `limit` or above, it refused."""
    opened_s: int
    """Seconds (rounded) from the window's start to the check, for a day window already open (0:
    opened by this message, or a clock minute or hour: its bounds follow from the time)."""

    @property
    def refused(self) -> bool:
        return self.count >= self.limit


@dataclass(frozen=True, slots=True)
class Record:
    """What the frequency control saw of one number: its whitelist and the windows checked
    in order (none after the one that refused)."""

    whitelisted: bool
    windows: tuple[Seen, ...]


def _seen_text(rule: Rule, limit: int, own: bool, count: int, start_ms: int,
               now_ms: int) -> str:
    text = str(INDEX[rule.id])
    if own:
        text += f"*{limit}"
    text += f"={count}"
    if count and rule.window is Window.DAY:
        text += f"@{(now_ms - start_ms + 500) // 1000}"
    return text


def record(limits: list[Limit], verdict: Blocked | Admitted, now_ms: int,
           whitelisted: bool) -> str:
    """The compact text of what a message's checks saw (`read_record` reads it):
    `w` when whitelisted, then per check `<rule number>[*<own limit>]=<count>[@<seconds
    since its day window opened>]`, comma separated: `0=0,1=2,2=4@5400,3=4@5400`."""
    return ("w" if whitelisted else "") + _record(
        [(limit.rule, limit.limit, limit.own) for limit in limits], verdict, now_ms)


def platform_record(template_type: TemplateType, number: str, verdict: Blocked | Admitted,
                    now_ms: int) -> str:
    """`record` of a message under the platform's limits alone (`platform_keys`), without
    building its limits."""
    rules = _MAINLAND[template_type] if number.startswith("+86") else _INTERNATIONAL
    return _record([(rule, rule.limit, False) for rule in rules], verdict, now_ms)


def _record(checks: list[tuple[Rule, int, bool]], verdict: Blocked | Admitted,
            now_ms: int) -> str:
    seen = verdict.seen
    parts = [_seen_text(*check, seen[2 * i], seen[2 * i + 1], now_ms)
             for i, check in enumerate(checks[:len(seen) // 2])]
    if type(verdict) is Blocked:
        rule, limit, own = checks[verdict.index]
        parts.append(_seen_text(rule, limit, own, verdict.count,
                                verdict.resets_at - rule.window.length_ms, now_ms))
    return ",".join(parts)


FRESH = ""
"""The record of a message under the platform's limits whose every window it opened (no
count before it: `rates.FRESH`, the bulk send's usual case): empty, one byte with its
separator; `read_record` gives it back as the platform's windows of the message's template
type and number, every count 0."""


def read_record(text: str | None, template_type: TemplateType,
                number: str) -> Record | None:
    """A stored record (`record`) of a message of `template_type` to `number`, or None for
    none or one this code cannot read."""
    if text is None:
        return None
    if text == FRESH:
        return Record(False, tuple(Seen(rule, rule.limit, False, 0, 0)
                                   for rule in rules_for(template_type, number)))
    whitelisted = text.startswith("w")
    windows = []
    for part in (text[1:] if whitelisted else text).split(","):
        if not part:
            continue
        head, _, tail = part.partition("=")
        number, own, limit_text = head.partition("*")
        count, _, opened = tail.partition("@")
        if not (number.isdigit() and count.isdigit() and int(number) < len(RULES)
                and (not own or limit_text.isdigit()) and (not opened or opened.isdigit())):
            return None
        rule = RULES[int(number)]
        windows.append(Seen(rule, int(limit_text) if own else rule.limit, bool(own),
                            int(count), int(opened or 0)))
    return Record(whitelisted, tuple(windows))
