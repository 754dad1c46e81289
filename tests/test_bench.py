"""The benchmark script of issue #3 runs end to end in its smoke mode.

Only the shape of its output is checked, never a timing: this is not a timed test, and the
verdicts depend on the machine.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    ("C vs A", "report time ratio (linear)"),
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
        ("C vs A", EXPECTED_STEPS[-1][1]),
    }
    targets = [row[-2] for row in rows if (row[0], row[4]) in relative]
    assert len(targets) == len(relative)
    assert all("run alongside" in target for target in targets), targets  # paired with A's
    written = results.read_text()
    assert table_rows(written) == rows
    for field in ("- Date:", "- Machine:", "CPUs", "RAM", "Python", "Polars", "deltalake"):
        assert field in written
    assert "- Command: `" in written
    assert "--quick --all" in written
    assert not workdir.exists()  # removed without --keep


def test_a_quick_run_never_replaces_the_committed_figures() -> None:
    # Issue #8: `bench.py --quick` used to overwrite examples/bench_results.md with toy numbers.
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import bench  # type: ignore[import-not-found]  # noqa: PLC0415
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert bench.parse_settings(["--quick"]).results is None
    assert bench.parse_settings([]).results == SCRIPT.parent / "bench_results.md"
    chosen = SCRIPT.parent / "elsewhere.md"
    assert bench.parse_settings(["--quick", "--results", str(chosen)]).results == chosen
