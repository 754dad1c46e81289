"""Replacing a file so that readers see the old content or the new, never a part of either.

A full disk, a kill or a power cut in the middle of a write must leave the previous file as it
was (issue #8: a truncated ``latest.csv`` replaced the good one). So the new content goes to a
temporary file beside the target (same file system, so the rename is atomic), is flushed to
disk, and only then renamed over the target; the directory entry is flushed too.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


@contextmanager
def replacing(target: Path) -> Iterator[IO[bytes]]:
    """Write the new content of ``target`` to the yielded file; it replaces ``target`` on exit.

    If the block fails, the temporary file is removed and ``target`` is untouched.

    Raises
    ------
    OSError
        The temporary file cannot be written or renamed (the caller says what it was for).
    """
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, before the rename)
        dir=target.parent, prefix=f".{target.name}.", suffix=".tmp", delete=False
    )
    temporary = Path(handle.name)
    try:
        with handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes 0600; the target gets the usual
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_directory(target.parent)


def write_atomically(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data``, durably and atomically (see ``replacing``)."""
    with replacing(target) as handle:
        handle.write(data)


def copy_atomically(source: Path, target: Path) -> None:
    """Replace ``target`` with a copy of ``source``, durably and atomically."""
    with source.open("rb") as original, replacing(target) as handle:
        shutil.copyfileobj(original, handle)


def _sync_directory(directory: Path) -> None:
    """Flush a directory's entries, so that a rename survives a power cut."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
