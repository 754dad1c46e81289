"""The benchmark script of issues #3 and #11 runs end to end in its smoke mode.

Only the shape of its output is checked, never a timing: this is not a timed test, and the
verdicts depend on the machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import cast

import pytest

SCRIPT = Path(__file__).parent.parent / "examples" / "bench.py"
EXPECTED_STEPS = [
    ("A", "ingest (empty store)"),
    ("A", "report"),
    ("A", "report --detail --max-gap 2h"),
    ("A", "stores"),
    ("A", "stores --silent-for 3h"),
    ("A", "explain STORE"),
    ("A", "explain STORE --json"),
    ("B", "hourly ingest"),
    ("B", "report"),
    ("B2", "hourly ingest, before compact"),
    ("B2", "report, before compact"),
    ("B2", "compact"),
    ("B2", "hourly ingest, after compact"),
    ("B2", "report, after compact"),
    ("C", "ingest (empty store)"),
    ("C", "report"),
    ("C", "report --shards 1"),
    ("C vs A", "report time ratio (linear)"),
    ("C sharded vs single", "report time ratio (paired)"),
    ("C sharded vs single", "report peak RSS ratio (paired)"),
    ("D", "build (straight into the tables)"),
    ("D", "report"),
    ("D vs C", "report cost per poll"),
]


def table_rows(markdown: str) -> list[list[str]]:
    """The cells of the markdown table's body rows."""
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in markdown.splitlines()
        if line.startswith("|")
    ]
    assert rows[0][:2] == ["scenario", "stores"], rows[0]
    return rows[2:]


@pytest.mark.slow
def test_quick_run_prints_every_row_and_writes_the_machine_header(tmp_path: Path) -> None:
    results = tmp_path / "results.md"
    workdir = tmp_path / "work"
    options = ["--quick", "--all", "--results", str(results), "--workdir", str(workdir)]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *options],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr

    rows = table_rows(done.stdout)
    assert [(row[0], row[4]) for row in rows] == EXPECTED_STEPS
    assert {row[-1] for row in rows} <= {"PASS", "FAIL", "info", "n/a"}
    relative = {
        ("A", "report --detail --max-gap 2h"),
        ("B", "report"),
        ("B2", "report, after compact"),
        ("C vs A", "report time ratio (linear)"),
        ("C sharded vs single", "report time ratio (paired)"),
        ("C sharded vs single", "report peak RSS ratio (paired)"),
    }
    targets = [row[-2] for row in rows if (row[0], row[4]) in relative]
    assert len(targets) == len(relative)
    assert all("run alongside" in target for target in targets), targets  # paired runs
    by_step = {(row[0], row[4]): row for row in rows}
    assert "C's sharded report" in by_step["D vs C", "report cost per poll"][-2]  # C ran: judged
    assert by_step["D", "build (straight into the tables)"][-1] == "info"  # untimed
    written = results.read_text()
    assert table_rows(written) == rows
    for field in ("- Date:", "- Machine:", "CPUs", "RAM", "Python", "Polars", "deltalake"):
        assert field in written
    assert "- Command: `" in written
    assert "--quick --all" in written
    assert "D's store was built without CSV" in written
    assert "D report (automatic shards, 200 stores) ran in shards: 1;" in written
    assert not workdir.exists()  # removed without --keep


def load_bench() -> ModuleType:
    """The script as a module (its folder is no package)."""
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import bench  # type: ignore[import-not-found]  # noqa: PLC0415
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return cast(ModuleType, bench)


def test_a_quick_run_never_replaces_the_committed_figures() -> None:
    # Issue #8: `bench.py --quick` used to overwrite examples/bench_results.md with toy numbers.
    bench = load_bench()
    assert bench.parse_settings(["--quick"]).results is None
    assert bench.parse_settings([]).results == SCRIPT.parent / "bench_results.md"
    chosen = SCRIPT.parent / "elsewhere.md"
    assert bench.parse_settings(["--quick", "--results", str(chosen)]).results == chosen


def test_d_runs_only_when_asked_and_takes_its_own_size() -> None:
    bench = load_bench()
    assert "D" not in bench.parse_settings([]).scenarios  # a million stores: never by default
    assert bench.parse_settings(["--all"]).scenarios[-2:] == ("C", "D")  # D's ratio needs C
    settings = bench.parse_settings(["--only", "d", "--stores-d", "30000", "--runs-d", "2"])
    assert (settings.scenarios, settings.sizes.stores_d, settings.runs_d) == (("D",), 30_000, 2)
    assert bench.parse_settings([]).sizes.stores_d == 1_000_000
