"""The store's published state: which version of each table readers see, and whether a writer
was interrupted.

Delta commits each table atomically, but one ingest may commit to several tables. Readers therefore
pin the versions named here, and a writer names its new versions only when all its commits are
done, in one atomic file replace. A writer that dies leaves its mark (``writer``), so the next one
rolls the tables back to the published versions first: the store is always at the state before
an ingest or after it, never in between. ``storestatus.session`` runs that protocol step by step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from storestatus.durable import write_atomically
from storestatus.errors import StoreError


@dataclass(frozen=True)
class Manifest:
    """Published table versions (None: no such table) and the writer at work, if any."""

    versions: dict[str, int | None]
    writer: str | None = None  # set from the start to the end of a writer session


def read_manifest(path: Path) -> Manifest | None:
    """The manifest at ``path``; None if there is none yet (a new or an older store)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        versions = {str(name): _version(value) for name, value in data["versions"].items()}
        writer = data.get("writer")
        return Manifest(versions, None if writer is None else str(writer))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise StoreError(f"cannot read the store's manifest {path}: {error}") from error


def _version(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"not a table version: {value!r}")


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Replace the manifest atomically and durably: readers see the old one or the new one."""
    text = json.dumps({"versions": manifest.versions, "writer": manifest.writer}, indent=2)
    try:
        write_atomically(path, (text + "\n").encode())
    except OSError as error:
        raise StoreError(f"cannot write the store's manifest {path}: {error}") from error
