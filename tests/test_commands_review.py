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
from yizhan.domain.model import ReviewState, SignatureScenario, TemplateType
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
