"""The status fast path: canonical records settled at the bit level, without the general rules.

Status files are big (13 M polls a week for 100,000 stores), so they first take this path:
records already in canonical form (a bare id, ``active``/``inactive``, a timestamp in one of a
few fixed layouts) are decoded directly, and only the others go through the general rules
(``rules``). The fast path accepts a subset of what the general rules accept, with identical
values, and never rejects a record; the tests compare the two on generated near-misses.

This code is tuned (SWAR decoding of 8 bytes at a time, blocks sized for the CPU cache, one
thread per core): change it only with a benchmark beside the tests.
"""

from __future__ import annotations

import calendar
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from storestatus import schemas
from storestatus.readers.pipeline import _Split
from storestatus.readers.rules import _CONTROL_CHARS, _MAX_ID_CHARS
from storestatus.timestamps import MAX_YEAR as _MAX_YEAR
from storestatus.timestamps import MIN_YEAR as _MIN_YEAR

_US_PER_S: Final = 1_000_000

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
    return _Split(accepted=accepted, rows=rows.select(schemas.POLLS_SCHEMA.names()))
