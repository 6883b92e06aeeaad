"""The upload endpoint of qualification documents (`POST /v1/uploads/qualification`), in the
form of OSS's PostObject: what GetQualificationOssInfo's `Host` names (docs/compliance.md
"Document uploads", docs/security.md "Document uploads").

A multipart/form-data POST whose fields are OSS's (`key`, `OSSAccessKeyId`, `policy`,
`Signature`, `success_action_status`, then `file`, the last one read) is parsed as it
streams, with python-multipart: the fields before the file are bounded (`MAX_FIELD_BYTES`
each, `UploadConfig.max_fields` in all), the policy is checked (`compliance.documents.check`:
signature, expiry, the key under the account's StartPath) before a byte of the file is kept,
and the file goes to a temporary file of the data folder as it arrives, counted against the
policy's size range: nothing of the body is held in memory beyond one chunk and the small
fields. The body as a whole is bounded by `max_bytes` plus `FORM_OVERHEAD` (its own limit:
the API's `max_body_bytes` is for RPC and REST). The file's type is decided from its first
bytes and must be the one of the key's suffix; then the file moves into the account's
folder and is recorded (a key is written once). The answer is OSS's: `success_action_status`
(200, 201 with a `PostResponse`, or 204, the default) or an XML `Error`.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO
from xml.sax.saxutils import escape

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.types import Receive, Scope

from yizhan.api.aliyun.endpoint import Reply
from yizhan.api.errors import language_of, log_unexpected, request_id
from yizhan.api.limits import HttpLimits, check_head
from yizhan.api.multipart import FORM_OVERHEAD, MAX_FIELD_BYTES, PartHeaders
from yizhan.api.services import ApiServices
from yizhan.compliance import documents
from yizhan.compliance.documents import Granted, UploadConfig
from yizhan.domain.errors import Refusal

log = logging.getLogger("yizhan.api.uploads")

FIELDS = {"key": "key", "policy": "policy", "ossaccesskeyid": "OSSAccessKeyId",
          "signature": "Signature", "success_action_status": "success_action_status"}
"""OSS's field names are case-insensitive: the names the policy check reads."""
SUCCESS = frozenset({"200", "201", "204"})
BUCKET = "yizhan"
XML = b"application/xml"


class Stop(Exception):
    """A refusal while parsing: the rest of the body is not parsed (`_stream`)."""


@dataclass
class Receiving(PartHeaders):
    """One upload as it streams: the fields so far, then the file."""

    config: UploadConfig
    services: ApiServices
    fields: dict[str, str] = field(default_factory=dict)
    part_name: str = ""
    part_file: bool = False
    buffer: bytearray = field(default_factory=bytearray)
    granted: Granted | None = None
    path: Path | None = None
    out: BinaryIO | None = None
    size: int = 0
    head: bytes = b""
    done: bool = False
    refusal: Refusal | None = None
    md5: hashlib._Hash = field(default_factory=hashlib.md5)
    sha256: hashlib._Hash = field(default_factory=hashlib.sha256)

    def stop(self, refusal: Refusal) -> Stop:
        self.refusal = refusal
        return Stop(refusal.code)

    # python-multipart's callbacks

    def part_begun(self) -> None:
        self.part_name, self.part_file = "", False
        self.buffer.clear()

    def part_started(self, name: str, options: dict[bytes, bytes]) -> None:
        self.part_name = name
        self.part_file = self.part_name.lower() == "file" and not self.done
        if self.part_file:
            self.begin_file()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part_file:
            self.write(data[start:end])
        elif not self.done:
            self.buffer += data[start:end]
            if len(self.buffer) > MAX_FIELD_BYTES:
                raise self.stop(Refusal("MalformedPOSTRequest",
                                        f"the field {self.part_name} is too long"))

    def on_part_end(self) -> None:
        if self.part_file:
            self.done = True
        elif not self.done:  # OSS reads nothing after the file
            if len(self.fields) >= self.config.max_fields:
                raise self.stop(Refusal("MalformedPOSTRequest", "too many form fields"))
            name = FIELDS.get(self.part_name.lower(), self.part_name)
            self.fields[name] = self.buffer.decode("utf-8", "replace")

    # the file

    def begin_file(self) -> None:
        granted = documents.check(self.config, self.fields, self.services.clock.now())
        if isinstance(granted, Refusal):
            raise self.stop(granted)
        status = self.fields.get("success_action_status", "204") or "204"
        if status not in SUCCESS:
            raise self.stop(Refusal("MalformedPOSTRequest",
                                    "success_action_status must be 200, 201 or 204"))
        self.granted = granted
        self.path = self.config.files.incoming()
        self.out = self.path.open("wb")

    def write(self, chunk: bytes) -> None:
        assert self.granted is not None and self.out is not None
        self.size += len(chunk)
        if self.size > self.granted.max_bytes:
            raise self.stop(Refusal("EntityTooLarge",
                                    f"more than {self.granted.max_bytes} bytes"))
        if len(self.head) < documents.SNIFF_BYTES:
            self.head += chunk[:documents.SNIFF_BYTES - len(self.head)]
        self.md5.update(chunk)
        self.sha256.update(chunk)
        self.out.write(chunk)

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None

    def checked(self) -> Refusal | str:
        """After the body: the refusal, or the content type of a file that may be kept."""
        if self.granted is None or not self.done:
            return Refusal("MalformedPOSTRequest", "the form has no file field")
        if self.size < self.granted.min_bytes:
            return Refusal("EntityTooSmall", f"{self.size} bytes")
        kind = documents.sniff(self.head)
        wanted = documents.TYPES[PurePosixPath(self.granted.key).suffix.lower()]
        if kind != wanted:
            return Refusal("InvalidDocumentType",
                           f"the content is {kind or 'of no type taken'}, the key names "
                           f"{wanted}")
        return kind


async def upload(services: ApiServices, config: UploadConfig, scope: Scope,
                 receive: Receive) -> Reply:
    """Receive one upload; the answer, in OSS's shape."""
    rid = request_id()
    limits = HttpLimits(config.max_bytes + FORM_OVERHEAD, services.limits.max_header_bytes)
    refusal, _ = check_head(scope, limits)
    if refusal is not None:
        return refuse(services, scope, rid, Refusal("EntityTooLarge", refusal.detail)
                      if refusal.code == "RequestTooLarge" else refusal)
    headers = dict(scope["headers"])
    kind, options = parse_options_header(headers.get(b"content-type", b""))
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        return refuse(services, scope, rid, Refusal(
            "MalformedPOSTRequest", "the body must be multipart/form-data"))
    receiving = Receiving(config, services)
    parser = MultipartParser(options[b"boundary"],
                             receiving.callbacks())  # type: ignore[arg-type]
    try:
        if not await _stream(receiving, parser, receive, limits.max_body_bytes):
            return refuse(services, scope, rid, receiving.refusal or Refusal(
                "MalformedPOSTRequest", "the body ended early"))
        return await _keep(services, config, scope, rid, receiving)
    except Exception as exc:  # a bug or a full disk: logged, answered, nothing kept
        log_unexpected(exc, rid, f"POST {documents.UPLOAD_PATH}")
        return refuse(services, scope, rid, Refusal("InternalError"))
    finally:
        receiving.close()
        if receiving.path is not None and receiving.path.exists():
            config.files.discard(receiving.path)


async def _stream(receiving: Receiving, parser: MultipartParser, receive: Receive,
                  limit: int) -> bool:
    """Feed the body to the parser; False when it was refused or ended early. A refusal
    within the body's bound reads (and drops) the rest of the body first, so that the
    client, still sending, gets the answer rather than a reset connection; past the bound
    nothing more is read."""
    seen = 0
    refused = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return False
        chunk = message.get("body", b"")
        seen += len(chunk)
        if seen > limit:
            receiving.refusal = Refusal("EntityTooLarge", f"a body of more than {limit} bytes")
            return False
        if not refused:
            try:
                parser.write(chunk)
            except Stop:
                refused = True
            except ValueError as exc:  # python-multipart's errors of form
                receiving.refusal = Refusal("MalformedPOSTRequest", str(exc)[:200])
                refused = True
        if not message.get("more_body", False):
            if refused:
                return False
            parser.finalize()
            return True


async def _keep(services: ApiServices, config: UploadConfig, scope: Scope, rid: str,
                receiving: Receiving) -> Reply:
    kind = receiving.checked()
    if isinstance(kind, Refusal):
        return refuse(services, scope, rid, kind)
    granted, path = receiving.granted, receiving.path
    assert granted is not None and path is not None
    receiving.close()
    suffix = PurePosixPath(granted.key).suffix.lower()
    name = config.files.keep(path, granted.account_id, suffix)
    receiving.path = None
    try:
        recorded = await services.store.record_document(
            granted.account_id, granted.key, name, receiving.size, kind,
            receiving.sha256.hexdigest(), services.clock.now())
    except BaseException:  # no record, no file
        config.files.drop(granted.account_id, name)
        raise
    if not recorded:
        config.files.drop(granted.account_id, name)
        return refuse(services, scope, rid, Refusal("FileAlreadyExists", granted.key))
    log.info("document uploaded: account %s key %s (%s, %d bytes)", granted.account_id,
             granted.key, kind, receiving.size)
    etag = f'"{receiving.md5.hexdigest().upper()}"'
    status = int(receiving.fields.get("success_action_status") or "204")
    body = b""
    if status == 201:
        request_host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        host = config.host or f"http://{request_host}{documents.UPLOAD_PATH}"
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<PostResponse>'
                f"<Bucket>{BUCKET}</Bucket><Location>{escape(host)}/"
                f"{escape(granted.key)}</Location><Key>{escape(granted.key)}</Key>"
                f"<ETag>{escape(etag)}</ETag></PostResponse>").encode()
    return Reply(status, body, {"etag": etag, "x-oss-request-id": rid})


def refuse(services: ApiServices, scope: Scope, rid: str, refusal: Refusal) -> Reply:
    """OSS's error answer; the connection is closed (a body past its bound is not read to
    its end)."""
    headers = {name.lower(): value for name, value in scope["headers"]}
    lang = language_of(headers.get(b"accept-language", b"").decode("latin-1"),
                       services.default_language)
    host = headers.get(b"host", b"").decode("latin-1")
    log.info("upload refused: %s %s", refusal.code, refusal.detail)
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{refusal.code}</Code>'
            f"<Message>{escape(refusal.message(lang))}</Message><RequestId>{rid}</RequestId>"
            f"<HostId>{escape(host)}</HostId></Error>").encode()
    return Reply(refusal.error.http_status, body,
                 {"x-oss-request-id": rid, "connection": "close"})
