"""Directories of blobs, read and written as :mod:`.tarstream` reads and writes tar
archives, so a layout's code serves ``oci:`` and ``oci-archive:`` (and ``dir:``) alike.

:class:`DirFiles` reads the files of a directory by their names inside it;
:class:`DirWriter` writes each through a temporary file renamed into place, and, if
it is closed before :meth:`DirWriter.commit`, removes the files it added.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from typing import BinaryIO

from pypod_core.errors import ImageFormatError, ImageStoreError

_CHUNK = 1 << 20


def _inside(root: str, name: str) -> str:
    """``root/name``, refusing a name that leaves ``root`` (names come from
    documents in the layout: ``blobs/sha256/<hex>``)."""
    parts = name.split("/")
    if name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ImageFormatError(f"{root}: invalid member name {name!r}")
    return os.path.join(root, *parts)


class DirFiles:
    """The files of the directory ``root``, read by name."""

    def __init__(self, root: str, what: str):
        self.path = root
        self.what = what

    def has(self, name: str) -> bool:
        """Whether ``name`` is a regular file of the directory."""
        return os.path.isfile(_inside(self.path, name))

    def size(self, name: str) -> int:
        """The size of the file ``name``."""
        try:
            return os.path.getsize(_inside(self.path, name))
        except OSError:
            raise ImageFormatError(f"{self.what} {self.path}: no {name}") from None

    def open(self, name: str) -> BinaryIO:
        """The file ``name``, open for reading."""
        try:
            return open(_inside(self.path, name), "rb")
        except OSError:
            raise ImageFormatError(f"{self.what} {self.path}: no {name}") from None

    def read(self, name: str, limit: int = 4 << 20) -> bytes:
        """The bytes of the small file ``name``; ImageFormatError if larger than
        ``limit``."""
        if self.size(name) > limit:
            raise ImageFormatError(f"{self.what} {self.path}: {name} is larger than "
                                   f"{limit} bytes")
        with self.open(name) as f:
            return f.read()


class DirWriter:
    """Files being written into the directory ``root`` (made if missing)."""

    def __init__(self, root: str, what: str):
        self.path = root
        self.what = what
        self.added: list[str] = []
        self._committed = False
        try:
            os.makedirs(root, exist_ok=True)
        except OSError as exc:
            raise ImageStoreError(f"{what} {root}: {exc.strerror or exc}") from None

    def has(self, name: str) -> bool:
        """Whether the directory has the file ``name`` (written now or before)."""
        return os.path.isfile(_inside(self.path, name))

    def add(self, name: str, stream: BinaryIO,
            progress: Callable[[int], None] | None = None) -> int:
        """Write the file ``name`` with what ``stream`` reads to its end; its size."""
        path = _inside(self.path, name)
        tmp = f"{path}.{os.getpid()}.tmp"
        size = 0
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(tmp, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    out.write(chunk)
                    size += len(chunk)
                    if progress is not None:
                        progress(size)
            existed = os.path.exists(path)
            os.replace(tmp, path)
        except OSError as exc:
            raise ImageStoreError(f"{self.what} {self.path}: writing {name}: "
                                  f"{exc.strerror or exc}") from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        if not existed:
            self.added.append(path)
        return size

    def add_bytes(self, name: str, data: bytes) -> None:
        """Write the file ``name`` holding ``data``."""
        self.add(name, io.BytesIO(data))

    def commit(self) -> None:
        """Keep what was written."""
        self._committed = True

    def close(self) -> None:
        """Remove the files added, unless committed."""
        if not self._committed:
            for path in reversed(self.added):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            self.added.clear()
