"""The command line through Typer's CliRunner: ingest, trigger-report and get-report options,
usage errors, and parity with the Python API. The report lifecycle is in ``test_reports``."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from runners import AS_OF, EXAMPLES, Invoke, ingest_examples, run_cli
from typer.testing import CliRunner

from storestatus.cli import app
from storestatus.config import DataDir
from storestatus.reports import ReportFiles, trigger_report
from storestatus.service import compute_from_store
from storestatus.store import Store

ALL_DATES = (date(2023, 1, 1), date(2023, 2, 1))  # every poll of the examples
runner = CliRunner()


def test_examples_give_the_hand_computed_report(
    invoke: Invoke, data_dir: Path, tmp_path: Path
) -> None:
    assert ingest_examples(data_dir).exit_code == 0
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
    first = ingest_examples(data_dir)
    assert first.exit_code == 0
    assert "status" in first.stdout
    assert "8 new polls" in first.stdout
    again = ingest_examples(data_dir)
    assert "0 new polls, 0 replaced, 8 already stored" in again.stdout
    store = Store(DataDir(data_dir))
    assert store.read_polls(store.snapshot(), *ALL_DATES).height == 8


def test_a_later_ingest_of_the_same_key_replaces_the_status(
    invoke: Invoke, data_dir: Path, tmp_path: Path
) -> None:
    ingest_examples(data_dir)
    update = tmp_path / "update.csv"
    update.write_text(
        "timestamp_utc,store_id,status\n"  # columns in another order
        "2023-01-23 16:14:00 UTC,0042,INACTIVE\n"  # was active
        "2023-01-23 17:15:00 UTC,0042,inactive\n"  # same as stored
    )
    result = invoke("ingest", "--status", str(update))
    assert "0 new polls, 1 replaced, 1 already stored" in result.stdout
    store = Store(DataDir(data_dir))
    polls = store.read_polls(store.snapshot(), *ALL_DATES)
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
    ingest_examples(data_dir)
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
    ingest_examples(data_dir)
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
    ingest_examples(data_dir)
    result = invoke("get-report", report_id)
    assert result.exit_code == 2
    assert result.stderr == f"Error: unknown report id {report_id!r} in {data_dir / 'reports'}\n"


def test_version_and_help(invoke: Invoke) -> None:
    assert runner.invoke(app, ["--version"]).stdout.startswith("storestatus ")
    for command in ("ingest", "trigger-report", "get-report", "demo", "generate"):
        help_text = runner.invoke(app, [command, "--help"]).stdout
        assert "Example" in help_text


def test_python_api_matches_cli(data_dir: Path) -> None:
    ingest_examples(data_dir)
    report_id = trigger_report(DataDir(data_dir), wait=True)
    from_api = compute_from_store(Store(DataDir(data_dir))).report
    assert from_api.height == ReportFiles(DataDir(data_dir)).read(report_id).rows


def test_messages_on_stderr_survive_the_native_output_guard(data_dir: Path) -> None:
    # get-report --output - writes the state to stderr from inside the guard of _user_errors.
    run_cli(data_dir, "ingest", "--status", str(EXAMPLES / "store_status.csv"))
    report_id = run_cli(data_dir, "trigger-report", "--wait").stdout.strip()
    shown = run_cli(data_dir, "get-report", report_id, "--output", "-")
    assert shown.returncode == 0
    assert shown.stdout.startswith("store_id,uptime_last_hour")
    assert shown.stderr.splitlines()[0] == "Complete"
