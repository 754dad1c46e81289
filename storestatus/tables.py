"""The Delta tables of a data directory: their names, opening one, and reporting their failures.

Shared by ``store`` (reading and writing the tables), ``session`` (publishing a writer's commits
or rolling them back) and ``compaction``. Every failure of Delta, Polars or the OS that touches
the tables becomes one ``StoreError`` line through ``store_errors``, which names what failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any, Final

import polars as pl
from deltalake import ColumnProperties, DeltaTable, WriterProperties
from deltalake.exceptions import DeltaError, TableNotFoundError

from storestatus.buckets import BUCKET
from storestatus.errors import StoreError
from storestatus.schemas import (
    FIRST_POLL,
    LAST_POLL,
    POLLS_STORED,
    STATUS,
    STORE_ID,
    TIMESTAMP,
    UTC_MICROS,
)

POLL_DATE: Final = "poll_date"  # partition column of the status table: UTC date of the poll

Partitions = list[tuple[str, str, Any]]  # tuple filters of partition columns (``file_uris``)

STATUS_TABLE: Final = "status"
HOURS_TABLE: Final = "business_hours"
TIMEZONES_TABLE: Final = "timezones"
# One row per store with a stored poll. Written by the writers, in their session, so it is
# published and rolled back with the status table; a store written before it has none (None).
STORES_TABLE: Final = "stores"
TABLES: Final = (STATUS_TABLE, HOURS_TABLE, TIMEZONES_TABLE, STORES_TABLE)

STORES_SCHEMA: Final = pl.Schema(
    {STORE_ID: pl.String(), FIRST_POLL: UTC_MICROS, LAST_POLL: UTC_MICROS, POLLS_STORED: pl.Int64()}
)

# Row groups of 16,384 rows (measured on A's 1.8 M polls, issue #11): a single pass reads the
# 8 days of polls as fast as from files of one row group each (fewer than 16 K rows per group
# costs it: 4 K rows doubled its read time), and a 1/16 shard reads its ~120,000 polls in the
# same time as with 8 K-row groups, three times faster than from groups of 128 K rows. A shard
# reads at most about two row groups more per file than its own rows: nothing against a
# compacted day of 100,000 stores (2.4 M polls, 147 row groups), a little against an hourly
# file of them. Files smaller than a row group are one row group: an hourly file of 14,000
# stores is read whole by every shard until ``compact`` merges its day.
ROW_GROUP_ROWS: Final = 16_384

# How status polls are encoded in Parquet. Timestamps are all distinct and sorted per store, so a
# dictionary only costs time; delta encoding makes them ~2x smaller than the default. Min/max
# statistics of ids and statuses skip nothing for us (we prune by date partition and bucket)
# but cost a string comparison per poll. Together: the A ingest writes 1.8 M polls in ~0.22 s,
# not ~0.4 s. The bucket's statistics are what a shard prunes by (issue #11, see ``layout``):
# per row group is enough (the Delta log gets each file's from them), a page index is not read.
# The buckets are sorted: delta encoding stores them in about a bit each, without the hashing of
# a dictionary.


def status_writer(row_group_rows: int = ROW_GROUP_ROWS) -> WriterProperties:
    """How status polls are written (see above); ``row_group_rows`` other than the default only
    to model, in a test, a store a hundred times larger than the test's."""
    return WriterProperties(
        max_row_group_size=row_group_rows,
        column_properties={
            TIMESTAMP: ColumnProperties(dictionary_enabled=False, encoding="DELTA_BINARY_PACKED"),
            STORE_ID: ColumnProperties(statistics_enabled="NONE"),
            STATUS: ColumnProperties(statistics_enabled="NONE"),
            BUCKET: ColumnProperties(
                statistics_enabled="CHUNK",
                dictionary_enabled=False,
                encoding="DELTA_BINARY_PACKED",
            ),
        },
    )


def snapshot_writer(row_group_rows: int = ROW_GROUP_ROWS) -> WriterProperties:
    """How the tables written whole (hours, time zones, the registry) are written: the defaults
    (statistics on every column; they are small next to the polls) in the layout's row groups."""
    return WriterProperties(max_row_group_size=row_group_rows)


STATUS_WRITER: Final = status_writer()
SNAPSHOT_WRITER: Final = snapshot_writer()

DELTA_ERRORS: Final = (DeltaError, OSError)  # how a Delta operation fails
PARQUET_ERRORS: Final = (pl.exceptions.PolarsError, OSError)  # how Polars reading the files fails


@dataclass
class ReadStats:
    """What the readers of one table opened and what they skipped (issue #11): a sharded
    report's tests check on these that a shard reads a small part of the tables."""

    files: int = 0  # data files of the partitions asked for
    files_read: int = 0  # of them, those whose statistics could hold the rows asked for
    # Parquet row groups in the files read, and of them those whose statistics could hold the
    # rows asked for: counted by reads of a bucket range, which look at them; a whole read of
    # the files (the single pass) does not open their footers, and leaves both at 0.
    row_groups: int = 0
    row_groups_read: int = 0
    rows_read: int = 0  # rows decoded (a whole read filters as it reads: the rows it kept)

    def __add__(self, other: ReadStats) -> ReadStats:
        return ReadStats(
            *(mine + theirs for mine, theirs in zip(astuple(self), astuple(other), strict=True))
        )


@contextmanager
def store_errors(
    what: str, *, catching: tuple[type[Exception], ...] = DELTA_ERRORS
) -> Iterator[None]:
    """Turn a failure of the tables in the block into one line: ``StoreError("{what}: {error}")``.

    Parameters
    ----------
    what
        What failed and where, e.g. ``cannot write table stores in /data/tables``.
    catching
        The failures to translate: those of a Delta operation (the default), or
        ``PARQUET_ERRORS`` around Polars reading the tables' files. Anything else passes through.

    Raises
    ------
    StoreError
        From the error caught, which stays its ``__cause__`` (``--debug`` shows it).
    """
    try:
        yield
    except catching as error:
        raise StoreError(f"{what}: {error}") from error


def open_table(folder: Path, name: str, version: int | None = None) -> DeltaTable | None:
    """Table ``name`` of the tables ``folder``, at ``version`` (None: the latest); None if it
    does not exist yet.

    Raises
    ------
    StoreError
        The table exists but cannot be read.
    """
    path = folder / name
    if not (path / "_delta_log").is_dir():
        return None
    with store_errors(f"cannot read table {name} in {folder}"):
        try:
            return DeltaTable(path, version=version)
        except TableNotFoundError:
            return None


def table_version(folder: Path, name: str) -> int | None:
    """The latest version of table ``name``; None if nothing was ever written to it."""
    table = open_table(folder, name)
    return None if table is None else table.version()
