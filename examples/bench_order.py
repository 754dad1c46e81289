"""Benchmark of issue #8, item 5: a big status file ingested in time order and out of order.

One generated status file (100,000 stores x 7 days 18 hours by default: about 14 M polls, 0.86 GB,
so it is streamed) is written in several row orders and each is ingested into a fresh data
directory: ``time`` as ``storestatus generate`` writes it (sorted by time), ``shuffled`` (a
seeded random permutation) and ``by-store`` (all polls of a store together). Every run is a
whole ``python -m storestatus ingest --status F`` process, measured as in ``bench.py``: wall
time from ``Popen`` to ``wait4``, peak RSS from ``wait4`` in a small launcher process. Runs of
the orders are interleaved, so a drifting load on a shared machine falls on all of them alike.
The markdown table goes to stdout, progress to stderr; it exits 0 whatever the verdicts.

Targets: peak RSS <= 1 GiB in every order; every order's median time <= 1.5 x time order's.

    python examples/bench_order.py                      # 3 runs per order
    python examples/bench_order.py --runs 1 --stores 20000 --orders time,shuffled
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import shutil
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import polars as pl
from bench import (
    BenchError,
    _git_commit,
    _make_workdir,
    _proc_field,
    _say,
    _version,
    count_csv_rows,
    run_measured,
    run_untimed,
)

ORDERS: Final = ("time", "shuffled", "by-store")
RSS_MIB: Final = 1024.0
TIME_FACTOR: Final = 1.5  # an order's median time against time order's
SEED: Final = 8


@dataclass(frozen=True)
class Runs:
    """All runs of one row order."""

    order: str
    file: Path
    megabytes: float  # the file's size
    seconds: list[float]
    rss_mib: list[float]


def write_orders(generated: Path, orders: Sequence[str], folder: Path) -> dict[str, Path]:
    """The generated status file in each row order (time order is the file itself)."""
    paths = {}
    for order in orders:
        if order == "time":
            paths[order] = generated
            continue
        text = pl.read_csv(generated, infer_schema=False)
        if order == "shuffled":
            text = text.sample(fraction=1.0, shuffle=True, seed=SEED)
        else:
            text = text.sort("store_id", maintain_order=True)
        paths[order] = folder / f"store_status-{order}.csv"
        text.write_csv(paths[order])
        del text
    return paths


def ingest(path: Path, root: Path, polls: int) -> tuple[float, float]:
    """One ingest into a new data directory: its wall seconds and peak RSS in MiB."""
    shutil.rmtree(root, ignore_errors=True)
    seconds, rss_kib, out = run_measured(["ingest", "--status", str(path), "--data-dir", str(root)])
    shutil.rmtree(root, ignore_errors=True)
    stored = re.search(r": (\d+) new polls", out)
    if stored is None or int(stored.group(1)) != polls:
        raise BenchError(f"ingest of {path} did not store {polls:,} new polls: {out.strip()}")
    return seconds, rss_kib / 1024


def table(runs: Sequence[Runs], polls: int) -> str:
    base = next((r for r in runs if r.order == "time"), None)
    base_seconds = statistics.median(base.seconds) if base else None
    header = (
        "order | polls | file MB | runs | wall s: median (min-max) | peak RSS MiB: median (max)"
        " | vs time order | target | result"
    )
    lines = [header, " | ".join("---" for _ in header.split(" | "))]
    for run in runs:
        seconds, rss = statistics.median(run.seconds), statistics.median(run.rss_mib)
        ratio = seconds / base_seconds if base_seconds else None
        fits = max(run.rss_mib) <= RSS_MIB and (ratio is None or ratio <= TIME_FACTOR)
        target = f"<= {RSS_MIB:.0f} MiB" + (
            f"; <= {TIME_FACTOR} x time order" if run.order != "time" else ""
        )
        lines.append(
            " | ".join(
                [
                    run.order,
                    f"{polls:,}",
                    f"{run.megabytes:.0f}",
                    str(len(run.seconds)),
                    f"{seconds:.2f} ({min(run.seconds):.2f}-{max(run.seconds):.2f})",
                    f"{rss:.0f} ({max(run.rss_mib):.0f})",
                    "-" if ratio is None else f"{ratio:.2f}x",
                    target,
                    "PASS" if fits else "FAIL",
                ]
            )
        )
    return "\n".join(f"| {line} |" for line in lines) + "\n"


def header(args: argparse.Namespace) -> str:
    return "\n".join(
        [
            "# storestatus: streamed ingest by row order (issue #8)",
            "",
            f"- Machine: {_proc_field('/proc/cpuinfo', 'model name') or platform.machine()};"
            f" {os.cpu_count()} CPUs; {platform.system()}"
            f" {platform.release()}; Python {platform.python_version()}, Polars"
            f" {_version('polars')}, deltalake {_version('deltalake')}; commit {_git_commit()}",
            f"- Data: `storestatus generate --stores {args.stores} --days {args.days}"
            f" --hours {args.hours}`; {args.runs} runs per order, interleaved; medians",
            f"- Command: `{shlex.join(sys.orig_argv)}`",
            "",
        ]
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stores", type=int, default=100_000, help="[default: 100,000]")
    parser.add_argument("--days", type=int, default=7, help="[default: 7]")
    parser.add_argument("--hours", type=int, default=18, help="more hours [default: 18]")
    parser.add_argument("--runs", type=int, default=3, help="runs per order [default: 3]")
    parser.add_argument(
        "--orders", default=",".join(ORDERS), help=f"comma-separated [default: {','.join(ORDERS)}]"
    )
    parser.add_argument("--workdir", type=Path, help="empty or new directory [default: temp dir]")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    args.orders = [order.strip() for order in args.orders.split(",") if order.strip()]
    if unknown := set(args.orders) - set(ORDERS):
        parser.error(f"unknown order {', '.join(sorted(unknown))}; choose from {', '.join(ORDERS)}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def measure(args: argparse.Namespace, workdir: Path) -> tuple[list[Runs], int]:
    """Generate, write the orders, run the ingests; the runs of each order and the polls."""
    generated = workdir / "gen"
    sizes = ["--stores", str(args.stores), "--days", str(args.days), "--hours", str(args.hours)]
    run_untimed(["generate", str(generated), *sizes])
    polls = count_csv_rows(generated / "store_status.csv")
    files = write_orders(generated / "store_status.csv", args.orders, workdir)
    _say(f"{polls:,} polls; orders: {', '.join(files)}")
    runs = [Runs(order, path, path.stat().st_size / 1e6, [], []) for order, path in files.items()]
    for index in range(args.runs):
        for run in runs:
            seconds, rss = ingest(run.file, workdir / "data", polls)
            run.seconds.append(seconds)
            run.rss_mib.append(rss)
            _say(f"  {run.order} {index + 1}/{args.runs}: {seconds:.2f} s, {rss:.0f} MiB")
    return runs, polls


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        workdir = _make_workdir(args.workdir)
    except BenchError as error:
        _say(f"Error: {error}")
        return 1
    _say(f"work directory: {workdir}")
    try:
        runs, polls = measure(args, workdir)
    except BenchError as error:
        _say(f"Error: {error}")
        return 1
    finally:
        if args.keep:
            _say(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    sys.stdout.write(header(args) + "\n" + table(runs, polls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
