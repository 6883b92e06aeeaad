"""Every operator decision on a signature or a template is audited in `review_decisions`,
in the decision's transaction (issue 16 point 7); a decision without an actor (the tenant's
own deletion) and one that changes nothing are not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from yizhan.domain.model import ReviewState, SignatureScenario, TemplateType
from yizhan.storage.store import SqlStore

NOW = datetime(2026, 12, 7, 3, tzinfo=UTC)


async def test_each_decision_writes_one_audit_row(store: SqlStore) -> None:
    account = await store.create_account("acme", NOW)
    sig = await store.create_signature(account.id, "驿站科技", SignatureScenario.GENERAL,
                                       ReviewState.PENDING, NOW)
    tpl = await store.create_template(account.id, "验证码", TemplateType.VERIFICATION,
                                      "您的验证码为${code}", ReviewState.PENDING, NOW)
    later = NOW + timedelta(hours=1)
    await store.review_signature(sig.id, ReviewState.REJECTED, "缺少商标", later, "cli ops")
    await store.review_signature(sig.id, ReviewState.APPROVED, "", later, "cli boss")
    await store.review_template(tpl.code, ReviewState.APPROVED, "", later, "cli ops")
    await store.review_template(tpl.code, ReviewState.DELETED, "deleted by the account")
    await store.review_template(tpl.code, ReviewState.APPROVED, "", later, "cli ops")

    steps = await store.review_decisions("signature", str(sig.id))
    assert [(d.actor, d.state, d.reason, d.at, d.account_id) for d in steps] == [
        ("cli ops", ReviewState.REJECTED, "缺少商标", later, account.id),
        ("cli boss", ReviewState.APPROVED, "", later, account.id)]
    steps = await store.review_decisions("template", tpl.code)
    assert [(d.actor, d.state) for d in steps] == [("cli ops", ReviewState.APPROVED)]
    assert await store.review_decisions("template", str(sig.id)) == []
