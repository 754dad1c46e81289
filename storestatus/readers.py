"""Parse the three input CSVs into clean, typed Polars frames plus the rows that were rejected.

Parsing is pure and vectorised: Polars reads every column as text, then one lazy plan strips,
validates and converts the fields. A bad record never aborts the file; it lands in ``rejects``
with the first reason it failed, so the caller can report it. Only a file that cannot be used as a
whole (unreadable, not CSV, a required column missing) raises :class:`InputError`.
"""

from __future__ import annotations

import gzip
import zlib
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from storestatus import schemas
from storestatus.errors import InputError

__all__ = [
    "HOURS_REJECTS_SCHEMA",
    "STATUS_REJECTS_SCHEMA",
    "TIMEZONES_REJECTS_SCHEMA",
    "ParsedInput",
    "read_hours_csv",
    "read_status_csv",
    "read_timezones_csv",
]

Source = str | Path | bytes

_GZIP_MAGIC: Final = b"\x1f\x8b"
_MIN_YEAR: Final = 1970
_MAX_YEAR: Final = 2100
_SHOW_MAX: Final = 60  # characters of a bad value quoted back in a reject reason
_NS_PER_US: Final = 1_000
_NS_PER_S: Final = 1_000_000_000
_END_OF_DAY_NS: Final = 24 * 3600 * _NS_PER_S - _NS_PER_US  # 23:59:59.999999

# Anything below 0x20, or DEL, makes an id unprintable and unsafe to echo or join on.
_CONTROL_CHARS: Final = r"[\x00-\x1f\x7f]"

# `2023-01-22 12:09:39.388884 UTC`, ISO 8601 with `T`/space, `Z`/`UTC`/numeric offset or none.
# Groups: 1 date, 2 time, 3 fraction cut to microseconds (digits 7-9 are dropped), 4 offset.
_TIMESTAMP_RE: Final = (
    r"^(\d{4}-\d{2}-\d{2})[Tt ]([0-2]\d:[0-5]\d:[0-5]\d)(?:(\.\d{1,6})\d{0,3})?"
    r"\s*(?:[Zz]|[Uu][Tt][Cc]|([+-]\d{2}:?\d{2}))?$"
)
_TIMESTAMP_FORMAT: Final = "%Y-%m-%d %H:%M:%S%.f%z"

# `H:MM`, `HH:MM`, `HH:MM:SS`, `HH:MM:SS.f` (fraction up to 9 digits, cut to microseconds).
_TIME_RE: Final = r"^(?<h>\d{1,2}):(?<m>\d{2})(?::(?<s>\d{2})(?:\.(?<f>\d{1,6})\d{0,3})?)?$"
# An end of `24:00` means "until midnight"; it cannot be a pl.Time, so it becomes the last µs.
_END_OF_DAY_RE: Final = r"^24:00(?::00(?:\.0{1,9})?)?$"

_DAY_RE: Final = r"^[0-6]$"


def _rejects_schema(columns: Sequence[str]) -> pl.Schema:
    return pl.Schema(
        {schemas.ROW_NUMBER: pl.Int64, schemas.REASON: pl.String}
        | dict.fromkeys(columns, pl.String)
    )


STATUS_REJECTS_SCHEMA: Final = _rejects_schema(
    (schemas.STORE_ID, schemas.STATUS, schemas.TIMESTAMP)
)
HOURS_REJECTS_SCHEMA: Final = _rejects_schema(
    (schemas.STORE_ID, schemas.DAY, schemas.START, schemas.END)
)
TIMEZONES_REJECTS_SCHEMA: Final = _rejects_schema((schemas.STORE_ID, schemas.TIMEZONE))


@dataclass(frozen=True)
class ParsedInput:
    """One parsed file: every non-blank record is in exactly one of ``rows`` or ``rejects``.

    ``rows`` has exactly the matching schema from :mod:`storestatus.schemas`, in file order;
    ``rejects`` has ``row_number`` (1-based record number after the header), ``reason`` and the
    required columns as the original text; ``blank_rows`` counts fully empty records skipped.
    """

    rows: pl.DataFrame
    rejects: pl.DataFrame
    blank_rows: int


@dataclass(frozen=True)
class _FileSpec:
    """What a file kind needs: output column name -> header names accepted for it."""

    kind: str
    columns: tuple[tuple[str, tuple[str, ...]], ...]


_STATUS_SPEC: Final = _FileSpec(
    "status",
    (
        (schemas.STORE_ID, (schemas.STORE_ID,)),
        (schemas.STATUS, (schemas.STATUS,)),
        (schemas.TIMESTAMP, (schemas.TIMESTAMP,)),
    ),
)
_HOURS_SPEC: Final = _FileSpec(
    "hours",
    (
        (schemas.STORE_ID, (schemas.STORE_ID,)),
        (schemas.DAY, schemas.DAY_ALIASES),
        (schemas.START, (schemas.START,)),
        (schemas.END, (schemas.END,)),
    ),
)
_TIMEZONES_SPEC: Final = _FileSpec(
    "timezones",
    (
        (schemas.STORE_ID, (schemas.STORE_ID,)),
        (schemas.TIMEZONE, (schemas.TIMEZONE,)),
    ),
)


# --------------------------------------------------------------------------- reading


def _load_bytes(source: Source, kind: str) -> bytes | Path:
    """Return what Polars should read: a plain file's path, or the (decompressed) bytes."""
    try:
        if isinstance(source, bytes):
            data = source
        else:
            path = Path(source)
            with path.open("rb") as handle:
                magic = handle.read(len(_GZIP_MAGIC))
            if path.suffix.lower() != ".gz" and magic != _GZIP_MAGIC:
                return path  # let Polars memory-map big plain files
            data = path.read_bytes()
        compressed = data.startswith(_GZIP_MAGIC) or not isinstance(source, bytes)
        return gzip.decompress(data) if compressed else data
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise InputError(
            f"{kind} file: not a valid gzip file ({exc}); decompress it or supply the plain CSV"
        ) from exc
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(
            f"{kind} file: cannot read {str(source)!r} ({reason}); check the path and permissions"
        ) from exc


def _read_text_frame(source: Source, kind: str) -> pl.DataFrame:
    """Read the whole CSV as text columns, with header names stripped (first duplicate wins)."""
    data = _load_bytes(source, kind)
    try:
        frame = pl.read_csv(
            data,
            infer_schema=False,
            has_header=True,
            truncate_ragged_lines=True,  # short records get nulls, extra fields are dropped
            raise_if_empty=True,
            encoding="utf8",
        )
    except pl.exceptions.NoDataError as exc:
        raise InputError(
            f"{kind} file: the file is empty (no header row); supply a CSV with a header row"
        ) from exc
    except (pl.exceptions.PolarsError, UnicodeDecodeError, OSError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"{kind} file: cannot be parsed as UTF-8 CSV ({first_line}); "
            "save it as comma-separated UTF-8 text"
        ) from exc
    keep: dict[str, str] = {}
    for name in frame.columns:
        keep.setdefault(name.strip(), name)
    return frame.select(pl.col(original).alias(stripped) for stripped, original in keep.items())


def _printable(name: str) -> str:
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in name)


def _select_required(frame: pl.DataFrame, spec: _FileSpec) -> tuple[pl.DataFrame, pl.Expr]:
    """Rename the required columns to their output names; also return the blank-record test."""
    chosen: list[pl.Expr] = []
    missing: list[str] = []
    for output, accepted in spec.columns:
        found = next((name for name in accepted if name in frame.columns), None)
        if found is None:
            missing.append(
                repr(accepted[0]) if len(accepted) == 1 else "one of " + ", ".join(accepted)
            )
        else:
            chosen.append(pl.col(found).alias(output))
    if missing:
        found_names = ", ".join(_printable(name) for name in frame.columns) or "nothing"
        plural = "s" if len(missing) > 1 else ""
        wanted = ", ".join("/".join(accepted) for _, accepted in spec.columns)
        raise InputError(
            f"{spec.kind} file: missing required column{plural} {'; '.join(missing)} "
            f"(found: {found_names}); the header row must name {wanted}"
        )
    blank = pl.all_horizontal(
        pl.col(name).str.strip_chars().fill_null("") == "" for name in frame.columns
    )
    return frame.select(*chosen, blank.alias("__blank")), pl.col("__blank")


def _parse(
    source: Source,
    spec: _FileSpec,
    build: Callable[[pl.LazyFrame], tuple[pl.LazyFrame, pl.Expr, dict[str, pl.Expr]]],
    schema: pl.Schema,
) -> ParsedInput:
    """Shared pipeline: read, select, validate with ``build``, then split rows from rejects.

    ``build`` adds stripped/parsed helper columns and returns the reason expression (null when
    the record is clean) and the output expressions for a clean row.
    """
    raw, blank = _select_required(_read_text_frame(source, spec.kind), spec)
    originals = [name for name, _ in spec.columns]
    lazy = raw.lazy().with_row_index(schemas.ROW_NUMBER, offset=1)
    lazy = lazy.with_columns(
        pl.col(name).str.strip_chars().fill_null("").alias(_clean(name)) for name in originals
    )
    lazy, reason, outputs = build(lazy)
    checked = lazy.with_columns(reason.alias("__reason")).collect()
    data = checked.filter(~blank)
    rows = (
        data.filter(pl.col("__reason").is_null())
        .select(expr.alias(name) for name, expr in outputs.items())
        .cast(schema)
    )
    rejects = data.filter(pl.col("__reason").is_not_null()).select(
        pl.col(schemas.ROW_NUMBER).cast(pl.Int64),
        pl.col("__reason").alias(schemas.REASON),
        *originals,
    )
    blank_rows = checked.height - data.height
    return ParsedInput(rows=rows.select(schema.names()), rejects=rejects, blank_rows=blank_rows)


# --------------------------------------------------------------------------- field rules


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


def _first_reason(*checks: tuple[pl.Expr, pl.Expr]) -> pl.Expr:
    """The first ``(failed, message)`` pair that applies, in column order; null if none."""
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    for failed, message in reversed(checks):
        reason = pl.when(failed).then(message).otherwise(reason)
    return reason


def _store_id_checks() -> list[tuple[pl.Expr, pl.Expr]]:
    store_id = _c(schemas.STORE_ID)
    return [
        (store_id == "", pl.lit("empty store_id")),
        (
            store_id.str.contains(_CONTROL_CHARS),
            pl.lit("store_id contains control characters"),
        ),
    ]


def _build_status(lazy: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.Expr, dict[str, pl.Expr]]:
    status = _c(schemas.STATUS)
    stamp = _c(schemas.TIMESTAMP)
    canonical = stamp.str.replace(_TIMESTAMP_RE, "${1} ${2}${3}${4}")
    with_offset = (
        pl.when(stamp.str.contains(r"[+-]\d{2}:?\d{2}$"))
        .then(canonical)
        .otherwise(canonical + "+0000")  # `Z`, `UTC` and no zone at all all mean UTC
    )
    parsed = (
        pl.when(stamp.str.contains(_TIMESTAMP_RE))
        .then(
            with_offset.str.to_datetime(
                _TIMESTAMP_FORMAT, time_zone="UTC", strict=False, time_unit="us"
            )
        )
        .otherwise(None)
    )
    lazy = lazy.with_columns(
        status.str.to_lowercase().alias("__status"), parsed.alias("__timestamp")
    )
    year = pl.col("__timestamp").dt.year()
    reason = _first_reason(
        *_store_id_checks(),
        (status == "", pl.lit("empty status")),
        (
            ~pl.col("__status").is_in([schemas.ACTIVE, schemas.INACTIVE]),
            pl.format("unknown status '{}' (expected active or inactive)", _show(status)),
        ),
        (stamp == "", pl.lit("empty timestamp_utc")),
        (
            pl.col("__timestamp").is_null(),
            pl.format("unparseable timestamp '{}'", _show(stamp)),
        ),
        (
            (year < _MIN_YEAR) | (year > _MAX_YEAR),
            pl.format("timestamp out of range 1970-2100: '{}'", _show(stamp)),
        ),
    )
    outputs = {
        schemas.STORE_ID: _c(schemas.STORE_ID),
        schemas.TIMESTAMP: pl.col("__timestamp"),
        schemas.STATUS: pl.col("__status"),
    }
    return lazy, reason, outputs


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
        valid_or_midnight = (
            pl.when(text.str.contains(_END_OF_DAY_RE))
            .then(pl.lit(_END_OF_DAY_NS))
            .when(valid)
            .then(nanos)
        )
        return valid_or_midnight.otherwise(None).cast(pl.Time)
    return pl.when(valid).then(nanos).otherwise(None).cast(pl.Time)


def _build_hours(lazy: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.Expr, dict[str, pl.Expr]]:
    day = _c(schemas.DAY)
    start = _c(schemas.START)
    end = _c(schemas.END)
    lazy = lazy.with_columns(
        _time_of_day(start, is_end=False).alias("__start"),
        _time_of_day(end, is_end=True).alias("__end"),
    )
    reason = _first_reason(
        *_store_id_checks(),
        (
            ~day.str.contains(_DAY_RE),
            pl.format("day must be an integer 0-6, got '{}'", _show(day)),
        ),
        (start == "", pl.lit("empty start_time_local")),
        (
            pl.col("__start").is_null(),
            pl.format("unparseable start_time_local '{}'", _show(start)),
        ),
        (end == "", pl.lit("empty end_time_local")),
        (
            pl.col("__end").is_null(),
            pl.format("unparseable end_time_local '{}'", _show(end)),
        ),
    )
    outputs = {
        schemas.STORE_ID: _c(schemas.STORE_ID),
        schemas.DAY: day.cast(pl.Int8, strict=False),
        schemas.START: pl.col("__start"),
        schemas.END: pl.col("__end"),
    }
    return lazy, reason, outputs


def _is_known_timezone(name: str) -> bool:
    """True if both the standard library and Polars (which the report uses) know ``name``."""
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    try:  # Polars has its own tz database; names like `localtime` or `Factory` fail there
        pl.Series([0], dtype=schemas.UTC_MICROS).dt.convert_time_zone(name)
    except pl.exceptions.PolarsError:
        return False
    return True


def _build_timezones(lazy: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.Expr, dict[str, pl.Expr]]:
    zone = _c(schemas.TIMEZONE)
    distinct = lazy.select(zone.unique()).collect().to_series().to_list()
    known = [name for name in distinct if name and _is_known_timezone(name)]
    reason = _first_reason(
        *_store_id_checks(),
        (zone == "", pl.lit("empty timezone_str")),
        (
            ~zone.is_in(pl.Series(known, dtype=pl.String)),
            pl.format("unknown timezone '{}'", _show(zone)),
        ),
    )
    outputs = {schemas.STORE_ID: _c(schemas.STORE_ID), schemas.TIMEZONE: zone}
    return lazy, reason, outputs


# --------------------------------------------------------------------------- public API


def read_status_csv(source: Source) -> ParsedInput:
    """Parse a status-poll file (``store_id, status, timestamp_utc``; path, ``.gz`` or bytes)."""
    return _parse(source, _STATUS_SPEC, _build_status, schemas.OBSERVATIONS_SCHEMA)


def read_hours_csv(source: Source) -> ParsedInput:
    """Parse a business-hours file (``store_id, day, start_time_local, end_time_local``)."""
    return _parse(source, _HOURS_SPEC, _build_hours, schemas.HOURS_SCHEMA)


def read_timezones_csv(source: Source) -> ParsedInput:
    """Parse a store-timezone file (``store_id, timezone_str``; IANA names only)."""
    return _parse(source, _TIMEZONES_SPEC, _build_timezones, schemas.TIMEZONES_SCHEMA)
