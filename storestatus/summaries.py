"""What a person reads about a command's result: the lines and outcomes the CLI prints.

Pure text from result values (``service`` and ``reports`` return them), so the wording of a
summary can change without touching a command, and the HTTP service of issue #12 can reuse it.
Polars is imported only by the one function that needs it (the stores table).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from storestatus.durations import format_duration
from storestatus.errors import EXIT_ERROR, EXIT_OK, EXIT_RUNNING
from storestatus.outcome import Outcome

if TYPE_CHECKING:
    from storestatus.reports import ReportRecord
    from storestatus.service import FileIngest, StoreList
    from storestatus.store import Compaction


def ingest_line(result: FileIngest) -> str:
    """One line per file ingested: what was stored, rejected and where the rejects are."""
    if result.kind == "status":
        done = (
            f"{result.inserted} new polls, {result.changed} replaced, "
            f"{result.unchanged} already stored"
        )
    else:
        done = f"snapshot replaced with {result.inserted} rows"
    notes = [f"{result.duplicates_in_file} duplicate in file"] if result.duplicates_in_file else []
    if result.blank:
        notes.append(f"{result.blank} blank")
    notes.append(f"{result.rejected} rejected")
    if result.rejects_file is not None:
        notes[-1] += f" (see {result.rejects_file})"
    version = "nothing stored" if result.version is None else f"version {result.version}"
    return f"{result.kind} {result.source}: {done}; {', '.join(notes)}; {version}"


def compaction_lines(done: Compaction) -> tuple[str, ...]:
    """What compact did, one line for the files and one for each kind of poll dropped."""
    lines = [
        f"compacted: {done.files_before} data files -> {done.files_after}, "
        f"{done.deleted_files} unused files deleted"
    ]
    if done.cutoff is not None:
        lines.append(
            f"dropped {done.dropped_polls} of {done.stored_polls} polls: "
            f"those of UTC dates before {done.cutoff.isoformat()}"
        )
    if done.dropped_future:
        lines.append(
            f"set aside {done.dropped_future} polls stamped in the future "
            f"(a poller's bad clock): see {done.rejects_file}"
        )
    leftovers = done.leftover_report_files + done.leftover_manifest_files + done.leftover_scratch
    if leftovers:
        lines.append(f"removed {leftovers} temporary files left by commands that were killed")
    return tuple(lines)


def triggered_outcome(report_id: str, record: ReportRecord | None) -> Outcome:
    """The id on stdout; for a report computed here (``--wait``), its warnings and failure."""
    if record is None:
        return Outcome(data=(report_id,))
    failed = record.state == "Failed"
    return Outcome(
        data=(report_id,),
        messages=(
            *(f"Warning: {warning}" for warning in record.warnings),
            *([f"Failed: {record.error}"] if failed else []),
        ),
        exit_code=EXIT_ERROR if failed else EXIT_OK,
    )


def report_outcome(record: ReportRecord, csv_path: Path, *, to_stdout: bool) -> Outcome:
    """State lines (on stderr when the CSV itself goes to stdout), warnings, exit code."""
    warnings = tuple(f"Warning: {warning}" for warning in record.warnings)
    lines: tuple[str, ...]
    if record.state == "Running":
        lines, code = ("Running",), EXIT_RUNNING
    elif record.state == "Failed":
        lines, code = (f"Failed: {record.error}",), EXIT_ERROR
    else:
        lines, code = ("Complete", str(csv_path)), EXIT_OK
    if to_stdout:
        return Outcome(messages=lines + warnings, exit_code=code)
    return Outcome(data=lines, messages=warnings, exit_code=code)


REPORT_COLUMNS = ("report_id", "status", "created_at", "seconds", "now", "rows", "shards", "error")


def reports_lines(rows: list[dict[str, object]], *, separator: str) -> list[str]:
    """``storestatus reports``: a header and a line per report (``reports.record_summary``
    rows), aligned columns for a terminal (``separator`` of spaces) or CSV (``,``)."""
    import csv  # noqa: PLC0415
    import io  # noqa: PLC0415

    cells = [list(REPORT_COLUMNS)] + [
        ["" if row.get(column) is None else str(row[column]) for column in REPORT_COLUMNS]
        for row in rows
    ]
    if separator == ",":
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(cells)
        return buffer.getvalue().splitlines()
    widths = [max(len(line[index]) for line in cells) for index in range(len(REPORT_COLUMNS))]
    return [
        separator.join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]


def stores_summary(listed: StoreList) -> str:
    """What a person at a terminal reads under the rows: how many, as of when."""
    if listed.silent_for is None:
        return f"{listed.known:,} stores as of {listed.reference_text}"
    return (
        f"{listed.silent:,} of {listed.known:,} stores silent for "
        f"{format_duration(listed.silent_for)} as of {listed.reference_text}"
    )


def stores_table(listed: StoreList) -> list[str]:
    """The header and rows as aligned text, for a person: instants to the second, in UTC.

    Built in Polars, not as a rich ``Table``: rich takes about 1 ms a row, 15 s for A's
    14,000 stores, and a table must never be cut to fit the screen (a store id with an ellipsis
    is useless), so the terminal may wrap long lines instead.
    """
    import polars as pl  # noqa: PLC0415

    from storestatus.roster import TIMEZONE_COLUMN, TIMEZONE_DEFAULTED, WEEKLY_HOURS  # noqa: PLC0415
    from storestatus.schemas import (  # noqa: PLC0415
        FIRST_POLL,
        LAST_POLL,
        POLLS_STORED,
        STORE_ID,
    )

    hundredths = (pl.col(WEEKLY_HOURS) * 100).round().cast(pl.Int64)
    cells = listed.stores.select(
        pl.col(STORE_ID),
        pl.col(TIMEZONE_COLUMN).alias("timezone"),
        pl.when(TIMEZONE_DEFAULTED).then(pl.lit("yes")).otherwise(pl.lit("no")).alias("default tz"),
        pl.format(
            "{}.{}", hundredths // 100, (hundredths % 100).cast(pl.String).str.zfill(2)
        ).alias("hours/week"),
        *(
            pl.col(column).dt.strftime("%Y-%m-%d %H:%M:%S").fill_null("never").alias(title)
            for column, title in ((FIRST_POLL, "first poll UTC"), (LAST_POLL, "last poll UTC"))
        ),
        pl.col(POLLS_STORED).cast(pl.String).alias("polls"),
    )
    right = {"hours/week", "polls"}
    longest = cells.select(pl.all().str.len_chars().max().fill_null(0)).row(0)
    widths = {
        name: max(len(name), int(most)) for name, most in zip(cells.columns, longest, strict=True)
    }
    header = "  ".join(
        name.rjust(widths[name]) if name in right else name.ljust(widths[name])
        for name in cells.columns
    )
    lines = cells.select(
        pl.concat_str(
            [
                pl.col(name).str.pad_start(widths[name])
                if name in right
                else pl.col(name).str.pad_end(widths[name])
                for name in cells.columns
            ],
            separator="  ",
        ).str.strip_chars_end()
    ).to_series()
    return [header.rstrip(), *lines.to_list()]
