"""Templates (docs/console.md "Templates"): the account's templates with their review state
and reason, and the review linter's hints on a text (`policy/templates.py` `lint`, what GET
/v1/templates/lint answers), in the viewer's language.

    GET /console/templates               the list, and the hints of the text in the form
    GET /console/templates/hints         the hints alone (a fragment), for `console.js`

The form works without JavaScript (its "Check" button reloads the page with the hints);
with it, `static/console.js` asks for the fragment as one types.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from yizhan.console.pages import PREFIX, TenantDep, ViewerDep, console_of, render
from yizhan.domain.model import ReviewState, TemplateType
from yizhan.domain.timezone import china_text
from yizhan.policy.templates import MAX_TEMPLATE_LENGTH, Severity, lint

router = APIRouter(prefix=PREFIX, include_in_schema=False)
SHOWN = 200


def hints(type_: str, content: str, zh: bool) -> list[dict[str, Any]] | None:
    """The linter's findings on `content` (None: no text to check)."""
    if not content:
        return None
    kind = TemplateType(type_) if type_ in set(TemplateType) else TemplateType.NOTIFICATION
    return [{"refuses": f.severity is Severity.REFUSE, "rule": f.rule,
             "text": f.zh if zh else f.en, "code": f.code,
             "excerpt": content[f.start:f.end][:40]}
            for f in lint(kind, content[:4 * MAX_TEMPLATE_LENGTH])]


@router.get("/templates")
async def templates(request: Request, who: ViewerDep, account_id: TenantDep,
                    type: str = "notification", content: str = "") -> Response:
    _, found = await console_of(request).api.store.page_templates(account_id, 0, SHOWN)
    return render(request, "templates.html", who.lang, who, type=type, content=content,
                  types=[t.value for t in TemplateType],
                  hints=hints(type, content, who.lang == "zh"),
                  templates=[{"code": t.code, "name": t.name, "type": t.type.value,
                              "content": t.content, "state": t.state.value,
                              "reason": t.reason, "created_at": china_text(t.created_at)}
                             for t in found if t.state is not ReviewState.DELETED])


@router.get("/templates/hints")
async def template_hints(request: Request, who: ViewerDep, account_id: TenantDep,
                         type: str = "notification", content: str = "") -> Response:
    return render(request, "hints.html", who.lang, who,
                  hints=hints(type, content, who.lang == "zh"))
