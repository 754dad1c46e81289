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

    uri: str
    parquet: pq.ParquetFile
    bucket: int | None  # the column's index in the footer

    @property
    def bucketed(self) -> bool:
        """Whether every row group's statistics bound its buckets and say it has no nulls: then
        a row group whose range misses the shard holds none of its rows."""
        if self.bucket is None:
            return False
        metadata = self.parquet.metadata
        for group in range(metadata.num_row_groups):
            statistics = metadata.row_group(group).column(self.bucket).statistics
            if statistics is None or not statistics.has_min_max or statistics.null_count != 0:
                return False
        return True

    def row_runs(self, buckets: range) -> tuple[list[tuple[int, int]], int]:
        """The rows of the row groups whose bucket range overlaps ``buckets``, as (offset,
        length) runs of adjacent groups, and how many groups that is."""
        assert self.bucket is not None
        metadata = self.parquet.metadata
        runs: list[tuple[int, int]] = []
        offset = groups = 0
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            statistics = row_group.column(self.bucket).statistics
            if statistics.min <= buckets.stop - 1 and statistics.max >= buckets.start:
                groups += 1
                if runs and sum(runs[-1]) == offset:  # adjacent to the previous run: extend it
                    runs[-1] = (runs[-1][0], runs[-1][1] + row_group.num_rows)
                else:
                    runs.append((offset, row_group.num_rows))
            offset += row_group.num_rows
        return runs, groups


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
    slices: list[pl.LazyFrame] = []  # the row groups to read of the bucketed files
    computed: list[pl.DataFrame] = []  # the rows of the other files, buckets computed
    for uri in overlapping:
        with _opened(uri) as file:
            stats.row_groups += file.parquet.metadata.num_row_groups
            if file.bucketed:
                runs, groups = file.row_runs(buckets)
                stats.row_groups_read += groups
                stats.rows_read += sum(length for _, length in runs)
                wanted = [*columns, BUCKET] if BUCKET not in columns else list(columns)
                scan = pl.scan_parquet(uri).select(wanted)
                slices.extend(scan.slice(offset, length) for offset, length in runs)
            else:
                stats.row_groups_read += file.parquet.metadata.num_row_groups
                whole = pl.from_arrow(file.parquet.read(columns=list(columns)))
                assert isinstance(whole, pl.DataFrame)
                stats.rows_read += whole.height
                computed.append(in_shard(whole, buckets))
    frames = list(computed)
    if slices:  # read together, in parallel: Polars reads only the runs' row groups
        frames.append(
            pl.concat(slices, how="vertical_relaxed").filter(in_buckets(buckets)).collect()
        )
    if not frames:  # no rows, but the columns' types, from a file's schema
        with _opened(every[0]) as file:
            empty = pl.from_arrow(file.parquet.schema_arrow.empty_table())
        assert isinstance(empty, pl.DataFrame)
        return empty.select(columns), stats
    return pl.concat([frame.select(columns) for frame in frames], how="vertical_relaxed"), stats


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
        yield _File(uri, parquet, bucket)
