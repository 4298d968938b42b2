"""Tar streams as copy entries (:mod:`pypod_core.host.copy`): ``pypod cp -`` reads a tar
from stdin into a container and writes one of a container's files to stdout.

:func:`read_tar` takes any tar stream tarfile reads in stream mode (plain, gzip, bzip2,
xz), member names as paths below the target directory: a leading ``/`` is dropped, as
podman does, and a name or a hardlink that climbs out with ``..`` is refused (podman
clamps it).  The entries are written by a :class:`~pypod_core.host.copy.TreeWriter`,
so a hostile member (a symlink, then a file "through" it) cannot write outside either.

:class:`TarWriter` writes POSIX (pax) archives with numeric owners: long names, newlines
and any UTF-8 in names survive.  Extended attributes travel as pax ``SCHILY.xattr.NAME``
records (GNU tar's and containers/storage's form), those a copy carries only.
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from typing import Any, BinaryIO

from pypod_core.errors import CopyError, PathEscapeError
from pypod_core.host import xattrs
from pypod_core.host.copy import BLOCK, CHAR, DIR, FIFO, FILE, HARDLINK, SYMLINK, Entry
from pypod_core.host.inroot import split

_CHUNK = 1 << 20
_TYPES = {DIR: tarfile.DIRTYPE, FILE: tarfile.REGTYPE, SYMLINK: tarfile.SYMTYPE,
          HARDLINK: tarfile.LNKTYPE, FIFO: tarfile.FIFOTYPE, CHAR: tarfile.CHRTYPE,
          BLOCK: tarfile.BLKTYPE}


def member_path(name: str, where: str) -> tuple[str, ...]:
    """A member's name as names below the target (``/`` and ``.`` dropped);
    PathEscapeError for ``..``."""
    names = split(name)
    if ".." in names:
        raise PathEscapeError(f"{where}: the tar member {name!r} climbs out of the "
                              f"target directory (..)")
    return tuple(names)


def read_tar(stream: BinaryIO, *, where: str) -> Iterator[Entry]:
    """The members of the tar ``stream`` as entries, in the stream's order (each file's
    ``data`` is readable until the next entry is asked for).  A broken stream is a
    CopyError naming ``where``."""
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                entry = _entry(tar, member, where)
                if entry is not None:
                    yield entry
    except tarfile.TarError as exc:
        raise CopyError(f"{where}: not a valid tar stream: {exc}") from None


def _entry(tar: tarfile.TarFile, member: tarfile.TarInfo, where: str) -> Entry | None:
    path = member_path(member.name, where)
    if not path:
        return None  # the archive's "." entry: the target directory itself
    fields: dict[str, Any] = {}
    if member.isdir() or member.isreg():
        fields["xattrs"] = xattrs.from_pax(member.pax_headers)
    if member.isdir():
        kind = DIR
    elif member.isreg():
        kind = FILE
        fields.update(size=member.size, data=tar.extractfile(member))
    elif member.issym():
        kind = SYMLINK
        fields["target"] = member.linkname
    elif member.islnk():
        kind = HARDLINK
        fields["target"] = "/".join(member_path(member.linkname, where))
    elif member.isfifo():
        kind = FIFO
    elif member.ischr() or member.isblk():
        kind = CHAR if member.ischr() else BLOCK
        fields["rdev"] = os.makedev(member.devmajor, member.devminor)
    else:
        return None  # a type with nothing to make (GNU volume headers and the like)
    return Entry(path, kind, member.mode & 0o7777, member.uid, member.gid,
                 int(member.mtime * 1_000_000_000), **fields)


class _Sink:
    """What tarfile needs of an output to write an archive in one pass: write and tell
    (a pipe or a socket cannot tell)."""

    def __init__(self, out: BinaryIO):
        self.out = out

    def write(self, data: bytes) -> int:
        self.out.write(data)
        return len(data)

    def tell(self) -> int:
        return 0


class _FdReader:
    """A file descriptor read from its start, as tarfile reads a member's data."""

    def __init__(self, fd: int):
        self.fd = fd
        self.offset = 0

    def read(self, size: int = -1) -> bytes:
        data = os.pread(self.fd, size if size >= 0 else _CHUNK, self.offset)
        self.offset += len(data)
        return data


class TarWriter:
    """Write entries to ``out`` as a pax archive; :meth:`close` ends the archive (``out``
    stays open).  ``where`` names the source for messages."""

    def __init__(self, out: BinaryIO, *, where: str):
        self.where = where
        self.tar = tarfile.open(fileobj=_Sink(out), mode="w", format=tarfile.PAX_FORMAT,
                                encoding="utf-8")  # type: ignore[call-overload]
        self.tar.copybufsize = _CHUNK

    def add(self, entry: Entry) -> None:
        """Write one entry (a file's data read from its descriptor or file object)."""
        info = tarfile.TarInfo("/".join(entry.path))
        info.type = _TYPES[entry.kind]
        info.mode, info.uid, info.gid = entry.mode, entry.uid, entry.gid
        info.mtime = entry.mtime_ns // 1_000_000_000
        info.uname = info.gname = ""
        info.pax_headers = xattrs.pax_records(entry.xattrs)
        data = None
        if entry.kind == FILE:
            info.size = entry.size
            data = _FdReader(entry.data) if isinstance(entry.data, int) else entry.data
        elif entry.kind in (SYMLINK, HARDLINK):
            info.linkname = entry.target
        elif entry.kind in (CHAR, BLOCK):
            info.devmajor, info.devminor = os.major(entry.rdev), os.minor(entry.rdev)
        try:
            self.tar.addfile(info, data)
        except OSError as exc:
            if isinstance(exc, tarfile.ReadError) or "unexpected end" in str(exc):
                raise CopyError(f"{self.where}: {info.name} shrank while it was "
                                f"copied") from None
            raise

    def close(self) -> None:
        """Write the end-of-archive blocks."""
        self.tar.close()
