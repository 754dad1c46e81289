"""Tiny input frames from plain tuples, with the exact schemas the readers and the store give.

``polls(("s", at, "active"))``, ``hours(("s", 0, time(9), time(17)))`` and
``zones(("s", "UTC"))`` build one frame each; ``frames(polls=[...], hours=[...], zones=[...])``
builds the three inputs of ``compute_report`` at once. Without rows they give empty frames,
which mean no polls, no business hours (open all week) and no time zones (Chicago).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, time

import polars as pl

from storestatus.schemas import HOURS_SCHEMA, POLLS_SCHEMA, TIMEZONES_SCHEMA

PollRow = tuple[str, datetime, str]  # store_id, timestamp_utc, status
HoursRow = tuple[str, int, time, time]  # store_id, day (0 = Monday), start, end (local)
ZoneRow = tuple[str, str]  # store_id, timezone_str

Frames = tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]


def _frame(rows: Iterable[tuple[object, ...]], schema: pl.Schema) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=schema, orient="row")


def polls(*rows: PollRow) -> pl.DataFrame:
    """Status polls, as ``read_status_csv`` and ``Store.read_polls`` give them."""
    return _frame(rows, POLLS_SCHEMA)


def hours(*rows: HoursRow) -> pl.DataFrame:
    """Business hours rows, as ``read_hours_csv`` and ``Store.read_hours`` give them."""
    return _frame(rows, HOURS_SCHEMA)


def zones(*rows: ZoneRow) -> pl.DataFrame:
    """Time zone rows, as ``read_timezones_csv`` and ``Store.read_timezones`` give them."""
    return _frame(rows, TIMEZONES_SCHEMA)


def frames(
    polls: Iterable[PollRow] = (),
    hours: Iterable[HoursRow] = (),
    zones: Iterable[ZoneRow] = (),
) -> Frames:
    """The three input frames of ``compute_report``: observations, business hours, time zones."""
    return (
        _frame(polls, POLLS_SCHEMA),
        _frame(hours, HOURS_SCHEMA),
        _frame(zones, TIMEZONES_SCHEMA),
    )
