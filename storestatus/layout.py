"""The bucketed layout of the tables (issue #11): how rows are ordered and grouped in the files,
so that a shard, a range of store buckets, reads little more than its own stores.

Every table stores each row's bucket (``storestatus.buckets``) and its files are sorted by
bucket, then store, then time (polls) or the rest of the key (hours, time zones, the registry),
in row groups of ``tables.ROW_GROUP_ROWS`` rows with min/max statistics on the bucket. A
file's rows of one bucket range are then a few neighbouring row groups, which the Delta log's
per-file statistics and the Parquet footers' per-row-group statistics let a reader find
without reading the rest (``storestatus.pruning``). The status table stays partitioned by UTC
date only: more partition columns would mean many tiny files per hourly append.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl

from storestatus.buckets import BUCKET, BUCKET_DTYPE, store_buckets, with_buckets
from storestatus.schemas import (
    FIRST_POLL,
    LAST_POLL,
    POLLS_SCHEMA,
    POLLS_STORED,
    STATUS,
    STORE_ID,
    TIMESTAMP,
    UTC_MICROS,
)
from storestatus.tables import STORES_SCHEMA

_DAY_US: Final = 86_400_000_000
_TIME_OF_DAY_BITS: Final = (_DAY_US - 1).bit_length()  # 37
_CODE: Final = "__code"
_RANK: Final = "__rank"
_RADIX_RANKS: Final = 1 << 16  # stores of a batch that NumPy sorts by radix


@dataclass(frozen=True)
class LaidOutPolls:
    """Polls in the layout, and what the stores registry needs of them, found while sorting."""

    rows: pl.DataFrame  # ``POLLS_SCHEMA``, the date, ``bucket``: sorted as ``layout_polls`` says
    per_store: pl.DataFrame  # ``STORES_SCHEMA``: first and last poll, and how many, per store


def layout_polls(rows: pl.DataFrame, *, date: str) -> LaidOutPolls:
    """Status polls in the layout: with the ``bucket`` column, sorted by the date partition
    column ``date``, then bucket, store and time (so each date's file is in bucket order).

    ``rows`` has ``POLLS_SCHEMA`` and ``date`` (the UTC date of the timestamp), unique keys.
    The columns come back in the order ``POLLS_SCHEMA``, ``date``, ``bucket``. The polls per
    store come with them (the stores table's rows): a store's polls of a date are one run of
    the sorted rows, so they cost a pass over the runs instead of hashing every id again.

    Sorted on integers, never on the ids: each store's rank in (bucket, id) order comes from
    one pass over the ids (``_store_ranks``). Polls in time order (as a poller writes them and
    the spill hands them over) are then in the layout once each date's polls are sorted by
    rank alone, stably: a radix sort while the ranks fit 16 bits. Else each poll gets one
    64-bit key, (day, rank, time of day). A sort of A's 1.8 M polls on (date, bucket, store_id,
    timestamp_utc) took 2.3 s, this 0.3 s; the ids come back as views of the few distinct ids,
    in order, which the Parquet writer reads sequentially: writing the sorted polls takes less
    time than writing them as parsed, which pays for part of the sort.
    """
    if rows.is_empty():
        empty = rows.select(*POLLS_SCHEMA.names(), date).with_columns(
            pl.Series(BUCKET, [], dtype=BUCKET_DTYPE)
        )
        return LaidOutPolls(empty, STORES_SCHEMA.to_frame())
    stores, rank = _store_ranks(rows.get_column(STORE_ID))
    stamps, dates = rows.get_column(TIMESTAMP), rows.get_column(date)
    in_time_order = stamps.is_sorted()
    order = (
        _stable_order_by_rank(rank, dates)
        if in_time_order and stores.height <= _RADIX_RANKS
        else _order_by_key(rank, stamps, stores.height)
    )
    if order is None:  # the key does not fit 64 bits: e.g. decades of polls
        ordered = with_buckets(rows.select(*POLLS_SCHEMA.names(), date))
        ordered = ordered.sort(date, BUCKET, STORE_ID, TIMESTAMP)
        rank = _store_ranks(ordered.get_column(STORE_ID))[1]
        return LaidOutPolls(ordered, _per_store(stores, rank, ordered.get_column(TIMESTAMP)))
    ranks = rank.gather(order)
    by_store = stores[ranks]  # DataFrame gathers: a column per thread
    # Polls in time order are sorted within their date only: the dates stay where they are.
    moved = rows.select(TIMESTAMP, STATUS, *([] if in_time_order else [date]))[order]
    unmoved = dates.to_frame() if in_time_order else pl.DataFrame()
    laid = pl.concat([by_store, moved, unmoved], how="horizontal").select(
        *POLLS_SCHEMA.names(), date, BUCKET
    )
    return LaidOutPolls(laid, _per_store(stores, ranks, moved.get_column(TIMESTAMP)))


def _per_store(stores: pl.DataFrame, ranks: pl.Series, stamps: pl.Series) -> pl.DataFrame:
    """First and last poll, and how many, of each store of ``stores`` (rank n: row n), from
    the polls' ``ranks`` and ``stamps`` in the layout's order, where a store's polls of a date
    are one run: aggregated per run, then the runs per store (NumPy's ``reduceat``; a fifth of
    the time of grouping the polls in Polars)."""
    import numpy as np  # noqa: PLC0415  (ingest and compact need it; reports must not wait)

    rank = ranks.to_numpy()
    micros = stamps.to_physical().to_numpy()
    starts = np.flatnonzero(np.concatenate(([True], rank[1:] != rank[:-1])))
    firsts = np.minimum.reduceat(micros, starts)
    lasts = np.maximum.reduceat(micros, starts)
    lengths = np.diff(np.append(starts, rank.size))
    by_rank = np.argsort(rank[starts], kind="stable")  # runs are sorted per date already
    run_rank = rank[starts][by_rank]
    groups = np.flatnonzero(np.concatenate(([True], run_rank[1:] != run_rank[:-1])))
    return pl.DataFrame(
        [
            stores.get_column(STORE_ID).gather(pl.Series(run_rank[groups])),
            pl.Series(FIRST_POLL, np.minimum.reduceat(firsts[by_rank], groups)).cast(UTC_MICROS),
            pl.Series(LAST_POLL, np.maximum.reduceat(lasts[by_rank], groups)).cast(UTC_MICROS),
            pl.Series(POLLS_STORED, np.add.reduceat(lengths[by_rank], groups), dtype=pl.Int64),
        ]
    )


def _stable_order_by_rank(rank: pl.Series, dates: pl.Series) -> pl.Series:
    """The order of polls in time order that sorts each date's polls by store rank, keeping
    time order within a store: NumPy's stable sort of 16-bit integers is a radix sort, a tenth
    of the time of sorting 64-bit keys."""
    import numpy as np  # noqa: PLC0415  (ingest and compact need it; reports must not wait)

    ranks = rank.cast(pl.UInt16).to_numpy()
    order = np.empty(ranks.size, dtype=np.uint32)  # Polars' index type: gathers need no cast
    start = 0
    for length in dates.rle().struct.field("len").to_list():  # a date's polls are one run
        date = slice(start, start + length)
        order[date] = np.argsort(ranks[date], kind="stable")
        order[date] += start
        start += length
    return pl.Series(order)


def _order_by_key(rank: pl.Series, stamps: pl.Series, stores: int) -> pl.Series | None:
    """The order that sorts polls by (day, store rank, time of day), from one unsigned 64-bit
    key per poll; None if the key does not fit."""
    frame = pl.DataFrame([rank, stamps.dt.epoch("us").alias("us")]).with_columns(
        day=pl.col("us") // _DAY_US
    )
    rank_bits = max(1, (stores - 1).bit_length())
    days: int = frame.select(pl.col("day").max() - pl.col("day").min()).item()
    if days.bit_length() + rank_bits + _TIME_OF_DAY_BITS > 64:
        return None
    key = (
        (pl.col("day") - pl.col("day").min()).cast(pl.UInt64)
        * _power(rank_bits + _TIME_OF_DAY_BITS)
        + pl.col(_RANK).cast(pl.UInt64) * _power(_TIME_OF_DAY_BITS)
        + (pl.col("us") - pl.col("day") * _DAY_US).cast(pl.UInt64)
    )
    return frame.select(key.arg_sort()).to_series()  # unique, as (store, timestamp) is


def layout_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """A snapshot or registry frame in the layout: with the ``bucket`` column (last), sorted by
    bucket, store, then its other columns in order (the rest of its key). Hours are laid out
    with their times still ``pl.Time``, so that they sort by time.

    A row per store (time zones, the registry) is sorted by bucket and id; several (hours) on
    the store's rank and the other columns, which compares no string: a third less time.
    """
    rows = frame.drop(BUCKET, strict=False)
    ids = rows.get_column(STORE_ID)
    if ids.n_unique() == ids.len():
        return with_buckets(rows).sort(BUCKET, STORE_ID)
    stores, rank = _store_ranks(ids)
    rest = [column for column in rows.columns if column != STORE_ID]
    ranked = rows.with_columns(rank).sort(_RANK, *rest)
    buckets = stores.get_column(BUCKET).gather(ranked.get_column(_RANK))
    return ranked.drop(_RANK).with_columns(buckets)


def _store_ranks(ids: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """The distinct ``ids`` in (bucket, id) order (a frame of ``store_id`` and ``bucket``, the
    n-th row being rank n), and each id's rank (``__rank``, UInt32: Polars' index type, so
    gathers by it need no cast).

    Through Categorical codes: the ids are hashed once, the buckets computed once per distinct
    id, and each row's rank is then a look-up by its code.
    """
    # Cast in the lazy engine, which splits the ids between threads: half the time on 2 cores.
    codes = ids.to_frame().lazy().select(pl.first().cast(pl.Categorical)).collect().to_series()
    distinct = codes.unique(maintain_order=True)  # no sort: a third of the time
    names = distinct.cast(pl.String)
    stores = pl.DataFrame([distinct.to_physical().alias(_CODE), names, store_buckets(names)]).sort(
        BUCKET, STORE_ID
    )
    codes_used = (stores.select(pl.col(_CODE).max()).item() or 0) + 1  # no ids: one, unused
    unranked = pl.zeros(codes_used, pl.UInt32, eager=True)
    assert isinstance(unranked, pl.Series)
    rank_of_code = unranked.scatter(
        stores.get_column(_CODE), pl.int_range(stores.height, dtype=pl.UInt32, eager=True)
    )
    return stores.drop(_CODE), rank_of_code.gather(codes.to_physical()).alias(_RANK)


def _power(bits: int) -> pl.Expr:
    """2 ** ``bits``, as an unsigned 64-bit literal (a shift by ``bits`` in the sort key)."""
    return pl.lit(1 << bits, dtype=pl.UInt64)
