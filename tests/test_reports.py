"""The report lifecycle: ``trigger-report`` records a report as Running and starts a worker in
the background, which makes it Complete or Failed; ``get-report`` reads the record (exit 75
while Running). A worker that dies holds its report's lock no longer, so the report is then
recorded Failed with the reason, never left Running.

The worker tests are real processes: ``worker_held`` pauses a worker, so that it is seen Running
and can be killed, however fast or loaded the machine.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from runners import AS_OF, EXAMPLES, Invoke, ingest_examples, run_cli

from storestatus.config import DataDir
from storestatus.locks import file_lock
from storestatus.reports import ReportFiles, ReportRecord, new_report_id

# --- the status record ------------------------------------------------------------------------


def _running_record(data_dir: Path, report_id: str) -> ReportFiles:
    """A report record that says Running, as trigger-report leaves it."""
    (data_dir / "tables").mkdir(parents=True)  # a data directory, as ingest leaves it
    files = ReportFiles(DataDir(data_dir))
    files.folder.mkdir(parents=True)
    files.write(
        ReportRecord(report_id, "Running", "nearest", None, created_at="2023-01-01T00:00:00")
    )
    return files


def test_running_report_exits_75(invoke: Invoke, data_dir: Path) -> None:
    report_id = "R" * 22
    files = _running_record(data_dir, report_id)
    with files.hold_lock(report_id, wait=True):  # as a live worker does
        result = invoke("get-report", report_id)
    assert (result.exit_code, result.stdout) == (75, "Running\n")


def test_report_whose_worker_is_gone_is_failed_not_running(invoke: Invoke, data_dir: Path) -> None:
    report_id = "D" * 22
    files = _running_record(data_dir, report_id)
    result = invoke("get-report", report_id)  # nobody holds the lock
    assert result.exit_code == 1
    assert result.stdout.startswith("Failed: the report process exited before finishing")
    assert files.read(report_id).state == "Failed"  # recorded, not guessed again each time


def test_report_ids_never_look_like_options(monkeypatch: pytest.MonkeyPatch) -> None:
    # token_urlsafe starts with "-" once in 64 draws; `get-report -abc…` would be a usage error.
    draws = iter(["-" + "a" * 21, "b" * 22])
    monkeypatch.setattr("storestatus.reports.secrets.token_urlsafe", lambda _: next(draws))
    assert new_report_id() == "b" * 22


def test_failed_report_records_its_reason(invoke: Invoke, data_dir: Path) -> None:
    (data_dir / "tables" / "status" / "_delta_log").mkdir(parents=True)
    (data_dir / "tables" / "status" / "_delta_log" / "00000000000000000000.json").write_text("{")
    result = invoke("trigger-report", "--wait")
    report_id = result.stdout.strip()
    shown = invoke("get-report", report_id)
    assert shown.exit_code == 1
    assert shown.stdout.startswith("Failed: ")
    assert len(shown.stdout.splitlines()) == 1


# --- the background worker, in real processes -------------------------------------------------


@contextmanager
def worker_held(data_dir: Path) -> Iterator[None]:
    """Hold the store's files lock, as ``compact`` does while it deletes files: a report worker
    then waits in ``Store.reading``, after recording its pid, and cannot finish before the test
    has acted on it (however fast or loaded the machine)."""
    with file_lock(DataDir(data_dir).files_lock):
        yield


def _worker_pid(data_dir: Path, report_id: str) -> int:
    record_path = data_dir / "reports" / f"{report_id}.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        record = json.loads(record_path.read_text())
        if record["worker_pid"] is not None:
            assert record["state"] == "Running", "the worker finished before it could be paused"
            return int(record["worker_pid"])
        time.sleep(0.005)
    raise AssertionError("the worker never started")


def test_trigger_runs_in_background_running_then_complete(data_dir: Path) -> None:
    run_cli(
        data_dir,
        "ingest",
        "--status",
        str(EXAMPLES / "store_status.csv"),
        "--timezones",
        str(EXAMPLES / "timezones.csv"),
    )
    with worker_held(data_dir):  # so that Running is observed for sure
        triggered = run_cli(data_dir, "trigger-report", "--as-of", AS_OF)
        assert triggered.returncode == 0, triggered.stderr
        report_id = triggered.stdout.strip()
        _worker_pid(data_dir, report_id)
        running = run_cli(data_dir, "get-report", report_id)
        assert (running.returncode, running.stdout) == (75, "Running\n")
    deadline = time.monotonic() + 60
    while (done := run_cli(data_dir, "get-report", report_id)).returncode == 75:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert done.returncode == 0, done.stdout + done.stderr
    csv_path = Path(done.stdout.splitlines()[1])
    assert csv_path.read_text().startswith("store_id,uptime_last_hour")


@pytest.mark.slow
def test_killed_worker_is_reported_failed_within_seconds(data_dir: Path) -> None:
    run_cli(data_dir, "ingest", "--status", str(EXAMPLES / "store_status.csv"))
    with worker_held(data_dir):
        report_id = run_cli(data_dir, "trigger-report").stdout.strip()
        os.kill(_worker_pid(data_dir, report_id), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (shown := run_cli(data_dir, "get-report", report_id)).returncode == 75:
        assert time.monotonic() < deadline, "still Running 10 s after its process was killed"
        time.sleep(0.1)
    assert shown.returncode == 1
    assert shown.stdout.startswith("Failed: the report process exited before finishing")
    assert not (data_dir / "reports" / f"{report_id}.csv").exists()


@pytest.mark.slow
def test_a_report_worker_stopped_by_sigterm_is_failed_with_the_reason(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ingest_examples(data_dir)
    with worker_held(data_dir):  # the worker waits, still in run_report: the record says Running
        report_id = run_cli(data_dir, "trigger-report").stdout.strip()
        os.kill(_worker_pid(data_dir, report_id), signal.SIGTERM)
    deadline = time.monotonic() + 30
    while (shown := run_cli(data_dir, "get-report", report_id)).returncode == 75:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert shown.returncode == 1
    assert shown.stdout == "Failed: the report process was stopped (SIGTERM or Ctrl-C)\n"
