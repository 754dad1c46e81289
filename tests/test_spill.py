"""A streamed status file stores exactly what the same file read whole stores, in any row order.

Streamed files go through ``storestatus.spill`` (parked on disk, upserted back a time range at a
time); here small files are forced through it with tiny batches and ranges, and compared with
the whole-file path and with a dictionary.
"""

from __future__ import annotations

import random
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storestatus.config import DataDir
from storestatus.errors import InputError, StoreError
from storestatus.generate import generate_dataset
from storestatus.readers import STATUS_REJECTS_SCHEMA, ParsedInput, read_status_batches
from storestatus.schemas import POLLS_SCHEMA, STATUS, STORE_ID, TIMESTAMP
from storestatus.service import FileIngest, ingest_files, ingest_status_batches
from storestatus.spill import spill_directory
from storestatus.store import Store

END = datetime(2023, 1, 25, tzinfo=UTC)
STAMP = "20230125T000000000000Z"
AT = "2023-01-24 10:00:00"
COUNTS = ("accepted", "rejected", "blank", "duplicates_in_file", "inserted", "changed", "unchanged")

Poll = tuple[str, datetime, str]


def write_polls(path: Path, rows: Sequence[tuple[str, str, str]]) -> Path:
    pl.DataFrame(list(rows), schema=[STORE_ID, STATUS, TIMESTAMP], orient="row").write_csv(path)
    return path


def poller_file(path: Path, *, seed: int, flip_every: int = 0) -> Path:
    """Half a day of 20 stores' polls across midnight, shuffled, with repeated keys (some in
    another timestamp format, some with another status: the later line wins), bad rows and a
    blank line.

    ``flip_every``: flip the status of every n-th poll (a re-sent file that corrects some).
    """
    polls = generate_dataset(20, timedelta(hours=12), end=END + timedelta(hours=6)).status.rows()
    if flip_every:
        flip = {"active": "inactive", "inactive": "active"}
        polls = [
            (store, flip[status] if n % flip_every == 0 else status, at)
            for n, (store, status, at) in enumerate(polls)
        ]
    chance = random.Random(seed)
    repeated = [
        (store, chance.choice(["active", "inactive"]), at)
        for store, _, at in chance.sample(polls, 30)
    ]
    repeated += [  # the same instant written another way is the same key
        (store, status, at.replace(" UTC", "Z").replace(" ", "T", 1))
        for store, status, at in chance.sample(polls, 10)
    ]
    bad = [
        ("store-x", "maybe", "2023-01-24 10:00:00 UTC"),
        ("store-y", "active", "yesterday"),
        ("", "", ""),  # blank
    ]
    rows = polls + repeated + bad
    chance.shuffle(rows)
    return write_polls(path, rows)


def stored(store: Store) -> list[Poll]:
    polls = store.read_polls(store.snapshot(), date(2023, 1, 1), date(2023, 2, 1))
    return sorted(polls.rows())


def ingest_streamed(store: Store, path: Path, *, rows: int, range_rows: int) -> FileIngest:
    with store.writing():
        batches = read_status_batches(path, rows=rows, whole_below=0)
        return ingest_status_batches(store, batches, path, STAMP, range_rows=range_rows)


def counts(result: FileIngest) -> dict[str, object]:
    return {name: value for name, value in asdict(result).items() if name in COUNTS}


def rejects(result: FileIngest) -> list[tuple[object, ...]]:
    assert result.rejects_file is not None
    return sorted(pl.read_csv(result.rejects_file, infer_schema=False).rows())


def scratch_dirs(store: Store) -> list[Path]:
    return sorted(store.data_dir.scratch.glob("ingest-*"))


@pytest.mark.parametrize(
    ("rows", "range_rows"), [pytest.param(41, 9, marks=pytest.mark.slow), (17, 30), (100, 100_000)]
)
def test_a_streamed_shuffled_file_stores_what_the_whole_file_stores(
    tmp_path: Path, rows: int, range_rows: int
) -> None:
    first = poller_file(tmp_path / "first.csv", seed=1)
    again = poller_file(tmp_path / "again.csv", seed=2, flip_every=3)  # some polls corrected
    whole, streamed = Store(DataDir(tmp_path / "whole")), Store(DataDir(tmp_path / "streamed"))

    for path in (first, again):
        (expected,) = ingest_files(whole, status=path)
        got = ingest_streamed(streamed, path, rows=rows, range_rows=range_rows)
        assert counts(got) == counts(expected)
        assert rejects(got) == rejects(expected)
        assert stored(streamed) == stored(whole)
        assert not scratch_dirs(streamed)
    assert expected.changed > 0
    assert expected.unchanged > 0
    assert expected.duplicates_in_file >= 40
    assert (expected.rejected, expected.blank) == (2, 1)


def test_a_key_repeated_far_apart_counts_as_a_duplicate_and_the_last_line_wins(
    tmp_path: Path,
) -> None:
    at = "2023-01-24 10:00:00 UTC"
    rows = [("a", "active", at)]
    rows += [("b", "active", f"2023-01-24 {hour:02}:00:00 UTC") for hour in range(9)]
    path = write_polls(tmp_path / "polls.csv", [*rows, ("a", "inactive", "2023-01-24T10:00:00Z")])
    store = Store(DataDir(tmp_path / "data"))
    result = ingest_streamed(store, path, rows=3, range_rows=2)
    assert (result.inserted, result.duplicates_in_file, result.changed) == (10, 1, 0)
    assert ("a", datetime(2023, 1, 24, 10, tzinfo=UTC), "inactive") in stored(store)


def test_a_file_of_only_bad_rows_stores_nothing_and_names_the_table_version(
    tmp_path: Path,
) -> None:
    store = Store(DataDir(tmp_path / "data"))
    ingest_files(store, status=write_polls(tmp_path / "good.csv", [("a", "active", AT)]))
    path = write_polls(tmp_path / "bad.csv", [("a", "maybe", "2023-01-24 11:00:00")] * 5)
    result = ingest_streamed(store, path, rows=2, range_rows=2)
    assert (result.rejected, result.inserted, result.version) == (5, 0, 0)
    assert not scratch_dirs(store)


def batches_then(
    path: Path, store: Store, seen: list[list[Path]], error: BaseException | None
) -> Iterator[ParsedInput]:
    """The file's batches, noting the scratch directories after each; then ``error``, if any."""
    for batch in read_status_batches(path, rows=50, whole_below=0):
        yield batch
        seen.append(scratch_dirs(store))
    if error is not None:
        raise error


@pytest.mark.parametrize("error", [None, InputError("the file broke"), KeyboardInterrupt()])
def test_the_scratch_directory_is_gone_after_the_ingest_whatever_its_end(
    tmp_path: Path, error: BaseException | None
) -> None:
    path = poller_file(tmp_path / "polls.csv", seed=3)
    store = Store(DataDir(tmp_path / "data"))
    ingest_files(store, status=write_polls(tmp_path / "old.csv", [("a", "active", AT)]))
    before = stored(store)
    seen: list[list[Path]] = []

    def ingest() -> None:
        with store.writing():
            batches = batches_then(path, store, seen, error)
            ingest_status_batches(store, batches, path, STAMP, range_rows=100)

    if error is None:
        ingest()
    else:
        with pytest.raises(type(error)):
            ingest()
    assert len(seen[-1]) == 1  # the spill was there while the batches came
    assert seen[-1][0].name.startswith("ingest-")
    assert not scratch_dirs(store)
    assert (stored(store) == before) == (error is not None)  # a failed ingest stores nothing


def test_the_scratch_directory_is_gone_after_a_failed_write(tmp_path: Path) -> None:
    path = poller_file(tmp_path / "polls.csv", seed=4)
    store = Store(DataDir(tmp_path / "data"))
    store.tables.mkdir(parents=True)
    (store.tables / "status").write_text("not a table\n")  # every commit of polls fails
    with pytest.raises(StoreError, match="cannot write status polls"):
        ingest_streamed(store, path, rows=100, range_rows=100)
    assert store.data_dir.scratch.is_dir()
    assert not scratch_dirs(store)


# --- against a dictionary -------------------------------------------------------------------

BASE = datetime(2023, 1, 24, 22, tzinfo=UTC)
# Few stores and instants, across a date boundary: repeated keys and shared times are common.
INSTANTS = [BASE + timedelta(hours=h, microseconds=us) for h in range(4) for us in (0, 1, 7)]
POLLS = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.sampled_from(INSTANTS),
        st.sampled_from(["active", "inactive"]),
    ),
    max_size=40,
)


def frame(polls: Sequence[Poll]) -> pl.DataFrame:
    return pl.DataFrame(list(polls), schema=POLLS_SCHEMA, orient="row")


def parsed(polls: Sequence[Poll], rows: int) -> Iterator[ParsedInput]:
    """``polls`` as a reader would stream them: batches of ``rows`` (at least one batch)."""
    for start in range(0, max(len(polls), 1), rows):
        yield ParsedInput(frame(polls[start : start + rows]), STATUS_REJECTS_SCHEMA.to_frame(), 0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(POLLS, st.integers(1, 8), st.integers(1, 12))
def test_spill_ranges_are_in_time_order_and_keep_the_last_poll_of_each_key(
    polls: list[Poll], rows: int, range_rows: int
) -> None:
    with tempfile.TemporaryDirectory() as scratch, spill_directory(Path(scratch)) as spill:
        for start in range(0, len(polls), rows):
            spill.add(frame(polls[start : start + rows]))
        ranges = list(spill.ranges(range_rows))
    assert {(store, at): status for store, at, status in polls} == {
        (store, at): status for part in ranges for store, at, status in part.rows()
    }
    assert sum(part.height for part in ranges) == len({(store, at) for store, at, _ in polls})
    most_at_one_time = max((sum(at == t for _, at, _ in polls) for t in INSTANTS), default=0)
    for part in ranges:
        assert part.get_column(TIMESTAMP).is_sorted()
        assert 0 < part.height <= range_rows + max(most_at_one_time - 1, 0)
    for earlier, later in pairwise(ranges):
        last, first = earlier.get_column(TIMESTAMP).max(), later.get_column(TIMESTAMP).min()
        assert isinstance(last, datetime)
        assert isinstance(first, datetime)
        assert last < first


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(POLLS, POLLS, st.integers(1, 8), st.integers(2, 12))
def test_a_streamed_upsert_does_what_a_dictionary_does(
    before: list[Poll], polls: list[Poll], rows: int, range_rows: int
) -> None:
    with tempfile.TemporaryDirectory() as root:
        store = Store(DataDir(Path(root)))
        with store.writing():
            ingest_status_batches(store, parsed(before, 1000), Path("before.csv"), STAMP)
            result = ingest_status_batches(
                store, parsed(polls, rows), Path("polls.csv"), STAMP, range_rows=range_rows
            )
        content = stored(store)
        assert not scratch_dirs(store)
    old = {(store_id, at): status for store_id, at, status in before}
    new = {(store_id, at): status for store_id, at, status in polls}
    assert content == sorted((*key, status) for key, status in (old | new).items())
    assert result.duplicates_in_file == len(polls) - len(new)
    assert result.inserted == len(new.keys() - old.keys())
    assert result.changed == sum(old.get(key, status) != status for key, status in new.items())
    assert result.unchanged == sum(old.get(key) == status for key, status in new.items())
