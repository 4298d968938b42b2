"""Writing a container's changes (or a whole tree) as an OCI layer tar: what the graph
drivers' ``diff`` streams for ``commit`` and ``export``.

Three shapes, one writer:

- :func:`write_overlay_upper`: an overlay upper dir as it is, the kernel's whiteouts
  (0/0 character devices) turned into ``.wh.NAME`` entries and its opaque directories
  (``trusted.overlay.opaque=y``, ``user.`` when rootless) into ``DIR/.wh..wh..opq``;
- :func:`write_changes`: a full tree (vfs' copy of the rootfs) against the tree it was
  copied from: what is new or differs (type, mode, owner, size, mtime, link target,
  device), and a ``.wh.NAME`` for each name gone;
- :func:`write_tree`: every file of a tree (``export``, the dir driver's diff).

Members carry numeric owners only (an image's names mean nothing on another host),
hardlinks within the tar stay hardlinks, nothing is followed out of the tree (symlinks
are stored as links).  Files and directories keep the extended attributes
:mod:`pypod_core.host.xattrs` carries (file capabilities, ``user.*``) as pax
``SCHILY.xattr.`` records; overlayfs' own (the opaque marker) become ``.wh.`` entries.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from pypod_core.host import xattrs

if TYPE_CHECKING:
    import tarfile

#: The OCI whiteout prefix and the opaque-directory marker.
WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")


def _open(out: BinaryIO) -> tarfile.TarFile:
    """A tar writer on ``out``: a seekable file is written in place (file contents then
    go by sendfile(2), in the kernel), anything else as a stream."""
    import tarfile  # lazy: only commit/export write tars (~7 ms)

    try:
        seekable = out.seekable() and out.fileno() >= 0
    except (AttributeError, OSError, ValueError):
        seekable = False
    if seekable:
        return tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT)
    return tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                        bufsize=1 << 20)


def _entries(directory: str) -> list[os.DirEntry[str]]:
    with os.scandir(directory) as it:
        return sorted(it, key=lambda e: e.name)


def _add(tar: tarfile.TarFile, path: str, name: str) -> None:
    """Add ``path`` as the member ``name`` (a directory without its children)."""
    info = tar.gettarinfo(path, name)
    info.uname = info.gname = ""
    if info.isreg() or info.isdir():
        info.pax_headers = xattrs.pax_records(xattrs.read_carried(path))
    if not info.isreg():
        tar.addfile(info)
        return
    with open(path, "rb") as f:
        # tarfile's stream wrapper (a pipe) has no fileno: tarfile copies the bytes.
        if info.size == 0 or not hasattr(tar.fileobj, "fileno"):
            tar.addfile(info, f)
        else:
            _add_by_sendfile(tar, info, f)


def _add_by_sendfile(tar: tarfile.TarFile, info: tarfile.TarInfo, f: BinaryIO) -> None:
    """The member's header by tarfile, its bytes copied by the kernel, then tar's zero
    padding to the block; tarfile's offset kept in step.  A file that shrank meanwhile
    is an OSError, as tarfile's own copy raises."""
    import tarfile  # lazy: as _open

    tar.addfile(info)  # the header only (no file object: tarfile copies nothing)
    out: Any = tar.fileobj  # the seekable file _open was given
    out.flush()
    left, src, dst = info.size, f.fileno(), out.fileno()
    while left:
        sent = os.sendfile(dst, src, None, min(left, 1 << 30))
        if sent == 0:
            raise OSError(f"{f.name}: the file shrank while it was archived")
        left -= sent
    blocks, remainder = divmod(info.size, tarfile.BLOCKSIZE)
    if remainder:
        out.write(tarfile.NUL * (tarfile.BLOCKSIZE - remainder))
        blocks += 1
    tar.offset += blocks * tarfile.BLOCKSIZE


def _whiteout(tar: tarfile.TarFile, parent: str, name: str) -> None:
    import tarfile  # lazy: as _open

    info = tarfile.TarInfo(f"{parent}/{WHITEOUT}{name}" if parent else WHITEOUT + name)
    info.mode = 0o600
    tar.addfile(info)


def _is_opaque(path: str) -> bool:
    for attr in _OPAQUE_XATTRS:
        try:
            if os.getxattr(path, attr, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def _join(parent: str, name: str) -> str:
    return f"{parent}/{name}" if parent else name


def write_tree(root: str, out: BinaryIO) -> None:
    """Every file under ``root`` (not ``root`` itself) as a tar on ``out``."""
    with _open(out) as tar:
        for path, name in _walk(root, ""):
            _add(tar, path, name)


def _walk(directory: str, prefix: str) -> Iterator[tuple[str, str]]:
    """``(path, member name)`` of everything under ``directory``, parents first."""
    for entry in _entries(directory):
        name = _join(prefix, entry.name)
        yield entry.path, name
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path, name)


def write_overlay_upper(upper: str, out: BinaryIO) -> None:
    """The overlay upper dir ``upper`` as an OCI layer tar on ``out``."""
    with _open(out) as tar:
        _upper(tar, upper, "")


def _upper(tar: tarfile.TarFile, directory: str, prefix: str) -> None:
    for entry in _entries(directory):
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
            _whiteout(tar, prefix, entry.name)
            continue
        name = _join(prefix, entry.name)
        _add(tar, entry.path, name)
        if stat.S_ISDIR(st.st_mode):
            if _is_opaque(entry.path):
                _whiteout(tar, name, OPAQUE[len(WHITEOUT):])
            _upper(tar, entry.path, name)


def write_changes(lower: str, upper: str, out: BinaryIO) -> None:
    """What differs in the tree ``upper`` from the tree ``lower``, as an OCI layer tar
    on ``out``: new and changed entries, and a whiteout for each one removed."""
    with _open(out) as tar:
        _changes(tar, lower, upper, "")


def _changes(tar: tarfile.TarFile, lower: str, upper: str, prefix: str) -> None:
    old = {e.name: e.path for e in _entries(lower)}
    for entry in _entries(upper):
        name = _join(prefix, entry.name)
        st = entry.stat(follow_symlinks=False)
        before = old.pop(entry.name, "")
        was = os.lstat(before) if before else None
        if was is not None and stat.S_ISDIR(st.st_mode) and stat.S_ISDIR(was.st_mode):
            if not _same(entry.path, st, before, was):
                _add(tar, entry.path, name)
            _changes(tar, before, entry.path, name)
            continue
        if was is not None and _same(entry.path, st, before, was):
            continue
        _add(tar, entry.path, name)
        if stat.S_ISDIR(st.st_mode):  # new, or in place of a file: all of it
            for path, child in _walk(entry.path, name):
                _add(tar, path, child)
    for gone in old:
        _whiteout(tar, prefix, gone)


def _same(path: str, st: os.stat_result, old_path: str, was: os.stat_result) -> bool:
    """Whether an entry is unchanged (containers/storage's test: type and mode, owner,
    size, mtime, device, link target; contents are not read)."""
    if (st.st_mode, st.st_uid, st.st_gid) != (was.st_mode, was.st_uid, was.st_gid):
        return False
    if stat.S_ISDIR(st.st_mode):
        return st.st_mtime_ns == was.st_mtime_ns
    if (st.st_size, st.st_mtime_ns, st.st_rdev) != (was.st_size, was.st_mtime_ns, was.st_rdev):
        return False
    if stat.S_ISLNK(st.st_mode):
        return os.readlink(path) == os.readlink(old_path)
    return True


def tree_size(path: str) -> int:
    """The bytes of the files and symlinks under ``path`` (apparent sizes, a file with
    several hardlinks once; 0 if it does not exist)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for top, dirs, files in os.walk(path):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total
