"""A writer session: how several Delta commits reach readers all at once, or not at all.

Delta commits each table atomically, but one ingest commits to several tables (and to the status
table once per batch). ``tables/manifest.json`` (see ``storestatus.manifest``) names the version
of each table that readers see; a reader pins those versions and nothing else. A writer session
is one writer's turn at the tables. It runs while its process holds ``write.lock``
(``Store.writing`` takes it), so there is one session at a time, and the kernel lets go of the
lock however the process dies. Step by step, with what is on disk at each moment:

1. ``WriterSession.begin`` reads the manifest. Its versions are the *published* ones. Without a
   manifest (a new store, or one from before manifests), the latest version of each table is. If
   the manifest still names a writer, that writer died in its session: its commits are rolled
   back first (step 5). Then the manifest is replaced with those versions (after a roll back, the
   restored ones) and this session's mark, ``"writer": "pid 1234"``. Readers see no change.
2. Each write is one Delta commit: new Parquet files, then the commit's JSON in ``_delta_log``,
   which makes the table's version one higher. ``record_commit`` notes it in ``committed``.
   Readers still pin the published versions, so they do not see it. ``publish_progress``
   (``compact`` calls it before it deletes files) publishes the commits so far and keeps the
   mark: a failure from then on rolls back to them.
3. ``publish``, when the session's block ends: the manifest is replaced with the committed
   versions and no mark, in one atomic, durable rename (``storestatus.durable``). Readers that
   open a snapshot from then on see every commit of the session; before it, none. The block's
   last commit is ``Store.writing``'s update of the stores table, so that table is published,
   or rolled back, with the polls it counts.
4. ``abort``, when the block fails or is interrupted (Ctrl-C, SIGTERM): the session is rolled
   back (step 5) and the manifest replaced with the restored versions and no mark. If even that
   fails, the mark stays, and the next session's ``begin`` rolls back instead.
5. Rolling back brings each table to its published content: Delta ``restore`` (itself a new
   commit, so the version number moves on while the content is the published one's), and a
   table the session created is removed. Then the data files that no version up to the
   published one refers to are deleted: written by the commits just undone, or by a write cut
   short before its commit. No reader has them, as readers pin published versions. Files of
   older versions stay, as a report may still read them (``compact`` deletes those while no
   report reads).

Publishing and rolling back hold off Ctrl-C and SIGTERM (``_interrupts_held_off``). A writer
killed outright (SIGKILL, a power cut) leaves, depending on the moment: nothing new (before
step 1 writes the manifest); the manifest with a mark, the commits since the published versions
and maybe the Parquet files of a write it did not commit (from step 1 until step 3's rename, or
in step 4), all of which the next writer's step 5 undoes; or a temporary
``.manifest.json.*.tmp`` of a replacement it did not finish, which ``compact`` deletes. The old
manifest or the new one is in place at every moment, never a part of either. So readers always
see the store as it was before a session or after it, never in between.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlparse

from storestatus.config import DataDir
from storestatus.errors import StoreError, StoreStatusError
from storestatus.manifest import Manifest, read_manifest, write_manifest
from storestatus.tables import DELTA_ERRORS, TABLES, open_table, store_errors, table_version

Versions = dict[str, int | None]  # a version per table; None: the table does not exist


class WriterSession:
    """One writer's turn at the tables of a data directory (see the module docstring).

    Use it as a context manager around the session's writes: it publishes them when the block
    ends and rolls them back if the block raises. The caller holds ``write.lock`` throughout.

    Examples
    --------
    >>> with writer_lock(data_dir.write_lock), WriterSession.begin(data_dir) as session:
    ...     write_deltalake(data_dir.tables / "status", polls, mode="append")
    ...     session.record_commit("status")
    """

    def __init__(self, data_dir: DataDir, published: Versions) -> None:
        self.data_dir = data_dir
        self.token = f"pid {os.getpid()}"  # the mark in the manifest while the session runs
        self.published: Versions = dict(published)  # what readers see; a failure goes back here
        self.committed: Versions = dict(published)  # each table's version after our commits

    @classmethod
    def begin(cls, data_dir: DataDir) -> WriterSession:
        """Start a session (step 1): undo a dead writer's, if any, then mark the manifest.

        Raises
        ------
        StoreError
            The manifest or a table cannot be read or written, or a dead writer's session
            cannot be rolled back.
        """
        manifest = read_manifest(data_dir.manifest)
        if manifest is None:  # a new store, or one from before manifests: it is as it is
            versions = {name: table_version(data_dir.tables, name) for name in TABLES}
        elif manifest.writer is not None:  # its writer died mid-way: undo what it committed
            versions = _roll_back(data_dir.tables, manifest.versions)
        else:
            versions = manifest.versions
        session = cls(data_dir, versions)
        write_manifest(data_dir.manifest, Manifest(dict(versions), writer=session.token))
        return session

    def record_commit(self, name: str) -> int | None:
        """Note a commit of the session to table ``name`` (step 2); return its new version."""
        version = table_version(self.data_dir.tables, name)
        self.committed[name] = version
        return version

    def publish_progress(self) -> None:
        """Publish the commits so far, keeping the mark: a failure from now on rolls back to
        them, not to the versions at the start."""
        self.published = dict(self.committed)
        write_manifest(self.data_dir.manifest, Manifest(dict(self.committed), self.token))

    def publish(self) -> None:
        """Show readers every commit of the session at once (step 3) and clear the mark."""
        write_manifest(self.data_dir.manifest, Manifest(dict(self.committed)))

    def abort(self) -> None:
        """Roll the session back (steps 4 and 5); if even that fails, leave it to the next
        session, which finds the mark."""
        try:
            versions = _roll_back(self.data_dir.tables, self.published)
            write_manifest(self.data_dir.manifest, Manifest(versions))
        except StoreStatusError:
            pass  # the manifest still names the writer: the next session rolls back

    def __enter__(self) -> WriterSession:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Publish if the block ended, roll back if it raised (and let the error go on)."""
        with _interrupts_held_off():
            if kind is None:
                self.publish()
            else:
                self.abort()


def _roll_back(folder: Path, versions: Versions) -> Versions:
    """Bring every table in ``folder`` back to the content of ``versions`` and delete the data
    files written since (step 5); return the versions now."""
    restored: Versions = {}
    for name in TABLES:
        target, table = versions.get(name), open_table(folder, name)
        with store_errors(
            f"cannot roll back table {name} in {folder}", catching=(*DELTA_ERRORS, ValueError)
        ):
            if target is None:
                if table is not None:  # created by the session being undone
                    shutil.rmtree(folder / name)
            elif table is None:
                raise StoreError(f"table {name} is missing from {folder}")
            else:
                if table.version() != target:
                    table.restore(target)
                _delete_unpublished_files(folder, name, target)
        restored[name] = None if target is None else table_version(folder, name)
    return restored


def _delete_unpublished_files(folder: Path, name: str, version: int) -> None:
    """Delete the data files of table ``name`` that no version up to ``version`` refers to.

    They were written after it, by the commits just rolled back or by writes cut short before
    their commit, so no reader has them: readers pin published versions, which are ``version``
    or older. The files of older versions stay, as a report may still be reading them
    (``compact`` deletes those once no report reads).
    """
    path = folder / name
    published = open_table(folder, name, version)
    if published is None:
        return
    paths = published.get_add_actions().column("path").to_pylist()
    current = [_relative(str(file)) for file in paths]
    referenced = set(current)
    for commit in (path / "_delta_log").glob("*.json"):
        if commit.stem.isdigit() and int(commit.stem) <= version:
            referenced.update(_added_files(commit))
    kept = {file for file in referenced if file is not None}
    if len(kept) < len(referenced):
        return  # a file outside the table's folder: do not guess which files are whose
    on_disk: dict[str, Path] = {}
    for directory, subfolders, files in os.walk(path):
        subfolders[:] = [sub for sub in subfolders if sub != "_delta_log"]
        for file in files:
            full = Path(directory, file)
            on_disk[full.relative_to(path).as_posix()] = full
    if not all(file in on_disk for file in current):
        return  # the published files do not have the names we expect: delete nothing
    for relative, full in on_disk.items():
        if relative not in kept:
            full.unlink(missing_ok=True)
            with suppress(OSError):  # its partition's folder, unless other files remain
                if full.parent != path:
                    full.parent.rmdir()


def _relative(location: str) -> str | None:
    """A data file's path as a commit names it, relative to its table's folder; None if it is
    absolute (Delta allows that; we never write one)."""
    if urlparse(location).scheme or location.startswith("/"):
        return None
    return unquote(location)


def _added_files(commit: Path) -> Iterator[str | None]:
    """The data files a Delta commit adds (its ``add`` actions; see ``_relative``)."""
    with commit.open(encoding="utf-8") as actions:
        for line in actions:
            if '"add"' in line:
                add = json.loads(line).get("add")
                if isinstance(add, dict):
                    yield _relative(str(add["path"]))


@contextmanager
def _interrupts_held_off() -> Iterator[None]:
    """Ignore Ctrl-C and SIGTERM while a writer session is rolled back or published.

    Both take moments. A second Ctrl-C (people press it twice) would otherwise cut a roll back
    short, leaving it to the next writer, or leave unclear whether the session was published;
    the command ends right after anyway. Only the main thread can set signal handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    held = {signum: handler for signum, handler in handlers.items() if handler is not None}
    for signum in held:
        signal.signal(signum, signal.SIG_IGN)
    try:
        yield
    finally:
        for signum, handler in held.items():
            signal.signal(signum, handler)
