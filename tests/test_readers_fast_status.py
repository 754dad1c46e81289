"""The status fast path (``readers.fast_status``) against the general rules.

The fast path must accept a subset of what the general rules accept, with the same values, and
leave every record in file order, however the blocks it decodes are cut.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from unittest.mock import patch

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from reader_cases import (
    FAST_FORMS,
    OBSERVATIONS,
    STATUS_HEADER,
    check,
    csv,
    reasons,
    status,
    status_records,
    timestamp_texts,
    utc,
    zones,
)

from storestatus.readers import (
    ParsedInput,
    csv_input,
    fast_status,
    pipeline,
    read_status_csv,
    rules,
)
from storestatus.timestamps import parse_timestamps


def general_timestamps(texts: list[str]) -> list[datetime | None]:
    """The general rules' value for each text: null if unparseable or out of range."""
    stamp = parse_timestamps(pl.col("text").str.strip_chars())
    year = stamp.dt.year()
    in_range = (year >= 1970) & (year <= 2100)
    frame = pl.DataFrame({"text": texts}, schema={"text": pl.String})
    return frame.select(pl.when(in_range).then(stamp)).to_series().to_list()


def fast_timestamps(texts: list[str]) -> list[datetime | None]:
    return fast_status._fast_timestamps(pl.Series(texts, dtype=pl.String)).to_list()


FAST_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})([ T])([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?( UTC|Z)"
)


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


@settings(max_examples=100, deadline=None, database=None)
@given(texts=st.lists(timestamp_texts(), min_size=1, max_size=40))
def test_fast_timestamps_agree_with_the_general_rules(texts: list[str]) -> None:
    fast, general = fast_timestamps(texts), general_timestamps(texts)
    for text, quick, slow in zip(texts, fast, general, strict=True):
        assert quick is None or quick == slow, repr(text)  # a subset, with the same values
        assert quick == fast_value(text), repr(text)  # exactly the layouts' real times
    with patch.object(fast_status, "_FAST_BLOCK", 3):  # blocks cut anywhere give the same answer
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
    assert fast_status._has_control_chars(pl.Series(values))
    assert fast_status._has_control_chars(pl.Series(["12", "cd", "e\x1ff"]))
    assert fast_status._has_control_chars(pl.Series(["\x00"]))
    assert not fast_status._has_control_chars(pl.Series(values[:3] + values[4:5]))
    assert not fast_status._has_control_chars(pl.Series([None, ""], dtype=pl.String))


@settings(max_examples=100, deadline=None, database=None)
@given(records=st.lists(status_records(), max_size=30), block=st.sampled_from([2, 1 << 16]))
def test_status_fast_path_matches_the_general_rules(records: list[list[str]], block: int) -> None:
    lines = [",".join('"' + field.replace('"', '""') + '"' for field in row) for row in records]
    data = csv(STATUS_HEADER, *lines)
    general = pipeline._parse(data, csv_input._STATUS_SPEC, rules._status_plan, OBSERVATIONS)
    with patch.object(fast_status, "_FAST_BLOCK", block):
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
