"""The one timestamp grammar: poll timestamps in files and every time given as an option.

Accepted (surrounding whitespace ignored; no zone means UTC):

- ``2023-01-22 12:09:39.388884 UTC`` (the poller's own form),
- ISO 8601 with ``T`` or a space: ``2023-01-22T12:09:39Z``, ``2023-01-22 12:09:39+05:30``,
  ``2023-01-22T12:09:39.5-0800``, ``2023-01-22 12:09:39``.

Seconds are required; a fraction may have up to 9 digits (cut to microseconds); an offset is
converted to UTC. Years 1970 to 2100 only: a report cannot use a time outside them (issue #8).
The polls' fast path (``readers.fast_status``) accepts a subset of this grammar, checked by the
tests.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

import polars as pl

from storestatus.errors import InputError
from storestatus.schemas import UTC_MICROS

MIN_YEAR: Final = 1970
MAX_YEAR: Final = 2100
EXAMPLE: Final = "2023-01-25T18:00:00Z"

_US_PER_S: Final = 1_000_000
_TIMESTAMP_RE: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-2][0-9]:[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,9})?"
    r"\s*(?:[Zz]|[Uu][Tt][Cc]|[+-][0-9]{2}:?[0-9]{2})?$"
)
_OFFSET_RE: Final = r"[+-][0-9]{2}:?[0-9]{2}$"


def parse_timestamps(text: pl.Expr) -> pl.Expr:
    """Parse stripped timestamps to UTC microseconds; null where the text is not in the grammar.

    The year range is not checked here: the readers reject such polls with their own reason.
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
    return pl.when(valid).then(seconds * _US_PER_S + micros).otherwise(None).cast(UTC_MICROS)


def parse_instant(text: str) -> datetime:
    """One timestamp given as an option (``--as-of``, ``--end``), by the polls' own rules.

    Raises
    ------
    InputError
        Not in the grammar, or outside the years 1970-2100.
    """
    parsed = (
        pl.DataFrame({"text": [text]}, schema={"text": pl.String})
        .select(parse_timestamps(pl.col("text").str.strip_chars()))
        .item()
    )
    if not isinstance(parsed, datetime):
        raise InputError(
            f"cannot read timestamp {text!r}: use e.g. {EXAMPLE} or '2023-01-25 18:00:00 UTC'"
        )
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        raise InputError(f"timestamp {text!r} is outside the years {MIN_YEAR}-{MAX_YEAR}")
    return parsed.astimezone(UTC)
