"""The headless Chromium harness (``browser``) against a tiny page served from a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from browser import dump_dom, png_size, screenshot

HEADING = "Store uptime at a glance"
SVG_TITLE = "Uptime by hour"
PAGE = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>harness</title></head>
<body>
  <h1>{HEADING}</h1>
  <svg xmlns="http://www.w3.org/2000/svg" width="240" height="60" role="img">
    <title>{SVG_TITLE}</title>
    <rect x="0" y="10" width="180" height="40" fill="#2a7"/>
  </svg>
</body></html>
""".encode()


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep pytest's output clean


@pytest.fixture(scope="module")
def page_url() -> Iterator[str]:
    """The page's URL on 127.0.0.1, served by a thread for the whole module."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_dump_dom_is_the_page_after_load(page_url: str) -> None:
    dom = dump_dom(page_url)
    assert f"<h1>{HEADING}</h1>" in dom
    assert f"<title>{SVG_TITLE}</title>" in dom


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (400, 900)])
def test_screenshot_is_exactly_the_viewport(
    page_url: str, tmp_path: Path, width: int, height: int
) -> None:
    path = screenshot(page_url, tmp_path / f"page-{width}.png", width=width, height=height)
    assert path == tmp_path / f"page-{width}.png"
    assert png_size(path) == (width, height)


def test_a_closed_port_fails_at_once() -> None:
    with socket.socket() as bound:  # bound, never listening: the kernel refuses connections
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}/"
        started = time.monotonic()
        with pytest.raises(AssertionError, match="ERR_CONNECTION_REFUSED"):
            dump_dom(url, timeout=15)
    assert time.monotonic() - started < 10


def test_a_page_that_never_answers_is_killed_at_the_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        started = time.monotonic()
        with pytest.raises(AssertionError, match="did not finish"):
            screenshot(url, tmp_path / "never.png", width=400, height=300, timeout=3)
    assert time.monotonic() - started < 10
