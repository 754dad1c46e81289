"""Where the data lives. Import-light on purpose: polling a report must not load Polars."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

DATA_DIR_ENV: Final = "STORESTATUS_DATA_DIR"


@contextmanager
def short_lived_process() -> Iterator[None]:
    """Set up a process that runs one command and exits.

    A command lives for seconds and its data sits in Arrow buffers freed by reference counting.
    The collector would re-scan the ~10^5 objects that the imports create again and again
    (~0.1 s of an ingest), and once more at exit (~0.1 s): run it rarely, and skip it at exit.
    NumPy serves only elementwise kernels here, so its OpenBLAS need not start a thread per core
    (they busy-wait, taking ~0.1 s of CPU from the two cores Polars works on).
    """
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    os.umask(os.umask(0) | 0o002)  # the user's umask, but nothing we create is world-writable
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.freeze()  # the objects left are torn down at exit anyway; do not scan them first


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/storestatus``, else ``~/.local/share/storestatus`` (per user, per XDG)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "storestatus"


@dataclass(frozen=True)
class DataDir:
    """The layout of a data directory: Delta tables, report files and rejected input rows."""

    root: Path

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
    def manifest(self) -> Path:
        """The table versions readers see (see ``storestatus.manifest``)."""
        return self.tables / "manifest.json"

    @property
    def write_lock(self) -> Path:
        """Held exclusively by every writer of the tables (ingest, compact): one at a time."""
        return self.root / "write.lock"

    @property
    def files_lock(self) -> Path:
        """Shared while a report reads table files; exclusive while compact deletes old ones."""
        return self.root / "files.lock"
