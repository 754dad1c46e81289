"""Entry point of the detached process that computes one report (started by trigger-report)."""

from __future__ import annotations

import sys
from pathlib import Path

from storestatus.config import DataDir, short_lived_process
from storestatus.reports import run_report


def main(argv: list[str]) -> int:
    """``python -m storestatus.worker DATA_DIR REPORT_ID``; the report's lock is inherited."""
    data_dir, report_id = argv
    with short_lived_process():
        record = run_report(DataDir(Path(data_dir)), report_id)
    return 0 if record.state == "Complete" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
