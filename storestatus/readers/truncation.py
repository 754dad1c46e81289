"""Whether a file was cut off mid-write: its last record then has too few fields and no line end.

A copy or upload that stops part-way leaves a file whose last record is short. Polars would read
it as a row with empty fields (``truncate_ragged_lines``), so the readers ask here first, from
the file's tail alone, and reject that record with ``record-cut-off`` instead of storing it. A
complete last line that merely lacks its line end stays a row.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from storestatus.errors import InputError
from storestatus.readers.rules import RECORD_CUT_OFF

_TAIL_BYTES: Final = 1 << 16  # read from a file's end at first; doubled until a record starts


def _cut_off(data: bytes | Path, width: int, kind: str) -> str | None:
    """Why the file's last record is rejected, if it has fewer fields than the header's
    ``width`` and no line end: a file cut off mid-write, which would otherwise give a short row.

    A complete last line without a line end stays a row. A cut inside the last field cannot be
    told from that; the field's own rules judge it.
    """
    try:
        record = _last_record(data)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InputError(
            f"{kind} file: cannot read {str(data)!r} ({reason}); check the path and permissions"
        ) from exc
    if record is None:
        return None
    fields = 1 + sum(part.count(b",") for part in record.split(b'"')[::2])  # outside quotes
    if fields >= width:
        return None
    return RECORD_CUT_OFF.text(fields=fields, width=width)


def _last_record(data: bytes | Path) -> bytes | None:
    """The file's last record if the file does not end with a line end, else None.

    Only the tail is read, so this costs nothing next to parsing. The record starts after the
    last line end outside quotes: the first one, from the end, followed by an even number of
    quotes (a quoted field may hold line ends; an escaped quote is two). None too if the only
    line is the header.
    """
    for tail, whole in _tails(data):
        if not tail or tail.endswith((b"\n", b"\r")):
            return None
        end, quotes = len(tail), 0
        while (newline := tail.rfind(b"\n", 0, end)) >= 0:
            quotes += tail.count(b'"', newline + 1, end)
            if quotes % 2 == 0:
                return tail[newline + 1 :]
            end = newline
        if whole:
            return None
    return None


def _tails(data: bytes | Path) -> Iterator[tuple[bytes, bool]]:
    """Ever longer tails of a file, and whether each is the whole file (the last one is)."""
    if isinstance(data, bytes):
        yield data, True
        return
    with data.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        length = _TAIL_BYTES
        while True:
            start = max(0, size - length)
            handle.seek(start)
            yield handle.read(size - start), start == 0
            if start == 0:
                return
            length *= 2
