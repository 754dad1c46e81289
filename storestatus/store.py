"""The data directory: four Delta Lake tables (Parquet + a transaction log) and report files.

Delta gives what a cron job needs for free: every write is one atomic commit, a reader pins one
table version and sees exactly it, and other engines (Spark, DuckDB, Trino) read the same tables.
Status polls are partitioned by UTC date so a report reads only the days it needs; a small
registry of the stores ever polled lets it list a store that went dark without reading history.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final
from urllib.parse import unquote, urlparse

import polars as pl
from deltalake import ColumnProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError

from storestatus.config import DataDir
from storestatus.durable import replacing
from storestatus.errors import InputError, StoreError, StoreStatusError
from storestatus.locks import LockTimeoutError, WriterInfo, file_lock, read_writer, writer_lock
from storestatus.manifest import Manifest, read_manifest, write_manifest
from storestatus.reports import ReportFiles
from storestatus.schemas import (
    DAY,
    DEFAULT_TIMEZONE,
    END,
    FIRST_POLL,
    HOURS_SCHEMA,
    LAST_POLL,
    OBSERVATIONS_SCHEMA,
    POLLS_STORED,
    REASON,
    START,
    STATUS,
    STORE_ID,
    TIMESTAMP,
    TIMEZONES_SCHEMA,
    UTC_MICROS,
)

POLL_DATE: Final = "poll_date"  # partition column of the status table: UTC date of the poll
# Temporary files of a report (see ``reports``): ``.ID.csv.XXXX.tmp``, or ``ID.json.tmp`` of old.
_REPORT_TEMPORARY: Final = re.compile(r"\.?([A-Za-z0-9_-]{22})\.(?:csv|json)(?:\.[^.]+)?\.tmp")
_TIME_TEXT: Final = "%H:%M:%S%.6f"  # Delta has no time-of-day type; times are stored as text

STATUS_TABLE: Final = "status"
HOURS_TABLE: Final = "business_hours"
TIMEZONES_TABLE: Final = "timezones"
# One row per store with a stored poll. Written by the writers, in their session, so it is
# published and rolled back with the status table; a store written before it has none (None).
STORES_TABLE: Final = "stores"
TABLES: Final = (STATUS_TABLE, HOURS_TABLE, TIMEZONES_TABLE, STORES_TABLE)

STORES_SCHEMA: Final = pl.Schema(
    {STORE_ID: pl.String(), FIRST_POLL: UTC_MICROS, LAST_POLL: UTC_MICROS, POLLS_STORED: pl.Int64()}
)

# How status polls are encoded in Parquet. Timestamps are all distinct and nearly sorted, so a
# dictionary only costs time; delta encoding makes them ~2x smaller than the default. Min/max
# statistics of ids and statuses skip nothing for us (we prune by date partition) but cost a
# string comparison per poll. Together: the A ingest writes 1.8 M polls in ~0.22 s, not ~0.4 s.
_STATUS_WRITER: Final = WriterProperties(
    column_properties={
        TIMESTAMP: ColumnProperties(dictionary_enabled=False, encoding="DELTA_BINARY_PACKED"),
        STORE_ID: ColumnProperties(statistics_enabled="NONE"),
        STATUS: ColumnProperties(statistics_enabled="NONE"),
    }
)


@dataclass(frozen=True)
class StatusWrite:
    """What an upsert of polls did to the status table."""

    inserted: int
    changed: int  # existing key, new status: replaced
    unchanged: int  # existing key, same status: nothing to do
    version: int | None  # None: the table does not exist (nothing was ever stored)


@dataclass(frozen=True)
class Compaction:
    """What ``compact`` did."""

    dropped_polls: int  # older than the retention
    files_before: int  # data files in the current versions of the tables
    files_after: int
    deleted_files: int  # unreferenced files removed from disk
    stored_polls: int  # before compact
    cutoff: date | None  # polls of earlier UTC dates were dropped (None: no retention)
    dropped_future: int  # stamped after ``not_after``: removed, and kept in ``rejects_file``
    rejects_file: Path | None
    leftover_report_files: int  # temporary files of reports that died
    leftover_manifest_files: int  # half-written manifests of writers that died
    leftover_scratch: int  # entries of the scratch folder (spill files of dead ingests)


@dataclass(frozen=True)
class _Drop:
    """What ``compact`` would drop from the status table, counted before anything changes."""

    stored: int  # polls in the table
    newest: date | None  # date of the newest poll at or before ``not_after``
    cutoff: date | None  # polls of earlier UTC dates are beyond the retention
    old: int  # polls before ``cutoff``
    future: pl.DataFrame  # polls stamped after ``not_after``
    not_after: datetime | None

    @property
    def polls(self) -> int:
        return self.old + self.future.height


@dataclass(frozen=True)
class Snapshot:
    """One version of each table (None: the table does not exist yet), read consistently."""

    versions: dict[str, int | None]


@dataclass(frozen=True)
class _SnapshotChange:
    """How a snapshot replacement is checked and explained (see ``Store._check_snapshot``)."""

    kind: str  # the input file's kind, as messages name it
    missing_stores_would: str  # what a store missing from the snapshot would do
    allow_shrink: bool
    rejected: int  # rejected rows of the file


def _registry_rows(polls: pl.LazyFrame) -> pl.LazyFrame:
    """The stores table's rows for some polls: first and last poll, and how many, per store.

    Grouped on the ids cast to Categorical, i.e. on an integer code per distinct id: the A
    ingest's 1.8 M polls of 14,000 stores then take about a third less CPU than grouped on the
    strings themselves (one single-threaded lookup per poll instead of a parallel hash table of
    strings). The ids come back as strings: the rows are the same.
    """
    return (
        polls.group_by(pl.col(STORE_ID).cast(pl.Categorical))
        .agg(
            pl.col(TIMESTAMP).min().alias(FIRST_POLL),
            pl.col(TIMESTAMP).max().alias(LAST_POLL),
            pl.len().cast(pl.Int64).alias(POLLS_STORED),
        )
        .with_columns(pl.col(STORE_ID).cast(pl.String))
    )


def _per_store(rows: pl.DataFrame) -> pl.DataFrame:
    """Stores table rows merged to one per store (their polls are disjoint: counts add up)."""
    return rows.group_by(STORE_ID).agg(
        pl.col(FIRST_POLL).min(), pl.col(LAST_POLL).max(), pl.col(POLLS_STORED).sum()
    )


def _stores(count: int) -> str:
    return f"{count:,} store{'' if count == 1 else 's'}"


@dataclass
class _Session:
    """A writer session: what a failure rolls back to, and the versions committed so far."""

    token: str
    start: dict[str, int | None]
    current: dict[str, int | None]
    new_polls: list[pl.DataFrame] = field(default_factory=list)  # per store, for the registry


def _refusal(drop: _Drop, retain_days: int | None) -> str | None:
    """Why ``compact`` refuses to drop what it counted (more than half the polls), if it does."""
    if drop.polls * 2 <= drop.stored:
        return None
    parts = []
    if drop.old:
        parts.append(
            f"{drop.old:,} of UTC dates before {drop.cutoff} "
            f"({retain_days} days before {drop.newest}, the newest poll's date)"
        )
    if drop.future.height:
        parts.append(f"{drop.future.height:,} stamped after {drop.not_after:%Y-%m-%d %H:%M:%S} UTC")
    return (
        f"compact would drop {drop.polls:,} of {drop.stored:,} polls "
        f"({100 * drop.polls / drop.stored:.0f} %): {' and '.join(parts)}; nothing was changed; "
        "to drop them anyway, add --force"
    )


def _relative(location: str) -> str | None:
    """A data file's path as a commit names it, relative to its table's folder; None if it is
    absolute (Delta allows that; we never write one)."""
    if urlparse(location).scheme or location.startswith("/"):
        return None
    return unquote(location)


def _added_files(commit: Path) -> Iterator[str | None]:
    """The data files a Delta commit adds (its ``add`` actions; see ``_relative``)."""
    with commit.open(encoding="utf-8") as actions:
        for line in actions:
            if '"add"' in line:
                add = json.loads(line).get("add")
                if isinstance(add, dict):
                    yield _relative(str(add["path"]))


@contextmanager
def _interrupts_held_off() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while a writer session is rolled back or published.

    Both take moments. A second Ctrl-C (people press it twice) would otherwise cut a roll back
    short, leaving it to the next writer, or leave unclear whether the session was published;
    the command ends right after anyway. Only the main thread can set signal handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    held = {signum: handler for signum, handler in handlers.items() if handler is not None}
    for signum in held:
        signal.signal(signum, signal.SIG_IGN)
    try:
        yield
    finally:
        for signum, handler in held.items():
            signal.signal(signum, handler)


class Store:
    """The Delta tables of one data directory."""

    def __init__(
        self,
        data_dir: DataDir,
        *,
        lock_timeout: float | None = None,
        on_wait: Callable[[WriterInfo | None], None] | None = None,
    ) -> None:
        """``lock_timeout``: how long a write waits for another writer (None: as long as it
        takes); ``on_wait`` is told, once, whom it waits for (None: unknown), if it has to."""
        self.data_dir = data_dir
        self.lock_timeout = lock_timeout
        self.on_wait = on_wait
        self.tables = data_dir.tables
        self._pinned_tables: dict[tuple[str, int], DeltaTable] = {}  # a version never changes
        self._session: _Session | None = None  # while this Store is the writer (see ``writing``)

    def _table_path(self, name: str) -> Path:
        return self.tables / name

    def _open(self, name: str, version: int | None = None) -> DeltaTable | None:
        path = self._table_path(name)
        if not (path / "_delta_log").is_dir():
            return None
        try:
            return DeltaTable(path, version=version)
        except TableNotFoundError:
            return None
        except (DeltaError, OSError) as error:
            raise StoreError(f"cannot read table {name} in {self.tables}: {error}") from error

    @contextmanager
    def _locked(self, lock: Path, *, shared: bool = False, writer: bool = False) -> Iterator[None]:
        """Hold ``lock``; a ``writer`` lock records who holds it and waits at most
        ``lock_timeout``."""
        try:
            self.tables.mkdir(parents=True, exist_ok=True)
            with ExitStack() as held:
                if writer:
                    held.enter_context(
                        writer_lock(lock, timeout=self.lock_timeout, on_wait=self.on_wait)
                    )
                else:
                    held.enter_context(file_lock(lock, shared=shared))
                yield
        except LockTimeoutError as error:
            holder = read_writer(error.path)
            raise StoreError(
                f"{'another writer' if holder is None else holder.describe()} still holds "
                f"{error.path} after {error.waited:g} s: another ingest or compact is running; "
                "try again later or raise --lock-timeout"
            ) from None
        except OSError as error:
            raise StoreError(
                f"cannot use the data directory {self.data_dir.root}: {error}"
            ) from error

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Be the one writer of the data directory until the block ends, all or nothing.

        Writes inside the block (from any thread) join it instead of taking the lock again, so
        one ingest of several files is one writer session. Its commits are published together
        when the block ends (see ``storestatus.manifest``); if the block fails or is interrupted
        (Ctrl-C, SIGTERM), they are rolled back and the files it wrote are deleted; if the process
        dies, the next session does that.
        """
        if self._session is not None:
            yield
            return
        with self._locked(self.data_dir.write_lock, writer=True):
            self._session = self._begin_session()
            try:
                yield
                self._update_registry()  # part of the session: a failure rolls it all back
            except BaseException:
                with _interrupts_held_off():
                    self._abort_session(self._session)
                raise
            else:
                with _interrupts_held_off():
                    write_manifest(self.data_dir.manifest, Manifest(dict(self._session.current)))
            finally:
                self._session = None

    def _begin_session(self) -> _Session:
        published = read_manifest(self.data_dir.manifest)
        if published is None:  # a new store, or one from before manifests: it is as it is
            versions = {name: self._version(name) for name in TABLES}
        elif published.writer is not None:  # its writer died mid-way: undo what it committed
            versions = self._roll_back(published.versions)
        else:
            versions = published.versions
        session = _Session(token=f"pid {os.getpid()}", start=dict(versions), current=dict(versions))
        write_manifest(self.data_dir.manifest, Manifest(dict(versions), writer=session.token))
        return session

    def _update_registry(self) -> None:
        """Bring the stores table up to date with the polls the session inserted.

        The registry is small (a row per store), so it is rewritten whole, once per session. A
        store from before the registry gets it built from its whole status table by its first
        session that changes anything (one that changes nothing, e.g. a refused ``compact``,
        must not write).
        """
        session = self._session
        assert session is not None
        added, session.new_polls = session.new_polls, []
        if (
            session.current.get(STORES_TABLE) is None
            and session.start.get(STATUS_TABLE) is not None
        ):
            if session.current != session.start:  # a store from before the registry
                self._rebuild_registry()
            return
        if not added:
            return
        registry = self._open(STORES_TABLE)
        stored = (
            STORES_SCHEMA.to_frame()
            if registry is None
            else self._read_parquet(registry.file_uris(), STORES_SCHEMA.names())
        )
        self._write_registry(_per_store(pl.concat([stored.cast(STORES_SCHEMA), *added])))

    def _rebuild_registry(self) -> None:
        """Write the stores table from the whole status table (nothing if it has no table).

        A store whose polls were all dropped (by ``compact``) leaves the registry: it has no
        stored poll any more, so reports list it only if the hours or time zones name it.
        """
        status = self._open(STATUS_TABLE)
        if status is None:
            return
        files = status.file_uris()
        polls = pl.scan_parquet(files) if files else OBSERVATIONS_SCHEMA.to_frame().lazy()
        try:  # streamed: memory in proportion to the stores, not to the polls
            registry = _registry_rows(polls.select(STORE_ID, TIMESTAMP)).collect(engine="streaming")
        except (pl.exceptions.PolarsError, OSError) as error:
            raise StoreError(f"cannot read {self.tables}: {error}") from error
        self._write_registry(registry.cast(STORES_SCHEMA))

    def _write_registry(self, registry: pl.DataFrame) -> None:
        try:
            write_deltalake(
                self._table_path(STORES_TABLE), registry.sort(STORE_ID), mode="overwrite"
            )
        except (DeltaError, OSError) as error:
            raise StoreError(
                f"cannot write table {STORES_TABLE} in {self.tables}: {error}"
            ) from error
        self._committed(STORES_TABLE)

    def _abort_session(self, session: _Session) -> None:
        """Roll a failed session back and delete its files; if even that fails, leave it to the
        next session."""
        try:
            versions = self._roll_back(session.start)
            write_manifest(self.data_dir.manifest, Manifest(versions))
        except StoreStatusError:
            pass  # the manifest still names the writer: the next session rolls back

    def _roll_back(self, versions: dict[str, int | None]) -> dict[str, int | None]:
        """Bring every table back to the content of ``versions``, delete the data files written
        since (see ``_delete_unpublished_files``); return the versions now."""
        restored: dict[str, int | None] = {}
        for name in TABLES:
            target, table = versions.get(name), self._open(name)
            try:
                if target is None:
                    if table is not None:  # created by the session being undone
                        shutil.rmtree(self._table_path(name))
                elif table is None:
                    raise StoreError(f"table {name} is missing from {self.tables}")
                else:
                    if table.version() != target:
                        table.restore(target)
                    self._delete_unpublished_files(name, target)
            except (DeltaError, OSError, ValueError) as error:
                raise StoreError(
                    f"cannot roll back table {name} in {self.tables}: {error}"
                ) from error
            restored[name] = None if target is None else self._version(name)
        return restored

    def _delete_unpublished_files(self, name: str, version: int) -> None:
        """Delete the data files of table ``name`` that no version up to ``version`` refers to.

        They were written after it, by the commits just rolled back or by writes cut short
        before their commit, so no reader has them: readers pin published versions, which are
        ``version`` or older. The files of older versions stay, as a report may still be reading
        them (``compact`` deletes those once no report reads).
        """
        path = self._table_path(name)
        published = self._open(name, version)
        if published is None:
            return
        paths = published.get_add_actions().column("path").to_pylist()
        current = [_relative(str(file)) for file in paths]
        referenced = set(current)
        for commit in (path / "_delta_log").glob("*.json"):
            if commit.stem.isdigit() and int(commit.stem) <= version:
                referenced.update(_added_files(commit))
        kept = {file for file in referenced if file is not None}
        if len(kept) < len(referenced):
            return  # a file outside the table's folder: do not guess which files are whose
        on_disk: dict[str, Path] = {}
        for folder, subfolders, files in os.walk(path):
            subfolders[:] = [sub for sub in subfolders if sub != "_delta_log"]
            for file in files:
                full = Path(folder, file)
                on_disk[full.relative_to(path).as_posix()] = full
        if not all(file in on_disk for file in current):
            return  # the published files do not have the names we expect: delete nothing
        for relative, full in on_disk.items():
            if relative not in kept:
                full.unlink(missing_ok=True)
                with suppress(OSError):  # its partition's folder, unless other files remain
                    if full.parent != path:
                        full.parent.rmdir()

    def _committed(self, name: str) -> int | None:
        """Note a commit of the session to table ``name``; return the table's new version."""
        version = self._version(name)
        assert self._session is not None
        self._session.current[name] = version
        return version

    def _publish_progress(self) -> None:
        """Publish the session's commits so far; a failure from now on rolls back to them."""
        assert self._session is not None
        self._session.start = dict(self._session.current)
        write_manifest(
            self.data_dir.manifest, Manifest(dict(self._session.current), self._session.token)
        )

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold while reading table files, so that ``compact`` does not delete them meanwhile."""
        with self._locked(self.data_dir.files_lock, shared=True):
            yield

    # --- writes -----------------------------------------------------------------------------

    def upsert_status(self, polls: pl.DataFrame) -> StatusWrite:
        """Insert new polls; a poll whose (store_id, timestamp_utc) exists replaces its status.

        ``polls`` must have unique keys. The whole batch is one Delta commit, and writers take
        turns, so the comparison with the stored polls cannot go stale before the commit. New
        polls are appended (old files stay as they are); only if some stored status changes are
        the date partitions the batch touches rewritten, all in the same commit.
        """
        rows = polls.select(OBSERVATIONS_SCHEMA.names()).with_columns(
            pl.col(TIMESTAMP).dt.date().alias(POLL_DATE)
        )
        with self.writing():
            table = self._open(STATUS_TABLE)
            table_version = None if table is None else table.version()
            days = rows.get_column(POLL_DATE).unique().to_list()
            # Only stored polls within the batch's time span can share a key with it; the Parquet
            # statistics skip the rest, so an hourly batch reads an hour, not days.
            first, last = rows.get_column(TIMESTAMP).min(), rows.get_column(TIMESTAMP).max()
            span = (
                (first, last)
                if isinstance(first, datetime) and isinstance(last, datetime)
                else None
            )
            stored = self._read_days(table, days, within=span)
            if stored.is_empty():  # nothing to compare with (e.g. a first or a new day's ingest)
                new, changed = rows, rows.clear()
            else:
                compared = rows.join(
                    stored.select(STORE_ID, TIMESTAMP, pl.col(STATUS).alias("stored")),
                    on=[STORE_ID, TIMESTAMP],
                    how="left",
                )
                new = compared.filter(pl.col("stored").is_null()).drop("stored")
                changed = compared.filter(pl.col(STATUS) != pl.col("stored")).drop("stored")
            unchanged = rows.height - new.height - changed.height
            if changed.height:
                touched = pl.concat([new, changed]).get_column(POLL_DATE).unique()
                whole = self._read_days(table, touched.to_list())
                content = (
                    pl.concat(
                        [rows, whole.with_columns(pl.col(TIMESTAMP).dt.date().alias(POLL_DATE))]
                    )
                    .filter(pl.col(POLL_DATE).is_in(touched.implode()))
                    .unique([STORE_ID, TIMESTAMP], keep="first")  # the new status wins
                )
                self._write_status(content, replacing=touched.to_list())
            elif new.height:
                self._write_status(new)
            version = (
                self._committed(STATUS_TABLE) if new.height or changed.height else table_version
            )
            if new.height:
                assert self._session is not None
                self._session.new_polls.append(_registry_rows(new.lazy()).collect())
        return StatusWrite(new.height, changed.height, unchanged, version)

    def _write_status(self, rows: pl.DataFrame, *, replacing: list[date] | None = None) -> None:
        """Append polls, or replace the partitions of the dates ``replacing`` with them."""
        data = rows.select(*OBSERVATIONS_SCHEMA.names(), POLL_DATE)  # Arrow C stream, no copy
        path = self._table_path(STATUS_TABLE)
        try:
            if replacing is None:
                write_deltalake(
                    path,
                    data,
                    partition_by=[POLL_DATE],
                    mode="append",
                    writer_properties=_STATUS_WRITER,
                )
            else:
                dates = ", ".join(f"'{day.isoformat()}'" for day in replacing)
                predicate = f"{POLL_DATE} IN ({dates})"
                write_deltalake(
                    path,
                    data,
                    partition_by=[POLL_DATE],
                    mode="overwrite",
                    predicate=predicate,
                    writer_properties=_STATUS_WRITER,
                )
        except (DeltaError, OSError) as error:
            raise StoreError(f"cannot write status polls to {self.tables}: {error}") from error

    def _version(self, name: str) -> int | None:
        """The current version of a table; None if nothing was ever written to it."""
        table = self._open(name)
        return None if table is None else table.version()

    def replace_hours(
        self, hours: pl.DataFrame, *, allow_shrink: bool = False, rejected: int = 0
    ) -> int | None:
        """Replace the business-hours snapshot as a whole, atomically; return the new version.

        A store without hours is open 24/7, so an empty snapshot, or (unless ``allow_shrink``)
        one naming fewer than half the current one's stores, is refused: it comes from a cut-off
        or wrong file far more often than from a real change (see ``_check_snapshot``).
        ``rejected`` (the file's rejected rows) is only for the message.
        """
        stored = hours.select(
            STORE_ID,
            DAY,
            pl.col(START).dt.to_string(_TIME_TEXT),
            pl.col(END).dt.to_string(_TIME_TEXT),
        )
        change = _SnapshotChange("hours", "be open 24/7", allow_shrink, rejected)
        return self._replace(HOURS_TABLE, stored, change)

    def replace_timezones(
        self, timezones: pl.DataFrame, *, allow_shrink: bool = False, rejected: int = 0
    ) -> int | None:
        """Replace the time-zone snapshot as a whole, atomically; return the new version.

        Refused like ``replace_hours``: a store without a time zone is in the default zone.
        """
        change = _SnapshotChange("timezones", f"be in {DEFAULT_TIMEZONE}", allow_shrink, rejected)
        return self._replace(TIMEZONES_TABLE, timezones.select(TIMEZONES_SCHEMA.names()), change)

    def _replace(self, name: str, frame: pl.DataFrame, change: _SnapshotChange) -> int | None:
        with self.writing():
            self._check_snapshot(name, frame.get_column(STORE_ID), change)
            try:
                write_deltalake(self._table_path(name), frame, mode="overwrite")
            except (DeltaError, OSError) as error:
                raise StoreError(f"cannot write table {name} in {self.tables}: {error}") from error
            return self._committed(name)

    def _check_snapshot(self, name: str, store_ids: pl.Series, change: _SnapshotChange) -> None:
        """Refuse an empty new snapshot of table ``name``, or one that drops more than half of
        the current one's stores unless ``change.allow_shrink``: a header-only file once made
        every store open 24/7, a cut-off one dropped 82 % of them, and both were accepted.

        Runs in the writer session, so the current snapshot cannot change before the commit;
        raising rolls back the whole session (a whole ingest: all or nothing).
        """
        assert self._session is not None
        table = self._pinned(Snapshot(dict(self._session.current)), name)
        current = (
            pl.Series(STORE_ID, [], dtype=pl.String)
            if table is None
            else self._read_parquet(table.file_uris(), [STORE_ID]).get_column(STORE_ID)
        ).unique()
        kind, would = change.kind, change.missing_stores_would
        if store_ids.is_empty():
            found = (
                f"{change.rejected:,} rejected, see the rejects file"
                if change.rejected
                else "no data rows"
            )
            kept = (
                f"the current snapshot of {_stores(current.len())} is kept"
                if current.len()
                else "nothing was changed"
            )
            raise InputError(
                f"{kind} file: no valid rows ({found}): {kept}; with an empty snapshot every "
                f"store would {would}; fix the file and ingest it again"
            )
        new = store_ids.unique()
        if change.allow_shrink or 2 * new.len() >= current.len():
            return
        dropped = current.len() - int(current.is_in(new.implode()).sum())
        raise InputError(
            f"{kind} file: the new snapshot names {_stores(new.len())}, the current one "
            f"{current.len():,} ({dropped:,} would be dropped, {100 * dropped / current.len():.0f} "
            f"%, and {would}); nothing was changed; if that is intended, add --allow-shrink"
        )

    # --- maintenance ------------------------------------------------------------------------

    def compact(
        self,
        *,
        retain_days: int | None = None,
        force: bool = False,
        not_after: datetime | None = None,
    ) -> Compaction:
        """Merge small files, drop polls beyond the retention, delete files no version needs.

        Retention keeps the ``retain_days`` UTC dates before the date of the newest poll at or
        before ``not_after`` (the clock plus a tolerance, from the caller), and that date: a poll
        from a wrong clock must not decide what history is kept (issue #8). Polls stamped after
        ``not_after`` are removed too, once written to a rejects file. If that would drop more
        than half of the polls, nothing is changed unless ``force``: no single bad row can wipe
        out the history. Files are deleted only while no report is reading (see ``reading``),
        and no ingest can run meanwhile, so no commit ever refers to a deleted file. Leftovers of
        killed commands go too (see ``_delete_leftovers``). After a drop the stores table is
        rebuilt from the polls that remain: a store with none left leaves it.
        """
        with self.writing():
            status = self._open(STATUS_TABLE)
            drop = self._plan_drop(status, retain_days, not_after)
            refusal = None if force else _refusal(drop, retain_days)
            if refusal is None:
                done = self._compact(status, drop)
        if refusal is not None:  # raised once the session is over: it must not roll anything back
            raise StoreError(refusal)
        return done

    def _plan_drop(
        self, status: DeltaTable | None, retain_days: int | None, not_after: datetime | None
    ) -> _Drop:
        """Count what ``compact`` would drop: polls beyond the retention, polls in the future."""
        limit = None if not_after is None else not_after.astimezone(UTC)
        per_date = {} if status is None else self._polls_per_date(status)
        future = OBSERVATIONS_SCHEMA.to_frame()
        if limit is not None:
            later_days = [day for day in per_date if day >= limit.date()]
            future = self._read_days(status, later_days).filter(pl.col(TIMESTAMP) > limit)
        later = future.get_column(TIMESTAMP).dt.date().value_counts()
        later_per_date: dict[date, int] = dict(later.iter_rows())
        newest = next(  # the newest date with a poll at or before the limit
            (
                day
                for day in sorted(per_date, reverse=True)
                if per_date[day] > later_per_date.get(day, 0)
            ),
            None,
        )
        cutoff = None
        if retain_days is not None and newest is not None:
            cutoff = newest - timedelta(days=retain_days)
        old = 0 if cutoff is None else sum(n for day, n in per_date.items() if day < cutoff)
        return _Drop(sum(per_date.values()), newest, cutoff, old, future, limit)

    def _polls_per_date(self, table: DeltaTable) -> dict[date, int]:
        """How many polls each UTC date partition holds, from the commits' statistics."""
        actions = pl.DataFrame(table.get_add_actions(flatten=True))
        if actions.is_empty():
            return {}
        counts = actions.get_column("num_records")
        if counts.null_count():  # a file without statistics: count its rows
            counts = pl.Series(
                [
                    pl.scan_parquet(self._table_path(STATUS_TABLE) / unquote(path))
                    .select(pl.len())
                    .collect()
                    .item()
                    for path in actions.get_column("path")
                ]
            )
        per_date = actions.select(pl.col(f"partition.{POLL_DATE}").alias(POLL_DATE)).with_columns(
            polls=counts
        )
        totals = per_date.group_by(POLL_DATE).agg(pl.col("polls").sum())
        return dict(totals.iter_rows())

    def _compact(self, status: DeltaTable | None, drop: _Drop) -> Compaction:
        """``compact`` once it is allowed: drop, merge, checkpoint, vacuum, delete leftovers."""
        tables = [table for name in TABLES if (table := self._open(name)) is not None]
        files_before = sum(len(table.file_uris()) for table in tables)
        rejects = self._keep_future_polls(drop)
        try:
            try:
                if status is not None and drop.polls:
                    self._drop_polls(status, drop)
                assert self._session is not None
                if drop.polls or self._session.current.get(STORES_TABLE) is None:
                    self._rebuild_registry()
                opened = [
                    (name, table) for name in TABLES if (table := self._open(name)) is not None
                ]
                tables = [table for _, table in opened]
                for name, table in opened:
                    table.optimize.compact(
                        writer_properties=_STATUS_WRITER if name == STATUS_TABLE else None
                    )
                    table.create_checkpoint()  # a table then loads without replaying its log
                    table.cleanup_metadata()
                    self._committed(name)
                # Readers must not pin the versions whose files are about to be deleted.
                self._publish_progress()
            except BaseException:
                if rejects is not None:  # the polls stay: the session is rolled back
                    rejects.unlink(missing_ok=True)
                raise
            with self._locked(self.data_dir.files_lock):
                deleted = sum(
                    len(
                        table.vacuum(
                            retention_hours=0,
                            dry_run=False,
                            enforce_retention_duration=False,
                            full=True,  # also files of ingests killed before their commit
                        )
                    )
                    for table in tables
                )
        except (DeltaError, OSError) as error:
            raise StoreError(f"cannot compact {self.tables}: {error}") from error
        for name, _ in opened:
            self._committed(name)  # vacuum commits too
        files_after = sum(len(table.file_uris()) for table in tables)
        reports, manifests, scratch = self._delete_leftovers()
        return Compaction(
            dropped_polls=drop.old,
            files_before=files_before,
            files_after=files_after,
            deleted_files=deleted,
            stored_polls=drop.stored,
            cutoff=drop.cutoff,
            dropped_future=drop.future.height,
            rejects_file=rejects,
            leftover_report_files=reports,
            leftover_manifest_files=manifests,
            leftover_scratch=scratch,
        )

    def _drop_polls(self, status: DeltaTable, drop: _Drop) -> None:
        """Delete the polls ``drop`` counted, in one commit; fail if the count differs."""
        clauses = []
        if drop.old:
            clauses.append(f"{POLL_DATE} < '{drop.cutoff}'")
        if drop.future.height and drop.not_after is not None:
            clauses.append(f"{TIMESTAMP} > '{drop.not_after:%Y-%m-%dT%H:%M:%S.%fZ}'")
        deleted = status.delete(" OR ".join(clauses)).get("num_deleted_rows")
        if deleted is not None and deleted != drop.polls:  # rolled back with the session
            raise StoreError(
                f"compact deleted {deleted} polls instead of the {drop.polls} it counted in "
                f"{self.tables}: nothing was changed"
            )

    def _keep_future_polls(self, drop: _Drop) -> Path | None:
        """Write the polls stamped after ``not_after`` to a rejects file before they are removed,
        so that nothing ingested is lost. Its name has the time of day, as ingest's have."""
        if drop.future.is_empty() or drop.not_after is None:
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")  # a name only: decides nothing
        target = self.data_dir.rejects / f"{stamp}-compact-future-status.csv"
        limit = f"{drop.not_after:%Y-%m-%d %H:%M:%S} UTC"
        rows = drop.future.sort(TIMESTAMP, STORE_ID).select(
            STORE_ID,
            STATUS,
            pl.col(TIMESTAMP).dt.strftime("%Y-%m-%d %H:%M:%S%.6f UTC"),
            pl.lit(
                f"timestamp is in the future (later than {limit} when compact ran): "
                "check the poller's clock"
            ).alias(REASON),
        )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with replacing(target) as handle:
                rows.write_csv(handle)
        except OSError as error:
            raise StoreError(f"cannot write rejects file {target}: {error}") from error
        return target

    def _delete_leftovers(self) -> tuple[int, int, int]:
        """Delete what killed commands left behind; return how many of each kind.

        Temporary files of reports that are not running (a running report's worker holds its
        lock), manifests half-written by writers (only the writer writes one, and we are it),
        and whatever is in the scratch folder (spill files exist only inside a writer session).
        """
        files = ReportFiles(self.data_dir)
        reports = manifests = scratch = 0
        try:
            for leftover in sorted(files.folder.glob("*.tmp")):
                match = _REPORT_TEMPORARY.fullmatch(leftover.name)
                if match is None:
                    continue  # not a report's: not ours to delete
                with files.hold_lock(match.group(1), wait=False) as descriptor:
                    if descriptor is not None:  # else its report is running
                        leftover.unlink(missing_ok=True)
                        reports += 1
            manifest = self.data_dir.manifest
            for leftover in manifest.parent.glob(f".{manifest.name}.*.tmp"):
                leftover.unlink(missing_ok=True)
                manifests += 1
            if self.data_dir.scratch.is_dir():
                for entry in self.data_dir.scratch.iterdir():
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink(missing_ok=True)
                    scratch += 1
        except OSError as error:
            raise StoreError(
                f"cannot delete what killed commands left in {self.data_dir.root}: {error}"
            ) from error
        return reports, manifests, scratch

    # --- reads ------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The published version of every table: a report reads exactly these."""
        published = read_manifest(self.data_dir.manifest)
        if published is not None:
            return Snapshot(published.versions)
        versions: dict[str, int | None] = {}  # a store from before manifests: the latest
        for name in TABLES:
            table = self._open(name)
            versions[name] = None if table is None else table.version()
            if table is not None:
                self._pinned_tables[name, table.version()] = table
        return Snapshot(versions)

    def _pinned(self, snapshot: Snapshot, name: str) -> DeltaTable | None:
        version = snapshot.versions.get(name)  # a manifest from before a table lacks it
        if version is None:
            return None
        if (name, version) not in self._pinned_tables:
            table = self._open(name, version)
            if table is None:
                return None
            self._pinned_tables[name, version] = table
        return self._pinned_tables[name, version]

    def read_observations(self, snapshot: Snapshot, first: date, last: date) -> pl.DataFrame:
        """Polls of the UTC dates ``first``..``last`` (inclusive), reading only those partitions."""
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        return self._read_days(self._pinned(snapshot, STATUS_TABLE), days)

    def read_store_polls(
        self, snapshot: Snapshot, store_id: str, first: date, last: date
    ) -> pl.DataFrame:
        """One store's polls of the UTC dates ``first``..``last`` (``explain``, issue #9)."""
        table = self._pinned(snapshot, STATUS_TABLE)
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        if table is None:
            return OBSERVATIONS_SCHEMA.to_frame()
        files = table.file_uris(file_pruning_predicate=[(POLL_DATE, "in", days)])
        own = pl.col(STORE_ID) == store_id
        return self._read_parquet(files, OBSERVATIONS_SCHEMA.names(), where=own).cast(
            OBSERVATIONS_SCHEMA
        )

    def _read_days(
        self,
        table: DeltaTable | None,
        days: list[date],
        *,
        within: tuple[datetime, datetime] | None = None,
    ) -> pl.DataFrame:
        """The status table's polls of some UTC dates (only those partitions' files are opened),
        optionally only those timestamped ``within`` (first, last)."""
        if table is None or not days:
            return OBSERVATIONS_SCHEMA.to_frame()
        files = table.file_uris(file_pruning_predicate=[(POLL_DATE, "in", days)])
        when = None if within is None else pl.col(TIMESTAMP).is_between(*within)
        stored = self._read_parquet(files, OBSERVATIONS_SCHEMA.names(), where=when)
        return stored.cast(OBSERVATIONS_SCHEMA)

    def latest_poll(
        self, snapshot: Snapshot, *, not_after: datetime | None = None
    ) -> tuple[datetime | None, int]:
        """The latest poll's exact timestamp, and how many polls are later than ``not_after``.

        Polls after ``not_after`` (the clock plus a tolerance) are not considered: a poller with
        a wrong clock must not move the default ``now`` (issue #8). Only the newest date
        partitions are read: those after ``not_after``'s date, and the newest before it.
        """
        table = self._pinned(snapshot, STATUS_TABLE)
        if table is None:
            return None, 0
        dates = sorted(self._dates(table), reverse=True)
        limit = None if not_after is None else not_after.astimezone(UTC)
        later = 0
        for day in dates:
            files = table.file_uris(file_pruning_predicate=[(POLL_DATE, "=", day)])
            stamps = self._read_parquet(files, [TIMESTAMP]).get_column(TIMESTAMP)
            if limit is not None:
                if day > limit.date():
                    later += stamps.len()
                    continue
                too_late = stamps > limit
                later += int(too_late.sum())
                stamps = stamps.filter(~too_late)
            latest = stamps.max()
            if latest is not None:
                assert isinstance(latest, datetime)
                return latest, later
        return None, later

    def stores_polled_until(self, snapshot: Snapshot, until: datetime) -> pl.Series:
        """Ids of the stores with a stored poll at or before ``until``, from the registry.

        A store written before the registry has none until its next writer: then the whole
        status table is read, which is correct but costs time in proportion to the history.
        """
        registry = self._pinned(snapshot, STORES_TABLE)
        if registry is not None:
            rows = self._read_parquet(
                registry.file_uris(), [STORE_ID, FIRST_POLL], where=pl.col(FIRST_POLL) <= until
            )
            return rows.get_column(STORE_ID)
        status = self._pinned(snapshot, STATUS_TABLE)
        if status is None:
            return pl.Series(STORE_ID, [], dtype=pl.String)
        days = [day for day in self._dates(status) if day <= until.astimezone(UTC).date()]
        old = self._read_days(status, days, within=(datetime(1970, 1, 1, tzinfo=UTC), until))
        return old.get_column(STORE_ID).unique()

    def read_registry(self, snapshot: Snapshot) -> pl.DataFrame:
        """The stores table (``STORES_SCHEMA``): first and last poll and polls stored, per store
        with a stored poll, over the whole stored history.

        A store written before the registry has none until its next writer: then the rows are
        computed from the whole status table (streamed, so memory stays in proportion to the
        stores), which is correct but costs time in proportion to the history.
        """
        registry = self._pinned(snapshot, STORES_TABLE)
        if registry is not None:
            return self._read_parquet(registry.file_uris(), STORES_SCHEMA.names()).cast(
                STORES_SCHEMA
            )
        status = self._pinned(snapshot, STATUS_TABLE)
        files = [] if status is None else status.file_uris()
        if not files:
            return STORES_SCHEMA.to_frame()
        try:
            polls = pl.scan_parquet(files).select(STORE_ID, TIMESTAMP)
            rows = _registry_rows(polls).collect(engine="streaming")
        except (pl.exceptions.PolarsError, OSError) as error:
            raise StoreError(f"cannot read {self.tables}: {error}") from error
        return rows.cast(STORES_SCHEMA)

    @staticmethod
    def _dates(table: DeltaTable) -> list[date]:
        """The UTC date partitions of the status table."""
        return [date.fromisoformat(str(part[POLL_DATE])) for part in table.partitions()]

    @classmethod
    def _newest_date(cls, table: DeltaTable) -> date | None:
        """The newest UTC date partition of the status table (None: no polls)."""
        return max(cls._dates(table), default=None)

    def read_hours(self, snapshot: Snapshot) -> pl.DataFrame:
        """The business-hours snapshot with times parsed back to ``pl.Time``."""
        table = self._pinned(snapshot, HOURS_TABLE)
        if table is None:
            return HOURS_SCHEMA.to_frame()
        frame = self._read_parquet(table.file_uris(), HOURS_SCHEMA.names())
        return frame.with_columns(
            pl.col(START, END).str.to_time(_TIME_TEXT), pl.col(DAY).cast(pl.Int8)
        )

    def read_timezones(self, snapshot: Snapshot) -> pl.DataFrame:
        """The time-zone snapshot."""
        table = self._pinned(snapshot, TIMEZONES_TABLE)
        if table is None:
            return TIMEZONES_SCHEMA.to_frame()
        return self._read_parquet(table.file_uris(), TIMEZONES_SCHEMA.names())

    def _read_parquet(
        self, files: list[str], columns: list[str], *, where: pl.Expr | None = None
    ) -> pl.DataFrame:
        if not files:
            return pl.DataFrame(schema=dict.fromkeys(columns, pl.String()))
        try:
            scan = pl.scan_parquet(files).select(columns)
            return (scan if where is None else scan.filter(where)).collect()
        except (pl.exceptions.PolarsError, OSError) as error:
            raise StoreError(f"cannot read {self.tables}: {error}") from error
