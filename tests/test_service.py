"""Ingest glue: de-duplication within one file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from builders import polls

from storestatus.service import last_poll_per_key

T1 = datetime(2023, 1, 1, 10, tzinfo=UTC)
T2 = datetime(2023, 1, 1, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # in time order (ties broken by id): nothing to remove
        ([("a", T1, "active"), ("b", T1, "active"), ("a", T2, "inactive")], 3),
        # the same key twice in a row: the later line wins
        ([("a", T1, "active"), ("a", T1, "inactive")], 1),
        # out of order, with a repeat far apart
        ([("a", T2, "active"), ("b", T1, "active"), ("a", T2, "inactive")], 2),
        # ties in time with ids descending: out of order, but no repeat
        ([("b", T1, "active"), ("a", T1, "active")], 2),
    ],
)
def test_one_row_per_key_and_the_last_line_wins(
    rows: list[tuple[str, datetime, str]], expected: int
) -> None:
    kept = last_poll_per_key(polls(*rows))
    assert kept.height == expected
    last = {(store, at): status for store, at, status in rows}
    assert {(store, at): status for store, at, status in kept.rows()} == last
