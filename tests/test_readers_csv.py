"""Reading a file as text, whole or streamed (``readers.csv_input``, ``readers.truncation``).

Sources (paths, ``.gz`` files, bytes), encodings and headers, the errors that make a whole file
unusable, blank and cut-off records, streamed batches, and random input that must never crash.
"""

from __future__ import annotations

import gzip
import io
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from reader_cases import (
    READERS,
    STATUS_HEADER,
    TZ_HEADER,
    VALID_FILES,
    Reader,
    check,
    csv,
    reasons,
    record_count,
    status,
    status_records,
)

from storestatus import readers, schemas
from storestatus.errors import InputError
from storestatus.readers import (
    ParsedInput,
    read_hours_csv,
    read_status_csv,
    read_timezones_csv,
)

# --------------------------------------------------------------------------- records and sources


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


# --------------------------------------------------------------------------- properties


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


# --------------------------------------------------------------------------- streamed batches


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
