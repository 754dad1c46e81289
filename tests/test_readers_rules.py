"""The field rules and the reject reasons (``readers.rules``).

What each field accepts, the reason each bad record is rejected with, and the catalogue of reject
codes: each code listed once, published (renaming one is a visible decision), in the README, and
given by the readers.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reader_cases import (
    CATALOGUE,
    HOURS_HEADER,
    STATUS_HEADER,
    TZ_HEADER,
    check,
    csv,
    hours,
    pattern_of,
    reasons,
    status,
    utc,
    zones,
)

from storestatus import schemas
from storestatus.readers import (
    REJECT_REASONS,
    read_hours_csv,
    read_status_csv,
    read_timezones_csv,
    rules,
)

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
    assert parsed.rejects.row(0) == (
        2,
        "empty store_id",
        "missing-field",
        None,
        "active",
        "2023-01-22 12:09:39 UTC",
    )
    assert parsed.rejects.row(-1) == (
        8,
        "empty timestamp_utc",
        "missing-field",
        "8",
        "active",
        None,
    )


def test_reason_hides_control_characters_and_long_values() -> None:
    parsed = status('1,"act\nive",2023-01-22 12:09:39 UTC', f"2,active,{'9' * 200}")
    assert reasons(parsed) == [
        (1, "unknown status 'act\ufffdive' (expected active or inactive)"),
        (2, f"unparseable timestamp '{'9' * 60}…'"),
    ]


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
            "reason_code": "invalid-day",
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
        "reason_code",
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


# --------------------------------------------------------------------------- reject codes

# Every code of the catalogue, in its order. Codes are published (rejects files, scripts that
# count them): renaming or dropping one must be a visible decision, made here and in the README.
PUBLISHED_CODES = [
    "missing-field",
    "store-id-control-characters",
    "store-id-too-long",
    "unknown-status",
    "unparseable-timestamp",
    "timestamp-out-of-range",
    "timestamp-in-future",
    "invalid-day",
    "unparseable-time",
    "unknown-timezone",
    "record-cut-off",
    "stored-timestamp-in-future",
]


def test_reject_codes_are_the_published_ones() -> None:
    assert [reason.code for reason in REJECT_REASONS] == PUBLISHED_CODES


def test_each_code_is_in_the_catalogue_exactly_once() -> None:
    codes = [reason.code for reason in REJECT_REASONS]
    assert len(codes) == len(set(codes)) == len(CATALOGUE)
    assert len({reason.template for reason in REJECT_REASONS}) == len(REJECT_REASONS)
    for reason in REJECT_REASONS:
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*", reason.code), reason.code
        assert reason.meaning, reason.code
    public = {value for name, value in vars(rules).items() if isinstance(value, rules.RejectReason)}
    assert public == set(REJECT_REASONS)  # no reason is defined outside the catalogue


def test_each_reason_text_is_its_template_filled_in() -> None:
    """The expression a rule builds and the Python text give the same reason."""
    values: dict[str, str | int] = {
        "field": "timestamp_utc",
        "value": "2099-01-01",
        "limit": 255,
        "length": 256,
        "fields": 2,
        "width": 3,
    }
    for reason in REJECT_REASONS:
        text = pl.select(reason.message(**values)).item()
        assert text == reason.text(**values), reason.code
        assert pattern_of(reason).fullmatch(text), reason.code
    assert pl.select(rules.MISSING_FIELD.message(field=pl.lit("status"))).item() == "empty status"


def test_every_code_a_reader_can_give_is_given() -> None:
    """One bad record per reason of the readers, each with its code (``check`` matches texts)."""
    not_after = datetime(2024, 1, 1, tzinfo=UTC)
    polls = read_status_csv(
        csv(
            STATUS_HEADER,
            ",active,2023-01-22 12:09:39 UTC",
            "a\x01b,active,2023-01-22 12:09:39 UTC",
            f"{'7' * 256},active,2023-01-22 12:09:39 UTC",
            "4,up,2023-01-22 12:09:39 UTC",
            "5,active,yesterday",
            "6,active,1969-12-31 23:59:59 UTC",
            "7,active,2099-01-01 00:00:00 UTC",
        )
        + b"8,active",
        not_after=not_after,
    )
    opening = read_hours_csv(csv(HOURS_HEADER, "1,7,09:00,17:00", "2,1,9am,17:00", "3,1,09:00,"))
    zone = read_timezones_csv(csv(TZ_HEADER, "1,Mars/Olympus"))
    given_codes = [
        code
        for parsed in (polls, opening, zone)
        for code in parsed.rejects.get_column(schemas.REASON_CODE)
    ]
    assert given_codes == [
        "missing-field",
        "store-id-control-characters",
        "store-id-too-long",
        "unknown-status",
        "unparseable-timestamp",
        "timestamp-out-of-range",
        "timestamp-in-future",
        "record-cut-off",
        "invalid-day",
        "unparseable-time",
        "missing-field",
        "unknown-timezone",
    ]
    check(polls, read_status_csv, 8)
    check(opening, read_hours_csv, 3)
    check(zone, read_timezones_csv, 1)
    # Only compact sets polls aside (``tests/test_operator_safety.py`` checks its code).
    assert {*given_codes, "stored-timestamp-in-future"} == set(CATALOGUE)


def test_the_readme_lists_every_code_with_its_meaning() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `([a-z-]+)` \| `(.+)` \| (.+) \|$", readme, flags=re.MULTILINE)
    listed = [row for row in rows if row[0] in CATALOGUE]
    assert [code for code, _, _ in listed] == PUBLISHED_CODES  # each once, in this order
    for (code, template, meaning), reason in zip(listed, REJECT_REASONS, strict=True):
        assert (template, meaning) == (reason.template, reason.meaning), code
