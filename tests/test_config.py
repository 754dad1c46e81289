"""The process tuning that every command runs under."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from storestatus.config import short_lived_process


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_short_lived_process_collects_rarely_and_not_at_exit() -> None:
    gc.unfreeze()
    with short_lived_process():
        assert gc.get_threshold()[0] >= 100_000
        assert gc.get_freeze_count() == 0
    assert gc.get_freeze_count() > 0  # what is left is not scanned again at exit


@pytest.mark.usefixtures("restored_gc")
def test_short_lived_process_freezes_even_when_the_command_fails() -> None:
    gc.unfreeze()
    with pytest.raises(SystemExit), short_lived_process():
        raise SystemExit(1)
    assert gc.get_freeze_count() > 0


@pytest.mark.usefixtures("restored_gc")
def test_short_lived_process_never_creates_world_writable_files(tmp_path: Path) -> None:
    previous = os.umask(0o000)  # a user who lets everyone write...
    try:
        with short_lived_process():
            (tmp_path / "made").write_text("x")
            assert os.umask(0o002) == 0o002  # ...still gets nothing world-writable
    finally:
        os.umask(previous)
    assert (tmp_path / "made").stat().st_mode & 0o777 == 0o664
