"""Build a data directory straight from the generator, without CSV: scenario D of ``bench.py``.

A million stores x 7 days is about 130 M polls: ``storestatus generate`` would write a ~9 GB
status CSV and ``ingest`` would parse it back, which takes far longer than the report being
measured. This builds the same kind of store through the public Python API instead:

- The polls come from ``storestatus.generate.generate_dataset``, the generator behind
  ``storestatus generate``, called once per UTC day (oldest first), like ``storestatus generate
  --hours 24 --end ...`` for each day: the same stores, each at its own minute, with the same
  seeded losses, gaps and outages (each day is seeded by its first hour, as the hourly files
  are). Its text timestamps are parsed back with one strict format (a changed format fails
  loudly) and the typed polls are stored with ``Store.upsert_status``, one writer session
  (``Store.writing``) per day, so memory is bounded by a day (~18.6 M polls at 1 M stores).
- The business hours and time zones are the generator's frames, parsed by the library's own
  readers (``read_hours_csv``/``read_timezones_csv``, from in-memory CSV text) and stored with
  ``Store.replace_hours``/``Store.replace_timezones`` in the first day's session.

Whatever the storage code does on a write (the bucket column, the sort order of an append) it
does here too, as on ``ingest``. Run by ``bench.py`` as its own process, so that its memory is
returned before the reports are measured; usable by hand as well:

    python examples/bench_store.py DATA_DIR --stores 1000000 --days 7
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

import polars as pl

from storestatus.config import DataDir
from storestatus.generate import DEFAULT_END, Dataset, generate_dataset
from storestatus.readers import read_hours_csv, read_timezones_csv
from storestatus.schemas import STATUS, STORE_ID, TIMESTAMP, UTC_MICROS
from storestatus.store import Store

# How ``generate_dataset`` writes an instant: 2023-01-22 12:09:39.388884 UTC.
GENERATED_TIMESTAMP: Final = "%Y-%m-%d %H:%M:%S%.6f UTC"
CHUNK_HOURS: Final = 24  # polls generated and stored at a time: a UTC day, one date partition


@dataclass(frozen=True)
class Built:
    """What ``build_store`` stored."""

    polls: int
    hours_rows: int
    timezone_rows: int
    seconds: float


def typed_polls(generated: pl.DataFrame) -> pl.DataFrame:
    """The generator's text polls as the readers would give them (``schemas.POLLS_SCHEMA``)."""
    return generated.select(
        STORE_ID,
        pl.col(TIMESTAMP).str.strptime(UTC_MICROS, GENERATED_TIMESTAMP, cache=False),
        STATUS,
    )


def store_snapshots(store: Store, data: Dataset) -> tuple[int, int]:
    """Replace the hours and time zones with the generated ones; return the rows stored."""
    hours = read_hours_csv(data.hours.write_csv().encode())
    timezones = read_timezones_csv(data.timezones.write_csv().encode())
    store.replace_hours(hours.rows, rejected=hours.rejects.height)
    store.replace_timezones(timezones.rows, rejected=timezones.rejects.height)
    return hours.rows.height, timezones.rows.height


def build_store(
    root: Path,
    stores: int,
    days: int,
    *,
    end: datetime = DEFAULT_END,
    seed: int = 0,
    chunk_hours: int = CHUNK_HOURS,
    say: bool = True,
) -> Built:
    """Store ``days`` days of polls before ``end`` for ``stores`` stores, with their hours and
    time zones, in the data directory ``root`` (see the module's docstring)."""
    started = time.perf_counter()
    store = Store(DataDir(root))
    chunks = -(-days * 24 // chunk_hours)
    first = end - timedelta(days=days)
    polls = hours_rows = timezone_rows = 0
    for index in range(chunks):
        chunk_start = first + timedelta(hours=index * chunk_hours)
        chunk_end = min(chunk_start + timedelta(hours=chunk_hours), end)
        chunk_started = time.perf_counter()
        data = generate_dataset(stores, chunk_end - chunk_start, end=chunk_end, seed=seed)
        rows = typed_polls(data.status)
        with store.writing():
            if index == 0:
                hours_rows, timezone_rows = store_snapshots(store, data)
            del data
            written = store.upsert_status(rows)
        if written.inserted != rows.height:
            raise RuntimeError(
                f"{chunk_start:%Y-%m-%d %H:%M}: stored {written.inserted:,} of {rows.height:,} "
                "generated polls (the store was not empty?)"
            )
        polls += rows.height
        del rows
        if say:
            print(
                f"  stored [{chunk_start:%Y-%m-%d %H:%M}, {chunk_end:%Y-%m-%d %H:%M}) UTC "
                f"({index + 1}/{chunks}): {written.inserted:,} polls in "
                f"{time.perf_counter() - chunk_started:.1f} s",
                file=sys.stderr,
                flush=True,
            )
    return Built(polls, hours_rows, timezone_rows, time.perf_counter() - started)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("data_dir", type=Path, help="a new or empty data directory")
    parser.add_argument("--stores", type=int, required=True)
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument(
        "--end",
        type=datetime.fromisoformat,
        default=DEFAULT_END,
        help=f"end of the polls (exclusive), UTC [default: {DEFAULT_END:%Y-%m-%d}]",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--chunk-hours",
        type=int,
        default=CHUNK_HOURS,
        help=f"hours generated and stored at a time [default: {CHUNK_HOURS}]",
    )
    args = parser.parse_args(argv)
    for name in ("stores", "days", "chunk_hours"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.data_dir.exists() and any(args.data_dir.iterdir()):
        parser.error(f"{args.data_dir} is not empty")
    end = args.end if args.end.tzinfo else args.end.replace(tzinfo=UTC)
    built = build_store(
        args.data_dir, args.stores, args.days, end=end, seed=args.seed, chunk_hours=args.chunk_hours
    )
    print(
        f"{built.polls} polls, {built.hours_rows} hours rows, {built.timezone_rows} time zones "
        f"in {built.seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
