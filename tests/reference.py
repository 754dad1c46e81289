"""A deliberately simple, slow and obviously correct reference for ``compute_report``.

Everything here is plain Python over rows: business hours become explicit UTC intervals per
store (via ``zoneinfo``), overlapping intervals are merged, the counted polls become an explicit
step function (a list of pieces, each with one status) and every figure is the sum of the lengths
of ``business interval ∩ window ∩ piece`` over all triples. Instants are microseconds since the
epoch; the only non-integer instants are the midpoints used by ``nearest`` interpolation, which
are kept exact as ``fractions.Fraction``. Nothing is rounded until the final half-up rounding.

The tests compare the vectorised implementation with this module; it is never used in production.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from fractions import Fraction
from typing import Literal
from zoneinfo import ZoneInfo

import polars as pl

from storestatus.schemas import (
    ACTIVE,
    DAY,
    DEFAULT_TIMEZONE,
    DETAIL_COLUMNS,
    END,
    INACTIVE,
    REPORT_COLUMNS,
    START,
    STATUS,
    STORE_ID,
    TIMESTAMP,
    TIMEZONE,
)

Instant = int | Fraction  # microseconds since 1970-01-01 00:00 UTC
Interval = tuple[Instant, Instant]  # half-open [start, end)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US_PER_MINUTE = 60 * 1_000_000
US_PER_HOUR = 60 * US_PER_MINUTE
CANDIDATE_SPAN_US = 8 * 24 * US_PER_HOUR
END_OF_DAY = time(23, 59)  # an end time at or after this means midnight

# (window name, window length in microseconds, microseconds per reported unit)
WINDOWS: tuple[tuple[str, int, int], ...] = (
    ("last_hour", US_PER_HOUR, US_PER_MINUTE),
    ("last_day", 24 * US_PER_HOUR, US_PER_HOUR),
    ("last_week", 7 * 24 * US_PER_HOUR, US_PER_HOUR),
)


@dataclass(frozen=True)
class Poll:
    """One status observation of a store."""

    at: int  # microseconds since the epoch
    status: str


@dataclass(frozen=True)
class HoursRow:
    """One business-hours row of a store, in local wall time."""

    day_of_week: int  # 0 = Monday .. 6 = Sunday
    start: time
    end: time


# ---------------------------------------------------------------------------------------------
# Instants
# ---------------------------------------------------------------------------------------------


def to_micros(instant: datetime) -> int:
    """Exact microseconds since the epoch of a timezone-aware datetime."""
    if instant.tzinfo is None:
        raise ValueError("naive datetime")
    return (instant - EPOCH) // timedelta(microseconds=1)


def local_to_micros(day: date, wall: time, zone: ZoneInfo) -> int:
    """Local wall time on ``day`` to UTC microseconds, exactly as ``zoneinfo`` with fold=0 does."""
    local = datetime.combine(day, wall).replace(tzinfo=zone, fold=0)
    return to_micros(local.astimezone(UTC))


def round_half_up(value: Fraction) -> float:
    """Round an exact value half up to two decimals: ``floor(100 x + 1/2) / 100``."""
    return math.floor(value * 100 + Fraction(1, 2)) / 100


# ---------------------------------------------------------------------------------------------
# Intervals
# ---------------------------------------------------------------------------------------------


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Union of half-open intervals as a sorted list of disjoint, non-touching intervals."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if merged and start <= merged[-1][1]:
            last_start, last_end = merged[-1]
            merged[-1] = (last_start, max(last_end, end))
        else:
            merged.append((start, end))
    return merged


def overlap(a: Interval, b: Interval) -> Instant:
    """Length of the intersection of two half-open intervals (0 when disjoint)."""
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def contains(intervals: list[Interval], instant: Instant) -> bool:
    """Whether ``instant`` lies in one of the half-open ``intervals``."""
    return any(start <= instant < end for start, end in intervals)


def business_intervals(rows: list[HoursRow], zone_name: str, lo: int, hi: int) -> list[Interval]:
    """Merged UTC business intervals of one store, covering at least ``[lo, hi]``.

    Each hours row of weekday ``d`` opens on every local date of that weekday from its start time
    to its end time; an end at or after 23:59 means the next midnight, an end at or before the
    start means the next day (equal start and end: 24 hours). A store without rows is always open.
    """
    if not rows:
        return [(lo - 1, hi + 1)]
    zone = ZoneInfo(zone_name)
    # Local dates whose intervals can touch [lo, hi]: offsets are < 1 day and an interval ends at
    # most two local days after its date starts, so a margin of three days is generous.
    first = (EPOCH + timedelta(microseconds=lo)).date() - timedelta(days=3)
    last = (EPOCH + timedelta(microseconds=hi)).date() + timedelta(days=3)
    intervals: list[Interval] = []
    day = first
    while day <= last:
        for row in rows:
            if day.weekday() != row.day_of_week:
                continue
            start = local_to_micros(day, row.start, zone)
            if row.end >= END_OF_DAY:
                end = local_to_micros(day + timedelta(days=1), time(0, 0), zone)
            elif row.end <= row.start:
                end = local_to_micros(day + timedelta(days=1), row.end, zone)
            else:
                end = local_to_micros(day, row.end, zone)
            intervals.append((start, end))  # empty (end <= start) ones are dropped by merge
        day += timedelta(days=1)
    return merge(intervals)


# ---------------------------------------------------------------------------------------------
# The status step function
# ---------------------------------------------------------------------------------------------


def status_pieces(
    polls: list[Poll],
    interpolation: Literal["nearest", "previous"],
    lo: int,
    hi: int,
    max_gap: int | None = None,
) -> list[tuple[Interval, str]]:
    """The status of the instants of ``[lo, hi)`` as pieces ``((a, b), status)``, in time order.

    ``polls`` must be non-empty, sorted by time, with ``lo <= first poll`` and ``last poll <= hi``.
    ``nearest``: the nearest poll (the boundary between two polls is their exact midpoint).
    ``previous``: the latest poll at or before the instant; the first poll before it.
    ``max_gap`` (microseconds): an instant farther than that from the poll whose status it would
    take has none, so each piece is cut to ``[poll - max_gap, poll + max_gap]``; the pieces then
    leave the unknown time uncovered.
    """
    assert polls
    assert lo <= polls[0].at
    assert polls[-1].at <= hi
    # boundaries[i] .. boundaries[i + 1] is the piece that takes polls[i].status
    boundaries: list[Instant] = [lo]
    for before, after in itertools.pairwise(polls):
        if interpolation == "nearest":
            boundaries.append(Fraction(before.at + after.at, 2))
        else:
            boundaries.append(after.at)
    boundaries.append(hi)
    pieces: list[tuple[Interval, str]] = []
    for i, poll in enumerate(polls):
        start, end = boundaries[i], boundaries[i + 1]
        if max_gap is not None:
            start, end = max(start, poll.at - max_gap), min(end, poll.at + max_gap)
        pieces.append(((start, end), poll.status))
    return pieces


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoreFigures:
    """Exact figures of one store, in microseconds, per window name."""

    uptime: dict[str, Instant]
    downtime: dict[str, Instant]
    business: dict[str, Instant]
    counted: list[Poll]
    polls: dict[str, int]  # counted polls with now - window <= at <= now
    last_poll: int | None  # the latest candidate poll (any hours), microseconds

    def unknown(self, window: str) -> Instant:
        """Business time with no status."""
        return self.business[window] - self.uptime[window] - self.downtime[window]


def _rows_by_store(
    observations: pl.DataFrame,
    hours: pl.DataFrame,
    timezones: pl.DataFrame,
    now_us: int,
    known_stores: Iterable[str] = (),
) -> tuple[dict[str, list[Poll]], dict[str, list[HoursRow]], dict[str, str], list[str]]:
    """Plain-Python views of the three frames, plus the sorted store ids of the report: those
    of the hours, the time zones, ``known_stores`` and every poll at or before now."""
    polls: dict[str, list[Poll]] = {}
    polled_before = set(known_stores)
    for row in observations.iter_rows(named=True):
        at = to_micros(row[TIMESTAMP])
        if now_us - CANDIDATE_SPAN_US <= at <= now_us:
            polls.setdefault(row[STORE_ID], []).append(Poll(at, row[STATUS]))
        if at <= now_us:
            polled_before.add(row[STORE_ID])
    hours_rows: dict[str, list[HoursRow]] = {}
    for row in hours.iter_rows(named=True):
        hours_rows.setdefault(row[STORE_ID], []).append(
            HoursRow(int(row[DAY]), row[START], row[END])
        )
    zones: dict[str, str] = {}
    for row in timezones.iter_rows(named=True):
        zones.setdefault(row[STORE_ID], row[TIMEZONE])
    store_ids = sorted(polled_before | set(hours_rows) | set(zones))
    return polls, hours_rows, zones, store_ids


def store_figures(
    candidates: list[Poll],
    rows: list[HoursRow],
    zone_name: str,
    now_us: int,
    interpolation: Literal["nearest", "previous"],
    *,
    max_gap: int | None = None,
) -> StoreFigures:
    """Exact uptime, downtime and business time (microseconds) of one store in each window."""
    lo, hi = now_us - CANDIDATE_SPAN_US, now_us
    intervals = business_intervals(rows, zone_name, lo, hi)
    counted = sorted((p for p in candidates if contains(intervals, p.at)), key=lambda p: p.at)
    pieces = status_pieces(counted, interpolation, lo, hi, max_gap) if counted else []
    uptime: dict[str, Instant] = {}
    downtime: dict[str, Instant] = {}
    business: dict[str, Instant] = {}
    for name, length, _unit in WINDOWS:
        window: Interval = (now_us - length, now_us)
        up: Instant = 0
        down: Instant = 0
        total: Instant = 0
        for interval in intervals:
            open_in_window = overlap(interval, window)
            if not open_in_window:
                continue
            total += open_in_window
            clipped: Interval = (max(interval[0], window[0]), min(interval[1], window[1]))
            for piece, status in pieces:
                if status == ACTIVE:
                    up += overlap(clipped, piece)
                elif status == INACTIVE:
                    down += overlap(clipped, piece)
                else:
                    raise ValueError(f"unknown status {status!r}")
        uptime[name], downtime[name], business[name] = up, down, total
    polls = {
        name: sum(1 for p in counted if now_us - length <= p.at <= now_us)
        for name, length, _unit in WINDOWS
    }
    last_poll = max((p.at for p in candidates), default=None)
    return StoreFigures(uptime, downtime, business, counted, polls, last_poll)


def reference_figures(
    observations: pl.DataFrame,
    hours: pl.DataFrame,
    timezones: pl.DataFrame,
    *,
    now: datetime,
    interpolation: Literal["nearest", "previous"] = "nearest",
    known_stores: Iterable[str] = (),
    max_gap: timedelta | None = None,
) -> dict[str, StoreFigures]:
    """Exact figures of every store of the report, by store id (see ``_rows_by_store``)."""
    gap = None if max_gap is None else max_gap // timedelta(microseconds=1)
    now_us = to_micros(now)
    polls, hours_rows, zones, store_ids = _rows_by_store(
        observations, hours, timezones, now_us, known_stores
    )
    return {
        store_id: store_figures(
            polls.get(store_id, []),
            hours_rows.get(store_id, []),
            zones.get(store_id, DEFAULT_TIMEZONE),
            now_us,
            interpolation,
            max_gap=gap,
        )
        for store_id in store_ids
    }


def in_units(value: Instant, unit: int) -> float:
    """Microseconds to the reported unit, rounded half up to two decimals."""
    return round_half_up(Fraction(value) / unit)


def reference_report(
    observations: pl.DataFrame,
    hours: pl.DataFrame,
    timezones: pl.DataFrame,
    *,
    now: datetime,
    interpolation: Literal["nearest", "previous"] = "nearest",
    known_stores: Iterable[str] = (),
    detail: bool = False,
    max_gap: timedelta | None = None,
) -> pl.DataFrame:
    """The report ``compute_report`` must produce, computed the slow and simple way."""
    figures = reference_figures(
        observations,
        hours,
        timezones,
        now=now,
        interpolation=interpolation,
        known_stores=known_stores,
        max_gap=max_gap,
    )
    stores = list(figures.values())
    columns: dict[str, list[str] | list[float] | list[int] | list[str | None]] = {
        STORE_ID: list(figures)
    }
    for kind in ("uptime", "downtime"):
        for name, _length, unit in WINDOWS:
            columns[f"{kind}_{name}"] = [in_units(getattr(f, kind)[name], unit) for f in stores]
    schema: dict[str, pl.DataType] = {STORE_ID: pl.String()}
    schema |= {c: pl.Float64() for c in REPORT_COLUMNS[1:]}
    if detail:
        for name, _length, unit in WINDOWS:
            columns[f"business_hours_{name}"] = [in_units(f.business[name], unit) for f in stores]
        for name, _length, unit in WINDOWS:
            columns[f"unknown_{name}"] = [in_units(f.unknown(name), unit) for f in stores]
        for name, _length, _unit in WINDOWS:
            columns[f"polls_{name}"] = [f.polls[name] for f in stores]
        columns["last_poll_utc"] = [iso_utc(f.last_poll) for f in stores]
        schema |= {c: pl.Float64() for c in DETAIL_COLUMNS if c.startswith(("business", "unknown"))}
        schema |= {c: pl.Int64() for c in DETAIL_COLUMNS if c.startswith("polls")}
        schema |= {"last_poll_utc": pl.String()}
    return pl.DataFrame(columns, schema=schema)


def iso_utc(micros: int | None) -> str | None:
    """An instant as the report writes it: ``2023-01-25T18:13:22.479220Z``."""
    if micros is None:
        return None
    return (EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
