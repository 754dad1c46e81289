"""What the operator of ``storestatus serve`` chose: plain values, no web stack imported."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Final

from storestatus.config import DataDir

DEFAULT_MAX_UPLOAD: Final = 2 * 1024**3  # bytes of one ingest request: a week of 100,000 stores
DEFAULT_MAX_BODY: Final = 64 * 1024  # bytes of any other request body (a trigger's JSON)
DEFAULT_MAX_RUNNING: Final = 4  # reports this server has started and that still run
DEFAULT_LOCK_TIMEOUT: Final = 30.0  # seconds an upload's ingest waits for another writer


@dataclass(frozen=True)
class ServiceSettings:
    """How one server behaves (see ``storestatus serve --help``)."""

    data_dir: DataDir
    token: str | None = None  # None: no authentication (only allowed on a loopback address)
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_running: int = DEFAULT_MAX_RUNNING
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name other than localhost: it may resolve to anything
        return False
