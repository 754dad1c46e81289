"""A real headless Chromium for the dashboard tests: Debian's ``chromium`` (CI installs it with
apt), driven by Playwright, so that a test can click, follow a redirect and take screenshots as
a person would. A missing Chromium is an error, not a skip (``STORESTATUS_CHROMIUM`` names
another binary)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.sync_api import Browser, sync_playwright

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def chromium_executable() -> str:
    """The browser to run: ``$STORESTATUS_CHROMIUM``, else the first of ``CANDIDATES`` on PATH."""
    override = os.environ.get("STORESTATUS_CHROMIUM")
    if override:
        found = shutil.which(override)
        if found is None:
            raise RuntimeError(f"STORESTATUS_CHROMIUM={override!r} is not an executable")
        return found
    for name in CANDIDATES:
        found = shutil.which(name)
        if found is not None:
            return found
    raise RuntimeError(
        f"no Chromium on PATH (looked for {', '.join(CANDIDATES)}): install Debian's `chromium` "
        "(.ci/run does) or set STORESTATUS_CHROMIUM to a Chromium or Chrome binary"
    )


@contextmanager
def headless_chromium() -> Iterator[Browser]:
    """The system's Chromium, headless, for the block (Playwright's own browsers are not used:
    they would be downloaded from the internet)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_executable(),
            args=[
                "--no-sandbox",  # the sandbox refuses to run as root (CI containers)
                "--disable-dev-shm-usage",  # a container's /dev/shm is often 64 MB
                "--disable-gpu",
                "--force-device-scale-factor=1",  # a CSS pixel is a screenshot pixel
            ],
        )
        try:
            yield browser
        finally:
            browser.close()
