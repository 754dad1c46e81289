"""Fixtures that point every test at its own data directory under ``tmp_path``.

The helpers themselves are plain modules beside the tests, imported like ``reference``:
``builders`` (input frames from tuples) and ``runners`` (running ``storestatus`` in this process
or as a real process). Tests that take long carry ``@pytest.mark.slow``: ``pytest -m "not slow"``
is the quick loop, plain ``pytest`` (as CI) runs everything.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import runners

from storestatus.config import DataDir
from storestatus.store import Store


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The test's data directory; it does not exist until a command or the store writes it."""
    return tmp_path / "data"


@pytest.fixture
def invoke(data_dir: Path) -> runners.Invoke:
    """``runners.invoke`` on the test's ``data_dir``: ``invoke("get-report", report_id)``."""
    return functools.partial(runners.invoke, data_dir)


@pytest.fixture
def store(data_dir: Path) -> Store:
    """A store in the test's ``data_dir``, for tests that write and read through the API."""
    return Store(DataDir(data_dir))
