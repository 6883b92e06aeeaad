"""The Alibaba-compatible actions an account takes on its own templates, signatures and
qualifications, run for a person of that account by another way in (the console's pages,
docs/console.md): the very actions of `aliyun/actions.py`, so that a page refuses what the
API refuses, with the same code and message, and changes the store the same way.

What the endpoint adds around an action (signing, nonces, throttling, the call log) belongs
to the API's callers and is not run here; the person is named in the review's audit
(`actor`).
"""

from __future__ import annotations

from collections.abc import Mapping

from yizhan.api.aliyun.actions import ACTIONS, TEMPLATE_TYPE_NUMBERS, ActionContext, Result
from yizhan.api.services import ApiServices
from yizhan.domain.errors import Lang, Refusal
from yizhan.domain.model import AccountId

__all__ = ["TEMPLATE_TYPE_NUMBERS", "TENANT_ACTIONS", "Result", "run"]

TENANT_ACTIONS = frozenset({
    "AddSmsTemplate", "ModifySmsTemplate", "DeleteSmsTemplate",
    "CreateSmsSign", "SubmitSmsQualification"})
"""The actions another way in may run: those that change the account's own objects."""


async def run(services: ApiServices, account_id: AccountId, action: str,
              params: Mapping[str, str], lang: Lang, actor: str) -> Result:
    """The action's answer (its response fields) or its refusal, as the API gives them."""
    if action not in TENANT_ACTIONS:
        raise ValueError(f"{action} is not an action of the account's own objects")
    account = await services.store.account(account_id)
    if account is None:
        return Refusal("InvalidAccessKeyId.NotFound", f"account {account_id}")
    return await ACTIONS[action](ActionContext(account, dict(params), lang, services,
                                               actor=actor))
