"""Terminal rendering of reports and explanations (rich)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from itertools import groupby, islice
from pathlib import Path
from typing import TYPE_CHECKING, Final

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from storestatus.durations import format_duration

if TYPE_CHECKING:
    from storestatus.explain import Explanation

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


# --- explain (issue #9) ----------------------------------------------------------------------

# One glyph and colour per state: distinct shapes, so the picture reads without colour too.
_GLYPHS: Final = {
    "up": ("█", "green"),
    "down": ("▒", "red"),
    "unknown": ("?", "yellow"),
    "closed": ("·", "bright_black"),
}
_STATUS_STATE: Final = {"active": "up", "inactive": "down", "unknown": "unknown"}


def explanation_view(explanation: Explanation) -> Group:
    """``storestatus explain`` for a person: hours, intervals, polls and spans, then the week's
    timeline and the windows' figures last, where the eye lands after the output scrolls."""
    parts: list[RenderableType] = [
        _explanation_heading(explanation),
        _business_intervals_table(explanation),
    ]
    if any(not poll.counted for poll in explanation.polls):
        parts.append(_skipped_polls_table(explanation))
    parts += [
        _spans_table(explanation),
        _timeline(explanation),
        _windows_table(explanation),
    ]
    return Group(*parts)


def _local_text(explanation: Explanation, instant: datetime, *, seconds: bool = True) -> str:
    """An instant in the store's local time, short enough for four columns in 80."""
    return f"{explanation.local(instant):%a %m-%d %H:%M{':%S' if seconds else ''}}"


def _table(title: str, *columns: str, right: tuple[str, ...] = ()) -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for column in columns:
        table.add_column(column, no_wrap=True)
    for column in right:
        table.add_column(column, justify="right", no_wrap=True)
    return table


def weekday_name(day: int) -> str:
    """0 -> Mon, as hours rows number weekdays."""
    return ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[day]


def _explanation_heading(explanation: Explanation) -> Text:
    gap = explanation.max_gap
    zone = explanation.timezone + (
        " (default: the store has no time-zone row)" if explanation.timezone_defaulted else ""
    )
    hours = (
        ", ".join(
            f"{weekday_name(day)} {start:%H:%M}-{end:%H:%M}"
            for day, start, end in explanation.hours
        )
        or "no rows: open 24/7"
    )
    text = Text()
    text.append(f"Store {explanation.store_id}\n", style="bold")
    text.append(
        f"as of {explanation.now.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC "
        f"({_local_text(explanation, explanation.now)} local)\n"
        f"interpolation {explanation.interpolation}; "
        f"max gap {'none' if gap is None else format_duration(gap)}\n"
    )
    text.append(f"time zone: {zone}\nhours (local): {hours}\n")
    return text


def _business_intervals_table(explanation: Explanation) -> Table:
    table = _table(
        "Business intervals in the 8 days up to now (UTC: see --json)",
        "opens (local)",
        "closes (local)",
        right=("hours",),
    )
    for start, end in explanation.business_intervals:
        table.add_row(
            _local_text(explanation, start),
            _local_text(explanation, end),
            f"{(end - start).total_seconds() / 3600:.2f}",
        )
    if not explanation.business_intervals:
        table.caption = "none: the store was never open in these 8 days"
    return table


def _skipped_polls_table(explanation: Explanation) -> Table:
    """The polls that do not count, a row per run of them with one reason and status (a
    night's polls outside business hours are one row; --json lists each)."""
    table = _table(
        "Polls that do not count",
        "from (local)",
        "to (local)",
        "status",
        "why not",
        right=("polls",),
    )
    runs = groupby(explanation.polls, key=lambda poll: (poll.counted, poll.reason, poll.status))
    for (counted, reason, status), run in runs:
        if counted:
            continue
        polls = list(run)
        first, last = polls[0].timestamp, polls[-1].timestamp
        table.add_row(
            _local_text(explanation, first, seconds=False),
            _local_text(explanation, last, seconds=False),
            status,
            reason,
            str(len(polls)),
        )
    return table


def _spans_table(explanation: Explanation) -> Table:
    table = _table(
        "Which poll stands for which stretch of time",
        "poll (local)",
        "status",
        "from (local)",
        "to (local)",
        right=("hours",),
    )
    for span in explanation.spans:
        glyph, colour = _GLYPHS[_STATUS_STATE[span.status]]
        table.add_row(
            "-" if span.poll is None else _local_text(explanation, span.poll),
            Text(f"{glyph} {span.status}", style=colour),
            _local_text(explanation, span.start, seconds=False),
            _local_text(explanation, span.end, seconds=False),
            f"{span.business_seconds / 3600:.2f}",
        )
    if not explanation.spans:
        table.caption = "no counted polls and no business time"
    return table


def _timeline(explanation: Explanation) -> Text:
    """One row per local date of the week, one cell (two glyphs wide) per local hour."""
    text = Text(f"The last week, hour by hour ({explanation.timezone}):\n", style="bold")
    text.append(" " * 16 + "".join(f"{hour:<12}" for hour in ("00", "06", "12", "18")) + "\n")
    for day, cells in explanation.timeline():
        text.append(f"{day:%a %Y-%m-%d}  ")
        for state in cells:
            if state is None:
                text.append("  ")
            else:
                glyph, colour = _GLYPHS[state]
                text.append(glyph * 2, style=colour)
        text.append("\n")
    text.append("legend: ")
    for name, (glyph, colour) in _GLYPHS.items():
        text.append(glyph * 2, style=colour)
        text.append(f" {name}  ")
    text.append("(blank: outside the week)\n")
    return text


def _windows_table(explanation: Explanation) -> Table:
    table = _table(
        "Figures, as in the report row (minutes for the hour, hours otherwise)",
        "window",
        right=("uptime", "downtime", "unknown", "business", "polls"),
    )
    for name, figures in explanation.windows.items():
        table.add_row(
            name,
            f"{figures.uptime:.2f}",
            f"{figures.downtime:.2f}",
            f"{figures.unknown:.2f}",
            f"{figures.business:.2f}",
            str(figures.polls),
        )
    return table
