"""Long work shows progress on a terminal and nothing extra under cron (issue #10, item 9).

The commands run as real processes with stderr on a pseudo-terminal, as a person sees them.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_terminal(*args: str) -> tuple[int, str, str]:
    """Run ``storestatus ARGS`` with stderr on a pseudo-terminal: exit code, stdout, and what
    the terminal showed (escape codes removed)."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "storestatus", *args],
            stdout=subprocess.PIPE,
            stderr=terminal,
            stdin=subprocess.DEVNULL,
        )
        os.close(terminal)
        shown = bytearray()
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the process closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        stdout, _ = process.communicate(timeout=120)
    finally:
        os.close(controller)
    return process.returncode, stdout.decode(), _ANSI.sub("", shown.decode(errors="replace"))


def test_ingest_shows_its_steps_on_a_terminal_and_prints_the_same_summary(
    tmp_path: Path,
) -> None:
    data = str(tmp_path / "data")
    status = str(EXAMPLES / "store_status.csv")
    code, stdout, shown = run_on_terminal("ingest", "--status", status, "--data-dir", data)
    assert code == 0, shown
    assert "reading store_status.csv" in shown
    assert "storing store_status.csv" in shown
    assert stdout.startswith(f"status {status}: ")  # the summary, exactly as without a terminal
    assert "new polls" in stdout


@pytest.mark.parametrize("quiet", [True, False])
def test_nothing_extra_with_quiet_or_without_a_terminal(tmp_path: Path, quiet: bool) -> None:
    data = str(tmp_path / "data")
    status = str(EXAMPLES / "store_status.csv")
    args = ["ingest", "--status", status, "--data-dir", data, *(["--quiet"] if quiet else [])]
    if quiet:
        code, stdout, shown = run_on_terminal(*args)
        assert (code, stdout) == (0, "")
        assert "reading" not in shown
        assert "storing" not in shown
    else:  # stderr is a pipe, as under cron
        done = subprocess.run(
            [sys.executable, "-m", "storestatus", *args],
            check=False,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0
        assert done.stderr == f"created the data directory {data}\n"  # and no progress


def test_a_foreground_report_shows_a_spinner(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    status = str(EXAMPLES / "store_status.csv")
    code, _, _ = run_on_terminal("ingest", "--status", status, "--data-dir", data, "--quiet")
    assert code == 0
    code, stdout, shown = run_on_terminal("trigger-report", "--wait", "--data-dir", data)
    assert code == 0, shown
    assert "computing the report" in shown
    assert len(stdout.split()) == 1  # the id alone on stdout
