"""The hostile-input catalogue of issue #4, through the real command line.

Every case ends one of two ways, and never in a traceback or a silent drop:
- ``ok``: the good rows are stored, every bad row is in the rejects file with a reason, and the
  summary line counts them;
- ``error``: one line on stderr, exit code 1, and the store unchanged.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from storestatus.cli import app
from storestatus.config import DataDir
from storestatus.readers import REJECT_REASONS
from storestatus.store import Store

STATUS_HEADER = b"store_id,status,timestamp_utc\n"
HOURS_HEADER = b"store_id,day,start_time_local,end_time_local\n"
ZONES_HEADER = b"store_id,timezone_str\n"
GOOD_POLL = b"1,active,2023-01-22 12:09:39.388884 UTC\n"


def png() -> bytes:
    """A real (1x1 pixel) PNG file."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class Case:
    kind: str  # which option: status, hours or timezones
    data: bytes
    outcome: str  # ok or error
    accepted: int = 0  # ok: rows stored
    rejected: int = 0  # ok: rows in the rejects file
    says: str = ""  # a reject reason (ok) or the error line (error) contains this
    suffix: str = ".csv"


CASES = {
    "empty file": Case("status", b"", "error", says="empty"),
    "header only": Case("status", STATUS_HEADER, "ok"),
    "missing required column": Case(
        "status", b"store_id,timestamp_utc\n1,2023-01-22 12:00:00 UTC\n", "error", says="status"
    ),
    "extra columns are ignored": Case(
        "status", b"store_id,status,timestamp_utc,note\n1,active,2023-01-22 12:00:00,x\n", "ok", 1
    ),
    "semicolon delimiter": Case(
        "status",
        STATUS_HEADER.replace(b",", b";") + GOOD_POLL.replace(b",", b";"),
        "error",
        says="comma",
    ),
    "tab delimiter": Case(
        "status",
        STATUS_HEADER.replace(b",", b"\t") + GOOD_POLL.replace(b",", b"\t"),
        "error",
        says="comma",
    ),
    "non-UTF-8 bytes": Case(
        "status",
        STATUS_HEADER + b"\xff\xfe1,active,2023-01-22 12:00:00 UTC\n",
        "error",
        says="UTF-8",
    ),
    "unterminated quote": Case(
        "status",
        STATUS_HEADER + GOOD_POLL + b'"2,active,2023-01-22 12:00:00 UTC\n',
        "error",
        says="could not parse",
    ),
    "NUL bytes": Case(
        "status",
        STATUS_HEADER + GOOD_POLL + b"2\x00,active,2023-01-22 12:00:00 UTC\n",
        "ok",
        1,
        1,
        says="control characters",
    ),
    "a 10 MB line": Case(
        "status",
        STATUS_HEADER + GOOD_POLL + b"9" * 10_000_000 + b",active,2023-01-22 12:00:00\n",
        "ok",
        1,
        1,
        says="too long",
    ),
    "blank lines": Case("status", STATUS_HEADER + b"\n\n" + GOOD_POLL + b"\n", "ok", 1),
    "duplicate rows": Case("status", STATUS_HEADER + GOOD_POLL * 3, "ok", 1),
    "one key, two statuses": Case(
        "status", STATUS_HEADER + GOOD_POLL + GOOD_POLL.replace(b"active", b"inactive"), "ok", 1
    ),
    "empty store_id": Case(
        "status",
        STATUS_HEADER + GOOD_POLL + b",active,2023-01-22 12:00:00 UTC\n",
        "ok",
        1,
        1,
        says="empty store_id",
    ),
    "store_id with a newline": Case(
        "status",
        STATUS_HEADER + GOOD_POLL + b'"a\nb",active,2023-01-22 12:00:00 UTC\n',
        "ok",
        1,
        1,
        says="control characters",
    ),
    "store_id with control characters": Case(
        "status",
        STATUS_HEADER + GOOD_POLL + b"a\x1bb,active,2023-01-22 12:00:00 UTC\n",
        "ok",
        1,
        1,
        says="control characters",
    ),
    "timestamp far in the past": Case(
        "status",
        STATUS_HEADER + GOOD_POLL + b"2,active,1900-01-01 00:00:00 UTC\n",
        "ok",
        1,
        1,
        says="out of range",
    ),
    "timestamp far in the future": Case(
        "status",
        STATUS_HEADER + GOOD_POLL + b"2,active,2999-01-01 00:00:00 UTC\n",
        "ok",
        1,
        1,
        says="out of range",
    ),
    "not a timestamp": Case(
        "status",
        STATUS_HEADER + GOOD_POLL + b"2,active,yesterday\n",
        "ok",
        1,
        1,
        says="unparseable timestamp",
    ),
    "a .csv.gz file": Case(
        "status", gzip.compress(STATUS_HEADER + GOOD_POLL), "ok", 1, suffix=".csv.gz"
    ),
    "not CSV at all (a PNG)": Case("status", png(), "error", says="CSV", suffix=".png"),
    "day 7": Case(
        "hours",
        HOURS_HEADER + b"1,0,09:00,17:00\n1,7,09:00,17:00\n",
        "ok",
        1,
        1,
        says="day must be",
    ),
    "day -1": Case(
        "hours",
        HOURS_HEADER + b"1,0,09:00,17:00\n1,-1,09:00,17:00\n",
        "ok",
        1,
        1,
        says="day must be",
    ),
    "time 25:00": Case(
        "hours",
        HOURS_HEADER + b"1,0,09:00,17:00\n1,1,25:00,17:00\n",
        "ok",
        1,
        1,
        says="unparseable start_time_local",
    ),
    "end time missing": Case(
        "hours",
        HOURS_HEADER + b"1,0,09:00,17:00\n1,1,09:00\n",
        "ok",
        1,
        1,
        says="empty end_time_local",
    ),
    "unknown time zone": Case(
        "timezones",
        ZONES_HEADER + b"1,Asia/Kolkata\n2,Mars/Olympus_Mons\n",
        "ok",
        1,
        1,
        says="unknown timezone",
    ),
    "misspelt time zone": Case(
        "timezones",
        ZONES_HEADER + b"1,Asia/Kolkata\n2,America/Chicgo\n",
        "ok",
        1,
        1,
        says="unknown timezone",
    ),
}


def versions(data_dir: Path) -> dict[str, int | None]:
    return Store(DataDir(data_dir)).snapshot().versions


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_hostile_input_is_stored_or_rejected_never_dropped(case: Case, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    source = tmp_path / f"input{case.suffix}"
    source.write_bytes(case.data)
    before = versions(data_dir)
    result = CliRunner().invoke(
        app, ["ingest", f"--{case.kind}", str(source), "--data-dir", str(data_dir)]
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if case.outcome == "error":
        assert result.exit_code == 1, result.stdout
        assert result.stderr.startswith("Error: "), result.stderr
        assert result.stderr.count("\n") == 1, result.stderr  # one line
        assert case.says in result.stderr
        assert versions(data_dir) == before
        return
    assert result.exit_code == 0, result.stderr
    summary = result.stdout.strip()
    assert f"{case.rejected} rejected" in summary
    rejects = sorted((data_dir / "rejects").glob("*.csv")) if case.rejected else []
    assert len(rejects) == (1 if case.rejected else 0)
    if rejects:
        rows = pl.read_csv(rejects[0], infer_schema=False)
        reasons = rows.get_column("reason").to_list()
        assert len(reasons) == case.rejected
        assert all(reasons), reasons
        assert any(case.says in reason for reason in reasons), reasons
        assert rows.columns[:3] == ["row_number", "reason", "reason_code"]
        codes = {reason.code for reason in REJECT_REASONS}
        assert set(rows.get_column("reason_code")) <= codes, rows  # every reject has a code
    stored = Store(DataDir(data_dir))
    snapshot = stored.snapshot()
    read = {
        "status": lambda: stored.read_polls(snapshot, date(2023, 1, 1), date(2023, 1, 31)),
        "hours": lambda: stored.read_hours(snapshot),
        "timezones": lambda: stored.read_timezones(snapshot),
    }
    assert read[case.kind]().height == case.accepted


def test_ids_and_file_names_never_become_paths(tmp_path: Path) -> None:
    source = tmp_path / "in" / "..%2F poll;s $(x).csv"
    source.parent.mkdir()
    source.write_bytes(
        STATUS_HEADER
        + b"../../escaped,active,2023-01-22 12:00:00 UTC\n"
        + b"/etc/passwd,active,2023-01-22 12:00:00 UTC\n"
        + b"../x,unknown,2023-01-22 12:00:00 UTC\n"
    )
    data_dir = tmp_path / "data"
    result = CliRunner().invoke(
        app, ["ingest", "--status", str(source), "--data-dir", str(data_dir)]
    )
    assert result.exit_code == 0, result.stderr
    created = [path for path in tmp_path.rglob("*") if source.parent not in (path, path.parent)]
    assert all(path == data_dir or data_dir in path.parents for path in created)
    (rejects,) = (data_dir / "rejects").iterdir()
    assert rejects.name.endswith("-status-.._2F_poll_s_x_.csv")  # only [A-Za-z0-9._-]
    snapshot = Store(DataDir(data_dir)).snapshot()
    stored = Store(DataDir(data_dir)).read_polls(snapshot, date(2023, 1, 22), date(2023, 1, 22))
    assert sorted(stored.get_column("store_id").to_list()) == ["../../escaped", "/etc/passwd"]
