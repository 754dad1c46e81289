"""The README stays true: every command documented, every command with help and an example."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from storestatus.cli import app
from storestatus.schemas import REPORT_COLUMNS

README = (Path(__file__).parent.parent / "README.md").read_text()
COMMANDS = sorted(get_command(app).commands)  # type: ignore[attr-defined]


def test_there_are_the_ten_commands() -> None:
    assert COMMANDS == [
        "compact",
        "demo",
        "explain",
        "generate",
        "get-report",
        "ingest",
        "reports",
        "serve",
        "stores",
        "trigger-report",
    ]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_in_the_readme_with_help(command: str) -> None:
    assert f"### `storestatus {command}" in README
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout


def test_readme_states_the_exact_header() -> None:
    assert ",".join(REPORT_COLUMNS) in README


def test_quick_start_test_command_is_what_ci_runs() -> None:
    ci = (Path(__file__).parent.parent / ".ci" / "run").read_text()
    quick_start = re.search(r"```sh\n(.*?)\n(.*?)\n```", README)
    assert quick_start is not None
    assert quick_start.group(2) in ci


@pytest.mark.parametrize("command", COMMANDS)
def test_every_option_is_in_the_readme(command: str) -> None:
    options = get_command(app).commands[command].params  # type: ignore[attr-defined]
    names = [name for option in options for name in option.opts if name.startswith("--")]
    missing = [
        name for name in names if name != "--help" and not re.search(rf"{name}(?![\w-])", README)
    ]
    assert not missing, f"{command}: {missing} not documented"


def test_cron_lines_work_under_crons_path_and_stay_quiet() -> None:
    # Issue #8: cron's PATH has no virtualenv, and a summary every hour means a mail every hour.
    cron = README.split("```cron\n", 1)[1].split("```", 1)[0]
    variables = dict(
        line.split("=", 1) for line in cron.splitlines() if re.match(r"^[A-Z_]+=", line)
    )
    assert variables["SS"].startswith("/")
    assert variables["STORESTATUS_DATA_DIR"].startswith("/")
    jobs = [line for line in cron.splitlines() if line and line[0] in "0123456789*"]
    commands = [part for job in jobs for part in job.split("$SS ")[1:]]
    assert len(commands) == 6
    assert "storestatus " not in " ".join(jobs)  # never by bare name
    for command in commands:
        if command.startswith(("ingest", "compact")):
            assert "--quiet" in command, command
