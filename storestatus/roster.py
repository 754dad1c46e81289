"""The roster of known stores behind ``storestatus stores``: who they are, and who went silent.

Pure: frames in, frames out, like ``compute``. The reference time is passed in; nothing here
reads files, the clock or the environment.

A store is *known* at a reference time when the business hours or the time zones name it, or
it has a stored poll at or before that time: the report's rule (README, "Report semantics"),
so that both list the same stores. It is *silent for D* when it has no poll ``t`` with
``reference - D <= t <= reference``; a store never polled is silent.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Final

import polars as pl

from storestatus.compute import from_hundredths
from storestatus.schemas import (
    DAY,
    DEFAULT_TIMEZONE,
    END,
    END_OF_DAY,
    FIRST_POLL,
    ISO_UTC,
    LAST_POLL,
    POLLS_STORED,
    START,
    STORE_ID,
    TIMESTAMP,
    TIMEZONE,
)

TIMEZONE_COLUMN: Final = "timezone"
TIMEZONE_DEFAULTED: Final = "timezone_defaulted"
WEEKLY_HOURS: Final = "business_hours_per_week"
ROSTER_COLUMNS: Final = (
    STORE_ID,
    TIMEZONE_COLUMN,
    TIMEZONE_DEFAULTED,
    WEEKLY_HOURS,
    FIRST_POLL,
    LAST_POLL,
    POLLS_STORED,
)
HOURS_OF_A_FULL_WEEK: Final = 168.0  # a store without hours rows is open 24/7

_US_PER_DAY: Final = 86_400_000_000
_US_PER_WEEK: Final = 7 * _US_PER_DAY
_US_PER_HUNDREDTH_HOUR: Final = 36_000_000
_LO: Final = "lo"
_HI: Final = "hi"


def _micros_of_day(column: str) -> pl.Expr:
    """A ``pl.Time`` as exact microseconds since midnight (Polars keeps nanoseconds)."""
    return pl.col(column).cast(pl.Int64) // 1_000


def weekly_business_hours(hours: pl.DataFrame) -> pl.DataFrame:
    """Nominal business hours per week of each store with hours rows, in local wall time.

    The rows' intervals are read exactly as the report reads them (``compute``): an end at or
    after 23:59 means midnight, an end at or before the start runs into the next day (equal
    means 24 hours), and Sunday night runs into Monday, as the week repeats. Their union is
    measured, so overlapping rows count once. DST is ignored on purpose: this is the store's
    promise, not one week's elapsed time.

    Parameters
    ----------
    hours
        Business hours (``schemas.HOURS_SCHEMA``).

    Returns
    -------
    pl.DataFrame
        ``store_id`` and ``business_hours_per_week``, rounded half up to two decimals like the
        report's figures; only stores with rows (a store without any is open 168 hours).
    """
    day = pl.col(DAY).cast(pl.Int64) * _US_PER_DAY
    start, end = _micros_of_day(START), _micros_of_day(END)
    intervals = hours.select(
        STORE_ID,
        (day + start).alias(_LO),
        pl.when(pl.col(END) >= END_OF_DAY)
        .then(day + _US_PER_DAY)
        .when(pl.col(END) <= pl.col(START))
        .then(day + _US_PER_DAY + end)
        .otherwise(day + end)
        .alias(_HI),
    )
    # An interval reaches at most one day past its start, so it wraps past the week's end at
    # most once: its part beyond becomes Monday's.
    wrapped = intervals.filter(pl.col(_HI) > _US_PER_WEEK).select(
        STORE_ID, pl.lit(0, pl.Int64).alias(_LO), (pl.col(_HI) - _US_PER_WEEK).alias(_HI)
    )
    within = intervals.with_columns(pl.col(_HI).clip(upper_bound=_US_PER_WEEK))
    # Sorted by start, an interval adds only what lies past the furthest end before it: every
    # earlier interval starts no later, so together they cover exactly [its start, that end).
    reach = pl.col(_HI).cum_max().shift(1).over(STORE_ID).fill_null(0)
    added = (pl.col(_HI) - pl.max_horizontal(pl.col(_LO), reach)).clip(lower_bound=0)
    weekly = (
        pl.concat([within, wrapped])
        .sort(STORE_ID, _LO)
        .with_columns(added.alias("added"))
        .group_by(STORE_ID)
        .agg(_in_hours(pl.col("added").sum()).alias(WEEKLY_HOURS))
    )
    return from_hundredths(weekly, [WEEKLY_HOURS])


def _in_hours(micros: pl.Expr) -> pl.Expr:
    """Exact microseconds as hundredths of hours, rounded half up (integer arithmetic)."""
    return (micros + _US_PER_HUNDREDTH_HOUR // 2) // _US_PER_HUNDREDTH_HOUR


def build_roster(
    registry: pl.DataFrame,
    hours: pl.DataFrame,
    timezones: pl.DataFrame,
    *,
    reference_time: datetime,
) -> pl.DataFrame:
    """One row per store known at ``reference_time``, sorted by ``store_id``.

    Parameters
    ----------
    registry
        The stores table (``store.STORES_SCHEMA``): first and last poll and polls stored per
        store, over the whole stored history. A store first polled after ``reference_time`` is
        not known then (unless the hours or time zones name it); the poll columns are not cut
        at ``reference_time``.
    hours
        Business hours (``schemas.HOURS_SCHEMA``).
    timezones
        Time zones (``schemas.TIMEZONES_SCHEMA``); a store without one is in America/Chicago.
    reference_time
        The instant the roster is as of (timezone-aware).

    Returns
    -------
    pl.DataFrame
        ``ROSTER_COLUMNS``; a store never polled has null polls and 0 polls stored.
    """
    polled = registry.filter(pl.col(FIRST_POLL) <= reference_time)
    ids = (
        pl.concat(
            [
                hours.get_column(STORE_ID),
                timezones.get_column(STORE_ID),
                polled.get_column(STORE_ID),
            ]
        )
        .unique()
        .sort()
        .to_frame(STORE_ID)
    )
    zones = timezones.unique(STORE_ID, keep="last").select(
        STORE_ID, pl.col(TIMEZONE).alias(TIMEZONE_COLUMN)
    )
    return (
        ids.join(zones, on=STORE_ID, how="left")
        .join(weekly_business_hours(hours), on=STORE_ID, how="left")
        .join(polled, on=STORE_ID, how="left")
        .select(
            STORE_ID,
            pl.col(TIMEZONE_COLUMN).fill_null(DEFAULT_TIMEZONE),
            pl.col(TIMEZONE_COLUMN).is_null().alias(TIMEZONE_DEFAULTED),
            pl.col(WEEKLY_HOURS).fill_null(HOURS_OF_A_FULL_WEEK),
            FIRST_POLL,
            LAST_POLL,
            pl.col(POLLS_STORED).fill_null(0),
        )
        .sort(STORE_ID)
    )


def silence_window(reference_time: datetime, silent_for: timedelta) -> tuple[datetime, datetime]:
    """``[reference - silent_for, reference]``: a poll in it, ends included, breaks the silence.

    The start is kept within the years a poll can have (from 1970): a caller's longer
    ``silent_for`` (even ``timedelta.max``) reaches every poll anyway, and must not overflow.
    """
    earliest = datetime(1970, 1, 1, tzinfo=UTC)
    if silent_for >= reference_time - earliest:
        return earliest, reference_time
    return reference_time - silent_for, reference_time


def dates_to_read(
    window: tuple[datetime, datetime], registry: pl.DataFrame
) -> tuple[date, date] | None:
    """The first and last UTC date whose partitions can hold a poll in ``window`` (None:
    nothing to read), given the stores table (``store.STORES_SCHEMA``).

    No poll is older than the registry's first: a long ``--silent-for`` would otherwise name
    thousands of empty dates, and pruning those costs more than reading the polls.
    """
    first_poll = registry.get_column(FIRST_POLL).min()
    if not isinstance(first_poll, datetime):  # no stored poll
        return None
    start = max(window[0], first_poll)
    if start > window[1]:
        return None
    return start.astimezone(UTC).date(), window[1].astimezone(UTC).date()


def polled_within(polls: pl.DataFrame, window: tuple[datetime, datetime]) -> pl.Series:
    """Ids of the stores with a poll in ``window`` (first, last; both included)."""
    inside = polls.filter(pl.col(TIMESTAMP).is_between(*window, closed="both"))
    return inside.get_column(STORE_ID).unique()


def only_silent(roster: pl.DataFrame, polled: pl.Series) -> pl.DataFrame:
    """The roster's stores that are not in ``polled`` (see ``polled_within``): the silent ones."""
    return roster.filter(~pl.col(STORE_ID).is_in(polled.implode()))


def roster_as_text(roster: pl.DataFrame) -> pl.DataFrame:
    """The roster with its instants as ISO 8601 UTC text (``2023-01-25T18:13:22.479220Z``,
    always six fraction digits, so that they sort and compare as text); null stays null."""
    return roster.with_columns(
        pl.col(FIRST_POLL, LAST_POLL).dt.convert_time_zone("UTC").dt.strftime(ISO_UTC)
    )
