"""One shard of a report, from the tables to a part file: the unit of work of a sharded report.

A ``ShardTask`` holds plain values only (paths, versions, a bucket range, the report's options),
so it can be pickled to a Dask worker on another machine that sees the data directory at the
same path; ``run_shard`` reads the shard's rows of the pinned table versions, computes them with
the pure ``compute.compute_report_and_coverage`` (the same function whatever runs it), writes
the rows to the task's part file and returns only small figures. Large results never travel
through the coordinator's connection. The coordinator (``service.compute_from_store``) holds the
store's files lock meanwhile, so ``compact`` cannot delete a file a shard is about to read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import polars as pl

from storestatus.buckets import BUCKETS
from storestatus.compute import compute_report_and_coverage, poll_dates_needed
from storestatus.config import DataDir
from storestatus.durable import replacing
from storestatus.errors import StoreError
from storestatus.schemas import STORE_ID
from storestatus.store import Snapshot, Store
from storestatus.tables import ReadStats
from storestatus.vocabulary import Interpolation

# A shard of about this many stores peaks at a few hundred MB: 100,000 stores x 7 days peak at
# 1.7 GB in one pass, at 0.29 x that in 7 shards, in 1.10 x the time (issue #11 asks 0.4 x and
# 1.2 x; 4 shards of 25,000 peaked at 0.47 x). A's 14,000 stores stay one shard, i.e. the single
# pass, as fast as before.
STORES_PER_SHARD: Final = 15_000


def automatic_shards(stores: int) -> int:
    """How many shards a report of ``stores`` stores has when the user does not say."""
    return min(BUCKETS, max(1, -(-stores // STORES_PER_SHARD)))


@dataclass(frozen=True)
class ShardOptions:
    """The report's options, the same for every shard (see ``compute.compute_report``)."""

    now: datetime
    interpolation: Interpolation
    detail: bool
    max_gap: timedelta | None


@dataclass(frozen=True)
class ShardTask:
    """Everything one shard needs, as plain values (picklable, meaningful on another machine)."""

    data_dir: str  # the data directory's root: the same path wherever the shard runs
    versions: dict[str, int | None]  # the table versions the whole report reads
    buckets: tuple[int, int]  # the shard's buckets: start (inclusive), stop (exclusive)
    options: ShardOptions
    output: str  # the part file the shard writes its rows to (Parquet)


@dataclass(frozen=True)
class ShardOutcome:
    """What one shard did: small figures only (its rows are in ``task.output``)."""

    buckets: tuple[int, int]
    rows: int
    polls: int  # candidate polls in the window
    stores_polled: int  # stores with at least one of them
    seconds: float
    host: str  # where it ran (a Dask worker's address, or this machine's pid)
    reads: dict[str, ReadStats] = field(default_factory=dict)  # per table: what was read


def run_shard(task: ShardTask) -> ShardOutcome:
    """Read, compute and write one shard of a report (see the module's docstring).

    Raises
    ------
    StoreError
        The tables or the part file cannot be read or written.
    """
    started = time.perf_counter()
    store = Store(DataDir(Path(task.data_dir)))
    snapshot = Snapshot(dict(task.versions))
    buckets = range(*task.buckets)
    options = task.options
    first, last = poll_dates_needed(options.now)
    polls = store.read_polls(snapshot, first, last, buckets=buckets)
    hours = store.read_hours(snapshot, buckets=buckets)
    timezones = store.read_timezones(snapshot, buckets=buckets)
    known = store.stores_polled_until(snapshot, options.now, buckets=buckets)
    report, coverage = compute_report_and_coverage(
        polls,
        hours,
        timezones,
        now=options.now,
        interpolation=options.interpolation,
        known_stores=known,
        detail=options.detail,
        max_gap=options.max_gap,
    )
    output = Path(task.output)
    try:
        with replacing(output) as handle:  # a retried shard replaces its part whole
            report.write_parquet(handle)
    except OSError as error:
        raise StoreError(f"cannot write the report part {output}: {error}") from error
    return ShardOutcome(
        buckets=task.buckets,
        rows=report.height,
        polls=coverage.polls,
        stores_polled=coverage.stores_polled,
        seconds=time.perf_counter() - started,
        host=f"pid {os.getpid()}",
        reads=dict(store.reads),
    )


ShardRunner = Callable[[Sequence[ShardTask], Callable[[ShardOutcome], None]], list[ShardOutcome]]
"""Runs shard tasks somewhere, telling the callback as each finishes; the outcomes in task order."""


def run_here(
    tasks: Sequence[ShardTask], on_done: Callable[[ShardOutcome], None]
) -> list[ShardOutcome]:
    """Run the shards one after another in this process: memory bounded by one shard."""
    outcomes = []
    for task in tasks:
        outcome = run_shard(task)
        on_done(outcome)
        outcomes.append(outcome)
    return outcomes


def read_parts(tasks: Sequence[ShardTask]) -> pl.DataFrame:
    """The shards' rows, in store order: byte for byte the single-pass report."""
    paths = [task.output for task in tasks]
    try:
        return pl.read_parquet(paths).sort(STORE_ID)
    except (pl.exceptions.PolarsError, OSError) as error:
        raise StoreError(f"cannot read the report's parts: {error}") from error
