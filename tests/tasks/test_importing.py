"""Import of number files: CSV, TXT and XLSX read streaming, numbers normalised as the API
does, duplicates removed, rejected rows kept with their line numbers, limits refused."""

from __future__ import annotations

import io

import orjson
import pytest
from openpyxl import Workbook

from yizhan.domain.tasks import RejectedRow
from yizhan.tasks.importing import FileRefused, Limits, read_file

LIMITS = Limits(max_bytes=3 * 1024 * 1024, max_numbers=500_000)


def read(data: bytes, name: str, variables: tuple[str, ...] = (), fixed: tuple[str, ...] = (),
         limits: Limits = LIMITS):  # type: ignore[no-untyped-def]
    return read_file(io.BytesIO(data), name, variables, fixed, limits)


def refused(data: bytes, name: str, **kw: object) -> str:
    with pytest.raises(FileRefused) as caught:
        read(data, name, **kw)  # type: ignore[arg-type]
    return f"{caught.value.refusal.code} {caught.value.refusal.detail}"


def test_txt_one_number_per_line_normalised_like_the_api() -> None:
    data = "13800138000\n+8613900139000\n\n0086 13700137000\n85291234567\n0013125550123\n"
    out = read(data.encode(), "list.txt")
    assert [r.phone for r in out.rows] == ["+8613800138000", "+8613900139000",
                                           "+85291234567", "+13125550123"]
    assert [r.line for r in out.rows] == [1, 2, 5, 6]
    assert out.rejected == [RejectedRow(4, "0086 13700137000", "invalid number")]


def test_csv_header_number_column_and_variable_columns() -> None:
    data = ("name,手机号,order\n张三,13800138000,A1\n李四,13800138000,A2\n王五,12345,A3\n"
            "赵六,13900139000,\n")
    out = read(data.encode(), "x.csv", variables=("order",))
    assert [(r.line, r.phone, orjson.loads(r.params)) for r in out.rows] == [
        (2, "+8613800138000", {"order": "A1"})]
    assert out.rejected == [RejectedRow(3, "13800138000", "duplicate of line 2"),
                            RejectedRow(4, "12345", "invalid number"),
                            RejectedRow(5, "13900139000", "no value for ${order}")]
    assert out.duplicates == 1 and out.columns == ("order",)


def test_csv_without_header_and_gb18030() -> None:
    data = "13800138000,甲\n13900139000,乙\n".encode("gb18030")
    out = read(data, "x.CSV")
    assert [r.phone for r in out.rows] == ["+8613800138000", "+8613900139000"]


def test_a_variable_with_neither_value_nor_column_refuses_the_file() -> None:
    assert refused(b"phone\n13800138000\n", "x.csv",
                   variables=("order",)) == "isv.TASK_MISSING_VARIABLE order"
    out = read(b"phone\n13800138000\n", "x.csv", variables=("order",), fixed=("order",))
    assert out.rows[0].params == ""


def test_xlsx_numbers_typed_as_numbers_or_text() -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["phone", "code"])
    sheet.append([13800138000, 1234])
    sheet.append(["+8613900139000", "x"])
    sheet.append(["bad", "y"])
    buffer = io.BytesIO()
    book.save(buffer)
    out = read(buffer.getvalue(), "book.xlsx", variables=("code",))
    assert [(r.line, r.phone, r.params) for r in out.rows] == [
        (2, "+8613800138000", '{"code":"1234"}'), (3, "+8613900139000", '{"code":"x"}')]
    assert out.rejected == [RejectedRow(4, "bad", "invalid number")]


def test_limits_and_unreadable_files() -> None:
    ten = "".join(f"1380013{i:04d}\n" for i in range(10)).encode()
    assert refused(ten, "x.txt", limits=Limits(max_bytes=50, max_numbers=100)).startswith(
        "isv.TASK_FILE_TOO_LARGE")
    assert refused(ten, "x.txt", limits=Limits(max_bytes=1000, max_numbers=9)).startswith(
        "isv.TASK_TOO_MANY_NUMBERS")
    assert len(read(ten, "x.txt", limits=Limits(max_bytes=len(ten), max_numbers=10)).rows) == 10
    assert refused(b"PK\x03\x04junk", "x.xlsx").startswith("isv.TASK_FILE_UNREADABLE")
    assert refused(b"13800138000", "x.doc").startswith("isv.TASK_FILE_UNREADABLE")


def test_a_first_row_with_a_digit_is_data_not_a_header() -> None:
    out = read(b"12345,x\n13800138000,y\n", "x.csv")
    assert [r.phone for r in out.rows] == ["+8613800138000"]
    assert out.rejected == [RejectedRow(1, "12345", "invalid number")]
