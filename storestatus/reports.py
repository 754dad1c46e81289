"""Report lifecycle: trigger, compute in a background process, poll.

Each report is three files in ``<data>/reports``: ``<id>.json`` (its status record), ``<id>.csv``
(only once complete; written to a temporary name and renamed, so a partial CSV is never served)
and ``<id>.lock``. The process computing a report holds an exclusive ``flock`` on the lock file
for its whole life; the kernel drops it when the process dies, however it dies. So a poller that
can take the lock while the record still says Running knows the worker is gone, and reports
Failed instead of Running forever. No server, no pid files, no pid reuse races.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from storestatus.config import DataDir
from storestatus.durable import replacing, write_atomically
from storestatus.durations import format_duration, parse_duration
from storestatus.errors import ReportNotFoundError, StoreError
from storestatus.locks import LockTimeoutError, file_lock
from storestatus.progress import SILENT, Progress
from storestatus.vocabulary import Interpolation, ReportState

_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16)
_DIED: Final = "the report process exited before finishing (killed or crashed)"


def new_report_id() -> str:
    """A random URL-safe id that never starts with ``-``, which a CLI would read as an option."""
    while True:
        report_id = secrets.token_urlsafe(16)
        if not report_id.startswith("-"):
            return report_id


@dataclass(frozen=True)
class ReportRecord:
    """The status record kept next to a report's CSV."""

    report_id: str
    state: ReportState
    interpolation: Interpolation
    as_of: str | None  # as requested; None: the latest poll in the store
    created_at: str
    worker_pid: int | None = None  # the process computing it, once it has started
    finished_at: str | None = None
    now: str | None = None  # the reference instant actually used
    table_versions: dict[str, int | None] = field(default_factory=dict)
    rows: int | None = None
    error: str | None = None
    polls_in_window: int | None = None  # candidate polls the report counted from
    stores_polled: int | None = None  # stores with at least one of them
    warnings: list[str] = field(default_factory=list)  # e.g. no polls in the window
    detail: bool = False  # the detail columns were asked for (issue #9)
    max_gap: str | None = None  # e.g. "1h30m" (``timestamps.format_duration``); None: no limit
    # How it ran (issue #11): shards as asked (None: automatic), then as computed; the Dask
    # scheduler's address (None: the report's own process); what the shards read, per table.
    shards: int | None = None
    scheduler: str | None = None
    reads: dict[str, dict[str, int]] = field(default_factory=dict)


def _utc_now() -> str:
    return datetime.now(UTC).isoformat()


class ReportFiles:
    """Paths and atomic record I/O for the reports of one data directory."""

    def __init__(self, data_dir: DataDir) -> None:
        self.folder = data_dir.reports

    def unknown(self, report_id: str) -> ReportNotFoundError:
        """The error for an id this data directory never issued, naming where we looked."""
        return ReportNotFoundError(f"unknown report id {report_id!r} in {self.folder}")

    def path(self, report_id: str, suffix: str) -> Path:
        """Path of one of a report's files; only for ids of our own format."""
        if not _ID_PATTERN.fullmatch(report_id):
            raise self.unknown(report_id)
        return self.folder / f"{report_id}{suffix}"

    def write(self, record: ReportRecord) -> None:
        """Replace the record atomically and durably."""
        target = self.path(record.report_id, ".json")
        try:
            write_atomically(target, (json.dumps(asdict(record), indent=2) + "\n").encode())
        except OSError as error:
            raise StoreError(f"cannot write report record {target}: {error}") from error

    def read(self, report_id: str) -> ReportRecord:
        """The record of a report this data directory issued."""
        path = self.path(report_id, ".json")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return ReportRecord(**data)
        except FileNotFoundError:
            raise self.unknown(report_id) from None
        except (OSError, ValueError, TypeError) as error:
            raise StoreError(f"cannot read report record {path}: {error}") from error

    @contextmanager
    def hold_lock(self, report_id: str, *, wait: bool) -> Iterator[int | None]:
        """Hold the report's lock; yields its file descriptor, or None if another holds it."""
        with ExitStack() as held:
            try:
                descriptor: int | None = held.enter_context(
                    file_lock(self.path(report_id, ".lock"), timeout=None if wait else 0)
                )
            except LockTimeoutError:
                descriptor = None
            except OSError as error:
                raise StoreError(f"cannot write report files in {self.folder}: {error}") from error
            yield descriptor


def trigger_report(
    data_dir: DataDir,
    *,
    as_of: datetime | None = None,
    interpolation: Interpolation = "nearest",
    detail: bool = False,
    max_gap: timedelta | None = None,
    shards: int | None = None,
    scheduler: str | None = None,
    wait: bool = False,
    progress: Progress = SILENT,
) -> str:
    """Start a report and return its id: computed by a detached worker, or here if ``wait``.

    The report's lock is taken before its Running record exists and is handed to the worker, so
    there is no moment at which the record says Running while nobody holds the lock.
    """
    data_dir.require()
    files = ReportFiles(data_dir)
    try:
        files.folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(f"cannot create {files.folder}: {error}") from error
    report_id = new_report_id()
    record = ReportRecord(
        report_id=report_id,
        state="Running",
        interpolation=interpolation,
        as_of=None if as_of is None else as_of.isoformat(),
        created_at=_utc_now(),
        detail=detail,
        max_gap=None if max_gap is None else format_duration(max_gap),
        shards=shards,
        scheduler=scheduler,
    )
    with files.hold_lock(report_id, wait=True) as descriptor:
        assert descriptor is not None
        files.write(record)
        if wait:
            run_report(data_dir, report_id, progress=progress)
        else:
            _start_worker(data_dir, report_id, descriptor)
    return report_id


def _start_worker(data_dir: DataDir, report_id: str, lock_descriptor: int) -> None:
    """Start ``storestatus.worker`` detached, inheriting the lock; its output goes to a log."""
    log = ReportFiles(data_dir).path(report_id, ".log")
    try:
        with log.open("wb") as log_file:
            subprocess.Popen(
                [sys.executable, "-m", "storestatus.worker", str(data_dir.root), report_id],
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=log_file,
                pass_fds=(lock_descriptor,),
                start_new_session=True,  # outlives the terminal or cron job that triggered it
            )
    except OSError as error:
        raise StoreError(f"cannot start the report process: {error}") from error


def run_report(data_dir: DataDir, report_id: str, *, progress: Progress = SILENT) -> ReportRecord:
    """Compute a Running report and record the outcome (Complete or Failed); a sharded one
    reports its shards to ``progress``."""
    files = ReportFiles(data_dir)
    record = files.read(report_id)
    try:  # from the first step: a SIGTERM or an import error too must end as Failed
        # Imported here: the poll side (get-report) should not pay for Polars.
        from storestatus.service import compute_from_store  # noqa: PLC0415
        from storestatus.store import Store  # noqa: PLC0415

        record = replace(record, worker_pid=os.getpid())
        files.write(record)
        as_of = None if record.as_of is None else datetime.fromisoformat(record.as_of)
        max_gap = None if record.max_gap is None else parse_duration(record.max_gap)
        parts = files.path(report_id, ".parts.tmp")  # removed below, or by ``compact``
        try:
            result = compute_from_store(
                Store(data_dir),
                as_of=as_of,
                interpolation=record.interpolation,
                detail=record.detail,
                max_gap=max_gap,
                shards=record.shards,
                scheduler=record.scheduler,
                parts=parts,
                progress=progress,
            )
        finally:
            shutil.rmtree(parts, ignore_errors=True)
        csv_path = files.path(report_id, ".csv")
        with replacing(csv_path) as handle:
            result.report.write_csv(handle, float_precision=2)
        finished = replace(
            record,
            state="Complete",
            finished_at=_utc_now(),
            now=result.now.isoformat(),
            table_versions=result.snapshot.versions,
            rows=result.report.height,
            polls_in_window=result.polls_in_window,
            stores_polled=result.stores_polled,
            warnings=list(result.warnings),
            shards=result.shards,
            reads={table: asdict(stats) for table, stats in result.reads.items()},
        )
    except (Exception, KeyboardInterrupt) as error:
        # Any failure, expected or not, must end as Failed with a reason, never Running; so must
        # a worker stopped by SIGTERM or Ctrl-C (``short_lived_process`` raises those).
        if isinstance(error, KeyboardInterrupt):
            reason = "the report process was stopped (SIGTERM or Ctrl-C)"
        else:
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        finished = replace(record, state="Failed", finished_at=_utc_now(), error=reason)
    files.write(finished)
    return finished


def report_status(data_dir: DataDir, report_id: str) -> ReportRecord:
    """The report's record; a Running report whose process is gone is marked Failed."""
    data_dir.require()
    files = ReportFiles(data_dir)
    record = files.read(report_id)
    if record.state != "Running":
        return record
    with files.hold_lock(report_id, wait=False) as descriptor:
        if descriptor is None:
            return record  # the worker holds the lock: really running
        record = files.read(report_id)  # it may have finished just before we took the lock
        if record.state == "Running":
            reason = _DIED + _last_log_line(files.path(report_id, ".log"))
            record = replace(record, state="Failed", finished_at=_utc_now(), error=reason)
            files.write(record)
    return record


def _last_log_line(log: Path) -> str:
    """The worker's last words, if it left any (e.g. an import error), to explain a death."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return f": {lines[-1]}" if lines else ""


def recent_reports(data_dir: DataDir, *, limit: int = 20) -> list[ReportRecord]:
    """The ``limit`` reports of this data directory updated last, newest first by creation.

    Picked by the records' modification times (a record is rewritten when its report ends), so
    about ``limit`` records are read however many reports the folder holds; a Running one whose
    process is gone is marked Failed, as ``get-report`` would. Files that are not a record of
    ours (another name, unreadable) are skipped: a listing must not fail because of one.
    """
    data_dir.require()
    files = ReportFiles(data_dir)
    try:
        entries = [
            (entry.stat().st_mtime, entry.name.removesuffix(".json"))
            for entry in os.scandir(files.folder)
            if entry.name.endswith(".json") and _ID_PATTERN.fullmatch(entry.name[:-5])
        ]
    except FileNotFoundError:
        return []
    except OSError as error:
        raise StoreError(f"cannot list the reports in {files.folder}: {error}") from error
    records: list[ReportRecord] = []
    for _, report_id in sorted(entries, reverse=True):
        if len(records) >= limit:
            break
        try:
            records.append(report_status(data_dir, report_id))
        except (StoreError, ReportNotFoundError):  # damaged, or removed meanwhile: skipped
            continue
    return sorted(records, key=lambda record: record.created_at, reverse=True)


def running_time(record: ReportRecord) -> timedelta | None:
    """How long a finished report took, from its trigger to its end (None: still running)."""
    if record.finished_at is None:
        return None
    return datetime.fromisoformat(record.finished_at) - datetime.fromisoformat(record.created_at)


def record_summary(record: ReportRecord) -> dict[str, object]:
    """A report's record as ``storestatus reports --format json`` and ``GET /reports`` show it:
    ``status`` for the state, the run's ``seconds``; the readers' internal figures left out."""
    took = running_time(record)
    shown = asdict(record)
    for internal in ("reads", "worker_pid", "table_versions"):
        shown.pop(internal, None)
    shown["status"] = shown.pop("state")
    shown["seconds"] = None if took is None else round(took.total_seconds(), 3)
    return shown


def report_csv(data_dir: DataDir, report_id: str) -> Path:
    """Path of a report's CSV (exists once the report is Complete)."""
    return ReportFiles(data_dir).path(report_id, ".csv")
