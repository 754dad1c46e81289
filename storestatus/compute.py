"""The report: business-hours uptime and downtime of every store, as one vectorised computation.

Pure: frames in, frame out. It reads no files, no clock and no environment, so the exact same
function is what the tests check against a brute-force reference and what the benchmarks time.

How it works, in one pass over all stores and all three windows at once:

1. Every timestamp becomes an integer count of *half* microseconds since the report's origin
   (``now - 8 days``), so that the midpoint between two microsecond polls is still an integer and
   nothing is ever rounded until the very end.
2. Business hours become merged UTC intervals per store (local wall time to UTC per time zone),
   clipped to ``[origin, now]``: nothing outside can reach a window or a counted poll.
3. Store and instant are packed into one integer that sorts like the pair, so all stores lie on
   one line, store after store; sorts and as-of joins then need no per-store grouping.
4. ``C(t)``, the business time before instant ``t``, is a running sum over those intervals, read
   with an as-of join. It is non-decreasing, so the business time of a span ``[a, b)`` within a
   window ``[w0, w1)`` is ``clip(C(b)) - clip(C(a))`` clipped to ``[C(w0), C(w1)]``: no
   interval-by-interval intersection is ever materialised.
5. Each counted poll owns the span of time it stands for (from the midpoint with its predecessor
   to the one with its successor for ``nearest``, from itself to the next poll for
   ``previous``). A running sum of the active spans' business time, read at each window's edges,
   gives uptime; the rest of the window's business time is downtime.

Tuned for speed (issue #3: A's report in about a second, C's linear in polls): the packed
single-column sorts and as-of joins, the Enum lookup of store keys, the scatter count of polled
stores and the binary searches of ``--detail`` each replaced a slower, plainer form, as their
docstrings say. A change here is re-measured with ``python examples/bench.py --only A`` (about a
minute; ``--only A,C`` for the linearity target), medians compared with the commit before it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

import polars as pl

from storestatus.errors import TooManyStoresError
from storestatus.schemas import (
    ACTIVE,
    DAY,
    DEFAULT_TIMEZONE,
    END,
    END_OF_DAY,
    ISO_UTC,
    START,
    STATUS,
    STORE_ID,
    TIMESTAMP,
    TIMEZONE,
    UTC_MICROS,
)
from storestatus.vocabulary import Interpolation

CANDIDATE_SPAN: Final = timedelta(days=8)
TICKS_PER_US: Final = 2  # half microseconds: see the module docstring

# Window name -> (length, the unit its figures are reported in).
WINDOWS: Final = {
    "last_hour": (timedelta(hours=1), timedelta(minutes=1)),
    "last_day": (timedelta(days=1), timedelta(hours=1)),
    "last_week": (timedelta(days=7), timedelta(hours=1)),
}

# (store_key, instant) packed into one Int64 that sorts like the pair: store_key in the high bits,
# ticks since the report's origin (now - 8 days) in the low 41 bits (2**41 ticks = 12.7 days).
# Single-column sorts and as-of joins on it are several times faster than on the pair.
_TIME_BITS: Final = 41
MAX_STORES: Final = 1 << (63 - _TIME_BITS)  # 4,194,304 stores per report

# Internal column names.
_KEY: Final = "store_key"  # dense integer code of store_id, equal to its row in the sorted stores
_AT: Final = "at"  # an instant, in ticks since the report's origin
_PACKED: Final = "packed"  # store_key and at in one sortable integer
_LO: Final = "lo"
_HI: Final = "hi"
_LEN: Final = "length"
_BEFORE: Final = "business_before"  # business time of all earlier intervals (see _business_until)
_C: Final = "business_until"  # C(t) of the module docstring
_START: Final = "start"  # where a poll's span of time starts, in ticks (see _span_edges)
_END: Final = "end"


def compute_report(
    polls: pl.DataFrame,
    hours: pl.DataFrame,
    timezones: pl.DataFrame,
    *,
    now: datetime,
    interpolation: Interpolation = "nearest",
    known_stores: pl.Series | None = None,
    detail: bool = False,
    max_gap: timedelta | None = None,
) -> pl.DataFrame:
    """Compute uptime and downtime within business hours for the last hour, day and week.

    Parameters
    ----------
    polls
        Status polls (``schemas.POLLS_SCHEMA``), at most one per store and timestamp.
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
    known_stores
        Ids of more stores to list (with zeros unless they have counted polls): those with a
        stored poll at or before ``now`` that ``polls`` does not hold, so that a store
        that went dark is still listed without reading its whole history (issue #9).
    detail
        Append ``schemas.DETAIL_COLUMNS``: business time, unknown time (business time with no
        status: business - uptime - downtime, exact before rounding) and counted polls per
        window, and the latest candidate poll (ISO 8601, empty if none).
    max_gap
        A business instant farther than this from the poll whose status it would take has no
        status: it is unknown, neither up nor down (None: every instant takes a status).

    Returns
    -------
    pl.DataFrame
        ``schemas.REPORT_COLUMNS`` (then the detail columns): one row per store named in the
        hours, the time zones, ``known_stores`` or any of ``polls`` at or before ``now``,
        sorted by ``store_id``; minutes for the hour, hours for day and week, rounded half up
        to two decimals.

    Raises
    ------
    ValueError
        ``now`` is naive (a programming error, not the user's).
    TooManyStoresError
        There are more than ``MAX_STORES`` stores.
    """
    report, _ = compute_report_and_coverage(
        polls,
        hours,
        timezones,
        now=now,
        interpolation=interpolation,
        known_stores=known_stores,
        detail=detail,
        max_gap=max_gap,
    )
    return report


@dataclass(frozen=True)
class Coverage:
    """How much the polls cover a report's window: an all-zero report must say why (issue #8)."""

    polls: int  # candidate polls: now - 8 days <= t <= now
    stores_polled: int  # stores with at least one of them


def compute_report_and_coverage(
    polls: pl.DataFrame,
    hours: pl.DataFrame,
    timezones: pl.DataFrame,
    *,
    now: datetime,
    interpolation: Interpolation = "nearest",
    known_stores: pl.Series | None = None,
    detail: bool = False,
    max_gap: timedelta | None = None,
) -> tuple[pl.DataFrame, Coverage]:
    """``compute_report``, and the ``Coverage`` of its window, counted on the way."""
    steps = _compute(
        polls,
        hours,
        timezones,
        now=now,
        interpolation=interpolation,
        known_stores=known_stores,
        max_gap=max_gap,
    )
    packed_polls = steps.sorted_polls
    report = _format_report(steps.stores, steps.totals, steps.details() if detail else None)
    return report, Coverage(packed_polls.len(), _stores_polled(packed_polls, steps.stores.height))


@dataclass(frozen=True)
class _Steps:
    """The intermediate frames of one report computation, in ticks since ``origin``."""

    origin: datetime
    now_at: int
    stores: pl.DataFrame  # store_id, store_key
    sorted_polls: pl.Series  # candidate polls, packed (see _pack_polls), sorted
    intervals: pl.DataFrame  # merged business intervals (see _merge_intervals)
    counted: pl.DataFrame  # store_key, at, active
    bounds: pl.DataFrame  # C at each window's start and at now, per store
    edges: pl.DataFrame  # store_key, active, start, end: each counted poll's span
    spans: pl.DataFrame  # store_key, active, lo, hi: the spans' ends in C
    totals: pl.DataFrame  # uptime and downtime ticks per window, of stores with counted polls

    def details(self) -> pl.DataFrame:
        """What ``--detail`` adds (see ``_detail_figures``)."""
        return _detail_figures(
            self.stores,
            self.bounds,
            self.counted,
            self.sorted_polls,
            origin=self.origin,
            now_at=self.now_at,
        )


def _compute(
    polls: pl.DataFrame,
    hours: pl.DataFrame,
    timezones: pl.DataFrame,
    *,
    now: datetime,
    interpolation: Interpolation,
    known_stores: pl.Series | None,
    max_gap: timedelta | None,
) -> _Steps:
    """Every step of the module docstring, up to the figures in ticks."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    origin = now - CANDIDATE_SPAN
    candidates = polls.filter(pl.col(TIMESTAMP).is_between(origin, now, closed="both"))
    # Stores polled only before the window are listed too, with zeros (issue #9).
    named = [polls.filter(pl.col(TIMESTAMP) < origin).get_column(STORE_ID)]
    if known_stores is not None:
        named.append(known_stores.cast(pl.String).rename(STORE_ID))
    stores, packed_polls = _stores_and_polls(
        candidates, hours, timezones, origin=origin, named=pl.concat(named)
    )
    if stores.height > MAX_STORES:
        raise TooManyStoresError(
            f"a report covers at most {MAX_STORES:,} stores, not {stores.height:,}"
        )
    now_at = _ticks(now) - _ticks(origin)
    intervals = _business_intervals(hours, timezones, stores, origin=origin, now=now)
    sorted_polls = packed_polls.sort()
    counted = _counted_polls(sorted_polls, intervals)
    bounds = _window_bounds(stores, intervals, now_at=now_at)
    gap = None if max_gap is None else min(_span_ticks(max_gap), 1 << _TIME_BITS)
    edges = _span_edges(counted, interpolation, max_gap=gap, now_at=now_at)
    spans = _status_spans(edges, intervals, bounds, gapped=gap is not None)
    return _Steps(
        origin=origin,
        now_at=now_at,
        stores=stores,
        sorted_polls=sorted_polls,
        intervals=intervals,
        counted=counted,
        bounds=bounds,
        edges=edges,
        spans=spans,
        totals=_window_totals(spans, bounds, gapped=gap is not None),
    )


@dataclass(frozen=True)
class StoreTrace:
    """How one store's figures come about (``storestatus explain``, issue #9).

    Instants are ticks (half microseconds) since ``origin`` (``now - 8 days``).
    """

    origin: datetime
    now_at: int
    intervals: list[tuple[int, int]]  # merged business intervals within [origin, now]
    counted: list[int]  # instants of the counted polls
    spans: list[tuple[int, int, bool, int]]  # start, end, active, business ticks: one per poll
    row: dict[str, object]  # the store's report row, detail columns included

    def instant(self, at: int) -> datetime:
        """A tick as an aware UTC datetime (a half microsecond is cut)."""
        return self.origin + timedelta(microseconds=at // TICKS_PER_US)

    @staticmethod
    def seconds(ticks: int) -> float:
        """A length in ticks, in seconds."""
        return ticks / (TICKS_PER_US * 1_000_000)


def trace_store(
    polls: pl.DataFrame,
    hours: pl.DataFrame,
    timezones: pl.DataFrame,
    *,
    store_id: str,
    now: datetime,
    interpolation: Interpolation = "nearest",
    max_gap: timedelta | None = None,
) -> StoreTrace:
    """The steps of one store's report row, from exactly the computation of ``compute_report``.

    Only the store's rows are used: stores are independent, so its row equals its row in the
    report of all stores (the property tests check it).
    """
    own = pl.col(STORE_ID) == store_id
    steps = _compute(
        polls.filter(own),
        hours.filter(own),
        timezones.filter(own),
        now=now,
        interpolation=interpolation,
        known_stores=pl.Series(STORE_ID, [store_id]),
        max_gap=max_gap,
    )
    (row,) = _format_report(steps.stores, steps.totals, steps.details()).to_dicts()
    # One store: its key is 0, so packed values are plain ticks and C has no offset.
    intervals = steps.intervals.select(
        pl.col(_PACKED).alias(_LO),
        (pl.col(_PACKED) + pl.col(_LEN)).clip(upper_bound=steps.now_at).alias(_HI),
    )
    spans = steps.edges.select(_START, _END, "active").with_columns(
        (steps.spans.get_column(_HI) - steps.spans.get_column(_LO)).alias(_LEN)
    )
    return StoreTrace(
        origin=steps.origin,
        now_at=steps.now_at,
        intervals=[(lo, hi) for lo, hi in intervals.iter_rows() if hi > lo],
        counted=steps.counted.get_column(_AT).to_list(),
        spans=list(spans.iter_rows()),
        row=row,
    )


def _stores_polled(packed_polls: pl.Series, stores: int) -> int:
    """How many distinct store keys the packed polls hold.

    Keys are dense (0 to stores - 1), so marking them in a flag per store needs no hashing:
    ~15 ms for 1.8 M polls, where ``n_unique`` of the id strings took ~0.4 s of a 1 s report.
    """
    keys = packed_polls.to_frame().select(pl.first() // (1 << _TIME_BITS)).to_series()
    marked = pl.zeros(stores, dtype=pl.Boolean, eager=True).scatter(keys, True)
    return int(marked.sum())


def _ticks(instant: datetime) -> int:
    """Exact ticks since the epoch of an aware datetime (integer arithmetic, no float)."""
    delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros * TICKS_PER_US


def _span_ticks(span: timedelta) -> int:
    return span // timedelta(microseconds=1) * TICKS_PER_US


def _packed(at: pl.Expr) -> pl.Expr:
    """``(store_key, at)`` as one Int64 ordered like the pair (``0 <= at < 2**41``)."""
    return (pl.col(_KEY).cast(pl.Int64) * (1 << _TIME_BITS) + at).alias(_PACKED)


def _stores_and_polls(
    candidates: pl.DataFrame,
    hours: pl.DataFrame,
    timezones: pl.DataFrame,
    *,
    origin: datetime,
    named: pl.Series,
) -> tuple[pl.DataFrame, pl.Series]:
    """Every store named by any source (``named``: more ids), sorted by id, with a dense key
    (its row); and every candidate poll packed into one integer (see ``_pack_polls``).

    The ids of the hours, the time zones and ``named`` are tried first: usually every polled
    store is among them, and one pass over the polls suffices.
    """
    sources = [hours.get_column(STORE_ID), timezones.get_column(STORE_ID), named]
    ids = pl.concat(sources).unique().sort()
    packed = _pack_polls(candidates, ids, origin=origin)
    if packed.null_count():  # stores known only from their polls
        unnamed = candidates.filter(packed.is_null()).get_column(STORE_ID).unique()
        ids = pl.concat([ids, unnamed]).sort()
        packed = _pack_polls(candidates, ids, origin=origin)
    stores = ids.to_frame(STORE_ID).with_row_index(_KEY).with_columns(pl.col(_KEY).cast(pl.UInt32))
    return stores, packed


def _pack_polls(candidates: pl.DataFrame, ids: pl.Series, *, origin: datetime) -> pl.Series:
    """Store key, instant and status of each poll in one Int64; null if its id is not in ``ids``.

    An Enum of the sorted ids maps an id to its row, the store key. Polls fall on whole
    microseconds, i.e. even ticks, so the lowest bit is free for the status (1 = active).
    """
    key = pl.col(STORE_ID).cast(pl.Enum(ids), strict=False).to_physical().cast(pl.Int64)
    at = pl.col(TIMESTAMP).dt.epoch("us") * TICKS_PER_US - _ticks(origin)
    active = (pl.col(STATUS) == ACTIVE).cast(pl.Int64)
    return candidates.select((key * (1 << _TIME_BITS) + at + active).alias(_PACKED)).to_series()


def _business_intervals(
    hours: pl.DataFrame,
    timezones: pl.DataFrame,
    stores: pl.DataFrame,
    *,
    origin: datetime,
    now: datetime,
) -> pl.DataFrame:
    """Merged business intervals within ``[origin, now]``, in ticks since ``origin``.

    Nothing outside that range can reach a window or a counted poll. An interval open at
    ``now`` ends one tick after it, so that it holds a poll at ``now``. Columns: store_key, lo,
    length, business_before, packed (of lo); sorted by store_key and lo.
    """
    first_date = origin.astimezone(UTC).date() - timedelta(days=2)
    last_date = now.astimezone(UTC).date() + timedelta(days=1)
    # UTC dates +-2 days cover every local date whose hours can touch [origin, now]: local
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
            pl.when(pl.col(END) >= END_OF_DAY)
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
                _wall_to_ticks(part, str(zone))
                for (zone,), part in local.partition_by(TIMEZONE, as_dict=True).items()
            ],
            how="vertical",
        )
        if local.height
        else pl.DataFrame(schema={_KEY: pl.UInt32, _LO: pl.Int64, _HI: pl.Int64})
    )
    # One tick past now: an interval open at now keeps [now, now + 1), so that a poll exactly at
    # now counts (issue #9). No poll falls inside that tick (polls lie on even ticks), and no
    # window reaches past C(now), so no business time is added.
    start, end = _ticks(origin), _ticks(now) + 1
    always_open = stores.join(hours, on=STORE_ID, how="anti").select(
        _KEY, pl.lit(start, pl.Int64).alias(_LO), pl.lit(end, pl.Int64).alias(_HI)
    )
    clipped = pl.concat([weekly, always_open]).select(
        _KEY,
        (pl.col(_LO).clip(start, end) - start).alias(_LO),
        (pl.col(_HI).clip(start, end) - start).alias(_HI),
    )
    return _merge_intervals(clipped.filter(pl.col(_HI) > pl.col(_LO)))


def _wall_to_ticks(local: pl.DataFrame, zone: str) -> pl.DataFrame:
    """store_key and interval ends (local wall times in ``zone``) to store_key, lo, hi in ticks.

    Stores share opening times, so each distinct wall time is converted once and looked up.
    """
    walls = pl.concat([local.get_column(_LO), local.get_column(_HI)]).unique()
    ticks = _local_to_ticks(walls, zone)
    return local.select(
        _KEY,
        *(pl.col(end).replace_strict(walls, ticks, return_dtype=pl.Int64) for end in (_LO, _HI)),
    )


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
    """Union of overlapping or touching intervals per store, plus a running sum of lengths.

    Packed, the intervals of all stores lie on one line, store after store, so one global
    running maximum of the ends finds where each merged run stops; no per-store window needed.
    """
    reach = pl.col(_HI).cum_max()  # packed ends
    flagged = (
        intervals.select(_packed(pl.col(_LO)).alias(_LO), _packed(pl.col(_HI)).alias(_HI))
        .sort(_LO)
        .with_columns(
            (pl.col(_LO) > reach.shift(1)).fill_null(True).alias("starts_run"), reach.alias(_HI)
        )
    )
    starts = flagged.filter("starts_run").get_column(_LO)
    ends = flagged.filter(pl.col("starts_run").shift(-1).fill_null(True)).get_column(_HI)
    return pl.DataFrame({_PACKED: starts, _LEN: ends - starts}).with_columns(
        (pl.col(_LEN).cum_sum() - pl.col(_LEN)).alias(_BEFORE)
    )


def _business_until(points: pl.DataFrame, intervals: pl.DataFrame) -> pl.Series:
    """``C`` at each point (a ``packed`` column, sorted), offset by a constant per store.

    The as-of join runs over all stores at once, so ``business_before`` counts the intervals of
    earlier stores too. That adds the same constant to every ``C`` of a store, which cancels in
    every difference the report takes; a point before a store's first interval matches the last
    interval of an earlier store and, clipped to its length, gets exactly that constant.
    """
    return (
        points.select(_PACKED)
        .join_asof(
            intervals.select(pl.col(_PACKED).alias(_LO), _LEN, _BEFORE),
            left_on=_PACKED,
            right_on=_LO,
            strategy="backward",
            check_sortedness=False,
        )
        .select(
            (pl.col(_BEFORE) + (pl.col(_PACKED) - pl.col(_LO)).clip(0, pl.col(_LEN)))
            .fill_null(0)
            .alias(_C)
        )
        .to_series()
    )


def _counted_polls(sorted_polls: pl.Series, intervals: pl.DataFrame) -> pl.DataFrame:
    """Candidate polls inside business hours: store_key, at, active; sorted by store_key, at.

    ``sorted_polls`` are the packed polls, sorted: sorting one packed integer column is three
    times faster than sorting a frame.
    """
    packed = pl.col(_PACKED) // 2 * 2  # without the status bit
    polls = sorted_polls.to_frame().select(
        (pl.col(_PACKED) // (1 << _TIME_BITS)).cast(pl.UInt32).alias(_KEY),
        (packed % (1 << _TIME_BITS)).alias(_AT),
        (pl.col(_PACKED) % 2 == 1).alias("active"),
        packed.alias(_PACKED),
    )
    return (
        polls.join_asof(
            intervals.select(
                pl.col(_PACKED).alias(_LO), (pl.col(_PACKED) + pl.col(_LEN)).alias(_HI)
            ),
            left_on=_PACKED,
            right_on=_LO,
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col(_PACKED) < pl.col(_HI))
        .select(_KEY, _AT, "active")
    )


def _window_bounds(stores: pl.DataFrame, intervals: pl.DataFrame, *, now_at: int) -> pl.DataFrame:
    """``C`` at each window's start and at ``now``, one row per store in store_key order."""
    edges = {"now": now_at} | {
        name: now_at - _span_ticks(span) for name, (span, _) in WINDOWS.items()
    }
    return pl.DataFrame(
        {
            f"c_{name}": _business_until(stores.select(_packed(pl.lit(edge))), intervals)
            for name, edge in edges.items()
        }
    )


def _span_edges(
    counted: pl.DataFrame, interpolation: Interpolation, *, max_gap: int | None, now_at: int
) -> pl.DataFrame:
    """Where each counted poll's span of time starts and ends: store_key, active, start, end.

    A span starts where the poll takes over from the previous one (the midpoint for
    ``nearest``, the poll itself for ``previous``) and ends where the next one takes over; the
    first span of a store starts at the origin and the last ends at ``now``. With ``max_gap``
    (ticks), a span reaches no farther than that from its poll on either side (issue #9): the
    instants beyond have no status. Starts and ends both stay sorted along the polls.
    """
    key, at = pl.col(_KEY), pl.col(_AT)
    if interpolation == "nearest":
        takes_over, hands_over = (at.shift(1) + at) // 2, (at + at.shift(-1)) // 2
    else:
        takes_over, hands_over = at, at.shift(-1)
    start = pl.when(key == key.shift(1)).then(takes_over).otherwise(0)
    end = pl.when(key == key.shift(-1)).then(hands_over).otherwise(now_at)
    if max_gap is not None:
        start = pl.max_horizontal(start, at - max_gap)
        end = pl.min_horizontal(end, at + max_gap)
    return counted.select(_KEY, "active", start.alias(_START), end.alias(_END))


def _status_spans(
    edges: pl.DataFrame, intervals: pl.DataFrame, bounds: pl.DataFrame, *, gapped: bool
) -> pl.DataFrame:
    """The business time each counted poll stands for, as ``C`` at both ends of its span.

    Spans that are not ``gapped`` tile the time from the origin to ``now``: a span ends where
    the next begins, so ``C`` is looked up once per poll.
    """
    key = pl.col(_KEY)
    lo = _business_until(edges.select(_packed(pl.col(_START))), intervals).alias(_LO)
    if gapped:
        hi = _business_until(edges.select(_packed(pl.col(_END))), intervals).alias(_HI)
        return edges.select(_KEY, "active").with_columns(lo, hi)
    c_now = bounds.get_column("c_now").gather(edges.get_column(_KEY))
    return (
        edges.select(_KEY, "active")
        .with_columns(lo)
        .with_columns(
            pl.when(key == key.shift(-1)).then(pl.col(_LO).shift(-1)).otherwise(c_now).alias(_HI)
        )
    )


def _window_totals(spans: pl.DataFrame, bounds: pl.DataFrame, *, gapped: bool) -> pl.DataFrame:
    """Uptime and downtime ticks per window, for each store with counted polls.

    ``U(x)``, the active business time of all spans up to ``C = x``, is a running sum along the
    spans, which lie in ``C`` order store after store. Uptime in a window is then
    ``U(C(now)) - U(C(start))``: a few lookups per store, no group-by. Spans that are not
    ``gapped`` tile a store's business time, so its downtime is the rest of the window's
    business time; gapped ones leave time unknown, so downtime is summed the same way as uptime.
    """
    length = pl.col(_HI) - pl.col(_LO)
    kinds = {"uptime": pl.col("active")} | ({"downtime": ~pl.col("active")} if gapped else {})
    running = spans.select(
        _LO,
        *(
            pl.when(is_kind).then(length).otherwise(0).alias(kind)
            for kind, is_kind in kinds.items()
        ),
    ).with_columns(
        (pl.col(kind).cum_sum() - pl.col(kind)).alias(f"{kind}_before") for kind in kinds
    )
    polled = bounds.with_row_index(_KEY).filter(
        pl.col(_KEY).is_in(spans.get_column(_KEY).unique().cast(pl.UInt32).implode())
    )
    c_now = polled.get_column("c_now")
    at_now = {kind: _spanned_until(c_now, running, kind) for kind in kinds}
    figures = []
    for name in WINDOWS:
        c_start = polled.get_column(f"c_{name}")
        within = {kind: at_now[kind] - _spanned_until(c_start, running, kind) for kind in kinds}
        downtime = within["downtime"] if gapped else c_now - c_start - within["uptime"]
        figures += [within["uptime"].alias(f"uptime_{name}"), downtime.alias(f"downtime_{name}")]
    return polled.select(pl.col(_KEY).cast(pl.UInt32)).with_columns(figures)


def _spanned_until(points: pl.Series, running: pl.DataFrame, kind: str) -> pl.Series:
    """``U`` of ``_window_totals`` (or its downtime twin, per ``kind``) at sorted ``C`` values.

    Ties between spans are zero-length; a point in a gap between spans gets the whole of the
    span before it.
    """
    return (
        points.alias(_C)
        .to_frame()
        .join_asof(
            running.select(_LO, kind, f"{kind}_before"),
            left_on=_C,
            right_on=_LO,
            strategy="backward",
            check_sortedness=False,
        )
        .select(
            (pl.col(f"{kind}_before") + (pl.col(_C) - pl.col(_LO)).clip(0, pl.col(kind)))
            .fill_null(0)
            .alias(_C)
        )
        .to_series()
    )


def _detail_figures(
    stores: pl.DataFrame,
    bounds: pl.DataFrame,
    counted: pl.DataFrame,
    sorted_polls: pl.Series,
    *,
    origin: datetime,
    now_at: int,
) -> pl.DataFrame:
    """Per store (in store_key order): business ticks and counted polls per window, and the
    latest candidate poll; what ``--detail`` adds (issue #9).

    Polls are counted by binary search on the packed, sorted polls: no group-by.
    """
    counted_packed = counted.select(_packed(pl.col(_AT))).to_series()

    def counted_before(at: int, side: Literal["left", "right"]) -> pl.Series:
        """Per store, the counted polls before (``left``) or up to (``right``) ``(store, at)``."""
        edges = stores.select(_packed(pl.lit(at))).to_series()
        return counted_packed.search_sorted(edges, side).cast(pl.Int64)

    up_to_now = counted_before(now_at, "right")
    figures = [
        (bounds.get_column("c_now") - bounds.get_column(f"c_{name}")).alias(
            f"business_hours_{name}"
        )
        for name in WINDOWS
    ] + [
        (up_to_now - counted_before(now_at - _span_ticks(span), "left")).alias(f"polls_{name}")
        for name, (span, _) in WINDOWS.items()
    ]
    # Polls are sorted by store: a store's last one is where the next poll's store differs.
    key = pl.col(_PACKED) // (1 << _TIME_BITS)
    micros = pl.col(_PACKED) % (1 << _TIME_BITS) // TICKS_PER_US + _ticks(origin) // TICKS_PER_US
    last_polls = (
        sorted_polls.to_frame()
        .filter(key.shift(-1).ne_missing(key))
        .select(
            key.cast(pl.UInt32).alias(_KEY),
            micros.cast(UTC_MICROS).dt.strftime(ISO_UTC).alias("last_poll_utc"),
        )
    )
    return (
        pl.DataFrame(figures)
        .with_row_index(_KEY)
        .join(last_polls, on=_KEY, how="left", maintain_order="left")
    )


def _format_report(
    stores: pl.DataFrame, totals: pl.DataFrame, details: pl.DataFrame | None
) -> pl.DataFrame:
    """Join figures to every store (zeros when none) and convert ticks to rounded units."""
    kinds = ["uptime", "downtime"] + (["business_hours", "unknown"] if details is not None else [])
    report = stores.join(totals, on=_KEY, how="left").with_columns(
        pl.col(f"{kind}_{name}").fill_null(0) for kind in ("uptime", "downtime") for name in WINDOWS
    )
    extra: list[str] = []
    if details is not None:
        report = report.join(details, on=_KEY, how="left").with_columns(
            (
                pl.col(f"business_hours_{name}")
                - pl.col(f"uptime_{name}")
                - pl.col(f"downtime_{name}")
            ).alias(f"unknown_{name}")
            for name in WINDOWS
        )
        extra = [f"polls_{name}" for name in WINDOWS] + ["last_poll_utc"]
    # Integer half-up rounding of exact non-negative values: nothing is rounded twice.
    rounded = [
        ((pl.col(f"{kind}_{name}") + _span_ticks(unit) // 200) // (_span_ticks(unit) // 100))
        for kind in kinds
        for name, (_, unit) in WINDOWS.items()
    ]
    report = report.sort(STORE_ID).select(STORE_ID, *rounded, *extra)
    return from_hundredths(report, report.columns[1 : 1 + len(rounded)])


def from_hundredths(frame: pl.DataFrame, columns: Sequence[str]) -> pl.DataFrame:
    """Integer hundredths to the floats that are exactly those two-decimal numbers.

    Polars divides a column by a scalar as a multiplication by its reciprocal, which makes
    328 / 100 into 3.2800000000000002; divided by a column of 100s it is IEEE division, the
    double nearest to 3.28, which JSON prints as 3.28 and a script compares equal.
    """
    hundred = pl.repeat(100.0, frame.height, dtype=pl.Float64, eager=True)
    return frame.with_columns(pl.col(column).cast(pl.Float64) / hundred for column in columns)


def poll_dates_needed(now: datetime) -> tuple[date, date]:
    """First and last UTC date of the polls a report as of ``now`` reads (partition pruning)."""
    return (now - CANDIDATE_SPAN).astimezone(UTC).date(), now.astimezone(UTC).date()
