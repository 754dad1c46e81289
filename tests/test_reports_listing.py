"""``storestatus reports`` and ``reports.recent_reports`` (issue #12): the reports updated last,
newest first, a dead Running one shown as Failed, stray files ignored; ``compact`` removing the
upload folders of a server that died, never those of a request still running."""

from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

from runners import AS_OF, Invoke, ingest_examples, run_cli

from storestatus.config import UPLOAD_LOCK, DataDir
from storestatus.locks import file_lock
from storestatus.reports import ReportFiles, ReportRecord, new_report_id, recent_reports


def triggered(data_dir: Path) -> str:
    done = run_cli(data_dir, "trigger-report", "--wait", "--as-of", AS_OF)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[0]


def test_recent_reports_newest_first_with_dead_ones_failed(data_dir: Path) -> None:
    ingest_examples(data_dir)
    first = triggered(data_dir)
    second = triggered(data_dir)
    files = ReportFiles(DataDir(data_dir))
    dead = new_report_id()  # says Running, but no process holds its lock: it died
    files.write(
        ReportRecord(dead, "Running", "nearest", None, created_at="2099-01-01T00:00:00+00:00")
    )
    (data_dir / "reports" / "notes.json").write_text("{}")  # not a record of ours
    (data_dir / "reports" / f"{'x' * 22}.json").write_text("not json")  # damaged
    listed = recent_reports(DataDir(data_dir), limit=10)
    assert [record.report_id for record in listed] == [dead, second, first]
    assert listed[0].state == "Failed"
    assert listed[0].error is not None
    assert "exited before finishing" in listed[0].error
    # Only the records updated last are read (the damaged one is skipped, not counted): the
    # oldest falls outside a limit of 2.
    os.utime(files.path(first, ".json"), (time.time() - 3600,) * 2)
    assert [record.report_id for record in recent_reports(DataDir(data_dir), limit=2)] == [
        dead,
        second,
    ]


def test_the_reports_command_prints_csv_json_and_a_table(data_dir: Path, invoke: Invoke) -> None:
    ingest_examples(data_dir)
    report_id = triggered(data_dir)
    as_csv = invoke("reports", "--format", "csv")
    assert as_csv.exit_code == 0
    (row,) = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert row["report_id"] == report_id
    assert row["status"] == "Complete"
    assert row["now"] == "2023-01-23T18:00:00+00:00"
    assert row["rows"] == "5"
    as_json = json.loads(invoke("reports", "--format", "json").stdout)
    assert as_json["reports"][0]["report_id"] == report_id
    assert "reads" not in as_json["reports"][0]
    header, line = invoke("reports", "--format", "table").stdout.splitlines()
    columns = ["report_id", "status", "created_at", "seconds", "now", "rows", "shards", "error"]
    assert header.split() == columns
    assert line.split()[:2] == [report_id, "Complete"]
    assert invoke("reports", "--limit", "0").exit_code == 2


def test_reports_of_a_missing_data_directory_is_an_error(tmp_path: Path) -> None:
    missing = run_cli(tmp_path / "nowhere", "reports")
    assert missing.returncode == 1
    assert "is not a storestatus data directory" in missing.stderr


def test_compact_removes_dead_uploads_and_keeps_running_ones(data_dir: Path) -> None:
    ingest_examples(data_dir)
    uploads = DataDir(data_dir).uploads
    dead, running = uploads / "upload-dead", uploads / "upload-running"
    for folder in (dead, running):
        folder.mkdir(parents=True)
        (folder / "status-1.csv").write_text("store_id,status,timestamp_utc\n")
    with file_lock(running / UPLOAD_LOCK):
        compacted = run_cli(data_dir, "compact")
        assert compacted.returncode == 0, compacted.stderr
        assert not dead.exists()
        assert (running / "status-1.csv").exists()
    assert "temporary files left by commands that were killed" in compacted.stdout
