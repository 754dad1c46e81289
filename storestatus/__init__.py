"""storestatus: exact business-hours uptime/downtime reports from store status polls."""

from __future__ import annotations

__version__ = "1.0.0"
