"""A report computed shard by shard is the single-pass report (issue #11, the first block)."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import polars as pl
import pytest
from builders import frames
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from test_properties import scenarios

from storestatus.compute import compute_report
from storestatus.shards import (
    BUCKETS,
    compute_report_in_shards,
    shard_ranges,
    store_buckets,
)


def test_buckets_are_crc32_mod_1024_and_stable() -> None:
    ids = pl.Series(["0", "42", "8377465688456570187", "ü-store", "42"])
    expected = [zlib.crc32(i.encode()) % BUCKETS for i in ids.to_list()]
    assert store_buckets(ids).to_list() == expected
    # Pinned values: a bucket will be stored with the data, so it must never change.
    pinned = store_buckets(pl.Series(["0", "42", "8377465688456570187"])).to_list()
    assert pinned == [801, 136, 204]


def test_shard_ranges_tile_the_buckets_contiguously() -> None:
    for shards in (1, 2, 3, 7, 17, 1000, BUCKETS):
        ranges = shard_ranges(shards)
        assert len(ranges) == shards
        assert ranges[0].start == 0
        assert ranges[-1].stop == BUCKETS
        assert all(a.stop == b.start for a, b in pairwise(ranges))
        sizes = {len(r) for r in ranges}
        assert max(sizes) - min(sizes) <= 1  # as even as can be
    for bad in (0, -1, BUCKETS + 1):
        with pytest.raises(ValueError, match="1 to 1024 shards"):
            shard_ranges(bad)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scenarios(),
    st.integers(1, 17),
    st.sampled_from(["nearest", "previous"]),
    st.sampled_from([None, timedelta(minutes=45)]),
    st.booleans(),
)
def test_sharded_equals_single_pass(
    scenario: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, datetime],
    shards: int,
    method: str,
    gap: timedelta | None,
    detail: bool,
) -> None:
    polls, hours, timezones, now = scenario
    options: dict[str, Any] = {
        "now": now,
        "interpolation": method,
        "max_gap": gap,
        "detail": detail,
    }
    single = compute_report(polls, hours, timezones, **options)
    sharded = compute_report_in_shards(polls, hours, timezones, shards=shards, **options)
    assert_frame_equal(sharded, single, check_exact=True)


def test_many_stores_in_few_and_many_shards_are_byte_identical() -> None:
    # 300 stores spread over the buckets, each with a few polls; the CSV text must match.
    now = datetime(2024, 1, 8, 12, tzinfo=UTC)
    rows = [
        (
            f"store-{n}",
            now - timedelta(hours=k * 7 + n % 5),
            "active" if (n + k) % 3 else "inactive",
        )
        for n in range(300)
        for k in range(4)
    ]
    polls, hours, timezones = frames(
        polls=rows, zones=[(f"store-{n}", "UTC") for n in range(0, 300, 7)]
    )
    known = pl.Series(["gone-dark-1", "gone-dark-2"])
    single = compute_report(polls, hours, timezones, now=now, known_stores=known, detail=True)
    for shards in (1, 2, 5, 64):  # 64: most shards hold a store or two, some none
        sharded = compute_report_in_shards(
            polls, hours, timezones, shards=shards, now=now, known_stores=known, detail=True
        )
        assert sharded.write_csv(float_precision=2) == single.write_csv(float_precision=2)
