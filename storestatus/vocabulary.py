"""The project's words, and the Polars-free types named after them (issue #10).

Any module can import this at no cost (no Polars, no Delta), so the CLI can name the choices
before it knows whether a command needs the heavy machinery.

One word per concept, in the README, the code and new table names (the on-disk table names of
older releases stay as they are):

- **store**: a restaurant, named by its ``store_id``. (The *data directory* is where polls are
  kept; ``storestatus.store.Store`` is its Python face.)
- **poll**: one observation of a store's online ordering at a UTC instant, ``active`` or
  ``inactive`` (its *status*). A *status file* is a CSV of polls.
- **business hours**: a store's weekly opening hours in local time; an *hours file* holds them.
- **time zone**: a store's IANA zone; a *time-zone file* holds them.
- **report**: uptime and downtime of every store in its business hours over the last hour, day
  and week before ``now``, computed from the polls with an **interpolation** rule.
"""

from __future__ import annotations

from typing import Literal

Interpolation = Literal["nearest", "previous"]
"""How an instant between polls takes a status: from the nearest poll, or the latest before it."""

ReportState = Literal["Running", "Complete", "Failed"]
"""Where a triggered report is: ``get-report`` prints it."""

InputKind = Literal["status", "hours", "timezones"]
"""The three input files, as ``ingest`` names them (``--status``, ``--hours``, ``--timezones``)."""

OutputFormat = Literal["table", "csv", "json"]
"""How a listing is printed (``stores --format``)."""
