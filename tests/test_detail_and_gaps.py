"""Hand-computed cases for ``--detail`` and ``--max-gap`` (issue #9).

Each case is checked against both ``compute_report`` and the brute-force reference, so a wrong
hand computation cannot hide behind either. Per window the figures are (uptime, downtime,
business, unknown): minutes for the hour, hours for the day and the week. 2024-01-08 is a Monday.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

import polars as pl
import pytest
from builders import frames
from polars.testing import assert_frame_equal
from reference import reference_report

from storestatus.compute import compute_report
from storestatus.schemas import DETAIL_COLUMNS, REPORT_COLUMNS
from storestatus.vocabulary import Interpolation

MONDAY = datetime(2024, 1, 8, tzinfo=UTC)
WINDOWS = ("last_hour", "last_day", "last_week")
Window = tuple[float, float, float, float]  # uptime, downtime, business, unknown
PollRow = tuple[str, datetime, str]


def at(hh: int, mm: int = 0, *, days: int = 0) -> datetime:
    """Monday ``hh:mm`` UTC, ``days`` later (negative: earlier)."""
    return MONDAY + timedelta(days=days, hours=hh, minutes=mm)


def detailed(
    data: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame],
    *,
    now: datetime,
    interpolation: Interpolation = "nearest",
    max_gap: timedelta | None = None,
) -> dict[str, dict[str, Any]]:
    """The detailed report by store id; the same from the reference, or the test fails."""
    options: dict[str, Any] = {
        "now": now,
        "interpolation": interpolation,
        "max_gap": max_gap,
        "detail": True,
    }
    report = compute_report(*data, **options)
    assert report.columns == [*REPORT_COLUMNS, *DETAIL_COLUMNS]
    assert_frame_equal(report, reference_report(*data, **options))
    return {row["store_id"]: row for row in report.iter_rows(named=True)}


def window(row: dict[str, Any], name: str) -> Window:
    return (
        row[f"uptime_{name}"],
        row[f"downtime_{name}"],
        row[f"business_hours_{name}"],
        row[f"unknown_{name}"],
    )


def windows(row: dict[str, Any]) -> tuple[Window, Window, Window]:
    return window(row, "last_hour"), window(row, "last_day"), window(row, "last_week")


# Open Mondays 09:00-17:00 UTC. Polls: 08:30 (closed: not counted), 10:00 down, 11:00 and 12:00
# up; now is Monday 12:00. The week reaches back to last Monday 12:00, so it holds last
# Monday's 12:00-17:00 (5 h) and today's 09:00-12:00 (3 h): 8 business hours.
OPEN_9_TO_5 = frames(
    polls=[
        ("d", at(8, 30), "inactive"),
        ("d", at(10), "inactive"),
        ("d", at(11), "active"),
        ("d", at(12), "active"),
    ],
    hours=[("d", 0, time(9), time(17))],
    zones=[("d", "UTC"), ("z", "Asia/Kolkata")],
)


def test_detail_columns_nearest() -> None:
    rows = detailed(OPEN_9_TO_5, now=at(12))
    # Spans: 10:00 down from the origin to 10:30, 11:00 up 10:30-11:30, 12:00 up 11:30-12:00.
    # Hour 11-12: all up. Day: down 09:00-10:30, up 10:30-12:00. Week: last Monday's 5 h down too.
    assert windows(rows["d"]) == ((60, 0, 60, 0), (1.5, 1.5, 3, 0), (1.5, 6.5, 8, 0))
    # Counted polls with now - window <= t <= now: 11:00 is exactly at the hour's start.
    assert (rows["d"]["polls_last_hour"], rows["d"]["polls_last_day"]) == (2, 3)
    assert rows["d"]["polls_last_week"] == 3  # the 08:30 poll is outside business hours
    assert rows["d"]["last_poll_utc"] == "2024-01-08T12:00:00.000000Z"
    # A store never polled: open 24/7, all of its business time unknown, no last poll.
    assert windows(rows["z"]) == ((0, 0, 60, 60), (0, 0, 24, 24), (0, 0, 168, 168))
    assert [rows["z"][f"polls_{name}"] for name in WINDOWS] == [0, 0, 0]
    assert rows["z"]["last_poll_utc"] is None


def test_detail_columns_previous() -> None:
    rows = detailed(OPEN_9_TO_5, now=at(12), interpolation="previous")
    # 10:00 down from the origin to 11:00 (the first poll covers what is before it), then up.
    assert windows(rows["d"]) == ((60, 0, 60, 0), (1, 2, 3, 0), (1, 7, 8, 0))


def test_last_poll_is_the_latest_candidate_even_outside_business_hours() -> None:
    # Open 09:00-11:00; polled at 10:00 (counted) and 11:30 (closed). Now 12:00.
    data = frames(
        polls=[("o", at(10), "active"), ("o", at(11, 30), "inactive"), ("o", at(13), "active")],
        hours=[("o", 0, time(9), time(11))],
        zones=[("o", "UTC")],
    )
    row = detailed(data, now=at(12))["o"]
    assert windows(row) == ((0, 0, 0, 0), (2, 0, 2, 0), (2, 0, 2, 0))
    assert [row[f"polls_{name}"] for name in WINDOWS] == [0, 1, 1]
    assert row["last_poll_utc"] == "2024-01-08T11:30:00.000000Z"  # 13:00 is after now


def test_a_store_polled_only_before_the_eight_days_has_no_last_poll() -> None:
    data = frames(polls=[("old", at(12, days=-9), "active")], zones=[("old", "UTC")])
    row = detailed(data, now=at(12))["old"]
    assert windows(row)[2] == (0, 0, 168, 168)
    assert row["last_poll_utc"] is None


def test_max_gap_nearest_and_before_the_first_poll() -> None:
    rows = detailed(OPEN_9_TO_5, now=at(12), max_gap=timedelta(minutes=30))
    # 10:00 down 09:30-10:30 (not from the origin any more), 11:00 up 10:30-11:30, 12:00 up
    # 11:30-12:00. Unknown: 09:00-09:30 today and all of last Monday's 5 hours.
    assert windows(rows["d"]) == ((60, 0, 60, 0), (1.5, 1, 3, 0.5), (1.5, 1, 8, 5.5))
    # The never-polled store is unaffected: all unknown.
    assert windows(rows["z"])[1] == (0, 0, 24, 24)


def test_max_gap_previous_and_before_the_first_poll() -> None:
    rows = detailed(
        OPEN_9_TO_5, now=at(12), interpolation="previous", max_gap=timedelta(minutes=30)
    )
    # The first poll (10:00, down) covers 09:30-10:30 (30 min either side of it); 11:00 up
    # 11:00-11:30; 12:00 up for no time. Unknown: 09:00-09:30, 10:30-11:00, 11:30-12:00.
    assert windows(rows["d"]) == ((30, 0, 60, 30), (0.5, 1, 3, 1.5), (0.5, 1, 8, 6.5))


# Open Mondays 09:00-12:00 and 13:00-17:00 UTC; polled down at 11:50 and up at 13:10; now 14:00.
SPLIT_DAY = frames(
    polls=[("c", at(11, 50), "inactive"), ("c", at(13, 10), "active")],
    hours=[("c", 0, time(9), time(12)), ("c", 0, time(13), time(17))],
    zones=[("c", "UTC")],
)


@pytest.mark.parametrize(
    ("interpolation", "gap", "expected"),
    [
        # No gap: the midpoint 12:30 is in the break; down 09:00-12:00, up 13:00-14:00. The week
        # also holds last Monday 14:00-17:00 (3 h), down: the first poll covers it.
        ("nearest", None, ((60, 0, 60, 0), (1, 3, 4, 0), (1, 6, 7, 0))),
        # 30 min, counted in elapsed time across the break: 11:50 covers 11:20-12:20, of which
        # 11:20-12:00 is business time (40 min down); 13:10 covers 12:40-13:40, i.e. 13:00-13:40
        # (40 min up). Unknown: 09:00-11:20 and 13:40-14:00 = 2 h 40 min (+ 3 h in the week).
        (
            "nearest",
            timedelta(minutes=30),
            ((40, 0, 60, 20), (0.67, 0.67, 4, 2.67), (0.67, 0.67, 7, 5.67)),
        ),
        # `previous`: 11:50 (the first poll) covers 11:20-12:20 -> 40 min down; 13:10 covers
        # 13:10-13:40 -> 30 min up. Unknown: 4 h - 1 h 10 min = 2 h 50 min = 2.83 h.
        (
            "previous",
            timedelta(minutes=30),
            ((30, 0, 60, 30), (0.5, 0.67, 4, 2.83), (0.5, 0.67, 7, 5.83)),
        ),
        # Two hours: 11:50 covers 09:50-12:30 (2 h 10 min of business time, down) and 13:10
        # 12:30-14:00 (1 h up); only 09:00-09:50 is unknown today.
        (
            "nearest",
            timedelta(hours=2),
            ((60, 0, 60, 0), (1, 2.17, 4, 0.83), (1, 2.17, 7, 3.83)),
        ),
    ],
)
def test_max_gap_across_closed_hours(
    interpolation: Interpolation,
    gap: timedelta | None,
    expected: tuple[Window, Window, Window],
) -> None:
    row = detailed(SPLIT_DAY, now=at(14), interpolation=interpolation, max_gap=gap)["c"]
    assert windows(row) == expected


def hourly(
    store: str, status: str, first: datetime, last: datetime, skip: set[datetime]
) -> list[PollRow]:
    """A poll every hour from ``first`` to ``last``, except at the ``skip`` instants."""
    stamp, rows = first, []
    while stamp <= last:
        if stamp not in skip:
            rows.append((store, stamp, status))
        stamp += timedelta(hours=1)
    return rows


def test_a_poller_outage_is_unknown_time_not_downtime() -> None:
    # Two stores open 24/7, polled every hour from Sunday 11:00 to Monday 12:00, except that the
    # poller was down at 06:00, 07:00 and 08:00 on Monday (no poll for any store). p1 is always
    # up, p2 always down. Now: Monday 12:00.
    outage = {at(6), at(7), at(8)}
    data = frames(
        polls=[
            *hourly("p1", "active", at(11, days=-1), at(12), outage),
            *hourly("p2", "inactive", at(11, days=-1), at(12), outage),
        ],
        zones=[("p1", "UTC"), ("p2", "UTC")],
    )
    plain = detailed(data, now=at(12))
    # Without a limit the outage takes the neighbours' status: p2 is down all day and week.
    assert windows(plain["p2"]) == ((0, 60, 60, 0), (0, 24, 24, 0), (0, 168, 168, 0))
    gapped = detailed(data, now=at(12), max_gap=timedelta(hours=1))
    # With --max-gap 1h (nearest): 05:00 covers until 06:00 and 09:00 from 08:00 on, so
    # 06:00-08:00 is unknown. The week: polls cover Sunday 10:00 (11:00 - 1 h) to Monday 12:00,
    # 26 h, less the 2 unknown hours: 24 h known, 144 h unknown.
    assert windows(gapped["p1"]) == ((60, 0, 60, 0), (22, 0, 24, 2), (24, 0, 168, 144))
    assert windows(gapped["p2"]) == ((0, 60, 60, 0), (0, 22, 24, 2), (0, 24, 168, 144))
    # `previous`: 05:00 covers 05:00-06:00 and 09:00 starts again: 06:00-09:00 is unknown.
    previous = detailed(data, now=at(12), interpolation="previous", max_gap=timedelta(hours=1))
    assert windows(previous["p2"]) == ((0, 60, 60, 0), (0, 21, 24, 3), (0, 23, 168, 145))
    assert [previous["p2"][f"polls_{name}"] for name in WINDOWS] == [2, 22, 23]


def test_max_gap_longer_than_the_candidate_span_changes_nothing() -> None:
    for interpolation in ("nearest", "previous"):
        kwargs: dict[str, Any] = {"now": at(12), "interpolation": interpolation}
        assert_frame_equal(
            compute_report(*OPEN_9_TO_5, **kwargs, max_gap=timedelta(days=8)),
            compute_report(*OPEN_9_TO_5, **kwargs),
        )
