"""A report in shards (issue #11): ``trigger-report --shards N`` computes the stores one bucket
range at a time, each shard from the same pinned table versions, and its CSV is byte for byte the
single-pass report. Its status record says how it ran; its part files never outlive it, or are
removed by ``compact`` if its process died.

The cluster path (``--scheduler``) is in ``test_cluster.py``; the layout that lets a shard read
only its own files in ``test_layout.py``; the pure sharded computation in ``test_shards.py``.
"""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from runners import AS_OF, Invoke, ingest_examples, run_cli

from storestatus.buckets import shard_ranges
from storestatus.config import DataDir
from storestatus.reports import ReportFiles
from storestatus.schemas import REPORT_COLUMNS
from storestatus.service import compute_from_store
from storestatus.shard_tasks import (
    STORES_PER_SHARD,
    ShardOptions,
    ShardTask,
    automatic_shards,
    read_parts,
    run_shard,
)
from storestatus.store import Store

DEMO = Path(__file__).resolve().parent.parent / "storestatus" / "demo_data"
DEMO_AS_OF = "2023-01-25T18:00:00Z"


def _report(invoke: Invoke, *options: str) -> tuple[bytes, dict[str, object]]:
    """The CSV bytes and status record of a report computed in the foreground."""
    result = invoke("trigger-report", "--wait", *options)
    assert result.exit_code == 0, result.stderr
    report_id = result.stdout.strip()
    shown = invoke("get-report", report_id)
    assert shown.exit_code == 0, shown.stdout
    csv_path = Path(shown.stdout.splitlines()[1])
    record = json.loads(csv_path.with_suffix(".json").read_text())
    return csv_path.read_bytes(), record


@pytest.fixture
def demo_store(data_dir: Path, invoke: Invoke) -> Path:
    """The demo data: about 100 stores over a week, with real hours and time zones."""
    result = invoke(
        "ingest",
        *("--status", str(DEMO / "store_status.csv")),
        *("--hours", str(DEMO / "business_hours.csv")),
        *("--timezones", str(DEMO / "timezones.csv")),
    )
    assert result.exit_code == 0, result.stderr
    return data_dir


@pytest.mark.parametrize(
    "options",
    [
        (),
        ("--interpolation", "previous"),
        ("--detail", "--max-gap", "2h"),
        ("--detail", "--interpolation", "previous", "--max-gap", "45m"),
    ],
)
def test_sharded_report_is_the_single_pass_report_byte_for_byte(
    demo_store: Path, invoke: Invoke, options: tuple[str, ...]
) -> None:
    single, record = _report(invoke, "--as-of", DEMO_AS_OF, "--shards", "1", *options)
    assert record["shards"] == 1
    assert single.count(b"\n") > 50  # a real report, not an empty one
    for shards in ("2", "5", "17"):
        sharded, record = _report(invoke, "--as-of", DEMO_AS_OF, "--shards", shards, *options)
        assert sharded == single, f"{shards} shards"
        assert (record["shards"], record["scheduler"]) == (int(shards), None)


def test_the_default_is_one_shard_per_15000_stores(demo_store: Path, invoke: Invoke) -> None:
    assert [automatic_shards(n) for n in (0, 1, STORES_PER_SHARD)] == [1, 1, 1]
    assert automatic_shards(STORES_PER_SHARD + 1) == 2
    assert automatic_shards(1_000_000) == 67
    assert automatic_shards(10**9) == 1024  # no more shards than buckets
    _, record = _report(invoke, "--as-of", DEMO_AS_OF)
    assert record["shards"] == 1  # a hundred stores: the single pass


def test_the_store_count_comes_from_the_tables_statistics(demo_store: Path) -> None:
    store = Store(DataDir(demo_store))
    timezones = store.read_timezones(store.snapshot()).get_column("store_id").n_unique()
    registry = store.read_registry(store.snapshot()).height
    assert store.count_stores(store.snapshot()) == max(timezones, registry) > 50


def test_an_empty_store_in_shards_is_an_empty_report(data_dir: Path, invoke: Invoke) -> None:
    data_dir.mkdir()
    (data_dir / "tables").mkdir()
    csv, record = _report(invoke, "--shards", "3")
    assert csv.decode().splitlines() == [",".join(REPORT_COLUMNS)]
    assert record["shards"] == 3


@pytest.mark.parametrize("shards", ["0", "1025", "two"])
def test_a_wrong_shard_count_is_a_usage_error(invoke: Invoke, shards: str) -> None:
    result = invoke("trigger-report", "--shards", shards)
    assert result.exit_code == 2
    assert "--shards" in result.stderr


@pytest.mark.parametrize("address", ["localhost:8786", "http://h:8786", "tcp://h", "tcp://h:1/x"])
def test_a_wrong_scheduler_address_is_a_usage_error(invoke: Invoke, address: str) -> None:
    result = invoke("trigger-report", "--scheduler", address)
    assert result.exit_code == 2
    assert "--scheduler" in result.stderr
    assert "tcp://" in result.stderr


def test_every_shard_reads_the_pinned_versions_not_the_latest(
    demo_store: Path, invoke: Invoke, tmp_path: Path
) -> None:
    store = Store(DataDir(demo_store))
    now = datetime(2023, 1, 25, 18, tzinfo=UTC)
    before = compute_from_store(store, as_of=now, shards=1)
    options = ShardOptions(now, "nearest", detail=False, max_gap=None)
    tasks = [
        ShardTask(
            data_dir=str(demo_store),
            versions=dict(before.snapshot.versions),
            buckets=(buckets.start, buckets.stop),
            options=options,
            output=str(tmp_path / f"part-{index}.parquet"),
        )
        for index, buckets in enumerate(shard_ranges(4))
    ]
    run_shard(tasks[0])  # one shard before the store changes, the others after
    changed = pl.read_csv(DEMO / "store_status.csv").with_columns(
        pl.when(pl.col("status") == "active")
        .then(pl.lit("inactive"))
        .otherwise(pl.lit("active"))
        .alias("status")
    )
    flipped = tmp_path / "flipped.csv"
    changed.write_csv(flipped)
    assert invoke("ingest", "--status", str(flipped)).exit_code == 0
    after = compute_from_store(store, as_of=now, shards=1).report
    assert not after.equals(before.report)  # the store did change
    for task in tasks[1:]:
        run_shard(task)
    assert read_parts(tasks).equals(before.report)


def test_parts_are_removed_when_the_report_is_done(demo_store: Path, invoke: Invoke) -> None:
    _report(invoke, "--as-of", DEMO_AS_OF, "--shards", "4")
    reports = demo_store / "reports"
    assert sorted(path.suffix for path in reports.iterdir()) == [".csv", ".json", ".lock"]


def _wait_for(condition: object, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not callable(condition) or not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.005)


@pytest.mark.slow
def test_a_sharded_report_killed_midway_fails_without_a_csv_and_compact_cleans_up(
    data_dir: Path,
) -> None:
    ingest_examples(data_dir)
    # 1024 shards of a tiny store: long enough to be caught between two shards.
    report_id = run_cli(data_dir, "trigger-report", "--as-of", AS_OF, "--shards", "1024").stdout
    report_id = report_id.strip()
    reports = data_dir / "reports"
    parts = reports / f"{report_id}.parts.tmp"
    _wait_for(lambda: parts.is_dir() and len(list(parts.glob("shard-*.parquet"))) >= 2, "parts")
    record = json.loads((reports / f"{report_id}.json").read_text())
    assert record["state"] == "Running"
    os.kill(record["worker_pid"], signal.SIGKILL)
    shown = None

    def failed() -> bool:
        nonlocal shown
        shown = run_cli(data_dir, "get-report", report_id)
        return shown.returncode != 75

    _wait_for(failed, "the report to be Failed", timeout=30)
    assert shown is not None
    assert shown.returncode == 1
    assert shown.stdout.startswith("Failed: the report process exited before finishing")
    assert not (reports / f"{report_id}.csv").exists()  # never a partial CSV
    assert parts.is_dir()  # its process died: nobody removed them
    compacted = run_cli(data_dir, "compact")
    assert compacted.returncode == 0, compacted.stderr
    assert not parts.exists()


def test_compact_keeps_the_parts_of_a_running_report(data_dir: Path, invoke: Invoke) -> None:
    ingest_examples(data_dir)
    files = ReportFiles(DataDir(data_dir))
    report_id = "P" * 22
    parts = files.path(report_id, ".parts.tmp")
    parts.mkdir(parents=True)
    (parts / "shard-0000.parquet").write_bytes(b"PAR1")
    with files.hold_lock(report_id, wait=True):  # as the running report's worker does
        assert invoke("compact").exit_code == 0
        assert parts.is_dir()
    assert invoke("compact").exit_code == 0  # its worker is gone
    assert not parts.exists()
