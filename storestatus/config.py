"""Where the data lives. Import-light on purpose: polling a report must not load Polars."""

from __future__ import annotations

import gc
import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Final

from storestatus.errors import StoreError

DATA_DIR_ENV: Final = "STORESTATUS_DATA_DIR"


class Terminated(KeyboardInterrupt):
    """SIGTERM (what cron, systemd and ``kill`` send), raised where Ctrl-C raises its
    ``KeyboardInterrupt``: a command then stops the same way, an ingest rolled back."""


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(f"stopped by {signal.Signals(signum).name}")


@contextmanager
def short_lived_process() -> Iterator[None]:
    """Set up a process that runs one command and exits.

    A command lives for seconds and its data sits in Arrow buffers freed by reference counting.
    The collector would re-scan the ~10^5 objects that the imports create again and again
    (~0.1 s of an ingest), and once more at exit (~0.1 s): run it rarely, and skip it at exit.
    NumPy serves only elementwise kernels here, so its OpenBLAS need not start a thread per core
    (they busy-wait, taking ~0.1 s of CPU from the two cores Polars works on).
    SIGTERM raises ``Terminated`` in the main thread, so that it unwinds like Ctrl-C (a writer
    session rolls back and deletes what it wrote) instead of ending the process on the spot.
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.umask(os.umask(0) | 0o002)  # the user's umask, but nothing we create is world-writable
    gc.set_threshold(100_000, 50, 100)
    main = threading.current_thread() is threading.main_thread()  # only it may set handlers
    previous = signal.signal(signal.SIGTERM, _terminate) if main else None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        gc.freeze()  # the objects left are torn down at exit anyway; do not scan them first


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/storestatus``, else ``~/.local/share/storestatus`` (per user, per XDG)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "storestatus"


UPLOAD_LOCK: Final = ".lock"  # in an upload folder: held while its request runs


@dataclass(frozen=True)
class DataDir:
    """The layout of a data directory: Delta tables, report files and rejected input rows."""

    root: Path

    def exists(self) -> bool:
        """Whether this is a data directory (``ingest`` made it): it has a ``tables`` folder."""
        return self.tables.is_dir()

    def require(self) -> None:
        """Fail unless this is a data directory: only ``ingest`` creates one (issue #8).

        A mistyped or relative ``--data-dir`` (cron runs in ``$HOME``) must not quietly give an
        empty store and all-zero reports.
        """
        if self.exists():
            return
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"cannot use the data directory {self.root}: Not a directory")
        raise StoreError(
            f"{self.root} is not a storestatus data directory (it has no tables/): "
            f"run `storestatus ingest --data-dir {self.root} ...` first, "
            "or check --data-dir and STORESTATUS_DATA_DIR"
        )

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def rejects(self) -> Path:
        return self.root / "rejects"

    @property
    def scratch(self) -> Path:
        """Temporary files of running commands (same file system as the tables, not RAM)."""
        return self.root / "tmp"

    @property
    def uploads(self) -> Path:
        """Files a server received for an ingest (issue #12): a folder per request, locked while
        the request runs (``UPLOAD_LOCK`` in it), removed after it (or by ``compact`` if the
        server died)."""
        return self.root / "uploads"

    @property
    def manifest(self) -> Path:
        """The table versions readers see (see ``storestatus.manifest`` and ``session``)."""
        return self.tables / "manifest.json"

    @property
    def write_lock(self) -> Path:
        """Held exclusively by every writer of the tables (ingest, compact): one at a time."""
        return self.root / "write.lock"

    @property
    def files_lock(self) -> Path:
        """Shared while a report reads table files; exclusive while compact deletes old ones."""
        return self.root / "files.lock"
