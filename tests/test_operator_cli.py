"""What operators get wrong (issue #8): bad clocks, wrong flags and directories, full disks,
closed pipes, several files at once, cron. Each test failed before the fix it covers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from runners import AS_OF, EXAMPLES, Result, ingest_examples, invoke, run_cli
from typer.testing import CliRunner

from storestatus.cli import app
from storestatus.config import DataDir
from storestatus.errors import StoreStatusError
from storestatus.reports import ReportFiles, ReportRecord
from storestatus.schemas import POLLS_SCHEMA
from storestatus.service import compute_from_store
from storestatus.store import Store
from storestatus.timestamps import parse_instant

HEADER = "store_id,status,timestamp_utc\n"


def one_line_error(run: Result | subprocess.CompletedProcess[str]) -> str:
    stderr = run.stderr
    assert stderr.startswith("Error: "), stderr
    assert stderr.count("\n") == 1, stderr
    return stderr


def stored_polls(data_dir: Path) -> pl.DataFrame:
    store = Store(DataDir(data_dir))
    snapshot = store.snapshot()
    return store.read_polls(snapshot, datetime(2000, 1, 1).date(), datetime(2100, 1, 1).date())


# --- 1. a poller with a bad clock -------------------------------------------------------------


def test_a_poll_from_the_future_is_rejected_with_the_reason(tmp_path: Path) -> None:
    polls = tmp_path / "polls.csv"
    polls.write_text(
        HEADER + "1,active,2023-01-23 10:00:00 UTC\n" + "1,inactive,2099-01-01 00:00:00 UTC\n"
    )
    result = invoke(tmp_path / "data", "ingest", "--status", str(polls))
    assert result.exit_code == 0, result.stderr
    assert "1 new polls" in result.stdout
    assert "1 rejected" in result.stdout
    rejects = next((tmp_path / "data" / "rejects").glob("*.csv")).read_text()
    assert "'2099-01-01 00:00:00 UTC' is in the future" in rejects
    assert "check the poller's clock" in rejects
    assert stored_polls(tmp_path / "data").height == 1


def test_max_future_sets_the_tolerance(tmp_path: Path) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=30)
    polls = tmp_path / "polls.csv"
    polls.write_text(HEADER + f"1,active,{soon:%Y-%m-%d %H:%M:%S} UTC\n")
    strict = invoke(tmp_path / "a", "ingest", "--status", str(polls), "--max-future", "10m")
    assert "0 new polls" in strict.stdout
    assert "1 rejected" in strict.stdout
    default = invoke(tmp_path / "b", "ingest", "--status", str(polls))  # 1 h
    assert "1 new polls" in default.stdout
    bad = invoke(tmp_path / "c", "ingest", "--status", str(polls), "--max-future", "soon")
    assert bad.exit_code == 2
    assert "cannot read duration 'soon'" in bad.stderr


def test_a_stored_future_poll_does_not_become_the_default_now(tmp_path: Path) -> None:
    # A store written before polls from the future were rejected may hold one.
    data_dir = tmp_path / "data"
    ingest_examples(data_dir)
    store = Store(DataDir(data_dir))
    future = pl.DataFrame(
        [("0042", datetime(2099, 1, 1, tzinfo=UTC), "active")],
        schema=POLLS_SCHEMA,
        orient="row",
    )
    with store.writing():
        store.upsert_status(future)
    result = compute_from_store(Store(DataDir(data_dir)))
    assert result.now == datetime(2023, 1, 23, 17, 30, tzinfo=UTC)  # the latest real poll
    assert any("1 stored polls are stamped after the clock" in w for w in result.warnings)


# --- 2. demo never touches a real store -------------------------------------------------------


def test_demo_refuses_a_directory_that_holds_anything(tmp_path: Path) -> None:
    data_dir = tmp_path / "real"
    ingest_examples(data_dir)
    before = sorted(str(path) for path in data_dir.rglob("*"))
    result = CliRunner().invoke(app, ["demo", "--data-dir", str(data_dir)])
    assert result.exit_code == 1
    assert "is not empty" in one_line_error(Result(1, result.stdout, result.stderr))
    assert sorted(str(path) for path in data_dir.rglob("*")) == before


def test_demo_removes_its_temporary_directory(tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path), "COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-m", "storestatus", "demo"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "Removed the demo directory" in done.stdout
    assert list(tmp_path.glob("storestatus-demo-*")) == []
    assert "Try: storestatus get-report" not in done.stdout  # it would point at nothing


# --- 3. get-report --output ---------------------------------------------------------------------


def complete_report(data_dir: Path, csv_text: str) -> str:
    """A Complete report with the given CSV, as a finished worker leaves it."""
    (data_dir / "tables").mkdir(parents=True, exist_ok=True)
    files = ReportFiles(DataDir(data_dir))
    files.folder.mkdir(parents=True, exist_ok=True)
    report_id = "C" * 22
    files.path(report_id, ".csv").write_text(csv_text)
    files.write(ReportRecord(report_id, "Complete", "nearest", None, created_at="2023-01-01"))
    return report_id


def test_output_on_a_full_disk_keeps_the_previous_file(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    report_id = complete_report(data_dir, "store_id\n" + "s\n" * 10_000)
    latest = tmp_path / "out" / "latest.csv"
    latest.parent.mkdir()
    latest.write_text("the previous good report\n")
    failed = run_cli(
        data_dir, "get-report", report_id, "--output", str(latest), limit_file_size=4096
    )
    assert failed.returncode == 1
    assert "the previous file, if any, is unchanged" in one_line_error(failed)
    assert failed.stdout == ""  # not "Complete": the copy failed
    assert latest.read_text() == "the previous good report\n"
    assert [path.name for path in latest.parent.iterdir()] == ["latest.csv"]  # no temp left
    done = run_cli(data_dir, "get-report", report_id, "--output", str(latest))
    assert done.returncode == 0
    assert latest.read_text() == "store_id\n" + "s\n" * 10_000


def test_output_to_a_pipe_closed_early_ends_quietly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    report_id = complete_report(data_dir, "store_id\n" + "s\n" * 500_000)  # > a pipe's buffer
    command = (
        f"{sys.executable} -m storestatus get-report {report_id} --data-dir {data_dir} "
        '--output - | head -n 1; echo "exit ${PIPESTATUS[0]}" >&2'
    )
    done = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout == "store_id\n"
    assert done.stderr.splitlines() == [
        "Complete",
        str(data_dir / "reports" / f"{report_id}.csv"),
        "exit 0",
    ]


# --- 6, 10. reports that fail, or hold nothing ------------------------------------------------


def test_wait_exits_1_and_says_why_when_the_report_fails(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log = data_dir / "tables" / "status" / "_delta_log"
    log.mkdir(parents=True)
    (log / "00000000000000000000.json").write_text("{")  # a corrupt table
    result = invoke(data_dir, "trigger-report", "--wait")
    assert result.exit_code == 1
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}\n", result.stdout)  # the id, as without a failure
    assert result.stderr.startswith("Failed: ")
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize("as_of", ["9999-12-31T23:59:59Z", "0001-01-01 00:00:00"])
def test_as_of_outside_the_supported_years_is_a_usage_error(tmp_path: Path, as_of: str) -> None:
    ingest_examples(tmp_path / "data")
    result = invoke(tmp_path / "data", "trigger-report", "--as-of", as_of)
    assert result.exit_code == 2
    assert "outside the years 1970-2100" in result.stderr
    assert not (tmp_path / "data" / "reports").exists()  # no report was started


def test_options_and_polls_share_one_timestamp_grammar(tmp_path: Path) -> None:
    from storestatus.readers import read_status_csv  # noqa: PLC0415

    texts = [
        "2023-01-22 12:09:39.388884 UTC",
        "2023-01-22T12:09:39Z",
        "2023-01-22 12:09:39+05:30",
        "2023-01-22T12:09:39.5-0800",
        " 2023-01-22 12:09:39 ",
        "2023-01-22",  # no time: neither accepts it
        "2023-02-30 00:00:00",
    ]
    polls = read_status_csv((HEADER + "".join(f'1,active,"{text}"\n' for text in texts)).encode())
    rejected = set(polls.rejects.get_column("row_number").to_list())
    accepted = iter(polls.rows.get_column("timestamp_utc").to_list())
    for number, text in enumerate(texts, start=1):
        from_file = None if number in rejected else next(accepted)
        try:
            from_option: datetime | None = parse_instant(text)
        except StoreStatusError:
            from_option = None
        assert from_option == from_file, text
    assert len(rejected) == 2


def test_a_report_on_an_empty_window_says_so(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ingest_examples(data_dir)
    result = invoke(data_dir, "trigger-report", "--as-of", "2024-06-01T00:00:00Z", "--wait")
    assert result.exit_code == 0
    assert "Warning: no polls in the 8 days up to 2024-06-01 00:00:00 UTC" in result.stderr
    record = ReportFiles(DataDir(data_dir)).read(result.stdout.strip())
    assert record.polls_in_window == 0
    assert record.warnings
    assert record.warnings[0].startswith("no polls")
    shown = invoke(data_dir, "get-report", result.stdout.strip())
    assert shown.exit_code == 0
    assert "Warning: no polls" in shown.stderr


def test_a_report_with_few_polled_stores_says_so(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ingest_examples(data_dir)
    # Only 0042 and always-open have polls after 17:00 on the 23rd; the others read 0.
    result = invoke(data_dir, "trigger-report", "--as-of", "2023-01-31T17:00:00Z", "--wait")
    polled = ReportFiles(DataDir(data_dir)).read(result.stdout.strip())
    assert polled.rows == 5
    assert polled.stores_polled is not None
    assert polled.stores_polled < 5 * 0.5
    assert f"only {polled.stores_polled} of 5 stores have polls" in result.stderr
    normal = invoke(data_dir, "trigger-report", "--as-of", AS_OF, "--wait")
    assert normal.stderr == ""


# --- 8, 9. directories ----------------------------------------------------------------------------


@pytest.mark.parametrize("wait", [False, True])
def test_reports_that_cannot_be_written_are_one_line(tmp_path: Path, wait: bool) -> None:
    data_dir = tmp_path / "data"
    ingest_examples(data_dir)
    (data_dir / "reports").symlink_to("/proc")  # a folder even root cannot create files in
    failed = run_cli(data_dir, "trigger-report", *(["--wait"] if wait else []))
    assert failed.returncode == 1
    assert "cannot write report files in" in one_line_error(failed)


@pytest.mark.parametrize(
    "args",
    [("trigger-report",), ("get-report", "A" * 22), ("compact",), ("trigger-report", "--wait")],
)
def test_a_directory_that_is_not_a_store_is_named_and_not_created(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    typo = tmp_path / "storestatsu"
    result = invoke(typo, *args)
    assert result.exit_code == 1
    error = one_line_error(result)
    assert f"{typo} is not a storestatus data directory" in error
    assert "run `storestatus ingest" in error
    assert not typo.exists()


def test_only_ingest_creates_a_data_directory_and_says_so(tmp_path: Path) -> None:
    data_dir = tmp_path / "new"
    first = ingest_examples(data_dir)
    assert first.stderr == f"created the data directory {data_dir}\n"
    again = ingest_examples(data_dir)
    assert again.stderr == ""


# --- 11. several status files -----------------------------------------------------------------


def hourly_files(folder: Path) -> list[Path]:
    folder.mkdir()
    paths = []
    for hour in range(3):
        path = folder / f"hour-{hour}.csv"
        path.write_text(
            HEADER
            + f"1,active,2023-01-23 1{hour}:00:00 UTC\n2,inactive,2023-01-23 1{hour}:30:00 UTC\n"
        )
        paths.append(path)
    return paths


def test_any_number_of_status_files_as_a_shell_glob_gives_them(tmp_path: Path) -> None:
    paths = hourly_files(tmp_path / "hourly")
    # `--status hourly/*.csv` reaches us as `--status h0 h1 h2`
    result = invoke(tmp_path / "data", "ingest", "--status", *map(str, paths))
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines] == [f"status {path}" for path in paths]
    assert all("2 new polls" in line for line in lines)
    assert stored_polls(tmp_path / "data").height == 6
    repeated = invoke(tmp_path / "again", "ingest", *(f"--status={path}" for path in paths))
    assert repeated.stdout.count("2 new polls") == 3


def test_several_status_files_are_all_or_nothing(tmp_path: Path) -> None:
    good, *_ = hourly_files(tmp_path / "hourly")
    bad = tmp_path / "bad.csv"
    bad.write_text("store_id,timestamp_utc\n1,2023-01-23 10:00:00 UTC\n")  # no status column
    data_dir = tmp_path / "data"
    result = invoke(data_dir, "ingest", "--status", str(good), str(bad))
    assert result.exit_code == 1
    assert "missing required column 'status'" in one_line_error(result)
    assert Store(DataDir(data_dir)).snapshot().versions["status"] is None


# --- 14, 15. cron and README truths ---------------------------------------------------------------


def test_quiet_prints_nothing_on_success_and_errors_still(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ingest_examples(data_dir)
    quiet = invoke(data_dir, "ingest", "--quiet", "--status", str(EXAMPLES / "store_status.csv"))
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "")
    assert invoke(data_dir, "compact", "-q").stdout == ""
    failing = invoke(data_dir, "ingest", "--quiet", "--status", str(tmp_path / "missing.csv"))
    assert failing.exit_code == 1
    one_line_error(failing)


@pytest.mark.parametrize("kind", ["--status", "--hours", "--timezones"])
def test_a_missing_input_file_is_one_line_and_exit_1(tmp_path: Path, kind: str) -> None:
    missing = tmp_path / "polls.csv"
    result = invoke(tmp_path / "data", "ingest", kind, str(missing))
    assert result.exit_code == 1
    assert one_line_error(result) == (
        f"Error: {kind.strip('-')} file {missing} does not exist; check the path\n"
    )


def test_the_help_examples_use_ids_of_the_real_format(tmp_path: Path) -> None:
    help_text = CliRunner().invoke(app, ["get-report", "--help"]).stdout
    example = re.search(r"\n +storestatus get-report (\S+)", help_text)
    assert example is not None
    report_id = complete_report(tmp_path / "data", "store_id\n")
    files = ReportFiles(DataDir(tmp_path / "data"))
    files.path(example.group(1), ".json")  # raises for an id of another format
    assert len(example.group(1)) == len(report_id)


def upsert(data_dir: Path, *rows: tuple[str, datetime, str]) -> None:
    """Store polls directly, as an older release (which accepted any timestamp) did."""
    store = Store(DataDir(data_dir))
    with store.writing():
        store.upsert_status(pl.DataFrame(list(rows), schema=POLLS_SCHEMA, orient="row"))


def test_compact_sets_polls_from_the_future_aside_and_says_so(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ingest_examples(data_dir)
    upsert(data_dir, ("0042", datetime(2099, 1, 1, tzinfo=UTC), "active"))
    done = invoke(data_dir, "compact", "--retain-days", "35")
    assert done.exit_code == 0, done.stderr
    assert "dropped 0 of 9 polls: those of UTC dates before 2022-12-19" in done.stdout
    assert "set aside 1 polls stamped in the future" in done.stdout
    rejects = next((data_dir / "rejects").glob("*-compact-future-status.csv")).read_text()
    assert "0042,active,2099-01-01" in rejects
    assert stored_polls(data_dir).height == 8  # the real polls, all kept


def test_compact_refuses_to_drop_most_polls_without_force(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ingest_examples(data_dir)  # 8 polls on 2023-01-23
    upsert(data_dir, ("0042", datetime(2023, 3, 1, tzinfo=UTC), "active"))
    refused = invoke(data_dir, "compact", "--retain-days", "8")
    assert refused.exit_code == 1
    error = one_line_error(refused)
    assert "compact would drop 8 of 9 polls" in error
    assert "add --force" in error
    assert stored_polls(data_dir).height == 9
    forced = invoke(data_dir, "compact", "--retain-days", "8", "--force")
    assert forced.exit_code == 0, forced.stderr
    assert "dropped 8 of 9 polls: those of UTC dates before 2023-02-21" in forced.stdout
    assert stored_polls(data_dir).height == 1
