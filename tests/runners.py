"""Running ``storestatus`` commands against one data directory, every command the same way.

- ``invoke``: in this process, through Typer's ``CliRunner`` (fast; most CLI tests).
- ``run_cli``: a real ``python -m storestatus`` process, run to its end.
- ``start_cli``: a real process, returned at once (to kill it, or to run several together).

Each appends ``--data-dir DATA_DIR`` to the arguments, and keeps stdout and stderr apart.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from storestatus.cli import app

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
AS_OF = "2023-01-23 18:00:00 UTC"  # the --as-of of examples/expected_report.csv


@dataclass(frozen=True)
class Result:
    """What a command did: exit code and the two streams, kept apart."""

    exit_code: int
    stdout: str
    stderr: str


Invoke = Callable[..., Result]


def invoke(data_dir: Path, *args: str) -> Result:
    """``storestatus ARGS --data-dir DATA_DIR`` in this process; a crash fails the test."""
    result = CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)])
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


def ingest_examples(data_dir: Path) -> Result:
    """Ingest the three files of ``examples/`` (8 polls of 5 stores on 2023-01-23)."""
    result = invoke(
        data_dir,
        "ingest",
        *("--status", str(EXAMPLES / "store_status.csv")),
        *("--hours", str(EXAMPLES / "business_hours.csv")),
        *("--timezones", str(EXAMPLES / "timezones.csv")),
    )
    assert result.exit_code == 0, result.stderr
    return result


def _command(data_dir: Path, args: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", "storestatus", *args, "--data-dir", str(data_dir)]


def file_size_limit(limit_file_size: int | None) -> Callable[[], None] | None:
    """``limit_file_size`` makes bigger writes fail (EFBIG), as on a full disk."""
    if limit_file_size is None:
        return None
    size = limit_file_size

    def limit() -> None:  # runs in the child, before storestatus starts
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def start_cli(
    data_dir: Path, *args: str, limit_file_size: int | None = None
) -> subprocess.Popen[str]:
    """Start ``storestatus ARGS --data-dir DATA_DIR``, as cron would, and return at once."""
    return subprocess.Popen(
        _command(data_dir, args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=file_size_limit(limit_file_size),  # noqa: PLW1509
    )


def run_cli(
    data_dir: Path, *args: str, limit_file_size: int | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``storestatus ARGS --data-dir DATA_DIR`` in a real process, to its end."""
    return subprocess.run(
        _command(data_dir, args),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        preexec_fn=file_size_limit(limit_file_size),
    )
