"""What a command did, as a value; one renderer turns it into output and an exit code.

No command prints its result or picks its exit code on its own, so none can drop a failure on
the floor again (issue #8: ``trigger-report --wait`` exited 0 for a failed report). pipx's
``OperationResult`` and ``render_result`` are the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import typer

from storestatus.errors import EXIT_OK


@dataclass(frozen=True)
class Outcome:
    """Lines for stdout and stderr, and the exit code.

    ``data`` is what scripts read (an id, a state, a path): always printed. ``summary`` is what a
    person reads on stdout (what an ingest stored): ``--quiet`` drops it, so that cron mails only
    when something is wrong. ``messages`` go to stderr whatever ``--quiet`` says: warnings and
    failures are exactly what cron should mail.
    """

    data: tuple[str, ...] = ()
    summary: tuple[str, ...] = ()
    messages: tuple[str, ...] = ()
    exit_code: int = EXIT_OK


def render_outcome(outcome: Outcome, *, quiet: bool = False) -> None:
    """Print an outcome and end the command with its exit code."""
    for line in outcome.data:
        typer.echo(line)
    if not quiet:
        for line in outcome.summary:
            typer.echo(line)
    for line in outcome.messages:
        typer.echo(line, err=True)
    raise typer.Exit(outcome.exit_code)
