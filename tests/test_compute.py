"""Hand-computed cases, one per rule of the report semantics (README, "Report semantics").

Each expected tuple is (uptime hour [min], day [h], week [h], downtime hour [min], day [h],
week [h]); the comment above it is the arithmetic. 2023-01-23 is a Monday.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import polars as pl
import pytest
from builders import hours, polls, zones
from polars.testing import assert_frame_equal

from storestatus.compute import Coverage, compute_report, compute_report_and_coverage
from storestatus.schemas import REPORT_COLUMNS
from storestatus.vocabulary import Interpolation

Figures = tuple[float, float, float, float, float, float]
MONDAY = datetime(2023, 1, 23, tzinfo=UTC)


def at(day: datetime, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return day.replace(hour=hh, minute=mm, second=ss)


def report(
    observations: pl.DataFrame,
    business_hours: pl.DataFrame | None = None,
    timezones: pl.DataFrame | None = None,
    *,
    now: datetime,
    interpolation: Interpolation = "nearest",
) -> dict[str, Figures]:
    frame = compute_report(
        observations,
        business_hours if business_hours is not None else hours(),
        timezones if timezones is not None else zones(),
        now=now,
        interpolation=interpolation,
    )
    assert tuple(frame.columns) == REPORT_COLUMNS
    return {row[0]: tuple(row[1:]) for row in frame.iter_rows()}


UTC_STORE = zones(("s", "UTC"))


def test_worked_example_nearest_splits_at_the_midpoint() -> None:
    # Open 09:00-12:00, polls 10:14 active and 11:15 inactive: nearest splits at 10:44:30.
    # Up 09:00-10:44:30 = 104.5 min = 1.74 h; down 10:44:30-12:00 = 75.5 min = 1.26 h.
    # Last hour 11:00-12:00 is all after the split: 60 min down.
    result = report(
        polls(("s", at(MONDAY, 10, 14), "active"), ("s", at(MONDAY, 11, 15), "inactive")),
        hours(("s", 0, time(9), time(12))),
        UTC_STORE,
        now=at(MONDAY, 12),
    )
    assert result == {"s": (0.0, 1.74, 1.74, 60.0, 1.26, 1.26)}


def test_worked_example_in_local_time() -> None:
    # Same store in Chicago (UTC-6 in January): 09:00-12:00 local is 15:00-18:00 UTC.
    result = report(
        polls(("s", at(MONDAY, 16, 14), "active"), ("s", at(MONDAY, 17, 15), "inactive")),
        hours(("s", 0, time(9), time(12))),
        zones(("s", "America/Chicago")),
        now=at(MONDAY, 18),
    )
    assert result == {"s": (0.0, 1.74, 1.74, 60.0, 1.26, 1.26)}


def test_worked_example_previous_carries_the_last_status_forward() -> None:
    # previous: 09:00-10:14 takes the first poll (active), 10:14-11:15 active, 11:15-12:00
    # inactive. Up 2.25 h, down 0.75 h; last hour 11:00-11:15 up (15), 11:15-12:00 down (45).
    result = report(
        polls(("s", at(MONDAY, 10, 14), "active"), ("s", at(MONDAY, 11, 15), "inactive")),
        hours(("s", 0, time(9), time(12))),
        UTC_STORE,
        now=at(MONDAY, 12),
        interpolation="previous",
    )
    assert result == {"s": (15.0, 2.25, 2.25, 45.0, 0.75, 0.75)}


def test_overnight_hours_run_into_the_next_day() -> None:
    # Friday 22:00-02:00 (end <= start): [Fri 22:00, Sat 02:00), 4 h, though Saturday has no row.
    # Polls Fri 23:00 inactive, Sat 01:00 active: split at Sat 00:00 -> 2 h down, 2 h up.
    friday = MONDAY + timedelta(days=4)
    saturday = friday + timedelta(days=1)
    result = report(
        polls(("s", at(friday, 23), "inactive"), ("s", at(saturday, 1), "active")),
        hours(("s", 4, time(22), time(2))),
        UTC_STORE,
        now=at(saturday, 2),
    )
    assert result == {"s": (60.0, 2.0, 2.0, 0.0, 2.0, 2.0)}


def test_split_hours_and_nearest_across_the_break() -> None:
    # Monday 09-11 and 13-15; polls 10:00 active, 14:00 inactive. Nearest splits at 12:00
    # (inside the break): up 09-11 = 2 h, down 13-15 = 2 h. previous splits at 14:00:
    # up 09-11 + 13-14 = 3 h, down 14-15 = 1 h. The last hour (15-16) is closed.
    observations = polls(("s", at(MONDAY, 10), "active"), ("s", at(MONDAY, 14), "inactive"))
    business = hours(("s", 0, time(9), time(11)), ("s", 0, time(13), time(15)))
    now = at(MONDAY, 16)
    assert report(observations, business, UTC_STORE, now=now) == {
        "s": (0.0, 2.0, 2.0, 0.0, 2.0, 2.0)
    }
    assert report(observations, business, UTC_STORE, now=now, interpolation="previous") == {
        "s": (0.0, 3.0, 3.0, 0.0, 1.0, 1.0)
    }


def test_overlapping_and_duplicate_rows_are_merged_not_double_counted() -> None:
    # 09-12, 11-14 and 09-12 again: one interval 09-14, 5 h.
    result = report(
        polls(("s", at(MONDAY, 10), "active")),
        hours(
            ("s", 0, time(9), time(12)), ("s", 0, time(11), time(14)), ("s", 0, time(9), time(12))
        ),
        UTC_STORE,
        now=at(MONDAY, 15),
    )
    assert result == {"s": (0.0, 5.0, 5.0, 0.0, 0.0, 0.0)}


def test_ends_at_2359_and_235959_mean_midnight() -> None:
    # Mon 20:00-23:59 and Tue 20:00-23:59:59 are each 4 h, to midnight.
    # Day window [Tue 00:00, Wed 00:00) holds Tuesday's 4 h; the week both: 8 h.
    result = report(
        polls(("s", at(MONDAY, 21), "active")),
        hours(("s", 0, time(20), time(23, 59)), ("s", 1, time(20), time(23, 59, 59))),
        UTC_STORE,
        now=MONDAY + timedelta(days=2),
    )
    assert result == {"s": (60.0, 4.0, 8.0, 0.0, 0.0, 0.0)}


def test_equal_start_and_end_mean_24_hours() -> None:
    # Monday 09:00-09:00 is [Mon 09:00, Tue 09:00).
    result = report(
        polls(("s", at(MONDAY, 10), "inactive")),
        hours(("s", 0, time(9), time(9))),
        UTC_STORE,
        now=at(MONDAY + timedelta(days=1), 9),
    )
    assert result == {"s": (0.0, 0.0, 0.0, 60.0, 24.0, 24.0)}


NEW_YORK = zones(("s", "America/New_York"))


def test_spring_forward_day_is_23_hours_long() -> None:
    # Sunday 2023-03-12 in New York: 00:00 EST (05:00 UTC) to midnight EDT (Mon 04:00 UTC), 23 h.
    # The week window [Mar 6 04:00, Mar 13 04:00) also holds the last hour of the Sunday before
    # (Mar 5, which ends at Mar 6 05:00 UTC): 24 h.
    sunday = datetime(2023, 3, 12, tzinfo=UTC)
    result = report(
        polls(("s", at(sunday, 17), "active")),
        hours(("s", 6, time(0), time(23, 59))),
        NEW_YORK,
        now=datetime(2023, 3, 13, 4, tzinfo=UTC),
    )
    assert result == {"s": (60.0, 23.0, 24.0, 0.0, 0.0, 0.0)}


def test_opening_inside_the_spring_forward_gap_lands_after_it() -> None:
    # 02:30 does not exist on 2023-03-12; fold=0 reads it as EST: 07:30 UTC (03:30 EDT).
    # 02:30-04:00 is therefore [07:30, 08:00) UTC: 30 min. 01:30-02:30 is [06:30, 07:30): 1 h.
    sunday = datetime(2023, 3, 12, tzinfo=UTC)
    now = datetime(2023, 3, 12, 9, tzinfo=UTC)
    observations = polls(("s", at(sunday, 7, 45), "active"))
    assert report(observations, hours(("s", 6, time(2, 30), time(4))), NEW_YORK, now=now) == {
        "s": (0.0, 0.5, 0.5, 0.0, 0.0, 0.0)
    }
    observations = polls(("s", at(sunday, 7), "active"))
    assert report(observations, hours(("s", 6, time(1, 30), time(2, 30))), NEW_YORK, now=now) == {
        "s": (0.0, 1.0, 1.0, 0.0, 0.0, 0.0)
    }


def test_fall_back_day_is_25_hours_and_repeated_times_take_the_first() -> None:
    # Sunday 2023-11-05: midnight EDT (04:00 UTC) to midnight EST (Mon 05:00 UTC), 25 h. The day
    # window [Nov 5 05:00, Nov 6 05:00) holds 24 of them, the week all 25.
    sunday = datetime(2023, 11, 5, tzinfo=UTC)
    now = datetime(2023, 11, 6, 5, tzinfo=UTC)
    observations = polls(("s", at(sunday, 12), "inactive"))
    assert report(observations, hours(("s", 6, time(0), time(23, 59, 59))), NEW_YORK, now=now) == {
        "s": (0.0, 0.0, 0.0, 60.0, 24.0, 25.0)
    }
    # 01:30 happens twice; fold=0 takes the first (EDT, 05:30 UTC). 01:30-03:00 EST (08:00 UTC)
    # is 2.5 h.
    observations = polls(("s", at(sunday, 6), "active"))
    assert report(observations, hours(("s", 6, time(1, 30), time(3))), NEW_YORK, now=now) == {
        "s": (0.0, 2.5, 2.5, 0.0, 0.0, 0.0)
    }


def test_half_hour_time_zone() -> None:
    # Kolkata is UTC+05:30: 09:00-17:00 local is 03:30-11:30 UTC. Polls 04:00 active, 10:00
    # inactive split at 07:00: up 3.5 h, down 4.5 h; last hour 11:00-12:00 has 30 min, down.
    result = report(
        polls(("s", at(MONDAY, 4), "active"), ("s", at(MONDAY, 10), "inactive")),
        hours(("s", 0, time(9), time(17))),
        zones(("s", "Asia/Kolkata")),
        now=at(MONDAY, 12),
    )
    assert result == {"s": (0.0, 3.5, 3.5, 30.0, 4.5, 4.5)}


def test_store_without_hours_is_open_all_week() -> None:
    # 24/7; polls at now-90 min active and now-30 min inactive split at now-60 min.
    now = at(MONDAY, 12)
    result = report(
        polls(
            ("s", now - timedelta(minutes=90), "active"),
            ("s", now - timedelta(minutes=30), "inactive"),
        ),
        now=now,
    )
    assert result == {"s": (0.0, 23.0, 167.0, 60.0, 1.0, 1.0)}


def test_missing_time_zone_means_chicago() -> None:
    # 09:00-12:00 Chicago is 15:00-18:00 UTC; the 15:30 UTC poll counts only in that zone.
    result = report(
        polls(("s", at(MONDAY, 15, 30), "active")),
        hours(("s", 0, time(9), time(12))),
        now=at(MONDAY, 18),
    )
    assert result == {"s": (60.0, 3.0, 3.0, 0.0, 0.0, 0.0)}


def test_stores_without_counted_polls_get_zero_rows() -> None:
    # "h" has hours but no poll; "z" only a time zone; "o" has a poll outside its hours and one
    # exactly at the end of them (intervals are half-open), so none counts.
    result = report(
        polls(("o", at(MONDAY, 13), "active"), ("o", at(MONDAY, 12), "active")),
        hours(("h", 0, time(9), time(12)), ("o", 0, time(9), time(12))),
        zones(("z", "UTC"), ("o", "UTC"), ("h", "UTC")),
        now=at(MONDAY, 14),
    )
    zero = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert result == {"h": zero, "o": zero, "z": zero}


def test_polls_after_now_or_before_the_candidate_window_are_ignored() -> None:
    # 24/7 store, as of a past instant: the poll after now is ignored, and so is the one just
    # over 8 days before now, so the single active poll covers the whole week.
    now = at(MONDAY, 12)
    result = report(
        polls(
            ("s", now - timedelta(days=8, seconds=1), "inactive"),
            ("s", now - timedelta(minutes=10), "active"),
            ("s", now + timedelta(minutes=10), "inactive"),
        ),
        now=now,
    )
    assert result == {"s": (60.0, 24.0, 168.0, 0.0, 0.0, 0.0)}


def test_a_poll_exactly_at_now_counts_when_the_store_is_open_then() -> None:
    # Issue #9, fix 1: s1 is 24/7, polled inactive at 09:00 and active at 10:00 = now (the
    # default as-of: the latest poll). nearest splits at 09:30: last hour 30 min up, 30 down.
    # The day [now-24h, now) holds 09:00-10:00 of today; before 09:00 the first poll's status
    # (inactive) rules: 0.50 h up, 23.50 h down; the week likewise 0.5 h up, 167.5 h down.
    now = at(MONDAY, 10)
    both = polls(("s1", at(MONDAY, 9), "inactive"), ("s1", now, "active"))
    assert report(both, now=now) == {"s1": (30.0, 0.5, 0.5, 30.0, 23.5, 167.5)}
    # previous: the poll at now owns no time after it; 09:00-10:00 is inactive.
    assert report(both, now=now, interpolation="previous") == {
        "s1": (0.0, 0.0, 0.0, 60.0, 24.0, 168.0)
    }
    # The only poll at now stands for the whole week (instants before the first poll).
    assert report(polls(("s1", now, "active")), now=now) == {
        "s1": (60.0, 24.0, 168.0, 0.0, 0.0, 0.0)
    }


def test_a_poll_at_now_does_not_count_at_closing_time_but_does_at_opening() -> None:
    # Open 09:00-10:00 and 10:00-11:00 on different days: the interval [09:00, 10:00) is
    # half-open, so a poll at now = 10:00 (closing) is outside it; one at now = 09:00 of a day
    # whose hours open at 09:00 is inside [09:00, 10:00) and counts.
    closing = at(MONDAY, 10)
    rows = hours(("s", 0, time(9), time(10)))
    closed = polls(("s", at(MONDAY, 9, 30), "inactive"), ("s", closing, "active"))
    # The week [Jan 16 10:00, now) holds only today's hour (last Monday's closed at 10:00).
    assert report(closed, rows, UTC_STORE, now=closing) == {"s": (0.0, 0.0, 0.0, 60.0, 1.0, 1.0)}
    opening = at(MONDAY, 9)
    opened = polls(("s", opening, "active"))
    # Business time before now: last Monday 09:00-10:00 (1 h in the week, none in the day).
    assert report(opened, rows, UTC_STORE, now=opening) == {"s": (0.0, 0.0, 1.0, 0.0, 0.0, 0.0)}


def test_a_poll_exactly_8_days_old_is_a_candidate() -> None:
    # Polls at now-8d (inactive) and now-1d (active) split at now-4.5d: the week window
    # [now-7d, now) is down for 2.5 d = 60 h and up for 108 h.
    now = at(MONDAY, 12)
    result = report(
        polls(("s", now - timedelta(days=8), "inactive"), ("s", now - timedelta(days=1), "active")),
        now=now,
    )
    assert result == {"s": (60.0, 24.0, 108.0, 0.0, 0.0, 60.0)}


def test_rounding_is_half_up_to_two_decimals() -> None:
    # 09:00:00-09:07:30 is 7.5 min = 0.125 h exactly: half up gives 0.13 (half-even: 0.12).
    result = report(
        polls(("s", at(MONDAY, 9, 1), "active")),
        hours(("s", 0, time(9), time(9, 7, 30))),
        UTC_STORE,
        now=at(MONDAY, 12),
    )
    assert result == {"s": (0.0, 0.13, 0.13, 0.0, 0.0, 0.0)}


def test_store_ids_are_opaque_strings_sorted_as_text() -> None:
    ids = ["9", "007", "10", "1481966498820158979", "c7a0e1f2-0000-4000-8000-000000000000"]
    now = at(MONDAY, 12)
    frame = compute_report(
        polls(*[(store, now - timedelta(minutes=5), "active") for store in ids]),
        hours(),
        zones(),
        now=now,
    )
    assert frame.get_column("store_id").to_list() == sorted(ids)


def test_output_schema_on_empty_input() -> None:
    frame = compute_report(polls(), hours(), zones(), now=at(MONDAY, 12))
    expected = pl.DataFrame(
        schema={"store_id": pl.String} | dict.fromkeys(REPORT_COLUMNS[1:], pl.Float64)
    )
    assert_frame_equal(frame, expected)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_report(polls(), hours(), zones(), now=datetime(2023, 1, 23, 12))


def test_more_stores_than_the_packed_key_holds_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # Store keys share an Int64 with 41 bits of time; beyond MAX_STORES they would overflow.
    monkeypatch.setattr("storestatus.compute.MAX_STORES", 2)
    three = zones(("a", "UTC"), ("b", "UTC"), ("c", "UTC"))
    with pytest.raises(ValueError, match="at most 2 stores, not 3"):
        compute_report(polls(), hours(), three, now=at(MONDAY, 12))
    assert compute_report(polls(), hours(), three.head(2), now=at(MONDAY, 12)).height == 2


def test_the_packed_layout_fits_in_an_int64() -> None:
    from storestatus import compute  # noqa: PLC0415

    span_ticks = compute.CANDIDATE_SPAN // timedelta(microseconds=1) * compute.TICKS_PER_US
    assert span_ticks < 2**compute._TIME_BITS  # every instant of the window, after the origin
    largest = (compute.MAX_STORES - 1) * 2**compute._TIME_BITS + (2**compute._TIME_BITS - 1)
    assert largest == 2**63 - 1  # the largest key with the largest instant: exactly fits


def test_coverage_counts_the_candidate_polls_and_their_stores() -> None:
    # Candidates are now - 8 days <= t <= now, both ends in; stores named only by hours or
    # time zones have none. a: 2 (one exactly at now), b: 1 (exactly at now - 8 days).
    now = at(MONDAY, 12)
    observations = polls(
        ("a", at(MONDAY, 11), "active"),
        ("a", now, "inactive"),
        ("b", now - timedelta(days=8), "active"),
        ("b", now - timedelta(days=8, microseconds=1), "active"),  # too old
        ("c", now + timedelta(microseconds=1), "active"),  # after now
    )
    frame, coverage = compute_report_and_coverage(
        observations, hours(("d", 0, time(9), time(17))), zones(("e", "UTC")), now=now
    )
    assert coverage == Coverage(polls=3, stores_polled=2)
    assert frame.get_column("store_id").to_list() == ["a", "b", "d", "e"]
    nothing = compute_report_and_coverage(polls(), hours(), zones(("e", "UTC")), now=now)[1]
    assert nothing == Coverage(polls=0, stores_polled=0)


def test_a_store_polled_only_before_the_window_is_listed_with_zeros() -> None:
    # Issue #9: "dark" was polled 10 days before now and is in no hours or time zones; "later"
    # only after now. The report lists dark with zeros, from its old poll or from known_stores
    # (the store's registry, when the old polls are not read); never later.
    now = at(MONDAY, 12)
    old = polls(("dark", now - timedelta(days=10), "active"))
    after = polls(("later", now + timedelta(seconds=1), "active"))
    live = polls(("live", now, "active"))
    zero: Figures = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    listed = report(pl.concat([old, after, live]), now=now)
    assert listed == {"dark": zero, "live": (60.0, 24.0, 168.0, 0.0, 0.0, 0.0)}
    known = compute_report(
        live, hours(), zones(), now=now, known_stores=pl.Series(["dark", "live"])
    )
    assert known.rows() == [("dark", *zero), ("live", *listed["live"])]
