"""Seeded, realistic input data at any scale: status polls for real stores' hours and time zones.

The stores are the real ones bundled in ``demo_data`` (their business hours and time zones,
verbatim), then numbered copies of them for larger runs. The polls are made up but shaped like
the original week of data: one poll an hour at a store's own minute, a few minutes of jitter,
lost polls, multi-hour gaps and outages. Everything is drawn with NumPy in whole arrays (there is
no loop over stores or polls): 100,000 stores x 7 days (13 M polls) take about 10 s to write.

Each random quantity has its own stream spawned from the seed, and arrays are filled store by
store, so the first stores' polls do not depend on how many stores are generated. A store's own
traits (its minute, whether it is flaky) depend on the seed alone, so an hourly file generated
after a history keeps each store's schedule; the rest is also seeded by the first hour, so
consecutive hourly files lose different polls.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from storestatus import schemas
from storestatus.errors import InputError, OutputError

__all__ = [
    "DEFAULT_END",
    "DEFAULT_STORES",
    "Dataset",
    "generate_dataset",
    "real_store_ids",
    "write_dataset",
]

DEFAULT_END: Final = datetime(2023, 1, 25, tzinfo=UTC)  # the week of the original dataset
DEFAULT_STORES: Final = 14_000

STATUS_FILE: Final = "store_status.csv"
HOURS_FILE: Final = "business_hours.csv"
TIMEZONES_FILE: Final = "timezones.csv"
HOURS_DAY: Final = "dayOfWeek"  # the generated hours file spells the weekday as the API did

_REAL_HOURS: Final = "real_business_hours.csv.gz"  # its weekday column is `day`
_REAL_TIMEZONES: Final = "real_timezones.csv.gz"
_TIMESTAMP_FORMAT: Final = "%Y-%m-%d %H:%M:%S%.6f UTC"  # 2023-01-22 12:09:39.388884 UTC

_US_PER_S: Final = 1_000_000
_HOUR_US: Final = 3600 * _US_PER_S
_HOURS_PER_WEEK: Final = 7 * 24

# The original data has about 1.8 M polls for 14,000 stores x 7 days (77% of the store-hours).
# Gaps alone remove ~7% of the hours, so independent losses must be 17% (not 10%) to match.
_POLL_LOSS: Final = 0.17
_JITTER_SD_US: Final = 90 * _US_PER_S
_JITTER_MAX_US: Final = 5 * 60 * _US_PER_S
_GAP_RATE: Final = 1 / 72  # per store-hour: a gap about every 3 days
_GAP_HOURS: Final = (2, 8)
_OUTAGE_RATE: Final = 2 / _HOURS_PER_WEEK  # per store-hour: about 2 outages a week
_OUTAGE_HOURS: Final = (1, 6)
_FLAKY_SHARE: Final = 0.03
_FLAKY_FACTOR: Final = 5.0

# One stream per random quantity (index into SeedSequence.spawn), so that changing how one is
# drawn never shifts the others: store traits, then what happens hour by hour.
_OFFSET, _FLAKY = range(2)
_LOSS, _GAP_START, _GAP_LENGTH, _OUTAGE_START, _OUTAGE_LENGTH, _JITTER = range(6)


@dataclass(frozen=True)
class Dataset:
    """The three input files as text frames, ready for ``write_csv``.

    ``status`` has ``store_id, status, timestamp_utc`` sorted by time (then store id), as a
    poller logs them; ``hours`` has ``store_id, dayOfWeek, start_time_local, end_time_local`` and
    ``timezones`` has ``store_id, timezone_str``, both sorted by store id.
    """

    status: pl.DataFrame
    hours: pl.DataFrame
    timezones: pl.DataFrame


def generate_dataset(
    stores: int, span: timedelta, *, end: datetime = DEFAULT_END, seed: int = 0
) -> Dataset:
    """Generate polls for ``stores`` stores over ``[end - span, end)``, with their hours and zones.

    Stores are the real store ids in text order (the same ``stores`` always gives the same
    stores, whatever the span or seed); beyond the real count come copies ``<id>-1``,
    ``<id>-2``, ... that share their original's hours rows and time zone, or lack of them.

    For each store and each UTC hour there is a poll at the store's own random minute plus a few
    minutes of jitter, kept inside that hour and inside the span. About 17% of polls are lost, a
    2-8 hour gap with no polls comes about every 3 days, and polls are ``inactive`` during 1-6
    hour outages (about 2 a week; 3% of stores are flaky and have 5 times as many).

    Parameters
    ----------
    stores
        How many stores, at least 1.
    span
        How much history before ``end``; must be positive.
    end
        End of the span (exclusive); a naive datetime is UTC.
    seed
        Seed of the random streams, at least 0: the same arguments give the same frames.

    Returns
    -------
    Dataset
        Text frames for the three input files.

    Raises
    ------
    InputError
        If ``stores`` is below 1, ``span`` is not positive or ``seed`` is negative.

    Examples
    --------
    >>> data = generate_dataset(100, timedelta(days=1), seed=1)
    >>> data.status.columns
    ['store_id', 'status', 'timestamp_utc']
    """
    if stores < 1:
        raise InputError(f"cannot generate {stores} stores: give at least 1")
    if span <= timedelta(0):
        raise InputError(f"cannot generate polls for a span of {span}: give a positive span")
    if seed < 0:
        raise InputError(f"cannot use the seed {seed}: give a seed of 0 or more")
    end = end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
    chosen = _choose_stores(stores)
    status = _generate_status(chosen.get_column(schemas.STORE_ID), end - span, end, seed)
    real_hours, real_zones = _real_inputs()
    hours = (
        chosen.join(real_hours, left_on="original", right_on=schemas.STORE_ID)
        .select(schemas.STORE_ID, HOURS_DAY, schemas.START, schemas.END)
        .sort(pl.all())
    )
    zones = (
        chosen.join(real_zones, left_on="original", right_on=schemas.STORE_ID)
        .select(schemas.STORE_ID, schemas.TIMEZONE)
        .sort(schemas.STORE_ID)
    )
    return Dataset(status=status, hours=hours, timezones=zones)


def write_dataset(dataset: Dataset, out_dir: Path) -> list[Path]:
    """Write ``store_status.csv``, ``business_hours.csv`` and ``timezones.csv`` into ``out_dir``.

    The folder is created if needed and existing files are replaced.

    Returns
    -------
    list[Path]
        The three paths, in that order.

    Raises
    ------
    OutputError
        If the folder or a file cannot be written.
    """
    targets = [out_dir / STATUS_FILE, out_dir / HOURS_FILE, out_dir / TIMEZONES_FILE]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for frame, target in zip(
            (dataset.status, dataset.hours, dataset.timezones), targets, strict=True
        ):
            frame.write_csv(target)
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutputError(
            f"cannot write the generated files to {out_dir} ({reason}); "
            "check the path and permissions"
        ) from error
    return targets


def real_store_ids() -> pl.Series:
    """The ids of the bundled real stores (in the hours file or the time zones), in text order."""
    hours, zones = _real_inputs()
    return (
        pl.concat([hours.get_column(schemas.STORE_ID), zones.get_column(schemas.STORE_ID)])
        .unique()
        .sort()
    )


@cache
def _real_inputs() -> tuple[pl.DataFrame, pl.DataFrame]:
    """The bundled real business hours (weekday as ``dayOfWeek``) and time zones, as text."""
    folder = files("storestatus") / "demo_data"

    def read(name: str) -> pl.DataFrame:
        data = gzip.decompress((folder / name).read_bytes())
        return pl.read_csv(data, infer_schema=False)

    hours = read(_REAL_HOURS).select(
        schemas.STORE_ID, pl.col("day").alias(HOURS_DAY), schemas.START, schemas.END
    )
    return hours, read(_REAL_TIMEZONES).select(schemas.STORE_ID, schemas.TIMEZONE)


def _choose_stores(count: int) -> pl.DataFrame:
    """``store_id`` and its ``original`` real id: the first ``count`` real ids, then copies."""
    real = real_store_ids()
    index = pl.int_range(count, dtype=pl.Int64, eager=True)
    original = real.gather(index % real.len())
    copy = index // real.len()
    store_id = (
        pl.when(copy == 0)
        .then(original)
        .otherwise(pl.format("{}-{}", original, copy))
        .alias(schemas.STORE_ID)
    )
    return pl.DataFrame({"original": original, "copy": copy}).select(store_id, "original")


def _generate_status(
    store_ids: pl.Series, start: datetime, end: datetime, seed: int
) -> pl.DataFrame:
    """The polls of ``store_ids`` in ``[start, end)`` as a poller's log, sorted by time."""
    at, store, inactive = _draw_polls(store_ids.len(), _epoch_us(start), _epoch_us(end), seed)
    # Ties on a microsecond go by store_id as text: rank the ids once, sort on the integer rank.
    by_text = store_ids.arg_sort().to_numpy()
    rank = np.empty(store_ids.len(), dtype=np.uint32)
    rank[by_text] = np.arange(store_ids.len(), dtype=np.uint32)
    polls = pl.DataFrame({"at": at, "rank": rank[store], "inactive": inactive}).sort("at", "rank")
    del at, store, inactive
    return pl.DataFrame(
        [
            store_ids.gather(by_text).gather(polls.get_column("rank")).alias(schemas.STORE_ID),
            polls.select(
                pl.when("inactive")
                .then(pl.lit(schemas.INACTIVE))
                .otherwise(pl.lit(schemas.ACTIVE))
                .alias(schemas.STATUS)
            ).to_series(),
            # Formatting a naive datetime is ~25% faster than a UTC one; the values are UTC.
            polls.get_column("at")
            .cast(pl.Datetime("us"))
            .dt.strftime(_TIMESTAMP_FORMAT)
            .alias(schemas.TIMESTAMP),
        ]
    )


def _draw_polls(
    count: int, start_us: int, end_us: int, seed: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
    """Poll times (epoch µs), store indices and inactive flags; row ``i`` is store ``i``."""
    first_hour = start_us // _HOUR_US * _HOUR_US
    hours = -(-(end_us - first_hour) // _HOUR_US)  # UTC hours that overlap the span
    traits = _streams(seed, 2)
    streams = _streams([seed, first_hour // _HOUR_US % 2**64], 6)

    offset = traits[_OFFSET].integers(0, _HOUR_US, size=count)
    flaky = traits[_FLAKY].random(count) < _FLAKY_SHARE
    outage_rate = np.where(flaky, _OUTAGE_RATE * _FLAKY_FACTOR, _OUTAGE_RATE)

    polled = streams[_LOSS].random((count, hours), dtype=np.float32) >= _POLL_LOSS
    polled &= ~_episodes(
        streams[_GAP_START], streams[_GAP_LENGTH], np.full(count, _GAP_RATE), hours, _GAP_HOURS
    )
    outage = _episodes(
        streams[_OUTAGE_START], streams[_OUTAGE_LENGTH], outage_rate, hours, _OUTAGE_HOURS
    )
    store, hour = np.nonzero(polled)  # store-major: later draws also go store by store
    inactive = outage[store, hour]

    jitter = streams[_JITTER].normal(0.0, _JITTER_SD_US, size=store.size)
    at = offset[store] + np.clip(jitter, -_JITTER_MAX_US, _JITTER_MAX_US).astype(np.int64)
    # Reflect off the hour's edges: one poll per store-hour, so each store's polls increase.
    at = np.where(at < 0, -at, at)
    at = np.where(at >= _HOUR_US, 2 * _HOUR_US - 1 - at, at)
    at += first_hour + hour * _HOUR_US
    # Only the partial first and last hours (an `end` off the hour) can fall outside the span;
    # those polls are dropped, not moved, as a poller would not have made them yet.
    inside = (at >= start_us) & (at < end_us)
    return at[inside], store[inside], inactive[inside]


def _streams(entropy: int | list[int], count: int) -> list[np.random.Generator]:
    """Independent generators from one seed (NumPy's recommended way to split a seed)."""
    return [np.random.default_rng(child) for child in np.random.SeedSequence(entropy).spawn(count)]


def _episodes(
    starts: np.random.Generator,
    lengths: np.random.Generator,
    rate: npt.NDArray[np.float64],
    hours: int,
    bounds: tuple[int, int],
) -> npt.NDArray[np.bool_]:
    """Which store-hours fall in an episode (gap or outage); ``rate[i]`` is store i's per hour.

    Episodes start in each hour with that probability and last a uniform whole number of hours
    within ``bounds``. They are drawn from ``bounds[1]`` hours before the span, so episodes
    already under way at its start show up too. Overlapping episodes merge.
    """
    shortest, longest = bounds
    total = hours + longest
    begins = starts.random((rate.size, total), dtype=np.float32) < rate.astype(np.float32)[:, None]
    store, hour = np.nonzero(begins)
    del begins
    # reach[i, h]: the hour at which store i's latest episode begun by hour h ends (exclusive).
    reach = np.zeros((rate.size, total), dtype=np.int32)
    reach[store, hour] = hour + lengths.integers(shortest, longest + 1, size=store.size)
    np.maximum.accumulate(reach, axis=1, out=reach)
    covered: npt.NDArray[np.bool_] = reach[:, longest:] > np.arange(longest, total, dtype=np.int32)
    return covered


def _epoch_us(instant: datetime) -> int:
    """Microseconds since the Unix epoch, exactly (no float rounding)."""
    delta = instant - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * _US_PER_S + delta.microseconds
