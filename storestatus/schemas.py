"""Column names, dtypes and fixed values shared by the readers, the store and the report."""

from __future__ import annotations

from datetime import time
from typing import Final

import polars as pl

STORE_ID: Final = "store_id"
STATUS: Final = "status"
TIMESTAMP: Final = "timestamp_utc"
DAY: Final = "day_of_week"
START: Final = "start_time_local"
END: Final = "end_time_local"
TIMEZONE: Final = "timezone_str"

ACTIVE: Final = "active"
INACTIVE: Final = "inactive"
DEFAULT_TIMEZONE: Final = "America/Chicago"
END_OF_DAY: Final = time(
    23, 59
)  # an hours row ending at or after 23:59 ends at midnight (issue #2)

# The stores registry (issue #9): first and last stored poll, and how many, per store.
FIRST_POLL: Final = "first_poll_utc"
LAST_POLL: Final = "last_poll_utc"
POLLS_STORED: Final = "polls_stored"

# Column names accepted for the weekday in a business-hours file (the real data says `day`).
DAY_ALIASES: Final = ("day", "dayOfWeek", "day_of_week")

UTC_MICROS: Final[pl.Datetime] = pl.Datetime("us", "UTC")

# Clean frames, as the readers produce them and the report consumes them.
POLLS_SCHEMA: Final = pl.Schema({STORE_ID: pl.String(), TIMESTAMP: UTC_MICROS, STATUS: pl.String()})
HOURS_SCHEMA: Final = pl.Schema(
    {STORE_ID: pl.String(), DAY: pl.Int8(), START: pl.Time(), END: pl.Time()}
)
TIMEZONES_SCHEMA: Final = pl.Schema({STORE_ID: pl.String(), TIMEZONE: pl.String()})

# Rejected input rows: where they were, why, and the original fields as text.
ROW_NUMBER: Final = "row_number"
REASON: Final = "reason"
REASON_CODE: Final = "reason_code"  # a stable code of the reason (``readers.rules``)

REPORT_COLUMNS: Final = (
    STORE_ID,
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
)

# Appended by ``--detail`` (issue #9), in this order: business time, time with no status and
# counted polls per window, then the store's latest poll in the report's 8 days.
DETAIL_COLUMNS: Final = (
    *(f"business_hours_{window}" for window in ("last_hour", "last_day", "last_week")),
    *(f"unknown_{window}" for window in ("last_hour", "last_day", "last_week")),
    *(f"polls_{window}" for window in ("last_hour", "last_day", "last_week")),
    "last_poll_utc",
)
ISO_UTC: Final = (
    "%Y-%m-%dT%H:%M:%S%.6fZ"  # how instants are written out: 2023-01-25T18:13:22.479220Z
)
