"""Import: a number file becomes a task's rows and its rejected rows (docs/tasks.md).

Consumes the file's bytes as a stream (CSV, TXT with one number per line, or XLSX read with
openpyxl's read-only reader, a row at a time; the zip container itself needs random access,
so an XLSX file, at most the size limit, is held in memory) and the template's variables.
Decides per row: the number in the E.164 form the API gives it (`policy/numbers.normalize`,
the very function intake's `numbers.format` rule runs), the values of the variables read
from columns, or a rejection with its line number and reason (unreadable number, missing
value, duplicate of an earlier line). The rows go to the store (`tasks/service.py`);
nothing is sent here.

Limits (settings): the file's size is counted as it is read, and the rows are counted, so a
file over either limit is refused without being read to its end. Memory grows with the rows
kept, so it is bounded by the file's size.

Layout: a CSV or XLSX file whose first row holds no digit has a header: the number column is
the one named `phone` (or `mobile`, `number`, `PhoneNumbers`, `手机号`, `手机号码`, `号码`),
else the first; a variable's column is the one named as the variable. Without a header the
number is the first column and variables can only be given one value for all. A TXT file is
one number per line.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

import orjson

from yizhan.domain.errors import Refusal
from yizhan.domain.model import PhoneNumber
from yizhan.domain.tasks import Imported, RejectedRow, TaskRow
from yizhan.policy.numbers import normalize

NUMBER_HEADERS = frozenset({"phone", "phones", "mobile", "number", "phonenumber",
                            "phonenumbers", "phone_number", "手机号", "手机号码", "号码",
                            "电话", "手机"})
FORMATS = ("csv", "txt", "xlsx")
_SNIFF = 64 * 1024
_VALUE_MAX = 64


class FileRefused(Exception):
    """The whole file is refused (too large, too many rows, unreadable): carries the refusal."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message())
        self.refusal = refusal


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int = 3 * 1024 * 1024
    max_numbers: int = 500_000


class _Counted(io.RawIOBase):
    """A binary stream that refuses to give more than `limit` bytes."""

    def __init__(self, raw: IO[bytes], limit: int) -> None:
        self._raw = raw
        self._left = limit
        self._limit = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(min(len(buffer), self._left + 1))
        if len(data) > self._left:
            raise FileRefused(Refusal("isv.TASK_FILE_TOO_LARGE",
                                      f"more than {self._limit} bytes"))
        self._left -= len(data)
        buffer[:len(data)] = data
        return len(data)


def format_of(file_name: str) -> str:
    """`csv`, `txt` or `xlsx` from the file's name; refused otherwise."""
    suffix = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    if suffix not in FORMATS:
        raise FileRefused(Refusal("isv.TASK_FILE_UNREADABLE",
                                  f"{file_name[:64]!r}: not a .csv, .txt or .xlsx file"))
    return suffix


def read_file(stream: IO[bytes], file_name: str, variables: Sequence[str],
              fixed: Iterable[str], limits: Limits) -> Imported:
    """Read `stream` (the file named `file_name`) into rows. `variables` are the template's,
    `fixed` those given one value for all; the others must be columns. Raises `FileRefused`
    for a file refused as a whole."""
    kind = format_of(file_name)
    counted = io.BufferedReader(_Counted(stream, limits.max_bytes), 1 << 16)
    if kind == "xlsx":  # a zip needs random access: the (bounded) file is held in memory
        table = _xlsx_rows(io.BytesIO(counted.read()))
    else:
        text = _text(counted)
        table = ([line.rstrip("\r\n")] for line in text) if kind == "txt" else csv.reader(text)
    wanted = [v for v in variables if v not in set(fixed)]
    return _rows(table, kind != "txt", wanted, limits.max_numbers)


def _text(stream: io.BufferedReader[Any]) -> IO[str]:
    """The stream decoded as UTF-8 (a BOM allowed), or GB18030 when its start is not UTF-8
    (Excel's CSV export on a Chinese Windows)."""
    head = stream.peek(_SNIFF)[:_SNIFF]
    encoding = "utf-8-sig"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        encoding = "gb18030"
    return io.TextIOWrapper(stream, encoding=encoding, newline="")


def _xlsx_rows(stream: IO[bytes]) -> Iterator[list[str]]:
    from openpyxl import load_workbook  # imported when an .xlsx comes, not at start-up

    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except FileRefused:
        raise
    except Exception as error:  # openpyxl raises many kinds for a file that is no xlsx
        raise FileRefused(Refusal("isv.TASK_FILE_UNREADABLE",
                                  f"not an .xlsx workbook ({type(error).__name__})")) from None
    try:
        sheet = book.worksheets[0]
        for values in sheet.iter_rows(values_only=True):
            yield [_cell(v) for v in values]
    finally:
        book.close()


def _cell(value: object) -> str:
    """A cell as text: a number typed into Excel comes as an int or a float."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _rows(table: Iterable[list[str]], headed: bool, wanted: Sequence[str],
          max_numbers: int) -> Imported:
    out = Imported()
    seen: dict[PhoneNumber, int] = {}
    rows, rejected = out.rows, out.rejected
    column, variable_columns = 0, dict[str, int]()
    line = 0
    try:
        for line, cells in enumerate(table, 1):
            if line == 1 and headed and _is_header(cells):
                column, variable_columns = _header(cells, wanted)
                out.columns = tuple(variable_columns)
                continue
            raw = cells[column].strip() if len(cells) > column else ""
            if not raw and not any(c.strip() for c in cells):
                continue  # blank lines are no rows
            if len(rows) + len(rejected) >= max_numbers:
                raise FileRefused(Refusal("isv.TASK_TOO_MANY_NUMBERS",
                                          f"more than {max_numbers} rows"))
            number = normalize(raw)
            if isinstance(number, Refusal):
                rejected.append(RejectedRow(line, raw[:_VALUE_MAX], "invalid number"))
                continue
            first = seen.get(number)
            if first is not None:
                out.duplicates += 1
                rejected.append(RejectedRow(line, raw[:_VALUE_MAX], f"duplicate of line {first}"))
                continue
            params, missing = _params(cells, variable_columns)
            if missing:
                rejected.append(RejectedRow(line, raw[:_VALUE_MAX], f"no value for ${{{missing}}}"))
                continue
            seen[number] = line
            rows.append(TaskRow(len(rows), line, number, params))
    except (UnicodeDecodeError, csv.Error) as error:
        raise FileRefused(Refusal("isv.TASK_FILE_UNREADABLE",
                                  f"line {line + 1}: {type(error).__name__}")) from None
    if wanted and not out.columns:  # no header: nothing names the variables' columns
        raise FileRefused(Refusal("isv.TASK_MISSING_VARIABLE", wanted[0]))
    return out


def _is_header(cells: list[str]) -> bool:
    """A first row is a header when no cell of it holds a digit ("phone,order"); a first
    row of data always has its number ("12345" too, rejected as a row like the others)."""
    return bool(cells) and not any(ch.isdigit() for cell in cells for ch in cell)


def _header(cells: list[str], wanted: Sequence[str]) -> tuple[int, dict[str, int]]:
    names = [c.strip() for c in cells]
    lowered = [n.lower() for n in names]
    column = next((i for i, n in enumerate(lowered) if n in NUMBER_HEADERS), 0)
    found = {}
    for variable in wanted:
        if variable not in names:
            raise FileRefused(Refusal("isv.TASK_MISSING_VARIABLE", variable))
        found[variable] = names.index(variable)
    return column, found


def _params(cells: list[str], columns: dict[str, int]) -> tuple[str, str]:
    """The row's values of the column variables as JSON, or the first one missing."""
    if not columns:
        return "", ""
    values = {}
    for name, index in columns.items():
        value = cells[index].strip() if len(cells) > index else ""
        if not value:
            return "", name
        values[name] = value
    return orjson.dumps(values).decode(), ""
