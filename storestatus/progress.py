"""Signs of life for long work: what the core reports, and how a terminal shows it (issue #10).

The core reports steps through a ``Progress`` it is given and never knows who watches; under
cron (no terminal) or with ``--quiet`` it is given ``SILENT`` and nothing extra is printed. On a
terminal the CLI gives it ``TerminalProgress``: a rich spinner with the current step, a count
and, when the total is known, a bar. Rich is imported only then.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Final, Protocol, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID


class Progress(Protocol):
    """Where long work says what it is doing."""

    def step(self, description: str, *, total: int | None = None, unit: str = "") -> None:
        """A new step begins; ``total`` (in ``unit``s) if known."""

    def advance(self, amount: int = 1) -> None:
        """Some of the current step is done."""


class _Silent:
    """Progress nobody watches."""

    def step(self, description: str, *, total: int | None = None, unit: str = "") -> None:
        pass

    def advance(self, amount: int = 1) -> None:
        pass


SILENT: Final[Progress] = _Silent()


class TerminalProgress:
    """Progress on a terminal: one line, replaced step by step, gone when the work ends.

    Nothing is drawn until the first step, so a command that fails or waits before doing any
    work (e.g. for another writer's lock) shows exactly what it would without it.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._display: RichProgress | None = None
        self._task: TaskID | None = None
        self._done, self._unit = 0, ""
        self._total: int | None = None

    def step(self, description: str, *, total: int | None = None, unit: str = "") -> None:
        display = self._started()
        if self._task is not None:
            display.remove_task(self._task)
        self._done, self._total, self._unit = 0, total, unit
        self._task = display.add_task(description, total=total, count="")

    def advance(self, amount: int = 1) -> None:
        if self._display is None or self._task is None:
            return
        self._done += amount
        of = "" if self._total is None else f" of {self._total:,}"
        count = f"{self._done:,}{of} {self._unit}".rstrip()
        self._display.update(self._task, advance=amount, count=count)

    def say(self, line: str) -> None:
        """A line for the person, above the progress line if one is shown."""
        if self._display is None:
            self._stream.write(f"{line}\n")
            self._stream.flush()
        else:
            self._display.console.print(line, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        """Remove the progress line (the summary that follows is printed as without it)."""
        if self._display is not None:
            self._display.stop()
            self._display = None

    def _started(self) -> RichProgress:
        if self._display is None:
            from rich.console import Console  # noqa: PLC0415
            from rich.progress import (  # noqa: PLC0415
                BarColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._display = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),  # a bar when the total is known, a pulse when not
                TextColumn("{task.fields[count]}"),
                TimeElapsedColumn(),
                console=Console(file=self._stream),
                transient=True,
            )
            self._display.start()
        return self._display


@contextmanager
def progress_on(descriptor: int, *, enabled: bool = True) -> Iterator[Progress]:
    """A ``TerminalProgress`` drawn on ``descriptor`` if it is a terminal and ``enabled``,
    else ``SILENT``."""
    if not enabled or not os.isatty(descriptor):
        yield SILENT
        return
    with os.fdopen(os.dup(descriptor), "w") as stream:
        progress = TerminalProgress(stream)
        try:
            yield progress
        finally:
            progress.close()
