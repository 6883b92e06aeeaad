"""The trail's encoding (policy/trail.py): `<version>:<one mark per rule>`, read back into
(rule, verdict, code) steps; released layouts never change."""

from __future__ import annotations

from yizhan.policy import rules, trail
from yizhan.policy.trail import Step, Verdict

CODES = {"a": ("X.ONE",), "b": ("Y.ONE", "Y.TWO"), "c": ("Z.ONE",), "d": ()}
LAYOUTS = {7: ("a", "b", "c", "d")}


def test_marks_read_back_as_verdicts_and_codes() -> None:
    assert trail.decode("7:+1-.", CODES, LAYOUTS) == [
        Step("a", Verdict.PASSED), Step("b", Verdict.REFUSED, "Y.TWO"),
        Step("c", Verdict.NOT_APPLICABLE), Step("d", Verdict.NOT_EVALUATED)]
    assert trail.refused_mark(CODES["b"], "Y.TWO") == "1"


def test_what_cannot_be_read_is_no_trail() -> None:
    for stored in (None, "", "7:+1-", "8:+1-.", "x:+1-.", "7:+1-?", "+1-."):
        assert trail.decode(stored, CODES, LAYOUTS) is None, stored


def test_version_1_is_the_released_layout() -> None:
    """Changing a released layout would change what every stored trail says: a chain with
    other rules or another order takes a new version."""
    assert trail.VERSIONS[1] == (
        "account.active", "account.balance", "numbers.count", "numbers.format",
        "signature.approved", "template.approved", "signature.scene", "template.opt_out",
        "template.params", "numbers.segment", "test.numbers", "international.country",
        "blacklist", "promotion.opt_out", "promotion.hours", "content.keywords", "frequency")


def test_codes_a_rule_can_answer_fit_in_one_mark() -> None:
    assert all(len(codes) <= 10 for codes in rules.CODES.values())
    assert set(trail.VERSIONS[1]) <= set(rules.CODES)
