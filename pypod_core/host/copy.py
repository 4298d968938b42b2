"""Copying file trees safely: a tree read as entries, entries written into a directory.

``pypod cp`` copies between a container's root and the host (or another container).
Either side may be hostile: a running container can change its files while they are
copied.  So nothing here follows a path through the kernel: :func:`walk` reads a tree
from descriptors, one name at a time with ``O_NOFOLLOW``, and :class:`TreeWriter`
writes entries one name at a time under a directory descriptor (``*at()`` calls,
``O_NOFOLLOW``, ``O_EXCL``), so a symlink met on the way is copied as a symlink and
never written through.  Where the copy starts is found by
:func:`pypod_core.host.inroot.resolve`.

An :class:`Entry` is the unit both sides agree on; :mod:`pypod_core.host.copy_tar` turns
tar streams into entries and entries into tar streams, with the same guarantees.
File data moves with ``copy_file_range`` where both ends are files (in the kernel).
Files and directories keep the extended attributes podman's cp keeps
(:mod:`pypod_core.host.xattrs`).
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from pypod_core.errors import CopyConflictError, CopyError
from pypod_core.host import xattrs as xattr_policy
from pypod_core.host.inroot import Place

DIR, FILE, SYMLINK, HARDLINK, FIFO, CHAR, BLOCK = (
    "directory", "file", "symlink", "hardlink", "fifo", "character device", "block device")
_KINDS = {stat.S_IFDIR: DIR, stat.S_IFREG: FILE, stat.S_IFLNK: SYMLINK,
          stat.S_IFIFO: FIFO, stat.S_IFCHR: CHAR, stat.S_IFBLK: BLOCK}
_NODE_TYPES = {FIFO: stat.S_IFIFO, CHAR: stat.S_IFCHR, BLOCK: stat.S_IFBLK}
_READ_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a name swapped for a fifo meanwhile must not hang the copy on open.
_READ_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_CHUNK = 1 << 20


class Entry(NamedTuple):
    """One thing to copy.  ``path``: its names below the copy's target directory;
    ``kind``: one of the kinds above; ``target``: a symlink's text, or a hardlink's path
    (names joined by ``/``, from the target directory) to the entry it shares data with;
    ``data``: a file's contents, a descriptor (a tree walk) or a readable file object (a
    tar stream); times in nanoseconds; ``xattrs``: the (name, value) extended
    attributes a file or directory carries."""

    path: tuple[str, ...]
    kind: str
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    size: int = 0
    target: str = ""
    rdev: int = 0
    data: Any = None
    xattrs: tuple[tuple[str, bytes], ...] = ()


def kind_of(mode: int) -> str | None:
    """The entry kind of a file mode; None for what cannot be copied (a socket)."""
    return _KINDS.get(stat.S_IFMT(mode))


def _entry(path: tuple[str, ...], st: os.stat_result, kind: str, **extra: Any) -> Entry:
    return Entry(path, kind, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid,
                 st.st_mtime_ns, **extra)


def walk(place: Place, top: str | None, *, skip: Iterable[str] = (),
         where: str = "") -> Iterator[Entry]:
    """The tree at ``place`` as entries, parents before their contents: named ``top``, or,
    with ``top`` None, a directory's contents only (``dir/.``), less the names in
    ``skip`` at its top.  Symlinks are entries, never followed; a file met again under
    another name is a hardlink to the first; sockets are left out.  OSError is a
    CopyError naming the path and ``where``."""
    seen: dict[tuple[int, int], str] = {}
    try:
        st = os.stat(place.name, dir_fd=place.dir_fd, follow_symlinks=False)
    except OSError as exc:
        raise _error(exc, where, place.path) from None
    if stat.S_ISDIR(st.st_mode):
        fd = _open(place.dir_fd, place.name, _READ_DIR, where, place.path)
        try:
            prefix: tuple[str, ...] = ()
            if top is not None:
                prefix = (top,)
                yield _entry(prefix, st, DIR, xattrs=_xattrs(fd, where, place.path))
            yield from _walk_dir(fd, prefix, place.path, frozenset(skip), seen, where)
        finally:
            os.close(fd)
        return
    if top is None:
        raise CopyError(f"{where}: {place.path} is not a directory")
    yield from _one(place.dir_fd, place.name, st, (top,), place.path, seen, where)


def _walk_dir(fd: int, prefix: tuple[str, ...], shown: str, skip: frozenset[str],
              seen: dict[tuple[int, int], str], where: str) -> Iterator[Entry]:
    """The contents of the directory ``fd`` (depth first, each directory by name); the
    descriptors of the directories below it are closed as they are left, or when the
    caller stops early."""
    stack = [(fd, prefix, shown, _listing(fd, where, shown, skip))]
    try:
        while stack:
            dir_fd, path, shown_dir, names = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                if dir_fd != fd:
                    os.close(dir_fd)
                continue
            shown = f"{shown_dir.rstrip('/')}/{name}"
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed since it was listed
            except OSError as exc:
                raise _error(exc, where, shown) from None
            child = (*path, name)
            if not stat.S_ISDIR(st.st_mode):
                yield from _one(dir_fd, name, st, child, shown, seen, where)
                continue
            child_fd = _open(dir_fd, name, _READ_DIR, where, shown)
            stack.append((child_fd, child, shown, iter(())))  # closed below if unlisted
            stack[-1] = (child_fd, child, shown, _listing(child_fd, where, shown))
            yield _entry(child, st, DIR, xattrs=_xattrs(child_fd, where, shown))
    finally:
        for dir_fd, *_ in stack:
            if dir_fd != fd:
                os.close(dir_fd)


def _listing(fd: int, where: str, shown: str,
             skip: frozenset[str] = frozenset()) -> Iterator[str]:
    try:
        with os.scandir(fd) as it:
            names = sorted(e.name for e in it if e.name not in skip)
    except OSError as exc:
        raise _error(exc, where, shown) from None
    return iter(names)


def _one(dir_fd: int, name: str, st: os.stat_result, path: tuple[str, ...], shown: str,
         seen: dict[tuple[int, int], str], where: str) -> Iterator[Entry]:
    """The entry of a non-directory."""
    kind = kind_of(st.st_mode)
    if kind is None:
        return  # a socket: nothing a copy can carry
    if kind == SYMLINK:
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except OSError as exc:
            raise _error(exc, where, shown) from None
        yield _entry(path, st, SYMLINK, target=target)
        return
    if kind != FILE:
        yield _entry(path, st, kind, rdev=st.st_rdev)
        return
    key = (st.st_dev, st.st_ino)
    if st.st_nlink > 1:
        if key in seen:
            yield _entry(path, st, HARDLINK, target=seen[key])
            return
        seen[key] = "/".join(path)
    fd = _open(dir_fd, name, _READ_FILE, where, shown)
    try:
        now = os.stat(fd)
        if not stat.S_ISREG(now.st_mode):  # swapped for something else since the stat
            raise CopyError(f"{where}: {shown} changed while it was copied")
        yield _entry(path, now, FILE, size=now.st_size, data=fd,
                     xattrs=_xattrs(fd, where, shown))
    finally:
        os.close(fd)


def _xattrs(fd: int, where: str, shown: str) -> tuple[tuple[str, bytes], ...]:
    try:
        return xattr_policy.read_carried(fd)
    except OSError as exc:
        raise _error(exc, where, shown) from None


def _open(dir_fd: int, name: str, flags: int, where: str, shown: str) -> int:
    try:
        return os.open(name, flags, dir_fd=dir_fd)
    except OSError as exc:
        raise _error(exc, where, shown) from None


def _error(exc: OSError, where: str, shown: str) -> CopyError:
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ELOOP:
        reason = "a symlink where a file or directory was expected"
    return CopyError(f"{where}: {shown}: {reason}")


class TreeWriter:
    """Write entries under the directory ``top_fd`` (not closed here), each one name at a
    time (see the module docstring).

    ``owner``: the (uid, gid) every entry gets (None: the entry's own); ``overwrite``:
    a directory may replace a non-directory and the other way round (else
    CopyConflictError); ``devices``: device nodes are made (else left out, as podman does
    on the host); ``shown``: the target directory's path for messages, ``where``: where it
    is ("container web").  A regular file over a regular file is rewritten in place (as
    cp(1), so that a bind-mounted file keeps its inode); anything else is replaced.
    :meth:`close` sets the directories' times (after their contents were written)."""

    def __init__(self, top_fd: int, *, shown: str, where: str,
                 owner: tuple[int, int] | None = None, overwrite: bool = False,
                 devices: bool = True):
        self.top_fd = top_fd
        self.shown = shown.rstrip("/") or ""
        self.where = where
        self.owner = owner
        self.overwrite = overwrite
        self.devices = devices
        self._chown = os.geteuid() == 0 or owner is not None
        #: The open directories of the current path: (names, fd, the entry whose mode
        #: and time it gets when it is left, or None for one made on the way).
        self._dirs: list[tuple[tuple[str, ...], int, Entry | None]] = []

    def add(self, entry: Entry) -> None:
        """Write one entry; its parents are made (0755) where the entry came first."""
        shown = self._shown(entry.path)
        try:
            parent = self._parent(entry.path[:-1])
            self._write(parent, entry.path[-1], entry, shown)
        except (CopyError, CopyConflictError):
            raise
        except OSError as exc:
            raise _error(exc, self.where, shown) from None

    def _shown(self, path: tuple[str, ...]) -> str:
        return f"{self.shown}/{'/'.join(path)}"

    def _parent(self, path: tuple[str, ...]) -> int:
        """The descriptor of the directory ``path`` (names below the top), opening or
        making the directories on the way; those of the last entry that are not on
        it are left (and their times set)."""
        while self._dirs and self._dirs[-1][0] != path[:len(self._dirs[-1][0])]:
            self._leave()
        depth = len(self._dirs[-1][0]) if self._dirs else 0
        while depth < len(path):
            parent = self._dirs[-1][1] if self._dirs else self.top_fd
            name = path[depth]
            try:
                fd = os.open(name, _READ_DIR, dir_fd=parent)
            except FileNotFoundError:
                os.mkdir(name, 0o755, dir_fd=parent)
                fd = os.open(name, _READ_DIR, dir_fd=parent)
                self._set_owner(fd, None)
            except (NotADirectoryError, OSError) as exc:
                if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise
                raise CopyError(f"{self.where}: {self._shown(path[:depth + 1])} is not a "
                                f"directory") from None
            self._dirs.append((path[:depth + 1], fd, None))
            depth += 1
        return self._dirs[-1][1] if self._dirs else self.top_fd

    def _leave(self) -> None:
        """Done with the innermost open directory: its mode (last, so that a read-only
        one could be written into) and its time (after its contents changed it)."""
        _, fd, entry = self._dirs.pop()
        try:
            if entry is not None:
                os.chmod(fd, entry.mode)
                os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
        finally:
            os.close(fd)

    def close(self) -> None:
        """Set the times of the directories still open and let go of them."""
        while self._dirs:
            self._leave()

    def _write(self, parent: int, name: str, entry: Entry, shown: str) -> None:
        try:
            existing: os.stat_result | None = os.stat(name, dir_fd=parent,
                                                      follow_symlinks=False)
        except FileNotFoundError:
            existing = None
        if entry.kind == DIR:
            self._directory(parent, name, entry, existing, shown)
            return
        if entry.kind == FILE and existing is not None and stat.S_ISREG(existing.st_mode):
            fd = self._reopen(parent, name, entry, existing, shown)
            if fd is not None:
                self._fill(fd, entry)
                return
        if entry.kind in (CHAR, BLOCK) and not self.devices:
            return
        if existing is not None:
            self._make_room(parent, name, existing, entry, shown)
        if entry.kind == FILE:
            self._fill(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                               | os.O_CLOEXEC, 0o600, dir_fd=parent), entry)
        elif entry.kind == SYMLINK:
            os.symlink(entry.target, name, dir_fd=parent)
            self._finish_node(parent, name, entry, chmod=False)
        elif entry.kind == HARDLINK:
            self._hardlink(parent, name, entry, shown)
        else:
            os.mknod(name, 0o600 | _NODE_TYPES[entry.kind], entry.rdev, dir_fd=parent)
            self._finish_node(parent, name, entry)

    def _directory(self, parent: int, name: str, entry: Entry,
                   existing: os.stat_result | None, shown: str) -> None:
        if existing is not None and not stat.S_ISDIR(existing.st_mode):
            self._make_room(parent, name, existing, entry, shown)
            existing = None
        if existing is None:
            os.mkdir(name, 0o700, dir_fd=parent)
        # _parent opens it (as the next entries' parent): the owner now, the mode and
        # time once its contents are written.
        self._parent(entry.path)
        fd = self._dirs[-1][1]
        self._set_owner(fd, entry)
        xattr_policy.write(fd, entry.xattrs)
        self._dirs[-1] = (entry.path, fd, entry)

    def _make_room(self, parent: int, name: str, existing: os.stat_result, entry: Entry,
                   shown: str) -> None:
        """Remove what is at ``name`` for ``entry``: a directory for a non-directory (or
        the other way round) only with ``overwrite``."""
        was_dir = stat.S_ISDIR(existing.st_mode)
        if was_dir != (entry.kind == DIR) and not self.overwrite:
            what = "directory" if was_dir else "non-directory"
            raise CopyConflictError(
                f"{self.where}: cannot overwrite {what} {shown} with a "
                f"{'directory' if entry.kind == DIR else 'non-directory'} "
                f"(--overwrite allows it)")
        if was_dir:
            shutil.rmtree(name, dir_fd=parent)
        else:
            os.unlink(name, dir_fd=parent)

    def _reopen(self, parent: int, name: str, entry: Entry, existing: os.stat_result,
                shown: str) -> int | None:
        """The existing regular file ``name``, truncated, to rewrite; None if it cannot be
        (something else is there by now: it is replaced instead)."""
        if isinstance(entry.data, int):
            source = os.stat(entry.data)
            if (source.st_dev, source.st_ino) == (existing.st_dev, existing.st_ino):
                raise CopyError(f"{self.where}: {shown} is the file being copied")
        try:
            fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=parent)
        except OSError:
            return None
        if not stat.S_ISREG(os.stat(fd).st_mode):
            os.close(fd)
            return None
        os.ftruncate(fd, 0)
        return fd

    def _fill(self, fd: int, entry: Entry) -> None:
        """Write a file's data into ``fd``, then its owner, mode and time; close it."""
        try:
            if isinstance(entry.data, int):
                _copy_fd(entry.data, fd, entry.size)
            elif entry.data is not None:
                _copy_stream(entry.data, fd)
            self._set_owner(fd, entry)
            xattr_policy.write(fd, entry.xattrs)
            os.chmod(fd, entry.mode)  # after chown, which clears setuid bits
            os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
        finally:
            os.close(fd)

    def _hardlink(self, parent: int, name: str, entry: Entry, shown: str) -> None:
        """Link ``name`` to the entry written earlier at ``entry.target`` (a path from
        the top), reached one directory at a time."""
        names = entry.target.split("/")
        fds: list[int] = []
        try:
            at = self.top_fd
            for part in names[:-1]:
                at = os.open(part, _READ_DIR, dir_fd=at)
                fds.append(at)
            os.link(names[-1], name, src_dir_fd=at, dst_dir_fd=parent,
                    follow_symlinks=False)
        except FileNotFoundError:
            raise CopyError(f"{self.where}: {shown}: a hardlink to "
                            f"{self.shown}/{entry.target}, which is not there") from None
        finally:
            for fd in fds:
                os.close(fd)

    def _finish_node(self, parent: int, name: str, entry: Entry, chmod: bool = True) -> None:
        """Owner, mode and time of a symlink, fifo or device node just made at ``name``."""
        uid, gid = self.owner or (entry.uid, entry.gid)
        if self._chown:
            _chown(lambda: os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False))
        if chmod:
            # No lchmod on Linux: the node is opened without following and changed
            # through its descriptor's /proc link (chmod of an O_PATH descriptor).
            fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
            try:
                if stat.S_IFMT(os.stat(fd).st_mode) == _NODE_TYPES[entry.kind]:
                    os.chmod(f"/proc/self/fd/{fd}", entry.mode)
            finally:
                os.close(fd)
        os.utime(name, ns=(entry.mtime_ns, entry.mtime_ns), dir_fd=parent,
                 follow_symlinks=False)

    def _set_owner(self, fd: int, entry: Entry | None) -> None:
        if entry is None:  # a directory made on the way: the owner's, or left as made
            if self.owner is not None:
                _chown(lambda: os.chown(fd, *self.owner))  # type: ignore[misc]
            return
        if self._chown:
            uid, gid = self.owner or (entry.uid, entry.gid)
            _chown(lambda: os.chown(fd, uid, gid))


def _chown(change: Any) -> None:
    """Change an owner; a user who is not root may only keep their own (as tar)."""
    try:
        change()
    except PermissionError:
        if os.geteuid() == 0:
            raise


def _copy_fd(source: int, target: int, size: int) -> None:
    """Copy ``size`` bytes (or what there is) from ``source`` at offset 0, in the kernel
    where it can (copy_file_range, else sendfile), else through a buffer."""
    offset = 0
    for kernel_copy in (_copy_file_range, _sendfile):
        try:
            while offset < size:
                n = kernel_copy(source, target, size - offset, offset)
                if n == 0:
                    return
                offset += n
            return
        except OSError as exc:
            if exc.errno not in _NO_KERNEL_COPY:
                raise
    while True:
        chunk = os.pread(source, _CHUNK, offset)
        if not chunk:
            return
        view = memoryview(chunk)
        while view:
            view = view[os.write(target, view):]
        offset += len(chunk)


#: What copy_file_range or sendfile answer where they cannot copy between these files.
_NO_KERNEL_COPY = (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM,
                   errno.ETXTBSY)


def _copy_file_range(source: int, target: int, count: int, offset: int) -> int:
    return os.copy_file_range(source, target, count, offset)


def _sendfile(source: int, target: int, count: int, offset: int) -> int:
    return os.sendfile(target, source, offset, count)


def _copy_stream(source: Any, target: int) -> None:
    while True:
        chunk = source.read(_CHUNK)
        if not chunk:
            return
        view = memoryview(chunk)
        while view:
            view = view[os.write(target, view):]
