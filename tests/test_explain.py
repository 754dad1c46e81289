"""``storestatus explain`` (issue #9): a store's numbers, step by step, equal to its report row."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from builders import frames
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from runners import ingest_examples, invoke
from test_detail_and_gaps import OPEN_9_TO_5, SPLIT_DAY, at
from test_properties import scenarios

from storestatus import service
from storestatus.compute import compute_report
from storestatus.config import DataDir
from storestatus.errors import EXIT_ERROR, EXIT_OK, EXIT_USAGE, StoreNotFoundError
from storestatus.explain import Explanation, explain_store
from storestatus.schemas import REPORT_COLUMNS, STORE_ID
from storestatus.store import Store
from storestatus.tables import STATUS_TABLE
from storestatus.vocabulary import Interpolation

WINDOW_COLUMNS = {"uptime": "uptime", "downtime": "downtime", "unknown": "unknown"}


def report_row(
    data: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame], store_id: str, **options: Any
) -> dict[str, Any]:
    report = compute_report(*data, detail=True, **options)
    (row,) = report.filter(pl.col(STORE_ID) == store_id).to_dicts()
    return row


def assert_windows_equal_row(explanation: Explanation, row: dict[str, Any]) -> None:
    for name, figures in explanation.windows.items():
        assert figures.uptime == row[f"uptime_{name}"], name
        assert figures.downtime == row[f"downtime_{name}"], name
        assert figures.unknown == row[f"unknown_{name}"], name
        assert figures.business == row[f"business_hours_{name}"], name
        assert figures.polls == row[f"polls_{name}"], name


def test_explain_lays_out_a_store_by_hand() -> None:
    # Open Mondays 09:00-17:00 UTC; polls 08:30 (closed), 10:00 down, 11:00 and 12:00 up;
    # now Monday 12:00, --max-gap 30m (see test_detail_and_gaps for the figures).
    gap = timedelta(minutes=30)
    explanation = explain_store(*OPEN_9_TO_5, store_id="d", now=at(12), max_gap=gap)
    assert (explanation.timezone, explanation.timezone_defaulted) == ("UTC", False)
    assert explanation.hours == [(0, time(9), time(17))]
    assert explanation.business_intervals == [
        (at(9, days=-7), at(17, days=-7)),  # last Monday (the 8 days reach back to Sunday)
        (at(9), at(12)),  # today, cut at now
    ]
    assert [(p.timestamp, p.counted, p.reason) for p in explanation.polls] == [
        (at(8, 30), False, "outside business hours"),
        (at(10), True, "in business hours"),
        (at(11), True, "in business hours"),
        (at(12), True, "in business hours"),
    ]
    hour = 3600.0
    assert [(s.start, s.end, s.status, s.business_seconds, s.poll) for s in explanation.spans] == [
        # All of last Monday's 8 hours (the 8 days reach back to Sunday) and 09:00-09:30 today.
        (at(12, days=-8), at(9, 30), "unknown", 8.5 * hour, None),
        (at(9, 30), at(10, 30), "inactive", hour, at(10)),
        (at(10, 30), at(11, 30), "active", hour, at(11)),
        (at(11, 30), at(12), "active", hour / 2, at(12)),
    ]
    assert_windows_equal_row(explanation, report_row(OPEN_9_TO_5, "d", now=at(12), max_gap=gap))
    assert explanation.windows["last_day"].unknown == 0.5


def test_explain_without_a_gap_tiles_the_eight_days() -> None:
    explanation = explain_store(*OPEN_9_TO_5, store_id="d", now=at(12), interpolation="previous")
    assert [(s.start, s.end, s.status) for s in explanation.spans] == [
        (at(12, days=-8), at(11), "inactive"),  # the first poll covers what is before it
        (at(11), at(12), "active"),
        (at(12), at(12), "active"),  # the poll at now stands for no time
    ]
    assert sum(s.business_seconds for s in explanation.spans) == 11 * 3600  # 8 h + 3 h


def test_polls_after_now_are_listed_as_not_counted() -> None:
    data = frames(
        polls=[("s", at(10), "active"), ("s", at(13), "inactive")], zones=[("s", "Asia/Kolkata")]
    )
    explanation = explain_store(*data, store_id="s", now=at(12))
    assert [(p.counted, p.reason) for p in explanation.polls] == [
        (True, "in business hours"),
        (False, "after now"),
    ]
    document = explanation.as_json()
    assert document["polls"] == [
        {
            "timestamp_utc": "2024-01-08T10:00:00.000000Z",
            "status": "active",
            "counted": True,
            "reason": "in business hours",
        },
        {
            "timestamp_utc": "2024-01-08T13:00:00.000000Z",
            "status": "inactive",
            "counted": False,
            "reason": "after now",
        },
    ]
    # 24/7 in Kolkata (+05:30): one interval over the 8 days, local times with their offset.
    assert document["business_intervals"] == [
        {
            "start_utc": "2023-12-31T12:00:00.000000Z",
            "end_utc": "2024-01-08T12:00:00.000000Z",
            "start_local": "2023-12-31T17:30:00+05:30",
            "end_local": "2024-01-08T17:30:00+05:30",
        }
    ]


def test_a_store_without_time_zone_or_polls_is_all_unknown_in_chicago() -> None:
    data = frames(polls=[], hours=[("h", 0, time(9), time(17))])
    explanation = explain_store(*data, store_id="h", now=at(12))
    assert (explanation.timezone, explanation.timezone_defaulted) == ("America/Chicago", True)
    # Chicago is UTC-6 in January: Monday 09:00-17:00 local is 15:00-23:00 UTC, last week only.
    assert explanation.business_intervals == [(at(15, days=-7), at(23, days=-7))]
    assert [(s.status, s.business_seconds) for s in explanation.spans] == [("unknown", 8 * 3600.0)]
    assert explanation.windows["last_week"].unknown == 8.0
    assert explanation.polls == []


def test_timeline_cells_take_the_state_that_fills_most_of_the_local_hour() -> None:
    # The split day with --max-gap 30m, now Monday 14:00 UTC: 09:00-11:20 unknown, 11:20-12:00
    # down, 12:00-13:00 closed, 13:00-13:40 up, 13:40-14:00 unknown.
    explanation = explain_store(*SPLIT_DAY, store_id="c", now=at(14), max_gap=timedelta(minutes=30))
    rows = dict(explanation.timeline())
    assert list(rows) == [at(0, days=-7).date() + timedelta(days=n) for n in range(8)]
    today = rows[at(0).date()]
    assert today[:9] == ["closed"] * 9
    assert today[9:14] == ["unknown", "unknown", "down", "closed", "up"]
    assert today[14:] == [None] * 10  # after now
    last_monday = rows[at(0, days=-7).date()]
    assert last_monday[:14] == [None] * 14  # before the week
    assert last_monday[14:] == ["unknown"] * 3 + ["closed"] * 7  # 14:00-17:00 open


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    scenarios(),
    st.sampled_from(["nearest", "previous"]),
    st.sampled_from([None, timedelta(minutes=45), timedelta(hours=3)]),
)
def test_explain_equals_the_report_row_of_every_store(
    scenario: tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, datetime],
    method: Interpolation,
    gap: timedelta | None,
) -> None:
    observations, hours, timezones, now = scenario
    options: dict[str, Any] = {"now": now, "interpolation": method, "max_gap": gap}
    report = compute_report(observations, hours, timezones, detail=True, **options)
    for row in report.iter_rows(named=True):
        explanation = explain_store(
            observations, hours, timezones, store_id=row[STORE_ID], **options
        )
        assert_windows_equal_row(explanation, row)
        assert explanation.last_poll == row["last_poll_utc"]
        # The spans, unknown ones included, share out all of the business time, once each.
        open_seconds = sum(
            (end - start).total_seconds() for start, end in explanation.business_intervals
        )
        shared = sum(span.business_seconds for span in explanation.spans)
        assert abs(shared - open_seconds) < 1e-6 * max(1.0, open_seconds), (shared, open_seconds)


# --- through the CLI --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled examples, ingested once."""
    data = tmp_path_factory.mktemp("explain") / "data"
    ingest_examples(data)
    return data


def report_rows(data_dir: Path, *options: str) -> dict[str, dict[str, str]]:
    """The CSV of a report computed with these options, by store id."""
    triggered = invoke(data_dir, "trigger-report", "--wait", *options)
    assert triggered.exit_code == 0, triggered.stderr
    fetched = invoke(data_dir, "get-report", triggered.stdout.strip(), "--output", "-")
    frame = pl.read_csv(fetched.stdout.encode(), schema_overrides={STORE_ID: pl.String})
    return {row[STORE_ID]: row for row in frame.iter_rows(named=True)}


@pytest.mark.parametrize("options", [(), ("--interpolation", "previous", "--max-gap", "90m")])
def test_explain_json_equals_the_reports_csv(data_dir: Path, options: tuple[str, ...]) -> None:
    rows = report_rows(data_dir, "--detail", *options)
    for store_id, row in rows.items():
        shown = invoke(data_dir, "explain", store_id, "--json", *options)
        assert shown.exit_code == EXIT_OK, shown.stderr
        document = json.loads(shown.stdout)
        assert document["schema_version"] == 1
        assert document["store_id"] == store_id
        for name, figures in document["windows"].items():
            assert figures["uptime"] == row[f"uptime_{name}"]
            assert figures["downtime"] == row[f"downtime_{name}"]
            assert figures["unknown"] == row[f"unknown_{name}"]
            assert figures["business"] == row[f"business_hours_{name}"]
            assert figures["polls"] == row[f"polls_{name}"]
        assert document["last_poll_utc"] == row["last_poll_utc"]
        assert set(document) >= {"now", "interpolation", "timezone", "timezone_defaulted"}
        assert set(document) >= {"business_intervals", "polls", "spans", "windows"}


def test_explain_prints_a_timeline_and_the_figures(data_dir: Path) -> None:
    store_id = next(iter(report_rows(data_dir)))
    shown = invoke(data_dir, "explain", store_id, "--max-gap", "2h")
    assert shown.exit_code == EXIT_OK, shown.stderr
    assert shown.stderr == ""
    text = shown.stdout
    assert f"Store {store_id}" in text
    assert "max gap 2h" in text
    assert "legend: ██ up  ▒▒ down  ?? unknown  ·· closed" in text
    assert "Which poll stands for which stretch of time" in text
    assert "last_week" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_an_unknown_store_is_one_line_and_exit_2(data_dir: Path) -> None:
    shown = invoke(data_dir, "explain", "no-such-store")
    assert shown.exit_code == EXIT_USAGE
    assert shown.stdout == ""
    assert shown.stderr.startswith("Error: unknown store id 'no-such-store'")
    assert len(shown.stderr.splitlines()) == 1


def test_a_wrong_data_directory_is_one_line_and_exit_1(tmp_path: Path) -> None:
    shown = invoke(tmp_path / "nothing-here", "explain", "42")
    assert shown.exit_code == EXIT_ERROR
    assert len(shown.stderr.splitlines()) == 1
    assert not (tmp_path / "nothing-here").exists()


@pytest.mark.parametrize("gap", ["0s", "2x", "99999999999d"])
def test_a_bad_max_gap_is_a_usage_error(data_dir: Path, gap: str) -> None:
    shown = invoke(data_dir, "explain", "42", "--max-gap", gap)
    assert shown.exit_code == EXIT_USAGE
    assert "--max-gap" in shown.stderr


def test_report_columns_are_unchanged_without_detail(data_dir: Path) -> None:
    rows = report_rows(data_dir)
    assert list(next(iter(rows.values()))) == list(REPORT_COLUMNS)


def test_a_big_store_explains_from_the_store_s_bucket_alone_with_the_same_answer(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_examples(data_dir)
    ids = ["0042", "1481966498820158979", "night-owl", "ghost-no-hours"]
    whole: dict[str, object] = {}
    for store_id in ids:
        reader = Store(DataDir(data_dir))
        try:
            whole[store_id] = service.explain_store(reader, store_id).as_json()
        except StoreNotFoundError as error:  # the same error is expected below
            whole[store_id] = repr(error)
        assert STATUS_TABLE not in reader.reads or reader.reads[STATUS_TABLE].row_groups == 0
    monkeypatch.setattr(service, "STORES_PER_SHARD", 0)  # every store counts as big
    for store_id in ids:
        reader = Store(DataDir(data_dir))
        try:
            pruned: object = service.explain_store(reader, store_id).as_json()
        except StoreNotFoundError as error:
            pruned = repr(error)
        assert pruned == whole[store_id]
        if isinstance(pruned, dict):  # the footers were looked at: the pruned reader ran
            assert reader.reads[STATUS_TABLE].row_groups > 0
