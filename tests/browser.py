"""A real headless Chromium, driven from its command line, for tests of what a browser shows.

One Chromium process per call, with a fresh profile, killed with all its children at the
timeout: a test fails with Chromium's own words instead of hanging. A missing Chromium is an
error, not a skip (CI installs Debian's ``chromium``; ``STORESTATUS_CHROMIUM`` names another).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome")

# Chromium exits 0 when a page does not load. 156 logs "Page load failed: net::ERR_..." and dumps
# nothing; 150 dumped its own error page (body.neterror, with the code in its JSON).
_ERROR_PAGE = re.compile(r'id="main-frame-error"|class="neterror"')
_NET_ERROR = re.compile(r'Page load failed: net::(\w+)|"errorCode":"(\w+)"')


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


def _run(url: str, flags: list[str], *, width: int, height: int, timeout: float) -> str:
    """Load ``url`` once with ``flags`` added; return the DOM after load (always dumped, to
    recognise Chromium's error page). A failure raises AssertionError with stderr's tail."""
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as profile:
        argv = [
            chromium_executable(),
            "--headless",  # the new headless mode: the real browser, without a display
            "--no-sandbox",  # the sandbox refuses to run as root (CI containers)
            "--disable-gpu",  # no GPU in a container: software rendering from the start
            "--disable-dev-shm-usage",  # a container's /dev/shm is often 64 MB: use /tmp
            f"--user-data-dir={profile}",  # fresh profile; tests never share one
            "--no-first-run",
            "--disable-extensions",  # Debian's wrapper loads /usr/share/chromium/extensions
            "--disable-background-networking",  # no update or safe-browsing fetches in CI
            "--hide-scrollbars",
            "--force-device-scale-factor=1",  # a CSS pixel is a PNG pixel, on any host
            f"--window-size={width},{height}",
            *flags,
            "--dump-dom",
            url,
        ]
        # A session of its own, so that a timeout kills the renderers and the wrapper script too.
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            dom, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            try:
                stderr = proc.communicate(timeout=10)[1]
            except subprocess.TimeoutExpired:  # a child left the session and holds the pipes
                stderr = ""
            raise AssertionError(
                f"Chromium did not finish {url} in {timeout} s{_tail(stderr)}"
            ) from None
    if proc.returncode != 0:
        raise AssertionError(f"Chromium exited {proc.returncode} on {url}{_tail(stderr)}")
    error = _NET_ERROR.search(stderr) or _NET_ERROR.search(dom)
    if error or not dom.strip() or _ERROR_PAGE.search(dom):
        code = (error[1] or error[2]) if error else "no DOM, or its error page"
        raise AssertionError(f"Chromium could not load {url}: {code}{_tail(stderr)}")
    return dom


def _tail(stderr: str, lines: int = 15) -> str:
    """The last lines of Chromium's stderr, without the D-Bus noise of a container."""
    kept = [line for line in stderr.splitlines() if "dbus" not in line]
    return "\n--- chromium stderr (tail) ---\n" + "\n".join(kept[-lines:]) if kept else ""


def dump_dom(url: str, *, width: int = 1280, height: int = 900, timeout: float = 60) -> str:
    """The page's DOM, serialized after its load event (scripts have run, unlike a plain GET)."""
    return _run(url, [], width=width, height=height, timeout=timeout)


def screenshot(url: str, path: Path, *, width: int, height: int, timeout: float = 60) -> Path:
    """A PNG of the ``width`` x ``height`` viewport at ``path``, checked to be exactly that size."""
    path.unlink(missing_ok=True)  # an old file must not pass for this one
    _run(url, [f"--screenshot={path.resolve()}"], width=width, height=height, timeout=timeout)
    assert path.is_file(), f"Chromium wrote no screenshot at {path}"
    assert png_size(path) == (width, height), f"{path}: {png_size(path)} != {(width, height)}"
    return path


def png_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` from the PNG's IHDR chunk, which the format puts first."""
    with path.open("rb") as f:
        head = f.read(24)
    assert len(head) == 24, f"{path}: {len(head)} bytes, too short for a PNG"
    signature, _, chunk, width, height = struct.unpack(">8sI4sII", head)
    assert signature == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert chunk == b"IHDR", f"{path}: first chunk is {chunk!r}, not IHDR"
    return width, height
