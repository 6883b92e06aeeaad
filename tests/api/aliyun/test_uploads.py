"""Document uploads (docs/compliance.md "Document uploads"): GetQualificationOssInfo through
the official v4 SDK, then the upload endpoint taking the OSS PostObject form as an OSS
client sends it (`uploads.post`), on both stores; each refusal, what is kept on disk, and
the actions taking only keys the account uploaded."""

from __future__ import annotations

import base64
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import httpx
import orjson
import pytest

from tests.api.aliyun import test_letters_sdk as letter_tests
from tests.api.aliyun.sdk import Tenant
from tests.api.aliyun.test_qualifications_sdk import submission
from tests.api.aliyun.uploads import GIF, JPEG, PDF, PNG, policy, post, with_documents
from tests.api.raw_http import chunked, exchange
from tests.conftest import ManualClock, Running, start_running
from yizhan.domain.model import AccountId
from yizhan.storage.store import SqlStore

MAX = 4096
"""upload_max_bytes of these tests."""

no_proxy = letter_tests.no_proxy


@pytest.fixture
def clock() -> ManualClock:
    """The server's clock stands at the real time (the SDK signs with it) until moved."""
    return ManualClock(datetime.now(UTC))


@pytest.fixture
async def server(store: SqlStore, tmp_path: Path, clock: ManualClock,
                 ) -> AsyncIterator[Running]:
    async with start_running(store, tmp_path, clock, upload_max_bytes=MAX) as started:
        yield started


@pytest.fixture
async def tenants(server: Running) -> tuple[Tenant, Tenant]:
    store = server.yz.store
    other = await store.create_account("other", server.demo.account.created_at)
    key = await store.create_access_key(other.id, other.created_at)
    return (Tenant(server, server.demo.key.id, server.demo.key.secret),
            Tenant(server, key.id, key.secret))


def error_code(answer: httpx.Response) -> str:
    assert answer.headers["content-type"].startswith("application/xml")
    root = ElementTree.fromstring(answer.content)
    assert root.tag == "Error" and root.findtext("RequestId")
    return root.findtext("Code") or ""


def kept(tmp_path: Path) -> list[Path]:
    """The files under <data>/uploads, the incoming ones included."""
    return sorted(p for p in (tmp_path / "uploads").rglob("*") if p.is_file())


async def test_a_policy_then_an_upload_as_oss_takes_it(server: Running, tmp_path: Path,
                                                       tenants: tuple[Tenant, Tenant]) -> None:
    demo, _ = tenants
    data = await policy(demo)
    account = server.demo.account.id
    assert data["StartPath"] == f"qualification/{account}/"
    assert data["AccessKeyId"] == f"yizhan-upload-{account}"
    assert data["Host"] == f"{server.base_url}/v1/uploads/qualification"
    assert data["Expire"] == int(server.yz.clock.now().timestamp()) + 900
    document = orjson.loads(base64.b64decode(data["Policy"]))
    assert document["conditions"] == [["starts-with", "$key", data["StartPath"]],
                                      ["content-length-range", 1, MAX]]
    assert document["expiration"].endswith(".000Z")

    answered = await post(data, demo.doc("front.jpg"), JPEG)
    assert (answered.status_code, answered.content) == (204, b"")
    assert answered.headers["etag"].startswith('"')
    created = await post(data, demo.doc("licence.pdf"), PDF, status="201")
    assert created.status_code == 201
    root = ElementTree.fromstring(created.content)
    assert (root.tag, root.findtext("Key")) == ("PostResponse", demo.doc("licence.pdf"))
    assert root.findtext("Location") == f"{data['Host']}/{demo.doc('licence.pdf')}"
    assert (await post(data, demo.doc("x.png"), PNG, status="200")).status_code == 200
    assert (await post(data, demo.doc("y.gif"), GIF)).status_code == 204

    # kept in the account's folder under names of its own, private
    folder = tmp_path / "uploads" / str(account)
    files = sorted(folder.iterdir())
    assert len(files) == 4 and stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in files)
    assert sorted(f.read_bytes() for f in files) == sorted([JPEG, PDF, PNG, GIF])
    assert stat.S_IMODE((tmp_path / "uploads").stat().st_mode) == 0o700
    assert not list((tmp_path / "uploads" / "incoming").iterdir())
    found = await server.yz.store.document(AccountId(account), demo.doc("licence.pdf"))
    assert found is not None and (found.size, found.content_type) == (len(PDF),
                                                                     "application/pdf")

    # an uploaded key is what SubmitSmsQualification takes
    given = submission(demo, AdminIDCardFrontFace="front.jpg", AdminIDCardPic="x.png",
                       OtherFiles=[{"LicensePic": demo.doc("licence.pdf")}])
    assert (await demo.call("SubmitSmsQualification", **given)).code == "OK"


async def test_the_sdk_asks_for_dysms_documents(tenants: tuple[Tenant, Tenant]) -> None:
    demo, _ = tenants
    assert (await demo.call("GetQualificationOssInfo")).code == "MissingParameter"
    assert (await demo.call("GetQualificationOssInfo",
                            BizType="voice")).code == "isv.INVALID_PARAMETERS"


async def test_refusals(server: Running, tmp_path: Path, clock: ManualClock,
                        tenants: tuple[Tenant, Tenant]) -> None:
    demo, other = tenants
    data = await policy(demo)
    theirs = await policy(other)
    key = demo.doc("a.jpg")

    async def refused(expected: str, *args: object, **fields: str) -> None:
        answered = await post(*args, **fields)  # type: ignore[arg-type]
        assert error_code(answered) == expected, answered.text
        assert answered.status_code in (400, 403, 409)

    await refused("SignatureDoesNotMatch", data, key, JPEG, Signature=theirs["Signature"])
    # another account's policy does not sign for this one's id, nor its prefix for others
    await refused("SignatureDoesNotMatch", data, key, JPEG,
                  OSSAccessKeyId=theirs["AccessKeyId"])
    await refused("AccessDenied", theirs, key, JPEG)
    await refused("InvalidAccessKeyId", data, key, JPEG, OSSAccessKeyId="LTAI5t0000")
    await refused("InvalidObjectName", data, data["StartPath"] + "x/../../1/a.jpg", JPEG)
    await refused("InvalidObjectName", data, demo.doc("a.exe"), JPEG)
    await refused("EntityTooLarge", data, key, JPEG + bytes(MAX))
    await refused("EntityTooSmall", data, key, b"")
    await refused("InvalidDocumentType", data, key, b"<html>not a photo</html>")
    await refused("InvalidDocumentType", data, key, PNG)  # a PNG named .jpg
    await refused("InvalidDocumentType", data, demo.doc("a.pdf"), b"MZ\x90\x00" + bytes(99))
    await refused("MalformedPOSTRequest", data, key, JPEG, status="302")
    await refused("MalformedPOSTRequest", data, key, JPEG, policy="")
    # a policy changed after it was signed (a larger size, a longer life) is not its own
    await refused("SignatureDoesNotMatch", data, key, JPEG, policy="bm90IGpzb24=")
    assert kept(tmp_path) == []  # nothing refused is kept, not even half

    assert (await post(data, key, JPEG)).status_code == 204
    await refused("FileAlreadyExists", data, key, JPEG)  # a document is written once
    clock.advance(seconds=901)
    await refused("AccessDenied", data, demo.doc("late.jpg"), JPEG)
    assert len(kept(tmp_path)) == 1


async def test_bodies_over_the_limit_are_not_read(server: Running, tmp_path: Path,
                                                   tenants: tuple[Tenant, Tenant]) -> None:
    """The endpoint's own limit (upload_max_bytes plus 64 KiB of form), announced or
    streamed: refused at once, the connection closed, the rest never read."""
    demo, _ = tenants
    data = await policy(demo)
    path = "/v1/uploads/qualification"
    block = b"x" * (64 * 1024)
    head = "\r\n".join([f"POST {path} HTTP/1.1", "Host: 127.0.0.1",
                         "Content-Type: multipart/form-data; boundary=b"])
    huge = 50 * 1024 * 1024
    announced = await exchange(server.base_url, f"{head}\r\nContent-Length: {huge}".encode(),
                               (block for _ in range(huge // len(block))))
    streamed = await exchange(server.base_url, f"{head}\r\nTransfer-Encoding: chunked".encode(),
                              chunked(len(block), huge))
    for answer in (announced, streamed):
        root = ElementTree.fromstring(answer.body)
        assert (answer.status, root.findtext("Code")) in ((400, "EntityTooLarge"),
                                                          (400, "MalformedPOSTRequest"))
        assert answer.headers.get("connection") == "close"
        assert answer.sent < 16 * 1024 * 1024
    assert ElementTree.fromstring(announced.body).findtext("Code") == "EntityTooLarge"
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        answered = await client.post(data["Host"], data={"key": "k"})
    assert error_code(answered) == "MalformedPOSTRequest"  # not multipart
    assert kept(tmp_path) == []


async def test_actions_take_only_keys_the_account_uploaded(
        server: Running, tenants: tuple[Tenant, Tenant]) -> None:
    demo, other = await with_documents(tenants[0]), await with_documents(tenants[1])
    theirs = other.doc("admin_front.jpg")
    for reference, says in ((theirs, "StartPath"),
                            (demo.doc("never.jpg"), "was not uploaded"),
                            (demo.start_path + "../2/admin_front.jpg", ".."),
                            ("/etc/passwd.jpg", "absolute"),
                            ("admin_front.jpg", "StartPath")):
        refused = await demo.call("SubmitSmsQualification", **{
            **submission(demo), "AdminIDCardFrontFace": reference})
        assert (refused.code, says in refused.message) == ("isv.DOCUMENT_NOT_UPLOADED", True), \
            (reference, refused.message)
        letter = await demo.call("CreateSmsAuthorizationLetter", **{
            **letter_tests.letter(demo), "AuthorizationLetterPic": reference.replace(
                ".jpg", ".png")})
        assert letter.code == "isv.DOCUMENT_NOT_UPLOADED", reference
    submitted = await demo.call("SubmitSmsQualification", **submission(demo))
    group = int(submitted.body["Data"])
    order = (await demo.call("QuerySingleSmsQualification", QualificationGroupId=group)).body[
        "Data"]["WorkOrderId"]
    refused = await demo.call("UpdateSmsQualification", QualificationGroupId=group,
                              OrderId=order, AdminPhoneNo="13800138000", CertifyCode="1",
                              BusinessLicensePics=[{"LicensePic": theirs, "Type": "x"}])
    assert refused.code == "isv.DOCUMENT_NOT_UPLOADED"
    assert (await demo.call("UpdateSmsQualification", QualificationGroupId=group,
                            OrderId=order, AdminPhoneNo="13800138000", CertifyCode="1",
                            BusinessLicensePics=[{"LicensePic": demo.doc("l.jpg"),
                                                  "Type": "x"}])).code == "OK"
