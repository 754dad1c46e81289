"""Measure ``storestatus serve`` (issue #12) on a data directory: whole requests over loopback.

    python examples/bench_service.py DATA_DIR [--upload-dir GEN_DIR] [--runs 5]

Starts ``storestatus serve`` on a free port (needs the ``[serve]`` extra), makes sure a Complete
report exists (triggers one and waits), then prints the median (min-max) wall time of: the
server's start until ``/healthz`` answers, ``POST /trigger_report`` (the 202, not the report),
``GET /get_report`` of the CSV, the report page, the reports page and a store page. With
``--upload-dir`` (a folder ``storestatus generate`` wrote) it also times ``POST /ingest`` of its
three files into a new data directory, against ``storestatus ingest`` of the same files.
Each figure is a median of ``--runs`` runs; the machine is in the printout's first line.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(data_dir: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    """A server on ``data_dir``; its base URL and seconds until ``/healthz`` answered."""
    port = free_port()
    began = time.perf_counter()
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "storestatus", "serve", "--quiet", "--port", str(port)),
            *("--data-dir", str(data_dir), "--max-upload", "4GB"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return server, base, time.perf_counter() - began
        except httpx.TransportError:
            if server.poll() is not None:
                raise SystemExit("the server exited") from None
            time.sleep(0.02)


def timed(action: Callable[[], object], runs: int) -> str:
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - began)
    return f"{statistics.median(seconds):.3f} s ({min(seconds):.3f}-{max(seconds):.3f})"


def complete_report(base: str) -> str:
    report_id: str = httpx.post(f"{base}/trigger_report", timeout=30).json()["report_id"]
    while httpx.get(f"{base}/get_report/{report_id}", timeout=600).status_code == 202:
        time.sleep(0.2)
    return report_id


def ok(response: httpx.Response) -> httpx.Response:
    response.raise_for_status()
    return response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--upload-dir", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {args.runs} runs"
    )
    server, base, started = start(args.data_dir)
    try:
        report_id = complete_report(base)
        rows = httpx.get(f"{base}/get_report/{report_id}", headers={"accept": "application/json"})
        store = httpx.get(f"{base}/get_report/{report_id}").text.splitlines()[1].split(",")[0]
        print(f"server start to /healthz: {started:.3f} s; report of {rows.json()['rows']:,} rows")
        print("POST /trigger_report:", timed(lambda: ok(httpx.post(f"{base}/trigger_report")), 1))
        print(
            "GET /get_report (CSV):",
            timed(lambda: ok(httpx.get(f"{base}/get_report/{report_id}", timeout=120)), args.runs),
        )
        print(
            "GET /reports/ID (page):",
            timed(lambda: ok(httpx.get(f"{base}/reports/{report_id}", timeout=120)), args.runs),
        )
        print("GET / (page):", timed(lambda: ok(httpx.get(f"{base}/", timeout=60)), args.runs))
        print(
            "GET /stores/ID (page):",
            timed(lambda: ok(httpx.get(f"{base}/stores/{store}", timeout=60)), args.runs),
        )
    finally:
        server.terminate()
        server.wait()
    if args.upload_dir is None:
        return
    names = {
        "status": "store_status.csv",
        "hours": "business_hours.csv",
        "timezones": "timezones.csv",
    }
    size = sum((args.upload_dir / name).stat().st_size for name in names.values())
    upload_times, cli_times = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / "data"
            target.mkdir()
            server, base, _ = start(target)
            try:
                handles = {
                    kind: (args.upload_dir / name).open("rb") for kind, name in names.items()
                }
                began = time.perf_counter()
                ok(httpx.post(f"{base}/ingest", files=handles, timeout=600))
                upload_times.append(time.perf_counter() - began)
                for handle in handles.values():
                    handle.close()
            finally:
                server.terminate()
                server.wait()
            shutil.rmtree(target)
            began = time.perf_counter()
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "storestatus",
                    "ingest",
                    "--quiet",
                    "--data-dir",
                    str(target),
                ]
                + [f"--{kind}={args.upload_dir / name}" for kind, name in names.items()],
                check=True,
            )
            cli_times.append(time.perf_counter() - began)
    print(
        f"POST /ingest of {size / 1e6:.0f} MB: {statistics.median(upload_times):.2f} s "
        f"({min(upload_times):.2f}-{max(upload_times):.2f}); storestatus ingest of the same "
        f"files: {statistics.median(cli_times):.2f} s ({min(cli_times):.2f}-{max(cli_times):.2f})"
    )


if __name__ == "__main__":
    main()
