"""The report page's figures (``storestatus.overview``), on reports computed by hand."""

from __future__ import annotations

import polars as pl
import pytest

from storestatus.overview import report_overview


def report(rows: list[tuple[str, float, float]]) -> pl.DataFrame:
    """Rows of (store, uptime last week, downtime last week), other columns as in a report."""
    return pl.DataFrame(
        {
            "store_id": [row[0] for row in rows],
            "uptime_last_hour": [0.0] * len(rows),
            "uptime_last_week": [row[1] for row in rows],
            "downtime_last_week": [row[2] for row in rows],
        }
    )


def test_figures_of_a_small_report() -> None:
    overview = report_overview(
        report(
            [
                ("a", 90.0, 10.0),  # 90 %
                ("b", 0.0, 0.0),  # no known business time: counted apart
                ("c", 30.0, 90.0),  # 25 %
                ("d", 50.0, 0.0),  # 100 %
                ("e", 1.0, 99.0),  # 1 %, the most downtime
            ]
        )
    )
    assert overview.stores == 5
    assert overview.with_downtime == 3
    assert overview.without_known_time == 1
    assert overview.uptime_percent == pytest.approx([1.0, 25.0, 90.0, 100.0])
    assert overview.most_downtime == [("e", 99.0), ("c", 90.0), ("a", 10.0)]


def test_the_worst_stores_are_cut_at_top_with_ties_in_id_order() -> None:
    rows = [(f"s{n:02d}", 1.0, float(n // 2)) for n in range(30)]  # pairs share a downtime
    worst = report_overview(report(rows), top=5).most_downtime
    assert worst == [("s28", 14.0), ("s29", 14.0), ("s26", 13.0), ("s27", 13.0), ("s24", 12.0)]


def test_an_empty_report() -> None:
    overview = report_overview(report([]))
    assert (overview.stores, overview.with_downtime, overview.without_known_time) == (0, 0, 0)
    assert overview.uptime_percent == []
    assert overview.most_downtime == []
