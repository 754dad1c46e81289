"""Crash safety (issue #4): real ``storestatus ingest`` processes killed with SIGKILL.

Each kill lands at a different moment of the ingest, from start-up to exit. Whenever it lands,
a reader must then see the store exactly as before the ingest or exactly as after it, and running
the same ingest again must give the same store as one clean run.
"""

from __future__ import annotations

import itertools
import math
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from runners import start_cli

from storestatus.config import DataDir
from storestatus.generate import generate_dataset, write_dataset
from storestatus.service import compute_from_store
from storestatus.store import Store

KILLS = 16
AS_OF = datetime(2023, 1, 25, tzinfo=UTC)

Content = tuple[list[tuple[object, ...]], ...]


def ingest(data_dir: Path, inputs: Path) -> subprocess.Popen[str]:
    """Start one ingest of the three files in ``inputs``, as cron would."""
    return start_cli(
        data_dir,
        "ingest",
        *("--status", str(inputs / "store_status.csv")),
        *("--hours", str(inputs / "business_hours.csv")),
        *("--timezones", str(inputs / "timezones.csv")),
    )


def ingest_cleanly(data_dir: Path, inputs: Path) -> float:
    started = time.monotonic()
    process = ingest(data_dir, inputs)
    _, errors = process.communicate(timeout=120)
    assert process.returncode == 0, errors
    return time.monotonic() - started


def content(data_dir: Path) -> Content:
    """Everything a reader sees, in a canonical order."""
    store = Store(DataDir(data_dir))
    snapshot = store.snapshot()
    polls = store.read_polls(snapshot, AS_OF.date() - timedelta(days=9), AS_OF.date())
    return (
        sorted(polls.rows()),
        sorted(store.read_hours(snapshot).rows()),
        sorted(store.read_timezones(snapshot).rows()),
    )


def report(data_dir: Path) -> pl.DataFrame:
    return compute_from_store(Store(DataDir(data_dir)), as_of=AS_OF).report


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A day of polls for 120 stores, then the next day for 150 stores (other hours, zones)."""
    root = tmp_path_factory.mktemp("inputs")
    first, second = root / "first", root / "second"
    write_dataset(generate_dataset(120, timedelta(days=1), end=AS_OF - timedelta(days=1)), first)
    write_dataset(generate_dataset(150, timedelta(days=1), end=AS_OF, seed=1), second)
    return first, second


@pytest.mark.slow
def test_an_ingest_killed_at_any_moment_is_all_or_nothing(
    inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    first, second = inputs
    base = tmp_path / "base"
    ingest_cleanly(base, first)
    before = content(base)
    clean = tmp_path / "clean"
    shutil.copytree(base, clean)
    duration = ingest_cleanly(clean, second)
    after = content(clean)
    assert before != after
    expected_report = report(clean)

    outcomes = []
    for kill in range(KILLS):
        data_dir = tmp_path / f"killed-{kill}"
        shutil.copytree(base, data_dir)
        process = ingest(data_dir, second)
        if kill % 2:  # spread over the whole run, start-up and parsing included
            time.sleep(duration * kill / KILLS)
        else:  # among the commits: the first commit is in, the others are coming
            wait_for_a_commit(data_dir / "tables" / "status", process)
            time.sleep(0.005 * kill / 2)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        seen = content(data_dir)
        assert seen in (before, after), f"kill {kill}: the store is in between"
        outcomes.append("after" if seen == after else "before")
        ingest_cleanly(data_dir, second)  # the cron job's next run does it again
        assert content(data_dir) == after, f"kill {kill}: re-running did not converge"
        assert report(data_dir).equals(expected_report)
        shutil.rmtree(data_dir)
    assert "before" in outcomes  # the kills did interrupt ingests


def wait_for_a_commit(table: Path, process: subprocess.Popen[str]) -> None:
    """Return as soon as the ingest has committed to ``table`` (or has ended)."""
    log = table / "_delta_log"
    known = len(list(log.glob("*.json")))
    while process.poll() is None and len(list(log.glob("*.json"))) == known:
        time.sleep(0.0005)


@pytest.mark.slow
def test_two_ingests_started_together_both_land_once(
    inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    first, second = inputs
    expected = tmp_path / "expected"
    ingest_cleanly(expected, first)
    ingest_cleanly(expected, second)
    together = tmp_path / "together"
    processes = [ingest(together, first), ingest(together, second)]
    for process in processes:
        _, errors = process.communicate(timeout=120)
        assert process.returncode == 0, errors
    polls, _, _ = content(together)
    assert polls == content(expected)[0]  # no poll lost or doubled


@pytest.mark.slow
def test_twenty_reports_triggered_at_once_all_complete(
    inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    ingest_cleanly(data_dir, inputs[0])
    triggers = [start_cli(data_dir, "trigger-report") for _ in range(20)]
    ids = []
    for trigger in triggers:
        out, errors = trigger.communicate(timeout=120)
        assert trigger.returncode == 0, errors
        ids.append(out.strip())
    assert len(set(ids)) == 20
    deadline = time.monotonic() + 180
    csvs = set()
    for report_id in ids:
        while True:
            poll = start_cli(data_dir, "get-report", report_id)
            out, _ = poll.communicate(timeout=60)
            if poll.returncode != 75:  # not Running any more
                break
            assert time.monotonic() < deadline, f"{report_id} still Running"
            time.sleep(0.2)
        assert poll.returncode == 0, out
        csvs.add(Path(out.splitlines()[1]).read_bytes())
    assert len(csvs) == 1  # the same store, the same report


def test_a_failing_write_is_one_line_exit_1_and_changes_nothing(
    inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    first, second = inputs
    data_dir = tmp_path / "data"
    ingest_cleanly(data_dir, first)
    before = content(data_dir)
    args = [
        "ingest",
        *("--status", str(second / "store_status.csv")),
        *("--hours", str(second / "business_hours.csv")),
    ]
    # Small files (the status commit, the manifest) fit; the hours' data file does not.
    hours_bytes = (second / "business_hours.csv").stat().st_size
    failing = start_cli(data_dir, *args, limit_file_size=hours_bytes // 4)
    out, errors = failing.communicate(timeout=120)
    assert failing.returncode == 1, out + errors
    assert errors.startswith("Error: ")
    assert errors.count("\n") == 1, errors
    assert content(data_dir) == before


@pytest.mark.parametrize(
    "args",
    [
        ("ingest", "--status", "store_status.csv"),
        ("trigger-report",),
        ("trigger-report", "--wait"),
        ("compact",),
    ],
)
def test_an_unusable_data_directory_is_one_line_and_exit_1(
    args: tuple[str, ...], inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    not_a_directory = tmp_path / "data"
    not_a_directory.write_text("a file where the data directory should be\n")
    paths = [str(inputs[0] / arg) if arg.endswith(".csv") else arg for arg in args]
    out, errors = (process := start_cli(not_a_directory, *paths)).communicate(timeout=120)
    assert process.returncode == 1, out + errors
    assert errors.startswith("Error: ")
    assert errors.count("\n") == 1, errors
    assert "Not a directory" in errors


def write_big_status_file(path: Path, stores: int, hours: int, *, shuffled: bool = False) -> None:
    """``stores * hours`` polls as the poller writes them (19-digit ids, microseconds).

    In time order, or ``shuffled``: the n-th line is poll ``n * k mod polls`` (``k`` coprime
    with the count, about 0.618 of it), so every stretch of the file spans all the hours, as
    in a poller's file that is not sorted, yet the file is written a chunk at a time.
    """
    polls = stores * hours
    step = next(k for k in itertools.count(int(polls * 0.618)) if math.gcd(k, polls) == 1)
    with path.open("wb") as handle:
        handle.write(b"store_id,status,timestamp_utc\n")
        for first in range(0, polls, stores * 100):
            line = pl.int_range(first, min(first + stores * 100, polls), dtype=pl.Int64, eager=True)
            index = (line * step % polls if shuffled else line).to_frame("i")
            index.select(
                (pl.lit("10000000000") + (pl.col("i") % stores).cast(pl.String).str.zfill(8)).alias(
                    "store_id"
                ),
                pl.when(pl.col("i") % 7 == 0)
                .then(pl.lit("inactive"))
                .otherwise(pl.lit("active"))
                .alias("status"),
                (
                    pl.lit(datetime(2023, 1, 1))
                    + pl.duration(
                        hours=pl.col("i") // stores,
                        microseconds=(pl.col("i") % stores) * 179_999,
                    )
                )
                .dt.strftime("%Y-%m-%d %H:%M:%S%.6f UTC")
                .alias("timestamp_utc"),
            ).write_csv(handle, include_header=False)


def peak_anonymous_memory(process: subprocess.Popen[str]) -> int:
    """The largest RssAnon seen (sampled every 20 ms) until ``process`` ends, in bytes.

    Anonymous memory, not RSS: pages of the input file that the reader maps are page cache the
    kernel can drop, not memory the ingest holds.
    """
    peak = 0
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
        except (FileNotFoundError, ProcessLookupError):
            break
        anon = [int(line.split()[1]) for line in status.splitlines() if line.startswith("RssAnon")]
        if not anon:  # exiting: its memory is gone
            break
        peak = max(peak, anon[0] * 1024)
        time.sleep(0.02)
    return peak


@pytest.mark.slow
@pytest.mark.parametrize("order", ["time order", "shuffled"])
def test_twenty_million_polls_are_ingested_in_bounded_memory(tmp_path: Path, order: str) -> None:
    source = tmp_path / "big.csv"
    write_big_status_file(source, stores=20_000, hours=1_000, shuffled=order == "shuffled")
    size = source.stat().st_size  # 1.17 GB; as text columns in memory it would be ~2 GB
    process = start_cli(tmp_path / "data", "ingest", "--status", str(source))
    peak = peak_anonymous_memory(process)
    out, errors = process.communicate(timeout=600)
    assert process.returncode == 0, errors
    assert out.startswith(f"status {source}: 20000000 new polls, 0 replaced")
    shown = f"peak {peak / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB file"
    assert peak < 0.85 * size, shown
    assert peak < 2**30, shown
    assert not list(DataDir(tmp_path / "data").scratch.glob("ingest-*"))  # the spill is gone
