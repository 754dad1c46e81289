"""Operator safety (issue #8): interrupted ingests leave no files behind, writers say whom they
wait for and give up when told to, and ``compact`` cannot be made to wipe out the history.

The interruptions and lock holders are real processes: ``python -m storestatus ingest`` sent
SIGINT, SIGTERM or SIGKILL halfway through its session, and small scripts holding a lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import pty
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from builders import polls
from deltalake import DeltaTable
from runners import start_cli
from test_faults import wait_for_a_commit, write_big_status_file

from storestatus.config import DataDir
from storestatus.errors import EXIT_INTERRUPTED, StoreError
from storestatus.locks import WriterInfo, read_writer
from storestatus.schemas import TIMEZONES_SCHEMA
from storestatus.store import Store

TABLES = ("status", "business_hours", "timezones", "stores")

# --------------------------------------------------------------------------- helpers


def at(day: int, hour: int = 12, *, month: int = 1, year: int = 2023) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def manifest(data_dir: Path) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((data_dir / "tables" / "manifest.json").read_text())
    return loaded


def published_versions(data_dir: Path) -> dict[str, int | None]:
    versions = manifest(data_dir)["versions"]
    assert isinstance(versions, dict)
    return versions


def published_files(data_dir: Path) -> set[Path]:
    """The data files of the published version of every table."""
    files = set()
    for name, version in published_versions(data_dir).items():
        if version is not None:
            table = DeltaTable(data_dir / "tables" / name, version=version)
            files |= {Path(uri.removeprefix("file://")).resolve() for uri in table.file_uris()}
    return files


def files_on_disk(data_dir: Path) -> set[Path]:
    """Every file in the tables' folders except their transaction logs."""
    return {
        path.resolve()
        for name in TABLES
        for path in (data_dir / "tables" / name).rglob("*")
        if path.is_file() and "_delta_log" not in path.relative_to(data_dir / "tables").parts
    }


def content(data_dir: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row a reader sees, table by table (without the bucket, computed from the store id
    and stored for the shards' sake: issue #11)."""
    seen: dict[str, list[tuple[object, ...]]] = {}
    for name, version in published_versions(data_dir).items():
        table = None if version is None else DeltaTable(data_dir / "tables" / name, version)
        uris = [] if table is None else table.file_uris()
        rows = pl.read_parquet(uris).drop("bucket", strict=False).rows() if uris else []
        seen[name] = sorted(rows)
    return seen


def start(script: str, *args: str) -> subprocess.Popen[str]:
    """Run ``script`` in a new Python process; it prints ``holding`` once it holds its lock, and
    lets go when a line arrives on its stdin."""
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "holding\n"
    return process


def let_go(process: subprocess.Popen[str]) -> None:
    process.communicate("\n", timeout=60)
    assert process.returncode == 0


HOLD_THE_WRITE_LOCK = """
import sys
from pathlib import Path
from storestatus.config import DataDir
from storestatus.store import Store
with Store(DataDir(Path(sys.argv[1]))).writing():
    print("holding", flush=True)
    sys.stdin.readline()
"""

HOLD_A_REPORT_LOCK = """
import sys
from pathlib import Path
from storestatus.config import DataDir
from storestatus.reports import ReportFiles
with ReportFiles(DataDir(Path(sys.argv[1]))).hold_lock(sys.argv[2], wait=True):
    print("holding", flush=True)
    sys.stdin.readline()
"""

# --------------------------------------------------------------------------- interrupted ingests


@pytest.fixture(scope="module")
def big_status_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """146 MB of polls: streamed a million at a time, so the ingest commits three times."""
    path = tmp_path_factory.mktemp("big") / "status.csv"
    write_big_status_file(path, stores=25_000, hours=100)
    return path


@pytest.fixture
def base_store(tmp_path: Path) -> Path:
    """A store with polls of some of the dates the big file has, and time zones."""
    data_dir = tmp_path / "data"
    small = tmp_path / "small.csv"
    write_big_status_file(small, stores=30, hours=60)
    zones = tmp_path / "zones.csv"
    zones.write_text("store_id,timezone_str\n1000000000000001,Asia/Kolkata\n")
    process = start_cli(data_dir, "ingest", "--status", str(small), "--timezones", str(zones))
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 0, errors
    assert files_on_disk(data_dir) == published_files(data_dir)
    return data_dir


def interrupt_halfway(data_dir: Path, status_file: Path, how: signal.Signals) -> tuple[int, str]:
    """Start an ingest, signal it once its first commit is in; its exit code and stderr."""
    process = start_cli(data_dir, "ingest", "--status", str(status_file))
    wait_for_a_commit(data_dir / "tables" / "status", process)
    assert process.poll() is None, "the ingest ended before it could be interrupted"
    holder = read_writer(data_dir / "write.lock")  # whoever waits for it learns who it is
    assert holder is not None
    assert (holder.pid, holder.command) == (process.pid, "ingest")
    assert len(files_on_disk(data_dir)) > len(published_files(data_dir))  # it has written
    process.send_signal(how)
    _, errors = process.communicate(timeout=120)
    return process.returncode, errors


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_ingest_is_rolled_back_and_deletes_what_it_wrote(
    how: signal.Signals, base_store: Path, big_status_file: Path
) -> None:
    before = content(base_store)
    code, errors = interrupt_halfway(base_store, big_status_file, how)
    assert code == EXIT_INTERRUPTED, "SIGTERM must unwind like Ctrl-C, not end it on the spot"
    assert errors == "Interrupted: nothing was stored (the ingest was rolled back)\n"
    assert manifest(base_store)["writer"] is None  # rolled back by itself, not left to the next
    assert content(base_store) == before
    assert files_on_disk(base_store) == published_files(base_store)
    assert not list((base_store / "tables").glob(".manifest.json.*"))


@pytest.mark.slow
def test_the_next_writer_deletes_what_a_killed_ingest_wrote(
    base_store: Path, big_status_file: Path
) -> None:
    before = content(base_store)
    assert interrupt_halfway(base_store, big_status_file, signal.SIGKILL)[0] == -signal.SIGKILL
    assert manifest(base_store)["writer"] is not None  # it died in its session
    assert files_on_disk(base_store) != published_files(base_store)  # left behind, for now
    with Store(DataDir(base_store)).writing():
        pass  # a writer that rolls back the dead one, and writes nothing itself
    assert manifest(base_store)["writer"] is None
    assert content(base_store) == before
    assert files_on_disk(base_store) == published_files(base_store)


def test_a_rollback_keeps_the_files_of_older_versions_that_a_report_may_read(
    tmp_path: Path,
) -> None:
    store = Store(DataDir(tmp_path))
    zones = pl.DataFrame([("a", "Asia/Kolkata")], schema=TIMEZONES_SCHEMA, orient="row")
    store.replace_timezones(zones)
    old_zones = published_files(tmp_path)  # version 0: a report that began then reads these
    store.replace_timezones(zones.with_columns(timezone_str=pl.lit("Europe/Paris")))
    store.upsert_status(polls(("a", at(1), "active")))
    kept = files_on_disk(tmp_path)
    assert old_zones < kept
    before = content(tmp_path)
    status = tmp_path / "tables" / "status"
    stray = [  # as a write cut short before its commit leaves them
        status / "poll_date=2023-01-01" / "part-00001-00000000-0000-0000-0000-000000000000.parquet",
        status / "poll_date=2023-01-09" / "part-00001-00000000-0000-0000-0000-000000000001.parquet",
        tmp_path / "tables" / "timezones" / "part-00001-0000-c000.parquet#1",
    ]

    def ingest_that_fails() -> None:
        with store.writing():
            store.upsert_status(polls(("b", at(1), "active"), ("b", at(2), "active")))
            store.replace_timezones(zones)
            for path in stray:
                path.parent.mkdir(exist_ok=True)
                path.write_bytes(b"PAR1 cut short")
            raise RuntimeError("the next file cannot be written")

    with pytest.raises(RuntimeError):
        ingest_that_fails()
    assert content(tmp_path) == before
    assert files_on_disk(tmp_path) == kept  # old versions' files stay; the session's are gone
    assert not (status / "poll_date=2023-01-02").exists()  # its empty partition folders too
    assert not (status / "poll_date=2023-01-09").exists()


# --------------------------------------------------------------------------- waiting for a writer


def test_a_writer_waits_for_another_and_is_told_who_it_is(tmp_path: Path) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    holder = start(HOLD_THE_WRITE_LOCK, str(tmp_path))
    told: list[WriterInfo | None] = []
    store = Store(DataDir(tmp_path), lock_timeout=60, on_wait=told.append)
    waiter = threading.Thread(target=store.upsert_status, args=(polls(("a", at(1), "active")),))
    waiter.start()
    deadline = time.monotonic() + 30
    while not told:
        assert time.monotonic() < deadline, "on_wait was not called"
        time.sleep(0.01)
    assert waiter.is_alive()  # waiting
    info = told[0]
    assert info is not None
    assert (info.pid, info.command) == (holder.pid, "python -c")
    assert started <= info.since <= datetime.now(UTC)
    assert info.describe() == (
        f"pid {holder.pid} (python -c, since {info.since:%Y-%m-%d %H:%M:%S} UTC)"
    )
    let_go(holder)
    waiter.join(timeout=60)
    assert not waiter.is_alive()
    assert len(told) == 1  # told once, not at every retry
    assert content(tmp_path)["status"] == [("a", at(1), "active")]
    assert read_writer(tmp_path / "write.lock") is None  # nobody holds it now


def test_a_writer_gives_up_after_the_lock_timeout_and_names_the_holder(tmp_path: Path) -> None:
    Store(DataDir(tmp_path)).upsert_status(polls(("a", at(1), "active")))
    before = content(tmp_path)
    holder = start(HOLD_THE_WRITE_LOCK, str(tmp_path))
    info = read_writer(tmp_path / "write.lock")
    assert info is not None
    assert info.pid == holder.pid
    store = Store(DataDir(tmp_path), lock_timeout=0.5)
    began = time.monotonic()
    with pytest.raises(StoreError) as raised:
        store.upsert_status(polls(("b", at(1), "active")))
    waited = time.monotonic() - began
    assert 0.5 <= waited < 10
    assert str(raised.value) == (
        f"{info.describe()} still holds {tmp_path / 'write.lock'} after 0.5 s: another ingest "
        "or compact is running; try again later or raise --lock-timeout"
    )
    with pytest.raises(StoreError, match="still holds"):  # no waiting at all
        Store(DataDir(tmp_path), lock_timeout=0).compact()
    assert holder.poll() is None  # it still holds the lock, undisturbed
    let_go(holder)
    assert content(tmp_path) == before


def test_a_free_lock_is_taken_at_once_and_a_dead_holder_is_not_named(tmp_path: Path) -> None:
    holder = start(HOLD_THE_WRITE_LOCK, str(tmp_path))
    holder.kill()  # dies holding it: the kernel releases the lock, its record stays
    holder.wait(timeout=60)
    assert str(holder.pid) in (tmp_path / "write.lock").read_text()
    assert read_writer(tmp_path / "write.lock") is None  # not a live process: not named
    told: list[WriterInfo | None] = []
    Store(DataDir(tmp_path), lock_timeout=0, on_wait=told.append).upsert_status(
        polls(("a", at(1), "active"))
    )
    assert told == []  # it did not have to wait
    assert content(tmp_path)["status"] == [("a", at(1), "active")]


# --------------------------------------------------------------------------- compact


def daily_polls(store: Store, days: range, *extra: tuple[str, datetime, str]) -> None:
    """Store ``a`` polled at noon on each day of January 2023, and ``extra`` polls."""
    store.upsert_status(polls(*[("a", at(day), "active") for day in days], *extra))


def stored(data_dir: Path) -> list[tuple[object, ...]]:
    return content(data_dir)["status"]


def test_retention_counts_back_from_the_newest_poll_at_or_before_not_after(
    tmp_path: Path,
) -> None:
    store = Store(DataDir(tmp_path))
    # Jan 1..10 at noon; Jan 11 only after the limit (13:00), and one poll in 2099.
    late, bad = ("late", at(11, 20), "active"), ("bad", at(1, 0, year=2099), "active")
    daily_polls(store, range(1, 11), late, bad)
    done = store.compact(retain_days=8, not_after=at(11, 13))
    # The newest poll at or before the limit is Jan 10's: 8 days before it is Jan 2.
    assert done.cutoff == date(2023, 1, 2)
    assert (done.stored_polls, done.dropped_polls, done.dropped_future) == (12, 1, 2)
    assert stored(tmp_path) == [("a", at(day), "active") for day in range(2, 11)]


def test_compact_moves_polls_from_the_future_to_a_rejects_file(tmp_path: Path) -> None:
    store = Store(DataDir(tmp_path))
    edge = ("edge", at(11, 13), "inactive")  # exactly at the limit: not in the future
    late = ("late", datetime(2023, 1, 11, 13, 0, 0, 1, tzinfo=UTC), "inactive")
    bad = ("bad", at(1, 0, year=2099), "active")
    daily_polls(store, range(1, 12), edge, late, bad)
    done = store.compact(not_after=at(11, 13))  # no retention: only the future goes
    assert (done.stored_polls, done.dropped_polls, done.dropped_future) == (14, 0, 2)
    assert done.cutoff is None
    assert done.rejects_file is not None
    assert done.rejects_file.parent == tmp_path / "rejects"
    assert done.rejects_file.name.endswith("Z-compact-future-status.csv")
    reason = (
        "timestamp is in the future (later than 2023-01-11 13:00:00 UTC when compact ran): "
        "check the poller's clock"
    )
    assert done.rejects_file.read_text().splitlines() == [
        "store_id,status,timestamp_utc,reason,reason_code",
        f"late,inactive,2023-01-11 13:00:00.000001 UTC,{reason},stored-timestamp-in-future",
        f"bad,active,2099-01-01 00:00:00.000000 UTC,{reason},stored-timestamp-in-future",
    ]
    expected = sorted([*(("a", at(day), "active") for day in range(1, 12)), edge])
    assert stored(tmp_path) == expected
    again = store.compact(not_after=at(11, 13))  # nothing more to move
    assert (again.dropped_future, again.rejects_file) == (0, None)


def test_compact_refuses_to_drop_more_than_half_of_the_polls_without_force(
    tmp_path: Path,
) -> None:
    store = Store(DataDir(tmp_path))
    daily_polls(store, range(1, 12), ("bad", at(1, 0, year=2099), "active"))
    before, files = content(tmp_path), files_on_disk(tmp_path)
    versions = published_versions(tmp_path)
    # Without a limit, the poll of 2099 is the newest: all of 2023 is beyond the retention.
    with pytest.raises(StoreError) as raised:
        store.compact(retain_days=35)
    assert str(raised.value) == (
        "compact would drop 11 of 12 polls (92 %): 11 of UTC dates before 2098-11-27 (35 days "
        "before 2099-01-01, the newest poll's date); nothing was changed; to drop them anyway, "
        "add --force"
    )
    # A limit before most polls: those after it are in the future.
    with pytest.raises(StoreError) as raised:
        store.compact(retain_days=35, not_after=at(4, 13))
    assert str(raised.value) == (
        "compact would drop 8 of 12 polls (67 %): 8 stamped after 2023-01-04 13:00:00 UTC; "
        "nothing was changed; to drop them anyway, add --force"
    )
    assert content(tmp_path) == before
    assert files_on_disk(tmp_path) == files  # not even merged
    assert published_versions(tmp_path) == versions
    assert not (tmp_path / "rejects").exists()
    done = store.compact(retain_days=35, force=True)  # the operator insists
    assert (done.dropped_polls, done.dropped_future, done.cutoff) == (11, 0, date(2098, 11, 27))
    assert stored(tmp_path) == [("bad", at(1, 0, year=2099), "active")]


def test_compact_may_drop_half_of_the_polls_but_not_one_more(tmp_path: Path) -> None:
    store = Store(DataDir(tmp_path))
    daily_polls(store, range(1, 21))
    # Jan 16..20 are after the limit (5); 8 days before Jan 15 is Jan 7, so Jan 1..6 are old (6).
    with pytest.raises(StoreError, match=r"^compact would drop 11 of 20 polls \(55 %\): 6 of "):
        store.compact(retain_days=8, not_after=at(15, 13))
    done = store.compact(retain_days=9, not_after=at(15, 13))  # from Jan 6: 5 old, 5 future
    assert (done.stored_polls, done.dropped_polls, done.dropped_future) == (20, 5, 5)
    assert done.cutoff == date(2023, 1, 6)
    assert stored(tmp_path) == [("a", at(day), "active") for day in range(6, 16)]


def test_compact_deletes_what_killed_commands_left_but_not_a_running_reports_files(
    tmp_path: Path,
) -> None:
    data = DataDir(tmp_path)
    Store(data).upsert_status(polls(("a", at(1), "active")))
    dead, running = "deadReportId_00000000A", "runningReportId-00000A"
    data.reports.mkdir()
    gone = [
        data.reports / f"{dead}.csv.tmp",  # named as before reports were written durably
        data.reports / f".{dead}.json.k2n4x8qz.tmp",
        data.tables / ".manifest.json.4242.tmp",
    ]
    stay = [data.reports / f".{running}.csv.a1b2c3d4.tmp", data.reports / "notes.tmp"]
    for path in gone + stay:
        path.write_text("cut short")
    spill = data.scratch / "ingest-1234-abcd"
    spill.mkdir(parents=True)
    (spill / "batch-0.parquet").write_bytes(b"PAR1")
    (data.scratch / "ingest-5678-efgh").mkdir()
    report = start(HOLD_A_REPORT_LOCK, str(tmp_path), running)
    try:
        done = Store(data).compact()
    finally:
        let_go(report)
    assert (done.leftover_report_files, done.leftover_manifest_files, done.leftover_scratch) == (
        2,
        1,
        2,
    )
    assert not any(path.exists() for path in gone)
    assert all(path.exists() for path in stay)
    assert list(data.scratch.iterdir()) == []
    assert stored(tmp_path) == [("a", at(1), "active")]
    again = Store(data).compact()
    assert (again.leftover_report_files, again.leftover_manifest_files) == (1, 0)  # now dead


def test_an_ingest_on_a_terminal_says_whom_it_waits_for_and_gives_up(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    holder = start(HOLD_THE_WRITE_LOCK, str(data_dir))
    polls_file = tmp_path / "polls.csv"
    polls_file.write_text("store_id,status,timestamp_utc\na,active,2023-01-01 12:00:00 UTC\n")
    terminal, far_end = pty.openpty()  # stderr is a terminal, as when a person runs it
    try:
        waiting = subprocess.run(
            [
                *(sys.executable, "-m", "storestatus", "ingest", "--status", str(polls_file)),
                *("--lock-timeout", "1", "--data-dir", str(data_dir)),
            ],
            stdout=subprocess.PIPE,
            stderr=far_end,
            text=True,
            timeout=60,
            check=False,
        )
        os.close(far_end)
        shown = b""
        with contextlib.suppress(OSError):  # EIO once everything written is read
            while chunk := os.read(terminal, 4096):
                shown += chunk
    finally:
        os.close(terminal)
        let_go(holder)
    lines = shown.decode().splitlines()
    assert waiting.returncode == 1
    assert lines[0].startswith(f"waiting for another writer: pid {holder.pid} (python -c, since ")
    assert lines[1].startswith(f"Error: pid {holder.pid} (python -c, since ")
    assert "still holds" in lines[1]
    assert "after 1 s" in lines[1]
    assert len(lines) == 2
    quiet = start_cli(data_dir, "ingest", "--status", str(polls_file), "--lock-timeout", "0")
    assert quiet.wait(timeout=60) == 0  # free again: no wait, nothing said about waiting
