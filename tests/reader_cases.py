"""What the ``test_readers_*`` files share: sample files, parse helpers, the invariants of a parse.

``check`` asserts what every parse must satisfy, whatever the input: the exact schemas, every
record accounted for once, and every reject's ``reason_code`` in the catalogue with a ``reason``
that its template could have written. The Hypothesis strategies for status records live here
too: the fast path's tests and the streaming tests both draw from them.
"""

from __future__ import annotations

import gzip
import io
import re
import string
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from hypothesis import strategies as st

from storestatus import schemas
from storestatus.readers import (
    HOURS_REJECTS_SCHEMA,
    REJECT_REASONS,
    STATUS_REJECTS_SCHEMA,
    TIMEZONES_REJECTS_SCHEMA,
    ParsedInput,
    RejectReason,
    read_hours_csv,
    read_status_csv,
    read_timezones_csv,
)

Reader = Callable[[str | Path | bytes], ParsedInput]


STATUS_HEADER = "store_id,status,timestamp_utc"


HOURS_HEADER = "store_id,day,start_time_local,end_time_local"


TZ_HEADER = "store_id,timezone_str"


OBSERVATIONS = schemas.POLLS_SCHEMA
CATALOGUE = {reason.code: reason for reason in REJECT_REASONS}


READERS: list[tuple[Reader, pl.Schema, pl.Schema]] = [
    (read_status_csv, schemas.POLLS_SCHEMA, STATUS_REJECTS_SCHEMA),
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
    for reason, code in parsed.rejects.select(schemas.REASON, schemas.REASON_CODE).iter_rows():
        assert code in CATALOGUE, (code, reason)  # every reject has a code of the catalogue,
        assert pattern_of(CATALOGUE[code]).fullmatch(reason), (code, reason)  # and its text
    return parsed


def pattern_of(reason: RejectReason) -> re.Pattern[str]:
    """What the texts of ``reason`` look like: its template, any text in each field."""
    parts = string.Formatter().parse(reason.template)
    return re.compile(
        "".join(re.escape(text) + ("" if field is None else ".*") for text, field, _, _ in parts),
        re.DOTALL,
    )


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


def record_count(data: bytes) -> int:
    """How many records Polars sees after the header (the denominator of the invariant)."""
    raw = gzip.decompress(data) if data.startswith(b"\x1f\x8b") else data
    return pl.read_csv(io.BytesIO(raw), infer_schema=False, truncate_ragged_lines=True).height


# (separator, fraction digits, zone) of each fast layout, and near misses of them.
FAST_FORMS = [(" ", 6, " UTC"), (" ", 0, " UTC"), ("T", 6, "Z"), ("T", 3, "Z"), ("T", 0, "Z")]


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
