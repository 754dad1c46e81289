"""The operations behind the commands, callable from Python: ingest files, compute a report.

They glue the pure parts (readers, compute) to the store; the CLI only parses and renders.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import TYPE_CHECKING, Final

import polars as pl

from storestatus.buckets import bucket_of, shard_ranges
from storestatus.compute import Coverage, compute_report_and_coverage, poll_dates_needed
from storestatus.config import DataDir
from storestatus.durations import format_duration
from storestatus.errors import InputError, StoreError, StoreNotFoundError
from storestatus.progress import SILENT, Progress
from storestatus.reports import ReportRecord, report_status
from storestatus.roster import (
    build_roster,
    dates_to_read,
    only_silent,
    polled_within,
    roster_as_text,
    silence_window,
)
from storestatus.schemas import POLLS_SCHEMA, STORE_ID, TIMESTAMP
from storestatus.shard_tasks import (
    STORES_PER_SHARD,
    ShardOptions,
    ShardRunner,
    ShardTask,
    automatic_shards,
    read_parts,
    run_here,
)
from storestatus.store import Snapshot, Store
from storestatus.tables import ReadStats, store_errors
from storestatus.vocabulary import InputKind, Interpolation

if TYPE_CHECKING:
    from storestatus.explain import Explanation
    from storestatus.readers import ParsedInput

_UNSAFE_NAME: Final = re.compile(r"[^A-Za-z0-9._-]+")
# A poll may be stamped this much later than the machine's clock (clocks drift a little);
# a later one comes from a poller with a wrong clock (issue #8).
DEFAULT_MAX_FUTURE: Final = timedelta(hours=1)
# A report warns when fewer than this share of its stores have a poll in its window.
FEW_STORES_SHARE: Final = 0.5


@dataclass(frozen=True)
class FileIngest:
    """What ingesting one file did."""

    kind: InputKind
    source: Path
    accepted: int  # good rows
    rejected: int
    blank: int
    duplicates_in_file: int  # same key again in the file: the later row wins
    inserted: int  # status: new polls; snapshots: rows in the new snapshot
    changed: int  # status: existing polls whose status was replaced
    unchanged: int  # status: polls already stored with the same status
    version: int | None  # the table's version after this ingest (None: no table yet)
    rejects_file: Path | None


@dataclass(frozen=True)
class ReportResult:
    """A computed report and what it was computed from."""

    report: pl.DataFrame
    now: datetime
    snapshot: Snapshot
    polls_in_window: int  # candidate polls: now - 8 days <= t <= now
    stores_polled: int  # stores with at least one of them
    warnings: tuple[str, ...]  # e.g. no polls in the window (see ``compute_from_store``)
    shards: int = 1  # how many shards it was computed in (issue #11)
    scheduler: str | None = None  # the Dask scheduler that ran them; None: this process
    reads: dict[str, ReadStats] = field(default_factory=dict)  # per table: what was read


def ingest_files(
    store: Store,
    *,
    status: Path | Sequence[Path] | None = None,
    hours: Path | None = None,
    timezones: Path | None = None,
    allow_shrink: bool = False,
    max_future: timedelta | None = DEFAULT_MAX_FUTURE,
    progress: Progress = SILENT,
) -> list[FileIngest]:
    """Ingest any number of status files and/or a new hours and time-zone snapshot, all or nothing.

    Status polls are upserted by (store_id, timestamp_utc), file after file (a later file wins
    a key), a batch at a time so that memory stays bounded whatever a file's size; hours and time
    zones replace their snapshot; each step is reported to ``progress``. It is all one writer
    session (``Store.writing``): if any file cannot be used as a whole (e.g. a missing
    column), or a snapshot would shrink by more than half (unless ``allow_shrink``), the error
    leaves the store unchanged. Rejected rows are written to a CSV under ``<data>/rejects`` and
    counted. Polls stamped later than the clock plus ``max_future`` come from a poller with a
    wrong clock and are rejected (None: no limit).

    Raises
    ------
    InputError
        Nothing to ingest, a file that is missing or cannot be used, a snapshot that shrinks.
    StoreError
        The data directory cannot be written.
    """
    # Imported here: the CSV parsing machinery is not needed to compute a report.
    from storestatus.readers import (  # noqa: PLC0415
        read_hours_csv,
        read_timezones_csv,
    )

    status_files = [status] if isinstance(status, Path) else list(status or ())
    if not status_files and hours is None and timezones is None:
        raise InputError("nothing to ingest: give --status, --hours and/or --timezones")
    named = [("status", path) for path in status_files] + [
        (kind, path) for kind, path in (("hours", hours), ("timezones", timezones)) if path
    ]
    for kind, path in named:  # before any work: a typo must not cost a half-done ingest
        if not path.is_file():
            problem = "is a directory" if path.is_dir() else "does not exist"
            raise InputError(f"{kind} file {path} {problem}; check the path")
    not_after = None if max_future is None else datetime.now(UTC) + max_future
    snapshots: dict[InputKind, tuple[Path, ParsedInput]] = {}  # small: read before writing
    readers: tuple[tuple[InputKind, Path | None, Callable[[Path], ParsedInput]], ...] = (
        ("hours", hours, read_hours_csv),
        ("timezones", timezones, read_timezones_csv),
    )
    for kind, snapshot_path, reader in readers:
        if snapshot_path is not None:
            progress.step(f"reading {snapshot_path.name}")
            snapshots[kind] = (snapshot_path, reader(snapshot_path))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    results = []
    with store.writing():  # one writer session: published whole, or not at all
        for path in status_files:
            results.append(
                _ingest_status(store, path, stamp, not_after=not_after, progress=progress)
            )
        for kind, (path, data) in snapshots.items():
            progress.step(f"storing {path.name}")
            rejects_file = _write_rejects(store, data.rejects, kind, path, stamp)
            if kind == "hours":
                unique = data.rows.height
                version = store.replace_hours(
                    data.rows, allow_shrink=allow_shrink, rejected=data.rejects.height
                )
            else:
                zones = data.rows.unique(STORE_ID, keep="last", maintain_order=True)
                unique = zones.height
                version = store.replace_timezones(
                    zones, allow_shrink=allow_shrink, rejected=data.rejects.height
                )
            results.append(
                FileIngest(
                    kind=kind,
                    source=path,
                    accepted=data.rows.height,
                    rejected=data.rejects.height,
                    blank=data.blank_rows,
                    duplicates_in_file=data.rows.height - unique,
                    inserted=unique,
                    changed=0,
                    unchanged=0,
                    version=version,
                    rejects_file=rejects_file,
                )
            )
    return results


@dataclass
class _StatusTally:
    """Running counts of one status file's ingest."""

    accepted: int = 0
    rejected: int = 0
    blank: int = 0
    unique: int = 0  # polls upserted: one per key
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0
    version: int | None = None
    rejects_file: Path | None = None


def _ingest_status(
    store: Store,
    source: Path,
    stamp: str,
    *,
    not_after: datetime | None = None,
    progress: Progress = SILENT,
) -> FileIngest:
    """Upsert a status file (see ``ingest_status_batches``).

    Polls stamped after ``not_after`` are rejected (see ``ingest_files``).
    """
    from storestatus.readers import read_status_batches  # noqa: PLC0415

    progress.step(f"reading {source.name}", unit="polls")
    batches = read_status_batches(source, not_after=not_after)
    return ingest_status_batches(store, batches, source, stamp, progress=progress)


def ingest_status_batches(
    store: Store,
    batches: Iterator[ParsedInput],
    source: Path,
    stamp: str,
    *,
    range_rows: int | None = None,
    progress: Progress = SILENT,
) -> FileIngest:
    """Upsert the parsed batches of one status file: in one go if it is one batch, else through
    a ``Spill``, in time ranges of about ``range_rows`` polls (default: a batch's).

    A streamed file's batches are parked on disk and upserted again a time range at a time (see
    ``storestatus.spill``): memory then does not depend on the order of the file's rows, and a
    key repeated anywhere in the file counts as a duplicate in it. Rejects go to the rejects
    file of ``source`` and ``stamp``.
    """
    from storestatus.readers import STATUS_BATCH_ROWS  # noqa: PLC0415
    from storestatus.spill import spill_directory  # noqa: PLC0415

    tally = _StatusTally()

    def parsed(batch: ParsedInput) -> pl.DataFrame:
        """Count a batch and keep its rejects; return its clean polls (in file order)."""
        written = _write_rejects(store, batch.rejects, "status", source, stamp)
        tally.rejects_file = written or tally.rejects_file
        tally.accepted += batch.rows.height
        tally.rejected += batch.rejects.height
        tally.blank += batch.blank_rows
        progress.advance(batch.rows.height + batch.rejects.height)
        return batch.rows

    def upsert(polls: pl.DataFrame) -> None:
        done = store.upsert_status(polls)
        tally.unique += polls.height
        tally.inserted += done.inserted
        tally.changed += done.changed
        tally.unchanged += done.unchanged
        tally.version = done.version

    first = parsed(next(batches))  # at least one batch
    second = next(batches, None)
    if second is None:  # read whole (or streamed, but one batch long): one upsert
        progress.step(f"storing {source.name}", total=first.height, unit="polls")
        upsert(last_poll_per_key(first))
        progress.advance(first.height)
    else:  # the spill exists only inside the writer session (``compact`` relies on it)
        with store.writing(), spill_directory(store.data_dir.scratch) as spill:
            spill.add(first)
            empty = first.clear()
            del first  # not held while the next batches are parsed
            spill.add(parsed(second))
            del second
            for batch in batches:
                spill.add(parsed(batch))
                del batch  # not held while the next batch is parsed
            progress.step(f"storing {source.name}", total=spill.polls, unit="polls")
            for polls in spill.ranges(range_rows or STATUS_BATCH_ROWS):
                upsert(polls)
                progress.advance(polls.height)
                del polls  # not held while the next range is read
            if not spill.polls:  # nothing but rejects: the version is still the table's
                upsert(empty)
    return FileIngest(
        kind="status",
        source=source,
        accepted=tally.accepted,
        rejected=tally.rejected,
        blank=tally.blank,
        duplicates_in_file=tally.accepted - tally.unique,
        inserted=tally.inserted,
        changed=tally.changed,
        unchanged=tally.unchanged,
        version=tally.version,
        rejects_file=tally.rejects_file,
    )


def ingest_examples(store: Store) -> list[FileIngest]:
    """Ingest the example data bundled with the package (``storestatus demo``)."""
    from importlib.resources import as_file, files  # noqa: PLC0415

    with as_file(files("storestatus") / "demo_data") as bundled:
        return ingest_files(
            store,
            status=bundled / "store_status.csv",
            hours=bundled / "business_hours.csv",
            timezones=bundled / "timezones.csv",
        )


def wait_for_report(data_dir: DataDir, report_id: str, *, timeout: float) -> ReportRecord:
    """Poll a report until it is no longer Running, for at most ``timeout`` seconds (after which
    its record still says Running)."""
    deadline = time.monotonic() + timeout
    record = report_status(data_dir, report_id)
    while record.state == "Running" and time.monotonic() < deadline:
        time.sleep(0.1)
        record = report_status(data_dir, report_id)
    return record


def last_poll_per_key(polls: pl.DataFrame) -> pl.DataFrame:
    """Keep one row per (store_id, timestamp_utc): the one that comes last in the file.

    A poller's log in time order cannot repeat a key, and one linear pass proves it (ten times
    cheaper than hashing every key), so only files out of order pay for the de-duplication.
    Tuned for A's ingest: re-measure with ``python examples/bench.py --only A``.
    """
    at, store_id = pl.col(TIMESTAMP), pl.col(STORE_ID)
    ascending = (at > at.shift(1)) | ((at == at.shift(1)) & (store_id > store_id.shift(1)))
    if polls.select(ascending.fill_null(True).all()).item():
        return polls
    return polls.unique([STORE_ID, TIMESTAMP], keep="last")


def _write_rejects(
    store: Store, rejects: pl.DataFrame, kind: InputKind, source: Path, stamp: str
) -> Path | None:
    """Keep rejected rows, with their reasons, where the user can find and fix them.

    One file per input file and ingest: the rejects of a later batch are appended to it.
    """
    if rejects.is_empty():
        return None
    target = store.data_dir.rejects / f"{stamp}-{kind}-{_UNSAFE_NAME.sub('_', source.name)}"
    if target.suffix != ".csv":
        target = target.with_name(target.name + ".csv")
    try:
        store.data_dir.rejects.mkdir(parents=True, exist_ok=True)
        with target.open("ab") as handle:
            rejects.write_csv(handle, include_header=handle.tell() == 0)
    except OSError as error:
        raise StoreError(f"cannot write rejects file {target}: {error}") from error
    return target


def compute_from_store(
    store: Store,
    *,
    as_of: datetime | None = None,
    interpolation: Interpolation = "nearest",
    max_future: timedelta = DEFAULT_MAX_FUTURE,
    detail: bool = False,
    max_gap: timedelta | None = None,
    shards: int | None = 1,
    scheduler: str | None = None,
    parts: Path | None = None,
    progress: Progress = SILENT,
) -> ReportResult:
    """Compute the report from one consistent snapshot of the store.

    ``now`` is ``as_of``, else the latest poll in the store not later than the clock plus
    ``max_future`` (one poll from a poller with a wrong clock must not move every default
    report into the future), else (no polls at all) the clock. Only the UTC date partitions the
    candidate window touches are read, and the stores table for the stores polled before it
    (listed with zeros, issue #9): the cost does not grow with the stored history. The result
    says how many polls and stores the window holds, and warns when that is nothing or few: an
    all-zero report must not look like news. ``detail`` and ``max_gap``: see ``compute_report``.

    ``shards`` (issue #11): the stores are split into that many shards by bucket (None: as many
    as the store count calls for, see ``shard_tasks.automatic_shards``), computed one after
    another here, or as tasks on the Dask cluster whose scheduler is at ``scheduler``. Each
    shard writes its rows to a part file in ``parts`` (default: a temporary folder in the
    reports folder, which every worker must see at the same path); the report is their rows in
    store order, the same as in one pass. One shard here is the single pass, in memory.

    Raises
    ------
    StoreError
        The data directory does not exist or cannot be read, or a shard failed.
    """
    store.data_dir.require()
    clock = datetime.now(UTC)
    warnings = []
    with store.reading():  # held until every shard has read its files, wherever it runs
        snapshot = store.snapshot()
        now, later = _reference_time(store, snapshot, as_of, clock + max_future)
        if later:
            warnings.append(
                f"{later} stored polls are stamped after the clock ({_when(clock)}) and were "
                "ignored; check the poller's clock (`storestatus compact` sets them aside)"
            )
        count = automatic_shards(store.count_stores(snapshot)) if shards is None else shards
        if count == 1 and scheduler is None:
            report, coverage = _single_pass(
                store, snapshot, now, interpolation=interpolation, detail=detail, max_gap=max_gap
            )
            reads = store.reads
        else:
            options = ShardOptions(now, interpolation, detail, max_gap)
            report, coverage, reads = _sharded(
                store,
                snapshot,
                options,
                count=count,
                scheduler=scheduler,
                parts=parts,
                progress=progress,
            )
    warnings.extend(_coverage_warnings(coverage, report.height, now))
    return ReportResult(
        report=report,
        now=now,
        snapshot=snapshot,
        polls_in_window=coverage.polls,
        stores_polled=coverage.stores_polled,
        warnings=tuple(warnings),
        shards=count,
        scheduler=scheduler,
        reads=dict(reads),
    )


def _single_pass(
    store: Store,
    snapshot: Snapshot,
    now: datetime,
    *,
    interpolation: Interpolation,
    detail: bool,
    max_gap: timedelta | None,
) -> tuple[pl.DataFrame, Coverage]:
    """The report of every store at once, in memory (a report of one shard)."""
    first, last = poll_dates_needed(now)
    polls = store.read_polls(snapshot, first, last)
    hours = store.read_hours(snapshot)
    timezones = store.read_timezones(snapshot)
    # Stores that went dark are listed too (issue #9), from the small registry of stores.
    polled = store.stores_polled_until(snapshot, now)
    return compute_report_and_coverage(
        polls,
        hours,
        timezones,
        now=now,
        interpolation=interpolation,
        known_stores=polled,
        detail=detail,
        max_gap=max_gap,
    )


def _sharded(
    store: Store,
    snapshot: Snapshot,
    options: ShardOptions,
    *,
    count: int,
    scheduler: str | None,
    parts: Path | None,
    progress: Progress,
) -> tuple[pl.DataFrame, Coverage, dict[str, ReadStats]]:
    """The report in ``count`` shards, run here or on the Dask cluster at ``scheduler``."""
    with ExitStack() as cleanup:
        if parts is None:
            folder = store.data_dir.reports
            with store_errors(f"cannot create {folder}", catching=(OSError,)):
                folder.mkdir(parents=True, exist_ok=True)
                parts = Path(cleanup.enter_context(TemporaryDirectory(dir=folder, prefix=".")))
        else:
            with store_errors(f"cannot create {parts}", catching=(OSError,)):
                parts.mkdir(parents=True, exist_ok=True)
        tasks = [
            ShardTask(
                data_dir=str(store.data_dir.root.resolve()),
                versions=dict(snapshot.versions),
                buckets=(buckets.start, buckets.stop),
                options=options,
                output=str((parts / f"shard-{index:04d}.parquet").resolve()),
            )
            for index, buckets in enumerate(shard_ranges(count))
        ]
        where = "here" if scheduler is None else f"on {scheduler}"
        progress.step(f"computing {count} shards {where}", total=count, unit="shards")
        runner = run_here if scheduler is None else _dask_runner(scheduler)
        outcomes = runner(tasks, lambda _: progress.advance())
        report = read_parts(tasks)
    coverage = Coverage(
        sum(outcome.polls for outcome in outcomes),
        sum(outcome.stores_polled for outcome in outcomes),
    )
    reads: dict[str, ReadStats] = {}
    for outcome in outcomes:
        for table, stats in outcome.reads.items():
            reads[table] = reads.get(table, ReadStats()) + stats
    return report, coverage, reads


def _dask_runner(scheduler: str) -> ShardRunner:
    """The runner of shards on the Dask cluster at ``scheduler`` (the ``[dask]`` extra)."""
    try:
        from storestatus.cluster import dask_runner  # noqa: PLC0415
    except ImportError as error:
        raise StoreError(
            f"--scheduler needs Dask, which is not installed ({error}): "
            "pip install 'storestatus[dask]'"
        ) from None
    return dask_runner(scheduler)


def _reference_time(
    store: Store, snapshot: Snapshot, as_of: datetime | None, not_after: datetime
) -> tuple[datetime, int]:
    """The report's ``now``: ``as_of``, else the latest poll not later than ``not_after`` (the
    clock plus a tolerance for clocks that drift), else the clock; and how many stored polls
    are later than ``not_after`` (0 with ``as_of``)."""
    if as_of is not None:
        return as_of, 0
    latest, later = store.latest_poll(snapshot, not_after=not_after)
    return latest or datetime.now(UTC), later


def _when(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _coverage_warnings(coverage: Coverage, stores: int, now: datetime) -> list[str]:
    """Say when a report's window holds no polls, or polls of only a few of its stores."""
    window = f"the 8 days up to {_when(now)}"
    polled = coverage.stores_polled
    if coverage.polls == 0:
        return [f"no polls in {window}: every store reads 0; is --as-of right?"]
    if polled < stores * FEW_STORES_SHARE:
        return [
            f"only {polled:,} of {stores:,} stores have polls in {window}: "
            "the others read 0; is --as-of right, and is the poller reaching every store?"
        ]
    return []


# The version of ``StoreList.as_json``'s layout: scripts can check what they parse.
STORES_JSON_VERSION: Final = 1


@dataclass(frozen=True)
class StoreList:
    """The stores known at a reference time (``roster.build_roster``), or the silent ones."""

    stores: pl.DataFrame  # roster.ROSTER_COLUMNS, sorted by store_id
    reference_time: datetime
    silent_for: timedelta | None  # None: every known store is listed
    known: int  # stores known at the reference time, listed or not
    snapshot: Snapshot

    @property
    def silent(self) -> int:
        """How many stores are silent for ``silent_for`` (0 without it)."""
        return 0 if self.silent_for is None else self.stores.height

    @property
    def reference_text(self) -> str:
        """The reference time as the rows' instants are written: ``2023-01-25T18:13:22.479220Z``."""
        return f"{self.reference_time.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"

    def as_json(self) -> dict[str, object]:
        """The list as ``storestatus stores --format json`` prints it (instants as ISO text)."""
        return {
            "schema_version": STORES_JSON_VERSION,
            "reference_time": self.reference_text,
            "silent_for": None if self.silent_for is None else format_duration(self.silent_for),
            "stores": roster_as_text(self.stores).to_dicts(),
        }


def list_stores(
    store: Store,
    *,
    as_of: datetime | None = None,
    silent_for: timedelta | None = None,
    max_future: timedelta = DEFAULT_MAX_FUTURE,
) -> StoreList:
    """The known stores, with their time zone, weekly business hours and stored polls.

    The reference time is ``as_of``, else the latest poll not later than the clock plus
    ``max_future``, else the clock: the report's default (``compute_from_store``), so that both
    list the same stores. With ``silent_for``, only the stores without a poll in
    ``[reference - silent_for, reference]`` are listed; that is decided from the UTC date
    partitions the window touches, never the whole history. The poll columns come from the
    stores table and cover the whole stored history (not cut at the reference time).

    Raises
    ------
    StoreError
        The data directory does not exist or cannot be read.
    """
    store.data_dir.require()  # before ``reading``, which would create the folder
    clock = datetime.now(UTC)
    with store.reading():
        snapshot = store.snapshot()
        reference, _ = _reference_time(store, snapshot, as_of, clock + max_future)
        hours = store.read_hours(snapshot)
        timezones = store.read_timezones(snapshot)
        registry = store.read_registry(snapshot)
        window = None if silent_for is None else silence_window(reference, silent_for)
        dates = None if window is None else dates_to_read(window, registry)
        recent = POLLS_SCHEMA.to_frame() if dates is None else store.read_polls(snapshot, *dates)
    roster = build_roster(registry, hours, timezones, reference_time=reference)
    known = roster.height
    if window is not None:
        roster = only_silent(roster, polled_within(recent, window))
    return StoreList(
        stores=roster,
        reference_time=reference,
        silent_for=silent_for,
        known=known,
        snapshot=snapshot,
    )


def explain_store(
    store: Store,
    store_id: str,
    *,
    as_of: datetime | None = None,
    interpolation: Interpolation = "nearest",
    max_gap: timedelta | None = None,
    max_future: timedelta = DEFAULT_MAX_FUTURE,
) -> Explanation:
    """How one store's report row comes about (``storestatus explain``, issue #9).

    Reads what the report reads, as of the same ``now`` (see ``compute_from_store``), but only
    this store's bucket of every table (issue #11): the cost is that of one store, whatever
    the number of stores.

    Raises
    ------
    StoreNotFoundError
        No hours, time zone or stored poll at or before ``now`` names the store.
    StoreError
        The data directory does not exist or cannot be read.
    """
    from storestatus.explain import explain_store as explain  # noqa: PLC0415

    store.data_dir.require()
    clock = datetime.now(UTC)
    with store.reading():
        snapshot = store.snapshot()
        now, _ = _reference_time(store, snapshot, as_of, clock + max_future)
        first, last = poll_dates_needed(now)
        # In a big store, only the store's bucket of each table is read (issue #11): on D's
        # million stores 1.5 s instead of 2.9 s. A small one is read whole, as a report of it
        # is: the pruned reader's Arrow import alone would cost more (0.8 s instead of 0.6 on A).
        pruned = store.count_stores(snapshot) > STORES_PER_SHARD
        own = bucket_of(store_id) if pruned else None
        polls = store.read_store_polls(snapshot, store_id, first, last, pruned=pruned)
        hours = store.read_hours(snapshot, buckets=own)
        timezones = store.read_timezones(snapshot, buckets=own)
        named = any(
            (frame.get_column(STORE_ID) == store_id).any() for frame in (hours, timezones)
        ) or bool((polls.get_column(TIMESTAMP) <= now).any())
        if not named:  # polled only before these dates, perhaps: the registry knows
            known = store.stores_polled_until(snapshot, now, buckets=own)
            named = bool((known == store_id).any())
    if not named:
        raise StoreNotFoundError(
            f"unknown store id {store_id!r}: no business hours, time zone or poll at or before "
            f"{_when(now)} names it (see `storestatus stores`)"
        )
    return explain(
        polls,
        hours,
        timezones,
        store_id=store_id,
        now=now,
        interpolation=interpolation,
        max_gap=max_gap,
    )
