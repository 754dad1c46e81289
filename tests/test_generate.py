"""The data generator: seeded and byte-stable, realistic in shape, readable with zero rejects."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from storestatus import schemas
from storestatus.cli import app
from storestatus.errors import InputError
from storestatus.generate import (
    DEFAULT_END,
    HOURS_DAY,
    Dataset,
    generate_dataset,
    real_store_ids,
    write_dataset,
)
from storestatus.readers import read_hours_csv, read_status_csv, read_timezones_csv

WEEK = timedelta(days=7)
HOUR_US = 3_600_000_000


@cache
def week_of(stores: int, seed: int = 0) -> Dataset:
    """Shared by several tests: generating is pure, so one dataset can serve them all."""
    return generate_dataset(stores, WEEK, seed=seed)


def parsed_polls(dataset: Dataset, tmp_path: Path) -> pl.DataFrame:
    """The polls as the project's reader sees them, after a round trip through the CSV."""
    path = write_dataset(dataset, tmp_path)[0]
    parsed = read_status_csv(path)
    assert parsed.rejects.height == 0
    return parsed.rows


def hour_gaps(polls: pl.DataFrame) -> pl.Series:
    """Hours between each store's consecutive polls (1 = the next hour's poll was made)."""
    hour = pl.col(schemas.TIMESTAMP).dt.epoch("us") // HOUR_US
    return (
        polls.sort(schemas.STORE_ID, schemas.TIMESTAMP)
        .select(hour.diff().over(schemas.STORE_ID).alias("gap"))
        .get_column("gap")
        .drop_nulls()
    )


def test_same_arguments_give_identical_files_and_another_seed_other_polls(
    tmp_path: Path,
) -> None:
    first = write_dataset(generate_dataset(40, timedelta(days=2), seed=5), tmp_path / "a")
    again = write_dataset(generate_dataset(40, timedelta(days=2), seed=5), tmp_path / "b")
    other = write_dataset(generate_dataset(40, timedelta(days=2), seed=6), tmp_path / "c")
    assert [path.name for path in first] == [
        "store_status.csv",
        "business_hours.csv",
        "timezones.csv",
    ]
    assert [path.read_bytes() for path in first] == [path.read_bytes() for path in again]
    assert first[0].read_bytes() != other[0].read_bytes()
    assert [path.read_bytes() for path in first[1:]] == [path.read_bytes() for path in other[1:]]


def test_stores_are_the_first_real_ids_whatever_the_span_or_seed() -> None:
    week = week_of(300)
    hour = generate_dataset(300, timedelta(hours=1), seed=9)
    assert_frame_equal(week.hours, hour.hours)
    assert_frame_equal(week.timezones, hour.timezones)
    chosen = set(real_store_ids().head(300))
    assert set(week.status.get_column(schemas.STORE_ID)) == chosen
    assert set(hour.status.get_column(schemas.STORE_ID)) <= chosen
    assert set(week.hours.get_column(schemas.STORE_ID)) <= chosen
    assert set(week.timezones.get_column(schemas.STORE_ID)) <= chosen


def test_the_first_stores_polls_do_not_depend_on_how_many_are_generated() -> None:
    few = generate_dataset(20, timedelta(days=1), seed=3).status
    more = generate_dataset(60, timedelta(days=1), seed=3).status
    first = set(few.get_column(schemas.STORE_ID))
    assert_frame_equal(few, more.filter(pl.col(schemas.STORE_ID).is_in(first)))


def test_consecutive_hourly_files_keep_each_stores_minute_but_lose_other_polls() -> None:
    def hour_ending(hours: int) -> pl.DataFrame:
        polls = generate_dataset(300, timedelta(hours=1), end=DEFAULT_END + timedelta(hours=hours))
        return polls.status.with_columns(
            minute=pl.col(schemas.TIMESTAMP).str.slice(14, 2).cast(pl.Int64)
        )

    first, second = hour_ending(1), hour_ending(2)
    assert set(first.get_column(schemas.STORE_ID)) != set(second.get_column(schemas.STORE_ID))
    both = first.join(second, on=schemas.STORE_ID)
    drift = (both.get_column("minute") - both.get_column("minute_right")).abs()
    assert ((drift <= 10) | (drift >= 50)).all()  # the same minute, give or take the jitter


def test_copies_beyond_the_real_stores_keep_their_originals_hours_and_zone() -> None:
    real = real_store_ids()
    data = generate_dataset(2 * real.len() + 2, timedelta(hours=1))
    # Every real store has hours rows or a time zone, so every store shows up in one of them.
    ids = pl.concat(
        [data.hours.get_column(schemas.STORE_ID), data.timezones.get_column(schemas.STORE_ID)]
    ).unique()
    assert ids.len() == 2 * real.len() + 2
    assert set(ids.filter(ids.str.ends_with("-2"))) == {f"{real[0]}-2", f"{real[1]}-2"}
    original = pl.col(schemas.STORE_ID).str.replace(r"-[0-9]+$", "")
    for frame in (data.hours, data.timezones):
        originals = frame.filter(pl.col(schemas.STORE_ID).is_in(real.implode()))
        copies = frame.filter(pl.col(schemas.STORE_ID).str.ends_with("-1"))
        assert_frame_equal(copies.with_columns(original).sort(pl.all()), originals.sort(pl.all()))
    # Real stores without hours (open 24/7) or without a zone (the default) stay that way.
    assert data.hours.get_column(schemas.STORE_ID).n_unique() < ids.len()
    assert data.timezones.height < ids.len()


def test_every_row_is_read_back_without_rejects(tmp_path: Path) -> None:
    status, hours, zones = write_dataset(week_of(300), tmp_path)
    assert read_status_csv(status).rejects.height == 0
    read_hours = read_hours_csv(hours)
    assert read_hours.rejects.height == 0
    assert read_hours.rows.height == week_of(300).hours.height > 0
    assert read_timezones_csv(zones).rejects.height == 0
    assert (
        hours.read_text().splitlines()[0] == f"store_id,{HOURS_DAY},start_time_local,end_time_local"
    )
    first = status.read_text().splitlines()[1]
    assert first.endswith(" UTC")
    assert len(first.split(",")[2]) == len("2023-01-22 12:09:39.388884 UTC")


def test_polls_stay_in_the_span_one_per_store_hour_in_time_order(tmp_path: Path) -> None:
    polls = parsed_polls(week_of(300), tmp_path)
    stamps = polls.get_column(schemas.TIMESTAMP)
    assert stamps.min() >= DEFAULT_END - WEEK  # type: ignore[operator]
    assert stamps.max() < DEFAULT_END  # type: ignore[operator]
    assert stamps.is_sorted()  # a poller's log
    assert hour_gaps(polls).min() == 1


def test_an_end_off_the_hour_keeps_polls_inside_the_span(tmp_path: Path) -> None:
    end = datetime(2023, 1, 20, 12, 30, 15, tzinfo=UTC)
    polls = parsed_polls(generate_dataset(200, timedelta(hours=3), end=end), tmp_path)
    stamps = polls.get_column(schemas.TIMESTAMP)
    assert stamps.min() >= end - timedelta(hours=3)  # type: ignore[operator]
    assert stamps.max() < end  # type: ignore[operator]
    assert hour_gaps(polls).min() == 1


def test_polls_have_outages_lost_polls_and_gaps_at_the_original_density(tmp_path: Path) -> None:
    stores = 300
    polls = parsed_polls(week_of(stores), tmp_path)
    density = polls.height / (stores * 7 * 24)
    assert 0.70 <= density <= 0.85
    statuses = polls.get_column(schemas.STATUS).value_counts(name="n")
    shares = dict(zip(statuses[schemas.STATUS], statuses["n"] / polls.height, strict=True))
    assert 0.01 < shares[schemas.INACTIVE] < 0.15
    gaps = hour_gaps(polls)
    assert (gaps == 2).sum() > 0  # one lost poll
    assert (gaps > 3).sum() > 0  # more than two hours without a poll


def test_bad_arguments_raise() -> None:
    with pytest.raises(InputError, match="at least 1"):
        generate_dataset(0, WEEK)
    with pytest.raises(InputError, match="positive span"):
        generate_dataset(1, timedelta(0))
    with pytest.raises(InputError, match="seed"):
        generate_dataset(1, WEEK, seed=-1)


runner = CliRunner()


def test_cli_writes_what_the_api_returns(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    args = ["generate", str(out), "--stores", "25", "--days", "1", "--hours", "3", "--seed", "4"]
    result = runner.invoke(app, [*args, "--end", "2023-01-20T12:00:00+01:00"])
    assert result.exit_code == 0, result.stderr
    expected = generate_dataset(
        25, timedelta(days=1, hours=3), end=datetime(2023, 1, 20, 11, tzinfo=UTC), seed=4
    )
    written = write_dataset(expected, tmp_path / "api")
    assert [(out / path.name).read_bytes() for path in written] == [
        path.read_bytes() for path in written
    ]
    assert result.stdout.startswith(f"generated 25 stores, {expected.status.height} polls: ")
    assert str(out / "store_status.csv") in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--stores", "0"], "--stores"),
        (["--days", "0"], "--days or --hours"),
        (["--end", "tomorrow"], "--end"),
    ],
)
def test_cli_rejects_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["generate", str(tmp_path / "gen"), *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert not (tmp_path / "gen").exists()


def test_help_does_not_import_numpy_or_polars() -> None:
    check = "import sys, storestatus.cli; print(sorted({'numpy', 'polars'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
