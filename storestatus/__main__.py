"""Allow ``python -m storestatus``."""

from __future__ import annotations

from storestatus.cli import main

main()
