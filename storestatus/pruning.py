"""Reading one shard's rows of a table: only the files, and in them only the row groups, whose
bucket statistics could hold its stores (issue #11).

Three steps, each counted in a ``ReadStats``: the Delta log's per-file min/max of the bucket
(with the date partitions) picks the files (``DeltaTable.file_uris`` with a pruning predicate);
each file's Parquet footer picks the row groups (``ParquetFile.read_row_groups`` reads only
those); the rows read are then filtered exactly. A file without the bucket column or without
statistics on it (written before issue #11) is read whole and filtered by the bucket computed
from its ids: correct, and counted as read. See ``storestatus.layout`` for how the files are
written so that this skips most of them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

import polars as pl
import pyarrow as pa
import pyarrow.fs
import pyarrow.parquet as pq
from deltalake import DeltaTable

from storestatus.buckets import BUCKET, in_buckets, in_shard
from storestatus.tables import DELTA_ERRORS, PARQUET_ERRORS, Partitions, ReadStats

# How ``read_buckets`` fails: Delta listing the files, Arrow reading them, Polars filtering.
PRUNED_READ_ERRORS: Final = (*DELTA_ERRORS, *PARQUET_ERRORS, pa.ArrowException)


@dataclass(frozen=True)
class _File:
    """One data file's footer, and where its bucket column is (None: it has none)."""

    parquet: pq.ParquetFile
    bucket: int | None  # the column's index in the footer

    def may_hold(self, group: int, buckets: range) -> bool:
        """Whether row group ``group`` may hold rows of ``buckets`` (no statistics: it may)."""
        if self.bucket is None:
            return True
        statistics = self.parquet.metadata.row_group(group).column(self.bucket).statistics
        if statistics is None or not statistics.has_min_max:
            return True
        return bool(statistics.min <= buckets.stop - 1 and statistics.max >= buckets.start)


def read_buckets(
    table: DeltaTable,
    columns: Sequence[str],
    buckets: range,
    *,
    partitions: Partitions | None = None,
) -> tuple[pl.DataFrame, ReadStats]:
    """The rows of ``table``'s current version whose store's bucket lies in ``buckets``.

    Parameters
    ----------
    table
        A table with a ``store_id`` column, at the version to read.
    columns
        The columns to return (``store_id`` among them); they must be in every file.
    buckets
        The shard's buckets.
    partitions
        Only the files of these partitions, e.g. ``[("poll_date", "in", days)]``.

    Returns
    -------
    The rows (``columns``, as Polars reads them; a table without files: an empty frame of
    strings), and what was opened and read.
    """
    stats = ReadStats()
    every = table.file_uris(file_pruning_predicate=partitions or None)
    stats.files = len(every)
    if not every:
        return pl.DataFrame(schema=dict.fromkeys(columns, pl.String())), stats
    overlapping = every
    if BUCKET in {field.name for field in table.schema().fields}:  # none before issue #11
        within = [(BUCKET, ">=", buckets.start), (BUCKET, "<=", buckets.stop - 1)]
        overlapping = table.file_uris(file_pruning_predicate=[*(partitions or []), *within])
    stats.files_read = len(overlapping)
    frames = []
    for uri in overlapping:
        with _opened(uri) as file:
            frame = _read_file(file, columns, buckets, stats)
        if frame is not None:
            frames.append(frame)
    if not frames:  # no rows, but the columns' types, from a file's schema
        with _opened(every[0]) as file:
            empty = pl.from_arrow(file.parquet.schema_arrow.empty_table())
        assert isinstance(empty, pl.DataFrame)
        return empty.select(columns), stats
    return pl.concat(frames, how="vertical_relaxed"), stats


@contextmanager
def _opened(uri: str) -> Iterator[_File]:
    """The file at ``uri`` (a local path, or a URI of a filesystem Arrow knows), its footer
    read, until the block ends."""
    filesystem, path = pyarrow.fs.FileSystem.from_uri(uri)
    with pq.ParquetFile(path, filesystem=filesystem) as parquet:
        schema = parquet.metadata.schema
        bucket = next(
            (index for index in range(len(schema)) if schema.column(index).path == BUCKET), None
        )
        yield _File(parquet, bucket)


def _read_file(
    file: _File, columns: Sequence[str], buckets: range, stats: ReadStats
) -> pl.DataFrame | None:
    """The rows of ``buckets`` in one file, reading only the row groups that may hold them."""
    total = file.parquet.metadata.num_row_groups
    groups = [group for group in range(total) if file.may_hold(group, buckets)]
    stats.row_groups += total
    stats.row_groups_read += len(groups)
    if not groups:
        return None
    wanted = [*columns, BUCKET] if file.bucket is not None and BUCKET not in columns else columns
    frame = pl.from_arrow(file.parquet.read_row_groups(groups, columns=list(wanted)))
    assert isinstance(frame, pl.DataFrame)
    stats.rows_read += frame.height
    if file.bucket is None or frame.get_column(BUCKET).null_count():
        return in_shard(frame, buckets).select(columns)  # buckets computed from the ids
    return frame.filter(in_buckets(buckets)).select(columns)
