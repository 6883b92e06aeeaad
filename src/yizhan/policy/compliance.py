"""Signature and template state: only approved ones send, and a verification-code signature
only sends verification-code templates (DOMAIN.md "Sending")."""

from __future__ import annotations

from yizhan.domain.errors import Refusal
from yizhan.domain.model import ReviewState, Signature, SignatureScenario, Template, TemplateType


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
