"""From a source to text columns: loading, gzip, the CSV dialect, whole or streamed, and headers.

Every field is read as text (Polars with ``infer_schema=False``); converting and judging values is
the field rules' job. This module decides only whether the file can be used at all: a file that
cannot (unreadable, not gzip though it claims to be, empty, not UTF-8 CSV, separated by ``;``,
a required column missing) raises one :class:`InputError` line that says how to fix it. Big plain
files are streamed a slice at a time so memory stays bounded; everything else is read whole.
It is apart from the rules because its failures are of another kind: a whole-file error stops
the ingest (exit 1, nothing stored), a rule only rejects one record.
"""

from __future__ import annotations

import gzip
import itertools
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl

from storestatus import schemas
from storestatus.errors import InputError
from storestatus.readers.rules import _SHOW_MAX
from storestatus.readers.truncation import _cut_off

Source = str | Path | bytes

_GZIP_MAGIC: Final = b"\x1f\x8b"


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
