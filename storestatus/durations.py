"""The one duration grammar of the options (``--max-future``, ``--max-gap``, ``--silent-for``).

Polars-free, so that a report's status record (which names its ``--max-gap``) can be read and
written by commands that must start fast.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

from storestatus.errors import InputError

MAX_DURATION: Final = timedelta(days=36_525)  # a century: longer is surely a typo
_DURATION_RE: Final = re.compile(
    r"(?:(?P<d>[0-9]+)d)?(?:(?P<h>[0-9]+)h)?(?:(?P<m>[0-9]+)m)?(?:(?P<s>[0-9]+)s)?"
)


def parse_duration(text: str) -> timedelta:
    """A duration given as an option: ``90m``, ``1h``, ``2h30m``, ``1d``, ``3600s``, ``0s``.

    Raises
    ------
    InputError
        Not of that form.
    """
    match = _DURATION_RE.fullmatch(text.strip().lower())
    if match is None or not any(match.groupdict().values()):
        raise InputError(f"cannot read duration {text!r}: use e.g. 90m, 1h, 2h30m or 1d")
    days, hours, minutes, seconds = (int(match[unit] or 0) for unit in "dhms")
    try:
        duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:
        duration = MAX_DURATION + timedelta(days=1)
    if duration > MAX_DURATION:  # also keeps `clock + duration` within datetime's range
        raise InputError(f"duration {text!r} is longer than {MAX_DURATION.days:,} days")
    return duration


def format_duration(duration: timedelta) -> str:
    """The canonical text of a duration, which ``parse_duration`` reads back: ``1d2h30m``."""
    seconds = int(duration.total_seconds())
    parts = []
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
