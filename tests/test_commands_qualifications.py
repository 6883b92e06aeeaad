"""`yizhan qualifications list|show|approve|reject|incomplete|personal|document`: the
operator's review queue, each decision audited and seen by the tenant's store queries; an
individual's qualification recorded by the operator; a document written out for review."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from tests.compliance.test_qualifications import DETAILS
from yizhan.app import open_store
from yizhan.cli.main import app
from yizhan.domain.model import AccountId, Qualification, QualificationKind, ReviewState
from yizhan.settings import Settings
from yizhan.storage.documents import DocumentFolder

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


def test_more_material_is_asked_with_a_reason(tmp_path: Path) -> None:
    """NOT_FINISH: the operator asks for more; the tenant's update sends it back to review
    (tests/api/aliyun/test_qualifications_sdk.py shows the tenant's side)."""
    first, _ = asyncio.run(_submitted(tmp_path))
    code, output = yz(tmp_path, "qualifications", "incomplete", str(first), "--reason", " ")
    assert code == 1 and "needs a --reason" in output
    code, output = yz(tmp_path, "qualifications", "incomplete", str(first), "--reason",
                      "请补充营业执照")
    assert code == 0 and "incomplete" in output
    found, steps = asyncio.run(_read(tmp_path, first))
    assert (found.state, found.reason) == (ReviewState.INCOMPLETE, "请补充营业执照")
    assert steps[-1].endswith("|incomplete|请补充营业执照")
    code, output = yz(tmp_path, "qualifications", "list", "--state", "pending")
    assert "驿站科技资质" not in output  # it waits for the tenant, not the operator
    assert yz(tmp_path, "qualifications", "approve", str(first))[0] == 1


def test_an_individual_is_recorded_by_the_operator(tmp_path: Path) -> None:
    """The SDK submits enterprises only: the operator records individuals, approved; one
    for own use is never usable for carrier registration."""
    asyncio.run(_submitted(tmp_path))
    person = ["--person", "张三", "--id-no", "11010519491231002X", "--id-valid",
              "2015-01-01~2035-01-01", "--phone", "+8613800138000"]
    code, output = yz(tmp_path, "qualifications", "personal", "acme", "张三个人", *person)
    assert code == 0 and "NOT usable" in output
    code, output = yz(tmp_path, "qualifications", "personal", "acme", "张三他用", *person,
                      "--for-others")
    assert code == 0 and "approved, usable" in output
    code, output = yz(tmp_path, "qualifications", "personal", "acme", "张三个人", *person)
    assert code == 1 and "already" in output
    code, output = yz(tmp_path, "qualifications", "personal", "acme", "坏号码",
                      *person[:-1], "12345")
    assert code == 1 and "AdminPhoneNo" in output
    own, steps = asyncio.run(_read(tmp_path, 3))
    assert (own.details.kind, own.details.for_self, own.state) == (
        QualificationKind.PERSONAL, True, ReviewState.APPROVED)
    assert not own.usable_for_registration and own.details.admin_phone == "13800138000"
    assert [s.split("|", 1)[1] for s in steps] == ["pending|submitted",
                                                   "approved|recorded by the operator"]
    others, _ = asyncio.run(_read(tmp_path, 4))
    assert others.usable_for_registration


async def _with_document(data_dir: Path) -> tuple[int, str]:
    """A qualification naming an uploaded document (the file as the endpoint keeps it)."""
    store = open_store(Settings(data_dir=data_dir))
    await store.migrate()
    account = await store.create_account("acme", NOW)
    key = f"qualification/{account.id}/front.jpg"
    folder = DocumentFolder(data_dir)
    incoming = folder.incoming()
    incoming.write_bytes(b"\xff\xd8\xff photo")
    name = folder.keep(incoming, AccountId(account.id), ".jpg")
    assert await store.record_document(AccountId(account.id), key, name, 13, "image/jpeg",
                                       "0" * 64, NOW)
    details = replace(DETAILS, documents=(("admin_id_front", key),
                                          ("admin_id_back", "a/back.png")))
    made = await store.submit_qualification(account.id, details, "account acme", NOW)
    await store.close()
    assert made is not None
    return made.id, key


def test_a_document_is_written_out_for_review(tmp_path: Path) -> None:
    qualification, key = asyncio.run(_with_document(tmp_path))
    out = tmp_path / "review" / "front.jpg"
    out.parent.mkdir()
    code, output = yz(tmp_path, "qualifications", "document", str(qualification), key,
                      "--out", str(out))
    assert code == 0 and "image/jpeg" in output
    assert out.read_bytes() == b"\xff\xd8\xff photo" and (out.stat().st_mode & 0o777) == 0o600
    code, output = yz(tmp_path, "qualifications", "document", str(qualification), key,
                      "--out", str(out))
    assert code == 1 and "exists" in output
    code, output = yz(tmp_path, "qualifications", "document", str(qualification),
                      "qualification/9/other.jpg", "--out", str(tmp_path / "x.jpg"))
    assert code == 1 and "names no document" in output
    code, output = yz(tmp_path, "qualifications", "document", str(qualification),
                      "a/back.png", "--out", str(tmp_path / "y.png"))
    assert code == 1 and "never uploaded" in output
