"""The ``storestatus`` command line: parse options, call one core function, render the result.

Heavy modules (Polars, Delta) are imported inside the commands that need them, so ``--help``
and ``get-report`` start quickly.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final

import typer

from storestatus import __version__, reports
from storestatus.config import DATA_DIR_ENV, DataDir, default_data_dir, short_lived_process
from storestatus.errors import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_SILENT,
    EXIT_USAGE,
    StoreStatusError,
)
from storestatus.outcome import Outcome, render_outcome
from storestatus.progress import Progress, TerminalProgress, progress_on
from storestatus.reports import report_csv, report_status
from storestatus.summaries import (
    compaction_lines,
    ingest_line,
    report_outcome,
    reports_lines,
    stores_summary,
    stores_table,
    triggered_outcome,
)
from storestatus.vocabulary import Interpolation, OutputFormat

if TYPE_CHECKING:
    from storestatus.locks import WriterInfo
    from storestatus.service import StoreList
    from storestatus.store import Store

app = typer.Typer(
    name="storestatus",
    help="Business-hours uptime and downtime of stores, from hourly status polls.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain Click help and errors: paragraphs re-wrapped to the terminal, no boxes, and a usage
    # error is a short plain message (issue #8: boxes broke at 80 columns).
    rich_markup_mode=None,
)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        metavar="DIR",
        envvar=DATA_DIR_ENV,
        help="The store: default $XDG_DATA_HOME/storestatus, else ~/.local/share/storestatus.",
        show_default=False,
    ),
]
QuietOption = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Print nothing on success (for cron); errors still go to stderr."
    ),
]
LockTimeoutOption = Annotated[
    float | None,
    typer.Option(
        min=0,
        metavar="SECONDS",
        help="Give up if another ingest or compact holds the store this long.",
        show_default="no limit",
    ),
]
FormatOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "--format", help="How to print the rows.", show_default="table on a terminal, else csv"
    ),
]
MAX_FUTURE_ENV: Final = "STORESTATUS_MAX_FUTURE"
MaxFutureOption = Annotated[
    str,
    typer.Option(
        metavar="DURATION",
        envvar=MAX_FUTURE_ENV,
        help="Polls stamped later than the clock plus this are from a bad clock (e.g. 30m, 2h).",
    ),
]

AsOfOption = Annotated[
    str | None,
    typer.Option(
        metavar="TIMESTAMP",
        help="Reference time (UTC unless a zone is given).",
        show_default="latest poll",
    ),
]
MaxGapOption = Annotated[
    str | None,
    typer.Option(
        metavar="DURATION",
        help="Business time farther than this from the poll it would take is unknown (e.g. 2h).",
        show_default="no limit",
    ),
]

_SCHEDULER_ADDRESS: Final = re.compile(r"(tcp|tls)://[^\s/]+:[0-9]{1,5}")
_DEMO_TIMEOUT_SECONDS: Final = 120.0
MIN_RETAIN_DAYS: Final = 8  # a report reads the 8 days before its reference time


InterpolationOption = Annotated[
    Interpolation, typer.Option(help="How gaps between polls are filled.")
]


def _data_dir(option: Path | None) -> DataDir:
    return DataDir(option if option is not None else default_data_dir())


@contextmanager
def _user_errors(*, interrupted: str = "stopped") -> Iterator[Terminal]:
    """Turn the core's errors into one line on stderr and their exit code: no tracebacks.

    Ctrl-C (or SIGTERM, see ``short_lived_process``) ends with one line saying what became of
    the work, ``interrupted``, and exit code 130 (the shell's for SIGINT).

    Delta's Rust threads may print a panic message straight to file descriptor 2 as a write
    fails (e.g. on a full disk). Such output is held back while the command runs and shown only
    if it succeeds anyway, so that a failure is exactly one line. What the command must say
    meanwhile (e.g. that it waits for a lock) goes through the yielded ``Terminal``.
    """
    failure: str | None = None
    code = EXIT_OK
    with tempfile.TemporaryFile() as held:
        sys.stderr.flush()
        stderr = os.dup(2)
        os.dup2(held.fileno(), 2)
        try:
            yield Terminal(stderr)
        except StoreStatusError as error:
            failure, code = f"Error: {error}", error.exit_code
        except KeyboardInterrupt:
            failure, code = f"Interrupted: {interrupted}", EXIT_INTERRUPTED
        finally:
            sys.stderr.flush()
            os.dup2(stderr, 2)
            os.close(stderr)
            if failure is None:  # success, or an exit of its own (e.g. get-report's Running)
                held.seek(0)
                sys.stderr.write(held.read().decode(errors="replace"))
                sys.stderr.flush()
    if failure is not None:
        typer.echo(failure, err=True)
        raise typer.Exit(code) from None


class Terminal:
    """The real stderr while ``_user_errors`` holds file descriptor 2 back."""

    def __init__(self, descriptor: int) -> None:
        self._descriptor = descriptor
        self._progress: TerminalProgress | None = None

    @contextmanager
    def progress(self, *, quiet: bool = False) -> Iterator[Progress]:
        """Signs of life for long work, on a terminal unless ``quiet``; silent under cron."""
        with progress_on(self._descriptor, enabled=not quiet) as progress:
            self._progress = progress if isinstance(progress, TerminalProgress) else None
            try:
                yield progress
            finally:
                self._progress = None

    def say(self, line: str) -> None:
        """Show a line now, and only to a person: under cron (no terminal) stay quiet."""
        if self._progress is not None:  # above the progress line, which stays
            self._progress.say(line)
        elif os.isatty(self._descriptor):
            os.write(self._descriptor, f"{line}\n".encode())


def _timestamp(text: str, option: str) -> datetime:
    """An option's timestamp, by the one grammar of ``storestatus.timestamps``; else exit 2."""
    from storestatus.timestamps import parse_instant  # noqa: PLC0415

    try:
        return parse_instant(text)
    except StoreStatusError as error:
        raise typer.BadParameter(str(error), param_hint=option) from None


def _duration(text: str, option: str) -> timedelta:
    """An option's duration (``1h``, ``90m``); else exit 2."""
    from storestatus.durations import parse_duration  # noqa: PLC0415

    try:
        return parse_duration(text)
    except StoreStatusError as error:
        raise typer.BadParameter(str(error), param_hint=option) from None


def _max_gap(text: str | None) -> timedelta | None:
    """``--max-gap``: a positive duration, or None; else exit 2."""
    if text is None:
        return None
    gap = _duration(text, "--max-gap")
    if not gap:
        raise typer.BadParameter(
            "must be longer than 0s (every instant would be unknown)", param_hint="--max-gap"
        )
    return gap


def _check_scheduler(address: str | None) -> None:
    """``--scheduler``: a Dask scheduler's address, and Dask installed to reach it; else exit 2."""
    if address is None:
        return
    if not _SCHEDULER_ADDRESS.fullmatch(address):
        raise typer.BadParameter(
            f"{address!r} is not a Dask scheduler address such as tcp://10.0.0.5:8786",
            param_hint="--scheduler",
        )
    if importlib.util.find_spec("distributed") is None:  # found without importing it
        raise typer.BadParameter(
            "needs Dask: pip install 'storestatus[dask]'", param_hint="--scheduler"
        )


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
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="[FILE]...",
            help="More status files, so that --status hourly/*.csv works.",
            show_default=False,
        ),
    ] = None,
    *,
    status: Annotated[
        list[Path] | None,
        typer.Option(
            metavar="FILE",
            help="Status polls (.csv or .csv.gz); give as many as you like.",
            show_default=False,
        ),
    ] = None,
    hours: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Business hours: a new snapshot.")
    ] = None,
    timezones: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Time zones: a new snapshot.")
    ] = None,
    allow_shrink: Annotated[
        bool,
        typer.Option(
            "--allow-shrink",
            help="Accept a snapshot that drops more than half of the current stores.",
        ),
    ] = False,
    max_future: MaxFutureOption = "1h",
    lock_timeout: LockTimeoutOption = None,
    quiet: QuietOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Add status polls; replace business hours and time zones.

    All or nothing: a file that cannot be used stores nothing of the whole ingest.

    Polls are upserted by (store_id, timestamp_utc), so re-ingesting a file adds nothing.
    Hours and time zones replace their previous snapshot. Unusable rows go to a rejects CSV.

    \b
    Example:
      storestatus ingest --status polls.csv --hours hours.csv --timezones tz.csv
    """
    from storestatus.service import ingest_files  # noqa: PLC0415
    from storestatus.store import Store  # noqa: PLC0415

    directory = _data_dir(data_dir)
    tolerance = _duration(max_future, "--max-future")
    created = not directory.exists()
    with (
        _user_errors(interrupted="nothing was stored (the ingest was rolled back)") as terminal,
        terminal.progress(quiet=quiet) as progress,
    ):
        results = ingest_files(
            _store(Store, directory, lock_timeout, terminal),
            status=[*(status or ()), *(files or ())],
            hours=hours,
            timezones=timezones,
            allow_shrink=allow_shrink,
            max_future=tolerance,
            progress=progress,
        )
    made = (f"created the data directory {directory.root}",) if created else ()
    render_outcome(Outcome(summary=tuple(map(ingest_line, results)), messages=made), quiet=quiet)


@app.command("trigger-report")
def trigger_report(
    *,
    as_of: AsOfOption = None,
    interpolation: InterpolationOption = "nearest",
    detail: Annotated[
        bool,
        typer.Option(
            "--detail", help="Add business, unknown and poll counts per window, and the last poll."
        ),
    ] = False,
    max_gap: MaxGapOption = None,
    shards: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=1024,
            metavar="N",
            help="Compute the stores in N shards, one at a time: memory bounded by a shard.",
            show_default="one per 15,000 stores",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            metavar="tcp://HOST:PORT",
            help="Run the shards on this Dask scheduler's workers (needs storestatus[dask]).",
            show_default="this machine",
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", help="Compute in the foreground; exit 1 if the report fails."),
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Start a report in the background; print its id.

    \b
    Example:
      storestatus trigger-report --as-of 2023-01-25T18:00:00Z
      storestatus trigger-report --detail --max-gap 2h
      storestatus trigger-report --shards 40 --scheduler tcp://10.0.0.5:8786
    """
    directory = _data_dir(data_dir)
    instant = None if as_of is None else _timestamp(as_of, "--as-of")
    gap = _max_gap(max_gap)
    _check_scheduler(scheduler)
    with _user_errors() as terminal, terminal.progress(quiet=not wait) as progress:
        progress.step("computing the report")  # shown only with --wait: it returns at once else
        report_id = reports.trigger_report(
            directory,
            as_of=instant,
            interpolation=interpolation,
            detail=detail,
            max_gap=gap,
            shards=shards,
            scheduler=scheduler,
            wait=wait,
            progress=progress,
        )
        record = report_status(directory, report_id) if wait else None
    render_outcome(triggered_outcome(report_id, record))


@app.command("get-report")
def get_report(
    report_id: Annotated[str, typer.Argument(metavar="ID", help="Id from trigger-report.")],
    output: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="Also copy the CSV to FILE (replaced atomically); '-' writes it to stdout.",
        ),
    ] = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show a report's state and, once complete, its CSV.

    The first line is Running, Complete (then the CSV's path) or Failed: <reason>.

    Exit code 0 complete, 75 running, 1 failed, 2 unknown id.

    \b
    Example:
      storestatus get-report hAS2vTZe7wkhSCQbP_6nOA --output report.csv
    """
    directory = _data_dir(data_dir)
    with _user_errors():
        record = report_status(directory, report_id)
        csv_path = report_csv(directory, report_id)
        if record.state == "Complete" and output is not None:
            _copy_report(csv_path, output)  # before saying Complete: it may fail
    render_outcome(report_outcome(record, csv_path, to_stdout=output == "-"))


@app.command("reports")
def list_reports(
    *,
    limit: Annotated[
        int, typer.Option(min=1, max=1000, metavar="N", help="How many reports to list.")
    ] = 20,
    output_format: FormatOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """List the reports updated last, newest first: state, times, rows.

    A Running report whose process is gone is shown (and recorded) as Failed, as get-report
    would.

    \b
    Example:
      storestatus reports --limit 5
    """
    import json  # noqa: PLC0415

    directory = _data_dir(data_dir)
    chosen: OutputFormat = output_format or ("table" if sys.stdout.isatty() else "csv")
    with _user_errors():
        records = reports.recent_reports(directory, limit=limit)
    rows = [reports.record_summary(record) for record in records]
    with _stdout_may_close():
        if chosen == "json":
            sys.stdout.write(json.dumps({"reports": rows}, indent=2) + "\n")
        else:
            lines = reports_lines(rows, separator="," if chosen == "csv" else "  ")
            if chosen == "table":
                typer.echo(typer.style(lines[0], bold=True))
                lines = lines[1:]
            sys.stdout.write("".join(f"{line}\n" for line in lines))


@app.command()
def serve(
    *,
    host: Annotated[
        str, typer.Option(metavar="ADDRESS", help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    token_file: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help=f"Require 'Authorization: Bearer <token>', the token read from FILE "
            f"(or ${TOKEN_ENV}). Needed to listen beyond loopback.",
            show_default=False,
        ),
    ] = None,
    max_upload: Annotated[
        str, typer.Option(metavar="SIZE", help="Largest POST /ingest body (e.g. 500MB, 2GB).")
    ] = "2GB",
    max_running: Annotated[
        int,
        typer.Option(
            min=1, max=256, metavar="N", help="Reports this server runs at once (429 beyond)."
        ),
    ] = 4,
    quiet: QuietOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Serve the HTTP API and the dashboard (needs: pip install 'storestatus[serve]').

    POST /trigger_report, GET /get_report/ID, GET /reports, GET /stores, GET
    /stores/ID/explain, POST /ingest, GET /healthz; the dashboard at /. See the README's
    Service section for examples.

    \b
    Example:
      storestatus serve --port 8000
      STORESTATUS_API_TOKEN=$(cat token) storestatus serve --host 0.0.0.0
    """
    from storestatus.web.settings import ServiceSettings, is_loopback  # noqa: PLC0415

    if importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("uvicorn") is None:
        typer.echo("Error: serve needs the web stack: pip install 'storestatus[serve]'", err=True)
        raise typer.Exit(EXIT_USAGE)
    token = _token(token_file)
    if token is None and not is_loopback(host):
        raise typer.BadParameter(
            f"listening on {host} without a token would let anyone who can reach it ingest and "
            f"read; give --token-file or ${TOKEN_ENV}, or use 127.0.0.1",
            param_hint="--host",
        )
    directory = _data_dir(data_dir)
    if not directory.root.is_dir():  # a typo must not serve (and, on upload, create) a new store
        raise typer.BadParameter(
            f"{directory.root} is not a directory: check --data-dir and ${DATA_DIR_ENV}, or "
            "create it (an empty one is a new store, filled by POST /ingest)",
            param_hint="--data-dir",
        )
    settings = ServiceSettings(
        data_dir=directory,
        token=token,
        max_upload_bytes=_size(max_upload, "--max-upload"),
        max_running=max_running,
    )
    import uvicorn  # noqa: PLC0415

    from storestatus.web.app import create_app  # noqa: PLC0415

    if not quiet:
        typer.echo(
            f"serving http://{host}:{port}/ for {settings.data_dir.root}"
            f" ({'token required' if token else 'no token'}); Ctrl-C stops",
            err=True,
        )
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="warning" if quiet else "info",
        server_header=False,
        timeout_graceful_shutdown=10,
    )


TOKEN_ENV: Final = "STORESTATUS_API_TOKEN"
_SIZE: Final = re.compile(r"(?i)\s*(\d+)\s*(b|kb|kib|mb|mib|gb|gib|k|m|g)?\s*")
_SIZE_UNITS: Final = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def _token(token_file: Path | None) -> str | None:
    """The service's token: from ``--token-file``, else ``$STORESTATUS_API_TOKEN``, else none."""
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as error:
            raise typer.BadParameter(
                f"cannot read {token_file}: {error}", param_hint="--token-file"
            ) from None
        where = str(token_file)
    else:
        text, where = os.environ.get(TOKEN_ENV, "").strip(), f"${TOKEN_ENV}"
        if not text:
            return None
    if len(text) < 16 or any(char.isspace() for char in text):
        raise typer.BadParameter(
            f"the token in {where} must be at least 16 characters, without spaces "
            "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')",
            param_hint="--token-file",
        )
    return text


def _size(text: str, option: str) -> int:
    """A size such as ``500MB`` or ``2GB`` (units of 1024), in bytes; else exit 2."""
    match = _SIZE.fullmatch(text)
    if match is None or int(match.group(1)) == 0:
        raise typer.BadParameter(f"{text!r} is not a size such as 500MB or 2GB", param_hint=option)
    unit = (match.group(2) or "").lower()[:1]
    return int(match.group(1)) * _SIZE_UNITS[unit]


def _copy_report(csv_path: Path, output: str) -> None:
    """Copy the CSV to ``output`` (replacing it atomically), or stream it to stdout for ``-``."""
    from storestatus.durable import copy_atomically  # noqa: PLC0415
    from storestatus.errors import OutputError  # noqa: PLC0415

    if output == "-":
        _stream_to_stdout(csv_path)
        return
    try:
        copy_atomically(csv_path, Path(output))
    except OSError as error:
        raise OutputError(
            f"cannot copy the report to {output} ({error.strerror or error}); "
            "the previous file, if any, is unchanged"
        ) from error


def _stream_to_stdout(csv_path: Path) -> None:
    """Write the CSV to stdout; a reader that stops early (``| head``) is not an error."""
    try:
        with csv_path.open("rb") as source:
            sys.stdout.flush()
            shutil.copyfileobj(source, sys.stdout.buffer)
            sys.stdout.buffer.flush()
    except BrokenPipeError:
        # Python's advice: point stdout at devnull, so that the flush at exit does not fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@app.command()
def stores(
    *,
    silent_for: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="List only the stores with no poll in this span up to the reference time "
            "(e.g. 3h); then exit 3 if any is listed.",
            show_default=False,
        ),
    ] = None,
    as_of: AsOfOption = None,
    output_format: FormatOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """List the known stores: time zone, weekly business hours, stored polls.

    One row per store named in the business hours, the time zones or a poll at or before the
    reference time, sorted by store_id. With --silent-for, only the stores without a poll in
    that span up to the reference time (a store never polled is silent), and exit code 3 if
    there is any, so that cron mails exactly then.

    \b
    Example:
      storestatus stores --silent-for 3h
      storestatus stores --silent-for 3h --format csv > s.csv || mail -s silent ops < s.csv
    """
    from storestatus.service import list_stores  # noqa: PLC0415
    from storestatus.store import Store  # noqa: PLC0415

    directory = _data_dir(data_dir)
    instant = None if as_of is None else _timestamp(as_of, "--as-of")
    span = None if silent_for is None else _duration(silent_for, "--silent-for")
    chosen: OutputFormat = output_format or ("table" if sys.stdout.isatty() else "csv")
    with _user_errors() as terminal:
        listed = list_stores(Store(directory), as_of=instant, silent_for=span)
        _print_stores(listed, chosen)
        terminal.say(stores_summary(listed))  # after the rows: a long table scrolls
    found = listed.silent_for is not None and listed.silent > 0
    render_outcome(Outcome(exit_code=EXIT_SILENT if found else EXIT_OK))


@app.command()
def explain(
    store_id: Annotated[str, typer.Argument(metavar="STORE_ID", help="The store to explain.")],
    *,
    as_of: AsOfOption = None,
    interpolation: InterpolationOption = "nearest",
    max_gap: MaxGapOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of tables.")
    ] = False,
    data_dir: DataDirOption = None,
) -> None:
    """Show how one store's report numbers come about.

    Its time zone and hours, its business intervals in the report's 8 days, every poll and
    whether it counted, which poll stands for which stretch of time, a timeline of the week
    (up / down / unknown / closed per local hour) and the figures of its report row.

    \b
    Example:
      storestatus explain 8377465688456570187
      storestatus explain 8377465688456570187 --max-gap 2h --json | jq .windows
    """
    from storestatus.service import explain_store  # noqa: PLC0415
    from storestatus.store import Store  # noqa: PLC0415

    directory = _data_dir(data_dir)
    instant = None if as_of is None else _timestamp(as_of, "--as-of")
    gap = _max_gap(max_gap)
    with _user_errors():
        explanation = explain_store(
            Store(directory),
            store_id,
            as_of=instant,
            interpolation=interpolation,
            max_gap=gap,
        )
    with _stdout_may_close():
        if as_json:
            import json  # noqa: PLC0415

            sys.stdout.write(json.dumps(explanation.as_json(), indent=2) + "\n")
        else:
            from rich.console import Console  # noqa: PLC0415

            from storestatus.render import explanation_view  # noqa: PLC0415

            Console(highlight=False).print(explanation_view(explanation))


def _print_stores(listed: StoreList, chosen: OutputFormat) -> None:
    """The rows on stdout."""
    import json  # noqa: PLC0415

    from storestatus.roster import roster_as_text  # noqa: PLC0415

    with _stdout_may_close():
        if chosen == "json":
            sys.stdout.write(json.dumps(listed.as_json(), indent=2) + "\n")
        elif chosen == "csv":
            sys.stdout.write(roster_as_text(listed.stores).write_csv(float_precision=2))
        else:
            header, *rows = stores_table(listed)
            typer.echo(typer.style(header, bold=True))
            sys.stdout.write("".join(f"{row}\n" for row in rows))


@contextmanager
def _stdout_may_close() -> Iterator[None]:
    """Write data to stdout, where a reader that stops early (``| head``) is not an error."""
    try:
        yield
        sys.stdout.flush()
    except BrokenPipeError:
        # Python's advice: point stdout at devnull, so that the flush at exit does not fail too.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


@app.command()
def demo(
    data_dir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="A new or empty directory for the demo store; it is kept.",
            show_default="a temporary one",
        ),
    ] = None,
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Keep the temporary directory, to explore it afterwards."),
    ] = False,
) -> None:
    """Run the whole job on bundled example data.

    It ingests, triggers a report, polls it until complete and shows the first rows.

    It never writes into a directory that holds anything, so it cannot touch a real store.

    \b
    Example:
      storestatus demo
    """
    import tempfile  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415

    from storestatus.render import report_table  # noqa: PLC0415
    from storestatus.service import ingest_examples, wait_for_report  # noqa: PLC0415
    from storestatus.store import Store  # noqa: PLC0415

    console = Console()
    with _user_errors():
        _require_empty(data_dir)
    root = data_dir or Path(tempfile.mkdtemp(prefix="storestatus-demo-"))
    kept = keep or data_dir is not None
    directory = DataDir(root)
    try:
        with _user_errors():
            console.print(f"[bold]1. ingest[/] the bundled example data into {root}")
            for result in ingest_examples(Store(directory)):
                stored = "new polls" if result.kind == "status" else "rows"
                console.print(
                    f"   {result.source.name}: {result.inserted} {stored}, "
                    f"{result.rejected} rejected",
                    markup=False,
                    highlight=False,
                )
            report_id = reports.trigger_report(directory)
            console.print(f"[bold]2. trigger-report[/] started report {report_id}")
            with console.status("[bold]3. get-report[/] polling until the report is complete"):
                record = wait_for_report(directory, report_id, timeout=_DEMO_TIMEOUT_SECONDS)
            if record.state != "Complete":
                reason = f"{record.state} {record.error or ''}".strip()
                raise StoreStatusError(f"the report did not complete: {reason}")
            csv_path = report_csv(directory, report_id)
            console.print(
                f"[bold]3. get-report[/] Complete: {record.rows} stores as of {record.now}"
            )
            console.print(report_table(csv_path, limit=10))
            if kept:  # one command a line, each short enough for 80 columns
                for line in (
                    "The whole report, and the store to explore:",
                    f"  export {DATA_DIR_ENV}={root}",
                    f"  storestatus get-report {report_id} --output -",
                ):
                    console.print(line, markup=False, highlight=False, soft_wrap=True)
    finally:
        if not kept:
            shutil.rmtree(root, ignore_errors=True)
            console.print(f"Removed the demo directory {root} (--keep keeps it).", markup=False)


def _require_empty(data_dir: Path | None) -> None:
    """Refuse a ``--data-dir`` that holds anything: the demo must never mix into a real store."""
    from storestatus.errors import StoreError  # noqa: PLC0415

    if data_dir is None or not data_dir.exists():
        return
    if not data_dir.is_dir():
        raise StoreError(f"demo: {data_dir} is not a directory; give a new or empty directory")
    if any(data_dir.iterdir()):
        raise StoreError(
            f"demo: {data_dir} is not empty (is it a real store?); "
            "the demo only writes into a new or empty directory"
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
        typer.Option(
            min=1,
            metavar="N",
            help="How many stores; beyond the 13,584 real ones come numbered copies.",
        ),
    ] = 14_000,
    days: Annotated[int, typer.Option(min=0, metavar="N", help="Days of polls before --end.")] = 7,
    hours: Annotated[
        int, typer.Option(min=0, metavar="N", help="Hours of polls, added to --days.")
    ] = 0,
    end: Annotated[
        str | None,
        typer.Option(
            metavar="TIMESTAMP",
            help="End of the polls, exclusive (UTC unless a zone is given).",
            show_default="2023-01-25 00:00:00 UTC",
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(min=0, metavar="N", help="Random seed; the same options give the same files."),
    ] = 0,
) -> None:
    """Write realistic test data for any number of stores.

    Writes store_status.csv, business_hours.csv and timezones.csv into OUT_DIR, ready for
    ingest. Hours and time zones are those of real stores (copied for larger runs); about 77% of
    the store-hours get a poll, with gaps and outages.

    \b
    Example:
      storestatus generate /tmp/gen --stores 100000 --days 7
    """
    from datetime import timedelta  # noqa: PLC0415

    from storestatus.generate import DEFAULT_END, generate_dataset, write_dataset  # noqa: PLC0415

    span = timedelta(days=days, hours=hours)
    if span <= timedelta(0):
        raise typer.BadParameter("no time to poll: give --days or --hours above 0")
    instant = DEFAULT_END if end is None else _timestamp(end, "--end")
    with _user_errors() as terminal, terminal.progress() as progress:
        progress.step(f"generating polls of {stores:,} stores")
        dataset = generate_dataset(stores, span, end=instant, seed=seed)
        progress.step(f"writing {dataset.status.height:,} polls to {out_dir}")
        paths = write_dataset(dataset, out_dir)
    written = ", ".join(str(path) for path in paths)
    render_outcome(
        Outcome(summary=(f"generated {stores} stores, {dataset.status.height} polls: {written}",))
    )


@app.command()
def compact(
    retain_days: Annotated[
        int | None,
        typer.Option(
            min=MIN_RETAIN_DAYS,
            metavar="DAYS",
            help="Also drop polls of UTC dates more than this many days before the newest poll.",
        ),
    ] = None,
    *,
    force: Annotated[
        bool,
        typer.Option("--force", help="Drop polls even if that is more than half of them."),
    ] = False,
    max_future: MaxFutureOption = "1h",
    lock_timeout: LockTimeoutOption = None,
    quiet: QuietOption = False,
    data_dir: DataDirOption = None,
) -> None:
    """Merge small files, drop old polls, delete unused files.

    Run it daily from cron: hourly ingests add one small file per hour. Reports that are
    running keep reading; ingests wait for it. Without --retain-days nothing old is dropped.
    Polls stamped in the future (a poller's bad clock) are moved to a rejects file. It never
    drops more than half of the polls without --force.

    \b
    Example:
      storestatus compact --retain-days 35
    """
    from storestatus.store import Store  # noqa: PLC0415

    directory = _data_dir(data_dir)
    tolerance = _duration(max_future, "--max-future")
    with (
        _user_errors(interrupted="compact stopped; nothing was dropped") as terminal,
        terminal.progress(quiet=quiet) as progress,
    ):
        directory.require()
        progress.step("compacting the status table")
        done = _store(Store, directory, lock_timeout, terminal).compact(
            retain_days=retain_days, force=force, not_after=datetime.now(UTC) + tolerance
        )
    render_outcome(Outcome(summary=compaction_lines(done)), quiet=quiet)


def _store(
    store_class: type[Store], directory: DataDir, lock_timeout: float | None, terminal: Terminal
) -> Store:
    """The store, for a command that writes: it says on a terminal whom it waits for."""

    def waiting(holder: WriterInfo | None) -> None:
        whom = holder.describe() if holder is not None else "another process"
        terminal.say(f"waiting for another writer: {whom} ...")

    return store_class(directory, lock_timeout=lock_timeout, on_wait=waiting)


def main() -> None:
    """Console-script entry point."""
    with short_lived_process():
        app()
