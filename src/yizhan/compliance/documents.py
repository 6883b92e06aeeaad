"""The documents of qualifications and authorization letters (docs/compliance.md
"Document uploads"): the upload policy GetQualificationOssInfo answers, its check when the
upload arrives, the file types taken (by content), and the rule that a document reference
names a file the account uploaded.

A policy is OSS's POST policy (base64 of a JSON document with `expiration` and
`conditions`), signed as OSS signs it, `base64(HMAC-SHA1(secret, policy))`. The secret is
the account's own upload secret, derived from the platform's upload key (itself derived from
the master key, `UploadConfig.secret`): never a tenant's AccessKey secret. The policy binds
the account's key prefix (`StartPath`, `qualification/<account id>/`), a size range and an
expiry; the upload endpoint (`api/aliyun/uploads.py`) checks all three before it keeps a
byte, then this module's `sniff` decides the file's type from its first bytes.

What is kept is recorded by the store (`DocumentStore`), and the actions that take document
references (SubmitSmsQualification, UpdateSmsQualification, CreateSmsAuthorizationLetter)
accept only keys the account uploaded (`reference_problem`, `DocumentStore.uploaded`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import orjson

from yizhan.domain.errors import Refusal
from yizhan.domain.model import AccountId

UPLOAD_PATH = "/v1/uploads/qualification"
"""Where documents are POSTed, in the form of OSS's PostObject (`Host` answers its URL)."""
BIZ_TYPE = "dysms"
"""GetQualificationOssInfo's one BizType: documents of qualifications and letters."""
ACCESS_KEY_PREFIX = "yizhan-upload-"
"""The `OSSAccessKeyId` of a policy: this prefix and the account's id."""

TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
         ".gif": "image/gif", ".pdf": "application/pdf"}
"""The file types taken, by the key's suffix: the SDK's jpg, jpeg, png and gif for photos,
and PDF for licences and other files. The content must be of the suffix's type."""
MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"),
         (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"), (b"%PDF-", "application/pdf"))
SNIFF_BYTES = 8
"""How many first bytes `sniff` needs."""
KEY = re.compile(r"[A-Za-z0-9_\-./]{1,255}")
"""A key (and a document reference): letters, digits and `_-./` (the SDK: no Chinese or
special characters in file names)."""


def sniff(head: bytes) -> str | None:
    """The type of a file from its first bytes (`SNIFF_BYTES`); None: not one taken."""
    return next((kind for magic, kind in MAGIC if head.startswith(magic)), None)


def start_path(account_id: AccountId) -> str:
    """The key prefix of the account's documents (GetQualificationOssInfo's StartPath)."""
    return f"qualification/{account_id}/"


def key_problem(key: str, account_id: AccountId) -> str | None:
    """Why `key` cannot name a document of the account; None when it can."""
    if not KEY.fullmatch(key):
        return f"{key!r}: a key is 1 to 255 letters, digits and _-./"
    if key.startswith("/") or ".." in key.split("/") or "//" in key or key.endswith("/"):
        return f"{key!r}: no absolute path, no .. and no empty part"
    if not key.startswith(start_path(account_id)):
        return f"{key!r} is not under the account's StartPath {start_path(account_id)}"
    if Path(key).suffix.lower() not in TYPES:
        return f"{key!r}: the name must end in {', '.join(TYPES)}"
    return None


def reference_problem(reference: str, account_id: AccountId,
                      uploaded: Collection[str]) -> str | None:
    """Why a document reference of an action is refused: not a key of the account's, or
    not uploaded (`uploaded`: the account's keys among those referenced)."""
    problem = key_problem(reference, account_id)
    if problem is not None:
        return problem
    return None if reference in uploaded else f"{reference!r} was not uploaded by this account"


class DocumentFiles(Protocol):
    """Where uploaded files are kept (the data folder, `storage/documents.py`)."""

    def incoming(self) -> Path:
        """A new, empty file (0600) to receive an upload."""
        ...

    def keep(self, incoming: Path, account_id: AccountId, suffix: str) -> str:
        """Move a received file into the account's folder; its name there."""
        ...

    def discard(self, incoming: Path) -> None: ...

    def drop(self, account_id: AccountId, name: str) -> None:
        """Remove a kept file that could not be recorded."""
        ...

    def kept(self, account_id: AccountId, name: str) -> Path:
        """The file `keep` named `name` (the operator's review reads it)."""
        ...


class DocumentStore(Protocol):
    """The record of uploaded documents."""

    async def record_document(self, account_id: AccountId, key: str, file: str, size: int,
                              content_type: str, sha256: str, now: datetime) -> bool:
        """False when the account has a document of that key already."""
        ...

    async def documents_uploaded(self, account_id: AccountId,
                                 keys: Collection[str]) -> set[str]:
        """Those of `keys` the account uploaded."""
        ...


@dataclass(frozen=True, slots=True)
class UploadConfig:
    """The upload settings of the API (built by the composition root)."""

    secret: bytes
    """The platform's upload key (derived from the master key); never logged."""
    files: DocumentFiles
    host: str | None
    """The URL of the upload endpoint as clients reach it (GetQualificationOssInfo's Host);
    None: the one of the Host header of the request asking for a policy."""
    max_bytes: int = 5 * 1024 * 1024
    policy_seconds: float = 900.0
    max_fields: int = 32


def account_secret(root: bytes, account_id: AccountId) -> bytes:
    """The account's upload secret: the policies of one account never sign for another."""
    return hmac.new(root, f"qualification-upload:{account_id}".encode(), hashlib.sha256).digest()


def sign(secret: bytes, policy: str) -> str:
    """OSS's POST signature (V1): base64(HMAC-SHA1(secret, base64 policy))."""
    return base64.b64encode(hmac.new(secret, policy.encode(), hashlib.sha1).digest()).decode()


@dataclass(frozen=True, slots=True)
class PostPolicy:
    """What GetQualificationOssInfo answers (its `Data`)."""

    access_key_id: str
    policy: str
    signature: str
    host: str
    start_path: str
    expire: int
    """Seconds since the epoch."""

    def wire(self) -> dict[str, Any]:
        return {"AccessKeyId": self.access_key_id, "Policy": self.policy,
                "Signature": self.signature, "Host": self.host,
                "StartPath": self.start_path, "Expire": self.expire}


def issue(config: UploadConfig, account_id: AccountId, now: datetime,
          host: str) -> PostPolicy:
    """A policy letting the account upload under its StartPath until it expires."""
    expires = now.astimezone(UTC) + timedelta(seconds=config.policy_seconds)
    document = {"expiration": expires.strftime("%Y-%m-%dT%H:%M:%S.000Z"), "conditions": [
        ["starts-with", "$key", start_path(account_id)],
        ["content-length-range", 1, config.max_bytes]]}
    policy = base64.b64encode(orjson.dumps(document)).decode()
    return PostPolicy(f"{ACCESS_KEY_PREFIX}{account_id}", policy,
                      sign(account_secret(config.secret, account_id), policy), host,
                      start_path(account_id), int(expires.timestamp()))


@dataclass(frozen=True, slots=True)
class Granted:
    """An upload the policy allows: whose, which key, and the size range of its file."""

    account_id: AccountId
    key: str
    min_bytes: int
    max_bytes: int


def denied(detail: str) -> Refusal:
    return Refusal("AccessDenied", f"Invalid according to Policy: {detail}")


def check(config: UploadConfig, fields: Mapping[str, str], now: datetime) -> Granted | Refusal:
    """The form fields of an upload (before its file) against its signed policy."""
    for name in ("key", "OSSAccessKeyId", "policy", "Signature"):
        if not fields.get(name):
            return Refusal("MalformedPOSTRequest", f"the form has no {name} field")
    access_key = fields["OSSAccessKeyId"]
    number = access_key.removeprefix(ACCESS_KEY_PREFIX)
    if not access_key.startswith(ACCESS_KEY_PREFIX) or not number.isdigit():
        return Refusal("InvalidAccessKeyId", access_key)
    account_id = AccountId(int(number))
    expected = sign(account_secret(config.secret, account_id), fields["policy"])
    if not hmac.compare_digest(expected.encode(), fields["Signature"].encode()):
        return Refusal("SignatureDoesNotMatch", "the policy's Signature")
    try:
        document = orjson.loads(base64.b64decode(fields["policy"], validate=True))
        expires = datetime.fromisoformat(document["expiration"].replace("Z", "+00:00"))
        conditions = list(document["conditions"])
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return Refusal("MalformedPOSTRequest", "the policy is not a POST policy")
    if now >= expires:
        return denied("Policy expired.")
    granted = _conditions(conditions, fields, account_id)
    if isinstance(granted, Refusal):
        return granted
    # a policy given before upload_max_bytes was lowered takes no more than the setting
    return replace(granted, max_bytes=min(granted.max_bytes, config.max_bytes))


def _conditions(conditions: list[Any], fields: Mapping[str, str],
                account_id: AccountId) -> Granted | Refusal:
    """The conditions of a policy Yizhan signed: the key prefix, the size range."""
    low, high = 0, 0
    for condition in conditions:
        match condition:
            case ["starts-with", "$key", str(prefix)]:
                if not fields["key"].startswith(prefix):
                    return denied(f'Policy Condition failed: ["starts-with", "$key", "{prefix}"]')
            case ["content-length-range", int(low), int(high)]:
                pass
            case _:
                return denied(f"unknown condition {condition!r}")
    if not high:
        return denied("no content-length-range")
    problem = key_problem(fields["key"], account_id)
    if problem is not None:
        return Refusal("InvalidObjectName", problem)
    return Granted(account_id, fields["key"], max(low, 1), high)


async def reference_problems(store: DocumentStore, account_id: AccountId,
                             references: Collection[str]) -> list[str]:
    """What is wrong with the document references an action was given: each must be the
    key of a file the account uploaded (`isv.DOCUMENT_NOT_UPLOADED`)."""
    if not references:
        return []
    uploaded = await store.documents_uploaded(account_id, references)
    found = (reference_problem(r, account_id, uploaded) for r in sorted(set(references)))
    return [p for p in found if p]
