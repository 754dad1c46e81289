"""The ``storestatus`` command line: parse options, call one core function, render the result.

Heavy modules (Polars, Delta) are imported inside the commands that need them, so ``--help``
and ``get-report`` start quickly.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer

from storestatus import __version__, reports
from storestatus.config import DATA_DIR_ENV, DataDir, default_data_dir, short_lived_process
from storestatus.errors import EXIT_ERROR, EXIT_OK, EXIT_RUNNING, StoreStatusError
from storestatus.reports import report_csv, report_status

if TYPE_CHECKING:
    from storestatus.service import FileIngest

app = typer.Typer(
    name="storestatus",
    help="Business-hours uptime and downtime of stores, from hourly status polls.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        envvar=DATA_DIR_ENV,
        help="Data directory.",
        # A literal "[default: ...]" in help is eaten as rich markup; show_default is rendered.
        show_default="$XDG_DATA_HOME/storestatus or ~/.local/share/storestatus",
    ),
]
InputFile = Annotated[
    Path | None,
    typer.Option(exists=True, dir_okay=False, readable=True, help="CSV file (.csv or .csv.gz)."),
]

_DEMO_TIMEOUT_SECONDS: Final = 120.0
MIN_RETAIN_DAYS: Final = 8  # a report reads the 8 days before its reference time


class InterpolationChoice(StrEnum):
    """The interpolation rules, as Typer choices (mirrors ``schemas.Interpolation``)."""

    nearest = "nearest"
    previous = "previous"


def _data_dir(option: Path | None) -> DataDir:
    return DataDir(option if option is not None else default_data_dir())


@contextmanager
def _user_errors() -> Iterator[None]:
    """Turn the core's errors into one line on stderr and their exit code: no tracebacks.

    Delta's Rust threads may print a panic message straight to file descriptor 2 as a write
    fails (e.g. on a full disk). Such output is held back while the command runs and shown only
    if it succeeds anyway, so that a failure is exactly one line.
    """
    failure: StoreStatusError | None = None
    with tempfile.TemporaryFile() as held:
        sys.stderr.flush()
        stderr = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield
        except StoreStatusError as error:
            failure = error
        finally:
            sys.stderr.flush()
            os.dup2(stderr, 2)
            os.close(stderr)
            if failure is None:  # success, or an exit of its own (e.g. get-report's Running)
                held.seek(0)
                sys.stderr.write(held.read().decode(errors="replace"))
                sys.stderr.flush()
    if failure is not None:
        typer.echo(f"Error: {failure}", err=True)
        raise typer.Exit(failure.exit_code) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"storestatus {__version__}")
        raise typer.Exit


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show version.")
    ] = False,
) -> None:
    """Business-hours uptime and downtime of stores, from hourly status polls."""


@app.command()
def ingest(
    status: InputFile = None,
    hours: InputFile = None,
    timezones: InputFile = None,
    data_dir: DataDirOption = None,
) -> None:
    """Add status polls and replace business hours and/or time zones.

    Polls are upserted by (store_id, timestamp_utc), so re-ingesting a file adds nothing. Hours
    and time zones replace their previous snapshot. Unreadable rows go to a rejects CSV.

    Example: storestatus ingest --status polls.csv --hours hours.csv --timezones tz.csv
    """
    from storestatus.service import ingest_files  # noqa: PLC0415
    from storestatus.store import Store  # noqa: PLC0415

    with _user_errors():
        results = ingest_files(
            Store(_data_dir(data_dir)), status=status, hours=hours, timezones=timezones
        )
    for result in results:
        typer.echo(_describe(result))


def _describe(result: FileIngest) -> str:
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


@app.command("trigger-report")
def trigger_report(
    as_of: Annotated[
        str | None,
        typer.Option(
            help="Reference time (UTC unless a zone is given).", show_default="latest poll"
        ),
    ] = None,
    interpolation: Annotated[
        InterpolationChoice, typer.Option(help="How gaps between polls are filled.")
    ] = InterpolationChoice.nearest,
    wait: Annotated[bool, typer.Option(help="Compute in the foreground.")] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Start a report and print its id; it is computed in the background.

    Example: storestatus trigger-report --as-of 2023-01-25T18:00:00Z
    """
    from storestatus.service import parse_instant  # noqa: PLC0415

    directory = _data_dir(data_dir)
    try:
        instant = None if as_of is None else parse_instant(as_of)
    except StoreStatusError as error:
        raise typer.BadParameter(str(error), param_hint="--as-of") from None
    with _user_errors():
        report_id = reports.trigger_report(
            directory, as_of=instant, interpolation=interpolation.value, wait=wait
        )
    typer.echo(report_id)


@app.command("get-report")
def get_report(
    report_id: Annotated[str, typer.Argument(metavar="ID", help="Id from trigger-report.")],
    output: Annotated[
        str | None,
        typer.Option(help="Also copy the CSV to this file; '-' writes the CSV to stdout."),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Print a report's state: Running, Complete (and its CSV path) or Failed: <reason>.

    Exit code 0 complete, 75 running, 1 failed, 2 unknown id.

    Example: storestatus get-report Qm9vLWJhci1iYXotcXV4 --output report.csv
    """
    directory = _data_dir(data_dir)
    to_stdout = output == "-"
    with _user_errors():
        record = report_status(directory, report_id)
        csv_path = report_csv(directory, report_id)
        if record.state == "Running":
            typer.echo("Running", err=to_stdout)
            raise typer.Exit(EXIT_RUNNING)
        if record.state == "Failed":
            typer.echo(f"Failed: {record.error}", err=to_stdout)
            raise typer.Exit(EXIT_ERROR)
        typer.echo("Complete", err=to_stdout)
        typer.echo(str(csv_path), err=to_stdout)
        _copy_csv(csv_path, output)
    raise typer.Exit(EXIT_OK)


def _copy_csv(csv_path: Path, output: str | None) -> None:
    from storestatus.errors import StoreError  # noqa: PLC0415

    try:
        if output == "-":
            with csv_path.open("rb") as source:
                sys.stdout.flush()
                shutil.copyfileobj(source, sys.stdout.buffer)
                sys.stdout.buffer.flush()
        elif output is not None:
            shutil.copyfile(csv_path, output)
    except OSError as error:
        raise StoreError(f"cannot copy the report to {output}: {error}") from error


@app.command()
def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where to keep the demo store.", show_default="a new temporary directory"
        ),
    ] = None,
) -> None:
    """Ingest the bundled example data, trigger a report, poll it and show the result.

    Example: storestatus demo
    """
    import tempfile  # noqa: PLC0415
    from importlib.resources import as_file, files  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415

    from storestatus.render import report_table  # noqa: PLC0415
    from storestatus.service import ingest_files  # noqa: PLC0415
    from storestatus.store import Store  # noqa: PLC0415

    console = Console()
    root = data_dir or Path(tempfile.mkdtemp(prefix="storestatus-demo-"))
    directory = DataDir(root)
    with _user_errors(), as_file(files("storestatus") / "demo_data") as bundled:
        console.print(f"[bold]1. ingest[/] the bundled example data into {root}")
        for result in ingest_files(
            Store(directory),
            status=bundled / "store_status.csv",
            hours=bundled / "business_hours.csv",
            timezones=bundled / "timezones.csv",
        ):
            console.print(f"   {_describe(result)}", markup=False, highlight=False)
        report_id = reports.trigger_report(directory)
        console.print(f"[bold]2. trigger-report[/] started report {report_id}")
        deadline = time.monotonic() + _DEMO_TIMEOUT_SECONDS
        with console.status("[bold]3. get-report[/] polling until the report is complete"):
            record = report_status(directory, report_id)
            while record.state == "Running" and time.monotonic() < deadline:
                time.sleep(0.1)
                record = report_status(directory, report_id)
        if record.state != "Complete":
            console.print(f"[red]Report did not complete: {record.state} {record.error or ''}")
            raise typer.Exit(EXIT_ERROR)
        csv_path = report_csv(directory, report_id)
        console.print(f"[bold]3. get-report[/] Complete: {record.rows} stores as of {record.now}")
        console.print(report_table(csv_path, limit=10))
        console.print(f"Full report: {csv_path}")
        console.print(
            f"Try: storestatus get-report {report_id} --data-dir {root} --output -",
            markup=False,
            highlight=False,
        )


@app.command()
def generate(
    out_dir: Annotated[
        Path,
        typer.Argument(
            metavar="OUT_DIR", file_okay=False, help="Folder for the three CSVs (made if needed)."
        ),
    ],
    *,
    stores: Annotated[
        int,
        typer.Option(help="How many stores; beyond the 13,584 real ones come numbered copies."),
    ] = 14_000,
    days: Annotated[int, typer.Option(min=0, help="Days of polls before --end.")] = 7,
    hours: Annotated[int, typer.Option(min=0, help="Hours of polls, added to --days.")] = 0,
    end: Annotated[
        str | None,
        typer.Option(
            metavar="TIMESTAMP",
            help="End of the polls, exclusive (UTC unless a zone is given).",
            show_default="2023-01-25 00:00:00 UTC",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option(min=0, help="Random seed; the same options give the same files.")
    ] = 0,
) -> None:
    """Write seeded, realistic polls, business hours and time zones for any number of stores.

    Writes store_status.csv, business_hours.csv and timezones.csv into OUT_DIR, ready for
    ingest. Hours and time zones are those of real stores (copied for larger runs); about 77% of
    the store-hours get a poll, with gaps and outages.

    Example: storestatus generate /tmp/gen --stores 100000 --days 7
    """
    from datetime import timedelta  # noqa: PLC0415

    from storestatus.generate import DEFAULT_END, generate_dataset, write_dataset  # noqa: PLC0415
    from storestatus.service import parse_instant  # noqa: PLC0415

    if stores < 1:
        raise typer.BadParameter(f"{stores} stores: give at least 1", param_hint="--stores")
    span = timedelta(days=days, hours=hours)
    if span <= timedelta(0):
        raise typer.BadParameter("no time to poll: give --days or --hours above 0")
    try:
        instant = DEFAULT_END if end is None else parse_instant(end)
    except StoreStatusError as error:
        raise typer.BadParameter(str(error), param_hint="--end") from None
    with _user_errors():
        dataset = generate_dataset(stores, span, end=instant, seed=seed)
        paths = write_dataset(dataset, out_dir)
    typer.echo(
        f"generated {stores} stores, {dataset.status.height} polls: "
        + ", ".join(str(path) for path in paths)
    )


@app.command()
def compact(
    retain_days: Annotated[
        int | None,
        typer.Option(
            min=MIN_RETAIN_DAYS,
            help="Also drop polls of UTC dates more than this many days before the newest poll.",
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Merge small files, optionally drop old polls, and delete files no longer needed.

    Run it daily or weekly from cron: hourly ingests add one small file per hour. Reports that
    are running keep reading; ingests wait for it. Without --retain-days nothing is dropped.

    Example: storestatus compact --retain-days 35
    """
    from storestatus.store import Store  # noqa: PLC0415

    with _user_errors():
        done = Store(_data_dir(data_dir)).compact(retain_days=retain_days)
    typer.echo(
        f"compacted: {done.files_before} data files -> {done.files_after}, "
        f"{done.deleted_files} unused files deleted, {done.dropped_polls} old polls dropped"
    )


def main() -> None:
    """Console-script entry point."""
    with short_lived_process():
        app()
