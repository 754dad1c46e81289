"""The Delta store: upsert semantics, snapshots, version pinning and partition pruning."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from storestatus.config import DataDir
from storestatus.schemas import HOURS_SCHEMA, OBSERVATIONS_SCHEMA, TIMEZONES_SCHEMA
from storestatus.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(DataDir(tmp_path))


def polls(*rows: tuple[str, datetime, str]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=OBSERVATIONS_SCHEMA, orient="row")


def test_empty_store_reads_as_empty_frames(store: Store) -> None:
    snapshot = store.snapshot()
    assert snapshot.versions == {"status": None, "business_hours": None, "timezones": None}
    first, last = date(2023, 1, 1), date(2023, 1, 9)
    assert store.read_observations(snapshot, first, last).schema == OBSERVATIONS_SCHEMA
    assert store.read_hours(snapshot).schema == HOURS_SCHEMA
    assert store.read_timezones(snapshot).schema == TIMEZONES_SCHEMA
    assert store.latest_poll(snapshot) is None


def test_upsert_counts_and_replaces(store: Store) -> None:
    t1 = datetime(2023, 1, 1, 10, tzinfo=UTC)
    t2 = datetime(2023, 1, 2, 10, tzinfo=UTC)
    first = store.upsert_status(polls(("a", t1, "active"), ("b", t2, "active")))
    assert (first.inserted, first.changed, first.unchanged) == (2, 0, 0)
    second = store.upsert_status(
        polls(("a", t1, "inactive"), ("b", t2, "active"), ("c", t2, "active"))
    )
    assert (second.inserted, second.changed, second.unchanged) == (1, 1, 1)
    stored = store.read_observations(store.snapshot(), date(2023, 1, 1), date(2023, 1, 2))
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
    middle = store.read_observations(pinned, date(2023, 1, 2), date(2023, 1, 2))
    assert middle.get_column("timestamp_utc").to_list() == [days[1]]  # not the later commit
    assert store.read_observations(store.snapshot(), date(2023, 1, 2), date(2023, 1, 2)).height == 2


def test_latest_poll_is_exact_to_the_microsecond(store: Store) -> None:
    latest = datetime(2023, 1, 3, 23, 59, 59, 999_999, tzinfo=UTC)
    store.upsert_status(
        polls(("a", datetime(2023, 1, 1, tzinfo=UTC), "active"), ("b", latest, "active"))
    )
    assert store.latest_poll(store.snapshot()) == latest


def test_snapshots_replace_whole_tables_and_keep_times_exact(store: Store) -> None:
    hours = pl.DataFrame(
        [("007", 0, time(9), time(23, 59, 59, 999_999)), ("8", 6, time(22, 30, 15), time(2))],
        schema=HOURS_SCHEMA,
        orient="row",
    )
    store.replace_hours(hours)
    assert_frame_equal(store.read_hours(store.snapshot()), hours, check_row_order=False)
    store.replace_hours(hours.head(0))
    assert store.read_hours(store.snapshot()).is_empty()
    zones = pl.DataFrame([("007", "Asia/Kolkata")], schema=TIMEZONES_SCHEMA, orient="row")
    version = store.replace_timezones(zones)
    assert store.snapshot().versions["timezones"] == version
    assert_frame_equal(store.read_timezones(store.snapshot()), zones)
