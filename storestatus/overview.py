"""What a person wants first from a report (the dashboard's report page, issue #12): how many
stores, how many were down at all, how uptime spreads across them, and the worst ones.

Pure: the report's rows in (as its CSV holds them), figures out. Uptime % of a store is its
share of the week's *known* business time: ``uptime / (uptime + downtime)`` of last week, in
percent; a store with neither (no business hours, or no poll) has none and is counted apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl

from storestatus.schemas import STORE_ID

UPTIME: Final = "uptime_last_week"
DOWNTIME: Final = "downtime_last_week"
PERCENT_EDGES: Final = tuple(float(edge) for edge in range(0, 101, 10))  # 0-10 ... 90-100


@dataclass(frozen=True)
class ReportOverview:
    """The figures of the report page."""

    stores: int
    with_downtime: int  # stores with downtime last week (more than 0.00 h as printed)
    without_known_time: int  # stores with neither uptime nor downtime last week
    uptime_histogram: list[int]  # stores with known time per PERCENT_EDGES bin (100 %: last)
    most_downtime: list[tuple[str, float]]  # (store, hours down last week), worst first


def report_overview(report: pl.DataFrame, *, top: int = 20) -> ReportOverview:
    """The overview of a report's rows; ``top``: how many of the worst stores to list (ties:
    in store id order)."""
    known = report.filter((pl.col(UPTIME) + pl.col(DOWNTIME)) > 0)
    percent = 100 * pl.col(UPTIME) / (pl.col(UPTIME) + pl.col(DOWNTIME))
    # Bins of 10 points, [0, 10) ... [90, 100]: a bin's index is the tens, 100 % in the last.
    bins = len(PERCENT_EDGES) - 1
    index = (percent // 10).clip(0, bins - 1).cast(pl.Int64).alias("bin")
    counted = known.select(index).get_column("bin").value_counts()
    histogram = [0] * bins
    for bin_index, count in counted.iter_rows():
        histogram[bin_index] = count
    down = report.filter(pl.col(DOWNTIME) > 0)
    # The worst: those at or above the top-th largest downtime, then sorted (ties by id). Not a
    # sort of every store: a million-store report's page costs a tenth of a second less.
    cut = down.get_column(DOWNTIME).top_k(top).min() if top > 0 and down.height else None
    candidates = down if cut is None else down.filter(pl.col(DOWNTIME) >= cut)
    worst = candidates.sort([DOWNTIME, STORE_ID], descending=[True, False]).head(top)
    return ReportOverview(
        stores=report.height,
        with_downtime=down.height,
        without_known_time=report.height - known.height,
        uptime_histogram=histogram,
        most_downtime=list(
            zip(worst.get_column(STORE_ID), worst.get_column(DOWNTIME), strict=True)
        ),
    )
