"""Tar archives of blobs, read in place and written in one pass, on the standard library.

:class:`TarIndex` reads an archive's headers once (tarfile seeks over the data) and
then hands out each member as a stream of its own file handle, so several threads read
blobs at once; a member whose data ends past the end of the file (a truncated archive)
or a file that is not a tar is one ImageFormatError at opening, before any blob is
read.  :class:`TarWriter` writes members from streams whose size is not known before
(a layer decompressed on the way): a header with size 0, the data, then the header
again with the size, into a temporary file beside the target that :meth:`commit`
renames over it; an uncommitted writer removes it.  Nothing is extracted: the members
are blobs and small JSON documents.
"""

from __future__ import annotations

import contextlib
import io
import os
import posixpath
import tarfile
import threading
from collections.abc import Callable
from typing import BinaryIO

from pypod_core.errors import ImageFormatError, ImageStoreError

_BLOCK = 512
_CHUNK = 1 << 20


class TruncatedArchiveError(ImageFormatError):
    """A tar archive that ends early: a member's data or a header cut off."""


class TarIndex:
    """The members of the tar file ``path``: name -> (data offset, size)."""

    def __init__(self, path: str, what: str):
        self.path = path
        self.what = what
        self.members: dict[str, tuple[int, int]] = {}
        try:
            end = os.path.getsize(path)
            links: dict[str, str] = {}
            with tarfile.open(path, "r:") as tar:
                for member in tar:
                    name = _clean(member.name)
                    if member.issym() or member.islnk():
                        base = posixpath.dirname(name) if member.issym() else ""
                        links[name] = _clean(posixpath.join(base, member.linkname))
                    elif member.isreg():
                        if member.offset_data + member.size > end:
                            raise TruncatedArchiveError(
                                f"{what} {path}: truncated archive (member {name} ends "
                                f"past the end of the file)")
                        self.members[name] = (member.offset_data, member.size)
        except FileNotFoundError:
            raise ImageFormatError(f"{what} {path}: no such file") from None
        except IsADirectoryError:
            raise ImageFormatError(f"{what} {path}: a directory, not an archive") from None
        except (tarfile.TarError, EOFError) as exc:
            if "unexpected end" in str(exc):
                raise TruncatedArchiveError(f"{what} {path}: truncated archive "
                                            f"({exc})") from None
            raise ImageFormatError(f"{what} {path}: not a readable tar archive "
                                   f"({exc})") from None
        except OSError as exc:
            raise ImageFormatError(f"{what} {path}: {exc.strerror or exc}") from None
        for name, target in links.items():  # docker's legacy <id>/layer.tar links
            if target in self.members:
                self.members[name] = self.members[target]

    def has(self, name: str) -> bool:
        """Whether the archive has the regular file ``name``."""
        return _clean(name) in self.members

    def size(self, name: str) -> int:
        """The size of member ``name`` (ImageFormatError if there is none)."""
        return self._member(name)[1]

    def open(self, name: str) -> BinaryIO:
        """A stream of member ``name``'s bytes, on a file handle of its own."""
        offset, size = self._member(name)
        f = open(self.path, "rb")
        f.seek(offset)
        return _Bounded(f, size)  # type: ignore[return-value]

    def read(self, name: str, limit: int = 4 << 20) -> bytes:
        """The bytes of the small member ``name`` (a JSON document); ImageFormatError
        if it is larger than ``limit``."""
        if self.size(name) > limit:
            raise ImageFormatError(f"{self.what} {self.path}: {name} is larger than "
                                   f"{limit} bytes")
        with self.open(name) as stream:
            return stream.read()

    def _member(self, name: str) -> tuple[int, int]:
        try:
            return self.members[_clean(name)]
        except KeyError:
            raise ImageFormatError(f"{self.what} {self.path}: no {name} in the "
                                   "archive") from None


def _clean(name: str) -> str:
    return posixpath.normpath(name.lstrip("/")).removeprefix("./")


class _Bounded(io.RawIOBase):
    """``size`` bytes of an open file from where it stands."""

    def __init__(self, f: BinaryIO, size: int):
        self._f = f
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        n = self._f.readinto(view)  # type: ignore[attr-defined]
        self._left -= n
        return n

    def close(self) -> None:
        if not self.closed:
            self._f.close()
        super().close()


class TarWriter:
    """A tar archive being written to ``path`` (through a temporary file beside it)."""

    def __init__(self, path: str, what: str):
        self.path = path
        self.what = what
        self.tmp = os.path.join(os.path.dirname(os.path.abspath(path)),
                                f".{os.path.basename(path)}.{os.getpid()}.tmp")
        self.names: set[str] = set()
        self._lock = threading.Lock()
        self._committed = False
        try:
            self._f = open(self.tmp, "wb")
        except OSError as exc:
            raise ImageStoreError(f"{what} {path}: {exc.strerror or exc}") from None

    def add(self, name: str, stream: BinaryIO,
            progress: Callable[[int], None] | None = None,
            final_name: Callable[[], str] | None = None) -> int:
        """Append member ``name`` with what ``stream`` reads to its end; its size.
        ``final_name()``, called once the data is written, renames the member (to a
        name of ``name``'s length: a layer named by the digest of what it read)."""
        with self._lock, self._writing():
            start = self._f.tell()
            header = _header(name, 0)
            self._f.write(header)
            size = 0
            while chunk := stream.read(_CHUNK):
                self._f.write(chunk)
                size += len(chunk)
                if progress is not None:
                    progress(size)
            self._f.write(b"\0" * (-size % _BLOCK))
            end = self._f.tell()
            if final_name is not None:
                name = final_name()
            final = _header(name, size)
            if len(final) != len(header):
                raise AssertionError("tar header length changed with the size")
            self._f.seek(start)
            self._f.write(final)
            self._f.seek(end)
            self.names.add(name)
            return size

    def add_bytes(self, name: str, data: bytes) -> None:
        """Append member ``name`` holding ``data``."""
        self.add(name, io.BytesIO(data))

    def commit(self) -> None:
        """End the archive, make it durable and rename it over ``path``."""
        with self._writing():
            self._f.write(b"\0" * (2 * _BLOCK))
            self._f.flush()
            os.fsync(self._f.fileno())
            self._f.close()
            os.replace(self.tmp, self.path)
        self._committed = True

    def close(self) -> None:
        """Remove the temporary file of an archive not committed."""
        if not self._f.closed:
            self._f.close()
        if not self._committed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tmp)

    @contextlib.contextmanager
    def _writing(self):  # type: ignore[no-untyped-def]
        try:
            yield
        except OSError as exc:
            raise ImageStoreError(f"{self.what} {self.path}: writing: "
                                  f"{exc.strerror or exc}") from None


def _header(name: str, size: int) -> bytes:
    """A regular file's header: GNU format, so its length (one block for short names,
    more for a long one) does not depend on the size."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    info.uname = info.gname = ""
    return info.tobuf(format=tarfile.GNU_FORMAT)
