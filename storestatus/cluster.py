"""Shards of a report as tasks on a Dask distributed cluster (issue #11; the ``[dask]`` extra).

Placeholder: the runner is being written.
"""

from __future__ import annotations

from storestatus.errors import StoreError
from storestatus.shard_tasks import ShardRunner


def dask_runner(scheduler: str) -> ShardRunner:
    """The runner of shard tasks on the cluster whose scheduler is at ``scheduler``."""
    raise StoreError(f"running shards on {scheduler} is not built yet")
