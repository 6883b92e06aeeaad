"""The rules of document uploads (compliance/documents.py): types by content, keys under the
account's StartPath, the policy signed as OSS signs it and checked (the HTTP path is in
tests/api/aliyun/test_uploads.py)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from yizhan.compliance.documents import (
    Granted,
    UploadConfig,
    account_secret,
    check,
    issue,
    keep_received,
    key_problem,
    sniff,
)
from yizhan.domain.errors import Refusal
from yizhan.domain.model import AccountId
from yizhan.storage.documents import DocumentFolder
from yizhan.storage.store import SqlStore

NOW = datetime(2026, 12, 7, 4, tzinfo=UTC)
ME = AccountId(7)


CONFIG = UploadConfig(b"k" * 32, DocumentFolder(Path("never-written")), None, max_bytes=1000,
                      policy_seconds=60)


@pytest.mark.parametrize(("head", "kind"), [
    (b"\xff\xd8\xff\xe0\x00\x10JF", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a..", "image/gif"), (b"GIF89a..", "image/gif"), (b"%PDF-1.4", "application/pdf"),
    (b"BM6\x00\x00\x00\x00\x00", None), (b"PK\x03\x04\x14\x00", None), (b"<svg xml", None),
    (b"", None)])
def test_types_are_told_by_their_first_bytes(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind


@pytest.mark.parametrize(("key", "says"), [
    ("qualification/7/a.jpg", None), ("qualification/7/x/b-1_2.PDF", None),
    ("qualification/8/a.jpg", "StartPath"), ("qualification/7/../8/a.jpg", ".."),
    ("/qualification/7/a.jpg", "absolute"), ("qualification/7//a.jpg", "empty"),
    ("qualification/7/照片.jpg", "letters"), ("qualification/7/a.exe", "end in"),
    ("qualification/7/", "empty"), ("qualification/7/a.svg", "end in")])
def test_keys_of_an_account(key: str, says: str | None) -> None:
    problem = key_problem(key, ME)
    assert (problem is None) if says is None else (problem is not None and says in problem)


def form(policy: dict[str, object], key: str = "qualification/7/a.jpg") -> dict[str, str]:
    return {"key": key, "OSSAccessKeyId": str(policy["AccessKeyId"]),
            "policy": str(policy["Policy"]), "Signature": str(policy["Signature"])}


def test_a_policy_is_signed_as_oss_signs_it_and_checked() -> None:
    given = issue(CONFIG, ME, NOW, "http://h/v1/uploads/qualification").wire()
    secret = account_secret(CONFIG.secret, ME)
    expected = base64.b64encode(hmac.new(secret, given["Policy"].encode(),
                                         hashlib.sha1).digest()).decode()
    assert given["Signature"] == expected
    assert given["Expire"] == int((NOW + timedelta(seconds=60)).timestamp())
    assert check(CONFIG, form(given), NOW) == Granted(ME, "qualification/7/a.jpg", 1, 1000)
    # the setting lowered after the policy was given: the lower limit holds
    assert check(replace(CONFIG, max_bytes=10), form(given), NOW) == Granted(
        ME, "qualification/7/a.jpg", 1, 10)
    for changed, code in (({"Signature": "x" + given["Signature"][1:]}, "SignatureDoesNotMatch"),
                          ({"OSSAccessKeyId": "yizhan-upload-8"}, "SignatureDoesNotMatch"),
                          ({"OSSAccessKeyId": "yizhan-upload-x"}, "InvalidAccessKeyId"),
                          ({"key": "qualification/8/a.jpg"}, "AccessDenied"),
                          ({"key": "qualification/7/a.txt"}, "InvalidObjectName"),
                          ({"policy": ""}, "MalformedPOSTRequest")):
        refused = check(CONFIG, {**form(given), **changed}, NOW)
        assert isinstance(refused, Refusal) and refused.code == code, changed
    late = check(CONFIG, form(given), NOW + timedelta(seconds=60))
    assert isinstance(late, Refusal) and "expired" in late.detail
    # another platform's key (another master key) signs nothing here
    theirs = issue(replace(CONFIG, secret=b"o" * 32), ME, NOW, "h").wire()
    refused = check(CONFIG, form(theirs), NOW)
    assert isinstance(refused, Refusal) and refused.code == "SignatureDoesNotMatch"


async def test_a_file_received_whole_is_checked_kept_and_recorded(store: SqlStore,
                                                                  tmp_path: Path) -> None:
    """What the console's upload form runs (`keep_received`): the endpoint's checks, a key
    the platform names, the file in the account's folder, the record; nothing of a refusal."""
    account = await store.create_account("papers", NOW)
    folder = DocumentFolder(tmp_path)
    config = replace(CONFIG, files=folder, max_bytes=64)
    png = b"\x89PNG\r\n\x1a\n" + b"p" * 40
    kept = await keep_received(config, store, account.id, io.BytesIO(png), "admin_id_front",
                               NOW)
    assert not isinstance(kept, Refusal)
    key, kind = kept
    assert kind == "image/png"
    assert key.startswith(f"qualification/{account.id}/admin_id_front-") and key.endswith(".png")
    assert key_problem(key, account.id) is None
    found = await store.document(account.id, key)
    assert found is not None and found.size == len(png)
    assert folder.path(found).read_bytes() == png
    for body, code in ((png + b"x" * 64, "EntityTooLarge"), (b"", "EntityTooSmall"),
                       (b"#!/bin/sh\nrm -rf /", "InvalidDocumentType")):
        refused = await keep_received(config, store, account.id, io.BytesIO(body), "../x", NOW)
        assert isinstance(refused, Refusal) and refused.code == code
    assert [d.key for d in await store.account_documents(account.id)] == [key]
    assert sorted(p.name for p in (tmp_path / "uploads" / str(account.id)).iterdir()) == \
        [found.file]
