"""The Delta store: upsert semantics, snapshots, version pinning and partition pruning."""

from __future__ import annotations

import threading
import time as time_module
from datetime import UTC, date, datetime, time
from pathlib import Path

import polars as pl
import pytest
from builders import polls
from deltalake import DeltaTable
from polars.testing import assert_frame_equal

from storestatus.config import DataDir
from storestatus.errors import StoreError
from storestatus.reports import ReportFiles, ReportRecord, new_report_id, run_report
from storestatus.schemas import HOURS_SCHEMA, POLLS_SCHEMA, TIMEZONES_SCHEMA
from storestatus.store import Store


def test_empty_store_reads_as_empty_frames(store: Store) -> None:
    snapshot = store.snapshot()
    assert snapshot.versions == dict.fromkeys(("status", "business_hours", "timezones", "stores"))
    first, last = date(2023, 1, 1), date(2023, 1, 9)
    assert store.read_polls(snapshot, first, last).schema == POLLS_SCHEMA
    assert store.read_hours(snapshot).schema == HOURS_SCHEMA
    assert store.read_timezones(snapshot).schema == TIMEZONES_SCHEMA
    assert store.latest_poll(snapshot) == (None, 0)


def test_upsert_counts_and_replaces(store: Store) -> None:
    t1 = datetime(2023, 1, 1, 10, tzinfo=UTC)
    t2 = datetime(2023, 1, 2, 10, tzinfo=UTC)
    first = store.upsert_status(polls(("a", t1, "active"), ("b", t2, "active")))
    assert (first.inserted, first.changed, first.unchanged) == (2, 0, 0)
    second = store.upsert_status(
        polls(("a", t1, "inactive"), ("b", t2, "active"), ("c", t2, "active"))
    )
    assert (second.inserted, second.changed, second.unchanged) == (1, 1, 1)
    stored = store.read_polls(store.snapshot(), date(2023, 1, 1), date(2023, 1, 2))
    assert stored.sort("store_id").rows() == [
        ("a", t1, "inactive"),
        ("b", t2, "active"),
        ("c", t2, "active"),
    ]


def test_reads_only_the_requested_dates_and_pins_a_version(store: Store) -> None:
    days = [datetime(2023, 1, d, 12, tzinfo=UTC) for d in (1, 2, 3)]
    store.upsert_status(polls(*[("a", day, "active") for day in days]))
    pinned = store.snapshot()
    store.upsert_status(polls(("a", datetime(2023, 1, 2, 13, tzinfo=UTC), "inactive")))
    middle = store.read_polls(pinned, date(2023, 1, 2), date(2023, 1, 2))
    assert middle.get_column("timestamp_utc").to_list() == [days[1]]  # not the later commit
    assert store.read_polls(store.snapshot(), date(2023, 1, 2), date(2023, 1, 2)).height == 2


def test_latest_poll_is_exact_to_the_microsecond(store: Store) -> None:
    latest = datetime(2023, 1, 3, 23, 59, 59, 999_999, tzinfo=UTC)
    store.upsert_status(
        polls(("a", datetime(2023, 1, 1, tzinfo=UTC), "active"), ("b", latest, "active"))
    )
    assert store.latest_poll(store.snapshot()) == (latest, 0)


def test_latest_poll_ignores_polls_after_the_bound_and_counts_them(store: Store) -> None:
    # A poller with a wrong clock must not move the default `now` (issue #8).
    real = datetime(2023, 1, 3, 12, tzinfo=UTC)
    store.upsert_status(
        polls(
            ("a", real, "active"),
            ("a", datetime(2023, 1, 3, 12, 30, tzinfo=UTC), "active"),  # same date, too late
            ("b", datetime(2099, 1, 1, tzinfo=UTC), "active"),  # a later date partition
        )
    )
    bound = datetime(2023, 1, 3, 12, 15, tzinfo=UTC)
    assert store.latest_poll(store.snapshot(), not_after=bound) == (real, 2)
    assert store.latest_poll(store.snapshot(), not_after=real) == (real, 2)  # at the bound: in
    early = datetime(2023, 1, 2, tzinfo=UTC)
    assert store.latest_poll(store.snapshot(), not_after=early) == (None, 3)


def test_snapshots_replace_whole_tables_and_keep_times_exact(store: Store) -> None:
    hours = pl.DataFrame(
        [("007", 0, time(9), time(23, 59, 59, 999_999)), ("8", 6, time(22, 30, 15), time(2))],
        schema=HOURS_SCHEMA,
        orient="row",
    )
    store.replace_hours(hours)
    assert_frame_equal(store.read_hours(store.snapshot()), hours, check_row_order=False)
    store.replace_hours(hours.head(1))  # the whole table, not an upsert
    assert_frame_equal(store.read_hours(store.snapshot()), hours.head(1))
    zones = pl.DataFrame([("007", "Asia/Kolkata")], schema=TIMEZONES_SCHEMA, orient="row")
    version = store.replace_timezones(zones)
    assert store.snapshot().versions["timezones"] == version
    assert_frame_equal(store.read_timezones(store.snapshot()), zones)


def hourly(store_ids: list[str], day: int, hour: int, status: str = "active") -> pl.DataFrame:
    at = datetime(2023, 1, day, hour, 7, tzinfo=UTC)
    return polls(*[(store_id, at, status) for store_id in store_ids])


def test_a_changed_status_rewrites_its_partition_in_one_commit(store: Store) -> None:
    for hour in range(3):
        store.upsert_status(hourly(["a", "b"], 1, hour))
    store.upsert_status(hourly(["a", "b"], 2, 0))
    before = store.snapshot().versions["status"]
    assert before is not None
    untouched = set(_files(store, date(2023, 1, 2)))
    written = store.upsert_status(pl.concat([hourly(["a"], 1, 1, "inactive"), hourly(["c"], 1, 5)]))
    assert (written.inserted, written.changed, written.version) == (1, 1, before + 1)
    stored = store.read_polls(store.snapshot(), date(2023, 1, 1), date(2023, 1, 2))
    assert stored.height == 3 * 2 + 2 + 1  # every poll once, none lost or doubled
    assert stored.filter(pl.col("status") == "inactive").rows() == [
        ("a", datetime(2023, 1, 1, 1, 7, tzinfo=UTC), "inactive")
    ]
    assert set(_files(store, date(2023, 1, 2))) == untouched  # other dates are not rewritten


def test_a_batch_of_known_polls_commits_nothing(store: Store) -> None:
    first = store.upsert_status(hourly(["a", "b"], 1, 0))
    again = store.upsert_status(hourly(["a", "b"], 1, 0))
    assert (again.inserted, again.changed, again.unchanged) == (0, 0, 2)
    assert again.version == first.version == 0


def test_new_polls_are_appended_without_rewriting_files(store: Store) -> None:
    store.upsert_status(hourly(["a", "b"], 1, 0))
    old = set(_files(store, date(2023, 1, 1)))
    store.upsert_status(hourly(["a", "b"], 1, 1))
    assert old < set(_files(store, date(2023, 1, 1)))


def _files(store: Store, day: date) -> list[str]:
    table = DeltaTable(store.tables / "status")
    return table.file_uris(file_pruning_predicate=[("poll_date", "=", day)])


@pytest.mark.slow
def test_compact_merges_hourly_files_and_keeps_every_poll(store: Store) -> None:
    for day in (1, 2):
        for hour in range(24):
            store.upsert_status(hourly(["a", "b"], day, hour, "inactive" if hour % 5 else "active"))
    before = store.read_polls(store.snapshot(), date(2023, 1, 1), date(2023, 1, 2))
    done = store.compact()
    # One file per hour and one per day, plus the stores table's one (rewritten by each upsert).
    assert (done.files_before, done.files_after, done.dropped_polls) == (49, 3, 0)
    assert done.deleted_files == 48 + 47  # the hourly files, and the replaced store registries
    after = store.read_polls(store.snapshot(), date(2023, 1, 1), date(2023, 1, 2))
    assert_frame_equal(
        after.sort("store_id", "timestamp_utc"), before.sort("store_id", "timestamp_utc")
    )
    on_disk = list((store.tables / "status").glob("poll_date=*/*.parquet"))
    assert len(on_disk) == 2


def test_retention_drops_whole_days_before_the_newest_poll(store: Store) -> None:
    for day in range(1, 12):
        store.upsert_status(hourly(["a"], day, 12))
    done = store.compact(retain_days=8)
    assert done.dropped_polls == 2  # Jan 1 and 2; Jan 3..11 stay (the 8 days before the 11th)
    # Counted before the drop; each count includes the stores table's one file.
    assert (done.files_before, done.files_after) == (12, 10)
    kept = store.read_polls(store.snapshot(), date(2023, 1, 1), date(2023, 1, 11))
    assert sorted(kept.get_column("timestamp_utc").dt.day().to_list()) == list(range(3, 12))


def test_compact_waits_for_a_running_report_before_deleting_its_files(store: Store) -> None:
    for hour in range(3):
        store.upsert_status(hourly(["a"], 1, hour))
    with store.reading():
        pinned = store.snapshot()
        files = [Path(uri.removeprefix("file://")) for uri in _files(store, date(2023, 1, 1))]
        compaction = threading.Thread(target=store.compact)
        compaction.start()
        # Wait until compact has committed the merged file: then only deletion is left to do.
        deadline = time_module.monotonic() + 60
        while DeltaTable(store.tables / "status").version() == pinned.versions["status"]:
            assert time_module.monotonic() < deadline, "compact did not commit"
            time_module.sleep(0.05)
        time_module.sleep(0.3)  # give a broken lock the chance to delete
        assert all(file.exists() for file in files)
        assert store.read_polls(pinned, date(2023, 1, 1), date(2023, 1, 1)).height == 3
        assert compaction.is_alive()
    compaction.join(timeout=60)
    assert not any(file.exists() for file in files)


def test_a_writer_session_keeps_other_writers_out_until_it_ends(tmp_path: Path) -> None:
    session, other = Store(DataDir(tmp_path)), Store(DataDir(tmp_path))
    status_table = tmp_path / "tables" / "status"
    with session.writing():
        session.upsert_status(hourly(["a"], 1, 0))  # joins the session: no self-deadlock
        intruder = threading.Thread(target=other.upsert_status, args=(hourly(["b"], 1, 0),))
        intruder.start()
        time_module.sleep(0.3)  # give a broken lock the chance to let it in
        assert intruder.is_alive()
        assert DeltaTable(status_table).version() == 0
    intruder.join(timeout=60)
    assert not intruder.is_alive()
    assert DeltaTable(status_table).version() == 1


ZONES = pl.DataFrame([("a", "Asia/Kolkata")], schema=TIMEZONES_SCHEMA, orient="row")


def _content(store: Store) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """What a reader sees: every poll of Jan 2023 and the time zones."""
    snapshot = store.snapshot()
    stored = store.read_polls(snapshot, date(2023, 1, 1), date(2023, 1, 31))
    return sorted(stored.rows()), sorted(store.read_timezones(snapshot).rows())


def test_a_failed_session_is_rolled_back_whole(store: Store) -> None:
    store.upsert_status(hourly(["a"], 1, 0))
    before = _content(store)

    def ingest_that_fails() -> None:
        with store.writing():
            store.upsert_status(hourly(["a", "b"], 1, 1))  # committed, then...
            store.replace_timezones(ZONES)
            raise RuntimeError("the next file cannot be written")

    with pytest.raises(RuntimeError):
        ingest_that_fails()
    assert _content(store) == before
    assert not (store.tables / "timezones").exists()  # created by the failed session
    store.upsert_status(hourly(["a", "b"], 1, 1))  # the store works on as before
    assert len(_content(store)[0]) == 3


def test_readers_see_a_session_only_when_it_ends(store: Store) -> None:
    store.upsert_status(hourly(["a"], 1, 0))
    before = _content(store)
    with store.writing():
        store.upsert_status(hourly(["b"], 1, 0))
        store.replace_timezones(ZONES)
        assert _content(Store(store.data_dir)) == before  # another process's view
    assert _content(Store(store.data_dir)) == (
        sorted(hourly(["a", "b"], 1, 0).rows()),
        [("a", "Asia/Kolkata")],
    )


def test_the_next_writer_undoes_a_writer_that_died(store: Store) -> None:
    store.upsert_status(hourly(["a"], 1, 0))
    before = _content(store)
    manifest = store.data_dir.manifest.read_text()
    with store.writing():  # a writer that commits and then dies before publishing
        store.upsert_status(hourly(["b"], 1, 0))
        store.replace_timezones(ZONES)
        died = store.data_dir.manifest.read_text()
    store.data_dir.manifest.write_text(died)  # as the dead writer left it
    assert '"writer": "pid' in died
    assert died != manifest
    assert _content(store) == before  # readers never see its commits
    store.upsert_status(hourly(["c"], 1, 0))  # the next writer rolls them back first
    rows, zones = _content(store)
    assert [row[0] for row in rows] == ["a", "c"]
    assert zones == []
    assert not (store.tables / "timezones").exists()


def test_a_store_from_before_manifests_is_read_as_it_is(store: Store) -> None:
    store.upsert_status(hourly(["a"], 1, 0))
    store.data_dir.manifest.unlink()
    assert len(_content(store)[0]) == 1
    store.upsert_status(hourly(["b"], 1, 0))
    assert store.data_dir.manifest.exists()
    assert len(_content(store)[0]) == 2


def test_a_damaged_manifest_is_a_one_line_store_error(store: Store) -> None:
    store.upsert_status(hourly(["a"], 1, 0))
    store.data_dir.manifest.write_text('{"versions": {"status": -1}}')
    with pytest.raises(StoreError, match="manifest"):
        store.snapshot()


def test_a_report_during_an_ingest_reads_and_records_the_published_versions(
    store: Store,
) -> None:
    store.upsert_status(hourly(["a"], 1, 0))
    published = store.snapshot().versions
    report_id = new_report_id()
    files = ReportFiles(store.data_dir)
    files.folder.mkdir(parents=True)
    files.write(ReportRecord(report_id, "Running", "nearest", None, "2023-01-02T00:00:00+00:00"))
    with store.writing():  # an ingest that has committed, but not finished
        store.upsert_status(hourly(["b"], 1, 0, "inactive"))
        record = run_report(store.data_dir, report_id)
    assert record.state == "Complete", record.error
    assert record.table_versions == published  # the state before the ingest, recorded
    report = pl.read_csv(files.path(report_id, ".csv"), infer_schema=False)
    assert report.get_column("store_id").to_list() == ["a"]  # not b: not published yet
