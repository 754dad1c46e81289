"""The files of a ``POST /ingest`` request, streamed to disk as they arrive.

The multipart body is parsed by ``python-multipart`` chunk by chunk, each file written to a new
private folder under the data directory (on the same disk as the tables, not a small ``/tmp``),
never held whole in memory. A file's name on disk is ours (``status-1``, ``hours``...): the name
the client gave is kept only as text for the summary, never used as a path. The body's size is
capped by ``guards.BodyLimit`` before it reaches this module.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Final

from python_multipart import MultipartParser
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import parse_options_header

from storestatus.config import UPLOAD_LOCK, DataDir
from storestatus.errors import InputError, StoreError
from storestatus.locks import file_lock
from storestatus.vocabulary import InputKind

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

KINDS: Final[tuple[InputKind, ...]] = ("status", "hours", "timezones")
MAX_FILES: Final = 64  # status files in one request (the CLI takes any number; a form, this many)
_MAX_HEADERS: Final = 8  # headers of one part: a browser sends two or three
_MAX_HEADER_BYTES: Final = 4096


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its part's name, the client's file name (text only), where it is."""

    kind: InputKind
    client_name: str
    path: Path


@dataclass
class Uploads:
    """The files of one request, in the order they came."""

    files: list[Upload] = field(default_factory=list)

    def of(self, kind: InputKind) -> list[Path]:
        return [upload.path for upload in self.files if upload.kind == kind]

    def single(self, kind: InputKind) -> Path | None:
        """The one file of a snapshot kind (hours, time zones); two are a mistake."""
        paths = self.of(kind)
        if len(paths) > 1:
            raise InputError(f"{len(paths)} {kind} files uploaded: a snapshot is one file")
        return paths[0] if paths else None


@contextmanager
def upload_folder(data_dir: DataDir) -> Iterator[Path]:
    """A new private folder for one request's files, locked, and removed with them when the
    block ends (``compact`` removes those a killed server left: their lock is free)."""
    try:
        data_dir.uploads.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(dir=data_dir.uploads, prefix="upload-"))
    except OSError as error:
        raise StoreError(f"cannot store the upload in {data_dir.uploads}: {error}") from error
    try:
        with file_lock(folder / UPLOAD_LOCK):
            yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def receive_files(content_type: str, chunks: AsyncIterator[bytes], folder: Path) -> Uploads:
    """Parse a ``multipart/form-data`` body into files under ``folder``, a part at a time.

    Every part must be a file named ``status``, ``hours`` or ``timezones``; anything else stops
    the parse at once (an unexpected part is never buffered, whatever its size).

    Raises
    ------
    InputError
        Not a multipart body, a part that is not one of our files, too many files.
    StoreError
        The folder cannot be written (e.g. the disk is full).
    """
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise InputError(
            "send the files as multipart/form-data, with parts named status, hours or timezones"
        )
    receiver = _PartReceiver(folder)
    parser = MultipartParser(boundary, receiver.callbacks())
    try:
        async for chunk in chunks:
            parser.write(chunk)
        parser.finalize()
    except MultipartParseError as error:
        raise InputError(f"the upload is not a valid multipart body: {error}") from None
    except OSError as error:
        raise StoreError(f"cannot store the upload in {folder}: {error}") from error
    finally:
        receiver.close()
    if not receiver.uploads.files:
        raise InputError("no file uploaded: send parts named status, hours and/or timezones")
    return receiver.uploads


class _PartReceiver:
    """Callbacks of ``python_multipart.MultipartParser``: each part's headers name it, its data
    goes straight to its file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.uploads = Uploads()
        self._headers: dict[bytes, bytes] = {}
        self._field = bytearray()
        self._value = bytearray()
        self._file: BinaryIO | None = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._data,
            "on_part_end": self.close,
        }

    def _begin(self) -> None:
        self._headers = {}

    def _header_end(self) -> None:
        if len(self._headers) >= _MAX_HEADERS or len(self._value) > _MAX_HEADER_BYTES:
            raise InputError("a part of the upload has too many or too long headers")
        self._headers[bytes(self._field).lower()] = bytes(self._value)
        self._field.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode(errors="replace")
        if disposition != b"form-data" or name not in KINDS:
            raise InputError(f"unknown part {name!r}: parts are named status, hours or timezones")
        if b"filename" not in options:
            raise InputError(f"part {name!r} is not a file: send it as a file upload")
        if len(self.uploads.files) >= MAX_FILES:
            raise InputError(f"more than {MAX_FILES} files in one request")
        count = 1 + sum(1 for upload in self.uploads.files if upload.kind == name)
        path = self.folder / f"{name}-{count}.csv"  # our name: the client's is only text
        client = options[b"filename"].decode(errors="replace")
        self.uploads.files.append(Upload(name, client, path))
        self._file = path.open("xb")

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._file is not None:
            self._file.write(data[start:end])

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
