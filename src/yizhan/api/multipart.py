"""A multipart/form-data body with one file, read as it streams (the send tasks' upload,
`POST /v1/tasks`; docs/tasks.md "REST"), and the part-header callbacks both uploads share
(`PartHeaders`: `aliyun/uploads.py` reads OSS's form with them).

python-multipart parses the body chunk by chunk: the small fields are kept (`MAX_FIELD_BYTES`
each, `MAX_FIELDS` in all), the file part goes straight to an anonymous temporary file
(created 0600 and gone when closed), and the body as a whole is counted against a limit:
nothing of the body is held in memory beyond one chunk and the small fields. The caller
reads the temporary file and closes it.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header

from yizhan.domain.errors import Refusal

FORM_OVERHEAD = 64 * 1024
"""What the form may add to the file: its fields, boundaries and part headers."""
MAX_FIELD_BYTES = 8 * 1024
"""The largest form field (an OSS policy is about 300 bytes, a task's `params` a few)."""
MAX_FIELDS = 16


class _Stop(Exception):
    pass


class PartHeaders:
    """python-multipart's callbacks for the parts' headers, shared by the uploads (this
    module's `Form`, `aliyun/uploads.py`): a part's headers are gathered, then
    `part_started` is told the part's name and the options of its Content-Disposition."""

    _field: bytes = b""
    _value: bytes = b""
    _headers: dict[bytes, bytes] | None = None

    def part_begun(self) -> None:
        """A new part begins (before its headers)."""

    def part_started(self, name: str, options: dict[bytes, bytes]) -> None:
        """The part's headers are read; its data follows."""

    def on_part_begin(self) -> None:
        self._headers = {}
        self.part_begun()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        assert self._headers is not None
        self._headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header((self._headers or {}).get(
            b"content-disposition", b""))
        self.part_started(options.get(b"name", b"").decode("utf-8", "replace"), options)

    def callbacks(self) -> dict[str, object]:
        """The callbacks `MultipartParser` takes, bound to this reader."""
        names = ("on_part_begin", "on_header_field", "on_header_value", "on_header_end",
                 "on_headers_finished", "on_part_data", "on_part_end", "on_end")
        return {name: getattr(self, name) for name in names if hasattr(self, name)}


@dataclass
class Form(PartHeaders):
    """The fields of the form and its one file (None: the form had no file part)."""

    fields: dict[str, str] = field(default_factory=dict)
    file: IO[bytes] | None = None
    file_name: str = ""
    file_bytes: int = 0
    refusal: Refusal | None = None
    complete: bool = False
    """The closing boundary was read."""
    _part: str = ""
    _is_file: bool = False
    _buffer: bytearray = field(default_factory=bytearray)

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None

    def _stop(self, refusal: Refusal) -> _Stop:
        self.refusal = refusal
        return _Stop(refusal.code)

    # python-multipart's callbacks

    def part_begun(self) -> None:
        self._part, self._is_file = "", False
        self._buffer.clear()

    def part_started(self, name: str, options: dict[bytes, bytes]) -> None:
        self._part = name
        self._is_file = name == "file"
        if self._is_file:
            if self.file is not None:
                raise self._stop(Refusal("InvalidParameter", "more than one file part"))
            self.file_name = options.get(b"filename", b"").decode("utf-8", "replace")
            self.file = tempfile.TemporaryFile()  # closed by `close`

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            assert self.file is not None
            self.file.write(data[start:end])
            self.file_bytes += end - start
            return
        self._buffer += data[start:end]
        if len(self._buffer) > MAX_FIELD_BYTES:
            raise self._stop(Refusal("InvalidParameter",
                                     f"the field {self._part} has more than "
                                     f"{MAX_FIELD_BYTES} bytes", self._part))

    def on_part_end(self) -> None:
        if self._is_file:
            return
        if len(self.fields) >= MAX_FIELDS:
            raise self._stop(Refusal("InvalidParameter", "too many form fields"))
        self.fields[self._part] = self._buffer.decode("utf-8", "replace")

    def on_end(self) -> None:
        self.complete = True


def boundary_of(content_type: str) -> bytes | None:
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    return boundary if kind == b"multipart/form-data" and boundary else None


async def read_form(boundary: bytes, chunks: AsyncIterator[bytes], limit: int,
                    too_large: Refusal) -> Form:
    """Parse the body of `chunks`; past `limit` bytes, `too_large`. On a refusal
    (`Form.refusal`) the temporary file is closed already and the rest is not read."""
    form = Form()
    parser = MultipartParser(boundary, form.callbacks())  # type: ignore[arg-type]
    seen = 0
    try:
        async for chunk in chunks:
            seen += len(chunk)
            if seen > limit:
                form.refusal = too_large
                break
            parser.write(chunk)
        else:
            parser.finalize()
            if not form.complete:
                form.refusal = Refusal("InvalidParameter", "the form ended early")
    except _Stop:
        pass
    except ValueError as exc:  # python-multipart's errors of form
        form.refusal = Refusal("InvalidParameter", f"a malformed form: {str(exc)[:200]}")
    if form.refusal is not None:
        form.close()
    return form
