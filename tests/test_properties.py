"""The reference on hand-computed cases, then ``compute_report`` against the reference."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

import polars as pl
import pytest
from builders import frames
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from reference import WINDOWS, in_units, reference_figures, reference_report

from storestatus.compute import compute_report
from storestatus.schemas import REPORT_COLUMNS, STORE_ID, TIMESTAMP

Method = Literal["nearest", "previous"]
Report = Callable[..., pl.DataFrame]
PollRow = tuple[str, datetime, str]
HoursRowT = tuple[str, int, time, time]


def row_of(report: pl.DataFrame, store_id: str) -> dict[str, Any]:
    """The report row of one store, as a dict."""
    rows = report.filter(pl.col(STORE_ID) == store_id).to_dicts()
    assert len(rows) == 1
    return rows[0]


def figures(report: pl.DataFrame, store_id: str) -> tuple[float, ...]:
    """The six figures of one store in REPORT_COLUMNS order."""
    row = row_of(report, store_id)
    return tuple(row[c] for c in REPORT_COLUMNS[1:])


# ---------------------------------------------------------------------------------------------
# The reference on hand-computed cases
# ---------------------------------------------------------------------------------------------

MONDAY = datetime(2024, 1, 8, tzinfo=UTC)  # a Monday


def at(base: datetime, hours: int, minutes: int = 0, seconds: int = 0) -> datetime:
    """``base`` plus a wall-clock offset."""
    return base + timedelta(hours=hours, minutes=minutes, seconds=seconds)


def worked_example() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Open 09:00-12:00 UTC on Mondays; active at 10:14, inactive at 11:15."""
    return frames(
        polls=[("s", at(MONDAY, 10, 14), "active"), ("s", at(MONDAY, 11, 15), "inactive")],
        hours=[("s", 0, time(9), time(12))],
        zones=[("s", "UTC")],
    )


def test_worked_example_nearest() -> None:
    # The polls split at 10:44:30: up 09:00-10:44:30 = 1.7417 h, down 10:44:30-12:00 = 1.2583 h.
    # The last hour (11:00-12:00) is all down. Last Monday's hours end at now - 7 days exactly.
    report = reference_report(*worked_example(), now=at(MONDAY, 12), interpolation="nearest")
    assert report.columns == list(REPORT_COLUMNS)
    assert figures(report, "s") == (0.0, 1.74, 1.74, 60.0, 1.26, 1.26)


def test_worked_example_previous() -> None:
    # Up 09:00-11:15 (the first poll covers 09:00-10:14), down 11:15-12:00.
    report = reference_report(*worked_example(), now=at(MONDAY, 12), interpolation="previous")
    assert figures(report, "s") == (15.0, 2.25, 2.25, 45.0, 0.75, 0.75)


def test_worked_example_later_now() -> None:
    # At 18:00 the last hour and the rest of the day are closed.
    report = reference_report(*worked_example(), now=at(MONDAY, 18), interpolation="nearest")
    assert figures(report, "s") == (0.0, 1.74, 1.74, 0.0, 1.26, 1.26)


def test_open_all_week_and_half_up_rounding() -> None:
    # No hours rows: 24/7. `previous`: inactive from now - 8 days, active for the last 7.5 min.
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    data = frames(
        polls=[
            ("7", now - timedelta(days=8), "inactive"),
            ("7", now - timedelta(minutes=7, seconds=30), "active"),
        ]
    )
    report = reference_report(*data, now=now, interpolation="previous")
    # 7.5 min = 0.125 h -> 0.13 (half up, not half even); 23.875 h -> 23.88; 167.875 -> 167.88.
    assert figures(report, "7") == (7.5, 0.13, 0.13, 52.5, 23.88, 167.88)


def test_candidates_are_inclusive_and_outside_polls_ignored() -> None:
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    data = frames(
        polls=[
            ("a", now - timedelta(days=8, microseconds=1), "inactive"),  # too old
            ("a", now - timedelta(days=8), "active"),  # oldest candidate
            ("a", now + timedelta(microseconds=1), "inactive"),  # in the future
            ("b", now - timedelta(days=9), "active"),  # only too old polls: b reads 0 (issue #9)
            ("c", now + timedelta(microseconds=1), "active"),  # only after now: no row for c
        ]
    )
    report = reference_report(*data, now=now)
    assert report[STORE_ID].to_list() == ["a", "b"]
    assert figures(report, "a") == (60.0, 24.0, 168.0, 0.0, 0.0, 0.0)
    assert figures(report, "b") == (0.0,) * 6


def test_stores_without_counted_polls_get_zeros() -> None:
    now = at(MONDAY, 12)
    data = frames(
        polls=[("h", at(MONDAY, 8), "active")],  # before opening: not counted
        hours=[("h", 0, time(9), time(12))],
        zones=[("h", "UTC"), ("z", "Asia/Kolkata")],
    )
    report = reference_report(*data, now=now)
    assert report[STORE_ID].to_list() == ["h", "z"]
    assert figures(report, "h") == (0.0,) * 6
    assert figures(report, "z") == (0.0,) * 6


def test_sorted_by_string_and_schema() -> None:
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    data = frames(zones=[("7", "UTC"), ("10", "UTC"), ("007", "UTC")])
    report = reference_report(*data, now=now)
    assert report[STORE_ID].to_list() == ["007", "10", "7"]
    expected = {STORE_ID: pl.String()} | {c: pl.Float64() for c in REPORT_COLUMNS[1:]}
    assert report.schema == pl.Schema(expected)
    empty = reference_report(*frames(), now=now)
    assert empty.schema == pl.Schema(expected)
    assert empty.height == 0


def test_overnight_overlapping_rows_and_end_of_day() -> None:
    # Mondays 22:00-02:00 (overnight), a duplicate and an overlapping 23:00-23:59 (= midnight):
    # the union is Monday 22:00 to Tuesday 02:00, 4 hours, never counted twice.
    now = at(MONDAY, 26)  # Tuesday 02:00
    data = frames(
        polls=[("o", at(MONDAY, 23), "active")],
        hours=[
            ("o", 0, time(22), time(2)),
            ("o", 0, time(22), time(2)),
            ("o", 0, time(23), time(23, 59)),
        ],
        zones=[("o", "UTC")],
    )
    report = reference_report(*data, now=now)
    assert figures(report, "o") == (60.0, 4.0, 4.0, 0.0, 0.0, 0.0)


def test_equal_start_and_end_is_a_full_day() -> None:
    now = at(MONDAY, 30)  # Tuesday 06:00
    data = frames(
        polls=[("e", at(MONDAY, 1), "inactive")],
        hours=[("e", 0, time(6), time(6))],
        zones=[("e", "UTC")],
    )
    # Monday 06:00 to Tuesday 06:00; the 01:00 poll is outside, so nothing is counted ...
    assert figures(reference_report(*data, now=now), "e") == (0.0,) * 6
    data = frames(
        polls=[("e", at(MONDAY, 7), "inactive")],
        hours=[("e", 0, time(6), time(6))],
        zones=[("e", "UTC")],
    )
    # ... but a poll at 07:00 covers the whole day.
    assert figures(reference_report(*data, now=now), "e") == (0.0, 0.0, 0.0, 60.0, 24.0, 24.0)


def test_spring_forward_day_is_23_hours() -> None:
    # New York, Sunday 2023-03-12 (day 6) open 00:00-23:59 (= midnight): 05:00-04:00 UTC, 23 h.
    now = datetime(2023, 3, 13, 5, tzinfo=UTC)  # Monday 01:00 EDT
    data = frames(
        polls=[("ny", datetime(2023, 3, 12, 12, tzinfo=UTC), "active")],
        hours=[("ny", 6, time(0), time(23, 59))],
        zones=[("ny", "America/New_York")],
    )
    report = reference_report(*data, now=now)
    assert figures(report, "ny") == (0.0, 23.0, 23.0, 0.0, 0.0, 0.0)


def test_wall_times_in_the_spring_forward_gap_use_the_earlier_offset() -> None:
    # New York, Sunday 2023-03-12: 02:30 does not exist; fold=0 reads it as EST, 07:30 UTC.
    now = datetime(2023, 3, 12, 12, tzinfo=UTC)
    poll = ("g", datetime(2023, 3, 12, 7, 45, tzinfo=UTC), "active")
    zone = ("g", "America/New_York")
    # 02:30-04:00 is 07:30-08:00 UTC: half an hour.
    data = frames(polls=[poll], hours=[("g", 6, time(2, 30), time(4))], zones=[zone])
    assert figures(reference_report(*data, now=now), "g") == (0.0, 0.5, 0.5, 0.0, 0.0, 0.0)
    # 02:30-03:00 is 07:30-07:00 UTC: empty, so the poll is not counted.
    data = frames(polls=[poll], hours=[("g", 6, time(2, 30), time(3))], zones=[zone])
    assert figures(reference_report(*data, now=now), "g") == (0.0,) * 6


def test_fall_back_day_is_25_hours_and_default_zone() -> None:
    # Chicago (the default zone), Sunday 2023-11-05 open all day: 05:00 to 06:00 UTC next day.
    now = datetime(2023, 11, 6, 6, tzinfo=UTC)  # Monday 00:00 CST
    data = frames(
        polls=[("c", datetime(2023, 11, 5, 12, tzinfo=UTC), "inactive")],
        hours=[("c", 6, time(0), time(23, 59, 59))],
    )
    report = reference_report(*data, now=now)
    assert figures(report, "c") == (0.0, 0.0, 0.0, 60.0, 24.0, 25.0)


def test_nearest_half_microsecond_midpoint() -> None:
    # Polls 1 us apart: the midpoint is half a microsecond after the first one.
    now = datetime(2024, 5, 1, 12, tzinfo=UTC)
    first = now - timedelta(minutes=30)
    data = frames(
        polls=[("m", first, "active"), ("m", first + timedelta(microseconds=1), "inactive")]
    )
    exact = reference_figures(*data, now=now, interpolation="nearest")["m"]
    assert exact.uptime["last_hour"] * 2 == 2 * 30 * 60 * 1_000_000 + 1
    assert exact.uptime["last_hour"] + exact.downtime["last_hour"] == 60 * 60 * 1_000_000


# ---------------------------------------------------------------------------------------------
# Random small inputs
# ---------------------------------------------------------------------------------------------

STORE_IDS = ["007", "07", "7", "42", "1234567890123456789", "0000000000000000001", "9"]
ZONES = [
    "UTC",
    "America/New_York",
    "America/Chicago",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Asia/Beirut",
    "Pacific/Chatham",
    "America/St_Johns",
]
# Instants near DST transitions of 2023/2024 in some of those zones.
TRANSITIONS = [
    datetime(2023, 3, 12, 7, tzinfo=UTC),  # New York spring forward
    datetime(2023, 11, 5, 6, tzinfo=UTC),  # New York fall back
    datetime(2023, 3, 12, 8, tzinfo=UTC),  # Chicago spring forward
    datetime(2023, 11, 5, 7, tzinfo=UTC),  # Chicago fall back
    datetime(2023, 3, 25, 22, tzinfo=UTC),  # Beirut spring forward (2023-03-26 00:00 local)
    datetime(2023, 10, 28, 21, tzinfo=UTC),  # Beirut fall back
    datetime(2023, 4, 1, 15, tzinfo=UTC),  # Lord Howe: 30-minute fall back
    datetime(2023, 9, 30, 15, 30, tzinfo=UTC),  # Lord Howe: 30-minute spring forward
    datetime(2023, 9, 23, 14, 15, tzinfo=UTC),  # Chatham spring forward
    datetime(2024, 3, 10, 5, 30, tzinfo=UTC),  # St Johns spring forward
    datetime(2024, 11, 3, 4, 30, tzinfo=UTC),  # St Johns fall back
]

STATUSES = ["active", "inactive"]
times = st.one_of(
    st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45])),
    st.sampled_from([time(0), time(23, 59), time(23, 59, 59), time(23, 58)]),
)
hours_rows = st.lists(st.tuples(st.integers(0, 6), times, times), max_size=6)


@st.composite
def nows(draw: st.DrawFn) -> datetime:
    """A report instant: near a DST transition (within the candidate span) or anywhere."""
    if draw(st.booleans()):
        base = draw(st.sampled_from(TRANSITIONS))
        offset = draw(st.integers(-2 * 24 * 60, 9 * 24 * 60))  # minutes
        instant = base + timedelta(minutes=offset)
    else:
        instant = draw(
            st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC))
        )
    if draw(st.booleans()):
        instant = instant.replace(second=0, microsecond=0)
    return instant


@st.composite
def polls_of(draw: st.DrawFn, store_id: str, now: datetime) -> list[PollRow]:
    """0-30 polls with unique timestamps in about [now - 9 days, now + 1 day]."""
    span_s = 10 * 24 * 3600
    coarse = st.integers(0, span_s // 60).map(lambda m: m * 60)
    seconds = draw(st.lists(st.one_of(coarse, st.integers(0, span_s)), max_size=30, unique=True))
    micros = draw(st.sampled_from([0, 0, 1, 500_000]))
    start = now - timedelta(days=9)
    return [
        (
            store_id,
            start + timedelta(seconds=s, microseconds=micros),
            draw(st.sampled_from(["active", "inactive"])),
        )
        for s in seconds
    ]


@st.composite
def scenarios(
    draw: st.DrawFn,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, datetime]:
    """1-4 stores with random zones (or none), hours (or none) and polls, and a report instant."""
    now = draw(nows())
    polls: list[PollRow] = []
    hours: list[HoursRowT] = []
    zones: list[tuple[str, str]] = []
    for store_id in draw(st.lists(st.sampled_from(STORE_IDS), min_size=1, max_size=4, unique=True)):
        zone = draw(st.one_of(st.none(), st.sampled_from(ZONES)))
        if zone is not None:
            zones.append((store_id, zone))
        if draw(st.integers(0, 3)):  # no hours rows at all in about a quarter of the stores
            hours.extend((store_id, d, s, e) for d, s, e in draw(hours_rows))
        polls.extend(draw(polls_of(store_id, now)))
    at_a_poll = draw(st.booleans())  # as the default as-of makes it: now is a poll's time
    if polls and at_a_poll:
        now = draw(st.sampled_from(sorted({stamp for _, stamp, _ in polls})))
        if draw(st.booleans()):  # a round stamped with one time: every store polled at now
            at_now = {store for store, stamp, _ in polls if stamp == now}
            polls.extend(
                (store, now, draw(st.sampled_from(["active", "inactive"])))
                for store in sorted({store for store, _, _ in polls} - at_now)
            )
    at_window_starts = draw(st.booleans())  # drawn first: `polls and draw(...)` confuses mypy
    if polls and at_window_starts:  # polls exactly at a window's start (it is inclusive)
        stores = sorted({store for store, _, _ in polls})
        taken = {(store, stamp) for store, stamp, _ in polls}
        for span in (timedelta(hours=1), timedelta(days=1), timedelta(days=7)):
            row = (draw(st.sampled_from(stores)), now - span, draw(st.sampled_from(STATUSES)))
            if row[:2] not in taken:
                polls.append(row)
                taken.add(row[:2])
    order = draw(st.permutations(range(len(polls))))
    polls = [polls[i] for i in order]
    return (*frames(polls, hours, zones), now)


def check_properties(
    report: pl.DataFrame,
    *,
    observations: pl.DataFrame,
    hours: pl.DataFrame,
    timezones: pl.DataFrame,
    now: datetime,
    method: Method,
) -> None:
    """Non-negative figures; up + down = business time when anything is counted."""
    exact = reference_figures(observations, hours, timezones, now=now, interpolation=method)
    assert report[STORE_ID].to_list() == list(exact)
    no_hours = set(report[STORE_ID].to_list()) - set(hours[STORE_ID].to_list())
    for store_id, store in exact.items():
        row = row_of(report, store_id)
        assert all(row[c] >= 0 for c in REPORT_COLUMNS[1:]), row
        for name, length, unit in WINDOWS:
            total = row[f"uptime_{name}"] + row[f"downtime_{name}"]
            if not store.counted:
                assert total == 0, row
                continue
            assert abs(total - in_units(store.business[name], unit)) <= 0.011, (name, row)
            if store_id in no_hours:
                assert abs(total - length / unit) <= 0.011, (name, row)


def test_reference_properties_on_examples() -> None:
    """The property checks hold for the reference itself (fast, no compute_report needed)."""

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(scenarios(), st.sampled_from(["nearest", "previous"]))
    def check(
        scenario: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, datetime], method: Method
    ) -> None:
        observations, hours, timezones, now = scenario
        report = reference_report(observations, hours, timezones, now=now, interpolation=method)
        check_properties(
            report,
            observations=observations,
            hours=hours,
            timezones=timezones,
            now=now,
            method=method,
        )

    check()


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
@example((*frames(), datetime(2020, 1, 1, tzinfo=UTC)))  # no stores at all: an empty report
def test_compute_report_matches_reference(
    scenario: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, datetime],
) -> None:
    observations, hours, timezones, now = scenario
    for method in ("nearest", "previous"):
        expected = reference_report(observations, hours, timezones, now=now, interpolation=method)
        actual = compute_report(observations, hours, timezones, now=now, interpolation=method)
        assert_frame_equal(actual, expected)
        # As a report reads the store: the window's polls, and the registry's older stores.
        window = observations.filter(pl.col(TIMESTAMP).is_between(now - timedelta(days=8), now))
        polled = observations.filter(pl.col(TIMESTAMP) <= now).get_column(STORE_ID).unique()
        from_store = compute_report(
            window, hours, timezones, now=now, interpolation=method, known_stores=polled
        )
        assert_frame_equal(from_store, expected)
        check_properties(
            actual,
            observations=observations,
            hours=hours,
            timezones=timezones,
            now=now,
            method=method,
        )


# ---------------------------------------------------------------------------------------------
# --detail and --max-gap (issue #9)
# ---------------------------------------------------------------------------------------------

GAPS = [
    timedelta(microseconds=1),
    timedelta(seconds=1),
    timedelta(minutes=30),
    timedelta(minutes=45),
    timedelta(hours=1),
    timedelta(hours=2, minutes=30),
    timedelta(days=1),
    timedelta(days=9),  # longer than the candidate span: as if there were no limit
]


def check_detail_properties(report: pl.DataFrame, *, gapped: bool) -> None:
    """Unknown time is business time less up and down (to rounding), never negative, and zero
    for a store with counted polls unless a gap is set; counts grow with the window."""
    for row in report.iter_rows(named=True):
        for name, _length, _unit in WINDOWS:
            up, down = row[f"uptime_{name}"], row[f"downtime_{name}"]
            business, unknown = row[f"business_hours_{name}"], row[f"unknown_{name}"]
            assert unknown >= 0, row
            assert abs(business - up - down - unknown) <= 0.021, (name, row)
            if not gapped and row["polls_last_week"] + up + down:
                assert unknown <= 0.01, (name, row)
        assert row["polls_last_hour"] <= row["polls_last_day"] <= row["polls_last_week"], row
        if row["polls_last_hour"]:
            assert row["last_poll_utc"] is not None, row


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scenarios(),
    st.sampled_from(["nearest", "previous"]),
    st.one_of(st.none(), st.sampled_from(GAPS)),
)
def test_detail_and_max_gap_match_reference(
    scenario: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, datetime],
    method: Method,
    gap: timedelta | None,
) -> None:
    observations, hours, timezones, now = scenario
    options: dict[str, Any] = {"now": now, "interpolation": method, "max_gap": gap}
    expected = reference_report(observations, hours, timezones, detail=True, **options)
    actual = compute_report(observations, hours, timezones, detail=True, **options)
    assert_frame_equal(actual, expected)
    check_detail_properties(actual, gapped=gap is not None)
    # The seven columns do not depend on --detail.
    plain = compute_report(observations, hours, timezones, **options)
    assert_frame_equal(actual.select(REPORT_COLUMNS), plain)
    if gap is None or gap >= timedelta(days=8):  # every instant is within 8 days of any poll
        ungapped = compute_report(observations, hours, timezones, now=now, interpolation=method)
        assert_frame_equal(plain, ungapped)
