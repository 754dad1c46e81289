"""Parse the three input CSVs into clean, typed Polars frames plus the rows that were rejected.

Parsing is pure and vectorised: Polars reads every column as text, then one lazy plan strips,
validates and converts the fields. A bad record never aborts the file; it lands in ``rejects``
with the first reason it failed, so the caller can report it. Only a file that cannot be used as a
whole (unreadable, not CSV, a required column missing) raises :class:`InputError`.

Status files are big (13 M polls a week for 100,000 stores), so they first take a fast path:
records already in canonical form (a bare id, ``active``/``inactive``, a timestamp in one of a few
fixed layouts) are decoded directly, and only the others go through the general rules. The fast
path accepts a subset of what the general rules accept, with identical values; the tests compare
the two on generated near-misses.
"""

from __future__ import annotations

import calendar
import gzip
import itertools
import os
import zlib
import zoneinfo
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from storestatus import schemas
from storestatus.errors import InputError
from storestatus.timestamps import MAX_YEAR as _MAX_YEAR
from storestatus.timestamps import MIN_YEAR as _MIN_YEAR
from storestatus.timestamps import parse_timestamps

__all__ = [
    "HOURS_REJECTS_SCHEMA",
    "STATUS_REJECTS_SCHEMA",
    "TIMEZONES_REJECTS_SCHEMA",
    "ParsedInput",
    "read_hours_csv",
    "read_status_batches",
    "read_status_csv",
    "read_timezones_csv",
]

Source = str | Path | bytes

_GZIP_MAGIC: Final = b"\x1f\x8b"
STATUS_BATCH_ROWS: Final = 1_000_000  # records parsed and stored at a time: ~0.75 GB at peak
STREAM_FROM_BYTES: Final = 128 << 20  # smaller files are read whole: ~2.2 M polls; A's is 105 MB
_SHOW_MAX: Final = 60  # characters of a bad value quoted back in a reject reason
_MAX_ID_CHARS: Final = 255  # real ids have 19; a longer one is garbage, not a store
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


# Rejects keep the file's own column names, so that a fixed row can be pasted back into it. These
# are the schemas for the documented headers; an hours file naming its day column `dayOfWeek` or
# `day_of_week` gets rejects with that name instead of `day`.
STATUS_REJECTS_SCHEMA: Final = _rejects_schema(
    (schemas.STORE_ID, schemas.STATUS, schemas.TIMESTAMP)
)
HOURS_REJECTS_SCHEMA: Final = _rejects_schema(
    (schemas.STORE_ID, schemas.DAY_ALIASES[0], schemas.START, schemas.END)
)
TIMEZONES_REJECTS_SCHEMA: Final = _rejects_schema((schemas.STORE_ID, schemas.TIMEZONE))


@dataclass(frozen=True)
class ParsedInput:
    """One parsed file: every non-blank record is in exactly one of ``rows`` or ``rejects``.

    ``rows`` has exactly the matching schema from :mod:`storestatus.schemas`, in file order;
    ``rejects`` has ``row_number`` (1-based record number after the header), ``reason`` and the
    required columns as the original text, under the file's own (stripped) column names;
    ``blank_rows`` counts fully empty records skipped.
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


@contextmanager
def _csv_errors(kind: str) -> Iterator[None]:
    """Turn what Polars says about an unreadable CSV into one ``InputError`` line."""
    try:
        yield
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


_CSV_OPTIONS: Final = {
    "infer_schema": False,
    "has_header": True,
    "truncate_ragged_lines": True,  # short records get nulls, extra fields are dropped
    "raise_if_empty": True,
    "encoding": "utf8",
    "glob": False,  # Polars would otherwise expand `*` or `[1]` in a file name
}


@dataclass(frozen=True)
class _Text:
    """Text columns of a file's records, or of some of them in file order.

    ``cut_off`` is set if the frame's last record is the file's last and was cut off mid-record:
    the reason it is rejected with, whatever its fields say.
    """

    frame: pl.DataFrame
    cut_off: str | None = None


def _read_text_frame(source: Source, kind: str) -> _Text:
    """Read the whole CSV as text columns, with header names stripped (first duplicate wins)."""
    return _text_frame_of(_load_bytes(source, kind), kind)


def _text_frame_of(data: bytes | Path, kind: str) -> _Text:
    """``_read_text_frame`` of what ``_load_bytes`` returned."""
    with _csv_errors(kind):
        frame = pl.read_csv(data, **_CSV_OPTIONS)  # type: ignore[arg-type]
    return _Text(_stripped_header(frame), _cut_off(data, frame.width, kind))


def _read_text_batches(
    source: Source, kind: str, rows: int, *, whole_below: int
) -> Iterator[_Text]:
    """The CSV as text frames in file order (at least one).

    A plain file of ``whole_below`` bytes or more is streamed, ``rows`` records at a time, so
    memory stays bounded whatever its size; smaller files, compressed files and bytes are read
    whole, as one frame (one batch, one commit: the fastest way when memory is no concern).
    """
    data = _load_bytes(source, kind)
    if isinstance(data, bytes) or data.stat().st_size < whole_below:
        yield _text_frame_of(data, kind)
        return
    # One slice of the scan at a time: Polars' own batch iterator reads ahead without bound
    # when the consumer (parsing, writing) is slower than the reader.
    scan = pl.scan_csv(data, **_CSV_OPTIONS)  # type: ignore[arg-type]
    with _csv_errors(kind):
        cut_off = _cut_off(data, scan.collect_schema().len(), kind)
    for start in itertools.count(0, rows):
        with _csv_errors(kind):  # one record more: whether this batch holds the file's last
            batch = scan.slice(start, rows + 1).collect()
        last = batch.height <= rows
        # Yielded from a list that keeps no reference, and the frame deleted: while the caller
        # works on this batch, the previous one's text is already freed (~0.1 GB a batch).
        handed = [_Text(_stripped_header(batch.head(rows)), cut_off if last else None)]
        del batch
        yield handed.pop()
        if last:
            return


_TAIL_BYTES: Final = 1 << 16  # read from a file's end at first; doubled until a record starts


def _cut_off(data: bytes | Path, width: int, kind: str) -> str | None:
    """Why the file's last record is rejected, if it has fewer fields than the header's
    ``width`` and no line end: a file cut off mid-write, which would otherwise give a short row.

    A complete last line without a line end stays a row. A cut inside the last field cannot be
    told from that; the field's own rules judge it.
    """
    try:
        record = _last_record(data)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(
            f"{kind} file: cannot read {str(data)!r} ({reason}); check the path and permissions"
        ) from exc
    if record is None:
        return None
    fields = 1 + sum(part.count(b",") for part in record.split(b'"')[::2])  # outside quotes
    if fields >= width:
        return None
    return (
        f"the last record is cut off ({fields} of {width} fields and no line end): "
        "the file looks truncated"
    )


def _last_record(data: bytes | Path) -> bytes | None:
    """The file's last record if the file does not end with a line end, else None.

    Only the tail is read, so this costs nothing next to parsing. The record starts after the
    last line end outside quotes: the first one, from the end, followed by an even number of
    quotes (a quoted field may hold line ends; an escaped quote is two). None too if the only
    line is the header.
    """
    for tail, whole in _tails(data):
        if not tail or tail.endswith((b"\n", b"\r")):
            return None
        end, quotes = len(tail), 0
        while (newline := tail.rfind(b"\n", 0, end)) >= 0:
            quotes += tail.count(b'"', newline + 1, end)
            if quotes % 2 == 0:
                return tail[newline + 1 :]
            end = newline
        if whole:
            return None
    return None


def _tails(data: bytes | Path) -> Iterator[tuple[bytes, bool]]:
    """Ever longer tails of a file, and whether each is the whole file (the last one is)."""
    if isinstance(data, bytes):
        yield data, True
        return
    with data.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        length = _TAIL_BYTES
        while True:
            start = max(0, size - length)
            handle.seek(start)
            yield handle.read(size - start), start == 0
            if start == 0:
                return
            length *= 2


def _stripped_header(frame: pl.DataFrame) -> pl.DataFrame:
    keep: dict[str, str] = {}
    for name in frame.columns:
        keep.setdefault(name.strip(), name)
    return frame.select(pl.col(original).alias(stripped) for stripped, original in keep.items())


def _describe_missing(accepted: tuple[str, ...]) -> str:
    first, *others = accepted
    return repr(first) + (f" (or {', '.join(map(repr, others))})" if others else "")


def _find_columns(frame: pl.DataFrame, spec: _FileSpec) -> dict[str, str]:
    """Map each output column to the file column that provides it, or say which are missing."""
    chosen: dict[str, str] = {}
    missing: list[str] = []
    for output, accepted in spec.columns:
        found = next((name for name in accepted if name in frame.columns), None)
        if found is None:
            missing.append(_describe_missing(accepted))
        else:
            chosen[output] = found
    if missing:
        first = frame.columns[0][:_SHOW_MAX] if frame.columns else ""
        other = [sep for sep in (";", "\t", "|") if len(frame.columns) == 1 and sep in first]
        if other:
            raise InputError(
                f"{spec.kind} file: the header is one column {first!r}: the file seems to be "
                f"separated by {other[0]!r}; save it comma-separated"
            )
        if any(not name.isprintable() or "\ufffd" in name for name in frame.columns):
            raise InputError(
                f"{spec.kind} file: does not look like a CSV text file (the header row is not "
                "readable text); supply a comma-separated UTF-8 file with a header row"
            )
        found_names = ", ".join(frame.columns)[: _SHOW_MAX * 3] or "nothing"
        plural = "s" if len(missing) > 1 else ""
        wanted = ", ".join(accepted[0] for _, accepted in spec.columns)
        raise InputError(
            f"{spec.kind} file: missing required column{plural} {', '.join(missing)} "
            f"(found: {found_names}); the header row must name {wanted}"
        )
    return chosen


def _select_required(frame: pl.DataFrame, chosen: dict[str, str]) -> pl.LazyFrame:
    """Pick the required columns under their output names, plus a ``__blank`` record flag."""
    blank = pl.all_horizontal(
        pl.col(name).str.strip_chars().fill_null("") == "" for name in frame.columns
    )
    return frame.lazy().select(
        *(pl.col(found).alias(output) for output, found in chosen.items()), blank.alias(_BLANK)
    )


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


@dataclass(frozen=True)
class _Split:
    """What a fast path settled: ``accepted`` flags its records, ``rows`` has their clean rows.

    ``rows`` has one row per record, in file order; rows of records not accepted are ignored.
    """

    accepted: pl.Series
    rows: pl.DataFrame


_FastPath = Callable[[pl.DataFrame], _Split]


def _parse(
    source: Source,
    spec: _FileSpec,
    plan_for: Callable[[pl.LazyFrame], _Plan],
    schema: pl.Schema,
    fast: _FastPath | None = None,
) -> ParsedInput:
    """Shared pipeline: read the whole file, then ``_parse_frame``."""
    text = _read_text_frame(source, spec.kind)
    return _parse_frame(text.frame, spec, plan_for, schema, fast, cut_off=text.cut_off)


def _parse_frame(
    frame: pl.DataFrame,
    spec: _FileSpec,
    plan_for: Callable[[pl.LazyFrame], _Plan],
    schema: pl.Schema,
    fast: _FastPath | None = None,
    *,
    first: int = 1,
    cut_off: str | None = None,
) -> ParsedInput:
    """Select, validate, then split clean rows from rejects; ``first`` numbers the first record.

    ``fast`` gets the required columns (under their output names) and settles the records it can;
    only the rest go through the general rules, and their clean rows are put back in their place.
    A fast path never rejects a record, so reasons and blanks all come from the general rules.
    ``cut_off`` rejects the last record with that reason (see ``_Text``), unless it is blank.
    """
    chosen = _find_columns(frame, spec)
    last = first + frame.height - 1
    cut = None if cut_off is None or frame.is_empty() else (last, cut_off)
    if fast is None:
        rows, rejects, blanks = _validate(
            frame, chosen, spec, plan_for, schema, numbers=None, first=first, cut=cut
        )
        return ParsedInput(rows=rows.drop(schemas.ROW_NUMBER), rejects=rejects, blank_rows=blanks)
    split = fast(frame.select(pl.col(found).alias(output) for output, found in chosen.items()))
    accepted = split.accepted
    if cut is not None:  # only the general rules know about cut-off records
        accepted = accepted.clone().scatter(frame.height - 1, False)
    rest = ~accepted
    numbers = rest.arg_true().cast(pl.Int64) + first
    slow, rejects, blanks = _validate(
        frame.filter(rest), chosen, spec, plan_for, schema, numbers=numbers, cut=cut
    )
    rows, keep = split.rows, accepted
    if not slow.is_empty():  # scattering in place is several times cheaper than a sorted merge
        at = slow[schemas.ROW_NUMBER] - first
        keep = keep.clone().scatter(at, True)
        rows = pl.DataFrame(rows[name].clone().scatter(at, slow[name]) for name in schema.names())
    return ParsedInput(
        rows=rows if keep.all() else rows.filter(keep), rejects=rejects, blank_rows=blanks
    )


def _validate(
    frame: pl.DataFrame,
    chosen: dict[str, str],
    spec: _FileSpec,
    plan_for: Callable[[pl.LazyFrame], _Plan],
    schema: pl.Schema,
    *,
    numbers: pl.Series | None,
    first: int = 1,
    cut: tuple[int, str] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """The general rules: clean rows (with their ``row_number``), rejects and the blank count.

    ``numbers`` are the records' row numbers when ``frame`` holds only some of the file's records;
    otherwise they count from ``first``. ``cut`` (row number, reason) rejects that record first.
    Rejects keep the file's names of the required columns.
    Each record gets the index of the first rule it fails (a cheap integer, computed for all
    records); the reason text is only built for the few records that were rejected.
    """
    originals = [name for name, _ in spec.columns]
    selected = _select_required(frame, chosen)
    numbered = (
        selected.with_row_index(schemas.ROW_NUMBER, offset=first)
        if numbers is None
        else selected.with_columns(numbers.alias(schemas.ROW_NUMBER))
    )
    lazy = numbered.with_columns(
        pl.col(name).str.strip_chars().fill_null("").alias(_clean(name)) for name in originals
    )
    plan = plan_for(lazy)
    code: pl.Expr = pl.lit(None, dtype=pl.UInt8)
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    checks = plan.checks
    if cut is not None:
        checks = [_Check(pl.col(schemas.ROW_NUMBER) == cut[0], pl.lit(cut[1])), *checks]
    for index, check in reversed(list(enumerate(checks))):
        code = pl.when(check.failed).then(pl.lit(index, dtype=pl.UInt8)).otherwise(code)
        reason = pl.when(pl.col(_CODE) == index).then(check.message).otherwise(reason)
    checked = lazy.with_columns(plan.helpers).with_columns(code.alias(_CODE))
    data = ~pl.col(_BLANK)
    row_number = pl.col(schemas.ROW_NUMBER).cast(pl.Int64)
    rows = (
        checked.filter(data & pl.col(_CODE).is_null())
        .select(row_number, *(expr.alias(name) for name, expr in plan.outputs.items()))
        .select(schemas.ROW_NUMBER, *schema.names())
        .cast(schema)
    )
    rejects = checked.filter(data & pl.col(_CODE).is_not_null()).select(
        row_number,
        reason.alias(schemas.REASON),
        *(pl.col(name).alias(chosen[name]) for name in originals),
    )
    blank_rows = checked.select(pl.col(_BLANK).sum().cast(pl.Int64))
    # One collect_all: the shared validation plan runs once, and the filters stream through it.
    clean, rejected, blanks = pl.collect_all([rows, rejects, blank_rows])
    return clean, rejected, int(blanks.item())


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
        _Check(
            store_id.str.len_chars() > _MAX_ID_CHARS,
            pl.format(
                "store_id too long ({} characters, at most {})",
                store_id.str.len_chars(),
                pl.lit(_MAX_ID_CHARS),
            ),
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
        _Check(
            pl.col(_TIMESTAMP) > pl.lit(limit, dtype=schemas.UTC_MICROS),
            pl.format(
                "timestamp '{}' is in the future (later than {}): check the poller's clock",
                _show(stamp),
                pl.lit(limit.strftime("%Y-%m-%d %H:%M:%S UTC")),
            ),
        )
    ]


# --------------------------------------------------------------------------- status fast path

# Timestamp layouts decoded without the general rules: `#` is an ASCII digit, anything else must
# match exactly. Each has its own length, which picks the layout; the first is the source data's.
_FAST_LAYOUTS: Final = (
    "####-##-## ##:##:##.###### UTC",
    "####-##-## ##:##:## UTC",
    "####-##-##T##:##:##.######Z",
    "####-##-##T##:##:##.###Z",  # JavaScript's toISOString
    "####-##-##T##:##:##Z",
)
# (start, digits) of year, month, day, hour, minute and second, shared by all the layouts.
_FIELDS_AT: Final = ((0, 4), (5, 2), (8, 2), (11, 2), (14, 2), (17, 2))
_FRACTION_AT: Final = 20
_FAST_BLOCK: Final = 1 << 15  # rows decoded at a time: NumPy's temporaries stay in the CPU cache
_LANE: Final = 8  # bytes read as one 64-bit word


def _month_tables() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Day number of the 1st, and length, of each month of 1970-2100 (months since 1970-01)."""
    months = [(year, month) for year in range(_MIN_YEAR, _MAX_YEAR + 1) for month in range(1, 13)]
    epoch = date(1970, 1, 1)
    first = [(date(year, month, 1) - epoch).days for year, month in months]
    length = [calendar.monthrange(year, month)[1] for year, month in months]
    return np.array(first, dtype=np.int64), np.array(length, dtype=np.int64)


_MONTH_FIRST_DAY, _MONTH_LENGTH = _month_tables()


def _bytes_mask(layout: str, offset: int, byte_of: Callable[[str], int]) -> np.uint64:
    """A little-endian word holding ``byte_of(char)`` for each of the lane's 8 characters."""
    word = 0
    for index, char in enumerate(layout[offset : offset + _LANE]):
        word |= byte_of(char) << (8 * index)
    return np.uint64(word)


@dataclass(frozen=True)
class _Lane:
    """Eight bytes of a layout read as one integer, with the masks that check them in one go.

    A byte is an ASCII digit if its high nibble is 3 and adding 6 does not carry into the next
    nibble (`9` + 6 is 0x3F, `:` + 6 is 0x40). Literal bytes are compared whole. Adding 6 only
    carries into the next byte from a byte of 0xFA or more, which has already failed the row.
    """

    offset: int
    check_mask: np.uint64  # 0xF0 on digits, 0xFF on literals
    check_value: np.uint64  # 0x30 on digits, the literal itself on literals
    digit_bias: np.uint64  # 0x06 on digits
    digit_high: np.uint64  # 0xF0 on digits
    digit_value: np.uint64  # 0x30 on digits
    digit_low: np.uint64  # 0x0F on digits: the digit values, with literals zeroed

    @classmethod
    def of(cls, layout: str, offset: int) -> _Lane:
        def on_digits(byte: int) -> Callable[[str], int]:
            return lambda char: byte if char == "#" else 0

        return cls(
            offset=offset,
            check_mask=_bytes_mask(layout, offset, lambda c: 0xF0 if c == "#" else 0xFF),
            check_value=_bytes_mask(layout, offset, lambda c: 0x30 if c == "#" else ord(c)),
            digit_bias=_bytes_mask(layout, offset, on_digits(0x06)),
            digit_high=_bytes_mask(layout, offset, on_digits(0xF0)),
            digit_value=_bytes_mask(layout, offset, on_digits(0x30)),
            digit_low=_bytes_mask(layout, offset, on_digits(0x0F)),
        )


@dataclass(frozen=True)
class _Layout:
    """A fixed timestamp layout, compiled to overlapping 8-byte lanes that cover every byte."""

    length: int
    lanes: tuple[_Lane, ...]
    fraction: int  # fraction digits kept (at most 6: microseconds), 0 if there is no fraction

    @classmethod
    def of(cls, layout: str) -> _Layout:
        if not layout.isascii() or layout[:19] != "####-##-##" + layout[10] + "##:##:##":
            raise ValueError(f"unsupported fast layout {layout!r}")
        offsets = {*range(0, len(layout) - _LANE, _LANE), len(layout) - _LANE}
        digits = len(layout[_FRACTION_AT:]) - len(layout[_FRACTION_AT:].lstrip("#"))
        fraction = min(digits, 6) if layout[_FRACTION_AT - 1 : _FRACTION_AT] == "." else 0
        runs = [*_FIELDS_AT, (_FRACTION_AT, fraction)]
        for start, count in runs:  # every digit pair must sit inside one lane
            for at in range(start, start + count, 2):
                if not any(o <= at and at + 1 < o + _LANE for o in offsets):
                    offsets.add(min(at, len(layout) - _LANE))
        lanes = tuple(_Lane.of(layout, offset) for offset in sorted(offsets))
        return cls(length=len(layout), lanes=lanes, fraction=fraction)


_FAST: Final = tuple(_Layout.of(layout) for layout in _FAST_LAYOUTS)


def _decode_block(
    block: npt.NDArray[np.uint8], layout: _Layout
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Check and decode rows of ``layout.length`` bytes: (valid and in range, UTC microseconds).

    SWAR: each lane is 8 bytes of every row in one integer, so a row takes a few dozen integer
    operations in NumPy instead of a regex and a chrono parse per string.
    """
    rows = block.shape[0]
    flat = np.ascontiguousarray(block).reshape(-1)
    valid = np.ones(rows, dtype=np.bool_)
    # Per lane offset, as (rows, 8) bytes: each digit's value, and the 2-digit number it starts.
    digits: dict[int, npt.NDArray[np.uint8]] = {}
    pairs: dict[int, npt.NDArray[np.uint8]] = {}
    for lane in layout.lanes:
        words = np.ndarray(
            (rows,), dtype="<u8", buffer=flat, offset=lane.offset, strides=(layout.length,)
        ).astype(np.uint64)
        valid &= (words & lane.check_mask) == lane.check_value
        valid &= ((words + lane.digit_bias) & lane.digit_high) == lane.digit_value
        values = words & lane.digit_low  # a digit (at most 15) a byte, so 10x + next fits too
        tens = values * np.uint64(10) + (values >> np.uint64(8))
        digits[lane.offset] = values.astype("<u8", copy=False).view(np.uint8).reshape(rows, 8)
        pairs[lane.offset] = tens.astype("<u8", copy=False).view(np.uint8).reshape(rows, 8)

    def number(start: int, count: int) -> npt.NDArray[np.int32]:
        total = np.zeros(rows, dtype=np.int32)
        for at in range(start, start + count, 2):
            width = min(2, start + count - at)
            offset = next(o for o in pairs if o <= at and at + width <= o + _LANE)
            source, scale = (pairs, 100) if width == 2 else (digits, 10)
            part = source[offset][:, at - offset].astype(np.int32)
            total = part if at == start else total * scale + part
        return total

    year, month, day, hour, minute, second = (number(*at) for at in _FIELDS_AT)
    valid &= (year >= _MIN_YEAR) & (year <= _MAX_YEAR) & (month >= 1) & (month <= 12)
    valid &= (hour <= 23) & (minute <= 59) & (second <= 59)
    month_index = np.where(valid, (year - _MIN_YEAR) * 12 + month - 1, 0)
    valid &= (day >= 1) & (day <= _MONTH_LENGTH[month_index])
    days = _MONTH_FIRST_DAY[month_index] + (day - 1).astype(np.int64)
    seconds = days * 86_400 + ((hour * 60 + minute) * 60 + second).astype(np.int64)
    micros = seconds * _US_PER_S
    if layout.fraction:
        micros += number(_FRACTION_AT, layout.fraction) * 10 ** (6 - layout.fraction)
    return valid, micros


def _decode_layout(
    text: pl.Series, layout: _Layout
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Decode strings that are all ``layout.length`` bytes long, a block at a time."""
    valid = np.empty(text.len(), dtype=np.bool_)
    micros = np.empty(text.len(), dtype=np.int64)
    raw = text.cast(pl.Binary)
    row_bytes = pl.Array(pl.UInt8, layout.length)

    def decode(start: int) -> None:
        block = raw.slice(start, _FAST_BLOCK).bin.reinterpret(dtype=row_bytes).to_numpy()
        stop = start + block.shape[0]
        valid[start:stop], micros[start:stop] = _decode_block(block, layout)

    # NumPy releases the GIL in its loops, so blocks decode in parallel on every core.
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        list(pool.map(decode, range(0, text.len(), _FAST_BLOCK)))
    return valid, micros


def _fast_timestamps(text: pl.Series) -> pl.Series:
    """Timestamps in a fast layout, as UTC microseconds; null where the general rules must decide.

    Only unstripped text in exactly one of ``_FAST_LAYOUTS``, with a real date and time from 1970
    to 2100, is decoded. Where it is, the general rules give the same value after stripping.
    """
    valid = np.zeros(text.len(), dtype=np.bool_)
    micros = np.zeros(text.len(), dtype=np.int64)
    lengths = text.str.len_bytes()
    for layout in _FAST:
        chosen = (lengths == layout.length).fill_null(value=False)
        if chosen.all():  # the usual case: one layout for the whole file, nothing to scatter
            valid, micros = _decode_layout(text, layout)
            break
        if chosen.any():
            at = chosen.arg_true().to_numpy()
            valid[at], micros[at] = _decode_layout(text.filter(chosen), layout)
    stamps = pl.Series(text.name, micros).cast(schemas.UTC_MICROS)
    return stamps.to_frame().select(pl.when(pl.Series(valid)).then(stamps)).to_series()


def _has_control_chars(text: pl.Series) -> bool:
    """Whether any value holds a character of ``_CONTROL_CHARS``.

    Ids repeat (a store polls every hour), so searching the distinct values is several times
    cheaper than a regex per value.
    """
    return bool(text.unique().str.contains(_CONTROL_CHARS).any())


def _is_bare(text: pl.Expr, *, control_chars: bool) -> pl.Expr:
    """True if stripping leaves ``text`` as it is (and it has no control characters).

    The first and last bytes must be printable ASCII: a non-ASCII end might be Unicode space.
    ``control_chars`` says whether the column has any, so whether each value must be searched.
    """
    raw = text.cast(pl.Binary)
    tests = [raw.bin.get(index, null_on_oob=True).is_between(0x21, 0x7E) for index in (0, -1)]
    if control_chars:
        tests.append(~text.str.contains(_CONTROL_CHARS))
    return pl.all_horizontal(tests)


def _split_status(columns: pl.DataFrame, *, not_after: datetime | None = None) -> _Split:
    """Settle the records that are already canonical: bare short id, lowercase status, fast
    timestamp (not after ``not_after``).

    The general rules would strip nothing, lowercase nothing and reject nothing in them, so their
    clean row is the text as it is plus the decoded timestamp.
    """
    stamps = _fast_timestamps(columns[schemas.TIMESTAMP])
    if not_after is not None:  # later ones are rejected, by the general rules
        stamps = (
            stamps.to_frame()
            .select(pl.when(stamps <= pl.lit(not_after, dtype=schemas.UTC_MICROS)).then(stamps))
            .to_series()
        )
    store_id = columns[schemas.STORE_ID]
    accepted = columns.select(
        pl.all_horizontal(
            _is_bare(pl.col(schemas.STORE_ID), control_chars=_has_control_chars(store_id)),
            pl.col(schemas.STORE_ID).str.len_bytes() <= _MAX_ID_CHARS,
            pl.col(schemas.STATUS).is_in([schemas.ACTIVE, schemas.INACTIVE]),
            stamps.is_not_null(),
        ).fill_null(value=False)
    ).to_series()
    rows = columns.with_columns(stamps.alias(schemas.TIMESTAMP))
    return _Split(accepted=accepted, rows=rows.select(schemas.OBSERVATIONS_SCHEMA.names()))


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


def read_status_csv(source: Source, *, not_after: datetime | None = None) -> ParsedInput:
    """Parse a status-poll file (``store_id, status, timestamp_utc``; path, ``.gz`` or bytes).

    Polls stamped after ``not_after`` are rejected (a poller with a clock in the future).
    """
    return _parse(
        source,
        _STATUS_SPEC,
        partial(_status_plan, not_after=not_after),
        schemas.OBSERVATIONS_SCHEMA,
        fast=partial(_split_status, not_after=not_after),
    )


def read_status_batches(
    source: Source,
    *,
    rows: int = STATUS_BATCH_ROWS,
    whole_below: int = STREAM_FROM_BYTES,
    not_after: datetime | None = None,
) -> Iterator[ParsedInput]:
    """Parse a status-poll file in batches, each of at most ``rows`` records if streamed.

    Memory stays bounded by the batch, not the file: files of ``whole_below`` bytes or more are
    streamed from disk; smaller ones are one batch. Row numbers count from the file's start.
    Polls stamped after ``not_after`` are rejected (a poller with a clock in the future).
    """
    first = 1
    for text in _read_text_batches(source, "status", rows, whole_below=whole_below):
        parsed = _parse_frame(
            text.frame,
            _STATUS_SPEC,
            partial(_status_plan, not_after=not_after),
            schemas.OBSERVATIONS_SCHEMA,
            partial(_split_status, not_after=not_after),
            first=first,
            cut_off=text.cut_off,
        )
        first += text.frame.height
        del text  # the batch's text is not held while the caller works on its polls
        yield parsed


def read_hours_csv(source: Source) -> ParsedInput:
    """Parse a business-hours file (``store_id, day, start_time_local, end_time_local``)."""
    return _parse(source, _HOURS_SPEC, _hours_plan, schemas.HOURS_SCHEMA)


def read_timezones_csv(source: Source) -> ParsedInput:
    """Parse a store-timezone file (``store_id, timezone_str``; IANA names only)."""
    return _parse(source, _TIMEZONES_SPEC, _timezones_plan, schemas.TIMEZONES_SCHEMA)
