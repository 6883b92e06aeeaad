"""Templates (docs/console.md "Templates"): the account's templates with their review state
and the reviewer's reason; the review linter's hints on a text (`policy/templates.py`
`lint`, what GET /v1/templates/lint answers), in the viewer's language; and for a tenant
admin, submitting a template, changing one not approved (it goes back to review) and
deleting one: the API's AddSmsTemplate, ModifySmsTemplate and DeleteSmsTemplate themselves
(`console/actions.py`), so that a refusal has the API's code and message.

    GET  /console/templates                 the list, the form, the hints of its text
                                            (?edit=CODE: the form holds that template)
    GET  /console/templates/hints           the hints alone (a fragment), for `console.js`
    POST /console/templates                 check the text, or submit a new template
    POST /console/templates/{code}          check, or submit the changed template
    POST /console/templates/{code}/delete   delete it

The forms work without JavaScript (their "Check" button reloads the page with the hints);
with it, `static/console.js` asks for the fragment as one types. Another account's template
answers 404, as one that does not exist; a viewer's form 403.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from yizhan.api.tenant_actions import TEMPLATE_TYPE_NUMBERS
from yizhan.console import i18n
from yizhan.console.actions import act, refused, text
from yizhan.console.pages import (
    PREFIX,
    TenantDep,
    Viewer,
    ViewerDep,
    admin_form,
    console_of,
    render,
)
from yizhan.domain.errors import Refusal
from yizhan.domain.model import AccountId, ReviewState, Template, TemplateType
from yizhan.domain.timezone import china_text
from yizhan.policy.templates import MAX_TEMPLATE_LENGTH, Severity, lint

router = APIRouter(prefix=PREFIX, include_in_schema=False)
SHOWN = 200

i18n.add({
    "tpl_new": ("Submit a template for review", "提交模板审核"),
    "tpl_edit": ("Change template {code} and submit it again", "修改模板 {code} 并重新提交审核"),
    "tpl_name": ("Name", "模板名称"),
    "tpl_remark": ("Scenario (for the reviewer)", "申请说明（使用场景）"),
    "tpl_submit": ("Submit for review", "提交审核"),
    "tpl_edit_link": ("Change", "修改"),
    "tpl_delete": ("Delete", "删除"),
    "tpl_cancel": ("Cancel", "取消"),
    "tpl_added": ("Template {code} was submitted: it is under review.",
                  "模板 {code} 已提交，正在审核。"),
    "tpl_changed": ("Template {code} was changed: it is under review again.",
                    "模板 {code} 已修改，重新进入审核。"),
    "tpl_deleted": ("Template {code} was deleted.", "模板 {code} 已删除。"),
    "tpl_refused": ("Refused", "未能提交"),
    "tpl_reason": ("Reason", "原因"),
    "tpl_viewer_note": ("Only a tenant admin submits, changes or deletes templates.",
                        "只有租户管理员可以提交、修改或删除模板。"),
})

DONE = {"added": "tpl_added", "changed": "tpl_changed", "deleted": "tpl_deleted"}


def hints(type_: str, content: str, zh: bool) -> list[dict[str, Any]] | None:
    """The linter's findings on `content` (None: no text to check)."""
    if not content:
        return None
    kind = TemplateType(type_) if type_ in set(TemplateType) else TemplateType.NOTIFICATION
    return [{"refuses": f.severity is Severity.REFUSE, "rule": f.rule,
             "text": f.zh if zh else f.en, "code": f.code,
             "excerpt": content[f.start:f.end][:40]}
            for f in lint(kind, content[:4 * MAX_TEMPLATE_LENGTH])]


async def _own(request: Request, account_id: AccountId, code: str) -> Template | None:
    """The account's template of `code` (not deleted); None for another account's."""
    found = await console_of(request).api.store.template(account_id, code[:64])
    return found if found is not None and found.state is not ReviewState.DELETED else None


async def _page(request: Request, who: Viewer, account_id: AccountId, *,
                fields: dict[str, str], editing: Template | None = None,
                refusal: Refusal | None = None, done: str = "", status: int = 200,
                ) -> Response:
    _, found = await console_of(request).api.store.page_templates(account_id, 0, SHOWN)
    type_ = fields.get("type", "notification")
    return render(request, "templates.html", who.lang, who, status=status,
                  missing=status == 404, type=type_, content=fields.get("content", ""),
                  name=fields.get("name", ""), remark=fields.get("remark", ""),
                  editing=editing.code if editing else None, done=done,
                  refusal=refused(refusal, who.lang) if refusal else None,
                  types=[t.value for t in TemplateType],
                  hints=hints(type_, fields.get("content", ""), who.lang == "zh"),
                  templates=[{"code": t.code, "name": t.name, "type": t.type.value,
                              "content": t.content, "state": t.state.value,
                              "reason": t.reason, "created_at": china_text(t.created_at),
                              "changeable": t.state is not ReviewState.APPROVED}
                             for t in found if t.state is not ReviewState.DELETED])


@router.get("/templates")
async def templates(request: Request, who: ViewerDep, account_id: TenantDep,
                    type: str = "notification", content: str = "", edit: str = "",
                    done: str = "", code: str = "") -> Response:
    fields = {"type": type, "content": content}
    editing = None
    if edit:
        editing = await _own(request, account_id, edit)
        if editing is None:
            return await _page(request, who, account_id, fields={}, status=404)
        fields = {"type": editing.type.value, "content": editing.content,
                  "name": editing.name, "remark": editing.remark}
    message = ""
    if done in DONE:
        message = i18n.words(who.lang)[DONE[done]].format(code=code[:64])
    return await _page(request, who, account_id, fields=fields, editing=editing, done=message)


@router.get("/templates/hints")
async def template_hints(request: Request, who: ViewerDep, account_id: TenantDep,
                         type: str = "notification", content: str = "") -> Response:
    return render(request, "hints.html", who.lang, who,
                  hints=hints(type, content, who.lang == "zh"))


def _params(fields: dict[str, str]) -> dict[str, str]:
    """The form's fields as AddSmsTemplate and ModifySmsTemplate take them."""
    kind = next((n for t, n in TEMPLATE_TYPE_NUMBERS.items() if t.value == fields["type"]), -1)
    return {"TemplateType": str(kind), "TemplateName": fields["name"],
            "TemplateContent": fields["content"], "Remark": fields["remark"]}


async def _submit(request: Request, who: Viewer, account_id: AccountId,
                  editing: Template | None) -> Response:
    form = await admin_form(request, who)
    fields = {"type": text(form, "type", 20), "name": text(form, "name", 200),
              "content": text(form, "content", 4 * MAX_TEMPLATE_LENGTH),
              "remark": text(form, "remark", 1000)}
    if form.get("do") != "submit":  # "Check": the same page with the text's hints
        return await _page(request, who, account_id, fields=fields, editing=editing)
    params = _params(fields)
    if editing is None:
        done = await act(request, who, account_id, "AddSmsTemplate", params, "template")
    else:
        done = await act(request, who, account_id, "ModifySmsTemplate",
                         {**params, "TemplateCode": editing.code}, "template")
    if isinstance(done, Refusal):
        return await _page(request, who, account_id, fields=fields, editing=editing,
                           refusal=done, status=done.error.http_status)
    what = "added" if editing is None else "changed"
    return RedirectResponse(f"{PREFIX}/templates?done={what}&code="
                            f"{quote(str(done['TemplateCode']))}", 303)


@router.post("/templates")
async def add_template(request: Request, who: ViewerDep, account_id: TenantDep) -> Response:
    return await _submit(request, who, account_id, None)


@router.post("/templates/{code}")
async def change_template(request: Request, who: ViewerDep, account_id: TenantDep,
                          code: str) -> Response:
    editing = await _own(request, account_id, code)
    if editing is None:
        await admin_form(request, who)
        return await _page(request, who, account_id, fields={}, status=404)
    return await _submit(request, who, account_id, editing)


@router.post("/templates/{code}/delete")
async def delete_template(request: Request, who: ViewerDep, account_id: TenantDep,
                          code: str) -> Response:
    await admin_form(request, who)
    found = await _own(request, account_id, code)
    if found is None:
        return await _page(request, who, account_id, fields={}, status=404)
    done = await act(request, who, account_id, "DeleteSmsTemplate",
                     {"TemplateCode": found.code}, "template")
    if isinstance(done, Refusal):
        return await _page(request, who, account_id, fields={}, refusal=done,
                           status=done.error.http_status)
    return RedirectResponse(f"{PREFIX}/templates?done=deleted&code={quote(found.code)}", 303)
