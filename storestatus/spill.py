"""The clean polls of a streamed status file, parked on disk and handed back in time order.

``Store.upsert_status`` compares a batch with the stored polls of the batch's time span. A batch
of a file in time order spans a few hours; a batch of a shuffled file spans the whole file, so
each batch would read (and join against) nearly everything stored before it, and memory and time
would grow with the file. So a streamed file is read twice: first every parsed batch is written
to a Parquet file of its own, sorted by time (small row groups, timestamp statistics), while the
polls per hour are counted; then time is walked in order, in ranges of about a batch's polls,
each read back from all the files (the statistics skip the other row groups). Each range is one
upsert whose span is a few hours, whatever the order of the rows in the file. One helper thread
writes a batch while the next is parsed, and reads a range while the last one is stored.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

from storestatus.errors import StoreError
from storestatus.schemas import POLLS_SCHEMA, STORE_ID, TIMESTAMP, UTC_MICROS

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

    def __init__(self, directory: Path, writer: ThreadPoolExecutor) -> None:
        self.directory = directory
        self.polls = 0  # added so far: also the next poll's SEQUENCE
        self._files: list[Path] = []
        self._per_hour: Counter[int] = Counter()  # hours since the epoch -> polls
        self._writer = writer  # one thread
        self._writing: Future[None] | None = None

    def add(self, polls: pl.DataFrame) -> None:
        """Park a batch of clean polls (in file order) on disk, sorted by time.

        The batch is sorted and written while the caller parses the next one (Polars works
        without the GIL); at most one batch waits to be written, so memory stays bounded.
        """
        if polls.is_empty():
            return
        self._wait()
        numbered = polls.select(POLLS_SCHEMA.names()).with_columns(
            pl.int_range(self.polls, self.polls + polls.height, dtype=pl.Int64).alias(SEQUENCE)
        )
        path = self.directory / f"{len(self._files):06d}.parquet"
        self._files.append(path)
        self.polls += polls.height
        self._writing = self._writer.submit(self._write, numbered, path)

    def _write(self, numbered: pl.DataFrame, path: Path) -> None:
        ordered = numbered.sort(TIMESTAMP)
        try:
            ordered.write_parquet(
                path,
                compression="uncompressed",
                row_group_size=ROW_GROUP_ROWS,
                statistics=_STATISTICS,
            )
        except (pl.exceptions.PolarsError, OSError) as error:
            raise StoreError(f"cannot write scratch file {path}: {_first_line(error)}") from error
        hours = ordered.group_by(pl.col(TIMESTAMP).dt.epoch("us") // HOUR_US).len()
        for hour, count in hours.iter_rows():
            self._per_hour[hour] += count

    def _wait(self) -> None:
        """Wait until the batch being written is on disk; raise its error, if any, here."""
        writing, self._writing = self._writing, None
        if writing is not None:
            writing.result()

    def ranges(self, rows: int) -> Iterator[pl.DataFrame]:
        """All polls parked, in time ranges of about ``rows`` polls, earliest first.

        Each range is sorted by time and holds one poll per (store_id, timestamp_utc): the one
        added last. It holds at most ``rows`` polls, plus those that share one timestamp. The
        next range is read while the caller stores this one.
        """
        self._wait()
        reading: Future[pl.DataFrame] | None = None
        for start, end in self._time_ranges(rows):
            previous, reading = reading, self._writer.submit(self._read, start, end)
            if previous is not None:
                yield previous.result()
            del previous  # freed while the caller stores the range it was given
        if reading is not None:
            yield reading.result()

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
        epoch_us = pl.col(TIMESTAMP).dt.epoch("us").sort()
        stamps = self._collect(start, end, epoch_us).to_series().to_numpy()
        cuts = np.unique(stamps[rows::rows])
        yield from pairwise([start, *(int(cut) for cut in cuts if cut > stamps[0]), end])

    def _collect(self, start: int, end: int, *columns: pl.Expr) -> pl.DataFrame:
        """The parked polls in [start, end) (their ``columns``, default all), in no set order."""
        since, until = (_EPOCH + timedelta(microseconds=edge) for edge in (start, end))
        at = pl.col(TIMESTAMP)
        scan = pl.scan_parquet(self._files, glob=False, hive_partitioning=False).filter(
            (at >= pl.lit(since, dtype=UTC_MICROS)) & (at < pl.lit(until, dtype=UTC_MICROS))
        )
        try:
            return (scan.select(*columns) if columns else scan).collect()
        except (pl.exceptions.PolarsError, OSError) as error:
            raise StoreError(
                f"cannot read scratch files in {self.directory}: {_first_line(error)}"
            ) from error

    def _read(self, start: int, end: int) -> pl.DataFrame:
        polls = self._collect(start, end)
        at = pl.col(TIMESTAMP)
        if not polls.select((at >= at.shift(1)).fill_null(True).all()).item():  # file unsorted
            polls = polls.sort(TIMESTAMP)
        # Two polls with one key have one time: only polls that share their time with a
        # neighbour can repeat a key, and of those the one latest in the file stays.
        tied = polls.with_row_index(_ROW).filter((at == at.shift(1)) | (at == at.shift(-1)))
        superseded = tied.sort(SEQUENCE).filter(~pl.struct(STORE_ID, TIMESTAMP).is_last_distinct())
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
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spill")
    try:
        yield Spill(directory, writer)
    finally:  # also on KeyboardInterrupt; a write still running must not recreate a file
        writer.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(directory, ignore_errors=True)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
