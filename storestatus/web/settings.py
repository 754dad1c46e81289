"""What the operator of ``storestatus serve`` chose: plain values, no web stack imported."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from storestatus.config import DataDir

DEFAULT_MAX_BODY: Final = 64 * 1024  # bytes of any other request body (a trigger's JSON)
DEFAULT_LOCK_TIMEOUT: Final = 30.0  # seconds an upload's ingest waits for another writer


@dataclass(frozen=True)
class ServiceSettings:
    """How one server behaves; ``storestatus serve``'s options set the first four (see its
    ``--help`` for their defaults)."""

    data_dir: DataDir
    token: str | None  # None: no authentication (only allowed on a loopback address)
    max_upload_bytes: int  # of one ingest request
    max_running: int  # reports this server has started and that still run
    max_body_bytes: int = DEFAULT_MAX_BODY
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve to anything
        return False
