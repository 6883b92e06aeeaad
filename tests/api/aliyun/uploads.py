"""Documents uploaded as an OSS client uploads them: GetQualificationOssInfo through the
official SDK, then a multipart POST of the form fields in OSS's order (key, OSSAccessKeyId,
policy, Signature, success_action_status, file) to the `Host` it answers."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.aliyun.sdk import Tenant

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200)
GIF = b"GIF89a" + bytes(200)
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(200)

STANDARD = {"admin_front.jpg": JPEG, "admin_back.png": PNG, "license.jpg": JPEG,
            "l.jpg": JPEG, "a1.png": PNG}
"""What the qualification and letter tests name: uploaded for each tenant."""


async def policy(tenant: Tenant) -> dict[str, Any]:
    """GetQualificationOssInfo's Data; `tenant.start_path` is set from it."""
    answered = await tenant.call("GetQualificationOssInfo", BizType="dysms")
    assert answered.code == "OK", answered.message
    data: dict[str, Any] = answered.body["Data"]
    tenant.start_path = data["StartPath"]
    return data


async def post(data: dict[str, Any], key: str, content: bytes, filename: str = "file",
               status: str | None = None, **fields: str) -> httpx.Response:
    """The OSS form POST of `content` under `key` with the policy `data` (fields given
    replace the policy's: `policy=`, `Signature=`, `OSSAccessKeyId=`)."""
    form = {"key": key, "OSSAccessKeyId": data["AccessKeyId"], "policy": data["Policy"],
            "Signature": data["Signature"]}
    if status is not None:
        form["success_action_status"] = status
    form.update(fields)
    async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
        return await client.post(data["Host"], data=form,
                                 files={"file": (filename, content,
                                                 "application/octet-stream")})


async def upload(tenant: Tenant, name: str, content: bytes) -> str:
    """Upload `content` as the tenant's document `name`; its key."""
    data = await policy(tenant)
    key = tenant.doc(name)
    answered = await post(data, key, content)
    assert answered.status_code == 204, answered.text
    return key


async def with_documents(tenant: Tenant) -> Tenant:
    """The tenant with the documents the tests name (`STANDARD`) uploaded."""
    data = await policy(tenant)
    for name, content in STANDARD.items():
        answered = await post(data, tenant.doc(name), content)
        assert answered.status_code == 204, answered.text
    return tenant
