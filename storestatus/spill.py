"""The clean polls of a streamed status file, parked on disk and handed back in time order.

``Store.upsert_status`` compares a batch with the stored polls of the batch's time span. A batch
of a file in time order spans a few hours; a batch of a shuffled file spans the whole file, so
each batch would read (and join against) nearly everything stored before it, and memory and time
would grow with the file. So a streamed file is read twice: first every parsed batch is written
to a Parquet file of its own, sorted by time (small row groups, timestamp statistics), while the
polls per hour are counted; then time is walked in order, in ranges of about a batch's polls,
each read back from all the files (the statistics skip the other row groups). Each range is one
upsert whose span is a few hours, whatever the order of the rows in the file.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from storestatus.errors import StoreError
from storestatus.schemas import OBSERVATIONS_SCHEMA, STORE_ID, TIMESTAMP, UTC_MICROS

SEQUENCE: Final = "__sequence"  # a poll's place in the file: of two with one key, the later wins
_ROW: Final = "__row"
HOUR_US: Final = 3_600_000_000
ROW_GROUP_ROWS: Final = 16_384  # a range reads at most about a row group too much of each file
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# Only the timestamp's min/max are used (to skip row groups); the scratch is read once, soon:
# compressing it would cost more time than the disk it saves.
_STATISTICS: Final = {"min": True, "max": True, "distinct_count": False, "null_count": False}


class Spill:
    """The polls of one file, parked on disk in time-sorted files (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.polls = 0  # added so far: also the next poll's SEQUENCE
        self._files: list[Path] = []
        self._per_hour: Counter[int] = Counter()  # hours since the epoch -> polls

    def add(self, polls: pl.DataFrame) -> None:
        """Park a batch of clean polls (in file order) on disk, sorted by time."""
        if polls.is_empty():
            return
        numbered = polls.select(OBSERVATIONS_SCHEMA.names()).with_columns(
            pl.int_range(self.polls, self.polls + polls.height, dtype=pl.Int64).alias(SEQUENCE)
        )
        ordered = numbered.sort(TIMESTAMP)
        path = self.directory / f"{len(self._files):06d}.parquet"
        try:
            ordered.write_parquet(
                path,
                compression="uncompressed",
                row_group_size=ROW_GROUP_ROWS,
                statistics=_STATISTICS,
            )
        except (pl.exceptions.PolarsError, OSError) as error:
            raise StoreError(f"cannot write scratch file {path}: {_first_line(error)}") from error
        self._files.append(path)
        self.polls += polls.height
        hours = ordered.group_by(pl.col(TIMESTAMP).dt.epoch("us") // HOUR_US).len()
        for hour, count in hours.iter_rows():
            self._per_hour[hour] += count

    def ranges(self, rows: int) -> Iterator[pl.DataFrame]:
        """All polls parked, in time ranges of about ``rows`` polls, earliest first.

        Each range is sorted by time and holds one poll per (store_id, timestamp_utc): the one
        added last. A range holds more than ``rows`` polls only if more than that share one
        timestamp.
        """
        for start, end in self._time_ranges(rows):
            yield self._read(start, end)  # not bound to a name: the last range is freed meanwhile

    def _time_ranges(self, rows: int) -> Iterator[tuple[int, int]]:
        """Half-open [start, end) microsecond ranges covering every poll, of about ``rows``."""
        start = end = held = 0
        for hour, count in sorted(self._per_hour.items()):
            if held and held + count > rows:
                yield from self._cut(start, end, held, rows)
                held = 0
            if not held:
                start = hour * HOUR_US
            end, held = (hour + 1) * HOUR_US, held + count
        if held:
            yield from self._cut(start, end, held, rows)

    def _cut(self, start: int, end: int, held: int, rows: int) -> Iterator[tuple[int, int]]:
        """[start, end), cut at every ``rows``-th timestamp if it holds more (only in one hour).

        Exact cuts, not equal times: polls of one hour need not be spread evenly.
        """
        if held <= rows:
            yield start, end
            return
        stamps = (
            self._scan(start, end)
            .select(pl.col(TIMESTAMP).dt.epoch("us").sort())
            .collect()
            .to_series()
            .to_numpy()
        )
        cuts = np.unique(stamps[rows::rows])
        yield from pairwise([start, *(int(cut) for cut in cuts if cut > stamps[0]), end])

    def _scan(self, start: int, end: int) -> pl.LazyFrame:
        since, until = (_EPOCH + timedelta(microseconds=edge) for edge in (start, end))
        at = pl.col(TIMESTAMP)
        return pl.scan_parquet(self._files, glob=False, hive_partitioning=False).filter(
            (at >= pl.lit(since, dtype=UTC_MICROS)) & (at < pl.lit(until, dtype=UTC_MICROS))
        )

    def _read(self, start: int, end: int) -> pl.DataFrame:
        try:
            polls = self._scan(start, end).collect()
        except (pl.exceptions.PolarsError, OSError) as error:
            raise StoreError(
                f"cannot read scratch files in {self.directory}: {_first_line(error)}"
            ) from error
        at, seq = pl.col(TIMESTAMP), pl.col(SEQUENCE)
        in_order = (at > at.shift(1)) | ((at == at.shift(1)) & (seq > seq.shift(1)))
        if not polls.select(in_order.fill_null(True).all()).item():  # a file out of time order
            polls = polls.sort(TIMESTAMP, SEQUENCE)
        # Two polls with one key have one time: only the few polls that share a time with a
        # neighbour can repeat a key, and of those the last in the file stays.
        tied = polls.with_row_index(_ROW).filter((at == at.shift(1)) | (at == at.shift(-1)))
        superseded = tied.filter(~pl.struct(STORE_ID, TIMESTAMP).is_last_distinct())
        if not superseded.is_empty():
            rows = superseded.get_column(_ROW).implode()
            polls = polls.with_row_index(_ROW).filter(~pl.col(_ROW).is_in(rows)).drop(_ROW)
        return polls.drop(SEQUENCE)


@contextmanager
def spill_directory(scratch: Path) -> Iterator[Spill]:
    """A new, empty ``Spill`` under ``scratch``, deleted with its files when the block ends.

    Its name, ``ingest-<pid>-<random>``, lets ``compact`` tell a directory that an ingest killed
    by SIGKILL left behind: spills exist only inside a writer session, which ``compact`` excludes.
    """
    directory = scratch / f"ingest-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        directory.mkdir(parents=True)
    except OSError as error:
        raise StoreError(f"cannot create scratch directory {directory}: {error}") from error
    try:
        yield Spill(directory)
    finally:  # also on KeyboardInterrupt
        shutil.rmtree(directory, ignore_errors=True)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
