"""The report: business-hours uptime and downtime of every store, as one vectorised computation.

Pure: frames in, frame out. It reads no files, no clock and no environment, so the exact same
function is what the tests check against a brute-force reference and what the benchmarks time.

How it works, in one pass over all stores and all three windows at once:

1. Every timestamp becomes an integer count of *half* microseconds since the epoch, so that the
   midpoint between two microsecond polls is still an integer and nothing is ever rounded until
   the very end.
2. Business hours become merged UTC intervals per store (local wall time to UTC per time zone).
3. ``C(t)``, the business time of a store before instant ``t``, is a prefix sum over those
   intervals, read with an as-of join. It is non-decreasing, so for any span ``[a, b)`` and
   window ``[w0, w1)`` the business time in both is ``clip(C(b)) - clip(C(a))`` with both clipped
   to ``[C(w0), C(w1)]``: no interval-by-interval intersection is ever materialised.
4. Each counted poll owns the span of time it stands for (up to the midpoints with its neighbours
   for ``nearest``, up to the next poll for ``previous``); summing ``C`` differences of those spans
   per store and status gives uptime and downtime.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

import polars as pl

from storestatus.schemas import (
    ACTIVE,
    DAY,
    DEFAULT_TIMEZONE,
    END,
    REPORT_COLUMNS,
    START,
    STATUS,
    STORE_ID,
    TIMESTAMP,
    TIMEZONE,
    Interpolation,
)

CANDIDATE_SPAN: Final = timedelta(days=8)
TICKS_PER_US: Final = 2  # half microseconds: see the module docstring

# Window name -> (length, the unit its figures are reported in).
WINDOWS: Final = {
    "last_hour": (timedelta(hours=1), timedelta(minutes=1)),
    "last_day": (timedelta(days=1), timedelta(hours=1)),
    "last_week": (timedelta(days=7), timedelta(hours=1)),
}
_MINUS_INFINITY: Final = -(2**62)  # a tick before every business interval: C = 0 there
_END_OF_DAY: Final = time(23, 59)  # an end at or after 23:59 means midnight (issue #2)

# Internal column names.
_KEY: Final = "store_key"  # dense integer code of store_id: cheaper to join and group than strings
_AT: Final = "at"  # an instant, in ticks
_LO: Final = "lo"
_HI: Final = "hi"
_LEN: Final = "length"
_BEFORE: Final = "business_before"  # business time of the store before the interval starts
_C: Final = "business_until"  # C(t) of the module docstring


def compute_report(
    observations: pl.DataFrame,
    hours: pl.DataFrame,
    timezones: pl.DataFrame,
    *,
    now: datetime,
    interpolation: Interpolation = "nearest",
) -> pl.DataFrame:
    """Compute uptime and downtime within business hours for the last hour, day and week.

    Parameters
    ----------
    observations
        Status polls (``schemas.OBSERVATIONS_SCHEMA``), at most one per store and timestamp.
        Only those with ``now - 8 days <= timestamp <= now`` are considered.
    hours
        Business hours (``schemas.HOURS_SCHEMA``) in each store's local time. A store without
        rows is open 24/7; a store with rows is closed on weekdays it has none for.
    timezones
        IANA time zone per store (``schemas.TIMEZONES_SCHEMA``); missing stores use
        ``America/Chicago``.
    now
        The report's reference instant (timezone-aware).
    interpolation
        ``nearest``: each business instant takes the status of the nearest counted poll.
        ``previous``: of the latest counted poll at or before it (the first poll covers the
        instants before it).

    Returns
    -------
    pl.DataFrame
        ``schemas.REPORT_COLUMNS``: one row per store named in the hours, the time zones or the
        candidate polls, sorted by ``store_id``; minutes for the hour, hours for day and week,
        rounded half up to two decimals.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now_ticks = _ticks(now)
    candidates = observations.filter(
        pl.col(TIMESTAMP).is_between(now - CANDIDATE_SPAN, now, closed="both")
    )
    stores = _store_keys(candidates, hours, timezones)
    intervals = _business_intervals(hours, timezones, stores, now=now)
    counted = _counted_observations(candidates, stores, intervals)
    spans = _status_spans(counted, intervals, interpolation)
    window_bounds = _window_bounds(stores, intervals, now_ticks)
    totals = _window_totals(spans, window_bounds)
    return _format_report(stores, totals)


def _ticks(instant: datetime) -> int:
    """Exact ticks since the epoch of an aware datetime (integer arithmetic, no float)."""
    delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros * TICKS_PER_US


def _span_ticks(span: timedelta) -> int:
    return span // timedelta(microseconds=1) * TICKS_PER_US


def _store_keys(
    candidates: pl.DataFrame, hours: pl.DataFrame, timezones: pl.DataFrame
) -> pl.DataFrame:
    """Every store named by any source, sorted by id, with a dense integer key."""
    ids = pl.concat(
        [
            candidates.get_column(STORE_ID),
            hours.get_column(STORE_ID),
            timezones.get_column(STORE_ID),
        ]
    )
    return (
        ids.unique()
        .sort()
        .to_frame(STORE_ID)
        .with_row_index(_KEY)
        .with_columns(pl.col(_KEY).cast(pl.UInt32))
    )


def _business_intervals(
    hours: pl.DataFrame, timezones: pl.DataFrame, stores: pl.DataFrame, *, now: datetime
) -> pl.DataFrame:
    """Merged business intervals ``[lo, hi)`` in ticks, per store, around the report window.

    Columns: store_key, lo, hi, length, business_before (prefix sum of lengths), sorted by
    store_key and lo.
    """
    first_date = (now - CANDIDATE_SPAN).astimezone(UTC).date() - timedelta(days=2)
    last_date = now.astimezone(UTC).date() + timedelta(days=1)
    # UTC dates +-2 days cover every local date whose hours can touch [now - 8d, now]: local
    # offsets stay within -12h..+14h and one interval lasts at most until the next midnight.
    local_dates = pl.DataFrame(
        {"date": pl.date_range(first_date, last_date, "1d", eager=True)}
    ).with_columns((pl.col("date").dt.weekday() - 1).cast(pl.Int8).alias(DAY))
    zone_of_store = stores.join(
        timezones.unique(STORE_ID, keep="last"), on=STORE_ID, how="left"
    ).select(_KEY, pl.col(TIMEZONE).fill_null(DEFAULT_TIMEZONE))
    local = (
        hours.join(stores, on=STORE_ID)
        .join(zone_of_store, on=_KEY)
        .join(local_dates, on=DAY)
        .select(
            _KEY,
            TIMEZONE,
            pl.col("date").dt.combine(pl.col(START)).alias(_LO),
            pl.when(pl.col(END) >= _END_OF_DAY)
            .then(pl.col("date").dt.offset_by("1d").dt.combine(time(0)))
            .when(pl.col(END) <= pl.col(START))
            .then(pl.col("date").dt.offset_by("1d").dt.combine(pl.col(END)))
            .otherwise(pl.col("date").dt.combine(pl.col(END)))
            .alias(_HI),
        )
    )
    weekly = (
        pl.concat(
            [
                part.select(
                    _KEY,
                    _local_to_ticks(part.get_column(_LO), str(zone)).alias(_LO),
                    _local_to_ticks(part.get_column(_HI), str(zone)).alias(_HI),
                )
                for (zone,), part in local.partition_by(TIMEZONE, as_dict=True).items()
            ],
            how="vertical",
        )
        if local.height
        else pl.DataFrame(schema={_KEY: pl.UInt32, _LO: pl.Int64, _HI: pl.Int64})
    )
    always_open = stores.join(hours, on=STORE_ID, how="anti").select(
        _KEY,
        pl.lit(_ticks(now - CANDIDATE_SPAN - timedelta(days=1)), pl.Int64).alias(_LO),
        pl.lit(_ticks(now + timedelta(days=1)), pl.Int64).alias(_HI),
    )
    return _merge_intervals(pl.concat([weekly, always_open]).filter(pl.col(_HI) > pl.col(_LO)))


def _local_to_ticks(local: pl.Series, zone: str) -> pl.Series:
    """Local wall times to UTC ticks exactly as ``zoneinfo`` does with ``fold=0``.

    Polars converts in bulk: ``earliest`` is ``fold=0`` for repeated wall times. For wall times in
    a spring-forward gap (and zones Polars does not know), Polars yields null and ``zoneinfo``
    fills in: ``fold=0`` reads the wall time with the offset before the gap, landing after it.
    """
    try:
        utc = local.dt.replace_time_zone(zone, ambiguous="earliest", non_existent="null")
    except pl.exceptions.ComputeError:
        utc = pl.Series(local.name, [None] * local.len(), pl.Datetime("us", zone))
    ticks = utc.dt.epoch("us").cast(pl.Int64) * TICKS_PER_US
    missing = (ticks.is_null() & local.is_not_null()).arg_true()
    if missing.len():
        tzinfo = ZoneInfo(zone)
        ticks = ticks.scatter(
            missing,
            [_ticks(wall.replace(tzinfo=tzinfo)) for wall in local.gather(missing).to_list()],
        )
    return ticks


def _merge_intervals(intervals: pl.DataFrame) -> pl.DataFrame:
    """Union of overlapping or touching intervals per store, plus a prefix sum of their lengths."""
    ordered = intervals.sort(_KEY, _LO)
    reach = pl.col(_HI).cum_max().shift(1).over(_KEY)
    return (
        ordered.with_columns((reach.is_null() | (pl.col(_LO) > reach)).cum_sum().alias("run"))
        .group_by("run", maintain_order=True)
        .agg(pl.col(_KEY).first(), pl.col(_LO).first(), pl.col(_HI).max())
        .drop("run")
        .with_columns((pl.col(_HI) - pl.col(_LO)).alias(_LEN))
        .with_columns((pl.col(_LEN).cum_sum().over(_KEY) - pl.col(_LEN)).alias(_BEFORE))
    )


def _business_until(points: pl.DataFrame, intervals: pl.DataFrame) -> pl.DataFrame:
    """Add ``C(at)`` to points (store_key, at; ``at`` sorted within each store)."""
    return (
        points.join_asof(
            intervals.select(_KEY, _LO, _LEN, _BEFORE),
            left_on=_AT,
            right_on=_LO,
            by=_KEY,
            strategy="backward",
            check_sortedness=False,
        )
        .with_columns(
            (pl.col(_BEFORE) + (pl.col(_AT) - pl.col(_LO)).clip(0, pl.col(_LEN)))
            .fill_null(0)
            .alias(_C)
        )
        .drop(_LO, _LEN, _BEFORE)
    )


def _counted_observations(
    candidates: pl.DataFrame, stores: pl.DataFrame, intervals: pl.DataFrame
) -> pl.DataFrame:
    """Candidate polls inside business hours: store_key, at, active; sorted by store_key, at."""
    polls = (
        candidates.join(stores, on=STORE_ID)
        .select(
            _KEY,
            (pl.col(TIMESTAMP).dt.epoch("us") * TICKS_PER_US).alias(_AT),
            (pl.col(STATUS) == ACTIVE).alias("active"),
        )
        .sort(_KEY, _AT)
    )
    return (
        polls.join_asof(
            intervals.select(_KEY, _LO, _HI),
            left_on=_AT,
            right_on=_LO,
            by=_KEY,
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col(_AT) < pl.col(_HI))
        .select(_KEY, _AT, "active")
    )


def _status_spans(
    counted: pl.DataFrame, intervals: pl.DataFrame, interpolation: Interpolation
) -> pl.DataFrame:
    """The business time each counted poll stands for, as ``C`` at both ends of its span.

    A poll's span starts where it takes over from the previous poll (the midpoint for
    ``nearest``, the poll itself for ``previous``) and ends where the next poll takes over; the
    first span starts at minus infinity (C = 0) and the last ends at plus infinity (C = total).
    """
    previous_at = pl.col(_AT).shift(1).over(_KEY)
    takeover = (previous_at + pl.col(_AT)) // 2 if interpolation == "nearest" else pl.col(_AT)
    starts = counted.with_columns(
        pl.when(previous_at.is_null()).then(_MINUS_INFINITY).otherwise(takeover).alias(_AT)
    )
    totals = intervals.group_by(_KEY).agg(pl.col(_LEN).sum().alias("total"))
    return (
        _business_until(starts, intervals)
        .join(totals, on=_KEY, how="left")
        .select(
            _KEY,
            "active",
            pl.col(_C).alias(_LO),
            pl.col(_C).shift(-1).over(_KEY).fill_null(pl.col("total")).fill_null(0).alias(_HI),
        )
    )


def _window_bounds(stores: pl.DataFrame, intervals: pl.DataFrame, now_ticks: int) -> pl.DataFrame:
    """``C`` at each window's start and at ``now``, per store: store_key, c_now, c_<window>."""
    edges = {"now": now_ticks} | {
        name: now_ticks - _span_ticks(span) for name, (span, _) in WINDOWS.items()
    }
    bounds = stores.select(_KEY)
    for name, edge in edges.items():
        points = stores.select(_KEY, pl.lit(edge, pl.Int64).alias(_AT))
        bounds = bounds.join(
            _business_until(points, intervals).select(_KEY, pl.col(_C).alias(f"c_{name}")),
            on=_KEY,
        )
    return bounds


def _window_totals(spans: pl.DataFrame, bounds: pl.DataFrame) -> pl.DataFrame:
    """Uptime and downtime ticks per store and window."""
    in_window = [
        (
            pl.col(_HI).clip(pl.col(f"c_{name}"), pl.col("c_now"))
            - pl.col(_LO).clip(pl.col(f"c_{name}"), pl.col("c_now"))
        ).alias(name)
        for name in WINDOWS
    ]
    per_span = spans.join(bounds, on=_KEY).select(_KEY, "active", *in_window)
    return per_span.group_by(_KEY).agg(
        *[pl.col(name).filter(pl.col("active")).sum().alias(f"uptime_{name}") for name in WINDOWS],
        *[
            pl.col(name).filter(~pl.col("active")).sum().alias(f"downtime_{name}")
            for name in WINDOWS
        ],
    )


def _format_report(stores: pl.DataFrame, totals: pl.DataFrame) -> pl.DataFrame:
    """Join figures to every store (zeros when none) and convert ticks to rounded units."""

    def rounded(column: str, unit: timedelta) -> pl.Expr:
        # Integer half-up rounding of exact non-negative values: nothing is rounded twice.
        per_hundredth = _span_ticks(unit) // 100
        hundredths = (pl.col(column) + per_hundredth // 2) // per_hundredth
        return (hundredths.cast(pl.Float64) / 100).alias(column)

    return (
        stores.join(totals, on=_KEY, how="left")
        .fill_null(0)
        .sort(STORE_ID)
        .select(
            STORE_ID,
            *[
                rounded(f"{kind}_{name}", unit)
                for kind in ("uptime", "downtime")
                for name, (_, unit) in WINDOWS.items()
            ],
        )
        .select(REPORT_COLUMNS)
    )


def poll_dates_needed(now: datetime) -> tuple[date, date]:
    """First and last UTC date of the polls a report as of ``now`` reads (partition pruning)."""
    return (now - CANDIDATE_SPAN).astimezone(UTC).date(), now.astimezone(UTC).date()
