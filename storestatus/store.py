"""The data directory: four Delta Lake tables (Parquet + a transaction log) and report files.

Delta gives what a cron job needs for free: every write is one atomic commit, a reader pins one
table version and sees exactly it, and other engines (Spark, DuckDB, Trino) read the same tables.
Status polls are partitioned by UTC date so a report reads only the days it needs; a small
registry of the stores ever polled lets it list a store that went dark without reading history.
Every table is written in the bucketed layout (``storestatus.layout``, issue #11), so a shard
of a report reads only the files and row groups that may hold its stores
(``storestatus.pruning``), while the single pass reads whole files as it always has.

``Store`` reads and writes the tables. Its writes run in a writer session
(``storestatus.session``), which publishes them to readers all at once or rolls them back;
``compact`` lives in ``storestatus.compaction``, the table names and the one translation of
their errors in ``storestatus.tables``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Final

import polars as pl
from deltalake import DeltaTable, write_deltalake

from storestatus.buckets import BUCKET, bucket_of
from storestatus.compaction import Compaction, compact_store
from storestatus.config import DataDir
from storestatus.errors import InputError, StoreError
from storestatus.layout import layout_polls, layout_rows
from storestatus.locks import LockTimeoutError, WriterInfo, file_lock, read_writer, writer_lock
from storestatus.manifest import read_manifest
from storestatus.schemas import (
    DAY,
    DEFAULT_TIMEZONE,
    END,
    FIRST_POLL,
    HOURS_SCHEMA,
    LAST_POLL,
    POLLS_SCHEMA,
    POLLS_STORED,
    START,
    STATUS,
    STORE_ID,
    TIMESTAMP,
    TIMEZONES_SCHEMA,
)
from storestatus.session import WriterSession
from storestatus.tables import (
    HOURS_TABLE,
    PARQUET_ERRORS,
    POLL_DATE,
    SNAPSHOT_WRITER,
    STATUS_TABLE,
    STATUS_WRITER,
    STORES_SCHEMA,
    STORES_TABLE,
    TABLES,
    TIMEZONES_TABLE,
    Partitions,
    ReadStats,
    open_table,
    store_errors,
)

__all__ = [
    "HOURS_TABLE",
    "POLL_DATE",
    "STATUS_TABLE",
    "STORES_SCHEMA",
    "STORES_TABLE",
    "TABLES",
    "TIMEZONES_TABLE",
    "Compaction",
    "Snapshot",
    "StatusWrite",
    "Store",
]

_TIME_TEXT: Final = "%H:%M:%S%.6f"  # Delta has no time-of-day type; times are stored as text


@dataclass(frozen=True)
class StatusWrite:
    """What an upsert of polls did to the status table."""

    inserted: int
    changed: int  # existing key, new status: replaced
    unchanged: int  # existing key, same status: nothing to do
    version: int | None  # None: the table does not exist (nothing was ever stored)


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
        self._session: WriterSession | None = None  # while this Store is the writer (``writing``)
        self._new_polls: list[pl.DataFrame] = []  # per store, of the session: for the registry
        self.reads: dict[str, ReadStats] = {}  # per table: what this Store's reads opened

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
    def writing(self) -> Iterator[WriterSession]:
        """Be the one writer of the data directory until the block ends, all or nothing.

        Writes inside the block (from any thread) join it instead of taking the lock again, so
        one ingest of several files is one writer session. Its commits are published together
        when the block ends (see ``storestatus.session``); if the block fails or is interrupted
        (Ctrl-C, SIGTERM), they are rolled back and the files it wrote are deleted; if the process
        dies, the next session does that. Yields the session.
        """
        joined = self._session
        if joined is not None:
            yield joined
            return
        with self._locked(self.data_dir.write_lock, writer=True):
            try:
                with WriterSession.begin(self.data_dir) as session:  # publishes or rolls back
                    self._session, self._new_polls = session, []
                    yield session
                    self._update_registry()  # part of the session: a failure rolls it all back
            finally:
                self._session, self._new_polls = None, []

    def _writer(self) -> WriterSession:
        """The session of a write, which runs inside ``writing``."""
        assert self._session is not None
        return self._session

    def _update_registry(self) -> None:
        """Bring the stores table up to date with the polls the session inserted.

        The registry is small (a row per store), so it is rewritten whole, once per session. A
        store from before the registry gets it built from its whole status table by its first
        session that changes anything (one that changes nothing, e.g. a refused ``compact``,
        must not write).
        """
        session = self._writer()
        added, self._new_polls = self._new_polls, []
        if (
            session.committed.get(STORES_TABLE) is None
            and session.published.get(STATUS_TABLE) is not None
        ):
            if session.committed != session.published:  # a store from before the registry
                self._rebuild_registry()
            return
        if not added:
            return
        registry = open_table(self.tables, STORES_TABLE)
        stored = (
            STORES_SCHEMA.to_frame()
            if registry is None
            else self._read(STORES_TABLE, registry, STORES_SCHEMA.names())
        )
        self._write_registry(_per_store(pl.concat([stored.cast(STORES_SCHEMA), *added])))

    def _rebuild_registry(self) -> None:
        """Write the stores table from the whole status table (nothing if it has no table).

        A store whose polls were all dropped (by ``compact``) leaves the registry: it has no
        stored poll any more, so reports list it only if the hours or time zones name it.
        """
        status = open_table(self.tables, STATUS_TABLE)
        if status is None:
            return
        files = status.file_uris()
        polls = _scan(files) if files else POLLS_SCHEMA.to_frame().lazy()
        # Streamed: memory in proportion to the stores, not to the polls.
        with store_errors(f"cannot read {self.tables}", catching=PARQUET_ERRORS):
            registry = _registry_rows(polls.select(STORE_ID, TIMESTAMP)).collect(engine="streaming")
        self._write_registry(registry.cast(STORES_SCHEMA))

    def _write_registry(self, registry: pl.DataFrame) -> None:
        self._overwrite(STORES_TABLE, layout_rows(registry))
        self._writer().record_commit(STORES_TABLE)

    def _overwrite(self, name: str, laid: pl.DataFrame) -> None:
        """Replace table ``name`` (hours, time zones, the registry) with ``laid``, in the
        bucketed layout already (``layout.layout_rows``). Its schema is replaced too: a table
        from before issue #11 gains the ``bucket`` column."""
        with store_errors(f"cannot write table {name} in {self.tables}"):
            write_deltalake(
                self.tables / name,
                laid,
                mode="overwrite",
                schema_mode="overwrite",
                writer_properties=SNAPSHOT_WRITER,
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
        the date partitions the batch touches rewritten, all in the same commit. Either way the
        files written are in the bucketed layout (``layout.layout_polls``), which also gives the
        stores table its rows for the new polls.
        """
        rows = polls.select(POLLS_SCHEMA.names()).with_columns(
            pl.col(TIMESTAMP).dt.date().alias(POLL_DATE)
        )
        with self.writing() as session:
            table = open_table(self.tables, STATUS_TABLE)
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
                laid = layout_polls(content, date=POLL_DATE).rows
                self._write_status(laid, replacing=touched.to_list())
                if new.height:
                    self._new_polls.append(_registry_rows(new.lazy()).collect())
            elif new.height:
                appended = layout_polls(new, date=POLL_DATE)
                self._write_status(appended.rows)
                self._new_polls.append(appended.per_store)
            version = (
                session.record_commit(STATUS_TABLE)
                if new.height or changed.height
                else table_version
            )
        return StatusWrite(new.height, changed.height, unchanged, version)

    def _write_status(
        self,
        rows: pl.DataFrame,
        *,
        replacing: list[date] | None = None,
        target_file_size: int | None = None,
    ) -> None:
        """Append polls in the bucketed layout (``layout.layout_polls`` of ``poll_date``), or
        replace the partitions of the dates ``replacing`` with them, in one commit of the
        writer session (the caller records it).

        ``target_file_size``: bytes at which a date's file is cut (None: Delta's default).
        Appends merge the schema: a table from before issue #11 gains the ``bucket`` column,
        which its older files lack (readers compute it from the ids there).
        """
        data = rows.select(*POLLS_SCHEMA.names(), POLL_DATE, BUCKET)  # Arrow C stream, no copy
        path = self.tables / STATUS_TABLE
        with store_errors(f"cannot write status polls to {self.tables}"):
            if replacing is None:
                write_deltalake(
                    path,
                    data,
                    partition_by=[POLL_DATE],
                    mode="append",
                    schema_mode="merge",
                    target_file_size=target_file_size,
                    writer_properties=STATUS_WRITER,
                )
            else:
                dates = ", ".join(f"'{day.isoformat()}'" for day in replacing)
                write_deltalake(
                    path,
                    data,
                    partition_by=[POLL_DATE],
                    mode="overwrite",
                    predicate=f"{POLL_DATE} IN ({dates})",
                    schema_mode="merge",
                    target_file_size=target_file_size,
                    writer_properties=STATUS_WRITER,
                )

    def replace_hours(
        self, hours: pl.DataFrame, *, allow_shrink: bool = False, rejected: int = 0
    ) -> int | None:
        """Replace the business-hours snapshot as a whole, atomically; return the new version.

        A store without hours is open 24/7, so an empty snapshot, or (unless ``allow_shrink``)
        one naming fewer than half the current one's stores, is refused: it comes from a cut-off
        or wrong file far more often than from a real change (see ``_check_snapshot``).
        ``rejected`` (the file's rejected rows) is only for the message.
        """
        laid = layout_rows(hours.select(STORE_ID, DAY, START, END))  # sorted by time, not text
        stored = laid.with_columns(pl.col(START, END).dt.to_string(_TIME_TEXT))
        change = _SnapshotChange("hours", "be open 24/7", allow_shrink, rejected)
        return self._replace(HOURS_TABLE, stored, change)

    def replace_timezones(
        self, timezones: pl.DataFrame, *, allow_shrink: bool = False, rejected: int = 0
    ) -> int | None:
        """Replace the time-zone snapshot as a whole, atomically; return the new version.

        Refused like ``replace_hours``: a store without a time zone is in the default zone.
        """
        change = _SnapshotChange("timezones", f"be in {DEFAULT_TIMEZONE}", allow_shrink, rejected)
        laid = layout_rows(timezones.select(TIMEZONES_SCHEMA.names()))
        return self._replace(TIMEZONES_TABLE, laid, change)

    def _replace(self, name: str, laid: pl.DataFrame, change: _SnapshotChange) -> int | None:
        with self.writing() as session:
            self._check_snapshot(name, laid.get_column(STORE_ID), change)
            self._overwrite(name, laid)
            return session.record_commit(name)

    def _check_snapshot(self, name: str, store_ids: pl.Series, change: _SnapshotChange) -> None:
        """Refuse an empty new snapshot of table ``name``, or one that drops more than half of
        the current one's stores unless ``change.allow_shrink``: a header-only file once made
        every store open 24/7, a cut-off one dropped 82 % of them, and both were accepted.

        Runs in the writer session, so the current snapshot cannot change before the commit;
        raising rolls back the whole session (a whole ingest: all or nothing).
        """
        table = self._pinned(Snapshot(dict(self._writer().committed)), name)
        current = (
            pl.Series(STORE_ID, [], dtype=pl.String)
            if table is None
            else self._read(name, table, [STORE_ID]).get_column(STORE_ID)
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
        killed commands go too. After a drop the stores table is rebuilt from the polls that
        remain: a store with none left leaves it. See ``storestatus.compaction``.
        """
        return compact_store(self, retain_days=retain_days, force=force, not_after=not_after)

    # --- reads ------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The published version of every table: a report reads exactly these."""
        published = read_manifest(self.data_dir.manifest)
        if published is not None:
            return Snapshot(published.versions)
        versions: dict[str, int | None] = {}  # a store from before manifests: the latest
        for name in TABLES:
            table = open_table(self.tables, name)
            versions[name] = None if table is None else table.version()
            if table is not None:
                self._pinned_tables[name, table.version()] = table
        return Snapshot(versions)

    def _pinned(self, snapshot: Snapshot, name: str) -> DeltaTable | None:
        version = snapshot.versions.get(name)  # a manifest from before a table lacks it
        if version is None:
            return None
        if (name, version) not in self._pinned_tables:
            table = open_table(self.tables, name, version)
            if table is None:
                return None
            self._pinned_tables[name, version] = table
        return self._pinned_tables[name, version]

    def read_polls(
        self, snapshot: Snapshot, first: date, last: date, *, buckets: range | None = None
    ) -> pl.DataFrame:
        """Polls of the UTC dates ``first``..``last`` (inclusive), reading only those partitions;
        with ``buckets``, only the polls of the stores in those buckets (a shard, issue #11),
        reading only the files and row groups that may hold them (see ``reads``)."""
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        return self._read_days(self._pinned(snapshot, STATUS_TABLE), days, buckets=buckets)

    def read_store_polls(
        self,
        snapshot: Snapshot,
        store_id: str,
        first: date,
        last: date,
        *,
        pruned: bool = False,
    ) -> pl.DataFrame:
        """One store's polls of the UTC dates ``first``..``last`` (``explain``, issue #9);
        ``pruned``: from the files and row groups of its bucket only (issue #11), which pays
        for itself in a big store (see ``service.explain_store``)."""
        table = self._pinned(snapshot, STATUS_TABLE)
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        if table is None:
            return POLLS_SCHEMA.to_frame()
        own = pl.col(STORE_ID) == store_id
        partitions: Partitions = [(POLL_DATE, "in", days)]
        polls = self._read(
            STATUS_TABLE,
            table,
            POLLS_SCHEMA.names(),
            partitions,
            where=own,
            buckets=bucket_of(store_id) if pruned else None,
        )
        return polls.cast(POLLS_SCHEMA)

    def _read_days(
        self,
        table: DeltaTable | None,
        days: list[date],
        *,
        within: tuple[datetime, datetime] | None = None,
        buckets: range | None = None,
    ) -> pl.DataFrame:
        """The status table's polls of some UTC dates (only those partitions' files are opened),
        optionally only those timestamped ``within`` (first, last), of the stores in
        ``buckets``."""
        if table is None or not days:
            return POLLS_SCHEMA.to_frame()
        when = None if within is None else pl.col(TIMESTAMP).is_between(*within)
        partitions: Partitions = [(POLL_DATE, "in", days)]
        stored = self._read(
            STATUS_TABLE, table, POLLS_SCHEMA.names(), partitions, where=when, buckets=buckets
        )
        return stored.cast(POLLS_SCHEMA)

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
            partitions: Partitions = [(POLL_DATE, "=", day)]
            stamps = self._read(STATUS_TABLE, table, [TIMESTAMP], partitions).get_column(TIMESTAMP)
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

    def stores_polled_until(
        self, snapshot: Snapshot, until: datetime, *, buckets: range | None = None
    ) -> pl.Series:
        """Ids of the stores with a stored poll at or before ``until``, from the registry; with
        ``buckets``, only those of the stores in those buckets.

        A store written before the registry has none until its next writer: then the whole
        status table is read, which is correct but costs time in proportion to the history.
        """
        registry = self._pinned(snapshot, STORES_TABLE)
        if registry is not None:
            polled = pl.col(FIRST_POLL) <= until
            columns = [STORE_ID, FIRST_POLL]
            rows = self._read(STORES_TABLE, registry, columns, where=polled, buckets=buckets)
            return rows.get_column(STORE_ID)
        status = self._pinned(snapshot, STATUS_TABLE)
        if status is None:
            return pl.Series(STORE_ID, [], dtype=pl.String)
        days = [day for day in self._dates(status) if day <= until.astimezone(UTC).date()]
        since = datetime(1970, 1, 1, tzinfo=UTC)
        old = self._read_days(status, days, within=(since, until), buckets=buckets)
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
            return self._read(STORES_TABLE, registry, STORES_SCHEMA.names()).cast(STORES_SCHEMA)
        status = self._pinned(snapshot, STATUS_TABLE)
        files = [] if status is None else status.file_uris()
        if not files:
            return STORES_SCHEMA.to_frame()
        with store_errors(f"cannot read {self.tables}", catching=PARQUET_ERRORS):
            polls = _scan(files).select(STORE_ID, TIMESTAMP)
            rows = _registry_rows(polls).collect(engine="streaming")
        return rows.cast(STORES_SCHEMA)

    @staticmethod
    def _dates(table: DeltaTable) -> list[date]:
        """The UTC date partitions of the status table."""
        return [date.fromisoformat(str(part[POLL_DATE])) for part in table.partitions()]

    def read_hours(self, snapshot: Snapshot, *, buckets: range | None = None) -> pl.DataFrame:
        """The business-hours snapshot with times parsed back to ``pl.Time``; with ``buckets``,
        only the rows of the stores in those buckets."""
        table = self._pinned(snapshot, HOURS_TABLE)
        if table is None:
            return HOURS_SCHEMA.to_frame()
        frame = self._read(HOURS_TABLE, table, HOURS_SCHEMA.names(), buckets=buckets)
        return frame.with_columns(
            pl.col(START, END).str.to_time(_TIME_TEXT), pl.col(DAY).cast(pl.Int8)
        )

    def read_timezones(self, snapshot: Snapshot, *, buckets: range | None = None) -> pl.DataFrame:
        """The time-zone snapshot; with ``buckets``, only the rows of the stores in them."""
        table = self._pinned(snapshot, TIMEZONES_TABLE)
        if table is None:
            return TIMEZONES_SCHEMA.to_frame()
        return self._read(TIMEZONES_TABLE, table, TIMEZONES_SCHEMA.names(), buckets=buckets)

    def count_stores(self, snapshot: Snapshot) -> int:
        """About how many stores the snapshot knows: the larger of the registry's and the time
        zones' row counts, from the tables' file statistics (no data file is read). It decides
        how many shards a report has, so it need not be exact."""
        counts = [0]
        for name in (STORES_TABLE, TIMEZONES_TABLE):
            table = self._pinned(snapshot, name)
            if table is None:
                continue
            with store_errors(f"cannot read table {name} in {self.tables}"):
                records = pl.DataFrame(table.get_add_actions(flatten=True)).get_column(
                    "num_records"
                )
            if records.null_count():  # a file without statistics: count its rows
                counts.append(self._read(name, table, [STORE_ID]).height)
            else:
                counts.append(int(records.sum()))
        return max(counts)

    def _read(
        self,
        name: str,
        table: DeltaTable,
        columns: list[str],
        partitions: Partitions | None = None,
        *,
        where: pl.Expr | None = None,
        buckets: range | None = None,
    ) -> pl.DataFrame:
        """``columns`` of the rows of table ``name`` (of ``partitions``; that match ``where``;
        of the stores in ``buckets``), counted in ``reads``.

        Without ``buckets`` the files are read whole by one Polars scan, as fast as the single
        pass has always been; with them, only the files and row groups whose bucket statistics
        overlap (``storestatus.pruning``).
        """
        if buckets is not None:
            # Imported here: Arrow's Parquet reader takes a quarter of a second to import, and
            # only a shard needs it.
            from storestatus.pruning import PRUNED_READ_ERRORS, read_buckets  # noqa: PLC0415

            with store_errors(f"cannot read {self.tables}", catching=PRUNED_READ_ERRORS):
                frame, stats = read_buckets(table, columns, buckets, partitions=partitions)
            frame = frame if where is None else frame.filter(where)
        else:
            files = table.file_uris(file_pruning_predicate=partitions or None)
            frame = self._read_parquet(files, columns, where=where)
            stats = ReadStats(len(files), len(files), rows_read=frame.height)
        self.reads[name] = self.reads.get(name, ReadStats()) + stats
        return frame

    def _read_parquet(
        self, files: list[str], columns: list[str], *, where: pl.Expr | None = None
    ) -> pl.DataFrame:
        if not files:
            return pl.DataFrame(schema=dict.fromkeys(columns, pl.String()))
        with store_errors(f"cannot read {self.tables}", catching=PARQUET_ERRORS):
            scan = _scan(files).select(columns)
            return (scan if where is None else scan.filter(where)).collect()


def _scan(files: list[str]) -> pl.LazyFrame:
    """The Parquet files of one table, as one lazy frame: files written before issue #11 lack
    the ``bucket`` column that later ones have, so columns missing from the first file are
    ignored (a reader selects the columns every file has)."""
    return pl.scan_parquet(files, extra_columns="ignore")
