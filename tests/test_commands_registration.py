"""`yizhan signs approve|register|registration|registration-answer|show`: the operator's
side of carrier registration (issue 16 point 3): approval starts it, the explicit trigger
files what is missing, a real carrier's answer is recorded by hand, and every step is
audited and shown."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.compliance.test_qualifications import DETAILS
from tests.test_commands_qualifications import NOW, yz
from yizhan.app import open_store
from yizhan.domain.model import ReviewState, SignatureScenario
from yizhan.settings import Settings


async def _prepared(data_dir: Path) -> tuple[int, int, int]:
    """An account with an approved qualification, a signature bound to it under review,
    and an old approved signature without one."""
    store = open_store(Settings(data_dir=data_dir))
    await store.migrate()
    account = await store.create_account("acme", NOW)
    q = await store.submit_qualification(account.id, DETAILS, "account acme", NOW)
    await store.review_qualification(q.id, ReviewState.APPROVED, "", "cli ops", NOW)
    new = await store.create_signature(account.id, "驿站科技", SignatureScenario.GENERAL,
                                       ReviewState.PENDING, NOW, qualification_id=q.id)
    old = await store.create_signature(account.id, "驿站云", SignatureScenario.GENERAL,
                                       ReviewState.APPROVED, NOW)
    await store.close()
    return q.id, new.id, old.id


def test_approval_starts_registration_and_the_operator_records_answers(
        tmp_path: Path) -> None:
    _, new, _ = asyncio.run(_prepared(tmp_path))
    code, output = yz(tmp_path, "signs", "register", "驿站科技", "--account", "acme")
    assert code == 1 and "isv.SIGNATURE_NOT_APPROVED" in output
    code, output = yz(tmp_path, "signs", "approve", str(new))
    assert code == 0 and "carrier registration started on 3 sub-port(s)" in output

    code, output = yz(tmp_path, "signs", "registration", "驿站科技", "--account", "acme")
    assert code == 0
    lines = output.splitlines()
    for carrier, channel in (("mobile", "cmcc"), ("unicom", "cucc"), ("telecom", "ctcc")):
        assert any(carrier in line and "-1 registering" in line for line in lines)
        assert any(channel in line and f"{new}" in line and "REGISTERING 签名报备中" in line
                   for line in lines), channel

    answer = ["signs", "registration-answer", "驿站科技", "--account", "acme"]
    code, output = yz(tmp_path, *answer, "--channel", "cmcc")
    assert code == 1 and "--registered or --failed" in output
    code, output = yz(tmp_path, *answer, "--channel", "cmcc", "--failed", "BAD")
    assert code == 1 and "unknown reason 'BAD'" in output
    code, output = yz(tmp_path, *answer, "--channel", "cmcc", "--failed",
                      "QUALIFICATION_ERROR", "--detail", "企业名称不一致")
    assert code == 0 and "0 failed" in output
    code, output = yz(tmp_path, *answer, "--channel", "cucc", "--registered")
    assert code == 0 and "1 awaiting_verification" in output
    code, output = yz(tmp_path, *answer, "--channel", "cucc", "--registered")
    assert code == 1 and "not registering on channel 'cucc'" in output

    code, output = yz(tmp_path, "signs", "registration", "驿站科技", "--account", "acme")
    assert "企业名称不一致" in output and "QUALIFICATION_ERROR" in output
    assert any("unicom" in line and "1 awaiting_verification" in line
               for line in output.splitlines())

    code, output = yz(tmp_path, "signs", "register", "驿站科技", "--account", "acme")
    assert code == 0 and "filed on 1 sub-port(s) cmcc" in output  # only the failed one
    code, output = yz(tmp_path, "signs", "show", "驿站科技", "--account", "acme")
    assert code == 0 and "signature approved: filed on 3 sub-port(s)" in output
    assert "carrier answer on cmcc" in output and "explicit trigger: filed on 1" in output


def test_register_all_and_a_reapproved_qualification(tmp_path: Path) -> None:
    qid, new, _ = asyncio.run(_prepared(tmp_path))
    code, output = yz(tmp_path, "signs", "register")
    assert code == 1 and "give --all" in output
    code, output = yz(tmp_path, "signs", "register", "驿站云")
    assert code == 1 and "--account" in output
    code, output = yz(tmp_path, "signs", "register", "--all")
    assert code == 0 and "signature 驿站云: not filed, UNBINDING_QUA" in output
    assert "驿站科技" not in output  # under review: not filed
    assert "1 signature(s) registered" in output

    assert yz(tmp_path, "signs", "approve", str(new))[0] == 0
    code, output = yz(tmp_path, "signs", "register", "--all", "--account", "acme")
    assert code == 0 and "驿站科技" not in output  # registering everywhere already

    async def resubmitted() -> None:  # the tenant updates it and it returns to review
        store = open_store(Settings(data_dir=tmp_path))
        await store.migrate()
        await store.update_qualification(qid, DETAILS, "account acme", NOW)
        await store.close()

    asyncio.run(resubmitted())
    code, output = yz(tmp_path, "qualifications", "approve", str(qid))
    assert code == 0 and "signature 驿站科技: registration filed on 3 sub-port(s)" in output
    assert "驿站云" not in output  # the old signature has no qualification: untouched
