"""Signature and template state: only approved ones send (a deleted one never again), a
verification-code signature only sends verification-code templates, and a test signature or
test template only sends to the account's bound test numbers (docs/domain.md "Sending").

Test signatures and templates are ordinary ones with the `test` mark, set by the operator
(`yizhan signs add --test`, `yizhan templates add --test`); test numbers are bound per account
(`yizhan accounts test-numbers`, `/v1/test-numbers`). The test-number rule is per number: an
unbound number becomes a failed record with `isv.SMS_TEST_NUMBER_LIMIT`."""

from __future__ import annotations

from yizhan.domain.errors import Refusal
from yizhan.domain.model import (
    PhoneNumber,
    ReviewState,
    Signature,
    SignatureScenario,
    Template,
    TemplateType,
)
from yizhan.policy import numbers


def check_signature(signature: Signature | None, name: str) -> Refusal | None:
    if signature is None or signature.state is not ReviewState.APPROVED:
        state = "not found" if signature is None else signature.state.value
        return Refusal("isv.SMS_SIGNATURE_ILLEGAL", f"signature {name!r}: {state}",
                       "signature.approved")
    return None


def check_template(template: Template | None, code: str) -> Refusal | None:
    if template is None or template.state is not ReviewState.APPROVED:
        state = "not found" if template is None else template.state.value
        return Refusal("isv.SMS_TEMPLATE_ILLEGAL", f"template {code!r}: {state}",
                       "template.approved")
    return None


def check_scene(signature: Signature, template: Template) -> Refusal | None:
    if (signature.scenario is SignatureScenario.VERIFICATION
            and template.type is not TemplateType.VERIFICATION):
        return Refusal("isv.SMS_SIGNATURE_SCENE_ILLEGAL",
                       f"signature {signature.name!r} is for verification codes, template "
                       f"{template.code} is a {template.type.value} template",
                       "signature.scene")
    return None


def check_test_number(signature: Signature, template: Template, phone: PhoneNumber,
                      bound: frozenset[PhoneNumber]) -> Refusal | None:
    """A test signature or test template sends only to the account's bound test numbers."""
    if not (signature.test or template.test) or phone in bound:
        return None
    what = (f"test signature {signature.name!r}" if signature.test
            else f"test template {template.code}")
    return Refusal("isv.SMS_TEST_NUMBER_LIMIT",
                   f"{numbers.display(phone)} is not a bound test number ({what})",
                   "test.numbers")
