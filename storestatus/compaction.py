"""``compact``: merge small files, drop polls beyond the retention or from the future, and delete
what neither a table version nor a running command needs.

It merges files by rewriting them in the bucketed layout (issue #11, ``storestatus.layout``):
each date partition of the status table that has several files, or a file without bucket
statistics (written before issue #11, or rewritten by the drop), becomes one file sorted by
bucket, store and time, one date at a time, so memory stays bounded by a day; the other tables
are rewritten whole if they are not in the layout yet. So ``compact`` also migrates a data
directory written before issue #11.

It is one writer session (see ``storestatus.session``). It counts what it would drop before it
changes anything, and refuses without ``force`` to drop more than half of the stored polls. The
polls it drops for being in the future go to a rejects file first. It publishes its commits
before deleting any file, and deletes files only while no report reads (``Store.reading``), so
no published version ever refers to a deleted file. Last, it deletes what killed commands left:
temporary files of reports, half-written manifests, spill files of ingests.

This is ``Store.compact``, in a module of its own; as a method would, it uses the ``Store``'s
private helpers for reading polls, rebuilding the stores table and taking the files lock.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final
from urllib.parse import unquote

import polars as pl
from deltalake import DeltaTable

from storestatus.buckets import BUCKET
from storestatus.config import UPLOAD_LOCK, DataDir
from storestatus.durable import replacing
from storestatus.errors import StoreError
from storestatus.layout import layout_polls, layout_rows
from storestatus.locks import LockTimeoutError, file_lock
from storestatus.reports import ReportFiles
from storestatus.schemas import POLLS_SCHEMA, STATUS, STORE_ID, TIMESTAMP
from storestatus.tables import (
    POLL_DATE,
    STATUS_TABLE,
    STORES_TABLE,
    TABLES,
    open_table,
    store_errors,
)

if TYPE_CHECKING:
    from storestatus.session import WriterSession
    from storestatus.store import Store

# Temporary files of a report (see ``reports``): ``.ID.csv.XXXX.tmp``, ``ID.json.tmp`` of old,
# and ``ID.parts.tmp``, the folder of a sharded report's part files.
_REPORT_TEMPORARY: Final = re.compile(
    r"\.?([A-Za-z0-9_-]{22})\.(?:csv|json|parts)(?:\.[^.]+)?\.tmp"
)
# A date's polls are rewritten as one file whatever its size: Delta would cut files at 100 MB,
# and the next ``compact`` would find the date in several files and rewrite it again.
_ONE_FILE: Final = 1 << 40


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


def compact_store(
    store: Store,
    *,
    retain_days: int | None = None,
    force: bool = False,
    not_after: datetime | None = None,
) -> Compaction:
    """Compact the tables of ``store``; see ``Store.compact``, which calls this."""
    with store.writing() as session:
        status = open_table(store.tables, STATUS_TABLE)
        drop = _plan_drop(store, status, retain_days, not_after)
        refusal = None if force else _refusal(drop, retain_days)
        if refusal is None:
            done = _compact(store, session, status, drop)
    if refusal is not None:  # raised once the session is over: it must not roll anything back
        raise StoreError(refusal)
    return done


def _plan_drop(
    store: Store, status: DeltaTable | None, retain_days: int | None, not_after: datetime | None
) -> _Drop:
    """Count what ``compact`` would drop: polls beyond the retention, polls in the future."""
    limit = None if not_after is None else not_after.astimezone(UTC)
    per_date = {} if status is None else _polls_per_date(store.tables, status)
    future = POLLS_SCHEMA.to_frame()
    if limit is not None:
        later_days = [day for day in per_date if day >= limit.date()]
        future = store._read_days(status, later_days).filter(pl.col(TIMESTAMP) > limit)
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


def _polls_per_date(folder: Path, table: DeltaTable) -> dict[date, int]:
    """How many polls each UTC date partition holds, from the commits' statistics."""
    actions = pl.DataFrame(table.get_add_actions(flatten=True))
    if actions.is_empty():
        return {}
    counts = actions.get_column("num_records")
    if counts.null_count():  # a file without statistics: count its rows
        counts = pl.Series(
            [
                pl.scan_parquet(folder / STATUS_TABLE / unquote(path))
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


def _compact(
    store: Store, session: WriterSession, status: DeltaTable | None, drop: _Drop
) -> Compaction:
    """``compact`` once it is allowed: drop, merge, checkpoint, vacuum, delete leftovers."""
    tables = [table for name in TABLES if (table := open_table(store.tables, name)) is not None]
    files_before = sum(len(table.file_uris()) for table in tables)
    rejects = _keep_future_polls(store.data_dir, drop)
    with store_errors(f"cannot compact {store.tables}"):
        try:
            if status is not None and drop.polls:
                _drop_polls(store.tables, status, drop)
            if drop.polls or session.committed.get(STORES_TABLE) is None:
                store._rebuild_registry()
            # Dates whose files the drop rewrote (not in the layout's order and row groups).
            redo = set(drop.future.get_column(TIMESTAMP).dt.date().to_list())
            opened = []
            for name in TABLES:
                table = open_table(store.tables, name)
                if table is None:
                    continue
                if name == STATUS_TABLE:
                    _merge_status_dates(store, session, table, redo)
                else:
                    _merge_snapshot(store, session, name, table)
                table.update_incremental()  # to the version just committed
                table.create_checkpoint()  # a table then loads without replaying its log
                table.cleanup_metadata()
                session.record_commit(name)
                opened.append((name, table))
            tables = [table for _, table in opened]
            # Readers must not pin the versions whose files are about to be deleted.
            session.publish_progress()
        except BaseException:
            if rejects is not None:  # the polls stay: the session is rolled back
                rejects.unlink(missing_ok=True)
            raise
        with store._locked(store.data_dir.files_lock):
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
    for name, _ in opened:
        session.record_commit(name)  # vacuum commits too
    files_after = sum(len(table.file_uris()) for table in tables)
    reports, manifests, scratch = _delete_leftovers(store.data_dir)
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


def _unbucketed(table: DeltaTable) -> pl.DataFrame:
    """Per data file of ``table``: its partition values and whether it lacks bucket statistics
    (written before issue #11, or by Delta itself, e.g. a delete's rewrite without them)."""
    actions = pl.DataFrame(table.get_add_actions(flatten=True))
    if actions.is_empty():
        return pl.DataFrame(
            schema={f"partition.{POLL_DATE}": pl.Date(), "unbucketed": pl.Boolean()}
        )
    lacking = (
        pl.col(f"min.{BUCKET}").is_null() | pl.col(f"max.{BUCKET}").is_null()
        if f"min.{BUCKET}" in actions.columns
        else pl.lit(value=True)
    )
    partitions = [column for column in actions.columns if column.startswith("partition.")]
    return actions.select(*partitions, lacking.alias("unbucketed"))


def _merge_status_dates(
    store: Store, session: WriterSession, table: DeltaTable, redo: set[date]
) -> None:
    """Rewrite each date partition of the status table that is not one file in the bucketed
    layout (several files, a file without bucket statistics, or a date in ``redo``) as one file
    sorted by bucket, store and time: one date at a time, one commit each, so that memory is
    bounded by a day's polls. A date already in the layout is left as it is."""
    per_date = (
        _unbucketed(table)
        .group_by(f"partition.{POLL_DATE}")
        .agg(pl.len().alias("files"), pl.col("unbucketed").any())
    )
    days = {day for day, files, unbucketed in per_date.iter_rows() if files > 1 or unbucketed}
    days |= redo & set(per_date.get_column(f"partition.{POLL_DATE}").to_list())
    for day in sorted(days):
        polls = store._read_days(table, [day])  # the files of that date only
        laid = layout_polls(polls.with_columns(pl.lit(day).alias(POLL_DATE)), date=POLL_DATE)
        store._write_status(laid.rows, replacing=[day], target_file_size=_ONE_FILE)
        session.record_commit(STATUS_TABLE)


def _merge_snapshot(store: Store, session: WriterSession, name: str, table: DeltaTable) -> None:
    """Rewrite table ``name`` (hours, time zones, the registry: small, written whole) in the
    bucketed layout, as one file, if it is not yet: several files, or one without buckets."""
    files = _unbucketed(table)
    if files.height <= 1 and not files.get_column("unbucketed").any():
        return
    columns = [field.name for field in table.schema().fields if field.name != BUCKET]
    store._overwrite(name, layout_rows(store._read(name, table, columns)))
    session.record_commit(name)


def _drop_polls(folder: Path, status: DeltaTable, drop: _Drop) -> None:
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
            f"{folder}: nothing was changed"
        )


def _keep_future_polls(data_dir: DataDir, drop: _Drop) -> Path | None:
    """Write the polls stamped after ``not_after`` to a rejects file before they are removed,
    so that nothing ingested is lost. Its name has the time of day, as ingest's have."""
    if drop.future.is_empty() or drop.not_after is None:
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")  # a name only: decides nothing
    target = data_dir.rejects / f"{stamp}-compact-future-status.csv"
    limit = f"{drop.not_after:%Y-%m-%d %H:%M:%S} UTC"
    # Imported here: the CSV readers are not needed unless there are polls to set aside.
    from storestatus.readers.rules import STORED_TIMESTAMP_IN_FUTURE  # noqa: PLC0415

    rows = drop.future.sort(TIMESTAMP, STORE_ID).select(
        STORE_ID,
        STATUS,
        pl.col(TIMESTAMP).dt.strftime("%Y-%m-%d %H:%M:%S%.6f UTC"),
        *STORED_TIMESTAMP_IN_FUTURE.columns(limit=limit),  # reason, reason_code
    )
    with store_errors(f"cannot write rejects file {target}", catching=(OSError,)):
        target.parent.mkdir(parents=True, exist_ok=True)
        with replacing(target) as handle:
            rows.write_csv(handle)
    return target


def _delete_leftovers(data_dir: DataDir) -> tuple[int, int, int]:
    """Delete what killed commands left behind; return how many of each kind.

    Temporary files of reports that are not running (a running report's worker holds its
    lock), manifests half-written by writers (only the writer writes one, and we are it),
    and whatever is in the scratch folder (spill files exist only inside a writer session).
    """
    files = ReportFiles(data_dir)
    reports = manifests = scratch = 0
    with store_errors(
        f"cannot delete what killed commands left in {data_dir.root}", catching=(OSError,)
    ):
        for leftover in sorted(files.folder.glob("*.tmp")):
            match = _REPORT_TEMPORARY.fullmatch(leftover.name)
            if match is None:
                continue  # not a report's: not ours to delete
            with files.hold_lock(match.group(1), wait=False) as descriptor:
                if descriptor is not None:  # else its report is running
                    if leftover.is_dir() and not leftover.is_symlink():
                        shutil.rmtree(leftover)
                    else:
                        leftover.unlink(missing_ok=True)
                    reports += 1
        manifest = data_dir.manifest
        for leftover in manifest.parent.glob(f".{manifest.name}.*.tmp"):
            leftover.unlink(missing_ok=True)
            manifests += 1
        if data_dir.scratch.is_dir():
            for entry in data_dir.scratch.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink(missing_ok=True)
                scratch += 1
        scratch += _delete_dead_uploads(data_dir)
    return reports, manifests, scratch


def _delete_dead_uploads(data_dir: DataDir) -> int:
    """Delete the upload folders of requests that are not running (a running one's server holds
    its lock: issue #12's ``POST /ingest``); return how many."""
    if not data_dir.uploads.is_dir():
        return 0
    deleted = 0
    for folder in sorted(data_dir.uploads.glob("upload-*")):
        if not folder.is_dir() or folder.is_symlink():
            continue
        try:
            with file_lock(folder / UPLOAD_LOCK, timeout=0):
                shutil.rmtree(folder)
        except LockTimeoutError:
            continue  # its request is running
        deleted += 1
    return deleted
