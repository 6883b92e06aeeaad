"""`yizhan review queue` and the audited decisions on signatures and templates (issue 16
point 7): the queue lists qualifications, signatures and templates under review, oldest
first, and drops each once decided; `signs show` and `templates show` list every decision."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.compliance.test_qualifications import DETAILS
from tests.test_commands_qualifications import yz
from yizhan.app import open_store
from yizhan.domain.model import (
    ReviewState,
    SignatureDetails,
    SignatureScenario,
    TemplateType,
)
from yizhan.settings import Settings

NOW = datetime(2026, 12, 7, 3, tzinfo=UTC)


async def _waiting(data_dir: Path) -> tuple[int, int, str]:
    """A template (oldest), a qualification, then a signature, all under review."""
    store = open_store(Settings(data_dir=data_dir))
    await store.migrate()
    account = await store.create_account("acme", NOW)
    sig = await store.create_signature(account.id, "驿站科技", SignatureScenario.GENERAL,
                                       ReviewState.PENDING, NOW + timedelta(hours=2))
    qualification = await store.submit_qualification(account.id, DETAILS, "account acme",
                                                     NOW + timedelta(hours=1))
    tpl = await store.create_template(account.id, "促销", TemplateType.PROMOTION,
                                      "全场五折，拒收请回复R", ReviewState.PENDING, NOW)
    await store.close()
    return qualification.id, sig.id, tpl.code


def _queue(data_dir: Path) -> list[list[str]]:
    """The queue's rows, as cells: since, age, account, kind, id/code, name, findings."""
    code, output = yz(data_dir, "review", "queue")
    assert code == 0, output
    return [[cell.strip() for cell in line.split("│")[1:-1]]
            for line in output.splitlines() if "acme" in line]


def test_queue_lists_all_three_kinds_oldest_first_and_drops_decided(tmp_path: Path) -> None:
    qualification, sig, tpl = asyncio.run(_waiting(tmp_path))
    rows = _queue(tmp_path)
    assert [row[2:5] for row in rows] == [["acme", "template", tpl],
                                          ["acme", "qualification", str(qualification)],
                                          ["acme", "signature", str(sig)]]
    assert rows[0][5] == "促销" and rows[0][6].isdigit() and rows[2][6] == ""

    assert yz(tmp_path, "templates", "reject", tpl, "--reason", "夸大宣传")[0] == 0
    assert yz(tmp_path, "signs", "approve", str(sig))[0] == 0
    assert [row[3] for row in _queue(tmp_path)] == ["qualification"]
    assert yz(tmp_path, "qualifications", "approve", str(qualification))[0] == 0
    assert _queue(tmp_path) == []


def test_show_lists_every_decision(tmp_path: Path) -> None:
    _, sig, tpl = asyncio.run(_waiting(tmp_path))
    assert yz(tmp_path, "signs", "reject", str(sig), "--reason", "缺少商标证明")[0] == 0
    assert yz(tmp_path, "signs", "approve", str(sig))[0] == 0
    code, output = yz(tmp_path, "signs", "show", "驿站科技", "--account", "acme")
    assert code == 0, output
    history = [line for line in output.splitlines() if "cli " in line]
    assert len(history) == 2
    assert "rejected" in history[0] and "缺少商标证明" in history[0]
    assert "approved" in history[1]
    code, output = yz(tmp_path, "signs", "show", "别的", "--account", "acme")
    assert code == 1 and "no signature" in output

    assert yz(tmp_path, "templates", "approve", tpl)[0] == 0
    code, output = yz(tmp_path, "templates", "show", tpl)
    assert code == 0, output
    assert [line for line in output.splitlines() if "cli " in line and "approved" in line]


async def _two_accounts(data_dir: Path) -> tuple[int, str, str]:
    """acme: a signature (oldest) and a notification template with a financial word, both
    under review; beta: a promotion template a day later."""
    store = open_store(Settings(data_dir=data_dir))
    await store.migrate()
    acme = await store.create_account("acme", NOW)
    beta = await store.create_account("beta", NOW)
    sig = await store.create_signature(acme.id, "驿站科技", SignatureScenario.GENERAL,
                                       ReviewState.PENDING, NOW)
    loan = await store.create_template(acme.id, "放款", TemplateType.NOTIFICATION,
                                       "您的贷款已到账\u200b", ReviewState.PENDING,
                                       NOW + timedelta(hours=1))
    promo = await store.create_template(beta.id, "促销", TemplateType.PROMOTION,
                                        "全场五折，拒收请回复R", ReviewState.PENDING,
                                        NOW + timedelta(days=1))
    await store.close()
    return sig.id, loan.code, promo.code


def test_queue_filters_by_kind_account_since_and_limit(tmp_path: Path) -> None:
    sig, loan, promo = asyncio.run(_two_accounts(tmp_path))

    def keys(*args: str) -> list[str]:
        code, output = yz(tmp_path, "review", "queue", *args)
        assert code == 0, output
        return [cells[4] for line in output.splitlines()
                if len(cells := [c.strip() for c in line.split("│")[1:-1]]) > 4
                and cells[3] in ("qualification", "signature", "template")]

    assert keys() == [str(sig), loan, promo]
    assert keys("--kind", "template") == [loan, promo]
    assert keys("--kind", "signature", "--account", "acme") == [str(sig)]
    assert keys("--account", "beta") == [promo]
    # NOW is 11:00 China time; beta's template came a day later
    assert keys("--since", "2026-12-08") == [promo]
    assert keys("--since", "2026-12-07 11:30") == [loan, promo]
    assert keys("--limit", "2") == [str(sig), loan]
    code, output = yz(tmp_path, "review", "queue", "--since", "yesterday")
    assert code == 1 and "--since" in output
    code, output = yz(tmp_path, "review", "queue", "--account", "nobody")
    assert code == 1


def test_queue_shows_each_templates_findings(tmp_path: Path) -> None:
    _, loan, _ = asyncio.run(_two_accounts(tmp_path))
    code, output = yz(tmp_path, "review", "queue", "--kind", "template", "--account", "acme")
    assert code == 0, output
    row = next(line for line in output.splitlines() if loan in line)
    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert cells[6] == "2"
    assert cells[7] == "template.financial!, template.invisible_character"


async def _tenant_actions(data_dir: Path) -> tuple[str, str]:
    """What the Alibaba actions do for a tenant: a signature resubmitted then deleted, a
    template resubmitted then deleted (api/aliyun/actions.py)."""
    store = open_store(Settings(data_dir=data_dir))
    await store.migrate()
    account = await store.create_account("acme", NOW)
    sig = await store.create_signature(
        account.id, "驿站科技", SignatureScenario.GENERAL, ReviewState.PENDING, NOW,
        source="trademark",
        details=SignatureDetails("会员登录", ("proof/a.png", "b.pdf"), None, 88))
    await store.review_signature(sig.id, ReviewState.REJECTED, "材料不全", NOW, "cli op")
    await store.update_signature(sig.id, SignatureScenario.GENERAL, "enterprise", "补充材料",
                                 actor="account acme", now=NOW + timedelta(hours=1))
    await store.review_signature(sig.id, ReviewState.DELETED, "deleted by the account",
                                 NOW + timedelta(hours=2), "account acme")
    tpl = await store.create_template(account.id, "通知", TemplateType.NOTIFICATION,
                                      "订单${o}已发货", ReviewState.PENDING, NOW)
    await store.update_template(tpl.code, "通知", TemplateType.NOTIFICATION, "订单${o}已签收",
                                "", actor="account acme", now=NOW + timedelta(hours=1))
    await store.review_template(tpl.code, ReviewState.DELETED, "deleted by the account",
                                NOW + timedelta(hours=2), "account acme")
    await store.close()
    return sig.name, tpl.code


def test_show_lists_the_tenants_deletions_and_resubmissions(tmp_path: Path) -> None:
    sign, tpl = asyncio.run(_tenant_actions(tmp_path))

    def history(*args: str) -> list[list[str]]:
        code, output = yz(tmp_path, *args)
        assert code == 0, output
        return [[c.strip() for c in line.split("│")[1:-1]][1:4]
                for line in output.splitlines() if "2026-12-07" in line]

    code, output = yz(tmp_path, "signs", "show", sign, "--account", "acme")
    assert code == 0 and "scene: 会员登录" in output and "trademark: 88" in output
    assert "files: proof/a.png, b.pdf" in output
    assert history("signs", "show", sign, "--account", "acme") == [
        ["cli op", "review", "rejected"], ["account acme", "resubmit", "pending"],
        ["account acme", "delete", "deleted"]]
    assert history("templates", "show", tpl) == [
        ["account acme", "resubmit", "pending"], ["account acme", "delete", "deleted"]]


async def _qualification_resubmitted_and_deleted(data_dir: Path) -> int:
    store = open_store(Settings(data_dir=data_dir))
    await store.migrate()
    account = await store.create_account("acme", NOW)
    q = await store.submit_qualification(account.id, DETAILS, "account acme", NOW)
    await store.review_qualification(q.id, ReviewState.REJECTED, "执照模糊", "cli op",
                                     NOW + timedelta(hours=1))
    await store.update_qualification(q.id, DETAILS, "account acme", NOW + timedelta(hours=2))
    await store.delete_qualification(q.id, "account acme", NOW + timedelta(hours=3))
    await store.close()
    return q.id


def test_qualification_show_lists_the_tenants_resubmission_and_deletion(
        tmp_path: Path) -> None:
    """What UpdateSmsQualification and DeleteSmsQualification record
    (api/aliyun/actions.py), as the operator reads it."""
    q = asyncio.run(_qualification_resubmitted_and_deleted(tmp_path))
    code, output = yz(tmp_path, "qualifications", "show", str(q))
    assert code == 0, output
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in output.splitlines()
            if "2026-12-07" in line]
    assert [(row[2], row[3], row[4]) for row in rows] == [
        ("account acme", "pending", "submitted"), ("cli op", "rejected", "执照模糊"),
        ("account acme", "pending", "updated"),
        ("account acme", "deleted", "deleted by the account")]


def test_a_resubmitted_item_waits_since_its_resubmission(tmp_path: Path) -> None:
    async def setup() -> tuple[int, str]:
        store = open_store(Settings(data_dir=tmp_path))
        await store.migrate()
        acme = await store.create_account("acme", NOW)
        sig = await store.create_signature(acme.id, "驿站科技", SignatureScenario.GENERAL,
                                           ReviewState.PENDING, NOW)
        tpl = await store.create_template(acme.id, "通知", TemplateType.NOTIFICATION,
                                          "订单${o}已发货", ReviewState.PENDING,
                                          NOW + timedelta(hours=1))
        await store.review_signature(sig.id, ReviewState.REJECTED, "材料不全", NOW, "cli op")
        await store.update_signature(sig.id, SignatureScenario.GENERAL, "enterprise", "补充",
                                     actor="account acme", now=NOW + timedelta(hours=2))
        await store.close()
        return sig.id, tpl.code

    sig, tpl = asyncio.run(setup())
    rows = _queue(tmp_path)
    assert [(row[0], row[4]) for row in rows] == [("2026-12-07 12:00:00", tpl),
                                                  ("2026-12-07 13:00:00", str(sig))]
