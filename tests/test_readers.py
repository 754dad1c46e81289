"""Tests for the CSV readers: accepted formats, reject reasons, whole-file errors, robustness."""

from __future__ import annotations

import gzip
import io
import re
import tempfile
import zoneinfo
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path
from unittest.mock import patch

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from storestatus import readers, schemas
from storestatus.errors import InputError
from storestatus.readers import (
    HOURS_REJECTS_SCHEMA,
    STATUS_REJECTS_SCHEMA,
    TIMEZONES_REJECTS_SCHEMA,
    ParsedInput,
    read_hours_csv,
    read_status_csv,
    read_timezones_csv,
)
from storestatus.timestamps import parse_timestamps

Reader = Callable[[str | Path | bytes], ParsedInput]

STATUS_HEADER = "store_id,status,timestamp_utc"
HOURS_HEADER = "store_id,day,start_time_local,end_time_local"
TZ_HEADER = "store_id,timezone_str"

OBSERVATIONS = schemas.OBSERVATIONS_SCHEMA
READERS: list[tuple[Reader, pl.Schema, pl.Schema]] = [
    (read_status_csv, schemas.OBSERVATIONS_SCHEMA, STATUS_REJECTS_SCHEMA),
    (read_hours_csv, schemas.HOURS_SCHEMA, HOURS_REJECTS_SCHEMA),
    (read_timezones_csv, schemas.TIMEZONES_SCHEMA, TIMEZONES_REJECTS_SCHEMA),
]
VALID_FILES: dict[Reader, bytes] = {
    read_status_csv: (
        f"{STATUS_HEADER}\n"
        "8419537941919820732,active,2023-01-22 12:09:39.388884 UTC\n"
        "0042,INACTIVE,2023-01-22T12:09:39Z\n"
        '"a,b",inactive,2023-01-22 12:09:39+05:30\n'
    ).encode(),
    read_hours_csv: (
        f"{HOURS_HEADER}\n1,0,09:00:00,24:00\n0042,6,9:00,17:30:15.5\n\n3,2,00:00,23:59\n"
    ).encode(),
    read_timezones_csv: (
        f"{TZ_HEADER}\n1,America/Chicago\n2,Asia/Kolkata\n3,UTC\n4,America/Denver\n"
    ).encode(),
}


def csv(*lines: str, newline: str = "\n") -> bytes:
    """A file from lines of text (no trailing newline handling surprises: always one at the end)."""
    return (newline.join(lines) + newline).encode()


def check(
    parsed: ParsedInput, reader: Reader, records: int, rejects_schema: pl.Schema | None = None
) -> ParsedInput:
    """The invariants every result must satisfy, whatever the input.

    ``rejects_schema`` is for a header other than the documented one (see ``hours``).
    """
    schema, documented = next((s, r) for rd, s, r in READERS if rd is reader)
    assert parsed.rows.schema == schema
    assert parsed.rejects.schema == (rejects_schema or documented)
    assert parsed.rows.height + parsed.rejects.height + parsed.blank_rows == records
    numbers = parsed.rejects[schemas.ROW_NUMBER].to_list()
    assert numbers == sorted(set(numbers))
    assert all(1 <= n <= records for n in numbers)
    assert parsed.rejects[schemas.REASON].null_count() == 0
    return parsed


def status(*lines: str) -> ParsedInput:
    return check(read_status_csv(csv(STATUS_HEADER, *lines)), read_status_csv, len(lines))


def hours(*lines: str, header: str = HOURS_HEADER) -> ParsedInput:
    parsed = read_hours_csv(csv(header, *lines))
    return check(parsed, read_hours_csv, len(lines), hours_rejects_schema(header))


def hours_rejects_schema(header: str) -> pl.Schema:
    """Rejects name the day column as the file does (the first alias in its header)."""
    names = [name.strip() for name in header.split(",")]
    day = next((alias for alias in schemas.DAY_ALIASES if alias in names), "day")
    return pl.Schema(
        {day if name == "day" else name: dtype for name, dtype in HOURS_REJECTS_SCHEMA.items()}
    )


def zones(*lines: str) -> ParsedInput:
    return check(read_timezones_csv(csv(TZ_HEADER, *lines)), read_timezones_csv, len(lines))


def reasons(parsed: ParsedInput) -> list[tuple[int, str]]:
    return list(parsed.rejects.select(schemas.ROW_NUMBER, schemas.REASON).iter_rows())


def utc(  # noqa: PLR0917
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, us: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, us, tzinfo=UTC)


# --------------------------------------------------------------------------- status file


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-22 12:09:39.388884 UTC", utc(2023, 1, 22, 12, 9, 39, 388884)),
        ("2023-01-22 12:09:39 UTC", utc(2023, 1, 22, 12, 9, 39)),
        ("2023-01-22T12:09:39Z", utc(2023, 1, 22, 12, 9, 39)),
        ("2023-01-22t12:09:39.5z", utc(2023, 1, 22, 12, 9, 39, 500000)),
        ("2023-01-22 12:09:39Z", utc(2023, 1, 22, 12, 9, 39)),
        ("2023-01-22T12:09:39+00:00", utc(2023, 1, 22, 12, 9, 39)),
        ("2023-01-22T12:09:39+0000", utc(2023, 1, 22, 12, 9, 39)),
        ("2023-01-22 12:09:39.25-05:00", utc(2023, 1, 22, 17, 9, 39, 250000)),
        ("2023-01-22T00:09:39.1+0530", utc(2023, 1, 21, 18, 39, 39, 100000)),
        ("2023-01-22 12:09:39 -0800", utc(2023, 1, 22, 20, 9, 39)),
        ("2023-01-22 12:09:39", utc(2023, 1, 22, 12, 9, 39)),
        ("2023-01-22T12:09:39.123", utc(2023, 1, 22, 12, 9, 39, 123000)),
        ("2023-01-22T12:09:39.123456789Z", utc(2023, 1, 22, 12, 9, 39, 123456)),
        ("2023-01-22T12:09:39.999999999+00:00", utc(2023, 1, 22, 12, 9, 39, 999999)),
        ("  2023-01-22 12:09:39 UTC  ", utc(2023, 1, 22, 12, 9, 39)),
        ("2024-02-29 23:59:59 UTC", utc(2024, 2, 29, 23, 59, 59)),
        ("1970-01-01 00:00:00 UTC", utc(1970, 1, 1)),
        ("2100-12-31T23:59:59.999999Z", utc(2100, 12, 31, 23, 59, 59, 999999)),
    ],
)
def test_timestamp_forms(text: str, expected: datetime) -> None:
    parsed = status(f"1,active,{text}")
    assert parsed.rejects.height == 0
    assert parsed.rows[schemas.TIMESTAMP].to_list() == [expected]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2023-01-22 12:09", "unparseable timestamp '2023-01-22 12:09'"),
        ("yesterday", "unparseable timestamp 'yesterday'"),
        ("2023-02-29 00:00:00", "unparseable timestamp '2023-02-29 00:00:00'"),
        ("2023-01-22 24:00:00", "unparseable timestamp '2023-01-22 24:00:00'"),
        ("2023-01-22 12:60:00", "unparseable timestamp '2023-01-22 12:60:00'"),
        ("2023-01-22 12:09:39.", "unparseable timestamp '2023-01-22 12:09:39.'"),
        ("2023-01-22 12:09:39+05", "unparseable timestamp '2023-01-22 12:09:39+05'"),
        ("2023-01-22 12:09:39+05:60", "unparseable timestamp '2023-01-22 12:09:39+05:60'"),
        ("2023-01-22 12:09:39 PST", "unparseable timestamp '2023-01-22 12:09:39 PST'"),
        ("1674389379", "unparseable timestamp '1674389379'"),
        (
            "\uff12\uff10\uff12\uff13-01-22 12:09:39",
            "unparseable timestamp '\uff12\uff10\uff12\uff13-01-22 12:09:39'",
        ),
        ("2023-01-22 12:09:39.\u0665Z", "unparseable timestamp '2023-01-22 12:09:39.\u0665Z'"),
        ("", "empty timestamp_utc"),
        ("1969-12-31 23:59:59 UTC", "timestamp out of range 1970-2100: '1969-12-31 23:59:59 UTC'"),
        (
            "1970-01-01T00:30:00+01:00",
            "timestamp out of range 1970-2100: '1970-01-01T00:30:00+01:00'",
        ),
        ("2101-01-01 00:00:00", "timestamp out of range 1970-2100: '2101-01-01 00:00:00'"),
        ("0000-01-01 00:00:00", "timestamp out of range 1970-2100: '0000-01-01 00:00:00'"),
    ],
)
def test_timestamp_rejects(text: str, reason: str) -> None:
    parsed = status("1,active,2023-01-22 12:09:39 UTC", f"2,active,{text}")
    assert reasons(parsed) == [(2, reason)]
    assert parsed.rows[schemas.STORE_ID].to_list() == ["1"]


def test_status_values_and_ids() -> None:
    uuid = "3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
    parsed = status(
        "0001,ACTIVE,2023-01-22 12:09:39 UTC",
        "8419537941919820732,Inactive,2023-01-22 12:09:40 UTC",
        f"{uuid}, active ,2023-01-22 12:09:41 UTC",
        " 0001 ,inactive,2023-01-22 12:09:39 UTC",  # a duplicate key is kept: the store decides
    )
    assert parsed.rows.to_dicts() == [
        {"store_id": "0001", "timestamp_utc": utc(2023, 1, 22, 12, 9, 39), "status": "active"},
        {
            "store_id": "8419537941919820732",
            "timestamp_utc": utc(2023, 1, 22, 12, 9, 40),
            "status": "inactive",
        },
        {"store_id": uuid, "timestamp_utc": utc(2023, 1, 22, 12, 9, 41), "status": "active"},
        {"store_id": "0001", "timestamp_utc": utc(2023, 1, 22, 12, 9, 39), "status": "inactive"},
    ]


def test_status_reject_reasons_and_row_numbers() -> None:
    parsed = status(
        "1,active,2023-01-22 12:09:39 UTC",
        ",active,2023-01-22 12:09:39 UTC",
        "a\x01b,active,2023-01-22 12:09:39 UTC",
        "4,up,2023-01-22 12:09:39 UTC",
        "5,,2023-01-22 12:09:39 UTC",
        ",,",  # blank: not counted as a reject
        "7,xyz,garbage",  # the first failing column wins
        "8,active",  # a short record: the missing field is empty
        "9,active,2023-01-22 12:09:39 UTC,surplus",  # an extra field is ignored
    )
    assert reasons(parsed) == [
        (2, "empty store_id"),
        (3, "store_id contains control characters"),
        (4, "unknown status 'up' (expected active or inactive)"),
        (5, "empty status"),
        (7, "unknown status 'xyz' (expected active or inactive)"),
        (8, "empty timestamp_utc"),
    ]
    assert parsed.blank_rows == 1
    assert parsed.rows[schemas.STORE_ID].to_list() == ["1", "9"]
    # The rejected fields come back as the original text, null when absent.
    assert parsed.rejects.row(0) == (2, "empty store_id", None, "active", "2023-01-22 12:09:39 UTC")
    assert parsed.rejects.row(-1) == (8, "empty timestamp_utc", "8", "active", None)


def test_reason_hides_control_characters_and_long_values() -> None:
    parsed = status('1,"act\nive",2023-01-22 12:09:39 UTC', f"2,active,{'9' * 200}")
    assert reasons(parsed) == [
        (1, "unknown status 'act\ufffdive' (expected active or inactive)"),
        (2, f"unparseable timestamp '{'9' * 60}…'"),
    ]


def test_quoted_multiline_field_counts_as_one_record() -> None:
    parsed = status('"a\nb",active,2023-01-22 12:09:39 UTC', ",bogus,2023-01-22 12:09:39 UTC")
    assert reasons(parsed) == [(1, "store_id contains control characters"), (2, "empty store_id")]


def test_header_variants_bom_crlf_order_extra_columns() -> None:
    data = csv(
        "\ufeff extra , timestamp_utc ,status, store_id ,row_number,__blank,store_id",
        "x,2023-01-22 12:09:39 UTC,active,007,y,z,dup",
        "",
        "x,2023-01-22 12:09:40 UTC,inactive,008,y,z,dup",
        newline="\r\n",
    )
    parsed = check(read_status_csv(data), read_status_csv, 3)
    assert parsed.blank_rows == 1
    assert parsed.rows[schemas.STORE_ID].to_list() == ["007", "008"]
    assert parsed.rows[schemas.STATUS].to_list() == ["active", "inactive"]


def test_blank_rows_are_counted_not_rejected() -> None:
    parsed = status("", "  ,  , ", "1,active,2023-01-22 12:09:39 UTC", ",,", "")
    assert (parsed.rows.height, parsed.rejects.height, parsed.blank_rows) == (1, 0, 4)


def test_a_record_with_only_an_extra_field_is_not_blank() -> None:
    data = csv("store_id,status,timestamp_utc,note", ",,,hello")
    parsed = check(read_status_csv(data), read_status_csv, 1)
    assert reasons(parsed) == [(1, "empty store_id")]


@pytest.mark.parametrize(("reader", "schema", "rejects_schema"), READERS)
def test_header_only_gives_empty_typed_frames(
    reader: Reader, schema: pl.Schema, rejects_schema: pl.Schema
) -> None:
    header = VALID_FILES[reader].split(b"\n", 1)[0]
    for data in (header, header + b"\n", header + b"\r\n"):
        parsed = check(reader(data), reader, 0)
        assert parsed.rows.schema == schema
        assert parsed.rejects.schema == rejects_schema
        assert parsed.blank_rows == 0


@pytest.mark.parametrize(("reader", "schema", "rejects_schema"), READERS)
def test_sources_path_str_bytes_and_gzip(
    reader: Reader, schema: pl.Schema, rejects_schema: pl.Schema, tmp_path: Path
) -> None:
    data = VALID_FILES[reader]
    expected = reader(data)
    assert expected.rejects.height == 0
    assert expected.rows.height > 0
    plain = tmp_path / "input.csv"
    plain.write_bytes(data)
    gz = tmp_path / "input.csv.gz"
    gz.write_bytes(gzip.compress(data))
    sneaky = tmp_path / "input.dat"  # gzip content without the suffix is detected by its magic
    sneaky.write_bytes(gzip.compress(data))
    for source in (plain, str(plain), gz, str(gz), sneaky, gzip.compress(data)):
        parsed = reader(source)
        assert parsed.rows.equals(expected.rows), source
        assert parsed.blank_rows == expected.blank_rows
        assert parsed.rows.schema == schema
        assert parsed.rejects.schema == rejects_schema


# --------------------------------------------------------------------------- whole-file errors


@pytest.mark.parametrize("reader", [r for r, _, _ in READERS])
def test_empty_file_is_an_input_error(reader: Reader, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    for source in (b"", empty, gzip.compress(b""), b"\n\n"):
        with pytest.raises(InputError, match="empty"):
            reader(source)


@pytest.mark.parametrize(
    ("reader", "data", "message"),
    [
        (
            read_status_csv,
            b"store_id,status\n1,active\n",
            "status file: missing required column 'timestamp_utc' (found: store_id, status)",
        ),
        (
            read_status_csv,
            b"id,state\n",
            "status file: missing required columns 'store_id', 'status', 'timestamp_utc' "
            "(found: id, state)",
        ),
        (
            read_hours_csv,
            b"store_id,weekday,start_time_local,end_time_local\n",
            "hours file: missing required column 'day' (or 'dayOfWeek', 'day_of_week')",
        ),
        (
            read_hours_csv,
            b"store_id,day,start_time_local\n",
            "hours file: missing required column 'end_time_local'",
        ),
        (
            read_timezones_csv,
            b"store_id;timezone_str\n1;UTC\n",
            "timezones file: the header is one column 'store_id;timezone_str': the file seems "
            "to be separated by ';'; save it comma-separated",
        ),
        (
            read_timezones_csv,
            b"store_id,zone;x\n1,UTC;x\n",
            "timezones file: missing required column 'timezone_str' (found: store_id, zone;x)",
        ),
        (read_timezones_csv, b"Store_ID,timezone_str\n", "missing required column 'store_id'"),
    ],
)
def test_missing_column_names_it(reader: Reader, data: bytes, message: str) -> None:
    with pytest.raises(InputError) as raised:
        reader(data)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
    b"\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99"
    b"=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.mark.parametrize("reader", [r for r, _, _ in READERS])
@pytest.mark.parametrize(
    "data",
    [
        PNG,
        b"store_id,status,timestamp_utc,timezone_str\n\xff\xfe\x00bad,active,x,UTC\n",
        "store_id,status".encode("utf-16"),
        b'store_id,status,timestamp_utc,timezone_str\n"unterminated,active,x,UTC\n',
        b"\x1f\x8bnot really gzip",
    ],
    ids=["png", "invalid-utf8", "utf16", "unterminated-quote", "bad-gzip"],
)
def test_unreadable_content_is_an_input_error(reader: Reader, data: bytes) -> None:
    with pytest.raises(InputError) as raised:
        reader(data)
    assert "\n" not in str(raised.value)


def test_file_names_are_not_globs(tmp_path: Path) -> None:
    (tmp_path / "tz[1].csv").write_bytes(csv(TZ_HEADER, "1,UTC"))
    (tmp_path / "tz*.csv").write_bytes(csv(TZ_HEADER, "2,UTC"))
    (tmp_path / "tzA.csv").write_bytes(csv(TZ_HEADER, "3,UTC"))
    assert read_timezones_csv(tmp_path / "tz[1].csv").rows[schemas.STORE_ID].to_list() == ["1"]
    assert read_timezones_csv(str(tmp_path / "tz*.csv")).rows[schemas.STORE_ID].to_list() == ["2"]


def test_unreadable_paths_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"status file: cannot read .*missing\.csv"):
        read_status_csv(tmp_path / "missing.csv")
    with pytest.raises(InputError, match="cannot read"):
        read_status_csv(tmp_path)  # a directory
    fake = tmp_path / "plain.csv.gz"
    fake.write_bytes(VALID_FILES[read_status_csv])
    with pytest.raises(InputError, match="not a valid gzip file"):
        read_status_csv(fake)


def test_binary_messages_say_what_is_wrong() -> None:
    with pytest.raises(InputError, match=r"^status file: cannot be parsed as UTF-8 CSV"):
        read_status_csv(PNG)
    # Binary that happens to decode still fails on its header, and says why.
    with pytest.raises(InputError, match=r"^hours file: does not look like a CSV text file"):
        read_hours_csv(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\n")


# --------------------------------------------------------------------------- hours file


@pytest.mark.parametrize("alias", schemas.DAY_ALIASES)
def test_each_day_alias(alias: str) -> None:
    parsed = hours(
        "1,3,09:00,17:00",
        "2,8,09:00,17:00",
        header=f"store_id, {alias} ,start_time_local,end_time_local",
    )
    assert parsed.rows.to_dicts() == [
        {"store_id": "1", "day_of_week": 3, "start_time_local": time(9), "end_time_local": time(17)}
    ]
    # The rejects file keeps the file's own column name, so a fixed row can be pasted back.
    assert parsed.rejects.rows(named=True) == [
        {
            "row_number": 2,
            "reason": "day must be an integer 0-6, got '8'",
            "store_id": "2",
            alias: "8",
            "start_time_local": "09:00",
            "end_time_local": "17:00",
        }
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("09:00", time(9)),
        ("9:05", time(9, 5)),
        ("00:00", time(0)),
        ("23:59", time(23, 59)),
        ("10:30:15", time(10, 30, 15)),
        ("7:30:15", time(7, 30, 15)),
        ("10:30:15.5", time(10, 30, 15, 500000)),
        ("10:30:15.123456", time(10, 30, 15, 123456)),
        ("10:30:15.123456789", time(10, 30, 15, 123456)),
        (" 23:59:59 ", time(23, 59, 59)),
    ],
)
def test_time_forms(text: str, expected: time) -> None:
    parsed = hours(f"1,0,{text},{text}", f"2,0,00:00,{text}")
    assert parsed.rejects.height == 0
    assert parsed.rows[schemas.START].to_list() == [expected, time(0)]
    assert parsed.rows[schemas.END].to_list() == [expected, expected]


@pytest.mark.parametrize("text", ["24:00", "24:00:00", " 24:00 "])
def test_end_of_day(text: str) -> None:
    parsed = hours(f"1,6,10:00,{text}")
    assert parsed.rows[schemas.END].to_list() == [time(23, 59, 59, 999999)]


def test_hours_reject_reasons() -> None:
    parsed = hours(
        "1,7,09:00,17:00",
        "2, 3 ,09:00,17:00",
        "3,01,09:00,17:00",
        "4,1.0,09:00,17:00",
        "5,-1,09:00,17:00",
        "6,,09:00,17:00",
        "7,1,24:00,24:00",
        "8,1,25:00,26:00",
        "9,1,10:60,11:00",
        "10,1,10:00,11:5",
        "11,1,,11:00",
        "12,1,10:00",
        "13,1,9am,5pm",
        "14,1,10:00:60,11:00",
        "15,1,10:00,24:01",
        ",9,x,y",
        "17,\u0661,09:00,10:00",
        "18,1,\u0660\u0669:\u0660\u0660,10:00",
    )
    assert reasons(parsed) == [
        (1, "day must be an integer 0-6, got '7'"),
        (3, "day must be an integer 0-6, got '01'"),
        (4, "day must be an integer 0-6, got '1.0'"),
        (5, "day must be an integer 0-6, got '-1'"),
        (6, "day must be an integer 0-6, got ''"),
        (7, "unparseable start_time_local '24:00'"),
        (8, "unparseable start_time_local '25:00'"),
        (9, "unparseable start_time_local '10:60'"),
        (10, "unparseable end_time_local '11:5'"),
        (11, "empty start_time_local"),
        (12, "empty end_time_local"),
        (13, "unparseable start_time_local '9am'"),
        (14, "unparseable start_time_local '10:00:60'"),
        (15, "unparseable end_time_local '24:01'"),
        (16, "empty store_id"),
        (17, "day must be an integer 0-6, got '\u0661'"),
        (18, "unparseable start_time_local '\u0660\u0669:\u0660\u0660'"),
    ]
    assert parsed.rows.to_dicts() == [
        {"store_id": "2", "day_of_week": 3, "start_time_local": time(9), "end_time_local": time(17)}
    ]
    assert parsed.rejects.columns == [
        "row_number",
        "reason",
        "store_id",
        "day",
        "start_time_local",
        "end_time_local",
    ]


def test_hours_with_two_day_columns_uses_the_first_alias() -> None:
    parsed = hours(
        "1,2,5,09:00,17:00", header="store_id,day_of_week,day,start_time_local,end_time_local"
    )
    assert parsed.rows[schemas.DAY].to_list() == [5]


# --------------------------------------------------------------------------- timezones file


def test_timezones() -> None:
    parsed = zones(
        "1,America/Chicago",
        "2, Asia/Kolkata ",
        "3,Mars/Olympus",
        "4,",
        "5,../etc/passwd",
        "6,America",
        "7,localtime",  # the stdlib may accept it, Polars (which the report uses) does not
        "8,america/chicago",
        "9,UTC",
        "",
    )
    assert parsed.rows.to_dicts() == [
        {"store_id": "1", "timezone_str": "America/Chicago"},
        {"store_id": "2", "timezone_str": "Asia/Kolkata"},
        {"store_id": "9", "timezone_str": "UTC"},
    ]
    assert reasons(parsed) == [
        (3, "unknown timezone 'Mars/Olympus'"),
        (4, "empty timezone_str"),
        (5, "unknown timezone '../etc/passwd'"),
        (6, "unknown timezone 'America'"),
        (7, "unknown timezone 'localtime'"),
        (8, "unknown timezone 'america/chicago'"),
    ]
    assert parsed.blank_rows == 1


def test_each_distinct_timezone_is_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []
    real = zoneinfo.ZoneInfo

    def counting(name: str) -> zoneinfo.ZoneInfo:
        seen.append(name)
        return real(name)

    monkeypatch.setattr(zoneinfo, "ZoneInfo", counting)
    lines = [f"{i},{name}" for i in range(300) for name in ("America/Chicago", "Nowhere/Land")]
    parsed = zones(*lines)
    assert sorted(seen) == ["America/Chicago", "Nowhere/Land"]
    assert (parsed.rows.height, parsed.rejects.height) == (300, 300)


# --------------------------------------------------------------------------- properties


def record_count(data: bytes) -> int:
    """How many records Polars sees after the header (the denominator of the invariant)."""
    raw = gzip.decompress(data) if data.startswith(b"\x1f\x8b") else data
    return pl.read_csv(io.BytesIO(raw), infer_schema=False, truncate_ragged_lines=True).height


def assert_total(reader: Reader, data: bytes) -> None:
    """A reader either returns a consistent ParsedInput or raises InputError; nothing else."""
    try:
        parsed = reader(data)
    except InputError as error:
        message = str(error)
    else:
        check(parsed, reader, record_count(data))
        return
    assert message
    assert "\n" not in message


FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
ALL_READERS = st.sampled_from([r for r, _, _ in READERS])


@FUZZ
@given(reader=ALL_READERS, data=st.binary(max_size=200))
def test_random_bytes_never_crash(reader: Reader, data: bytes) -> None:
    assert_total(reader, data)


@st.composite
def mutated(draw: st.DrawFn) -> tuple[Reader, bytes]:
    reader = draw(ALL_READERS)
    data = bytearray(VALID_FILES[reader])
    noise = st.sampled_from(list(b',"\r\n \t\x00\x01\xff\xef\xbb\xbf:+-.Z0123456789aT'))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        if action == "insert":
            data[at:at] = bytes([draw(noise)])
        elif action == "delete":
            del data[at : at + draw(st.integers(1, 5))]
        elif at < len(data):
            data[at] = draw(noise)
    return reader, bytes(data)


@FUZZ
@given(case=mutated())
def test_mutated_csv_never_crashes(case: tuple[Reader, bytes]) -> None:
    reader, data = case
    assert_total(reader, data)


FIELD = st.text(
    alphabet=st.sampled_from(list(' ,"\n\r\t\x00\x7fé😀aAZ09:.-+T/_'))
    | st.characters(codec="utf-8"),
    max_size=12,
)


@FUZZ
@given(reader=ALL_READERS, rows=st.lists(st.lists(FIELD, min_size=0, max_size=6), max_size=8))
def test_random_records_are_conserved(reader: Reader, rows: list[list[str]]) -> None:
    header = VALID_FILES[reader].split(b"\n", 1)[0].decode()
    buffer = io.StringIO()
    buffer.write(header + "\n")
    for row in rows:
        buffer.write(",".join('"' + field.replace('"', '""') + '"' for field in row) + "\n")
    assert_total(reader, buffer.getvalue().encode())


OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timedelta(minutes=minutes))


@settings(max_examples=40, deadline=None, database=None)
@given(
    stamps=st.lists(
        st.tuples(
            st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 12, 31)),
            OFFSETS,
            st.sampled_from(["T", " "]),
            st.sampled_from(["Z", " UTC", "", "+00:00", "offset", "offset-compact"]),
            st.integers(0, 9),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_timestamps_match_python(stamps: list[tuple[datetime, timedelta, str, str, int]]) -> None:
    """Arithmetic parsing agrees with the standard library on every accepted form."""
    lines, expected = [], []
    for local, offset, sep, zone, digits in stamps:
        fraction = f"{local.microsecond:06d}{local.microsecond % 997:03d}"[:digits]
        text = local.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + (f".{fraction}" if digits else "")
        tz = timezone(offset) if zone.startswith("offset") else UTC
        if zone.startswith("offset"):
            sign, total = (
                ("-" if offset < timedelta(0) else "+"),
                abs(offset) // timedelta(minutes=1),
            )
            colon = "" if zone == "offset-compact" else ":"
            text += f"{sign}{total // 60:02d}{colon}{total % 60:02d}"
        else:
            text += zone
        micros = int(fraction.ljust(6, "0")[:6]) if digits else 0
        moment = local.replace(microsecond=micros, tzinfo=tz).astimezone(UTC)
        lines.append(f"s,active,{text}")
        expected.append(moment)
    parsed = status(*lines)
    assert parsed.rejects.height == 0, parsed.rejects
    assert parsed.rows[schemas.TIMESTAMP].to_list() == expected


# --------------------------------------------------------------------------- status fast path
# The fast path must accept a subset of what the general rules accept, with the same values.


def general_timestamps(texts: list[str]) -> list[datetime | None]:
    """The general rules' value for each text: null if unparseable or out of range."""
    stamp = parse_timestamps(pl.col("text").str.strip_chars())
    year = stamp.dt.year()
    in_range = (year >= 1970) & (year <= 2100)
    frame = pl.DataFrame({"text": texts}, schema={"text": pl.String})
    return frame.select(pl.when(in_range).then(stamp)).to_series().to_list()


def fast_timestamps(texts: list[str]) -> list[datetime | None]:
    return readers._fast_timestamps(pl.Series(texts, dtype=pl.String)).to_list()


# (separator, fraction digits, zone) of each fast layout, and near misses of them.
FAST_FORMS = [(" ", 6, " UTC"), (" ", 0, " UTC"), ("T", 6, "Z"), ("T", 3, "Z"), ("T", 0, "Z")]
FAST_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})([ T])([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?( UTC|Z)"
)
SEPARATORS = ["T", " ", "t", "  ", "\t", "_", ""]
ZONES = ["", "Z", "z", " UTC", "UTC", " utc", "  UTC", "+00:00", "-05:30", "+0530", "+05", "Z "]
NOISE = list("0123456789/:;?*+,-. TZUC\t\x00\u00a0\u0665\uff12a")
EDGES = {
    "year": [0, 1969, 1970, 2100, 2101, 9999],
    "month": [0, 2, 13],
    "day": [0, 29, 30, 31, 32],
    "hour": [23, 24, 25],
    "minute": [59, 60],
    "second": [59, 60, 61],
}


def fast_value(text: str | None) -> datetime | None:
    """What the fast path must give: a value exactly for a real time, 1970-2100, in a layout."""
    match = FAST_RE.fullmatch(text or "")
    if match is None:
        return None
    year, month, day, separator, hour, minute, second, fraction, zone = match.groups()
    digits = fraction or "."
    if (separator, len(digits) - 1, zone) not in FAST_FORMS or not 1970 <= int(year) <= 2100:
        return None
    day_parts = (int(year), int(month), int(day))
    time_parts = (int(hour), int(minute), int(second), int(digits[1:].ljust(6, "0")))
    try:
        return datetime(*day_parts, *time_parts, tzinfo=UTC)
    except ValueError:  # not a real date or time (the standard library has no leap seconds)
        return None


@st.composite
def timestamp_texts(draw: st.DrawFn) -> str:
    """A timestamp text, mostly in or near one of the fast layouts."""
    moment = draw(st.datetimes(min_value=datetime(1968, 1, 1), max_value=datetime(2102, 12, 31)))
    fields = {name: getattr(moment, name) for name in EDGES}
    for name in draw(st.lists(st.sampled_from(sorted(EDGES)), max_size=2)):
        fields[name] = draw(st.sampled_from(EDGES[name]))
    separator, digits, zone = draw(
        st.sampled_from(FAST_FORMS)
        | st.tuples(st.sampled_from(SEPARATORS), st.integers(0, 10), st.sampled_from(ZONES))
    )
    fraction = f"{moment.microsecond:06d}{draw(st.integers(0, 999)):03d}0"[:digits]
    year, month, day, hour, minute, second = fields.values()
    text = (
        f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}"
        + (f".{fraction}" if fraction else "")
        + zone
    )
    for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):  # mostly keep the length
        at, cut = draw(st.integers(0, len(text))), draw(st.sampled_from([1, 1, 1, 0]))
        text = text[:at] + draw(st.sampled_from(NOISE)) + text[at + cut :]
    return draw(st.sampled_from(["{}", "{}", "{}", " {}", "{} ", "\u00a0{}"])).format(text)


@settings(max_examples=100, deadline=None, database=None)
@given(texts=st.lists(timestamp_texts(), min_size=1, max_size=40))
def test_fast_timestamps_agree_with_the_general_rules(texts: list[str]) -> None:
    fast, general = fast_timestamps(texts), general_timestamps(texts)
    for text, quick, slow in zip(texts, fast, general, strict=True):
        assert quick is None or quick == slow, repr(text)  # a subset, with the same values
        assert quick == fast_value(text), repr(text)  # exactly the layouts' real times
    with patch.object(readers, "_FAST_BLOCK", 3):  # blocks cut anywhere give the same answer
        assert fast_timestamps(texts) == fast


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-22 12:09:39.388884 UTC", utc(2023, 1, 22, 12, 9, 39, 388884)),
        ("2023-01-22 12:09:39 UTC", utc(2023, 1, 22, 12, 9, 39)),
        ("2023-01-22T12:09:39.388884Z", utc(2023, 1, 22, 12, 9, 39, 388884)),
        ("2023-01-22T12:09:39.388Z", utc(2023, 1, 22, 12, 9, 39, 388000)),
        ("2023-01-22T12:09:39Z", utc(2023, 1, 22, 12, 9, 39)),
        ("2024-02-29T23:59:59.999999Z", utc(2024, 2, 29, 23, 59, 59, 999999)),
        ("1970-01-01T00:00:00Z", utc(1970, 1, 1)),
        ("2100-12-31 23:59:59.999999 UTC", utc(2100, 12, 31, 23, 59, 59, 999999)),
        ("2023-01-22 12:09:60.000000 UTC", None),  # chrono would take a leap second
        ("2023-01-22 12:09: 9.388884 UTC", None),  # chrono would skip the space
        ("2023-1-22  12:09:39.388884 UTC", None),  # chrono would take one digit
        ("+023-01-22 12:09:39.388884 UTC", None),
        ("2023-01-2: 12:09:39 UTC", None),  # ':' is the byte after '9'
        ("2023-01-22 24:00:00.000000 UTC", None),
        ("2023-02-29 00:00:00 UTC", None),
        ("2100-02-29 00:00:00 UTC", None),  # 2100 is not a leap year
        ("1969-12-31T23:59:59Z", None),  # out of range: the general rules give the reason
        ("2101-01-01T00:00:00Z", None),
        ("2023-01-22 12:09:39.38888\u0665 UTC", None),
        ("2023-01-22 12:09:39.388884 utc", None),  # accepted, but by the general rules
        (" 2023-01-22T12:09:39Z", None),
        ("2023-01-22T12:09:39Z\u00a0", None),
        (None, None),
    ],
)
def test_fast_timestamp_cases(text: str | None, expected: datetime | None) -> None:
    texts = [text, "2023-01-22 12:09:39 UTC", text]  # two layouts in one column
    assert fast_timestamps(texts)[::2] == [expected, expected]  # type: ignore[arg-type]
    assert fast_value(text) == expected


def test_no_single_character_change_fools_the_fast_path() -> None:
    """Every character of each layout replaced by every ASCII character: still a subset."""
    samples = [
        "2023-01-22 12:09:39.388884 UTC",
        "2024-02-29 23:59:59 UTC",
        "2023-01-22T12:09:39.388884Z",
        "2023-01-22T12:09:39.388Z",
        "2100-12-31T23:59:59Z",
    ]
    texts = [
        sample[:at] + chr(code) + sample[at + 1 :]
        for sample in samples
        for at in range(len(sample))
        for code in range(128)
    ]
    fast, general = fast_timestamps(texts), general_timestamps(texts)
    for text, quick, slow in zip(texts, fast, general, strict=True):
        assert quick is None or quick == slow, repr(text)
        assert quick == fast_value(text), repr(text)
    assert sum(quick is not None for quick in fast) > 50 * len(samples)  # digit for digit


def test_control_characters_are_found_in_any_value() -> None:
    values = ["12", None, "", "a\x7fb", "cd", "e\x1ff", "\u00e9\u2028"]
    assert readers._has_control_chars(pl.Series(values))
    assert readers._has_control_chars(pl.Series(["12", "cd", "e\x1ff"]))
    assert readers._has_control_chars(pl.Series(["\x00"]))
    assert not readers._has_control_chars(pl.Series(values[:3] + values[4:5]))
    assert not readers._has_control_chars(pl.Series([None, ""], dtype=pl.String))


STATUS_FIELDS = st.sampled_from(["active", "inactive"]) | st.sampled_from(
    ["Active", " active", "INACTIVE", "", "up", "inactive\u00a0"]
)
ID_FIELDS = (
    st.sampled_from(["1", "0042", "8419537941919820732"])
    | st.sampled_from(["a\x01b", "a\x7fb", "\x7f", "", " 7", "8 ", "1\u00a0", "\u00e9", "x\u3000"])
    | st.text(alphabet=st.sampled_from(list("09aZ -\t\x00\x7f\u00e9\u2028")), max_size=4)
)
STAMP_FIELDS = (
    st.sampled_from(["2023-01-22 12:09:39.388884 UTC", "2023-01-22T12:09:39.388Z"])
    | timestamp_texts()
)


@st.composite
def status_records(draw: st.DrawFn) -> list[str]:
    kind = draw(st.sampled_from(["record"] * 8 + ["blank", "short", "long"]))
    if kind == "blank":
        return draw(st.sampled_from([[], ["", "", ""], [" ", "", "\t"]]))
    fields = [draw(ID_FIELDS), draw(STATUS_FIELDS), draw(STAMP_FIELDS)]
    return fields[:2] if kind == "short" else [*fields, "extra"] if kind == "long" else fields


@settings(max_examples=100, deadline=None, database=None)
@given(records=st.lists(status_records(), max_size=30), block=st.sampled_from([2, 1 << 16]))
def test_status_fast_path_matches_the_general_rules(records: list[list[str]], block: int) -> None:
    lines = [",".join('"' + field.replace('"', '""') + '"' for field in row) for row in records]
    data = csv(STATUS_HEADER, *lines)
    general = readers._parse(data, readers._STATUS_SPEC, readers._status_plan, OBSERVATIONS)
    with patch.object(readers, "_FAST_BLOCK", block):
        parsed = status_file(data, len(records))
    assert_frame_equal(parsed.rows, general.rows)
    assert_frame_equal(parsed.rejects, general.rejects)
    assert parsed.blank_rows == general.blank_rows


def status_file(data: bytes, records: int) -> ParsedInput:
    return check(read_status_csv(data), read_status_csv, records)


def test_fast_and_general_records_keep_file_order() -> None:
    parsed = status(
        "1,active,2023-01-22 12:00:00 UTC",
        "2,Active,2023-01-22 12:00:00 UTC",  # the general rules lowercase it
        "3,active,2023-01-22T12:00:00+01:00",
        " 4 ,inactive,2023-01-22T12:00:00.500Z",  # a fast timestamp, but the id needs stripping
        "5,inactive,2023-01-22T12:00:00.123Z",
        "6\u00a0,active,2023-01-22 12:00:00 UTC",  # Unicode space is stripped as well
        "7,active,2023-01-22 12:00:60 UTC",
        "8\x01,active,2023-01-22 12:00:00 UTC",
        "9,active,2023-01-22 12:00:00 utc",
        "1\x7f0,active,2023-01-22 12:00:00 UTC",  # a control character between bare ends
    )
    assert parsed.rows.to_dicts() == [
        {"store_id": "1", "timestamp_utc": utc(2023, 1, 22, 12), "status": "active"},
        {"store_id": "2", "timestamp_utc": utc(2023, 1, 22, 12), "status": "active"},
        {"store_id": "3", "timestamp_utc": utc(2023, 1, 22, 11), "status": "active"},
        {"store_id": "4", "timestamp_utc": utc(2023, 1, 22, 12, us=500000), "status": "inactive"},
        {"store_id": "5", "timestamp_utc": utc(2023, 1, 22, 12, us=123000), "status": "inactive"},
        {"store_id": "6", "timestamp_utc": utc(2023, 1, 22, 12), "status": "active"},
        {"store_id": "9", "timestamp_utc": utc(2023, 1, 22, 12), "status": "active"},
    ]
    assert reasons(parsed) == [
        (7, "unparseable timestamp '2023-01-22 12:00:60 UTC'"),
        (8, "store_id contains control characters"),
        (10, "store_id contains control characters"),
    ]


def test_store_ids_longer_than_255_characters_are_rejected_by_every_path() -> None:
    longest, too_long, wide = "7" * 255, "7" * 256, "\u00e9" * 200  # 200 characters, 400 bytes
    parsed = status(
        f"{longest},active,2023-01-22 12:00:00 UTC",  # fast path
        f"{too_long},active,2023-01-22 12:00:00 UTC",
        f"{too_long},Active,2023-01-22 12:00:00 UTC",  # general rules
        f"{wide},active,2023-01-22 12:00:00 UTC",  # too many bytes for the fast path: general
    )
    assert parsed.rows.get_column("store_id").to_list() == [longest, wide]
    assert reasons(parsed) == [
        (2, "store_id too long (256 characters, at most 255)"),
        (3, "store_id too long (256 characters, at most 255)"),
    ]
    assert reasons(zones(f"{too_long},UTC")) == [
        (1, "store_id too long (256 characters, at most 255)")
    ]


def batches_as_one(parts: list[ParsedInput]) -> ParsedInput:
    return ParsedInput(
        rows=pl.concat([part.rows for part in parts]),
        rejects=pl.concat([part.rejects for part in parts]),
        blank_rows=sum(part.blank_rows for part in parts),
    )


@settings(max_examples=60, deadline=None, database=None)
@given(
    records=st.lists(  # a quoted newline must not cut a record in two at a batch's edge
        status_records() | st.just(["a\nb", "active", "2023-01-22 12:00:00 UTC"]), max_size=25
    ),
    rows=st.integers(1, 7),
    streamed=st.booleans(),
    crlf=st.booleans(),
)
def test_status_batches_are_the_whole_file_cut_in_pieces(
    records: list[list[str]], rows: int, streamed: bool, crlf: bool
) -> None:
    lines = [",".join('"' + field.replace('"', '""') + '"' for field in row) for row in records]
    data = csv(STATUS_HEADER, *lines, newline="\r\n" if crlf else "\n")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "status.csv"
        path.write_bytes(data)
        whole = read_status_csv(path)
        # streamed: Polars reads the file on disk a slice at a time; otherwise whole, as one batch
        parts = list(
            readers.read_status_batches(path, rows=rows, whole_below=0 if streamed else 1 << 30)
        )
    assert len(parts) == (max(1, -(-len(records) // rows)) if streamed else 1)
    joined = batches_as_one(parts)
    assert_frame_equal(joined.rows, whole.rows)
    assert_frame_equal(joined.rejects, whole.rejects)  # row numbers count from the file's start
    assert joined.blank_rows == whole.blank_rows


def test_status_batches_check_the_header_even_without_records(tmp_path: Path) -> None:
    path = tmp_path / "status.csv"
    path.write_bytes(csv("store_id,timestamp_utc"))
    with pytest.raises(InputError, match="missing required column 'status'"):
        list(readers.read_status_batches(path, whole_below=0))
    path.write_bytes(csv(STATUS_HEADER))
    (only,) = readers.read_status_batches(path, whole_below=0)
    assert only.rows.is_empty()


# --------------------------------------------------------------------------- cut-off files

# A last record cut off mid-write, per kind: (the record, its store_id, its fields, the header's).
CUT_RECORDS: dict[Reader, tuple[str, str, int, int]] = {
    read_status_csv: ('"c,d",inactive', "c,d", 2, 3),  # a comma inside quotes ends no field
    read_hours_csv: ("4,1,09:00", "4", 3, 4),
    read_timezones_csv: ("5", "5", 1, 2),
}


def cut_reason(fields: int, width: int) -> str:
    return (
        f"the last record is cut off ({fields} of {width} fields and no line end): "
        "the file looks truncated"
    )


def sources(data: bytes, folder: Path) -> list[str | Path | bytes]:
    """The same content as bytes, a plain file, a gzip file and gzip bytes."""
    plain, packed = folder / "input.csv", folder / "input.csv.gz"
    plain.write_bytes(data)
    packed.write_bytes(gzip.compress(data))
    return [data, plain, packed, gzip.compress(data)]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("reader", [r for r, _, _ in READERS])
def test_a_cut_off_last_record_is_a_reject_not_a_row(
    reader: Reader, newline: str, tmp_path: Path
) -> None:
    complete = VALID_FILES[reader].replace(b"\n", newline.encode())
    record, store_id, fields, width = CUT_RECORDS[reader]
    expected = reader(complete)
    last = record_count(complete) + 1
    for source in sources(complete + record.encode(), tmp_path):
        parsed = check(reader(source), reader, last)
        assert_frame_equal(parsed.rows, expected.rows)
        assert reasons(parsed) == [(last, cut_reason(fields, width))]
        assert parsed.rejects[schemas.STORE_ID].to_list() == [store_id]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("reader", [r for r, _, _ in READERS])
def test_a_complete_last_line_without_a_line_end_stays_a_row(
    reader: Reader, newline: str, tmp_path: Path
) -> None:
    complete = VALID_FILES[reader].replace(b"\n", newline.encode())
    expected = reader(complete)
    for source in sources(complete.removesuffix(newline.encode()), tmp_path):
        parsed = check(reader(source), reader, record_count(complete))
        assert parsed.rejects.is_empty()
        assert_frame_equal(parsed.rows, expected.rows)


def test_quotes_decide_where_the_last_record_starts(tmp_path: Path) -> None:
    stamp = "2023-01-22 12:09:39 UTC"
    ok = f"{STATUS_HEADER}\n1,active,{stamp}"  # the header and a good record
    # Complete records whose last line alone would look short: not cut off.
    parsed = status_of(f'{ok}\n2,active,"{stamp[:10]}\n{stamp[11:]}"'.encode())
    assert reasons(parsed) == [(2, "unparseable timestamp '2023-01-22\ufffd12:09:39 UTC'")]
    parsed = status_of(f'{ok}\n"2\n,\n""x",active,{stamp}'.encode())
    assert reasons(parsed) == [(2, "store_id contains control characters")]
    # Cut off after a quoted field holding line ends, commas and escaped quotes.
    for record in ('"2\n,""x"",\n",active', '3,"a\nb,c"', '"x""y,z""",inactive'):
        parsed = status_of(f"{ok}\n{record}".encode())
        assert reasons(parsed) == [(2, cut_reason(2, 3))], record
        assert parsed.rows[schemas.STORE_ID].to_list() == ["1"]
    # A last record longer than the tail read at first: the tail grows until it starts.
    long_id = "x\n" * 50_000
    path = tmp_path / "status.csv"
    for record, reason in (
        (f'"{long_id}",active,{stamp}', "store_id contains control characters"),
        (f'"{long_id}",active', cut_reason(2, 3)),
    ):
        path.write_bytes(f"{ok}\n{record}".encode())
        assert reasons(status_of(path)) == [(2, reason)]


def status_of(source: bytes | Path) -> ParsedInput:
    parsed = read_status_csv(source)
    data = source if isinstance(source, bytes) else source.read_bytes()
    return check(parsed, read_status_csv, record_count(data))


def test_blank_trailing_lines_are_blank_not_cut_off() -> None:
    complete = VALID_FILES[read_status_csv]
    expected = read_status_csv(complete)
    for tail, blanks in ((b"\n\n", 2), (b"   ", 1), (b",", 1), (b" \r\n\t", 2)):
        parsed = status_of(complete + tail)
        assert parsed.rejects.is_empty(), tail
        assert parsed.blank_rows == blanks, tail
        assert_frame_equal(parsed.rows, expected.rows)


def test_a_record_without_the_extra_columns_at_the_end_is_cut_off() -> None:
    """The header's width counts, extra columns included; the fast path may not take it."""
    header = f"{STATUS_HEADER},note"
    stamp = "2023-01-22 12:09:39.388884 UTC"  # a fast-path layout
    parsed = check(
        read_status_csv(f"{header}\n1,active,{stamp},x\n2,active,{stamp}".encode()),
        read_status_csv,
        2,
    )
    assert parsed.rows[schemas.STORE_ID].to_list() == ["1"]
    assert reasons(parsed) == [(2, cut_reason(3, 4))]
    parsed = check(
        read_status_csv(f"{header}\n1,active,{stamp},x\n2,active,{stamp},".encode()),
        read_status_csv,
        2,
    )
    assert parsed.rows[schemas.STORE_ID].to_list() == ["1", "2"]


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 6])
def test_a_streamed_file_rejects_its_cut_off_last_record(rows: int, tmp_path: Path) -> None:
    """Also when the last batch is full, so that only reading on shows it is the last."""
    lines = [f"{n},active,2023-01-22 12:0{n}:39.388884 UTC" for n in range(1, 5)]
    path = tmp_path / "status.csv"
    for last, reason in (("5,acti", cut_reason(2, 3)), ("5,active,2023-01-22 12:05:39Z", None)):
        path.write_bytes("\n".join([STATUS_HEADER, *lines, last]).encode())
        parts = list(readers.read_status_batches(path, rows=rows, whole_below=0))
        assert len(parts) == -(-5 // rows)
        joined = batches_as_one(parts)
        whole = read_status_csv(path)
        assert_frame_equal(joined.rows, whole.rows)
        assert_frame_equal(joined.rejects, whole.rejects)
        assert reasons(joined) == ([] if reason is None else [(5, reason)])
        assert joined.rows.height == (4 if reason else 5)
