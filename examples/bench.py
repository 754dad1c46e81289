"""Benchmark of issues #3 and #11: whole ``storestatus`` processes on seeded data, against targets.

Each measured step is a fresh ``python -m storestatus`` process, interpreter start-up included,
because that is what cron pays every hour. Wall time runs from ``Popen`` to ``wait4``; peak RSS
is the process's own ``ru_maxrss`` from ``wait4`` (exact, where polling ``ps`` would miss peaks),
taken in a tiny launcher process so that this script's own memory does not leak into it.
Relative targets (B's report against A's, C's against A's, A's detailed report against its
default one) pair every run with a default report on A's store run right after it, and C's
sharded report is paired with a single pass (``--shards 1``) on C's store run right before it, so
both sides are measured under the same load: on a shared machine the load drifts by more than
the margins being judged.
The markdown table goes to stdout, progress to stderr, and the table with the machine, versions
and command line to ``examples/bench_results.md``. It prints figures and verdicts; it is not a
test and exits 0 whatever the verdicts (1 only if a step itself fails).

    python examples/bench.py              # A, B and C
    python examples/bench.py --all        # also B2 and D (slow: tens of minutes)
    python examples/bench.py --only C,D   # issue #11's targets: D's cost per poll is against C's
    python examples/bench.py --only A,C --stores-c 20000 --runs 3
    python examples/bench.py --quick      # tiny smoke run (the tests use --quick --all)

Scenarios:
  A   14,000 stores x 7 days: full ingest into an empty store; report; report with --detail
      --max-gap 2h (against the default report); stores; stores --silent-for 3h; explain of
      one store (tables and --json).
  B   the same stores with 70 days in the store (one ingest, untimed): hourly ingest; report.
  B2  those 70 days as 1,680 hourly appends: hourly ingest and report before and after compact.
  C   100,000 stores x 7 days: full ingest; report (automatic shards: 4); report --shards 1
      (the single pass); report time linear in polls (vs A); the sharded report's time and peak
      RSS against the single pass's, run in pairs.
  D   1,000,000 stores x 7 days (about 130 M polls), built straight into the tables, untimed:
      no CSV, see examples/bench_store.py (the generator's frames a day at a time, stored with
      Store.upsert_status, one writer session per day; hours and time zones through the
      library's readers and Store.replace_hours/replace_timezones); report (automatic shards:
      40); its cost per poll in the window against C's sharded report (only judged if C ran in
      the same invocation). Only with --all or --only D.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Final

import polars as pl

from storestatus import __version__ as storestatus_version
from storestatus.config import DataDir
from storestatus.readers import read_status_csv
from storestatus.reports import report_status
from storestatus.schemas import TIMESTAMP
from storestatus.service import ingest_files
from storestatus.store import STATUS_TABLE, Store

# Also the order they run in: C's ratio needs A, D's needs C.
SCENARIOS: Final = ("A", "B", "B2", "C", "D")
DEFAULT_SCENARIOS: Final = ("A", "B", "C")  # B2 and D take many minutes: only --all or --only
DEFAULT_END: Final = datetime(2023, 1, 25, tzinfo=UTC)  # `storestatus generate`'s default --end
DEFAULT_RESULTS: Final = Path(__file__).parent / "bench_results.md"
DEFAULT_RUNS: Final = 5
DEFAULT_RUNS_C: Final = 3  # a full ingest of C takes long; fewer runs are enough
DEFAULT_RUNS_D: Final = 3  # D's report takes up to a minute
STORE_BUILDER: Final = Path(__file__).parent / "bench_store.py"  # builds D's store, no CSV
PROGRESS_EVERY: Final = 100  # B2 hourly appends between progress lines

# The targets of issues #3, #9 and #11.
INGEST_A_SECONDS: Final = 2.0
REPORT_A_SECONDS: Final = 1.0
DETAIL_REPORT_FACTOR: Final = 1.3  # issue #9: --detail --max-gap may take 1.3 x the default report
STORES_SECONDS: Final = 1.0  # issue #9: `storestatus stores`, with or without --silent-for
EXPLAIN_SECONDS: Final = 1.0  # issue #9: `storestatus explain STORE_ID`, tables or --json
HOURLY_INGEST_SECONDS: Final = 1.0
REPORT_B_FACTOR: Final = 1.2  # a report on 10 weeks of history may take 1.2 x A's report
REPORT_C_SECONDS: Final = 10.0
LINEAR_SLACK: Final = 1.3  # report_C / report_A <= 1.3 x polls_C / polls_A
RSS_AB_MIB: Final = 1024.0
RSS_C_MIB: Final = 4096.0
SHARDED_TIME_FACTOR: Final = 1.2  # issue #11: C's sharded report <= 1.2 x the single pass's time
SHARDED_RSS_FACTOR: Final = 0.4  # ... and <= 0.4 x its peak RSS
REPORT_D_SECONDS: Final = 60.0
RSS_D_MIB: Final = 4096.0
COST_PER_POLL_FACTOR: Final = 1.3  # D's report seconds per poll in the window <= 1.3 x C's
SINGLE_PASS: Final = ("--shards", "1")  # C's baseline for the sharded targets

DETAIL_OPTIONS: Final = ("--detail", "--max-gap", "2h")  # the report options measured in A
SILENT_FOR: Final = "3h"  # `stores --silent-for`: the cron check of issue #9
SILENT_EXIT: Final = 3  # `stores --silent-for` lists a silent store: expected, not a failure

TABLE_HEADER: Final = (
    "scenario",
    "stores",
    "days",
    "polls in store / in file",
    "step",
    "runs",
    "wall s: median (min-max)",
    "peak RSS MiB: median",
    "target",
    "result",
)


class BenchError(Exception):
    """A step did not do what the benchmark needs (non-zero exit, report not Complete)."""


@dataclass(frozen=True)
class Sizes:
    """Dataset sizes; ``--quick`` shrinks them all so the whole script runs in seconds."""

    stores: int  # A, B and B2
    days: int  # A
    history_days: int  # B: days already in the store
    appended_days: int  # B2: days appended hour by hour
    stores_c: int
    days_c: int
    stores_d: int
    days_d: int


FULL: Final = Sizes(
    stores=14_000,
    days=7,
    history_days=70,
    appended_days=70,
    stores_c=100_000,
    days_c=7,
    stores_d=1_000_000,
    days_d=7,
)
QUICK: Final = Sizes(
    stores=50,
    days=2,
    history_days=3,
    appended_days=1,
    stores_c=100,
    days_c=2,
    stores_d=200,
    days_d=2,
)


@dataclass(frozen=True)
class Settings:
    """What to run, parsed once from the command line."""

    scenarios: tuple[str, ...]
    sizes: Sizes
    runs: int
    runs_c: int
    runs_d: int
    results: Path | None  # None: print only (a --quick smoke run must not replace the figures)
    workdir: Path | None
    keep: bool


@dataclass(frozen=True)
class Dataset:
    """The three CSVs written by one ``storestatus generate``."""

    folder: Path
    stores: int
    polls: int

    @property
    def status(self) -> Path:
        return self.folder / "store_status.csv"

    @property
    def hours(self) -> Path:
        return self.folder / "business_hours.csv"

    @property
    def timezones(self) -> Path:
        return self.folder / "timezones.csv"


@dataclass(frozen=True)
class Run:
    """One measured process."""

    seconds: float
    max_rss_kib: int
    store_polls: int  # polls in the store before the step
    stdout: str
    exit_code: int = 0  # non-zero only if the step allows it (``stores --silent-for``: 3)
    polls_in_window: int | None = None  # a report's, from its status record
    shards: int | None = None  # how many shards a report ran in, from its status record


@dataclass(frozen=True)
class Target:
    """A step's limits; with neither limit the step is informational."""

    seconds: float | None = None
    rss_mib: float | None = None
    note: str = ""  # how a relative time limit was derived, or why it is missing
    incomplete: bool = False  # a limit could not be derived (B's report without A)

    def describe(self) -> str:
        parts = []
        if self.seconds is not None:
            parts.append(f"<= {self.seconds:.2f} s")
        if self.note:
            parts.append(self.note)
        if self.rss_mib is not None:
            parts.append(f"<= {self.rss_mib:.0f} MiB")
        return "; ".join(parts) if parts else "informational"


@dataclass(frozen=True)
class Step:
    """All runs of one step of one scenario, and its target."""

    scenario: str
    step: str
    stores: int
    days: str
    file_polls: int | None  # None: the step reads no input file
    runs: tuple[Run, ...]
    target: Target

    @property
    def seconds(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    @property
    def rss_mib(self) -> float:
        return statistics.median(run.max_rss_kib for run in self.runs) / 1024

    def verdict(self) -> str:
        if self.target.seconds is None and self.target.rss_mib is None:
            return "info"
        slow = self.target.seconds is not None and self.seconds > self.target.seconds
        big = self.target.rss_mib is not None and self.rss_mib > self.target.rss_mib
        if slow or big:
            return "FAIL"
        return "n/a" if self.target.incomplete else "PASS"

    def row(self) -> tuple[str, ...]:
        store = self.runs[0].store_polls  # B's store grows by an hour per run: show where it began
        file = "-" if self.file_polls is None else f"{self.file_polls:,}"
        times = [run.seconds for run in self.runs]
        return (
            self.scenario,
            f"{self.stores:,}",
            self.days,
            f"{store:,} / {file}",
            self.step,
            str(len(self.runs)),
            f"{self.seconds:.2f} ({min(times):.2f}-{max(times):.2f})",
            f"{self.rss_mib:.0f}",
            self.target.describe(),
            self.verdict(),
        )


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _storestatus(args: Sequence[str]) -> list[str]:
    """The same interpreter as this script, so the benchmark measures this checkout."""
    return [sys.executable, "-m", "storestatus", *args]


def _failure(
    args: Sequence[str], code: int, stderr: str, *, program: str = "storestatus"
) -> BenchError:
    tail = "\n".join(stderr.strip().splitlines()[-5:])
    return BenchError(f"`{program} {shlex.join(args)}` exited with {code}:\n{tail}")


# Runs the measured process and reports its wall time, peak RSS (KiB) and exit code. A child
# inherits its parent's peak RSS through vfork/exec (Linux keeps the larger of the two), and this
# script holds Polars frames, so a measured process must be started by a parent that stays small.
_LAUNCHER: Final = """
import os, subprocess, sys, time
start = time.perf_counter()
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
seconds = time.perf_counter() - start
with open(sys.argv[1], "w") as result:
    result.write(f"{seconds} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def run_measured(
    args: Sequence[str], *, exit_codes: Sequence[int] = (0,)
) -> tuple[float, int, str, int]:
    """Run one ``storestatus`` process; return its wall time, its own peak RSS in KiB, its stdout
    and its exit code, which must be one of ``exit_codes``."""
    return _launch(_storestatus(args), args, exit_codes=exit_codes)


def run_script(script: Path, args: Sequence[str]) -> tuple[float, int, str]:
    """Run a Python script of ``examples/`` as ``run_measured`` runs a step, its progress (stderr)
    shown as it goes; return its wall time, its peak RSS in KiB and its stdout."""
    seconds, rss_kib, stdout, _ = _launch(
        [sys.executable, str(script), *args], args, program=script.name, show_stderr=True
    )
    return seconds, rss_kib, stdout


def _launch(
    command: Sequence[str],
    args: Sequence[str],
    *,
    exit_codes: Sequence[int] = (0,),
    program: str = "storestatus",
    show_stderr: bool = False,
) -> tuple[float, int, str, int]:
    """Run ``command`` through the launcher (see ``_LAUNCHER``); ``program`` and ``args`` name
    it in an error."""
    with tempfile.TemporaryDirectory() as scratch:
        result, out, err = (Path(scratch) / name for name in ("result", "out", "err"))
        with out.open("wb") as stdout, err.open("wb") as stderr:
            subprocess.run(
                [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(result), *command],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=None if show_stderr else stderr,
                check=True,
            )
        seconds, rss_kib, code = result.read_text().split()
        if int(code) not in exit_codes:
            raise _failure(args, int(code), err.read_text(), program=program)
        return float(seconds), int(rss_kib), out.read_text(), int(code)


def run_untimed(args: Sequence[str]) -> str:
    """Run a preparation step (generate, get-report) and return its stdout."""
    done = subprocess.run(
        _storestatus(args), stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise _failure(args, done.returncode, done.stderr)
    return done.stdout


def count_csv_rows(path: Path) -> int:
    return int(pl.scan_csv(path, infer_schema=False).select(pl.len()).collect().item())


def count_store_polls(root: Path) -> int:
    """Polls in a data directory's status table (0 before the first ingest)."""
    table = DataDir(root).tables / STATUS_TABLE
    if not (table / "_delta_log").is_dir():
        return 0
    return int(pl.scan_delta(str(table)).select(pl.len()).collect().item())


class Bench:
    """Runs the scenarios in one work directory and collects their steps."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.settings = settings
        self.sizes = settings.sizes
        self.workdir = workdir
        self.steps: list[Step] = []
        self.notes: list[str] = []
        self._datasets: dict[tuple[int, int, int, datetime], Dataset] = {}
        self._reference: Path | None = None  # A's store: relative targets pair reports with it
        self._paired: dict[str, list[Run]] = {}  # step key -> A reports run alongside its runs

    # --- building blocks --------------------------------------------------------------------

    def generate(
        self, stores: int, days: int, *, hours: int = 0, end: datetime = DEFAULT_END
    ) -> Dataset:
        """Generate a dataset once; B and B2 share theirs (same seed, same stores, same polls)."""
        key = (stores, days, hours, end)
        if key not in self._datasets:
            folder = self.workdir / f"gen-{stores}s-{days}d-{hours}h-{end:%Y%m%dT%H%M}"
            if hours == 0:
                _say(f"generating {stores:,} stores x {days} d ...")
            start = time.perf_counter()
            args = ["generate", str(folder), "--stores", str(stores), "--days", str(days)]
            if hours:
                args += ["--hours", str(hours)]
            run_untimed([*args, "--end", f"{end:%Y-%m-%d %H:%M:%S}"])
            dataset = Dataset(folder, stores, count_csv_rows(folder / "store_status.csv"))
            if hours == 0:
                took = time.perf_counter() - start
                _say(f"  {dataset.polls:,} polls in {took:.1f} s")
            self._datasets[key] = dataset
        return self._datasets[key]

    def hourly(self, first: int, count: int) -> list[Dataset]:
        """Hours ``first``..``first + count - 1`` after the history: each adds new polls."""
        return [
            self.generate(self.sizes.stores, 0, hours=1, end=DEFAULT_END + timedelta(hours=hour))
            for hour in range(first, first + count)
        ]

    def measure(
        self, label: str, args: Sequence[str], root: Path, *, exit_codes: Sequence[int] = (0,)
    ) -> Run:
        store_polls = count_store_polls(root)
        seconds, rss_kib, stdout, code = run_measured(
            [*args, "--data-dir", str(root)], exit_codes=exit_codes
        )
        exited = f", exit {code}" if code else ""
        _say(f"  {label}: {seconds:.2f} s, {rss_kib / 1024:.0f} MiB{exited}")
        return Run(seconds, rss_kib, store_polls, stdout, code)

    def measure_report(self, label: str, root: Path, options: Sequence[str] = ()) -> Run:
        """``trigger-report --wait`` (with ``options``), then check with ``get-report`` that it
        is Complete; its status record tells the polls in its window and its shards."""
        run = self.measure(label, ["trigger-report", "--wait", *options], root)
        report_id = run.stdout.strip().splitlines()[-1]
        lines = run_untimed(["get-report", report_id, "--data-dir", str(root)]).splitlines()
        if lines[:1] != ["Complete"] or len(lines) < 2 or not Path(lines[1]).is_file():
            raise BenchError(f"report {report_id} in {root} is not complete: {lines}")
        record = report_status(DataDir(root), report_id)
        return replace(run, polls_in_window=record.polls_in_window, shards=record.shards)

    def measure_paired_report(
        self, key: str, label: str, root: Path, options: Sequence[str] = ()
    ) -> Run:
        """A report (with ``options``), then a default one on A's store: a relative target
        compares the two under the same load, which on a shared machine drifts by more than the
        margins being judged."""
        run = self.measure_report(label, root, options)
        if self._reference is not None:
            paired = self.measure_report("  A report alongside", self._reference)
            self._paired.setdefault(key, []).append(paired)
        return run

    def measure_full_ingest(
        self, scenario: str, data: Dataset, runs: int
    ) -> tuple[tuple[Run, ...], Path]:
        """Ingest all three files into a fresh, empty data directory per run; keep the last."""
        results = []
        for index in range(runs):
            root = self.workdir / f"{scenario}-data-{index}"
            label = f"{scenario} ingest {index + 1}/{runs}"
            results.append(self.measure(label, _ingest_all(data), root))
            if index < runs - 1:
                shutil.rmtree(root)  # only the last store is reported on; spare the disk
        return tuple(results), self.workdir / f"{scenario}-data-{runs - 1}"

    def hourly_steps(
        self,
        scenario: str,
        root: Path,
        *,
        first_hour: int,
        days: str,
        when: str = "",
        judged: bool = True,
    ) -> None:
        """Like cron: ingest one new hour, then report; each run gets its own new hour.

        ``when`` qualifies B2's steps; those before compaction are not ``judged`` (informational).
        """
        runs = self.settings.runs
        hours = self.hourly(first_hour, runs)
        ingests, reports = [], []
        key = f"{scenario} {when}"
        for index, hour in enumerate(hours, start=1):
            label = f"{scenario} hourly ingest {index}/{runs}"
            run = self.measure(label, ["ingest", "--status", str(hour.status)], root)
            ingests.append(run)
            added = count_store_polls(root) - run.store_polls
            if added != hour.polls:
                self.notes.append(
                    f"{scenario}: an hourly ingest added {added:,} polls, not {hour.polls:,}"
                )
            label = f"{scenario} report {index}/{runs}"
            if judged:
                reports.append(self.measure_paired_report(key, label, root))
            else:
                reports.append(self.measure_report(label, root))
        ingest_target = (
            Target(seconds=HOURLY_INGEST_SECONDS, rss_mib=RSS_AB_MIB) if judged else Target()
        )
        report_target = self.report_b_target(key) if judged else Target()
        polls = int(statistics.median(hour.polls for hour in hours))
        stores = self.sizes.stores
        suffix = f", {when}" if when else ""
        self.add(
            Step(
                scenario,
                f"hourly ingest{suffix}",
                stores,
                days,
                polls,
                tuple(ingests),
                ingest_target,
            )
        )
        self.add(
            Step(scenario, f"report{suffix}", stores, days, None, tuple(reports), report_target)
        )

    def add(self, step: Step) -> None:
        self.steps.append(step)

    def find(self, scenario: str, step: str) -> Step | None:
        return next((s for s in self.steps if (s.scenario, s.step) == (scenario, step)), None)

    def paired_seconds(self, key: str) -> float | None:
        """Median of the A reports run alongside a step (None: A was not run)."""
        paired = self._paired.get(key)
        return statistics.median(run.seconds for run in paired) if paired else None

    def report_b_target(self, key: str) -> Target:
        """B's report may take 1.2 x A's: without A there is no time limit to judge against."""
        report_a = self.paired_seconds(key)
        if report_a is None:
            return Target(
                rss_mib=RSS_AB_MIB,
                note=f"{REPORT_B_FACTOR} x A's report (A not run)",
                incomplete=True,
            )
        return Target(
            seconds=REPORT_B_FACTOR * report_a,
            rss_mib=RSS_AB_MIB,
            note=f"= {REPORT_B_FACTOR} x A's report run alongside ({report_a:.2f} s)",
        )

    # --- scenarios --------------------------------------------------------------------------

    def scenario_a(self) -> None:
        _say("A: full ingest into an empty store, then reports and store lists")
        data = self.generate(self.sizes.stores, self.sizes.days)
        runs = self.settings.runs
        ingests, root = self.measure_full_ingest("A", data, runs)
        reports = [self._report("A", root, index) for index in range(runs)]
        self._reference = root
        detail = shlex.join(DETAIL_OPTIONS)
        key = f"A {detail}"
        detailed = [
            self.measure_paired_report(
                key, f"A report {detail} {index + 1}/{runs}", root, DETAIL_OPTIONS
            )
            for index in range(runs)
        ]
        listed = [
            self.measure(f"A stores {index + 1}/{runs}", ["stores"], root) for index in range(runs)
        ]
        silent = [
            self.measure(
                f"A stores --silent-for {SILENT_FOR} {index + 1}/{runs}",
                ["stores", "--silent-for", SILENT_FOR],
                root,
                exit_codes=(0, SILENT_EXIT),
            )
            for index in range(runs)
        ]
        self.notes.append(_silent_note(silent))
        store_id = listed[0].stdout.splitlines()[1].split(",")[0]  # the first store of the list
        explained = {
            how: [
                self.measure(
                    f"A explain {how} {index + 1}/{runs}", ["explain", store_id, *options], root
                )
                for index in range(runs)
            ]
            for how, options in (("tables", ()), ("--json", ("--json",)))
        }
        days = str(self.sizes.days)
        target = Target(seconds=INGEST_A_SECONDS, rss_mib=RSS_AB_MIB)
        self.add(Step("A", "ingest (empty store)", data.stores, days, data.polls, ingests, target))
        target = Target(seconds=REPORT_A_SECONDS, rss_mib=RSS_AB_MIB)
        self.add(Step("A", "report", data.stores, days, None, tuple(reports), target))
        target = self.detail_target(key)
        self.add(Step("A", f"report {detail}", data.stores, days, None, tuple(detailed), target))
        target = Target(seconds=STORES_SECONDS, rss_mib=RSS_AB_MIB)
        self.add(Step("A", "stores", data.stores, days, None, tuple(listed), target))
        step = f"stores --silent-for {SILENT_FOR}"
        self.add(Step("A", step, data.stores, days, None, tuple(silent), target))
        target = Target(seconds=EXPLAIN_SECONDS, rss_mib=RSS_AB_MIB)
        for how, runs_of in explained.items():
            step = "explain STORE" + ("" if how == "tables" else f" {how}")
            self.add(Step("A", step, data.stores, days, None, tuple(runs_of), target))

    def detail_target(self, key: str) -> Target:
        """The detailed report may take 1.3 x the default report run right after each run."""
        default = self.paired_seconds(key)
        assert default is not None  # A's own store is the reference: the pairs always run
        return Target(
            seconds=DETAIL_REPORT_FACTOR * default,
            rss_mib=RSS_AB_MIB,
            note=f"= {DETAIL_REPORT_FACTOR} x the default report run alongside ({default:.2f} s)",
        )

    def scenario_b(self) -> None:
        days = self.sizes.history_days
        _say(f"B: {days} d in the store (one ingest, untimed), then hourly steps")
        history = self.generate(self.sizes.stores, days)
        root = self.workdir / "B-data"
        run_untimed([*_ingest_all(history), "--data-dir", str(root)])
        self.hourly_steps("B", root, first_hour=1, days=f"{days} (+1 h a run)")

    def scenario_b2(self) -> None:
        days = self.sizes.appended_days
        _say(f"B2: {days * 24:,} hourly appends ({days} d), hourly steps, compact")
        history = self.generate(self.sizes.stores, days)
        root = self.workdir / "B2-data"
        append_hourly(history, root, self.workdir / "B2-hours")
        label = f"{days} hourly (+1 h a run)"
        self.hourly_steps("B2", root, first_hour=1, days=label, when="before compact", judged=False)
        run = self.measure("B2 compact", ["compact"], root)
        self.notes.append(f"B2 compact said: {run.stdout.strip()}")
        self.add(Step("B2", "compact", history.stores, label, None, (run,), Target()))
        first_hour = self.settings.runs + 1
        self.hourly_steps("B2", root, first_hour=first_hour, days=label, when="after compact")

    def scenario_c(self) -> None:
        _say("C: full ingest into an empty store, then reports: --shards 1 and automatic, paired")
        data = self.generate(self.sizes.stores_c, self.sizes.days_c)
        ingests, root = self.measure_full_ingest("C", data, self.settings.runs_c)
        runs = self.settings.runs
        singles, reports = [], []
        for index in range(runs):
            # The pair back to back: the single pass, then the default (sharded) report, which
            # is also paired with an A report for the linear target.
            label = f"C report {shlex.join(SINGLE_PASS)} {index + 1}/{runs}"
            singles.append(self.measure_report(label, root, SINGLE_PASS))
            label = f"C report (automatic shards) {index + 1}/{runs}"
            reports.append(self.measure_paired_report("C", label, root))
        days = str(self.sizes.days_c)
        target = Target(rss_mib=RSS_C_MIB)  # the issue sets no time for C's ingest
        self.add(Step("C", "ingest (empty store)", data.stores, days, data.polls, ingests, target))
        target = Target(seconds=REPORT_C_SECONDS, rss_mib=RSS_C_MIB)
        self.add(Step("C", "report", data.stores, days, None, tuple(reports), target))
        target = Target(note="the single pass: the baseline of the sharded report's targets")
        step = f"report {shlex.join(SINGLE_PASS)}"
        self.add(Step("C", step, data.stores, days, None, tuple(singles), target))
        self.notes.append(_shards_note("C report", reports, data.stores))

    def scenario_d(self) -> None:
        stores, days = self.sizes.stores_d, self.sizes.days_d
        _say(f"D: {stores:,} stores x {days} d built straight into the tables (untimed), reports")
        root = self.workdir / "D-data"
        seconds, rss_kib, stdout = run_script(
            STORE_BUILDER, [str(root), "--stores", str(stores), "--days", str(days)]
        )
        polls = count_store_polls(root)
        _say(f"  D built: {polls:,} polls in {seconds:.1f} s, {rss_kib / 1024:.0f} MiB")
        self.notes.append(
            f"D's store was built without CSV by examples/bench_store.py in {seconds:.1f} s "
            f"(peak RSS {rss_kib / 1024:.0f} MiB; untimed): the frames of "
            "storestatus.generate.generate_dataset a UTC day at a time, stored with "
            "Store.upsert_status in one writer session per day; hours and time zones parsed by "
            f"the library's readers and stored with Store.replace_hours/replace_timezones. It "
            f"said: {stdout.strip()}"
        )
        built = Run(seconds, rss_kib, 0, stdout)
        target = Target(note="untimed: generated straight into the tables")
        step = "build (straight into the tables)"
        self.add(Step("D", step, stores, str(days), None, (built,), target))
        runs = self.settings.runs_d
        reports = [
            self.measure_report(f"D report {index + 1}/{runs}", root) for index in range(runs)
        ]
        target = Target(seconds=REPORT_D_SECONDS, rss_mib=RSS_D_MIB)
        self.add(Step("D", "report", stores, str(days), None, tuple(reports), target))
        self.notes.append(_shards_note("D report", reports, stores))

    def _report(self, scenario: str, root: Path, index: int) -> Run:
        return self.measure_report(f"{scenario} report {index + 1}/{self.settings.runs}", root)

    def run(self) -> None:
        for scenario in self.settings.scenarios:
            {
                "A": self.scenario_a,
                "B": self.scenario_b,
                "B2": self.scenario_b2,
                "C": self.scenario_c,
                "D": self.scenario_d,
            }[scenario]()

    def rows(self) -> list[tuple[str, ...]]:
        """The steps' rows, each scenario's ratios right after its last step."""
        derived = {
            "C": [self._linear_row(), *self._sharded_rows()],
            "D": [self._cost_per_poll_row()],
        }
        rows = []
        for index, step in enumerate(self.steps):
            rows.append(step.row())
            following = self.steps[index + 1 :]
            if not following or following[0].scenario != step.scenario:
                rows.extend(row for row in derived.pop(step.scenario, []) if row is not None)
        return rows

    def _linear_row(self) -> tuple[str, ...] | None:
        """Report time must grow at most linearly with the polls read: C against A."""
        report_a, report_c = self.find("A", "report"), self.find("C", "report")
        alongside = self.paired_seconds("C")
        if report_a is None or report_c is None or alongside is None:
            return None
        polls_a, polls_c = report_a.runs[0].store_polls, report_c.runs[0].store_polls
        ratio = report_c.seconds / alongside  # A's reports run alongside C's: the same load
        limit = LINEAR_SLACK * polls_c / polls_a
        return (
            "C vs A",
            f"{report_c.stores / report_a.stores:.2f}x",
            "",
            f"{polls_c / polls_a:.2f}x",
            "report time ratio (linear)",
            "",
            f"{ratio:.2f}x",
            "",
            f"<= {LINEAR_SLACK} x polls ratio = {limit:.2f}x; vs A's reports run alongside "
            f"({alongside:.2f} s)",
            "PASS" if ratio <= limit else "FAIL",
        )

    def _sharded_rows(self) -> list[tuple[str, ...]]:
        """C's sharded report against the single pass run right before each of its runs: time
        within 1.2 x, peak RSS within 0.4 x (medians of the paired runs)."""
        sharded, single = (
            self.find("C", "report"),
            self.find("C", f"report {shlex.join(SINGLE_PASS)}"),
        )
        if sharded is None or single is None:
            return []
        scenario = "C sharded vs single"
        shards = f"automatic shards ({_shards_seen(sharded.runs)})"
        common = (f"{sharded.stores:,}", sharded.days, f"{_window_polls(sharded):,} / -")
        time_ratio = sharded.seconds / single.seconds
        rss_ratio = sharded.rss_mib / single.rss_mib
        return [
            (
                scenario,
                *common,
                "report time ratio (paired)",
                str(len(sharded.runs)),
                f"{time_ratio:.2f}x",
                "",
                f"<= {SHARDED_TIME_FACTOR}x; {shards} vs {shlex.join(SINGLE_PASS)} run "
                f"alongside ({single.seconds:.2f} s)",
                "PASS" if time_ratio <= SHARDED_TIME_FACTOR else "FAIL",
            ),
            (
                scenario,
                *common,
                "report peak RSS ratio (paired)",
                str(len(sharded.runs)),
                "",
                f"{rss_ratio:.2f}x",
                f"<= {SHARDED_RSS_FACTOR}x; {shards} vs {shlex.join(SINGLE_PASS)} run "
                f"alongside ({single.rss_mib:.0f} MiB)",
                "PASS" if rss_ratio <= SHARDED_RSS_FACTOR else "FAIL",
            ),
        ]

    def _cost_per_poll_row(self) -> tuple[str, ...] | None:
        """D's report seconds per poll in its window within 1.3 x those of C's sharded report
        (not judged without C: the two must run in the same invocation, on the same machine)."""
        report_d, report_c = self.find("D", "report"), self.find("C", "report")
        if report_d is None:
            return None
        polls_d = _window_polls(report_d)
        cost_d = report_d.seconds / polls_d * 1e6
        if report_c is None:
            return (
                "D vs C",
                "",
                "",
                f"{polls_d:,} / -",
                "report cost per poll",
                "",
                f"{cost_d:.3f} s per M polls",
                "",
                f"<= {COST_PER_POLL_FACTOR} x C's sharded report: not judged (C not run)",
                "n/a",
            )
        polls_c = _window_polls(report_c)
        cost_c = report_c.seconds / polls_c * 1e6
        ratio = cost_d / cost_c
        return (
            "D vs C",
            f"{report_d.stores / report_c.stores:.2f}x",
            "",
            f"{polls_d / polls_c:.2f}x",
            "report cost per poll",
            "",
            f"{ratio:.2f}x",
            "",
            f"<= {COST_PER_POLL_FACTOR}x; D {cost_d:.3f} vs C's sharded report {cost_c:.3f} "
            "s per M polls in the window",
            "PASS" if ratio <= COST_PER_POLL_FACTOR else "FAIL",
        )


def _window_polls(step: Step) -> int:
    """The polls in a report's window, from its status record (else the polls in the store)."""
    run = step.runs[0]
    return run.store_polls if run.polls_in_window is None else run.polls_in_window


def _shards_seen(runs: Sequence[Run]) -> str:
    """How many shards the runs of a report ran in, e.g. ``4`` (``?``: not recorded)."""
    return "/".join(sorted({"?" if run.shards is None else str(run.shards) for run in runs}))


def _shards_note(what: str, runs: Sequence[Run], stores: int) -> str:
    polls = sorted({run.polls_in_window for run in runs if run.polls_in_window is not None})
    window = ", ".join(f"{count:,}" for count in polls) or "not recorded"
    return (
        f"{what} (automatic shards, {stores:,} stores) ran in shards: {_shards_seen(runs)}; "
        f"polls in its window: {window}"
    )


def _silent_note(runs: Sequence[Run]) -> str:
    """What ``stores --silent-for`` found: its exit codes and how many stores it listed."""
    codes = sorted({run.exit_code for run in runs})
    listed = sorted({max(len(run.stdout.splitlines()) - 1, 0) for run in runs})  # CSV: a header
    return (
        f"A stores --silent-for {SILENT_FOR} exited with {', '.join(map(str, codes))} and listed "
        f"{', '.join(f'{count:,}' for count in listed)} stores (exit {SILENT_EXIT}: a store is "
        "silent, which the generated data has; not a failure)"
    )


def _ingest_all(data: Dataset) -> list[str]:
    return [
        "ingest",
        "--status",
        str(data.status),
        "--hours",
        str(data.hours),
        "--timezones",
        str(data.timezones),
    ]


def append_hourly(history: Dataset, root: Path, scratch: Path) -> None:
    """Build the store as cron would have: one in-process ``ingest_files`` per UTC hour.

    In-process because 1,680 interpreter start-ups would add minutes and measure nothing new.
    """
    store = Store(DataDir(root))
    ingest_files(store, hours=history.hours, timezones=history.timezones)
    parsed = read_status_csv(history.status)  # the library's parser: exact UTC, any format
    hour_key = "__hour"
    parts = parsed.rows.with_columns(
        pl.col(TIMESTAMP).dt.truncate("1h").alias(hour_key)
    ).partition_by(hour_key, as_dict=True, include_key=False)
    del parsed
    scratch.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    for done, key in enumerate(sorted(parts), start=1):
        path = scratch / f"hour-{done:05d}.csv"
        parts.pop(key).with_columns(
            pl.col(TIMESTAMP).dt.strftime("%Y-%m-%d %H:%M:%S%.6f UTC")
        ).write_csv(path)
        ingest_files(store, status=path)
        path.unlink()
        if done % PROGRESS_EVERY == 0 or not parts:
            _say(f"  appended {done:,} hours in {time.perf_counter() - start:.0f} s")


# --- the report file ------------------------------------------------------------------------


def markdown_table(rows: Sequence[tuple[str, ...]]) -> str:
    lines = [TABLE_HEADER, tuple("---" for _ in TABLE_HEADER), *rows]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"


def _proc_field(path: str, name: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == name:
                    return value.strip()
    except OSError:
        return None
    return None


def _git_commit() -> str:
    here = Path(__file__).parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"
    return f"{commit} (with uncommitted changes)" if dirty else commit


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def machine_header(settings: Settings) -> str:
    """Figures mean nothing without the machine, the versions and the exact command."""
    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or "unknown CPU"
    memory = _proc_field("/proc/meminfo", "MemTotal")  # e.g. "24587468 kB"
    ram = f"{int(memory.split()[0]) / 1024**2:.1f} GiB RAM" if memory else "RAM unknown"
    return "\n".join(
        [
            "# storestatus benchmark (issues #3, #9 and #11)",
            "",
            f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
            f"- Machine: {cpu}; {os.cpu_count()} CPUs (os.cpu_count()); {ram};"
            f" {platform.system()} {platform.release()} {platform.machine()}",
            f"- Software: Python {platform.python_version()}, Polars {_version('polars')},"
            f" deltalake {_version('deltalake')}, storestatus {storestatus_version}"
            f" at commit {_git_commit()}",
            f"- Command: `{shlex.join(sys.orig_argv)}`",
            f"- Method: every step is a whole `python -m storestatus` process, interpreter start-up"
            f" included; wall time from `Popen` to `wait4`; peak RSS is the process's own"
            f" `ru_maxrss` from `wait4`, in a small launcher process. Runs per step:"
            f" {settings.runs} (C ingest: {settings.runs_c}; D report: {settings.runs_d});"
            " medians. Polls in store: before the step's first run. Reports are"
            " `trigger-report --wait`, checked Complete with `get-report`; polls in the window"
            " and shards from the report's status record. `stores --silent-for` may exit"
            f" {SILENT_EXIT} (a silent store). D's store is built without CSV"
            " (`examples/bench_store.py`), untimed.",
            "",
        ]
    )


# --- command line ---------------------------------------------------------------------------


def parse_settings(argv: Sequence[str] | None = None) -> Settings:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="Scenarios: " + ", ".join(SCENARIOS) + "; the module docstring describes them.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--only", help="comma-separated scenarios, e.g. A,C [default: A,B,C]")
    which.add_argument(
        "--all", action="store_true", help="A, B, B2, C and D (B2 and D take many minutes)"
    )
    parser.add_argument("--runs", type=int, help=f"runs per step [default: {DEFAULT_RUNS}]")
    parser.add_argument(
        "--runs-c", type=int, help=f"runs of C's ingest [default: {DEFAULT_RUNS_C}]"
    )
    parser.add_argument(
        "--runs-d", type=int, help=f"runs of D's report [default: {DEFAULT_RUNS_D}]"
    )
    parser.add_argument("--stores-c", type=int, help=f"stores in C [default: {FULL.stores_c:,}]")
    parser.add_argument("--stores-d", type=int, help=f"stores in D [default: {FULL.stores_d:,}]")
    parser.add_argument(
        "--quick", action="store_true", help="tiny datasets and 1 run: a smoke test of the script"
    )
    parser.add_argument(
        "--results",
        type=Path,
        help="markdown file to write [default: examples/bench_results.md; none with --quick]",
    )
    parser.add_argument(
        "--workdir", type=Path, help="empty or new directory for data [default: a new temp dir]"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)

    if args.all:
        scenarios: tuple[str, ...] = SCENARIOS
    elif args.only:
        wanted = {name.strip().upper() for name in args.only.split(",") if name.strip()}
        if unknown := wanted - set(SCENARIOS):
            parser.error(
                f"unknown scenario {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}"
            )
        scenarios = tuple(name for name in SCENARIOS if name in wanted)
    else:
        scenarios = DEFAULT_SCENARIOS
    sizes = QUICK if args.quick else FULL
    if args.stores_c is not None:
        sizes = replace(sizes, stores_c=args.stores_c)
    if args.stores_d is not None:
        sizes = replace(sizes, stores_d=args.stores_d)
    for name in ("runs", "runs_c", "runs_d", "stores_c", "stores_d"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return Settings(
        scenarios=scenarios,
        sizes=sizes,
        runs=args.runs or (1 if args.quick else DEFAULT_RUNS),
        runs_c=args.runs_c or (1 if args.quick else DEFAULT_RUNS_C),
        runs_d=args.runs_d or (1 if args.quick else DEFAULT_RUNS_D),
        results=args.results or (None if args.quick else DEFAULT_RESULTS),
        workdir=args.workdir,
        keep=args.keep,
    )


def _make_workdir(workdir: Path | None) -> Path:
    """A new directory, or the given one if empty: it is deleted at the end, so never reuse."""
    if workdir is None:
        return Path(tempfile.mkdtemp(prefix="storestatus-bench-"))
    if workdir.exists() and any(workdir.iterdir()):
        raise BenchError(f"--workdir {workdir} is not empty; it would be deleted at the end")
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(argv)
    try:
        workdir = _make_workdir(settings.workdir)
    except BenchError as error:
        _say(f"Error: {error}")
        return 1
    bench = Bench(settings, workdir)
    _say(f"work directory: {workdir}")
    try:
        bench.run()
    except BenchError as error:
        _say(f"Error: {error}\n(run with --keep to inspect {workdir})")
        return 1
    finally:
        if settings.keep:
            _say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    table = markdown_table(bench.rows())
    sys.stdout.write(table)
    notes = "".join(f"\nNote: {note}\n" for note in bench.notes)
    if settings.results is None:
        _say("--quick: nothing written (give --results FILE to keep the table)")
        return 0
    settings.results.parent.mkdir(parents=True, exist_ok=True)
    settings.results.write_text(machine_header(settings) + "\n" + table + notes, encoding="utf-8")
    _say(f"wrote {settings.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
