"""Store buckets: the stable hash that splits stores into shards (issue #11).

A store's bucket is ``crc32(store_id as UTF-8) mod 1024``: stable across processes, machines
and library versions (Polars' ``hash`` is not), so it is stored with the data, and a shard, a
contiguous range of buckets, can be read from the tables and sent to another machine. The
number of shards can change without rewriting anything.
"""

from __future__ import annotations

import zlib
from itertools import pairwise
from typing import Final

import polars as pl

from storestatus.schemas import STORE_ID

BUCKET: Final = "bucket"  # the column every table stores it in
BUCKETS: Final = 1024
BUCKET_DTYPE: Final = pl.Int16()  # Delta has no unsigned types; 0..1023 fits a "short"


def store_buckets(store_ids: pl.Series) -> pl.Series:
    """The bucket of each store id, ``crc32(id) mod 1024``, computed once per distinct id."""
    distinct = store_ids.unique()
    if distinct.len() == store_ids.len():  # e.g. a registry's or time zones' ids: no look-up
        return _crc_buckets(store_ids)
    return store_ids.replace_strict(
        distinct, _crc_buckets(distinct), return_dtype=BUCKET_DTYPE
    ).rename(BUCKET)


def _crc_buckets(store_ids: pl.Series) -> pl.Series:
    """``crc32(id) mod 1024`` of each id, from its UTF-8 bytes as Polars holds them."""
    utf8 = store_ids.cast(pl.Binary).to_list()
    return pl.Series(BUCKET, [zlib.crc32(raw) % BUCKETS for raw in utf8], dtype=BUCKET_DTYPE)


def bucket_of(store_id: str) -> range:
    """The one bucket of ``store_id``, as a bucket range: what a read of one store needs."""
    bucket = zlib.crc32(store_id.encode()) % BUCKETS
    return range(bucket, bucket + 1)


def with_buckets(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its stores' ``bucket`` column (replaced if it has one)."""
    return frame.with_columns(store_buckets(frame.get_column(STORE_ID)))


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


def in_buckets(buckets: range) -> pl.Expr:
    """True for the rows of a frame with a ``bucket`` column whose bucket lies in ``buckets``."""
    return pl.col(BUCKET).is_between(buckets.start, buckets.stop - 1)


def in_shard(frame: pl.DataFrame, buckets: range) -> pl.DataFrame:
    """The rows of ``frame`` whose store's bucket lies in ``buckets`` (computed from the ids)."""
    bucket = store_buckets(frame.get_column(STORE_ID))
    return frame.filter(bucket.is_between(buckets.start, buckets.stop - 1))
