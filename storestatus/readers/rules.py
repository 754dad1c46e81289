"""The field rules of the three input files, and the catalogue of reasons a record is rejected.

A record is rejected with the first rule it fails. Each rule names a :class:`RejectReason` of
``REJECT_REASONS``: a stable machine code (``unparseable-timestamp``) that scripts can match on,
and the template of the human text (``unparseable timestamp '{value}'``), as frictionless-py's
error catalogue pairs a ``type`` slug with a message template. Rejects files carry both
(``reason``, ``reason_code``). A code, once published, never changes; the tests list them all.

The rules are Polars expressions over the stripped text of each field (the ``__clean_<name>``
helper columns the pipeline adds), so one lazy plan checks and converts a whole file. They are
the general rules: the status fast path (``fast_status``) accepts a subset of what they accept,
with identical values.
"""

from __future__ import annotations

import string
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import polars as pl

from storestatus import schemas
from storestatus.timestamps import MAX_YEAR as _MAX_YEAR
from storestatus.timestamps import MIN_YEAR as _MIN_YEAR
from storestatus.timestamps import parse_timestamps

__all__ = [
    "INVALID_DAY",
    "MISSING_FIELD",
    "RECORD_CUT_OFF",
    "REJECT_REASONS",
    "STORED_TIMESTAMP_IN_FUTURE",
    "STORE_ID_CONTROL_CHARACTERS",
    "STORE_ID_TOO_LONG",
    "TIMESTAMP_IN_FUTURE",
    "TIMESTAMP_OUT_OF_RANGE",
    "UNKNOWN_STATUS",
    "UNKNOWN_TIMEZONE",
    "UNPARSEABLE_TIME",
    "UNPARSEABLE_TIMESTAMP",
    "RejectReason",
]


@dataclass(frozen=True)
class RejectReason:
    """Why a record is rejected: a stable ``code`` for scripts, a ``template`` for people.

    ``template`` is a :meth:`str.format` string whose named fields are filled per record
    (``'{value}'`` is the offending text, shown safely); ``meaning`` says when the reason applies,
    for the README's table of codes.
    """

    code: str
    template: str
    meaning: str

    def text(self, **values: object) -> str:
        """The reason for one record, from Python values."""
        return self.template.format(**values)

    def columns(self, **values: object) -> tuple[pl.Expr, pl.Expr]:
        """The ``reason`` and ``reason_code`` columns of rejects that all have this reason."""
        return (
            pl.lit(self.text(**values), dtype=pl.String).alias(schemas.REASON),
            pl.lit(self.code, dtype=pl.String).alias(schemas.REASON_CODE),
        )

    def message(self, **values: pl.Expr | str | int) -> pl.Expr:
        """The reason as an expression: Python values are filled in now, expressions per record."""
        pattern, expressions = "", []
        for literal, field, _, _ in string.Formatter().parse(self.template):
            pattern += literal
            if field is None:
                continue
            value = values[field]
            if isinstance(value, pl.Expr):
                pattern += "{}"
                expressions.append(value)
            else:
                pattern += str(value)
        return pl.format(pattern, *expressions) if expressions else pl.lit(pattern)


MISSING_FIELD: Final = RejectReason(
    "missing-field",
    "empty {field}",
    "a required field is empty or only whitespace, or missing from a short record",
)
STORE_ID_CONTROL_CHARACTERS: Final = RejectReason(
    "store-id-control-characters",
    "store_id contains control characters",
    "the store id holds a control character (below U+0020, or DEL), such as a line end in quotes",
)
STORE_ID_TOO_LONG: Final = RejectReason(
    "store-id-too-long",
    "store_id too long ({length} characters, at most {limit})",
    "the store id is longer than 255 characters",
)
UNKNOWN_STATUS: Final = RejectReason(
    "unknown-status",
    "unknown status '{value}' (expected active or inactive)",
    "the status is neither `active` nor `inactive` (in any case)",
)
UNPARSEABLE_TIMESTAMP: Final = RejectReason(
    "unparseable-timestamp",
    "unparseable timestamp '{value}'",
    "the timestamp is not in the grammar of [Timestamps](#timestamps), or not a real date and time",
)
TIMESTAMP_OUT_OF_RANGE: Final = RejectReason(
    "timestamp-out-of-range",
    "timestamp out of range 1970-2100: '{value}'",
    "the timestamp (in UTC) is before 1970 or after 2100",
)
TIMESTAMP_IN_FUTURE: Final = RejectReason(
    "timestamp-in-future",
    "timestamp '{value}' is in the future (later than {limit}): check the poller's clock",
    "the poll is stamped later than the clock plus `--max-future` when it was ingested",
)
INVALID_DAY: Final = RejectReason(
    "invalid-day",
    "day must be an integer 0-6, got '{value}'",
    "the day is not one of `0` (Monday) to `6` (Sunday), or is empty",
)
UNPARSEABLE_TIME: Final = RejectReason(
    "unparseable-time",
    "unparseable {field} '{value}'",
    "a start or end time is not `HH:MM`, `HH:MM:SS` or `HH:MM:SS.ffffff` of a real time of day "
    "(an end may be `24:00`)",
)
UNKNOWN_TIMEZONE: Final = RejectReason(
    "unknown-timezone",
    "unknown timezone '{value}'",
    "the time zone is not an IANA name known both to Python and to Polars",
)
RECORD_CUT_OFF: Final = RejectReason(
    "record-cut-off",
    "the last record is cut off ({fields} of {width} fields and no line end): "
    "the file looks truncated",
    "the file's last record has fewer fields than the header and no line end",
)
STORED_TIMESTAMP_IN_FUTURE: Final = RejectReason(
    "stored-timestamp-in-future",
    "timestamp is in the future (later than {limit} when compact ran): check the poller's clock",
    "`compact` found a stored poll stamped later than the clock plus `--max-future` and set it "
    "aside (`DATA_DIR/rejects/<UTC time>-compact-future-status.csv`)",
)

# The catalogue, in the order of the README's table. Codes are published: never rename one.
REJECT_REASONS: Final = (
    MISSING_FIELD,
    STORE_ID_CONTROL_CHARACTERS,
    STORE_ID_TOO_LONG,
    UNKNOWN_STATUS,
    UNPARSEABLE_TIMESTAMP,
    TIMESTAMP_OUT_OF_RANGE,
    TIMESTAMP_IN_FUTURE,
    INVALID_DAY,
    UNPARSEABLE_TIME,
    UNKNOWN_TIMEZONE,
    RECORD_CUT_OFF,
    STORED_TIMESTAMP_IN_FUTURE,
)

_SHOW_MAX: Final = 60  # characters of a bad value quoted back in a reject reason
_MAX_ID_CHARS: Final = 255  # real ids have 19; a longer one is garbage, not a store
_NS_PER_US: Final = 1_000
_NS_PER_S: Final = 1_000_000_000
_END_OF_DAY_NS: Final = 24 * 3600 * _NS_PER_S - _NS_PER_US  # 23:59:59.999999

# Helper column names; they never clash with the file's, which are dropped before they're added.
_STATUS: Final = "__status"
_TIMESTAMP: Final = "__timestamp"
_START: Final = "__start"
_END: Final = "__end"

# Patterns spell digits `[0-9]`: a regex `\d` would also match non-ASCII digits.
# Anything below 0x20, or DEL, makes an id unprintable and unsafe to echo or join on.
_CONTROL_CHARS: Final = r"[\x00-\x1f\x7f]"

# `H:MM`, `HH:MM`, `HH:MM:SS`, `HH:MM:SS.f` (fraction up to 9 digits, cut to microseconds).
_TIME_RE: Final = (
    r"^(?<h>[0-9]{1,2}):(?<m>[0-9]{2})(?::(?<s>[0-9]{2})(?:\.(?<f>[0-9]{1,6})[0-9]{0,3})?)?$"
)
# An end of `24:00` means "until midnight"; it cannot be a pl.Time, so it becomes the last µs.
_END_OF_DAY_RE: Final = r"^24:00(?::00(?:\.0{1,9})?)?$"

_DAY_RE: Final = r"^[0-6]$"


@dataclass(frozen=True)
class _Check:
    """One validation rule: ``failed`` runs on every record, ``message`` only on rejects."""

    failed: pl.Expr
    reason: RejectReason
    message: pl.Expr

    @classmethod
    def of(cls, failed: pl.Expr, reason: RejectReason, **values: pl.Expr | str | int) -> _Check:
        """The rule that rejects the records where ``failed``, with ``reason`` filled in."""
        return cls(failed, reason, reason.message(**values))


@dataclass(frozen=True)
class _Plan:
    """How a file kind validates and converts: helper columns, rules in order, clean outputs."""

    helpers: list[pl.Expr]
    checks: list[_Check]
    outputs: dict[str, pl.Expr]


def _clean(name: str) -> str:
    """Name of the helper column holding the stripped text ("" for null) of ``name``."""
    return f"__clean_{name}"


def _c(name: str) -> pl.Expr:
    return pl.col(_clean(name))


def _show(expr: pl.Expr) -> pl.Expr:
    """A bad value as it may be echoed in a one-line reason: no control chars, bounded length."""
    safe = expr.str.replace_all(_CONTROL_CHARS, "\ufffd")
    return (
        pl.when(safe.str.len_chars() > _SHOW_MAX)
        .then(safe.str.slice(0, _SHOW_MAX) + "…")
        .otherwise(safe)
    )


def _store_id_checks() -> list[_Check]:
    store_id = _c(schemas.STORE_ID)
    return [
        _Check.of(store_id == "", MISSING_FIELD, field=schemas.STORE_ID),
        _Check.of(store_id.str.contains(_CONTROL_CHARS), STORE_ID_CONTROL_CHARACTERS),
        _Check.of(
            store_id.str.len_chars() > _MAX_ID_CHARS,
            STORE_ID_TOO_LONG,
            length=store_id.str.len_chars(),
            limit=_MAX_ID_CHARS,
        ),
    ]


def _status_plan(_: pl.LazyFrame, *, not_after: datetime | None = None) -> _Plan:
    """The rules of a status record; with ``not_after``, a later timestamp is a reject."""
    status = _c(schemas.STATUS)
    stamp = _c(schemas.TIMESTAMP)
    year = pl.col(_TIMESTAMP).dt.year()
    return _Plan(
        helpers=[
            status.str.to_lowercase().alias(_STATUS),
            parse_timestamps(stamp).alias(_TIMESTAMP),
        ],
        checks=[
            *_store_id_checks(),
            _Check.of(status == "", MISSING_FIELD, field=schemas.STATUS),
            _Check.of(
                ~pl.col(_STATUS).is_in([schemas.ACTIVE, schemas.INACTIVE]),
                UNKNOWN_STATUS,
                value=_show(status),
            ),
            _Check.of(stamp == "", MISSING_FIELD, field=schemas.TIMESTAMP),
            _Check.of(pl.col(_TIMESTAMP).is_null(), UNPARSEABLE_TIMESTAMP, value=_show(stamp)),
            _Check.of(
                (year < _MIN_YEAR) | (year > _MAX_YEAR), TIMESTAMP_OUT_OF_RANGE, value=_show(stamp)
            ),
            *_future_checks(stamp, not_after),
        ],
        outputs={
            schemas.STORE_ID: _c(schemas.STORE_ID),
            schemas.TIMESTAMP: pl.col(_TIMESTAMP),
            schemas.STATUS: pl.col(_STATUS),
        },
    )


def _future_checks(stamp: pl.Expr, not_after: datetime | None) -> list[_Check]:
    """A poll stamped after ``not_after`` (the clock plus a tolerance) comes from a bad clock.

    Stored, one such poll would become every default report's ``now`` and the base of
    ``compact``'s retention (issue #8), so it is rejected with the limit in the reason.
    """
    if not_after is None:
        return []
    limit = not_after.astimezone(UTC)
    return [
        _Check.of(
            pl.col(_TIMESTAMP) > pl.lit(limit, dtype=schemas.UTC_MICROS),
            TIMESTAMP_IN_FUTURE,
            value=_show(stamp),
            limit=limit.strftime("%Y-%m-%d %H:%M:%S UTC"),
        )
    ]


def _time_of_day(text: pl.Expr, *, is_end: bool) -> pl.Expr:
    """Parse a stripped local time to ``pl.Time``; null if invalid (so the row is rejected)."""
    parts = text.str.extract_groups(_TIME_RE)
    hour = parts.struct.field("h").cast(pl.Int64, strict=False)
    minute = parts.struct.field("m").cast(pl.Int64, strict=False)
    second = parts.struct.field("s").fill_null("0").cast(pl.Int64, strict=False)
    micros = parts.struct.field("f").fill_null("0").str.pad_end(6, "0").cast(pl.Int64)
    nanos = ((hour * 60 + minute) * 60 + second) * _NS_PER_S + micros * _NS_PER_US
    valid = (hour <= 23) & (minute <= 59) & (second <= 59)
    if is_end:
        end = pl.when(text.str.contains(_END_OF_DAY_RE)).then(pl.lit(_END_OF_DAY_NS))
        return end.when(valid).then(nanos).otherwise(None).cast(pl.Time)
    return pl.when(valid).then(nanos).otherwise(None).cast(pl.Time)


def _hours_plan(_: pl.LazyFrame) -> _Plan:
    day = _c(schemas.DAY)
    start = _c(schemas.START)
    end = _c(schemas.END)
    return _Plan(
        helpers=[
            _time_of_day(start, is_end=False).alias(_START),
            _time_of_day(end, is_end=True).alias(_END),
        ],
        checks=[
            *_store_id_checks(),
            _Check.of(~day.str.contains(_DAY_RE), INVALID_DAY, value=_show(day)),
            _Check.of(start == "", MISSING_FIELD, field=schemas.START),
            _Check.of(
                pl.col(_START).is_null(), UNPARSEABLE_TIME, field=schemas.START, value=_show(start)
            ),
            _Check.of(end == "", MISSING_FIELD, field=schemas.END),
            _Check.of(
                pl.col(_END).is_null(), UNPARSEABLE_TIME, field=schemas.END, value=_show(end)
            ),
        ],
        outputs={
            schemas.STORE_ID: _c(schemas.STORE_ID),
            schemas.DAY: day.cast(pl.Int8, strict=False),
            schemas.START: pl.col(_START),
            schemas.END: pl.col(_END),
        },
    )


def _is_known_timezone(name: str) -> bool:
    """True if both the standard library and Polars (which the report uses) know ``name``."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    try:  # Polars has its own tz database; `localtime`, `posixrules`, `Factory` fail there
        pl.Series([0], dtype=schemas.UTC_MICROS).dt.convert_time_zone(name)
    except pl.exceptions.PolarsError:
        return False
    return True


def _timezones_plan(lazy: pl.LazyFrame) -> _Plan:
    zone = _c(schemas.TIMEZONE)
    distinct = lazy.select(zone.unique()).collect().to_series().to_list()
    known = pl.Series(
        [name for name in distinct if name and _is_known_timezone(name)], dtype=pl.String
    )
    return _Plan(
        helpers=[],
        checks=[
            *_store_id_checks(),
            _Check.of(zone == "", MISSING_FIELD, field=schemas.TIMEZONE),
            _Check.of(~zone.is_in(known.implode()), UNKNOWN_TIMEZONE, value=_show(zone)),
        ],
        outputs={schemas.STORE_ID: _c(schemas.STORE_ID), schemas.TIMEZONE: zone},
    )
