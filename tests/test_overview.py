"""The report page's figures (``storestatus.overview``), on reports computed by hand."""

from __future__ import annotations

import polars as pl

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
    #                                    1 %    25 %          90 %  100 %
    assert overview.uptime_histogram == [1, 0, 1, 0, 0, 0, 0, 0, 0, 2]
    assert overview.most_downtime == [("e", 99.0), ("c", 90.0), ("a", 10.0)]


def test_the_worst_stores_are_cut_at_top_with_ties_in_id_order() -> None:
    rows = [(f"s{n:02d}", 1.0, float(n // 2)) for n in range(30)]  # pairs share a downtime
    worst = report_overview(report(rows), top=5).most_downtime
    assert worst == [("s28", 14.0), ("s29", 14.0), ("s26", 13.0), ("s27", 13.0), ("s24", 12.0)]


def test_bin_edges_belong_to_the_upper_bin_and_100_to_the_last() -> None:
    rows = [(f"s{n}", up, 100.0 - up) for n, up in enumerate([0.0, 9.999, 10.0, 89.99, 90.0])]
    rows.append(("t", 5.0, 0.0))  # 100 %
    assert report_overview(report(rows)).uptime_histogram == [2, 1, 0, 0, 0, 0, 0, 0, 1, 2]


def test_an_empty_report() -> None:
    overview = report_overview(report([]))
    assert (overview.stores, overview.with_downtime, overview.without_known_time) == (0, 0, 0)
    assert overview.uptime_histogram == [0] * 10
    assert overview.most_downtime == []
