"""Advisory file locks that coordinate storestatus processes sharing one data directory.

``flock`` locks belong to an open file, so the kernel releases them when a process dies, however
it dies: a killed ingest never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

_POLL_SECONDS: Final = 0.05  # how often a bounded wait retries a busy lock


class LockTimeoutError(Exception):
    """A lock stayed busy for the whole wait (not an ``OSError``: the directory itself is fine)."""

    def __init__(self, path: Path, waited: float) -> None:
        super().__init__(f"{path} is still locked after {waited:g} s")
        self.path = path
        self.waited = waited


@contextmanager
def file_lock(
    path: Path,
    *,
    shared: bool = False,
    timeout: float | None = None,
    on_busy: Callable[[], None] | None = None,
) -> Iterator[int]:
    """Wait for and hold a lock on ``path`` (created if missing): shared, or exclusive.

    If the lock is busy, ``on_busy`` is called once (so that a command can say why it waits), then
    the wait lasts at most ``timeout`` seconds (None: as long as it takes) before
    ``LockTimeoutError``. Yields the lock file's descriptor.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        if not _try_lock(descriptor, mode):
            if on_busy is not None and (timeout is None or timeout > 0):
                on_busy()
            if timeout is None:
                fcntl.flock(descriptor, mode)
            else:
                _poll_lock(path, descriptor, mode, timeout)
        yield descriptor
    finally:
        os.close(descriptor)


def _try_lock(descriptor: int, mode: int) -> bool:
    try:
        fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _poll_lock(path: Path, descriptor: int, mode: int, timeout: float) -> None:
    """Retry until the lock is ours or ``timeout`` seconds have passed (flock has no timeout)."""
    deadline = time.monotonic() + timeout
    while not _try_lock(descriptor, mode):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise LockTimeoutError(path, timeout)
        time.sleep(min(_POLL_SECONDS, remaining))


@dataclass(frozen=True)
class WriterInfo:
    """Who holds a writer lock, so that a command waiting for it can say whom it waits for."""

    pid: int
    command: str  # e.g. ingest or compact
    since: datetime  # UTC, when it took the lock

    def describe(self) -> str:
        """E.g. ``pid 1234 (ingest, since 2026-11-29 18:30:02 UTC)``."""
        since = self.since.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return f"pid {self.pid} ({self.command}, since {since})"


@contextmanager
def writer_lock(
    path: Path,
    *,
    timeout: float | None = None,
    on_wait: Callable[[WriterInfo | None], None] | None = None,
) -> Iterator[None]:
    """Hold ``path`` exclusively and record this process in it as the holder (see ``file_lock``).

    ``on_wait`` is told who holds the lock (None: unknown) if this process has to wait for it.
    The record is cleared on release; one left by a process that died is ignored by
    ``read_writer``, which checks that its pid is alive.
    """
    busy = None if on_wait is None else (lambda: on_wait(read_writer(path)))
    with file_lock(path, timeout=timeout, on_busy=busy) as descriptor:
        info = WriterInfo(os.getpid(), _command(sys.argv), datetime.now(UTC).replace(microsecond=0))
        record = json.dumps(
            {"pid": info.pid, "command": info.command, "since": info.since.isoformat()}
        ).encode()
        # Written in place, not renamed: the lock belongs to this very file. A reader that
        # catches it half-written just does not learn who holds it.
        os.pwrite(descriptor, record + b"\n", 0)
        os.ftruncate(descriptor, len(record) + 1)
        try:
            yield
        finally:
            with suppress(OSError):  # must not hide what ended the block
                os.ftruncate(descriptor, 0)


def read_writer(path: Path) -> WriterInfo | None:
    """The live process recorded as holding the writer lock ``path``; None if unknown or dead."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        info = WriterInfo(
            int(data["pid"]), str(data["command"]), datetime.fromisoformat(data["since"])
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(info.pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # it exists, as another user
    return info


def _command(argv: list[str]) -> str:
    """What this process is, for people: the storestatus command (``ingest``), else the program."""
    program = Path(argv[0]).name if argv else ""
    if program in ("storestatus", "__main__.py"):
        return next((arg for arg in argv[1:] if not arg.startswith("-")), "storestatus")
    if program in ("-c", ""):
        return "python -c" if program else "python"
    return program
