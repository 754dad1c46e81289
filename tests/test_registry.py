"""Stores that go dark stay in the report (issue #9), through the registry of stored stores."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from builders import polls
from deltalake import DeltaTable

from storestatus.errors import StoreError
from storestatus.schemas import TIMEZONES_SCHEMA
from storestatus.service import compute_from_store
from storestatus.store import Store

NOW = datetime(2023, 1, 23, 12, tzinfo=UTC)
ZEROS = (0.0,) * 6
ALL_UP = (60.0, 24.0, 168.0, 0.0, 0.0, 0.0)  # open 24/7, only active polls counted


def days_ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def registry(store: Store) -> dict[str, tuple[datetime, datetime, int]]:
    """The published stores table: store id -> (first poll, last poll, polls stored)."""
    version = json.loads(store.data_dir.manifest.read_text())["versions"]["stores"]
    table = pl.DataFrame(DeltaTable(store.tables / "stores", version=version).to_pyarrow_table())
    return {row[0]: (row[1], row[2], row[3]) for row in table.iter_rows()}


def report(store: Store, as_of: datetime | None = None) -> dict[str, tuple[float, ...]]:
    frame = compute_from_store(store, as_of=as_of).report
    return {row[0]: tuple(row[1:]) for row in frame.iter_rows()}


def history(store: Store) -> None:
    """``live`` polled now; ``dark`` only 10 days ago; ``late`` first polled 2 days ago."""
    store.upsert_status(
        polls(
            ("dark", days_ago(10), "active"),
            ("dark", days_ago(9.5), "inactive"),
            ("late", days_ago(2), "active"),
            ("live", days_ago(1), "active"),
            ("live", NOW, "active"),
        )
    )
    store.replace_timezones(pl.DataFrame([("live", "UTC")], schema=TIMEZONES_SCHEMA, orient="row"))


def test_a_store_that_went_dark_is_listed_with_zeros(store: Store) -> None:
    history(store)
    rows = report(store)
    assert list(rows) == ["dark", "late", "live"]  # dark is in no hours, no time zones
    assert rows["dark"] == ZEROS
    assert rows["live"] == rows["late"] == ALL_UP


def test_a_store_first_polled_after_the_as_of_is_not_listed(store: Store) -> None:
    history(store)
    assert list(report(store, as_of=days_ago(3))) == ["dark", "live"]
    assert list(report(store, as_of=days_ago(11))) == ["live"]  # named by its time zone


def test_the_registry_follows_ingest_reingest_and_compact(store: Store) -> None:
    history(store)
    assert registry(store) == {
        "dark": (days_ago(10), days_ago(9.5), 2),
        "late": (days_ago(2), days_ago(2), 1),
        "live": (days_ago(1), NOW, 2),
    }
    before = registry(store)
    version = json.loads(store.data_dir.manifest.read_text())["versions"]["stores"]
    store.upsert_status(polls(("dark", days_ago(10), "inactive"), ("live", NOW, "active")))
    assert registry(store) == before  # a replaced status and a known poll add no poll
    assert json.loads(store.data_dir.manifest.read_text())["versions"]["stores"] == version
    store.upsert_status(polls(("dark", days_ago(12), "active"), ("new", days_ago(0.5), "active")))
    assert registry(store) == before | {
        "dark": (days_ago(12), days_ago(9.5), 3),
        "new": (days_ago(0.5), days_ago(0.5), 1),
    }
    # Retention keeps the 8 dates before NOW's: every poll of dark goes, and so does dark.
    store.compact(retain_days=8, force=True)
    assert registry(store) == {
        "late": (days_ago(2), days_ago(2), 1),
        "live": (days_ago(1), NOW, 2),
        "new": (days_ago(0.5), days_ago(0.5), 1),
    }
    assert "dark" not in report(store)


def test_a_failed_ingest_leaves_the_registry_as_it_was(store: Store) -> None:
    history(store)
    before = registry(store)

    def ingest_that_fails() -> None:
        with store.writing():
            store.upsert_status(polls(("other", days_ago(1), "active"), ("dark", NOW, "active")))
            raise RuntimeError("the next file cannot be read")

    with pytest.raises(RuntimeError):
        ingest_that_fails()
    assert registry(store) == before
    assert "other" not in report(store)


def make_old_store(store: Store) -> None:
    """A data directory as the release before the registry wrote it: three tables, and a
    manifest that names only them."""
    history(store)
    manifest = json.loads(store.data_dir.manifest.read_text())
    del manifest["versions"]["stores"]
    shutil.rmtree(store.tables / "stores")
    store.data_dir.manifest.write_text(json.dumps(manifest))


def test_a_data_directory_from_before_the_registry_keeps_working(store: Store) -> None:
    make_old_store(store)

    def ingest_that_fails() -> None:
        with store.writing():
            store.upsert_status(polls(("other", days_ago(1), "active")))
            raise RuntimeError("the next file cannot be read")

    with pytest.raises(RuntimeError):
        ingest_that_fails()
    assert not (store.tables / "stores").exists()  # rolled back with the rest
    expected = {"dark": ZEROS, "late": ALL_UP, "live": ALL_UP}
    assert report(store) == expected  # read from the whole status table meanwhile
    assert list(report(store, as_of=days_ago(3))) == ["dark", "live"]
    assert not (store.tables / "stores").exists()  # a report writes nothing
    store.upsert_status(polls(("live", NOW + timedelta(minutes=1), "active")))  # next ingest
    assert registry(store) == {
        "dark": (days_ago(10), days_ago(9.5), 2),
        "late": (days_ago(2), days_ago(2), 1),
        "live": (days_ago(1), NOW + timedelta(minutes=1), 3),
    }
    assert list(report(store)) == list(expected)


def test_a_refused_compact_of_an_old_store_writes_nothing(store: Store) -> None:
    make_old_store(store)
    manifest = json.loads(store.data_dir.manifest.read_text())
    with pytest.raises(StoreError, match="add --force"):  # 3 of 5 polls are after not_after
        store.compact(not_after=days_ago(5))
    assert json.loads(store.data_dir.manifest.read_text()) == manifest
    assert not (store.tables / "stores").exists()
    store.compact()  # the next writer that changes anything builds it
    assert set(registry(store)) == {"dark", "late", "live"}
