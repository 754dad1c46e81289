"""Shards of a report as tasks on a Dask distributed cluster (issue #11; the ``[dask]`` extra).

``trigger-report --scheduler tcp://HOST:8786`` runs each ``ShardTask`` as one Dask task of the
same ``shard_tasks.run_shard`` that runs it here: Dask schedules, it never computes the report
itself. The report's process is the coordinator: it pinned the table versions and holds the
store's files lock and the report's lock for the whole run (``service.compute_from_store``), so
``compact`` cannot delete a file a worker is about to read. Workers read the tables and write
their part files themselves, at the paths in the task: every worker must see the data directory
at the same path as the coordinator (a shared volume or NFS). Only ``ShardOutcome``s, a few
numbers each, travel back; the coordinator reads the part files once every shard succeeded.

Failures end the report with one line, never a hang or a partial CSV:

- the scheduler cannot be reached within ``connect_timeout`` seconds;
- a shard raises on a worker: its buckets and the worker's message;
- a worker dies: Dask runs its shards again on the other workers, and gives a shard up
  (``KilledWorker``) once ``distributed.scheduler.allowed-failures`` (3 by default, the
  scheduler's setting) workers died running it;
- no worker is connected for ``no_workers_timeout`` seconds (the scheduler alone would wait for
  one forever);
- the connection to the scheduler is lost, or the scheduler stops answering for
  ``connect_timeout`` seconds;
- Ctrl-C or SIGTERM (a ``KeyboardInterrupt``) in the coordinator.

In every case the shards still to run are cancelled and the client is closed. A shard already
running on a worker runs to its end (Dask cannot stop a running task), but nobody reads its
part: the report's parts folder is removed, so it fails to write it.

Storage: every worker must see the data directory at the coordinator's path, on a file system
whose renames are atomic (a local disk when the workers run on the coordinator's machine, a
shared volume, NFS); the locks are taken by the coordinator only. Object storage (``s3://``) is
not supported: the tables, part files and locks are paths today. Nothing here rules it out: a
task carries its data directory and its part's location as strings, so URIs could take their
place, and the worker's check that it sees the data directory applies to paths only.

Only this module imports ``distributed``, and only ``service._dask_runner`` imports this module:
every other command starts without Dask.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import TYPE_CHECKING, Final
from uuid import uuid4

from storestatus import __version__, shard_tasks
from storestatus.config import DataDir
from storestatus.errors import StoreError
from storestatus.shard_tasks import ShardOutcome, ShardRunner, ShardTask

if TYPE_CHECKING:
    from distributed import Client, Future

CONNECT_TIMEOUT_ENV: Final = "STORESTATUS_DASK_CONNECT_TIMEOUT"
NO_WORKERS_TIMEOUT_ENV: Final = "STORESTATUS_DASK_NO_WORKERS_TIMEOUT"
# Reaching a scheduler takes milliseconds; 10 s rides out a busy scheduler or a slow network
# without leaving a mistyped address hanging for long.
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
# A restarted worker (a nanny's restart, a replaced machine) registers within seconds; a minute
# without any worker means nobody is coming.
DEFAULT_NO_WORKERS_TIMEOUT: Final = 60.0
# How often the coordinator looks at the cluster while shards run: a finished shard is seen at
# once whatever this is, so it only bounds how late the last worker's departure is noticed.
_POLL_SECONDS: Final = 1.0
_CLOSE_SECONDS: Final = 10.0


def dask_runner(
    scheduler: str,
    *,
    connect_timeout: float | None = None,
    no_workers_timeout: float | None = None,
) -> ShardRunner:
    """The runner of shard tasks on the Dask cluster whose scheduler is at ``scheduler``.

    Parameters
    ----------
    scheduler
        The scheduler's address, e.g. ``tcp://10.0.0.5:8786``.
    connect_timeout
        Seconds to reach the scheduler; default: ``$STORESTATUS_DASK_CONNECT_TIMEOUT``, else 10.
    no_workers_timeout
        Seconds the report waits while no worker is connected before it fails; default:
        ``$STORESTATUS_DASK_NO_WORKERS_TIMEOUT``, else 60.

    Returns
    -------
    ShardRunner
        Connects when called, runs the tasks, tells ``on_done`` of each as it finishes and
        returns the outcomes in task order; closes the client however it ends.

    Raises
    ------
    StoreError
        When the runner is called: see the module's docstring for each failure.
    """
    connect = _seconds(connect_timeout, CONNECT_TIMEOUT_ENV, DEFAULT_CONNECT_TIMEOUT)
    no_workers = _seconds(no_workers_timeout, NO_WORKERS_TIMEOUT_ENV, DEFAULT_NO_WORKERS_TIMEOUT)

    def run(
        tasks: Sequence[ShardTask], on_done: Callable[[ShardOutcome], None]
    ) -> list[ShardOutcome]:
        with _client(scheduler, connect) as client:
            return _run_tasks(
                client, scheduler, tasks, on_done, no_workers=no_workers, timeout=connect
            )

    return run


def _seconds(given: float | None, variable: str, default: float) -> float:
    """A timeout: as given, else from the environment variable, else the default."""
    if given is not None:
        return given
    text = os.environ.get(variable)
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise StoreError(f"{variable}={text!r} is not a number of seconds above 0")
    return value


@contextmanager
def _client(scheduler: str, timeout: float) -> Iterator[Client]:
    """A client of the scheduler, closed however the block ends."""
    from distributed import Client  # noqa: PLC0415

    try:
        # Not the default client: the coordinator's other work must not run on the cluster.
        client = Client(scheduler, timeout=timeout, set_as_default=False)
    # Whatever fails while shaking hands means this address cannot run the report: a refused
    # or timed-out connection (OSError), a malformed address (ValueError), or something that is
    # not a Dask scheduler answering (seen: a MemoryError decoding its reply as a frame).
    except Exception as error:
        reason = _one_line(error)
        raise StoreError(
            f"cannot reach the Dask scheduler at {scheduler}: {reason} "
            f"(is `dask scheduler` running there? {CONNECT_TIMEOUT_ENV} sets the wait)"
        ) from None
    try:
        with _quiet_client_logs():
            yield client
    finally:
        # The scheduler forgets a closed client's tasks; a dead scheduler must not hold us.
        with suppress(OSError, TimeoutError), _quiet_client_logs():
            client.close(timeout=_CLOSE_SECONDS)


@contextmanager
def _quiet_client_logs() -> Iterator[None]:
    """Silence the client's own log lines in the block: the report ends with a one-line reason,
    not with Dask's traceback of, say, its reconnection to a lost scheduler being cancelled.
    The scheduler's and workers' logs, where a cluster's problems are diagnosed, are untouched."""
    names = [
        "distributed",
        *(n for n in logging.root.manager.loggerDict if n.startswith("distributed.")),
    ]
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def _run_tasks(
    client: Client,
    scheduler: str,
    tasks: Sequence[ShardTask],
    on_done: Callable[[ShardOutcome], None],
    *,
    no_workers: float,
    timeout: float,
) -> list[ShardOutcome]:
    """Run the tasks on the cluster; the outcomes in task order (see ``dask_runner``)."""
    report = uuid4().hex[:12]  # keys unique on a scheduler shared by several reports
    futures: list[Future[ShardOutcome]] = client.map(
        _run_on_worker,
        tasks,
        key=[f"storestatus-shard-{task.buckets[0]}-{task.buckets[1]}-{report}" for task in tasks],
        pure=False,
        version=__version__,
    )
    # Finished futures come through a queue, not ``distributed.as_completed`` (which needs the
    # process's default client): the wait for the next one can then stop to look at the cluster.
    finished: SimpleQueue[Future[ShardOutcome]] = SimpleQueue()
    for future in futures:
        future.add_done_callback(finished.put)
    position = {future.key: index for index, future in enumerate(futures)}
    outcomes: dict[int, ShardOutcome] = {}
    alone_since: float | None = None  # since when the cluster has had no worker
    try:
        while len(outcomes) < len(tasks):
            try:
                future = finished.get(timeout=_POLL_SECONDS)
            except Empty:
                alone_since = _check_workers(client, scheduler, alone_since, no_workers, timeout)
                continue
            index = position[future.key]
            outcomes[index] = _outcome(future, tasks[index], scheduler)
            on_done(outcomes[index])
    except BaseException:  # a failed shard, Ctrl-C, SIGTERM: no shard runs on for nothing
        with suppress(OSError, TimeoutError):
            client.cancel(futures, reason="the report stopped")
        raise
    return [outcomes[index] for index in range(len(tasks))]


def _outcome(future: Future[ShardOutcome], task: ShardTask, scheduler: str) -> ShardOutcome:
    """The finished future's outcome, or a ``StoreError`` naming the shard and the reason."""
    from distributed import KilledWorker  # noqa: PLC0415

    shard = f"the shard of buckets {task.buckets[0]}-{task.buckets[1] - 1}"
    if future.status == "finished":
        return future.result()
    if future.status == "error":
        error = future.exception()
        if isinstance(error, KilledWorker):
            raise StoreError(
                f"{shard} was given up by Dask: {error.allowed_failures + 1} workers died "
                f"running it, the last {error.last_worker.address} (their logs say why; "
                "the scheduler's distributed.scheduler.allowed-failures sets the retries)"
            )
        raise StoreError(f"{shard} failed on a Dask worker: {_one_line(error)}")
    # Cancelled (or lost) by the client when it lost the scheduler, or by a restart of the
    # scheduler: the report's own cancellations happen only after it has stopped listening.
    raise StoreError(
        f"{shard} was {future.status}: the connection to the Dask scheduler at {scheduler} "
        "was lost, or the scheduler was restarted"
    )


def _check_workers(
    client: Client, scheduler: str, alone_since: float | None, no_workers: float, timeout: float
) -> float | None:
    """Fail once no worker has been connected for ``no_workers`` seconds; else when the
    cluster was first seen without one (None: it has workers)."""
    try:
        # ``callback_timeout`` (passed on to ``Client.sync``): a scheduler that stopped
        # answering must not hold the report either.
        workers = len(client.nthreads(callback_timeout=timeout))
    except (OSError, TimeoutError) as error:
        raise StoreError(
            f"the Dask scheduler at {scheduler} stopped answering: {_one_line(error)}"
        ) from None
    if workers:
        return None
    now = time.monotonic()
    if alone_since is None:
        return now
    if now - alone_since >= no_workers:
        raise StoreError(
            f"no Dask worker connected to {scheduler} for {no_workers:g} s: "
            f"start some with `dask worker {scheduler}` ({NO_WORKERS_TIMEOUT_ENV} sets the wait)"
        )
    return alone_since


def _run_on_worker(task: ShardTask, *, version: str) -> ShardOutcome:
    """``run_shard`` on a Dask worker, once the worker is known to be able to run it."""
    from distributed import get_worker  # noqa: PLC0415

    worker = get_worker().address
    if version != __version__:
        # Another release could compute other bytes: every machine runs the same code.
        raise StoreError(
            f"worker {worker} has storestatus {__version__}, the report's process {version}: "
            "install the same version everywhere"
        )
    if "://" not in task.data_dir and not DataDir(Path(task.data_dir)).exists():
        raise StoreError(
            f"worker {worker} does not see the data directory {task.data_dir}: every worker "
            "must see it at the same path as the report's process (a shared volume or NFS)"
        )
    # Looked up when called, not imported by name: one function runs a shard wherever it runs.
    outcome = shard_tasks.run_shard(task)
    return replace(outcome, host=worker)


def _one_line(error: BaseException) -> str:
    """The first line of an error's message, with its type when the message is bare."""
    text = str(error).strip().splitlines()
    if not text:
        return type(error).__name__
    first = text[0]
    return first if isinstance(error, StoreError | OSError) else f"{type(error).__name__}: {first}"
