"""How one store's numbers come about: ``storestatus explain`` (issue #9).

Pure: the store's polls, hours and time zone in, an ``Explanation`` out. The figures come from
``compute.trace_store``, i.e. from the very computation of the report, so they equal the
store's report row by construction; this module only lays them out for a person (the
timeline) and for a script (``as_json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final, Literal
from zoneinfo import ZoneInfo

import polars as pl

from storestatus.compute import TICKS_PER_US, WINDOWS, StoreTrace, trace_store
from storestatus.durations import format_duration
from storestatus.schemas import (
    ACTIVE,
    DAY,
    DEFAULT_TIMEZONE,
    END,
    START,
    STATUS,
    STORE_ID,
    TIMESTAMP,
    TIMEZONE,
)
from storestatus.vocabulary import Interpolation

EXPLAIN_JSON_VERSION: Final = 1
UNITS: Final = {"last_hour": "minutes", "last_day": "hours", "last_week": "hours"}
TIMELINE_DAYS: Final = 7  # the timeline shows the week window

State = Literal["up", "down", "unknown", "closed"]
SpanStatus = Literal["active", "inactive", "unknown"]


@dataclass(frozen=True)
class PollLine:
    """A stored poll of the store and what the report made of it."""

    timestamp: datetime
    status: str
    counted: bool
    reason: str  # why it counted, or why not


@dataclass(frozen=True)
class Span:
    """A stretch of time and the status it has: a counted poll's, or none (unknown)."""

    start: datetime
    end: datetime
    status: SpanStatus
    business_seconds: float  # the business time within it
    poll: datetime | None  # the poll whose status it takes (None: unknown)


@dataclass(frozen=True)
class WindowFigures:
    """One window's figures, in the report's units and rounding."""

    uptime: float
    downtime: float
    unknown: float
    business: float
    polls: int


@dataclass(frozen=True)
class Explanation:
    """Everything ``explain`` shows about one store."""

    store_id: str
    now: datetime
    interpolation: Interpolation
    max_gap: timedelta | None
    timezone: str
    timezone_defaulted: bool
    hours: list[tuple[int, time, time]]  # weekday (0 = Monday), start, end; local time
    business_intervals: list[tuple[datetime, datetime]]  # UTC, within [now - 8 days, now]
    polls: list[PollLine]
    spans: list[Span]  # in time order, tiling [now - 8 days, now] where a status is known
    windows: dict[str, WindowFigures]
    last_poll: str | None  # the report's last_poll_utc

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, instant: datetime) -> datetime:
        """An instant in the store's local time."""
        return instant.astimezone(self.zone)

    def as_json(self) -> dict[str, object]:
        """The explanation as ``explain --json`` prints it: instants as ISO 8601 text."""
        return {
            "schema_version": EXPLAIN_JSON_VERSION,
            "store_id": self.store_id,
            "now": _iso(self.now),
            "interpolation": self.interpolation,
            "max_gap": None if self.max_gap is None else format_duration(self.max_gap),
            "timezone": self.timezone,
            "timezone_defaulted": self.timezone_defaulted,
            "hours": [
                {"day_of_week": day, "start_time_local": str(start), "end_time_local": str(end)}
                for day, start, end in self.hours
            ],
            "business_intervals": [
                {
                    "start_utc": _iso(start),
                    "end_utc": _iso(end),
                    "start_local": self.local(start).isoformat(),
                    "end_local": self.local(end).isoformat(),
                }
                for start, end in self.business_intervals
            ],
            "polls": [
                {
                    "timestamp_utc": _iso(poll.timestamp),
                    "status": poll.status,
                    "counted": poll.counted,
                    "reason": poll.reason,
                }
                for poll in self.polls
            ],
            "spans": [
                {
                    "start_utc": _iso(span.start),
                    "end_utc": _iso(span.end),
                    "status": span.status,
                    "business_seconds": span.business_seconds,
                    "poll_utc": None if span.poll is None else _iso(span.poll),
                }
                for span in self.spans
            ],
            "units": UNITS,
            "windows": {
                name: {
                    "uptime": figures.uptime,
                    "downtime": figures.downtime,
                    "unknown": figures.unknown,
                    "business": figures.business,
                    "polls": figures.polls,
                }
                for name, figures in self.windows.items()
            },
            "last_poll_utc": self.last_poll,
        }

    def timeline(self) -> list[tuple[date, list[State | None]]]:
        """The week as local dates, each with 24 hourly cells: the state that fills most of each
        local hour (None: the hour is outside the week window, or does not exist that day)."""
        week_start = self.now - timedelta(days=TIMELINE_DAYS)
        first, last = self.local(week_start).date(), self.local(self.now).date()
        rows = []
        for offset in range((last - first).days + 1):
            day = first + timedelta(days=offset)
            cells: list[State | None] = []
            for hour in range(24):
                start, end = _wall(day, hour, self.zone), _wall(day, hour + 1, self.zone)
                start, end = max(start, week_start), min(end, self.now)
                cells.append(self._state(start, end) if end > start else None)
            rows.append((day, cells))
        return rows

    def _state(self, start: datetime, end: datetime) -> State:
        """The state that fills most of ``[start, end)`` (ties: the first of up, down, unknown,
        closed)."""
        open_time = timedelta()
        share: dict[State, timedelta] = {"up": timedelta(), "down": timedelta()}
        for lo, hi in self.business_intervals:
            a, b = max(lo, start), min(hi, end)
            if b <= a:
                continue
            open_time += b - a
            for span in self.spans:
                if span.status == "unknown":
                    continue
                overlap = min(b, span.end) - max(a, span.start)
                if overlap > timedelta():
                    share["up" if span.status == ACTIVE else "down"] += overlap
        share["unknown"] = open_time - share["up"] - share["down"]
        share["closed"] = (end - start) - open_time
        return max(share, key=lambda state: share[state])


def explain_store(
    polls: pl.DataFrame,
    hours: pl.DataFrame,
    timezones: pl.DataFrame,
    *,
    store_id: str,
    now: datetime,
    interpolation: Interpolation = "nearest",
    max_gap: timedelta | None = None,
) -> Explanation:
    """Explain one store's report row.

    Parameters
    ----------
    polls
        The store's stored polls of the UTC dates the report reads; those from ``now - 8 days``
        on are listed (those after ``now`` as not counted).
    hours, timezones
        Business hours and time zones (of any stores: only this one's rows are used).
    store_id, now, interpolation, max_gap
        As for ``compute.compute_report``.
    """
    own = pl.col(STORE_ID) == store_id
    polls = polls.filter(own).sort(TIMESTAMP)
    trace = trace_store(
        polls,
        hours,
        timezones,
        store_id=store_id,
        now=now,
        interpolation=interpolation,
        max_gap=max_gap,
    )
    zones = timezones.filter(own).get_column(TIMEZONE).to_list()
    rows = hours.filter(own).sort(DAY, START, END)
    return Explanation(
        store_id=store_id,
        now=now,
        interpolation=interpolation,
        max_gap=max_gap,
        timezone=zones[-1] if zones else DEFAULT_TIMEZONE,
        timezone_defaulted=not zones,
        hours=[(int(day), start, end) for day, start, end in rows.select(DAY, START, END).rows()],
        business_intervals=[(trace.instant(lo), trace.instant(hi)) for lo, hi in trace.intervals],
        polls=_poll_lines(polls, trace, now),
        spans=_spans(trace),
        windows={
            name: WindowFigures(
                uptime=_number(trace.row[f"uptime_{name}"]),
                downtime=_number(trace.row[f"downtime_{name}"]),
                unknown=_number(trace.row[f"unknown_{name}"]),
                business=_number(trace.row[f"business_hours_{name}"]),
                polls=int(_number(trace.row[f"polls_{name}"])),
            )
            for name in WINDOWS
        },
        last_poll=_text(trace.row["last_poll_utc"]),
    )


def _poll_lines(polls: pl.DataFrame, trace: StoreTrace, now: datetime) -> list[PollLine]:
    """Every poll from the report's origin on, with whether it counted and why (not)."""
    counted = set(trace.counted)
    lines = []
    listed = polls.filter(pl.col(TIMESTAMP) >= trace.origin).select(TIMESTAMP, STATUS)
    for stamp, status in listed.rows():
        at = (stamp - trace.origin) // timedelta(microseconds=1) * TICKS_PER_US
        if stamp > now:
            reason = "after now"
        elif at in counted:
            reason = "in business hours"
        else:
            reason = "outside business hours"
        lines.append(PollLine(stamp, status, at in counted, reason))
    return lines


def _spans(trace: StoreTrace) -> list[Span]:
    """The counted polls' spans, with the stretches between them that have no status."""
    spans: list[Span] = []
    reached = 0  # ticks since the origin up to which spans have been laid out
    for poll, (start, end, active, business) in zip(trace.counted, trace.spans, strict=True):
        if start > reached:
            spans.extend(_unknown(trace, reached, start))
        status: SpanStatus = "active" if active else "inactive"
        spans.append(
            Span(
                trace.instant(start),
                trace.instant(end),
                status,
                trace.seconds(business),
                trace.instant(poll),
            )
        )
        reached = end
    if reached < trace.now_at:
        spans.extend(_unknown(trace, reached, trace.now_at))
    return spans


def _unknown(trace: StoreTrace, start: int, end: int) -> list[Span]:
    """A stretch with no status, if any of it is business time (closed time is not unknown)."""
    business = sum(max(0, min(hi, end) - max(lo, start)) for lo, hi in trace.intervals)
    if not business:
        return []
    start_at, end_at = trace.instant(start), trace.instant(end)
    return [Span(start_at, end_at, "unknown", trace.seconds(business), None)]


def _wall(day: date, hour: int, zone: ZoneInfo) -> datetime:
    """Local wall time ``hour`` (0-24) of ``day`` as UTC, with fold 0 as the report reads hours."""
    wall = datetime.combine(day, time()) + timedelta(hours=hour)
    return wall.replace(tzinfo=zone).astimezone(UTC)


def _iso(instant: datetime) -> str:
    return f"{instant.astimezone(UTC):%Y-%m-%dT%H:%M:%S.%fZ}"


def _number(value: object) -> float:
    assert isinstance(value, int | float)
    return value


def _text(value: object) -> str | None:
    assert value is None or isinstance(value, str)
    return value
