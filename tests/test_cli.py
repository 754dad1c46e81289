"""The command line, through Typer's CliRunner, plus real processes for the background worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from storestatus.cli import app
from storestatus.config import DataDir
from storestatus.locks import file_lock
from storestatus.reports import ReportFiles, ReportRecord, new_report_id, trigger_report
from storestatus.service import compute_from_store
from storestatus.store import Store

EXAMPLES = Path(__file__).parent.parent / "examples"
AS_OF = "2023-01-23 18:00:00 UTC"
ALL_DATES = (date(2023, 1, 1), date(2023, 2, 1))  # every poll of the examples
runner = CliRunner()

Invoke = Callable[..., "Result"]


class Result:
    """What a command did: exit code and the two streams, kept apart."""

    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def invoke(data_dir: Path) -> Invoke:
    def run(*args: str) -> Result:
        result = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
        assert not isinstance(result.exception, Exception) or isinstance(
            result.exception, SystemExit
        ), result.exception
        return Result(result.exit_code, result.stdout, result.stderr)

    return run


def ingest_examples(invoke: Invoke) -> Result:
    return invoke(
        "ingest",
        "--status",
        str(EXAMPLES / "store_status.csv"),
        "--hours",
        str(EXAMPLES / "business_hours.csv"),
        "--timezones",
        str(EXAMPLES / "timezones.csv"),
    )


def test_examples_give_the_hand_computed_report(invoke: Invoke, tmp_path: Path) -> None:
    assert ingest_examples(invoke).exit_code == 0
    triggered = invoke("trigger-report", "--as-of", AS_OF, "--wait")
    assert triggered.exit_code == 0
    report_id = triggered.stdout.strip()
    assert triggered.stdout == f"{report_id}\n"  # the id is the only line on stdout

    shown = invoke("get-report", report_id)
    assert shown.exit_code == 0
    state, path = shown.stdout.splitlines()
    assert state == "Complete"
    expected = (EXAMPLES / "expected_report.csv").read_text()
    assert Path(path).read_text() == expected

    copy = tmp_path / "copy.csv"
    assert invoke("get-report", report_id, "--output", str(copy)).exit_code == 0
    assert copy.read_text() == expected

    streamed = invoke("get-report", report_id, "--output", "-")
    assert streamed.exit_code == 0
    assert streamed.stdout == expected
    assert streamed.stderr.splitlines()[0] == "Complete"


def test_ingest_summary_and_reingest_adds_nothing(invoke: Invoke, data_dir: Path) -> None:
    first = ingest_examples(invoke)
    assert first.exit_code == 0
    assert "status" in first.stdout
    assert "8 new polls" in first.stdout
    again = ingest_examples(invoke)
    assert "0 new polls, 0 replaced, 8 already stored" in again.stdout
    store = Store(DataDir(data_dir))
    assert store.read_observations(store.snapshot(), *ALL_DATES).height == 8


def test_a_later_ingest_of_the_same_key_replaces_the_status(
    invoke: Invoke, data_dir: Path, tmp_path: Path
) -> None:
    ingest_examples(invoke)
    update = tmp_path / "update.csv"
    update.write_text(
        "timestamp_utc,store_id,status\n"  # columns in another order
        "2023-01-23 16:14:00 UTC,0042,INACTIVE\n"  # was active
        "2023-01-23 17:15:00 UTC,0042,inactive\n"  # same as stored
    )
    result = invoke("ingest", "--status", str(update))
    assert "0 new polls, 1 replaced, 1 already stored" in result.stdout
    store = Store(DataDir(data_dir))
    polls = store.read_observations(store.snapshot(), *ALL_DATES)
    assert polls.filter(store_id="0042").get_column("status").to_list() == ["inactive"] * 2


def test_rejected_rows_go_to_a_rejects_file(invoke: Invoke, tmp_path: Path) -> None:
    polls = tmp_path / "polls.csv"
    polls.write_text(
        "store_id,status,timestamp_utc\n"
        "1,active,2023-01-23 10:00:00 UTC\n"
        "2,sleeping,2023-01-23 10:00:00 UTC\n"
        "3,active,yesterday\n"
    )
    result = invoke("ingest", "--status", str(polls))
    assert result.exit_code == 0
    assert "1 new polls" in result.stdout
    assert "2 rejected (see " in result.stdout
    rejects = Path(result.stdout.split("(see ")[1].split(")")[0])
    text = rejects.read_text()
    assert "sleeping" in text
    assert "yesterday" in text
    assert text.splitlines()[0].startswith("row_number,reason")


def test_missing_column_fails_and_changes_nothing(
    invoke: Invoke, data_dir: Path, tmp_path: Path
) -> None:
    bad_hours = tmp_path / "hours.csv"
    bad_hours.write_text("store_id,day,start_time_local\n1,0,09:00\n")
    result = invoke(
        "ingest", "--status", str(EXAMPLES / "store_status.csv"), "--hours", str(bad_hours)
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "end_time_local" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    # The valid status file was not ingested either: nothing was written.
    assert Store(DataDir(data_dir)).snapshot().versions == {
        "status": None,
        "business_hours": None,
        "timezones": None,
        "stores": None,
    }


def test_ingest_without_files_is_an_error(invoke: Invoke) -> None:
    result = invoke("ingest")
    assert result.exit_code == 1
    assert "nothing to ingest" in result.stderr


def test_default_as_of_is_the_latest_poll(invoke: Invoke, data_dir: Path) -> None:
    ingest_examples(invoke)
    report_id = invoke("trigger-report", "--wait").stdout.strip()
    record = ReportFiles(DataDir(data_dir)).read(report_id)
    assert record.now == "2023-01-23T17:30:00+00:00"
    assert record.as_of is None
    assert record.table_versions == {
        "status": 0,
        "business_hours": 0,
        "timezones": 0,
        "stores": 0,
    }
    assert record.rows == 5


def test_previous_interpolation_option(invoke: Invoke, data_dir: Path) -> None:
    ingest_examples(invoke)
    report_id = invoke(
        "trigger-report", "--as-of", AS_OF, "--interpolation", "previous", "--wait"
    ).stdout.strip()
    csv_text = Path(invoke("get-report", report_id).stdout.splitlines()[1]).read_text()
    # 0042 with previous: up 15:00-17:15 UTC (2.25 h), down 17:15-18:00 (0.75 h, 45 min).
    assert "0042,15.00,2.25,2.25,45.00,0.75,0.75" in csv_text.splitlines()


@pytest.mark.parametrize(
    "args",
    [
        ("trigger-report", "--interpolation", "linear"),
        ("trigger-report", "--as-of", "not a time"),
        ("no-such-command",),
    ],
)
def test_bad_usage_exits_2(invoke: Invoke, args: tuple[str, ...]) -> None:
    assert invoke(*args).exit_code == 2


@pytest.mark.parametrize("report_id", ["../x", "AAAAAAAAAAAAAAAAAAAAAA", "", "a/b"])
def test_unknown_report_ids_exit_2(invoke: Invoke, data_dir: Path, report_id: str) -> None:
    ingest_examples(invoke)
    result = invoke("get-report", report_id)
    assert result.exit_code == 2
    assert result.stderr == f"Error: unknown report id {report_id!r} in {data_dir / 'reports'}\n"


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


def test_version_and_help(invoke: Invoke) -> None:
    assert runner.invoke(app, ["--version"]).stdout.startswith("storestatus ")
    for command in ("ingest", "trigger-report", "get-report", "demo", "generate"):
        help_text = runner.invoke(app, [command, "--help"]).stdout
        assert "Example" in help_text


# --- real processes ---------------------------------------------------------------------------


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "storestatus", *args, "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


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
    _cli(
        data_dir,
        "ingest",
        "--status",
        str(EXAMPLES / "store_status.csv"),
        "--timezones",
        str(EXAMPLES / "timezones.csv"),
    )
    with worker_held(data_dir):  # so that Running is observed for sure
        triggered = _cli(data_dir, "trigger-report", "--as-of", AS_OF)
        assert triggered.returncode == 0, triggered.stderr
        report_id = triggered.stdout.strip()
        _worker_pid(data_dir, report_id)
        running = _cli(data_dir, "get-report", report_id)
        assert (running.returncode, running.stdout) == (75, "Running\n")
    deadline = time.monotonic() + 60
    while (done := _cli(data_dir, "get-report", report_id)).returncode == 75:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert done.returncode == 0, done.stdout + done.stderr
    csv_path = Path(done.stdout.splitlines()[1])
    assert csv_path.read_text().startswith("store_id,uptime_last_hour")


def test_killed_worker_is_reported_failed_within_seconds(data_dir: Path) -> None:
    _cli(data_dir, "ingest", "--status", str(EXAMPLES / "store_status.csv"))
    with worker_held(data_dir):
        report_id = _cli(data_dir, "trigger-report").stdout.strip()
        os.kill(_worker_pid(data_dir, report_id), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while (shown := _cli(data_dir, "get-report", report_id)).returncode == 75:
        assert time.monotonic() < deadline, "still Running 10 s after its process was killed"
        time.sleep(0.1)
    assert shown.returncode == 1
    assert shown.stdout.startswith("Failed: the report process exited before finishing")
    assert not (data_dir / "reports" / f"{report_id}.csv").exists()


def test_python_api_matches_cli(data_dir: Path, invoke: Invoke) -> None:
    ingest_examples(invoke)
    report_id = trigger_report(DataDir(data_dir), wait=True)
    from_api = compute_from_store(Store(DataDir(data_dir))).report
    assert from_api.height == ReportFiles(DataDir(data_dir)).read(report_id).rows


def test_messages_on_stderr_survive_the_native_output_guard(data_dir: Path) -> None:
    # get-report --output - writes the state to stderr from inside the guard of _user_errors.
    _cli(data_dir, "ingest", "--status", str(EXAMPLES / "store_status.csv"))
    report_id = _cli(data_dir, "trigger-report", "--wait").stdout.strip()
    shown = _cli(data_dir, "get-report", report_id, "--output", "-")
    assert shown.returncode == 0
    assert shown.stdout.startswith("store_id,uptime_last_hour")
    assert shown.stderr.splitlines()[0] == "Complete"
