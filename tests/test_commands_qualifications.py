"""`yizhan qualifications list|show|approve|reject`: the operator's review queue, each
decision audited and seen by the tenant's store queries."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from tests.compliance.test_qualifications import DETAILS
from yizhan.app import open_store
from yizhan.cli.main import app
from yizhan.domain.model import Qualification, ReviewState
from yizhan.settings import Settings

runner = CliRunner()
NOW = datetime(2026, 12, 7, 3, tzinfo=UTC)


def yz(data_dir: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)], env={"COLUMNS": "200"})
    return result.exit_code, result.output


async def _submitted(data_dir: Path) -> list[int]:
    store = open_store(Settings(data_dir=data_dir))
    await store.migrate()
    account = await store.create_account("acme", NOW)
    ids = [(await store.submit_qualification(account.id, details, "account acme", NOW)).id
           for details in (DETAILS, replace(DETAILS, name="第二资质"))]
    await store.close()
    return ids


async def _read(data_dir: Path, qualification_id: int) -> tuple[Qualification, list[str]]:
    store = open_store(Settings(data_dir=data_dir))
    await store.migrate()
    found = await store.qualification_by_id(qualification_id)
    steps = [f"{d.actor}|{d.state.value}|{d.reason}"
             for d in await store.qualification_decisions(qualification_id)]
    await store.close()
    assert found is not None
    return found, steps


def test_review_queue_approve_reject_and_audit(tmp_path: Path) -> None:
    first, second = asyncio.run(_submitted(tmp_path))
    code, output = yz(tmp_path, "qualifications", "list", "--state", "pending")
    assert code == 0 and "驿站科技资质" in output and "第二资质" in output and "acme" in output

    code, output = yz(tmp_path, "qualifications", "reject", str(second), "--reason", "  ")
    assert code == 1 and "needs a --reason" in output
    code, output = yz(tmp_path, "qualifications", "approve", str(first), "--reason", "齐全")
    assert code == 0 and "approved" in output
    code, output = yz(tmp_path, "qualifications", "approve", str(first))
    assert code == 1 and "not under review" in output
    code, output = yz(tmp_path, "qualifications", "reject", str(second), "--reason",
                      "营业执照模糊")
    assert code == 0 and "rejected" in output
    assert yz(tmp_path, "qualifications", "approve", "999")[0] == 1

    approved, steps = asyncio.run(_read(tmp_path, first))
    assert (approved.state, approved.reason) == (ReviewState.APPROVED, "齐全")
    assert approved.reviewed_at is not None
    assert steps[0] == "account acme|pending|submitted"
    assert steps[1].startswith("cli ") and steps[1].endswith("|approved|齐全")
    rejected, _ = asyncio.run(_read(tmp_path, second))
    assert (rejected.state, rejected.reason) == (ReviewState.REJECTED, "营业执照模糊")

    code, output = yz(tmp_path, "qualifications", "list", "--state", "pending")
    assert code == 0 and "驿站科技资质" not in output and "第二资质" not in output
    code, output = yz(tmp_path, "qualifications", "show", str(first))
    assert code == 0 and "91350100M000100Y43" in output and "a/front.jpg" in output
    assert "usable for registration: yes" in output and "齐全" in output
