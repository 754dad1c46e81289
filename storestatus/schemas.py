"""Column names, dtypes and fixed values shared by the readers, the store and the report."""

from __future__ import annotations

from typing import Final, Literal

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

# Column names accepted for the weekday in a business-hours file (the real data says `day`).
DAY_ALIASES: Final = ("day", "dayOfWeek", "day_of_week")

UTC_MICROS: Final[pl.Datetime] = pl.Datetime("us", "UTC")

# Clean frames, as the readers produce them and the report consumes them.
OBSERVATIONS_SCHEMA: Final = pl.Schema(
    {STORE_ID: pl.String(), TIMESTAMP: UTC_MICROS, STATUS: pl.String()}
)
HOURS_SCHEMA: Final = pl.Schema(
    {STORE_ID: pl.String(), DAY: pl.Int8(), START: pl.Time(), END: pl.Time()}
)
TIMEZONES_SCHEMA: Final = pl.Schema({STORE_ID: pl.String(), TIMEZONE: pl.String()})

# Rejected input rows: where they were, why, and the original fields as text.
ROW_NUMBER: Final = "row_number"
REASON: Final = "reason"

REPORT_COLUMNS: Final = (
    STORE_ID,
    "uptime_last_hour",
    "uptime_last_day",
    "uptime_last_week",
    "downtime_last_hour",
    "downtime_last_day",
    "downtime_last_week",
)

Interpolation = Literal["nearest", "previous"]
