"""Shards of a report: the stores split by a stable bucket, one shard computed at a time.

The first building block of issue #11. Every store's figures depend on its own rows only, so a
report can be computed shard by shard and the shards' rows concatenated: the result is the
single-pass report, byte for byte (the tests check it for any number of shards).

A store's bucket is ``crc32(store_id as UTF-8) mod 1024``: stable across processes, machines
and library versions (Polars' ``hash`` is not), so a bucket can be stored with the data and a
shard can be sent to another machine. A shard is a contiguous range of buckets, so the number of
shards can change without rewriting anything.

Pure: frames in, frames out, like ``compute``.
"""

from __future__ import annotations

import zlib
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Final

import polars as pl

from storestatus.compute import compute_report
from storestatus.schemas import STORE_ID
from storestatus.vocabulary import Interpolation

BUCKETS: Final = 1024
BUCKET_DTYPE: Final = pl.UInt16()


def store_buckets(store_ids: pl.Series) -> pl.Series:
    """The bucket of each store id, ``crc32(id) mod 1024``, computed once per distinct id."""
    distinct = store_ids.unique()
    buckets = pl.Series(
        [zlib.crc32(store_id.encode()) % BUCKETS for store_id in distinct.to_list()],
        dtype=BUCKET_DTYPE,
    )
    return store_ids.replace_strict(distinct, buckets, return_dtype=BUCKET_DTYPE)


def shard_ranges(shards: int) -> list[range]:
    """``shards`` contiguous bucket ranges covering all buckets, as even as can be.

    Raises
    ------
    ValueError
        ``shards`` is not between 1 and ``BUCKETS``.
    """
    if not 1 <= shards <= BUCKETS:
        raise ValueError(f"a report has 1 to {BUCKETS} shards, not {shards}")
    edges = [BUCKETS * index // shards for index in range(shards + 1)]
    return [range(start, stop) for start, stop in pairwise(edges)]


def in_shard(frame: pl.DataFrame, buckets: range) -> pl.DataFrame:
    """The rows of ``frame`` whose store's bucket lies in ``buckets``."""
    bucket = store_buckets(frame.get_column(STORE_ID))
    return frame.filter(bucket.is_between(buckets.start, buckets.stop - 1))


def compute_report_in_shards(
    polls: pl.DataFrame,
    hours: pl.DataFrame,
    timezones: pl.DataFrame,
    *,
    shards: int,
    now: datetime,
    interpolation: Interpolation = "nearest",
    known_stores: pl.Series | None = None,
    detail: bool = False,
    max_gap: timedelta | None = None,
) -> pl.DataFrame:
    """``compute.compute_report``, one shard of stores at a time; the same frame.

    Parameters are those of ``compute_report``, plus ``shards`` (1 to ``BUCKETS``). Each shard
    is computed from its stores' rows only; the rows of all shards, sorted by ``store_id``, are
    the single-pass report.
    """
    known = pl.Series(STORE_ID, [], pl.String) if known_stores is None else known_stores
    known_frame = known.cast(pl.String).rename(STORE_ID).to_frame()
    parts = [
        compute_report(
            in_shard(polls, buckets),
            in_shard(hours, buckets),
            in_shard(timezones, buckets),
            now=now,
            interpolation=interpolation,
            known_stores=in_shard(known_frame, buckets).get_column(STORE_ID),
            detail=detail,
            max_gap=max_gap,
        )
        for buckets in shard_ranges(shards)
    ]
    return pl.concat(parts).sort(STORE_ID)
