"""A Dask worker preload for ``test_cluster.py``: shards that say when they start, run slowly
or fail, as the files in a control folder say (read at each shard, so a test steers a running
cluster).

``dask worker --preload tests/worker_preload.py`` with ``STORESTATUS_TEST_CONTROL=DIR``:

- each shard touches ``DIR/started-<first bucket>-<pid>`` when it starts;
- ``DIR/delay`` holds the seconds each shard then sleeps (none: no sleep);
- ``DIR/fail-<first bucket>`` makes that shard raise a ``StoreError`` with the file's text.

``storestatus.cluster`` looks ``shard_tasks.run_shard`` up at each call, so replacing it in the
worker's module is enough. Dask may import a preload more than once (under a nanny: in the
nanny, then again in the worker): the original is kept as ``__wrapped__``, so that a second
import does not wrap the wrapper (each shard would then sleep twice, and so on).
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import Final

from storestatus import shard_tasks
from storestatus.errors import StoreError

CONTROL_ENV: Final = "STORESTATUS_TEST_CONTROL"

_run_shard: Final = getattr(shard_tasks.run_shard, "__wrapped__", shard_tasks.run_shard)


@functools.wraps(_run_shard)
def _controlled_run_shard(task: shard_tasks.ShardTask) -> shard_tasks.ShardOutcome:
    control = Path(os.environ[CONTROL_ENV])
    first = task.buckets[0]
    (control / f"started-{first}-{os.getpid()}").touch()
    delay = control / "delay"
    if delay.exists():
        time.sleep(float(delay.read_text()))
    fail = control / f"fail-{first}"
    if fail.exists():
        raise StoreError(fail.read_text())
    return _run_shard(task)


if os.environ.get(CONTROL_ENV):
    shard_tasks.run_shard = _controlled_run_shard
