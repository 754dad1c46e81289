"""The shared pipeline: a file's text columns in, clean typed rows and rejects out.

Parsing is pure and vectorised: one lazy plan strips every required field, adds the helper
columns of the file kind's rules (``rules``), gives each record the index of the first rule it
fails, and splits clean rows from rejects. A bad record never aborts the file; it lands in
``rejects`` with that rule's reason and code. Only the few rejected records pay for building a
reason's text. A fast path (``fast_status``) may settle the records that are already canonical
first; only the rest go through the rules, and their rows are put back in file order. The three
file kinds share it, so a record is numbered, judged and reported the same way in each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import polars as pl

from storestatus import schemas
from storestatus.readers.csv_input import Source, _FileSpec, _find_columns, _read_text_frame
from storestatus.readers.rules import RECORD_CUT_OFF, _Check, _clean, _Plan

# Helper column names; they never clash with the file's, which are dropped before they're added.
_BLANK: Final = "__blank"
_RULE: Final = "__rule"  # the index of the first rule a record fails; null if it passes them all


def _rejects_schema(columns: Sequence[str]) -> pl.Schema:
    return pl.Schema(
        {schemas.ROW_NUMBER: pl.Int64, schemas.REASON: pl.String, schemas.REASON_CODE: pl.String}
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
    ``rejects`` has ``row_number`` (1-based record number after the header), ``reason``, its
    ``reason_code`` (see ``rules.REJECT_REASONS``) and the required columns as the original text,
    under the file's own (stripped) column names;
    ``blank_rows`` counts fully empty records skipped.
    """

    rows: pl.DataFrame
    rejects: pl.DataFrame
    blank_rows: int


@dataclass(frozen=True)
class _Split:
    """What a fast path settled: ``accepted`` flags its records, ``rows`` has their clean rows.

    ``rows`` has one row per record, in file order; rows of records not accepted are ignored.
    """

    accepted: pl.Series
    rows: pl.DataFrame


_FastPath = Callable[[pl.DataFrame], _Split]


def _select_required(frame: pl.DataFrame, chosen: dict[str, str]) -> pl.LazyFrame:
    """Pick the required columns under their output names, plus a ``__blank`` record flag."""
    blank = pl.all_horizontal(
        pl.col(name).str.strip_chars().fill_null("") == "" for name in frame.columns
    )
    return frame.lazy().select(
        *(pl.col(found).alias(output) for output, found in chosen.items()), blank.alias(_BLANK)
    )


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
    rule: pl.Expr = pl.lit(None, dtype=pl.UInt8)
    reason: pl.Expr = pl.lit(None, dtype=pl.String)
    reason_code: pl.Expr = pl.lit(None, dtype=pl.String)
    checks = plan.checks
    if cut is not None:
        cut_off = pl.col(schemas.ROW_NUMBER) == cut[0]
        checks = [_Check(cut_off, RECORD_CUT_OFF, pl.lit(cut[1])), *checks]
    for index, check in reversed(list(enumerate(checks))):
        rule = pl.when(check.failed).then(pl.lit(index, dtype=pl.UInt8)).otherwise(rule)
        failed = pl.col(_RULE) == index
        reason = pl.when(failed).then(check.message).otherwise(reason)
        reason_code = pl.when(failed).then(pl.lit(check.reason.code)).otherwise(reason_code)
    checked = lazy.with_columns(plan.helpers).with_columns(rule.alias(_RULE))
    data = ~pl.col(_BLANK)
    row_number = pl.col(schemas.ROW_NUMBER).cast(pl.Int64)
    rows = (
        checked.filter(data & pl.col(_RULE).is_null())
        .select(row_number, *(expr.alias(name) for name, expr in plan.outputs.items()))
        .select(schemas.ROW_NUMBER, *schema.names())
        .cast(schema)
    )
    rejects = checked.filter(data & pl.col(_RULE).is_not_null()).select(
        row_number,
        reason.alias(schemas.REASON),
        reason_code.alias(schemas.REASON_CODE),
        *(pl.col(name).alias(chosen[name]) for name in originals),
    )
    blank_rows = checked.select(pl.col(_BLANK).sum().cast(pl.Int64))
    # One collect_all: the shared validation plan runs once, and the filters stream through it.
    clean, rejected, blanks = pl.collect_all([rows, rejects, blank_rows])
    return clean, rejected, int(blanks.item())
