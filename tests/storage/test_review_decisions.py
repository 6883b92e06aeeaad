"""Every operator decision on a signature or a template is audited in `review_decisions`,
in the decision's transaction (issue 16 point 7); a change without an actor and one that
changes nothing are not. The tenant's own deletions, resubmissions and changes of
qualification are audited there too, with their action; the last operator decision gives
GetSmsSign's AuditDate and a resubmission the review queue's "since"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.compliance.test_qualifications import DETAILS
from yizhan.domain.model import ReviewState, SignatureDetails, SignatureScenario, TemplateType
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


async def test_the_tenants_actions_and_what_is_read_from_them(store: SqlStore) -> None:
    account = await store.create_account("acme", NOW)
    sig = await store.create_signature(account.id, "驿站科技", SignatureScenario.GENERAL,
                                       ReviewState.PENDING, NOW,
                                       details=SignatureDetails("场景", ("a.png",), 7, None))
    assert await store.last_review_at("signature", str(sig.id)) is None
    hours = [NOW + timedelta(hours=n) for n in range(5)]
    await store.review_signature(sig.id, ReviewState.REJECTED, "材料不全", hours[1], "cli op")
    await store.update_signature(sig.id, SignatureScenario.GENERAL, "enterprise", "补充",
                                 actor="account acme", now=hours[2])
    await store.review_signature(sig.id, ReviewState.APPROVED, "", hours[3], "cli op")
    q = await store.submit_qualification(account.id, DETAILS, "account acme", NOW)
    await store.change_signature_qualification(sig.id, q.id, None, "account acme", hours[4])

    steps = await store.review_decisions("signature", str(sig.id))
    assert [(d.action, d.state, d.at) for d in steps] == [
        ("review", ReviewState.REJECTED, hours[1]), ("resubmit", ReviewState.PENDING, hours[2]),
        ("review", ReviewState.APPROVED, hours[3]),
        ("change_qualification", ReviewState.APPROVED, hours[4])]
    assert steps[-1].reason == f"qualification None -> {q.id}"
    assert await store.last_review_at("signature", str(sig.id)) == hours[3]
    assert await store.resubmitted_at("signature") == {str(sig.id): hours[2]}
    found = await store.signature(account.id, "驿站科技")
    assert found is not None and found.qualification_id == q.id
    assert found.details == SignatureDetails("场景", ("a.png",), 7, None)
