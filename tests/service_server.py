"""A real ``storestatus serve`` for the service tests: a uvicorn process on a free loopback port,
spoken to over HTTP, stopped (and, if it must be, killed) at the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from runners import file_size_limit

START_SECONDS = 30  # importing FastAPI and Polars on a loaded 2-core machine


def free_port() -> int:
    """A port nothing listens on now (the server binds it a moment later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_server(
    data_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    limit_file_size: int | None = None,
) -> Iterator[str]:
    """``storestatus serve --data-dir DATA_DIR ARGS`` on 127.0.0.1; yields its base URL.
    ``limit_file_size``: writes beyond it fail (EFBIG), as on a full disk."""
    port = free_port()
    log = data_dir.parent / f"serve-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                *("-m", "storestatus", "serve", "--port", str(port)),
                *("--data-dir", str(data_dir), *args),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
            preexec_fn=file_size_limit(limit_file_size),  # noqa: PLW1509
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process, log)
        yield base
    finally:
        _stop(process)


def _wait_until_up(base: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited: {log.read_text(errors='replace')}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"the server did not answer in {START_SECONDS} s: {log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as an operator stops it; killed if it has not exited within 15 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
