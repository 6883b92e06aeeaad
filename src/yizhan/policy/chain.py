"""The policy chain: a declared sequence of rule names, run in that order, with a trail.

Intake loads what the rules need (account, signatures, template) into a `SendContext`, then
runs the chain's request rules (`Chain.run_request`: those that need no lookup first, then
the others). Each rule's check returns nothing or a `Refusal` naming the rule; checks that
normalise input (numbers, rendering) leave their result in the context for intake to build
the messages from. A refusal here rejects the whole request (docs/domain.md "Sending":
request-level problems). Then the number rules run for every recipient (`run_numbers`): a
refusal there fails only that number (a failed record carrying the code) while the others go
on (docs/domain.md: one bad or blocked number never stops the others).

The first refusal decides; the chain still records every rule's verdict for every number
(`SendContext.trails`, `policy/trail.py`): a number refused by one rule is still checked by
all later number rules, so the trail says every reason it would have been refused for. Only
the frequency control, decided after the chain, is not evaluated for a refused number. The
rules themselves are units in `policy/rules.py`; a chain names them (`DEFAULT`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, TypeVar

from yizhan.domain.errors import Refusal
from yizhan.domain.model import Account, PhoneNumber, Signature, Template
from yizhan.policy import content_filter, rules, trail
from yizhan.policy.lists import EMPTY_BLACKLIST, NO_OPT_OUTS, Blacklist, OptOuts
from yizhan.policy.rules import AppliesTo, NumberCheck, NumberRule, Rule


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
    """Per recipient, the first refusal of the number rules (None: the number goes on)."""
    trails: list[str] = field(default_factory=list)
    """Per recipient, the encoded verdict of every rule (`policy/trail.py`)."""
    request_marks: str = ""
    """The request rules' marks so far, in the chain's order."""
    chain: Chain | None = None
    """The chain whose number rules ran (the layout of `trails`)."""
    counted: bool = False
    """A frequency control will count the numbers that pass (intake sets it)."""
    blacklist: Blacklist = EMPTY_BLACKLIST
    """The platform blacklist as this process last refreshed it (intake loads it)."""
    opt_outs: OptOuts = NO_OPT_OUTS
    """Promotion opt-outs; loaded by intake only for promotion templates."""
    test_numbers: frozenset[PhoneNumber] = frozenset()
    """The account's bound test numbers; loaded only for a test signature or template."""
    now: datetime = field(kw_only=True)
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

    def refuse(self, index: int, rule: str, refusal: Refusal) -> None:
        """A stage after the chain (the frequency control) refuses a number that passed."""
        self.refusals[index] = refusal
        if self.chain is not None and self.trails:
            self.trails[index] = self.chain.mark(self.trails[index], rule, refusal)


class _Plan(NamedTuple):
    """How the number rules run for one shape of request (which rules apply)."""

    runnable: tuple[tuple[int, AppliesTo | None, NumberCheck, tuple[str, ...]], ...]
    """(position among the number rules, `applies_to`, check, codes) of the rules to run
    per number."""
    marks: str
    """The number rules' marks of a number that passes every runnable rule."""
    deferred: tuple[int, ...]
    """Positions of rules decided after the chain: not evaluated for a refused number."""


class _Phase:
    """The request rules before or after the lookups, each with its bit, and their marks
    per combination of rules that do not apply (few: kept as they come)."""

    def __init__(self, start: int, rules_: tuple[Rule, ...]) -> None:
        self.start = start
        self.steps = tuple((1 << i, rule.applies, rule.check, rule)
                           for i, rule in enumerate(rules_))
        self._marks: dict[int, str] = {}

    def marks(self, skipped: int) -> str:
        found = self._marks.get(skipped)
        if found is None:
            found = self._marks[skipped] = "".join(
                trail.NOT_APPLICABLE if step[0] & skipped else trail.PASSED
                for step in self.steps)
        return found


class Chain:
    """Rule names in order, resolved once against a registry of rules (`rules.RULES`).

    `version` names the layout in stored trails (`trail.VERSIONS`); a shipped version must
    list exactly these names. Its caches live as long as it does (the shipped chain: the
    process) and are bounded by the rules' count: the plan per request shape (which number
    rules apply), at most one per combination of their preconditions, and the request
    marks per combination of request rules that do not apply."""

    def __init__(self, version: int, request: Sequence[str], numbers: Sequence[str],
                 registry: Mapping[str, Rule | NumberRule] = rules.RULES) -> None:
        names = (*request, *numbers)
        declared = trail.VERSIONS.get(version)
        if version != trail.AD_HOC and declared != names:
            raise ValueError(f"chain version {version} is {declared}, not {names}: "
                             "declare a new version in policy/trail.py")
        self.version = version
        self.names = names
        self.request = tuple(_typed(registry[n], Rule) for n in request)
        self.numbers = tuple(_typed(registry[n], NumberRule) for n in numbers)
        lookups = [r.after_lookup for r in self.request]
        split = lookups.index(True) if True in lookups else len(lookups)
        if not all(lookups[split:]):
            raise ValueError("the request rules that need the lookups must come last")
        self._phases = (_Phase(0, self.request[:split]), _Phase(split, self.request[split:]))
        self._prefix = f"{version}:"
        self._positions = {name: len(self._prefix) + i for i, name in enumerate(names)}
        self._plans: dict[tuple[int, ...], _Plan] = {}

    def run_request(self, ctx: SendContext, looked_up: bool) -> Refusal | None:
        """The request rules before the lookups (`looked_up` False: the cheap ones, which
        need no read) or after them. The first refusal decides; the rules after it are not
        evaluated."""
        phase = self._phases[looked_up]
        skipped = 0  # bit i: the phase's i-th rule does not apply to this request
        for bit, applies, check, rule in phase.steps:
            if applies is not None and not applies(ctx):
                skipped |= bit
                continue
            refusal = check(ctx)
            if refusal is not None:
                ctx.request_marks += self._refused(phase, skipped, rule, refusal)
                return refusal
        ctx.request_marks += phase.marks(skipped)
        return None

    def _refused(self, phase: _Phase, skipped: int, rule: Rule, refusal: Refusal) -> str:
        """The marks of a phase that `rule` refused: the rest of the request is not
        evaluated."""
        position = next(i for i, step in enumerate(phase.steps) if step[3] is rule)
        return (phase.marks(skipped)[:position] + trail.refused_mark(rule.codes, refusal.code)
                + trail.NOT_EVALUATED * (len(self.request) - phase.start - position - 1))

    def run_numbers(self, ctx: SendContext) -> None:
        """Fill `ctx.refusals` (each recipient's first refusal, or None) and `ctx.trails`."""
        count = len(ctx.recipients)
        refusals: list[Refusal | None] = [None] * count
        ctx.refusals = refusals
        ctx.chain = self
        plan = self._plan(ctx)
        base = self._prefix + ctx.request_marks
        passed = base + plan.marks
        ctx.trails = trails = [passed] * count
        if not plan.runnable:
            return
        for index in range(count):
            marks: list[str] | None = None
            for position, applies_to, check, codes in plan.runnable:
                if applies_to is not None and not applies_to(ctx, index):
                    mark = trail.NOT_APPLICABLE
                else:
                    refusal = check(ctx, index)
                    if refusal is None:
                        continue
                    mark = trail.refused_mark(codes, refusal.code)
                    if refusals[index] is None:
                        refusals[index] = refusal
                if marks is None:
                    marks = list(plan.marks)
                marks[position] = mark
            if marks is not None:
                if refusals[index] is not None:
                    for position in plan.deferred:
                        marks[position] = trail.NOT_EVALUATED
                trails[index] = base + "".join(marks)

    def mark(self, stored: str, rule: str, refusal: Refusal) -> str:
        """`stored` with `rule`'s mark replaced by the refusal."""
        position = self._positions[rule]
        index = position - len(self._prefix) - len(self.request)
        if index < 0:
            raise ValueError(f"{rule} is a request rule: its refusal stores no message")
        codes = self.numbers[index].codes
        return stored[:position] + trail.refused_mark(codes, refusal.code) + stored[position + 1:]

    def _plan(self, ctx: SendContext) -> _Plan:
        """Per number rule: 0 run it, 1 not applicable to this request, 2 vacuous (passes
        without a look); the plan is kept per outcome."""
        shape = tuple([_NOT_APPLICABLE if r.applies is not None and not r.applies(ctx)
                       else _VACUOUS if r.check is None or (r.vacuous is not None
                                                            and r.vacuous(ctx))
                       else _RUN for r in self.numbers])
        plan = self._plans.get(shape)
        if plan is None:
            plan = self._plans[shape] = _Plan(
                tuple((i, r.applies_to, r.check, r.codes)
                      for i, (r, s) in enumerate(zip(self.numbers, shape, strict=True))
                      if s == _RUN and r.check is not None),
                "".join(trail.NOT_APPLICABLE if s == _NOT_APPLICABLE else trail.PASSED
                        for s in shape),
                tuple(i for i, (r, s) in enumerate(zip(self.numbers, shape, strict=True))
                      if r.check is None and s != _NOT_APPLICABLE))
        return plan


_RUN, _NOT_APPLICABLE, _VACUOUS = 0, 1, 2
_R = TypeVar("_R", Rule, NumberRule)


def _typed(rule: object, kind: type[_R]) -> _R:
    if not isinstance(rule, kind):
        raise TypeError(f"{rule!r} is not a {kind.__name__}")
    return rule


REQUEST_CHAIN = ("account.active", "account.balance", "numbers.count", "numbers.format",
                 "signature.approved", "template.approved", "signature.scene",
                 "template.opt_out", "template.params")
NUMBER_CHAIN = ("numbers.segment", "test.numbers", "international.country", "blacklist",
                "promotion.opt_out", "promotion.hours", "content.keywords", "frequency")
DEFAULT = Chain(1, REQUEST_CHAIN, NUMBER_CHAIN)
"""The shipped chain (trail version 1). Cheap rules that refuse whole requests come first;
the frequency control is last, so a number refused for any other reason uses no quota."""
