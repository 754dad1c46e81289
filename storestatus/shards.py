"""Shards of a report: the stores split by a stable bucket, one shard computed at a time.

The first building block of issue #11. Every store's figures depend on its own rows only, so a
report can be computed shard by shard and the shards' rows concatenated: the result is the
single-pass report, byte for byte (the tests check it for any number of shards).

The buckets and shard ranges are in ``storestatus.buckets``; ``storestatus.shard_tasks`` runs
one shard from the tables, on this machine or a Dask worker.

Pure: frames in, frames out, like ``compute``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import polars as pl

from storestatus.buckets import BUCKETS, in_shard, shard_ranges, store_buckets
from storestatus.compute import compute_report
from storestatus.schemas import STORE_ID
from storestatus.vocabulary import Interpolation

__all__ = [
    "BUCKETS",
    "compute_report_in_shards",
    "in_shard",
    "shard_ranges",
    "store_buckets",
]


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
