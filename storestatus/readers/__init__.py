"""Parse the three input CSVs into clean, typed Polars frames plus the rows that were rejected.

A bad record never aborts the file: it lands in ``rejects`` with the first reason it failed and
that reason's stable code, so the caller can report it. Only a file that cannot be used as a
whole (unreadable, not CSV, a required column missing) raises :class:`InputError`.

This module is the package's public API, and the rest of ``storestatus`` imports from it alone
(but for ``compaction``, which takes its one reject reason from ``rules``), so the modules behind
it can change freely. The work is done by one module per concern:

- ``csv_input``: from a path, ``.gz`` file or bytes to text columns, whole or streamed; the
  errors that make a whole file unusable; which header names each file kind accepts.
- ``truncation``: whether the file's last record was cut off mid-write.
- ``rules``: the field rules of each file kind and the catalogue of reject reasons and codes.
- ``pipeline``: one lazy plan that applies the rules and splits clean rows from rejects.
- ``fast_status``: the tuned fast path that decodes canonical status records directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import partial
from typing import Final

from storestatus import schemas
from storestatus.readers.csv_input import (
    _HOURS_SPEC,
    _STATUS_SPEC,
    _TIMEZONES_SPEC,
    Source,
    _read_text_batches,
)
from storestatus.readers.fast_status import _split_status
from storestatus.readers.pipeline import (
    HOURS_REJECTS_SCHEMA,
    STATUS_REJECTS_SCHEMA,
    TIMEZONES_REJECTS_SCHEMA,
    ParsedInput,
    _parse,
    _parse_frame,
)
from storestatus.readers.rules import (
    REJECT_REASONS,
    RejectReason,
    _hours_plan,
    _status_plan,
    _timezones_plan,
)

__all__ = [
    "HOURS_REJECTS_SCHEMA",
    "REJECT_REASONS",
    "STATUS_BATCH_ROWS",
    "STATUS_REJECTS_SCHEMA",
    "STREAM_FROM_BYTES",
    "TIMEZONES_REJECTS_SCHEMA",
    "ParsedInput",
    "RejectReason",
    "Source",
    "read_hours_csv",
    "read_status_batches",
    "read_status_csv",
    "read_timezones_csv",
]

STATUS_BATCH_ROWS: Final = 1_000_000  # records parsed and stored at a time: ~0.75 GB at peak
STREAM_FROM_BYTES: Final = 128 << 20  # smaller files are read whole: ~2.2 M polls; A's is 105 MB


def read_status_csv(source: Source, *, not_after: datetime | None = None) -> ParsedInput:
    """Parse a status-poll file (``store_id, status, timestamp_utc``; path, ``.gz`` or bytes).

    Polls stamped after ``not_after`` are rejected (a poller with a clock in the future).
    """
    return _parse(
        source,
        _STATUS_SPEC,
        partial(_status_plan, not_after=not_after),
        schemas.POLLS_SCHEMA,
        fast=partial(_split_status, not_after=not_after),
    )


def read_status_batches(
    source: Source,
    *,
    rows: int = STATUS_BATCH_ROWS,
    whole_below: int = STREAM_FROM_BYTES,
    not_after: datetime | None = None,
) -> Iterator[ParsedInput]:
    """Parse a status-poll file in batches, each of at most ``rows`` records if streamed.

    Memory stays bounded by the batch, not the file: files of ``whole_below`` bytes or more are
    streamed from disk; smaller ones are one batch. Row numbers count from the file's start.
    Polls stamped after ``not_after`` are rejected (a poller with a clock in the future).
    """
    first = 1
    for text in _read_text_batches(source, "status", rows, whole_below=whole_below):
        parsed = _parse_frame(
            text.frame,
            _STATUS_SPEC,
            partial(_status_plan, not_after=not_after),
            schemas.POLLS_SCHEMA,
            partial(_split_status, not_after=not_after),
            first=first,
            cut_off=text.cut_off,
        )
        first += text.frame.height
        del text  # the batch's text is not held while the caller works on its polls
        yield parsed


def read_hours_csv(source: Source) -> ParsedInput:
    """Parse a business-hours file (``store_id, day, start_time_local, end_time_local``)."""
    return _parse(source, _HOURS_SPEC, _hours_plan, schemas.HOURS_SCHEMA)


def read_timezones_csv(source: Source) -> ParsedInput:
    """Parse a store-timezone file (``store_id, timezone_str``; IANA names only)."""
    return _parse(source, _TIMEZONES_SPEC, _timezones_plan, schemas.TIMEZONES_SCHEMA)
