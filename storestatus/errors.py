"""The one exception family the core raises; the CLI turns it into a message and an exit code."""

from __future__ import annotations

from typing import Final

EXIT_OK: Final = 0
EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130  # the shell's code for a command ended by Ctrl-C (128 + SIGINT)
# ``stores --silent-for``: some store is silent (a finding, not a failure), so cron can mail on it.
EXIT_SILENT: Final = 3
EXIT_RUNNING: Final = 75  # EX_TEMPFAIL: "try again later", what a poller wants for a running report


class StoreStatusError(Exception):
    """A problem the user can fix; its message is printed as one line."""

    exit_code: int = EXIT_ERROR


class InputError(StoreStatusError):
    """An input file cannot be used as a whole (unreadable, or a required column is missing)."""


class ReportNotFoundError(StoreStatusError):
    """A report id that this data directory never issued."""

    exit_code = EXIT_USAGE


class StoreNotFoundError(StoreStatusError):
    """A store id that no hours, time zone or stored poll names."""

    exit_code = EXIT_USAGE


class StoreError(StoreStatusError):
    """The data directory cannot be read or written."""


class OutputError(StoreStatusError):
    """A file the user asked for cannot be written: a copy of a report, generated data."""


class TooManyStoresError(StoreStatusError, ValueError):
    """More stores than one report can hold (``compute.MAX_STORES``): a one-line error, and
    still the ``ValueError`` that ``compute`` raised before it had a name."""
