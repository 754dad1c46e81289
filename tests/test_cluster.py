"""Reports through a real Dask cluster on 127.0.0.1 (issue #11, ``trigger-report --scheduler``).

Each cluster is a ``dask scheduler`` and two ``dask worker`` processes (one thread each) started
by the test, each in its own process group, all killed when the test ends. The workers preload
``worker_preload.py``: a shard then leaves a marker when it starts, and can be made slow or made
to fail through files in the cluster's control folder, so a test knows a shard is running when
it kills a worker. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final

import distributed  # the [test] extra installs the [dask] one
import pytest
from runners import AS_OF, ingest_examples, invoke, run_cli, start_cli
from worker_preload import CONTROL_ENV

from storestatus.buckets import shard_ranges
from storestatus.cluster import CONNECT_TIMEOUT_ENV, NO_WORKERS_TIMEOUT_ENV, dask_runner
from storestatus.config import DataDir
from storestatus.errors import StoreError
from storestatus.reports import report_csv, report_status
from storestatus.shard_tasks import ShardOptions, ShardOutcome, ShardTask

PRELOAD: Final = Path(__file__).resolve().parent / "worker_preload.py"
START_SECONDS: Final = 60  # for a process to come up on a busy 2-core machine
REPORT_SECONDS: Final = 90  # for a report that should take a few seconds


@dataclass
class Cluster:
    """A scheduler and its workers, each the leader of its own process group."""

    address: str
    control: Path  # see worker_preload.py
    scheduler: subprocess.Popen[bytes]
    workers: list[subprocess.Popen[bytes]]

    def slow_shards(self, seconds: float) -> None:
        """Each shard that starts from now on first sleeps ``seconds``."""
        (self.control / "delay").write_text(str(seconds))

    def started(self) -> list[tuple[int, int]]:
        """(first bucket, worker pid) of each shard started so far."""
        names = (path.name.split("-") for path in self.control.glob("started-*"))
        return sorted((int(first), int(pid)) for _, first, pid in names)

    def wait_for_a_shard(self) -> tuple[int, int]:
        """(first bucket, worker pid) of the first shard to start."""
        deadline = time.monotonic() + START_SECONDS
        while not (started := self.started()):
            assert time.monotonic() < deadline, "no shard started"
            time.sleep(0.02)
        return started[0]

    def kill_worker(self, pid: int) -> None:
        """SIGKILL the ``dask worker`` whose process has ``pid``, and its whole process group."""
        group = os.getpgid(pid)
        os.killpg(group, signal.SIGKILL)
        for worker in self.workers:
            if worker.pid == group:
                worker.wait(timeout=30)

    def wait_until_scheduler_forgets_all_tasks(self) -> None:
        """Return once the scheduler holds no task, of any client (they may take a moment)."""
        deadline = time.monotonic() + START_SECONDS
        with distributed.Client(self.address, timeout=30, set_as_default=False) as client:
            while client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks)):
                assert time.monotonic() < deadline, "the scheduler still holds tasks"
                time.sleep(0.05)


def _start(command: list[str], log: IO[bytes], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *command],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its own process group, killed whole
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


@contextmanager
def _cluster(folder: Path) -> Iterator[Cluster]:
    """A scheduler on a free port of 127.0.0.1 and two workers registered to it."""
    folder.mkdir(parents=True, exist_ok=True)
    control = folder / "control"
    control.mkdir()
    env = {**os.environ, CONTROL_ENV: str(control)}
    with ExitStack() as stack:
        log = stack.enter_context((folder / "cluster.log").open("ab"))
        scheduler_file = folder / "scheduler.json"
        scheduler = _start(
            [
                "distributed.cli.dask_scheduler",
                *("--host", "127.0.0.1", "--port", "0", "--no-dashboard"),
                *("--scheduler-file", str(scheduler_file)),
            ],
            log,
            env,
        )
        stack.callback(_stop, scheduler)
        deadline = time.monotonic() + START_SECONDS
        while not scheduler_file.exists():
            assert scheduler.poll() is None, "the scheduler exited; see cluster.log"
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.05)
        time.sleep(0.1)  # the file is written in one go, but let it land
        address = json.loads(scheduler_file.read_text())["address"]
        workers = []
        for index in range(2):
            worker = _start(
                [
                    "distributed.cli.dask_worker",
                    address,
                    # No nanny: one process per worker starts faster, and a killed worker
                    # stays dead, as when its machine goes (a nanny would restart it).
                    *("--nthreads", "1", "--no-nanny", "--no-dashboard"),
                    *("--preload", str(PRELOAD)),
                    *("--local-directory", str(folder / f"worker-{index}")),
                    # Gone with the scheduler even if this test process is killed.
                    *("--death-timeout", "30"),
                ],
                log,
                env,
            )
            stack.callback(_stop, worker)
            workers.append(worker)
        with distributed.Client(address, timeout=START_SECONDS, set_as_default=False) as client:
            client.wait_for_workers(2, timeout=START_SECONDS)
        yield Cluster(address, control, scheduler, workers)


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster for the tests that leave it whole (each leaves the control folder empty)."""
    with _cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture
def cluster(shared_cluster: Cluster) -> Iterator[Cluster]:
    """The shared cluster, its control folder emptied after the test."""
    yield shared_cluster
    for path in shared_cluster.control.iterdir():
        path.unlink()


@pytest.fixture
def own_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A cluster of the test's own, for a test that kills its workers or its scheduler."""
    with _cluster(tmp_path / "cluster") as cluster:
        yield cluster


@pytest.fixture
def examples(data_dir: Path) -> Path:
    """A data directory holding the three example files."""
    ingest_examples(data_dir)
    return data_dir


def _local_report(data_dir: Path, *args: str) -> str:
    """The id of a report computed here: ``trigger-report --wait ARGS``."""
    result = invoke(data_dir, "trigger-report", "--wait", "--as-of", AS_OF, *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def _csv(data_dir: Path, report_id: str) -> bytes:
    return report_csv(DataDir(data_dir), report_id).read_bytes()


def _trigger(data_dir: Path, cluster: Cluster, shards: int) -> subprocess.Popen[str]:
    args = ("--wait", "--as-of", AS_OF, "--shards", str(shards), "--scheduler", cluster.address)
    return start_cli(data_dir, "trigger-report", *args)


def _finish(report: subprocess.Popen[str]) -> tuple[str, str]:
    """The report process's stdout and stderr; killed if it takes too long."""
    try:
        return report.communicate(timeout=REPORT_SECONDS)
    finally:
        if report.poll() is None:
            report.kill()
            report.communicate()


def _assert_failed(data_dir: Path, stdout: str, stderr: str, reason: str) -> None:
    """A Failed report: its one-line reason on stderr and in its record, and no CSV."""
    report_id = stdout.strip()
    assert stderr.strip() == f"Failed: {reason}", stderr
    record = report_status(DataDir(data_dir), report_id)
    assert record.state == "Failed"
    assert record.error == reason
    assert not report_csv(DataDir(data_dir), report_id).exists()
    assert not list((data_dir / "reports").glob("*.parts.tmp"))


def test_report_on_the_cluster_equals_the_local_reports(examples: Path, cluster: Cluster) -> None:
    single_pass = _local_report(examples)
    sharded = _local_report(examples, "--shards", "7")
    assert _csv(examples, sharded) == _csv(examples, single_pass)
    report = _trigger(examples, cluster, shards=7)
    stdout, stderr = _finish(report)
    assert report.returncode == 0, stderr
    report_id = stdout.strip()
    assert _csv(examples, report_id) == _csv(examples, single_pass)
    record = report_status(DataDir(examples), report_id)
    assert (record.state, record.shards, record.scheduler) == ("Complete", 7, cluster.address)
    # The shards' figures came back from the workers, the same as from the shards run here.
    here = report_status(DataDir(examples), sharded)
    figures = ("polls_in_window", "stores_polled", "reads", "table_versions", "rows")
    assert {f: getattr(record, f) for f in figures} == {f: getattr(here, f) for f in figures}
    assert len(cluster.started()) == 7
    assert len({pid for _, pid in cluster.started()}) == 2  # both workers took shards


def test_a_failing_shard_fails_the_report_naming_its_buckets(
    examples: Path, cluster: Cluster
) -> None:
    second = shard_ranges(7)[1]
    (cluster.control / f"fail-{second.start}").write_text("disk on fire\nmore detail")
    stdout, stderr = _finish(_trigger(examples, cluster, shards=7))
    reason = (
        f"the shard of buckets {second.start}-{second.stop - 1} failed on a Dask worker: "
        "disk on fire"
    )
    _assert_failed(examples, stdout, stderr, reason)


def test_sigterm_cancels_the_shards(examples: Path, cluster: Cluster) -> None:
    cluster.slow_shards(2)
    report = _trigger(examples, cluster, shards=7)
    cluster.wait_for_a_shard()
    report.send_signal(signal.SIGTERM)
    stdout, stderr = _finish(report)
    _assert_failed(examples, stdout, stderr, "the report process was stopped (SIGTERM or Ctrl-C)")
    # The coordinator cancelled the shards and closed its client: the scheduler forgot them.
    cluster.wait_until_scheduler_forgets_all_tasks()


def test_a_worker_that_does_not_see_the_data_directory_says_so(
    tmp_path: Path, cluster: Cluster
) -> None:
    missing = tmp_path / "not-shared"
    options = ShardOptions(datetime(2023, 1, 23, 18, tzinfo=UTC), "nearest", False, None)
    task = ShardTask(str(missing), {}, (0, 1024), options, str(tmp_path / "part.parquet"))
    done: list[ShardOutcome] = []
    with pytest.raises(StoreError) as raised:
        dask_runner(cluster.address)([task], done.append)
    assert str(raised.value).startswith("the shard of buckets 0-1023 failed on a Dask worker: ")
    assert str(raised.value).endswith(
        f"does not see the data directory {missing}: every worker must see it at the same path "
        "as the report's process (a shared volume or NFS)"
    )
    assert not done


@pytest.mark.slow
def test_a_worker_killed_during_a_shard_is_replaced_by_the_other(
    examples: Path, own_cluster: Cluster
) -> None:
    expected = _csv(examples, _local_report(examples))
    own_cluster.slow_shards(1)
    report = _trigger(examples, own_cluster, shards=4)
    first, killed = own_cluster.wait_for_a_shard()
    own_cluster.kill_worker(killed)
    stdout, stderr = _finish(report)
    # Dask ran the killed worker's shards again on the other worker: the same bytes.
    assert report.returncode == 0, stderr
    assert _csv(examples, stdout.strip()) == expected
    again = [pid for bucket, pid in own_cluster.started() if bucket == first and pid != killed]
    assert again, own_cluster.started()


@pytest.mark.slow
def test_no_worker_left_fails_the_report_in_bounded_time(
    examples: Path, own_cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(NO_WORKERS_TIMEOUT_ENV, "2")
    own_cluster.slow_shards(1)
    report = _trigger(examples, own_cluster, shards=4)
    own_cluster.wait_for_a_shard()
    started = time.monotonic()
    for worker in own_cluster.workers:
        _stop(worker)
    stdout, stderr = _finish(report)
    assert time.monotonic() - started < 20
    reason = (
        f"no Dask worker connected to {own_cluster.address} for 2 s: start some with "
        f"`dask worker {own_cluster.address}` ({NO_WORKERS_TIMEOUT_ENV} sets the wait)"
    )
    _assert_failed(examples, stdout, stderr, reason)


def test_a_lost_scheduler_fails_the_report_at_once(examples: Path, own_cluster: Cluster) -> None:
    own_cluster.slow_shards(1)
    report = _trigger(examples, own_cluster, shards=4)
    own_cluster.wait_for_a_shard()
    started = time.monotonic()
    _stop(own_cluster.scheduler)
    stdout, stderr = _finish(report)
    assert time.monotonic() - started < 20
    first = stderr.removeprefix("Failed: the shard of buckets ").split(" ")[0]
    reason = (
        f"the shard of buckets {first} was cancelled: the connection to the Dask scheduler at "
        f"{own_cluster.address} was lost, or the scheduler was restarted"
    )
    _assert_failed(examples, stdout, stderr, reason)


def test_an_unreachable_scheduler_fails_quickly(
    examples: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:  # a port nobody listens on once the probe is closed
        probe.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{probe.getsockname()[1]}"
    monkeypatch.setenv(CONNECT_TIMEOUT_ENV, "1")
    started = time.monotonic()
    result = run_cli(examples, "trigger-report", "--wait", "--shards", "7", "--scheduler", address)
    assert time.monotonic() - started < 20
    assert result.returncode == 1
    reason = (
        f"cannot reach the Dask scheduler at {address}: Timed out trying to connect to "
        f"{address} after 1 s (is `dask scheduler` running there? {CONNECT_TIMEOUT_ENV} "
        "sets the wait)"
    )
    _assert_failed(examples, result.stdout, result.stderr, reason)


@pytest.mark.parametrize("value", ["soon", "0", "-5"])
def test_a_bad_timeout_in_the_environment_is_an_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(NO_WORKERS_TIMEOUT_ENV, value)
    with pytest.raises(StoreError, match=f"{NO_WORKERS_TIMEOUT_ENV}='{value}' is not a number"):
        dask_runner("tcp://127.0.0.1:8786")


def test_only_the_cluster_module_imports_dask() -> None:
    check = (
        "import sys, storestatus.cli, storestatus.service, storestatus.reports, "
        "storestatus.shard_tasks, storestatus.worker; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'dask', 'distributed'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"
