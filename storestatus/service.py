"""The operations behind the commands, callable from Python: ingest files, compute a report.

They glue the pure parts (readers, compute) to the store; the CLI only parses and renders.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import polars as pl

from storestatus.compute import compute_report, poll_dates_needed
from storestatus.errors import InputError, StoreError
from storestatus.schemas import STORE_ID, TIMESTAMP, Interpolation
from storestatus.store import Snapshot, Store

_UNSAFE_NAME: Final = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class FileIngest:
    """What ingesting one file did."""

    kind: str  # status, hours or timezones
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


def ingest_files(
    store: Store,
    *,
    status: Path | None = None,
    hours: Path | None = None,
    timezones: Path | None = None,
) -> list[FileIngest]:
    """Ingest any subset of the three inputs, all or nothing.

    Status polls are upserted by (store_id, timestamp_utc), a batch at a time so that memory
    stays bounded whatever the file's size; hours and time zones replace their snapshot. It is
    all one writer session (``Store.writing``): if any file cannot be used as a whole (e.g. a
    missing column) the ``InputError`` leaves the store unchanged. Rejected rows are written to
    a CSV under ``<data>/rejects`` and counted.
    """
    # Imported here: the CSV parsing machinery is not needed to compute a report.
    from storestatus.readers import (  # noqa: PLC0415
        read_hours_csv,
        read_timezones_csv,
    )

    if status is None and hours is None and timezones is None:
        raise InputError("nothing to ingest: give --status, --hours and/or --timezones")
    snapshots = {  # small: read and checked before anything is written
        kind: (path, reader(path))
        for kind, path, reader in (
            ("hours", hours, read_hours_csv),
            ("timezones", timezones, read_timezones_csv),
        )
        if path is not None
    }
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    results = []
    with store.writing():  # one writer session: published whole, or not at all
        if status is not None:
            results.append(_ingest_status(store, status, stamp))
        for kind, (path, data) in snapshots.items():
            rejects_file = _write_rejects(store, data.rejects, kind, path, stamp)
            if kind == "hours":
                unique, version = data.rows.height, store.replace_hours(data.rows)
            else:
                zones = data.rows.unique(STORE_ID, keep="last", maintain_order=True)
                unique, version = zones.height, store.replace_timezones(zones)
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


def _ingest_status(store: Store, source: Path, stamp: str) -> FileIngest:
    """Upsert a status file batch by batch (see ``readers.read_status_batches``)."""
    from storestatus.readers import read_status_batches  # noqa: PLC0415

    accepted = rejected = blank = unique = inserted = changed = unchanged = 0
    rejects_file, version = None, None
    for batch in read_status_batches(source):
        rejects_file = _write_rejects(store, batch.rejects, "status", source, stamp) or rejects_file
        polls = last_poll_per_key(batch.rows)
        done = store.upsert_status(polls)
        accepted, rejected, blank = (
            accepted + batch.rows.height,
            rejected + batch.rejects.height,
            blank + batch.blank_rows,
        )
        unique, inserted, changed, unchanged = (
            unique + polls.height,
            inserted + done.inserted,
            changed + done.changed,
            unchanged + done.unchanged,
        )
        version = done.version
    return FileIngest(
        kind="status",
        source=source,
        accepted=accepted,
        rejected=rejected,
        blank=blank,
        duplicates_in_file=accepted - unique,  # within a batch; across batches: replaced/known
        inserted=inserted,
        changed=changed,
        unchanged=unchanged,
        version=version,
        rejects_file=rejects_file,
    )


def last_poll_per_key(polls: pl.DataFrame) -> pl.DataFrame:
    """Keep one row per (store_id, timestamp_utc): the one that comes last in the file.

    A poller's log in time order cannot repeat a key, and one linear pass proves it (ten times
    cheaper than hashing every key), so only files out of order pay for the de-duplication.
    """
    at, store_id = pl.col(TIMESTAMP), pl.col(STORE_ID)
    ascending = (at > at.shift(1)) | ((at == at.shift(1)) & (store_id > store_id.shift(1)))
    if polls.select(ascending.fill_null(True).all()).item():
        return polls
    return polls.unique([STORE_ID, TIMESTAMP], keep="last")


def _write_rejects(
    store: Store, rejects: pl.DataFrame, kind: str, source: Path, stamp: str
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
    store: Store, *, as_of: datetime | None = None, interpolation: Interpolation = "nearest"
) -> ReportResult:
    """Compute the report from one consistent snapshot of the store.

    ``now`` is ``as_of``, else the latest poll in the store, else (no polls at all) the clock.
    Only the UTC date partitions the candidate window touches are read.
    """
    with store.reading():
        snapshot = store.snapshot()
        now = as_of or store.latest_poll(snapshot) or datetime.now(UTC)
        first, last = poll_dates_needed(now)
        observations = store.read_observations(snapshot, first, last)
        hours = store.read_hours(snapshot)
        timezones = store.read_timezones(snapshot)
    report = compute_report(observations, hours, timezones, now=now, interpolation=interpolation)
    return ReportResult(report=report, now=now, snapshot=snapshot)


def parse_instant(text: str) -> datetime:
    """A timestamp as the CLI accepts it (the poll formats); without a zone it is UTC."""
    cleaned = text.strip()
    cleaned = re.sub(r"\s*UTC$", "+00:00", cleaned, flags=re.IGNORECASE)
    try:
        instant = datetime.fromisoformat(cleaned)
    except ValueError:
        raise InputError(f"cannot read timestamp {text!r}: use e.g. 2023-01-25T18:00:00Z") from None
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)
