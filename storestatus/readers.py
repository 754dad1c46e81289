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
_US_PER_S: Final = 1_000_000
_NS_PER_US: Final = 1_000
_NS_PER_S: Final = 1_000_000_000
_END_OF_DAY_NS: Final = 24 * 3600 * _NS_PER_S - _NS_PER_US  # 23:59:59.999999

# Helper column names; they never clash with the file's, which are dropped before they're added.
_BLANK: Final = "__blank"
_CODE: Final = "__code"
_STATUS: Final = "__status"
_TIMESTAMP: Final = "__timestamp"
_START: Final = "__start"
_END: Final = "__end"

# Patterns spell digits `[0-9]`: a regex `\d` would also match non-ASCII digits.
# Anything below 0x20, or DEL, makes an id unprintable and unsafe to echo or join on.
_CONTROL_CHARS: Final = r"[\x00-\x1f\x7f]"

# `2023-01-22 12:09:39.388884 UTC`, ISO 8601 with `T`/space, `Z`/`UTC`/numeric offset or none
# (which means UTC); seconds are required, a fraction may have up to 9 digits.
_TIMESTAMP_RE: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-2][0-9]:[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
    r"\s*(?:[Zz]|[Uu][Tt][Cc]|[+-][0-9]{2}:?[0-9]{2})?$"
)
_OFFSET_RE: Final = r"[+-][0-9]{2}:?[0-9]{2}$"

# `H:MM`, `HH:MM`, `HH:MM:SS`, `HH:MM:SS.f` (fraction up to 9 digits, cut to microseconds).
_TIME_RE: Final = (
    r"^(?<h>[0-9]{1,2}):(?<m>[0-9]{2})(?::(?<s>[0-9]{2})(?:\.(?<f>[0-9]{1,6})[0-9]{0,3})?)?$"
)
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
            glob=False,  # Polars would otherwise expand `*` or `[1]` in a file name
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


def _describe_missing(accepted: tuple[str, ...]) -> str:
    first, *others = accepted
    return repr(first) + (f" (or {', '.join(map(repr, others))})" if others else "")


def _select_required(frame: pl.DataFrame, spec: _FileSpec) -> pl.LazyFrame:
    """Pick the required columns under their output names, plus a ``__blank`` record flag."""
    chosen: list[pl.Expr] = []
    missing: list[str] = []
    for output, accepted in spec.columns:
        found = next((name for name in accepted if name in frame.columns), None)
        if found is None:
            missing.append(_describe_missing(accepted))
        else:
            chosen.append(pl.col(found).alias(output))
    if missing:
        if any(not name.isprintable() or "\ufffd" in name for name in frame.columns):
            raise InputError(
                f"{spec.kind} file: does not look like a CSV text file (the header row is not "
                "readable text); supply a comma-separated UTF-8 file with a header row"
            )
        found_names = ", ".join(frame.columns) or "nothing"
        plural = "s" if len(missing) > 1 else ""
        wanted = ", ".join(accepted[0] for _, accepted in spec.columns)
        raise InputError(
            f"{spec.kind} file: missing required column{plural} {', '.join(missing)} "
            f"(found: {found_names}); the header row must name {wanted}"
        )
    blank = pl.all_horizontal(
        pl.col(name).str.strip_chars().fill_null("") == "" for name in frame.columns
    )
    return frame.lazy().select(*chosen, blank.alias(_BLANK))


@dataclass(frozen=True)
class _Check:
    """One validation rule: ``failed`` runs on every record, ``message`` only on rejects."""

    failed: pl.Expr
    message: pl.Expr


@dataclass(frozen=True)
class _Plan:
    """How a file kind validates and converts: helper columns, rules in order, clean outputs."""

    helpers: list[pl.Expr]
    checks: list[_Check]
    outputs: dict[str, pl.Expr]


def _parse(
    source: Source,
    spec: _FileSpec,
    plan_for: Callable[[pl.LazyFrame], _Plan],
    schema: pl.Schema,
) -> ParsedInput:
    """Shared pipeline: read, select, validate, then split clean rows from rejects.

    Each record gets the index of the first rule it fails (a cheap integer, computed for all
    records); the reason text is only built for the few records that were rejected.
    """
    originals = [name for name, _ in spec.columns]
    lazy = (
        _select_required(_read_text_frame(source, spec.kind), spec)
        .with_row_index(schemas.ROW_NUMBER, offset=1)
        .with_columns(
            pl.col(name).str.strip_chars().fill_null("").alias(_clean(name)) for name in originals
        )
    )
    plan = plan_for(lazy)
    code: pl.Expr = pl.lit(None, dtype=pl.UInt8)
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    for index, check in reversed(list(enumerate(plan.checks))):
        code = pl.when(check.failed).then(pl.lit(index, dtype=pl.UInt8)).otherwise(code)
        reason = pl.when(pl.col(_CODE) == index).then(check.message).otherwise(reason)
    checked = lazy.with_columns(plan.helpers).with_columns(code.alias(_CODE))
    data = ~pl.col(_BLANK)
    rows = (
        checked.filter(data & pl.col(_CODE).is_null())
        .select(expr.alias(name) for name, expr in plan.outputs.items())
        .select(schema.names())
        .cast(schema)
    )
    rejects = checked.filter(data & pl.col(_CODE).is_not_null()).select(
        pl.col(schemas.ROW_NUMBER).cast(pl.Int64),
        reason.alias(schemas.REASON),
        *originals,
    )
    blank_rows = checked.select(pl.col(_BLANK).sum().cast(pl.Int64))
    # One collect_all: the shared validation plan runs once, and the filters stream through it.
    clean, rejected, blanks = pl.collect_all([rows, rejects, blank_rows])
    return ParsedInput(rows=clean, rejects=rejected, blank_rows=int(blanks.item()))


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


def _store_id_checks() -> list[_Check]:
    store_id = _c(schemas.STORE_ID)
    return [
        _Check(store_id == "", pl.lit("empty store_id")),
        _Check(
            store_id.str.contains(_CONTROL_CHARS), pl.lit("store_id contains control characters")
        ),
    ]


def _timestamp(text: pl.Expr) -> pl.Expr:
    """Parse a stripped timestamp to UTC microseconds; null if it is not an accepted form.

    The whole-string regex decides validity; the value itself is assembled from fixed-position
    slices, because a regex rewrite plus ``str.to_datetime("...%.f%z")`` is about twice as slow
    on a 13M-row file. ``str.to_date`` still rejects impossible dates such as Feb 30.
    """

    def number(offset: int, length: int) -> pl.Expr:
        return text.str.slice(offset, length).cast(pl.Int64, strict=False)

    days = text.str.head(10).str.to_date("%Y-%m-%d", strict=False).cast(pl.Int64)
    hour, minute, second = number(11, 2), number(14, 2), number(17, 2)
    digits = text.str.slice(20, 6)  # fraction digits after the dot; beyond 6 are truncated
    n_digits = digits.str.find(r"[^0-9]").fill_null(digits.str.len_bytes())
    micros = (
        pl.when(text.str.slice(19, 1) == ".")
        .then(digits.str.head(n_digits).str.pad_end(6, "0").cast(pl.Int64, strict=False))
        .otherwise(0)
    )
    has_offset = text.str.contains(_OFFSET_RE)
    offset = text.str.tail(6).str.replace(":", "", literal=True).str.tail(5)  # `+HHMM`
    offset_hours = offset.str.slice(1, 2).cast(pl.Int64, strict=False)
    offset_minutes = offset.str.slice(3, 2).cast(pl.Int64, strict=False)
    sign = pl.when(offset.str.head(1) == "-").then(-1).otherwise(1)
    offset_seconds = (
        pl.when(has_offset).then(sign * (offset_hours * 60 + offset_minutes) * 60).otherwise(0)
    )
    valid = (
        text.str.contains(_TIMESTAMP_RE)
        & (hour <= 23)
        & (~has_offset | ((offset_hours <= 23) & (offset_minutes <= 59)))
    )
    seconds = days * 86_400 + (hour * 60 + minute) * 60 + second - offset_seconds
    return (
        pl.when(valid).then(seconds * _US_PER_S + micros).otherwise(None).cast(schemas.UTC_MICROS)
    )


def _status_plan(_: pl.LazyFrame) -> _Plan:
    status = _c(schemas.STATUS)
    stamp = _c(schemas.TIMESTAMP)
    year = pl.col(_TIMESTAMP).dt.year()
    return _Plan(
        helpers=[status.str.to_lowercase().alias(_STATUS), _timestamp(stamp).alias(_TIMESTAMP)],
        checks=[
            *_store_id_checks(),
            _Check(status == "", pl.lit("empty status")),
            _Check(
                ~pl.col(_STATUS).is_in([schemas.ACTIVE, schemas.INACTIVE]),
                pl.format("unknown status '{}' (expected active or inactive)", _show(status)),
            ),
            _Check(stamp == "", pl.lit("empty timestamp_utc")),
            _Check(
                pl.col(_TIMESTAMP).is_null(),
                pl.format("unparseable timestamp '{}'", _show(stamp)),
            ),
            _Check(
                (year < _MIN_YEAR) | (year > _MAX_YEAR),
                pl.format("timestamp out of range 1970-2100: '{}'", _show(stamp)),
            ),
        ],
        outputs={
            schemas.STORE_ID: _c(schemas.STORE_ID),
            schemas.TIMESTAMP: pl.col(_TIMESTAMP),
            schemas.STATUS: pl.col(_STATUS),
        },
    )


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
            _Check(
                ~day.str.contains(_DAY_RE),
                pl.format("day must be an integer 0-6, got '{}'", _show(day)),
            ),
            _Check(start == "", pl.lit("empty start_time_local")),
            _Check(
                pl.col(_START).is_null(),
                pl.format("unparseable start_time_local '{}'", _show(start)),
            ),
            _Check(end == "", pl.lit("empty end_time_local")),
            _Check(
                pl.col(_END).is_null(),
                pl.format("unparseable end_time_local '{}'", _show(end)),
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
            _Check(zone == "", pl.lit("empty timezone_str")),
            _Check(
                ~zone.is_in(known.implode()),
                pl.format("unknown timezone '{}'", _show(zone)),
            ),
        ],
        outputs={schemas.STORE_ID: _c(schemas.STORE_ID), schemas.TIMEZONE: zone},
    )


# --------------------------------------------------------------------------- public API


def read_status_csv(source: Source) -> ParsedInput:
    """Parse a status-poll file (``store_id, status, timestamp_utc``; path, ``.gz`` or bytes)."""
    return _parse(source, _STATUS_SPEC, _status_plan, schemas.OBSERVATIONS_SCHEMA)


def read_hours_csv(source: Source) -> ParsedInput:
    """Parse a business-hours file (``store_id, day, start_time_local, end_time_local``)."""
    return _parse(source, _HOURS_SPEC, _hours_plan, schemas.HOURS_SCHEMA)


def read_timezones_csv(source: Source) -> ParsedInput:
    """Parse a store-timezone file (``store_id, timezone_str``; IANA names only)."""
    return _parse(source, _TIMEZONES_SPEC, _timezones_plan, schemas.TIMEZONES_SCHEMA)
