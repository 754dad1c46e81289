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
from typing import Final

import polars as pl
from deltalake import ColumnProperties, DeltaTable, WriterProperties
from deltalake.exceptions import DeltaError, TableNotFoundError

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

# How status polls are encoded in Parquet. Timestamps are all distinct and nearly sorted, so a
# dictionary only costs time; delta encoding makes them ~2x smaller than the default. Min/max
# statistics of ids and statuses skip nothing for us (we prune by date partition) but cost a
# string comparison per poll. Together: the A ingest writes 1.8 M polls in ~0.22 s, not ~0.4 s.
STATUS_WRITER: Final = WriterProperties(
    column_properties={
        TIMESTAMP: ColumnProperties(dictionary_enabled=False, encoding="DELTA_BINARY_PACKED"),
        STORE_ID: ColumnProperties(statistics_enabled="NONE"),
        STATUS: ColumnProperties(statistics_enabled="NONE"),
    }
)

DELTA_ERRORS: Final = (DeltaError, OSError)  # how a Delta operation fails
PARQUET_ERRORS: Final = (pl.exceptions.PolarsError, OSError)  # how Polars reading the files fails


@dataclass
class ReadStats:
    """What the readers of one table opened and what they skipped (issue #11): a sharded
    report's tests check on these that a shard reads a small part of the tables."""

    files: int = 0  # data files of the partitions asked for
    files_read: int = 0  # of them, those whose statistics could hold the rows asked for
    row_groups: int = 0  # Parquet row groups in the files read
    row_groups_read: int = 0  # of them, those whose statistics could hold the rows asked for
    rows_read: int = 0

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
