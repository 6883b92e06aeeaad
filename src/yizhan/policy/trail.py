"""The policy trail: the verdict of every rule of the chain for one number, in a few bytes.

The chain (`policy/chain.py`) leaves one trail per number; intake stores it with the message
(`messages.policy_trail`), so that a diagnosis can say later which rules passed, which
refused and why, and which did not apply (docs/policy.md "The trail").

Encoding: `<version>:<marks>`, e.g. `1:++++++++-+--+-+++`. The version names the chain's
layout, the rule names in order (`VERSIONS`); then one mark per rule, in that order:

- `+` passed;
- `-` not applicable (a promotion rule for a verification code, the country rule for a
  mainland number, the frequency control when it is off);
- `.` not evaluated: the request-level rules after a request-level refusal, and the
  frequency control for a number another rule refused (counting it would use its quota);
- a digit `n`: refused with the rule's `n`-th code (0-based, `Rule.codes`; a rule's codes
  only ever grow, so old trails keep their meaning). The detail of the refusal that decided
  is the message's `reason`.

After the marks, a number the frequency control checked keeps what it saw: `|` and the
record of `policy/frequency.py` (`record`: per window checked, its limit and the count the
number had there at that moment, and whether the number was whitelisted), e.g.
`1:+++++++++-+-+--++|0=0,1=2,2=4@5400,3=4@5400`. Trails stored before it have none.

A layout is never changed once released: a chain with other rules or another order gets a
new version here (`chain.Chain` refuses a version whose names differ from its own). Version
0 is for ad hoc chains (tests, benchmarks), which decode only with their names given.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import NamedTuple

PASSED = "+"
DETAIL = "|"
"""Separates the marks from the frequency control's record."""
NOT_APPLICABLE = "-"
NOT_EVALUATED = "."
AD_HOC = 0
"""The version of chains that are not shipped (tests, benchmarks)."""

VERSIONS: Mapping[int, tuple[str, ...]] = {
    1: ("account.active", "account.balance", "numbers.count", "numbers.format",
        "signature.approved", "template.approved", "signature.scene", "template.opt_out",
        "template.params",
        "numbers.segment", "test.numbers", "international.country", "blacklist",
        "promotion.opt_out", "promotion.hours", "content.keywords", "frequency"),
}
"""Each released chain layout: its rule names in order (request rules, then number rules)."""


class Verdict(StrEnum):
    PASSED = "passed"
    REFUSED = "refused"
    NOT_APPLICABLE = "not_applicable"
    NOT_EVALUATED = "not_evaluated"


class Step(NamedTuple):
    """One rule's verdict for one number; `code` only for a refusal."""

    rule: str
    verdict: Verdict
    code: str = ""


_MARKS = {PASSED: Verdict.PASSED, NOT_APPLICABLE: Verdict.NOT_APPLICABLE,
          NOT_EVALUATED: Verdict.NOT_EVALUATED}


def refused_mark(codes: tuple[str, ...], code: str) -> str:
    """The mark of a refusal with `code` by a rule that can answer `codes`."""
    return str(codes.index(code))


def detail(trail: str | None) -> str | None:
    """The frequency control's record kept after the marks, or None (not checked, or a
    trail stored before records were kept)."""
    if not trail:
        return None
    _, found, text = trail.partition(DETAIL)
    return text if found else None


def decode(trail: str | None, codes: Mapping[str, tuple[str, ...]],
           versions: Mapping[int, tuple[str, ...]] = VERSIONS) -> list[Step] | None:
    """The steps of a stored trail, in chain order; None for no trail (a message stored
    before trails were kept) or a version this code does not know. `codes`: each rule's
    codes by name (`policy.rules.CODES`)."""
    if not trail:
        return None
    version, _, marks = trail.partition(DETAIL)[0].partition(":")
    names = versions.get(int(version)) if version.isdigit() else None
    if names is None or len(names) != len(marks):
        return None
    steps = []
    for name, mark in zip(names, marks, strict=True):
        verdict = _MARKS.get(mark)
        if verdict is not None:
            steps.append(Step(name, verdict))
        elif mark.isdigit():
            known = codes.get(name, ())
            index = int(mark)
            steps.append(Step(name, Verdict.REFUSED, known[index] if index < len(known) else ""))
        else:
            return None
    return steps
