"""The bucketed layout (issue #11): every table stores each store's bucket, sorted, with
statistics, so that a shard reads only the files and row groups that may hold its stores; a
data directory written before it keeps working, and ``compact`` migrates it.

The reports a shard computes from what it reads are in ``test_sharded_reports.py``; the pure
sharded computation in ``test_shards.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest
from deltalake import ColumnProperties, DeltaTable, WriterProperties
from polars.testing import assert_frame_equal
from runners import invoke

import storestatus.store
from storestatus.buckets import BUCKET, in_shard, shard_ranges, store_buckets
from storestatus.config import DataDir
from storestatus.reports import report_csv
from storestatus.schemas import DAY, END, POLLS_SCHEMA, START, STORE_ID, TIMESTAMP
from storestatus.store import (
    HOURS_TABLE,
    STATUS_TABLE,
    STORES_TABLE,
    TABLES,
    TIMEZONES_TABLE,
    Snapshot,
    Store,
)
from storestatus.tables import ROW_GROUP_ROWS, ReadStats, snapshot_writer, status_writer

DATA = Path(__file__).resolve().parent / "data"
V1_AS_OF = "2023-01-25T02:00:00Z"
V1_DETAIL = ("--detail", "--max-gap", "2h", "--interpolation", "previous")
DAY_ONE = datetime(2023, 1, 2, tzinfo=UTC)
# The rest of each table's key, after bucket and store, in the order the files are sorted by.
KEYS = {
    STATUS_TABLE: [TIMESTAMP],
    HOURS_TABLE: [DAY, START, END],
    TIMEZONES_TABLE: [],
    STORES_TABLE: [],
}


def store_ids(count: int) -> list[str]:
    """``count`` ids like a poller's: 19 digits, spread over the buckets."""
    return [str(1_000_000_000_000_000_000 + n * 7_919_113) for n in range(count)]


def hourly_polls(stores: int, hours: range, *, start: datetime = DAY_ONE) -> pl.DataFrame:
    """A poll per store and hour, each store at its own second of the hour, in time order."""
    rows = [
        (
            store_id,
            start + timedelta(hours=hour, seconds=(number * 37) % 3600),
            "inactive" if (number + hour) % 7 == 0 else "active",
        )
        for hour in hours
        for number, store_id in enumerate(store_ids(stores))
    ]
    return pl.DataFrame(rows, schema=POLLS_SCHEMA, orient="row").sort(TIMESTAMP)


def weekly_hours(stores: int) -> pl.DataFrame:
    """Business hours: every day 9 to 17, and a second shift on Fridays, per store."""
    rows = [
        (store_id, day, time(9), time(17)) for store_id in store_ids(stores) for day in range(7)
    ] + [(store_id, 4, time(19), time(23)) for store_id in store_ids(stores)]
    return pl.DataFrame(
        rows, schema={STORE_ID: pl.String, DAY: pl.Int8, START: pl.Time, END: pl.Time}, orient="row"
    )


def time_zones(stores: int) -> pl.DataFrame:
    zones = ("UTC", "Asia/Kolkata", "America/New_York")
    return pl.DataFrame(
        {"store_id": store_ids(stores), "timezone_str": [zones[n % 3] for n in range(stores)]}
    )


def write_status_csv(polls: pl.DataFrame, path: Path) -> Path:
    polls.select(
        STORE_ID, "status", pl.col(TIMESTAMP).dt.strftime("%Y-%m-%d %H:%M:%S%.6f UTC")
    ).write_csv(path)
    return path


def data_files(data_dir: Path, name: str) -> list[str]:
    """The data files of table ``name``'s latest version."""
    return DeltaTable(data_dir / "tables" / name).file_uris()


def add_actions(data_dir: Path, name: str) -> pl.DataFrame:
    return pl.DataFrame(DeltaTable(data_dir / "tables" / name).get_add_actions(flatten=True))


def assert_in_layout(data_dir: Path, name: str) -> None:
    """Every file of table ``name``: an Int16 ``bucket`` that is the store's, rows sorted by
    bucket, store and the rest of the key, min/max of the bucket in every row group's
    statistics and in the Delta log, row groups of at most ``ROW_GROUP_ROWS``."""
    files = data_files(data_dir, name)
    assert files, name
    for file in files:
        parquet = pq.ParquetFile(file)
        rows = pl.read_parquet(file, hive_partitioning=False)
        assert rows.schema[BUCKET] == pl.Int16, (name, rows.schema)
        assert rows.get_column(BUCKET).equals(store_buckets(rows.get_column(STORE_ID)))
        order = [BUCKET, STORE_ID, *KEYS[name]]
        assert rows.equals(rows.sort(order)), f"{name}: {file} is not sorted by {order}"
        column = parquet.schema_arrow.get_field_index(BUCKET)
        offset = 0
        for group in range(parquet.metadata.num_row_groups):
            meta = parquet.metadata.row_group(group)
            assert meta.num_rows <= ROW_GROUP_ROWS
            statistics = meta.column(column).statistics
            assert statistics is not None
            assert statistics.has_min_max
            buckets = rows.get_column(BUCKET).slice(offset, meta.num_rows)
            assert (statistics.min, statistics.max) == (buckets.min(), buckets.max())
            offset += meta.num_rows
    actions = add_actions(data_dir, name)
    assert actions.get_column(f"min.{BUCKET}").null_count() == 0, name
    assert actions.get_column(f"max.{BUCKET}").null_count() == 0, name


# --------------------------------------------------------------------------- writes


def test_every_table_an_ingest_writes_stores_the_bucket_sorted_with_statistics(
    tmp_path: Path, data_dir: Path
) -> None:
    stores = 1_000  # 24,000 polls a day: more than one row group per date
    first = hourly_polls(stores, range(30))
    (hours_csv := tmp_path / "hours.csv").write_text(
        weekly_hours(stores)
        .select(STORE_ID, pl.col(DAY).alias("day"), START, END)
        .write_csv(time_format="%H:%M:%S")
    )
    time_zones(stores).write_csv(zones_csv := tmp_path / "zones.csv")
    ingested = invoke(
        data_dir,
        "ingest",
        *("--status", str(write_status_csv(first, tmp_path / "first.csv"))),
        *("--hours", str(hours_csv)),
        *("--timezones", str(zones_csv)),
    )
    assert ingested.exit_code == 0, ingested.stderr
    for name in TABLES:
        assert_in_layout(data_dir, name)
    # A second ingest that overlaps the first and changes statuses rewrites its dates' files.
    changed = hourly_polls(stores, range(20, 40)).with_columns(
        pl.when(pl.col(TIMESTAMP).dt.hour() == 21)
        .then(pl.lit("inactive"))
        .otherwise(pl.col("status"))
        .alias("status")
    )
    second = invoke(
        data_dir, "ingest", "--status", str(write_status_csv(changed, tmp_path / "second.csv"))
    )
    assert second.exit_code == 0, second.stderr
    assert ", 0 replaced" not in second.stdout
    for name in (STATUS_TABLE, STORES_TABLE):
        assert_in_layout(data_dir, name)
    groups = [pq.ParquetFile(f).metadata.num_row_groups for f in data_files(data_dir, "status")]
    assert max(groups) > 1


def test_compact_writes_one_file_per_date_in_the_layout(store: Store, data_dir: Path) -> None:
    for hour in range(0, 48, 4):
        store.upsert_status(hourly_polls(300, range(hour, hour + 4)))
    before = store.read_polls(store.snapshot(), DAY_ONE.date(), DAY_ONE.date() + timedelta(1))
    done = store.compact()
    assert done.files_after == 2 + 1  # a file per date, and the registry's
    assert_in_layout(data_dir, STATUS_TABLE)
    after = store.read_polls(store.snapshot(), DAY_ONE.date(), DAY_ONE.date() + timedelta(1))
    assert_frame_equal(after.sort(STORE_ID, TIMESTAMP), before.sort(STORE_ID, TIMESTAMP))
    files = sorted(data_files(data_dir, STATUS_TABLE))
    store.compact()  # nothing left to merge: no file is rewritten
    assert sorted(data_files(data_dir, STATUS_TABLE)) == files


# --------------------------------------------------------------------------- reads


def reads_of_every_shard(
    store: Store, snapshot: Snapshot, first: date, last: date, shards: int
) -> Iterator[tuple[range, pl.DataFrame, pl.DataFrame]]:
    """Per shard of ``shards``: its buckets, its polls as read, and as the naive filter keeps."""
    everything = store.read_polls(snapshot, first, last)
    for buckets in shard_ranges(shards):
        read = store.read_polls(snapshot, first, last, buckets=buckets)
        yield buckets, read, in_shard(everything, buckets)


def assert_reads_equal_the_naive_filter(store: Store, first: date, last: date) -> None:
    """Every table, read for a bucket range, is what the whole table filtered by bucket is."""
    snapshot = store.snapshot()
    until = datetime.combine(last, time(23), UTC)
    hours, zones = store.read_hours(snapshot), store.read_timezones(snapshot)
    polled = store.stores_polled_until(snapshot, until).to_frame()
    for shards in (1, 3, 16):
        for buckets, read, naive in reads_of_every_shard(store, snapshot, first, last, shards):
            assert_frame_equal(read.sort(STORE_ID, TIMESTAMP), naive.sort(STORE_ID, TIMESTAMP))
            assert_frame_equal(
                store.read_hours(snapshot, buckets=buckets).sort(pl.all()),
                in_shard(hours, buckets).sort(pl.all()),
            )
            assert_frame_equal(
                store.read_timezones(snapshot, buckets=buckets).sort(pl.all()),
                in_shard(zones, buckets).sort(pl.all()),
            )
            assert sorted(store.stores_polled_until(snapshot, until, buckets=buckets)) == sorted(
                in_shard(polled, buckets).get_column(STORE_ID)
            )
    one = range(5, 6)  # a single bucket
    read = store.read_polls(snapshot, first, last, buckets=one)
    assert read.height == in_shard(store.read_polls(snapshot, first, last), one).height


def test_a_bucket_range_reads_what_the_naive_filter_keeps(store: Store) -> None:
    store.replace_hours(weekly_hours(400))
    store.replace_timezones(time_zones(400))
    store.upsert_status(hourly_polls(400, range(30)))
    # Overlapping, with changed statuses: the dates it touches are rewritten.
    changed = hourly_polls(500, range(20, 50)).with_columns(
        pl.when(pl.col(TIMESTAMP).dt.hour() % 3 == 0)
        .then(pl.lit("inactive"))
        .otherwise(pl.lit("active"))
        .alias("status")
    )
    done = store.upsert_status(changed)
    assert done.changed > 0
    store.upsert_status(hourly_polls(450, range(50, 53)))  # appended, beside the rewrite
    assert_reads_equal_the_naive_filter(store, DAY_ONE.date(), DAY_ONE.date() + timedelta(3))


@pytest.fixture
def old_store(tmp_path: Path) -> Path:
    """A copy of the data directory written by the release before issue #11."""
    copy = tmp_path / "datadir-v1"
    shutil.copytree(DATA / "datadir-v1", copy)
    return copy


V1_FIRST, V1_LAST = date(2023, 1, 17), date(2023, 1, 25)


def test_old_files_are_read_whole_and_filtered_by_the_buckets_of_their_ids(
    old_store: Path,
) -> None:
    store = Store(DataDir(old_store))
    assert_reads_equal_the_naive_filter(store, V1_FIRST, V1_LAST)
    counted = Store(DataDir(old_store))
    counted.read_polls(counted.snapshot(), V1_FIRST, V1_LAST, buckets=range(0, 64))
    stats = counted.reads[STATUS_TABLE]
    assert stats.files == stats.files_read == len(data_files(old_store, STATUS_TABLE))
    assert stats.row_groups == stats.row_groups_read > 0  # no statistics: read whole


def test_old_and_new_files_mixed_read_what_the_naive_filter_keeps(old_store: Path) -> None:
    store = Store(DataDir(old_store))
    registry = store.read_registry(store.snapshot())
    ids = registry.get_column(STORE_ID).head(120).to_list()
    stamp = datetime(2023, 1, 24, 22, 30, tzinfo=UTC)
    late = pl.DataFrame(
        [(store_id, stamp + timedelta(seconds=n), "inactive") for n, store_id in enumerate(ids)]
        + [("a-new-store", stamp, "active")],
        schema=POLLS_SCHEMA,
        orient="row",
    )
    appended = store.upsert_status(late)  # an old date partition gains a file in the layout
    assert appended.inserted == late.height
    assert DeltaTable(old_store / "tables" / STATUS_TABLE).schema().fields[-1].name == BUCKET
    old = store.read_polls(store.snapshot(), date(2023, 1, 20), date(2023, 1, 20))
    flipped = old.head(50).with_columns(
        pl.when(pl.col("status") == "active")
        .then(pl.lit("inactive"))
        .otherwise(pl.lit("active"))
        .alias("status")
    )
    assert store.upsert_status(flipped).changed == 50  # a date rewritten in the layout
    assert_reads_equal_the_naive_filter(store, V1_FIRST, V1_LAST)


def test_a_bucket_column_without_statistics_is_read_whole_and_filtered_by_the_ids(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Written by another tool, say: its row groups' bucket ranges cannot be trusted to skip.
    blind = WriterProperties(
        max_row_group_size=256,
        column_properties={BUCKET: ColumnProperties(statistics_enabled="NONE")},
    )
    monkeypatch.setattr(storestatus.store, "STATUS_WRITER", blind)
    store.upsert_status(hourly_polls(300, range(24)))
    counted = Store(store.data_dir)
    counted.read_polls(counted.snapshot(), DAY_ONE.date(), DAY_ONE.date(), buckets=range(0, 64))
    stats = counted.reads[STATUS_TABLE]
    assert stats.row_groups == stats.row_groups_read == -(-300 * 24 // 256)  # all of them
    assert stats.rows_read == 300 * 24
    assert_reads_equal_the_naive_filter(store, DAY_ONE.date(), DAY_ONE.date())


# --------------------------------------------------------------------------- pruning


def test_a_shard_reads_a_sixteenth_of_a_day_written_at_once(store: Store) -> None:
    # 20,000 stores x 24 hours: a day of 480,000 polls, 30 row groups of the real size.
    store.upsert_status(hourly_polls(20_000, range(24)))
    day = DAY_ONE.date()
    buckets = shard_ranges(16)[7]
    read = store.read_polls(store.snapshot(), day, day, buckets=buckets)
    stats = store.reads[STATUS_TABLE]
    assert (stats.files, stats.files_read) == (1, 1)
    assert stats.row_groups == -(-480_000 // ROW_GROUP_ROWS)
    assert stats.row_groups_read <= stats.row_groups // 16 + 2
    assert stats.rows_read <= 480_000 // 16 + 2 * ROW_GROUP_ROWS
    everything = store.read_polls(store.snapshot(), day, day)
    assert_frame_equal(
        read.sort(STORE_ID, TIMESTAMP), in_shard(everything, buckets).sort(STORE_ID, TIMESTAMP)
    )


@pytest.fixture
def small_row_groups(monkeypatch: pytest.MonkeyPatch) -> int:
    """Row groups of 256 rows instead of 16,384: a store of 4,096 stores then has the files
    and row groups of one of 262,144 stores, where a shard's reads are pruned as here."""
    rows = ROW_GROUP_ROWS // 64
    monkeypatch.setattr(storestatus.store, "STATUS_WRITER", status_writer(rows))
    monkeypatch.setattr(storestatus.store, "SNAPSHOT_WRITER", snapshot_writer(rows))
    return rows


def shard_reads(data_dir: Path, buckets: range, first: date, last: date) -> dict[str, ReadStats]:
    """What a fresh reader (as a shard task is) opens to read its buckets of every table."""
    reader = Store(DataDir(data_dir))
    snapshot = reader.snapshot()
    reader.read_polls(snapshot, first, last, buckets=buckets)
    reader.read_hours(snapshot, buckets=buckets)
    reader.read_timezones(snapshot, buckets=buckets)
    reader.stores_polled_until(snapshot, datetime.combine(last, time(23), UTC), buckets=buckets)
    return reader.reads


def test_a_shard_reads_a_small_part_of_hourly_appends_and_fewer_files_after_compact(
    store: Store, data_dir: Path, small_row_groups: int
) -> None:
    stores = 4_096
    store.replace_hours(weekly_hours(stores))
    store.replace_timezones(time_zones(stores))
    for hour in range(20, 28):  # 8 hourly appends over two dates
        store.upsert_status(hourly_polls(stores, range(hour, hour + 1)))
    first, last = DAY_ONE.date(), DAY_ONE.date() + timedelta(1)
    buckets = shard_ranges(16)[5]

    before = shard_reads(data_dir, buckets, first, last)[STATUS_TABLE]
    assert before.files == before.files_read == 8  # each hourly file holds every bucket
    assert before.row_groups == 8 * stores // small_row_groups
    assert before.row_groups_read <= before.row_groups / 16 + 2 * before.files
    assert before.row_groups_read / before.row_groups <= 0.2
    assert before.rows_read <= before.row_groups_read * small_row_groups

    store.compact()
    reads = shard_reads(data_dir, buckets, first, last)
    after = reads[STATUS_TABLE]
    assert after.files == after.files_read == 2  # a file per date
    assert after.row_groups == before.row_groups
    assert after.row_groups_read <= after.row_groups / 16 + 2 * after.files
    assert after.row_groups_read < before.row_groups_read
    for name in (HOURS_TABLE, TIMEZONES_TABLE, STORES_TABLE):  # bucketed and pruned too
        stats = reads[name]
        assert stats.files == stats.files_read == 1, name
        assert stats.row_groups_read <= stats.row_groups / 16 + 2, (name, stats)
    assert reads[HOURS_TABLE].row_groups == 8 * stores // small_row_groups
    for name in TABLES:
        assert_in_layout_of(data_dir, name, small_row_groups)


def assert_in_layout_of(data_dir: Path, name: str, rows: int) -> None:
    """``assert_in_layout`` with row groups of ``rows``."""
    for file in data_files(data_dir, name):
        metadata = pq.ParquetFile(file).metadata
        assert all(metadata.row_group(g).num_rows <= rows for g in range(metadata.num_row_groups))
    frame = pl.read_parquet(data_files(data_dir, name), hive_partitioning=False)
    assert frame.get_column(BUCKET).equals(store_buckets(frame.get_column(STORE_ID)))


def test_hours_and_time_zones_of_a_shard_are_pruned(
    store: Store, data_dir: Path, small_row_groups: int
) -> None:
    stores = 4_096
    store.replace_hours(weekly_hours(stores))
    store.replace_timezones(time_zones(stores))
    snapshot = store.snapshot()
    buckets = shard_ranges(16)[11]
    shard = Store(DataDir(data_dir))  # counts only the shard's reads
    hours = shard.read_hours(snapshot, buckets=buckets)
    zones = shard.read_timezones(snapshot, buckets=buckets)
    assert_frame_equal(
        hours.sort(pl.all()), in_shard(store.read_hours(snapshot), buckets).sort(pl.all())
    )
    assert_frame_equal(
        zones.sort(pl.all()), in_shard(store.read_timezones(snapshot), buckets).sort(pl.all())
    )
    for name, rows in ((HOURS_TABLE, 8 * stores), (TIMEZONES_TABLE, stores)):
        stats = shard.reads[name]
        assert stats.row_groups == rows // small_row_groups
        assert stats.row_groups_read <= stats.row_groups / 16 + 2, (name, stats)
        assert stats.rows_read <= stats.row_groups_read * small_row_groups


# --------------------------------------------------------------------------- old data dirs


def report_bytes(data_dir: Path, *options: str) -> bytes:
    """The CSV of ``trigger-report --wait --as-of V1_AS_OF OPTIONS``."""
    result = invoke(data_dir, "trigger-report", "--wait", "--as-of", V1_AS_OF, *options)
    assert result.exit_code == 0, result.stderr
    return report_csv(DataDir(data_dir), result.stdout.strip()).read_bytes()


def assert_reports_are_the_stored_ones(data_dir: Path) -> None:
    expected = (DATA / "datadir-v1-report.csv").read_bytes()
    detail = (DATA / "datadir-v1-report-detail.csv").read_bytes()
    for shards in ("1", "5"):
        assert report_bytes(data_dir, "--shards", shards) == expected, shards
        assert report_bytes(data_dir, "--shards", shards, *V1_DETAIL) == detail, shards


def test_an_old_data_directory_reports_the_same_bytes_before_and_after_compact(
    old_store: Path, tmp_path: Path
) -> None:
    assert_reports_are_the_stored_ones(old_store)
    compacted = invoke(old_store, "compact")
    assert compacted.exit_code == 0, compacted.stderr
    for name in TABLES:  # migrated: every file has the bucket, sorted, with statistics
        assert_in_layout(old_store, name)
    assert_reports_are_the_stored_ones(old_store)

    # A further ingest: a few polls of known stores and of a new one.
    polls = tmp_path / "late.csv"
    polls.write_text(
        "store_id,status,timestamp_utc\n"
        + "".join(
            f"{store_id},inactive,2023-01-25 01:{n:02d}:00 UTC\n"
            for n, store_id in enumerate(
                Store(DataDir(old_store))
                .read_registry(Store(DataDir(old_store)).snapshot())
                .get_column(STORE_ID)
                .head(5)
            )
        )
        + "brand-new-store,active,2023-01-25 01:30:00 UTC\n"
    )
    ingested = invoke(old_store, "ingest", "--status", str(polls))
    assert ingested.exit_code == 0, ingested.stderr
    single, sharded = (
        report_bytes(old_store, "--shards", "1"),
        report_bytes(old_store, "--shards", "5"),
    )
    assert single == sharded
    assert single != (DATA / "datadir-v1-report.csv").read_bytes()  # the new polls count
    assert b"brand-new-store" in single


def test_an_old_data_directory_takes_new_polls_before_compact(
    old_store: Path, tmp_path: Path
) -> None:
    polls = tmp_path / "late.csv"
    polls.write_text(
        "store_id,status,timestamp_utc\nbrand-new-store,active,2023-01-25 01:30:00 UTC\n"
    )
    ingested = invoke(old_store, "ingest", "--status", str(polls))
    assert ingested.exit_code == 0, ingested.stderr
    actions = add_actions(old_store, STATUS_TABLE)
    assert actions.get_column(f"min.{BUCKET}").null_count() == actions.height - 1  # the new one
    single, sharded = (
        report_bytes(old_store, "--shards", "1"),
        report_bytes(old_store, "--shards", "5"),
    )
    assert single == sharded
    assert b"brand-new-store" in single
