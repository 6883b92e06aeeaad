"""The template review linter in the native REST API, read-only: what review would say of a
template text, without saving it (docs/compliance.md "Template review"), for hints as a
tenant types.

    GET /v1/templates/lint?type=promotion&content=...
"""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.responses import Response

from yizhan.api.errors import error_responses, json_response, request_id
from yizhan.api.rest.messages import AccountDep
from yizhan.domain.model import TemplateType
from yizhan.policy.templates import MAX_TEMPLATE_LENGTH, Severity, lint

router = APIRouter(prefix="/v1/templates", tags=["templates"])


@router.get("/lint", summary="What template review would say of a text (saves nothing)",
            responses=error_responses())
async def lint_text(account: AccountDep,
                    content: str = Query(..., max_length=4 * MAX_TEMPLATE_LENGTH,
                                         description="The template text, with ${variables}."),
                    type_: TemplateType = Query(TemplateType.NOTIFICATION, alias="type",
                                                description="The template type."),
                    ) -> Response:
    del account  # authenticated: the linter is the same for every account
    findings = lint(type_, content)
    return json_response({
        "request_id": request_id(), "code": "OK", "message": "OK",
        "refused": any(f.severity is Severity.REFUSE for f in findings),
        "findings": [{"rule": f.rule, "severity": f.severity.value, "start": f.start,
                      "end": f.end, "code": f.code or None, "message_en": f.en,
                      "message_zh": f.zh} for f in findings]})
