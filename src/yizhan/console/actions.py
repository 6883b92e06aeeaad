"""What the pages that change an account's templates, signatures and qualifications share:
a tenant admin's form (CSRF-checked; a viewer's is refused, 403), the API's own action run
for the person (`api/tenant_actions.py`: the same checks, codes and messages as the API),
a refusal shown in the viewer's language, and the change written to the console's audit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData

from yizhan.api import tenant_actions
from yizhan.api.tenant_actions import Result
from yizhan.console.pages import Viewer, console_of
from yizhan.domain.errors import Lang, Refusal
from yizhan.domain.model import AccountId


def text(form: FormData, name: str, longest: int = 2000) -> str:
    """A text field of a form, cut at `longest` characters (the action checks the rest)."""
    value = form.get(name)
    return value.strip()[:longest] if isinstance(value, str) else ""


async def act(request: Request, who: Viewer, account_id: AccountId, action: str,
              params: Mapping[str, str], subject: str) -> Result:
    """Run the API's `action` for the person; a change done is audited (`subject`: what
    it names, completed by the answer's own name for it when it has one)."""
    console = console_of(request)
    done = await tenant_actions.run(console.api, account_id, action,
                                    {k: v for k, v in params.items() if v != ""},
                                    Lang(who.lang), f"console {who.session.user.login}")
    if not isinstance(done, Refusal):
        named = done.get("TemplateCode") or done.get("SignName") or done.get("Data")
        await console.store.audit_console(
            who.session.user, account_id, action,
            f"{subject} {named}".strip() if isinstance(named, str) else subject,
            console.api.clock.now())
    return done


def refused(refusal: Refusal, lang: str) -> dict[str, Any]:
    """A refusal as a page shows it: the code (never translated) and its message."""
    return {"code": refusal.code, "message": refusal.message(Lang(lang))}
