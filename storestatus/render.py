"""Terminal rendering of reports (rich)."""

from __future__ import annotations

import csv
from itertools import islice
from pathlib import Path
from typing import Final

from rich.table import Table

_SHORT: Final = {"uptime": "up", "downtime": "down"}


def report_table(csv_path: Path, *, limit: int) -> Table:
    """The first ``limit`` rows of a report CSV as a table, numbers right-aligned."""
    with csv_path.open(newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle)
        header = next(rows)
        table = Table(title=f"First {limit} stores: minutes for the last hour, hours otherwise")
        table.add_column(header[0], no_wrap=True)
        for name in header[1:]:
            # "up"/"down" over the window: seven columns fit in 80 without cutting a header.
            kind, _, window = name.partition("_last_")
            table.add_column(f"{_SHORT.get(kind, kind)}\n{window}", justify="right")
        for row in islice(rows, limit):
            table.add_row(*row)
    return table
