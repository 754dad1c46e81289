"""Snapshot replacement refuses what is almost surely a broken file (issue #8, item 4).

A header-only hours file once replaced 86,198 rows with none (every store open 24/7), a file cut
off mid-way left 2,506 of 13,559 stores. Each test checks what a fresh reader sees afterwards.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from pathlib import Path

import polars as pl
import pytest
from builders import hours, zones

from storestatus.errors import InputError
from storestatus.schemas import POLLS_SCHEMA
from storestatus.service import ingest_files
from storestatus.store import Store


def hours_of(*store_ids: str, days: int = 1) -> pl.DataFrame:
    return hours(
        *((store_id, day, time(9), time(17)) for store_id in store_ids for day in range(days))
    )


def zones_of(*store_ids: str) -> pl.DataFrame:
    return zones(*((store_id, "Asia/Kolkata") for store_id in store_ids))


def stored_hours(store: Store) -> list[tuple[object, ...]]:
    """The hours a new reader of the data directory sees."""
    fresh = Store(store.data_dir)
    return sorted(fresh.read_hours(fresh.snapshot()).rows())


def stored_zones(store: Store) -> list[tuple[object, ...]]:
    fresh = Store(store.data_dir)
    return sorted(fresh.read_timezones(fresh.snapshot()).rows())


def ids(count: int) -> list[str]:
    return [f"s{n:05d}" for n in range(count)]


def test_an_empty_snapshot_is_refused_and_the_current_one_kept(store: Store) -> None:
    store.replace_hours(hours_of("a", "b", "c", "d", days=7))
    before, versions = stored_hours(store), store.snapshot().versions
    for allow_shrink in (False, True):  # nothing makes an empty snapshot acceptable
        with pytest.raises(InputError) as refused:
            store.replace_hours(hours_of(), allow_shrink=allow_shrink, rejected=3)
        assert str(refused.value) == (
            "hours file: no valid rows (3 rejected, see the rejects file): the current snapshot "
            "of 4 stores is kept; with an empty snapshot every store would be open 24/7; fix the "
            "file and ingest it again"
        )
    assert stored_hours(store) == before
    assert Store(store.data_dir).snapshot().versions == versions


def test_an_empty_first_snapshot_is_refused_too(store: Store) -> None:
    with pytest.raises(InputError) as refused:
        store.replace_timezones(zones_of())
    assert str(refused.value) == (
        "timezones file: no valid rows (no data rows): nothing was changed; with an empty "
        "snapshot every store would be in America/Chicago; fix the file and ingest it again"
    )
    assert Store(store.data_dir).snapshot().versions["timezones"] is None


def test_dropping_more_than_half_the_stores_is_refused(store: Store) -> None:
    store.replace_hours(hours_of(*ids(2_000)))
    before, versions = stored_hours(store), store.snapshot().versions
    # 900 stores, 100 of them new: 1,200 of the current 2,000 would go. Rows do not count:
    # 6,300 rows is more than the current 2,000, but for fewer stores.
    shrunk = hours_of(*ids(800), *[f"new{n}" for n in range(100)], days=7)
    with pytest.raises(InputError) as refused:
        store.replace_hours(shrunk)
    assert str(refused.value) == (
        "hours file: the new snapshot names 900 stores, the current one 2,000 (1,200 would be "
        "dropped, 60 %, and be open 24/7); nothing was changed; if that is intended, add "
        "--allow-shrink"
    )
    assert stored_hours(store) == before
    assert Store(store.data_dir).snapshot().versions == versions


def test_time_zones_are_checked_the_same_way(store: Store) -> None:
    store.replace_timezones(zones_of("a", "b", "c"))
    before = stored_zones(store)
    with pytest.raises(InputError) as refused:
        store.replace_timezones(zones_of("a"))
    assert str(refused.value) == (
        "timezones file: the new snapshot names 1 store, the current one 3 (2 would be "
        "dropped, 67 %, and be in America/Chicago); nothing was changed; if that is intended, "
        "add --allow-shrink"
    )
    assert stored_zones(store) == before


def test_exactly_half_the_stores_is_allowed(store: Store) -> None:
    store.replace_hours(hours_of("a", "b", "c", "d"))
    store.replace_hours(hours_of("c", "d", days=7))  # 14 rows, 2 of 4 stores
    assert stored_hours(store) == sorted(hours_of("c", "d", days=7).rows())


def test_allow_shrink_accepts_a_smaller_snapshot(store: Store) -> None:
    store.replace_hours(hours_of("a", "b", "c", "d", "e"))
    store.replace_timezones(zones_of("a", "b", "c"))
    store.replace_hours(hours_of("z"), allow_shrink=True)
    store.replace_timezones(zones_of("c"), allow_shrink=True)
    assert stored_hours(store) == sorted(hours_of("z").rows())
    assert stored_zones(store) == [("c", "Asia/Kolkata")]


def test_the_first_snapshot_of_a_new_store_is_allowed(store: Store) -> None:
    store.replace_hours(hours_of("a"))
    store.replace_timezones(zones_of("a"))
    assert stored_hours(store) == sorted(hours_of("a").rows())
    assert stored_zones(store) == [("a", "Asia/Kolkata")]


def test_the_current_snapshot_is_the_writer_sessions_own(store: Store) -> None:
    """Within one session a snapshot is compared with the one committed just before it, and a
    refusal rolls the whole session back, the earlier commit and the polls included."""
    store.replace_hours(hours_of("a"))
    before = stored_hours(store)
    polls = pl.DataFrame(
        [("a", datetime(2023, 1, 2, 10, tzinfo=UTC), "active")],
        schema=POLLS_SCHEMA,
        orient="row",
    )

    def one_session() -> None:
        with store.writing():
            store.upsert_status(polls)
            store.replace_hours(hours_of("a", "b", "c", "d"))
            store.replace_hours(hours_of("a"))  # 1 of the 4 committed just before

    with pytest.raises(InputError, match="names 1 store, the current one 4 "):
        one_session()
    assert stored_hours(store) == before  # restored: same content, a new version
    assert Store(store.data_dir).snapshot().versions["status"] is None


# --------------------------------------------------------------------------- through ingest

STATUS_CSV = "store_id,status,timestamp_utc\n{}\n"
HOURS_CSV = "store_id,day,start_time_local,end_time_local\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_an_ingest_refused_for_its_hours_stores_nothing(store: Store, tmp_path: Path) -> None:
    """The hours are refused, and so are the polls that came with them: all or nothing."""
    four = "".join(f"{store_id},0,09:00,17:00\n" for store_id in "abcd")
    ingest_files(store, hours=write(tmp_path / "hours.csv", HOURS_CSV + four))
    before, versions = stored_hours(store), store.snapshot().versions
    status = write(tmp_path / "status.csv", STATUS_CSV.format("a,active,2023-01-02 10:00:00 UTC"))
    cases = {
        "header only": (HOURS_CSV, "no valid rows (no data rows)"),
        "all rejected": (HOURS_CSV + "a,9,09:00,17:00\n", "no valid rows (1 rejected, see the"),
        "cut off": (HOURS_CSV + "a,0,09:00,17:00\nb,0,09:0", "names 1 store, the current one 4"),
    }
    for name, (text, message) in cases.items():
        hours = write(tmp_path / "new_hours.csv", text)
        with pytest.raises(InputError, match=re.escape(message)):
            ingest_files(store, status=status, hours=hours)
        assert stored_hours(store) == before, name
        assert Store(store.data_dir).snapshot().versions == versions, name
    rejects = sorted(path.read_text() for path in store.data_dir.rejects.iterdir())
    assert any("row_number,reason,reason_code,store_id,day," in text for text in rejects)
    assert any("the last record is cut off (3 of 4 fields" in text for text in rejects)
    ingest_files(store, status=status, hours=hours, allow_shrink=True)
    assert stored_hours(store) == [("a", 0, time(9), time(17))]
