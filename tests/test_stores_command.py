"""``storestatus stores`` (issue #9, section 5): the roster of known stores, and the silent ones.

Weekly business hours are hand-computed; silence is checked at its exact boundary.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import polars as pl
import pytest
from builders import hours, polls, zones
from runners import invoke, start_cli

from storestatus.errors import EXIT_ERROR, EXIT_OK, EXIT_SILENT, EXIT_USAGE
from storestatus.roster import ROSTER_COLUMNS, build_roster, weekly_business_hours
from storestatus.service import list_stores
from storestatus.store import STORES_SCHEMA, Store

NOW = datetime(2023, 1, 23, 1, 0, tzinfo=UTC)  # a 3 h window reaches into the previous UTC date
US = timedelta(microseconds=1)
HEADER = (
    "store_id,timezone,timezone_defaulted,business_hours_per_week,"
    "first_poll_utc,last_poll_utc,polls_stored"
)
MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


def active_polls(*rows: tuple[str, datetime]) -> pl.DataFrame:
    """Polls that all say active: only when a store was polled matters here."""
    return polls(*((store_id, at, "active") for store_id, at in rows))


def weekly(*rows: tuple[int, time, time]) -> float:
    """Weekly business hours of one store with these (day, start, end) rows."""
    frame = weekly_business_hours(hours(*(("s", *row) for row in rows)))
    assert frame.get_column("store_id").to_list() == ["s"]
    return float(frame.get_column("business_hours_per_week").item())


# --- weekly business hours, by hand -------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param([(MON, time(9), time(17))], 8.0, id="one day"),
        pytest.param(
            [(day, time(9), time(17)) for day in (MON, TUE, WED, THU, FRI)],
            40.0,
            id="weekdays only: closed at the weekend",
        ),
        pytest.param([(MON, time(22), time(2))], 4.0, id="overnight into Tuesday"),
        pytest.param(
            [(MON, time(9), time(17)), (MON, time(12), time(20)), (MON, time(9), time(17))],
            11.0,
            id="overlapping and repeated rows count once",
        ),
        pytest.param(
            [(SUN, time(22), time(6)), (MON, time(0), time(3))],
            8.0,  # Sunday 22-24 and Monday 0-6; Monday's 0-3 lies inside it
            id="Sunday night wraps into Monday",
        ),
        pytest.param(
            [(SUN, time(20), time(4)), (SAT, time(20), time(4))],
            16.0,  # Saturday's night ends in Sunday, Sunday's in Monday: no overlap
            id="two overnights at the week's end",
        ),
        pytest.param([(WED, time(9), time(23, 59))], 15.0, id="an end of 23:59 means midnight"),
        pytest.param(
            [(WED, time(9), time(23, 59, 59)), (WED, time(23), time(23, 59))],
            15.0,
            id="an end of 23:59:59 means midnight too",
        ),
        pytest.param([(TUE, time(9), time(9))], 24.0, id="equal start and end mean 24 hours"),
        pytest.param(
            [(day, time(12), time(12)) for day in range(7)],
            168.0,  # every day's 24 hours overlap the next day's: the whole week, once
            id="24 hours from noon every day",
        ),
        pytest.param(
            [(day, time(20), time(8)) for day in range(7)], 84.0, id="every night, wrapping"
        ),
        pytest.param([(FRI, time(0), time(0, 0, 18))], 0.01, id="18 s = 0.005 h rounds up"),
        pytest.param([(FRI, time(0), time(0, 0, 17))], 0.0, id="17 s rounds down"),
    ],
)
def test_weekly_business_hours_by_hand(rows: list[tuple[int, time, time]], expected: float) -> None:
    assert weekly(*rows) == expected


def test_a_store_without_hours_rows_is_open_168_hours_and_a_missing_zone_is_chicago() -> None:
    roster = build_roster(
        STORES_SCHEMA.to_frame(),
        hours(("weekdays", MON, time(9), time(17))),
        zones(("open", "Asia/Kolkata")),
        reference_time=NOW,
    )
    assert roster.columns == list(ROSTER_COLUMNS)
    assert roster.rows() == [
        ("open", "Asia/Kolkata", False, 168.0, None, None, 0),
        ("weekdays", "America/Chicago", True, 8.0, None, None, 0),
    ]


# --- the command ------------------------------------------------------------------------------


def silence_fixture(store: Store) -> None:
    """Stores around a 3 h silence window ending at NOW (2023-01-23 01:00 UTC):

    ``edge`` polled exactly 3 h before (22:00 on the previous UTC date), ``late`` 1 µs earlier,
    ``now`` at NOW, ``after`` only after NOW (and 4 h before), ``never`` only in the hours,
    ``zoned`` only in the time zones.
    """
    store.upsert_status(
        active_polls(
            ("edge", NOW - timedelta(days=2)),
            ("edge", NOW - timedelta(hours=3)),
            ("late", NOW - timedelta(hours=3) - US),
            ("now", NOW),
            ("after", NOW - timedelta(hours=4)),
            ("after", NOW + timedelta(minutes=1)),
        )
    )
    store.replace_hours(hours(("never", SAT, time(10), time(14)), ("now", MON, time(9), time(17))))
    store.replace_timezones(zones(("zoned", "Europe/Berlin"), ("now", "America/New_York")))


def csv_rows(text: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    assert lines[0] == HEADER
    return {line.split(",")[0]: line.split(",")[1:] for line in lines[1:]}


def test_silence_is_decided_at_its_exact_boundary(store: Store) -> None:
    silence_fixture(store)
    listed = list_stores(store, as_of=NOW, silent_for=timedelta(hours=3))
    # A poll exactly 3 h before NOW is inside the window; 1 µs earlier is not; a poll after
    # NOW does not count; a store never polled is silent.
    assert listed.stores.get_column("store_id").to_list() == ["after", "late", "never", "zoned"]
    assert (listed.known, listed.silent) == (6, 4)
    assert list_stores(store, as_of=NOW, silent_for=timedelta(hours=3) + US).silent == 3  # late
    assert list_stores(store, as_of=NOW, silent_for=timedelta(0)).stores.get_column(
        "store_id"
    ).to_list() == ["after", "edge", "late", "never", "zoned"]


def test_a_window_beyond_the_stored_history_reads_what_there_is(store: Store) -> None:
    silence_fixture(store)
    everything = list_stores(store, as_of=NOW, silent_for=timedelta.max)  # from 1970 on
    assert everything.stores.get_column("store_id").to_list() == ["never", "zoned"]
    before_any = list_stores(store, as_of=NOW - timedelta(days=30), silent_for=timedelta(days=1))
    assert before_any.stores.get_column("store_id").to_list() == ["never", "now", "zoned"]


def test_csv_columns_and_exit_3_when_some_store_is_silent(store: Store) -> None:
    silence_fixture(store)
    listed = invoke(
        store.data_dir.root, "stores", "--as-of", "2023-01-23T01:00:00Z", "--silent-for", "3h"
    )
    assert listed.exit_code == EXIT_SILENT == 3
    assert listed.stderr == ""  # not a terminal: cron mails only what the rows say
    assert csv_rows(listed.stdout) == {
        "after": [
            "America/Chicago",
            "true",
            "168.00",
            "2023-01-22T21:00:00.000000Z",
            "2023-01-23T01:01:00.000000Z",  # the whole stored history, not cut at --as-of
            "2",
        ],
        "late": [
            "America/Chicago",
            "true",
            "168.00",
            "2023-01-22T21:59:59.999999Z",
            "2023-01-22T21:59:59.999999Z",
            "1",
        ],
        "never": ["America/Chicago", "true", "4.00", "", "", "0"],
        "zoned": ["Europe/Berlin", "false", "168.00", "", "", "0"],
    }


def test_every_known_store_without_silent_for_exits_0(store: Store) -> None:
    silence_fixture(store)
    listed = invoke(store.data_dir.root, "stores", "--as-of", "2023-01-23T01:00:00Z")
    assert listed.exit_code == EXIT_OK
    rows = csv_rows(listed.stdout)
    assert list(rows) == ["after", "edge", "late", "never", "now", "zoned"]  # sorted by id
    assert rows["now"] == [
        "America/New_York",
        "false",
        "8.00",
        "2023-01-23T01:00:00.000000Z",
        "2023-01-23T01:00:00.000000Z",
        "1",
    ]


def test_no_silent_store_exits_0(store: Store) -> None:
    store.upsert_status(active_polls(("a", NOW - timedelta(hours=1)), ("b", NOW)))
    listed = invoke(store.data_dir.root, "stores", "--silent-for", "1h", "--format", "csv")
    assert (listed.exit_code, listed.stdout, listed.stderr) == (EXIT_OK, f"{HEADER}\n", "")


def test_the_default_reference_time_is_the_newest_poll(store: Store) -> None:
    store.upsert_status(active_polls(("a", NOW - timedelta(hours=2)), ("b", NOW)))
    listed = list_stores(store, silent_for=timedelta(hours=1))
    assert listed.reference_time == NOW
    assert listed.stores.get_column("store_id").to_list() == ["a"]


def test_an_as_of_in_the_past_leaves_out_stores_first_polled_later(store: Store) -> None:
    silence_fixture(store)
    earlier = invoke(store.data_dir.root, "stores", "--as-of", "2023-01-22 21:30:00 UTC")
    # edge (first polled two days before) and after (at 21:00) were known; late, now only
    # later, but now and the never polled stores are named by the hours or time zones.
    assert list(csv_rows(earlier.stdout)) == ["after", "edge", "never", "now", "zoned"]
    before_all = invoke(store.data_dir.root, "stores", "--as-of", "2023-01-01T00:00:00Z")
    assert list(csv_rows(before_all.stdout)) == ["never", "now", "zoned"]


def test_json_is_one_versioned_object_equal_to_the_api_result(store: Store) -> None:
    silence_fixture(store)
    args = ("--format", "json", "--silent-for", "3h", "--as-of", "2023-01-23 01:00:00")
    listed = invoke(store.data_dir.root, "stores", *args)
    assert listed.exit_code == EXIT_SILENT
    assert listed.stderr == ""
    document = json.loads(listed.stdout)
    assert document == list_stores(store, as_of=NOW, silent_for=timedelta(hours=3)).as_json()
    assert document["schema_version"] == 1
    assert document["reference_time"] == "2023-01-23T01:00:00.000000Z"
    assert document["silent_for"] == "3h"
    assert document["stores"][2] == {
        "store_id": "never",
        "timezone": "America/Chicago",
        "timezone_defaulted": True,
        "business_hours_per_week": 4.0,
        "first_poll_utc": None,
        "last_poll_utc": None,
        "polls_stored": 0,
    }
    everything = json.loads(invoke(store.data_dir.root, "stores", "--format", "json").stdout)
    assert everything["silent_for"] is None
    assert everything["reference_time"] == "2023-01-23T01:01:00.000000Z"  # the newest poll
    assert len(everything["stores"]) == 6


def test_table_format_is_aligned_text_with_every_store(store: Store) -> None:
    silence_fixture(store)
    listed = invoke(
        store.data_dir.root, "stores", "--format", "table", "--as-of", "2023-01-23T01:00:00Z"
    )
    assert listed.exit_code == EXIT_OK
    assert listed.stderr == ""
    header, *rows = listed.stdout.splitlines()
    assert header.split() == [
        "store_id",
        "timezone",
        "default",
        "tz",
        "hours/week",
        "first",
        "poll",
        "UTC",
        "last",
        "poll",
        "UTC",
        "polls",
    ]
    assert [row.split()[0] for row in rows] == ["after", "edge", "late", "never", "now", "zoned"]
    assert rows[3].split() == ["never", "America/Chicago", "yes", "4.00", "never", "never", "0"]
    assert rows[4].split() == [
        "now",
        "America/New_York",
        "no",
        "8.00",
        "2023-01-23",
        "01:00:00",
        "2023-01-23",
        "01:00:00",
        "1",
    ]
    assert len({len(row) for row in [header, *rows[:3]]}) == 1  # every column aligned


def test_a_person_at_a_terminal_is_told_how_many_and_as_of_when(
    store: Store, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    silence_fixture(store)
    monkeypatch.setattr(os, "isatty", lambda _descriptor: True)  # stderr is a terminal
    listed = invoke(
        store.data_dir.root, "stores", "--silent-for", "3h", "--as-of", "2023-01-23T01:00:00Z"
    )
    assert listed.exit_code == EXIT_SILENT
    assert listed.stdout.startswith(HEADER)  # stdout is no terminal: CSV
    told = "4 of 6 stores silent for 3h as of 2023-01-23T01:00:00.000000Z\n"
    assert capfd.readouterr().err == told


def test_a_data_directory_from_before_the_registry_gives_the_same_rows(store: Store) -> None:
    silence_fixture(store)
    args = ("--as-of", "2023-01-23T01:00:00Z", "--format", "json")
    with_registry = invoke(store.data_dir.root, "stores", *args).stdout
    manifest = json.loads(store.data_dir.manifest.read_text())  # as the release before wrote it
    del manifest["versions"]["stores"]
    shutil.rmtree(store.tables / "stores")
    store.data_dir.manifest.write_text(json.dumps(manifest))
    without = invoke(store.data_dir.root, "stores", *args)
    assert without.exit_code == EXIT_OK
    assert without.stdout == with_registry
    silent = invoke(store.data_dir.root, "stores", *args, "--silent-for", "3h")
    assert [row["store_id"] for row in json.loads(silent.stdout)["stores"]] == [
        "after",
        "late",
        "never",
        "zoned",
    ]
    assert not (store.tables / "stores").exists()  # a reader writes nothing


def test_a_wrong_data_directory_is_one_line_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "typo"
    listed = invoke(missing, "stores", "--silent-for", "3h")
    assert listed.exit_code == EXIT_ERROR
    assert listed.stdout == ""
    assert listed.stderr.startswith("Error: ")
    assert "is not a storestatus data directory" in listed.stderr
    assert len(listed.stderr.splitlines()) == 1
    assert not missing.exists()


@pytest.mark.parametrize(
    "args",
    [("--silent-for", "3 hours"), ("--as-of", "yesterday"), ("--format", "xml")],
)
def test_bad_options_are_usage_errors(store: Store, args: tuple[str, ...]) -> None:
    store.upsert_status(active_polls(("a", NOW)))
    assert invoke(store.data_dir.root, "stores", *args).exit_code == EXIT_USAGE


def test_a_reader_that_stops_early_is_not_an_error(store: Store) -> None:
    # More than a pipe buffer (64 KiB) of CSV, so that the writes meet the closed pipe.
    store.replace_hours(hours(*((f"store-{n:05}", MON, time(9), time(17)) for n in range(5_000))))
    process = start_cli(store.data_dir.root, "stores")
    assert process.stdout is not None
    assert process.stderr is not None
    assert process.stdout.readline().strip() == HEADER
    process.stdout.close()  # as `| head -1` does
    stderr = process.stderr.read()
    assert process.wait(timeout=60) == EXIT_OK
    assert stderr == ""
