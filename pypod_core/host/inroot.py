"""Paths resolved under a root directory, component by component, by descriptors.

A container's files are reached from the host through its root (its rootfs directory, or
``/proc/PID/root`` while it runs).  Handing the kernel ``root + path`` would be wrong and
unsafe: a symlink in the container that points to ``/etc`` would lead to the host's
``/etc``, and ``..`` out of the root.  :func:`resolve` walks the path one name at a time
from a descriptor of the root, as the kernel resolves it for a process chrooted there:

- each name is looked up with ``O_NOFOLLOW`` relative to its parent's descriptor, so a
  name that another process swaps for a symlink meanwhile is never followed by the kernel;
- a symlink is read and its text resolved the same way: an absolute one from the root,
  ``..`` from the directory chain held here (never the file system's own ``..``), and
  ``..`` at the root stays at the root;
- at most :data:`MAX_SYMLINKS` symlinks (ELOOP, as the kernel).

The result is a :class:`Place`: a descriptor of the directory that holds the path and the
name there, so that what is done next (open, create, replace) is one ``*at()`` call on
one name, which cannot leave the root either.  No fork and no chroot are needed, and the
same code resolves paths on the host (root ``/``).
"""

from __future__ import annotations

import errno
import os
import stat

#: How many symlinks one resolution follows (the kernel's limit, 40).
MAX_SYMLINKS = 40
#: A directory held to look names up in; never read or written through.
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class Place:
    """A path resolved under a root: ``dir_fd`` (a descriptor of the directory holding it,
    owned by the place: :meth:`close` it) and ``name`` in that directory (``"."`` for the
    root itself); ``stat`` is the entry's status (not followed: a symlink only where
    resolution was asked not to follow the last one) or None where it does not exist yet;
    ``path`` is the resolved path from the root, for messages."""

    __slots__ = ("dir_fd", "name", "stat", "path")

    def __init__(self, dir_fd: int, name: str, st: os.stat_result | None, path: str):
        self.dir_fd = dir_fd
        self.name = name
        self.stat = st
        self.path = path

    @property
    def exists(self) -> bool:
        """Whether something is at the place."""
        return self.stat is not None

    @property
    def is_dir(self) -> bool:
        """Whether a directory is at the place."""
        return self.stat is not None and stat.S_ISDIR(self.stat.st_mode)

    def open_dir(self) -> int:
        """A new descriptor of the directory at the place (O_PATH: for ``*at()`` calls);
        NotADirectoryError or ELOOP if something else is there by now."""
        return os.open(self.name, _DIR_FLAGS, dir_fd=self.dir_fd)

    def close(self) -> None:
        """Let go of the directory descriptor."""
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1

    def __enter__(self) -> Place:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Place {self.path!r}{'' if self.exists else ' (missing)'}>"


def open_root(path: str) -> int:
    """A descriptor of the directory ``path`` to resolve paths under (O_PATH)."""
    return os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)


def split(path: str) -> list[str]:
    """The names of ``path``, without empty ones and ``.``."""
    return [name for name in path.split("/") if name not in ("", ".")]


def escapes(path: str) -> bool:
    """Whether the ``..`` of ``path`` (taken from the root, symlinks aside) climb above it."""
    depth = 0
    for name in split(path):
        depth += -1 if name == ".." else 1
        if depth < 0:
            return True
    return False


def resolve(root_fd: int, path: str, *, follow: bool = True) -> Place:
    """Resolve ``path`` (absolute or not: from the root either way) under the directory
    ``root_fd`` as described in the module docstring; with ``follow``, a symlink as the
    last name is followed too.  The last name may be missing (the place's ``stat`` is
    None); a missing directory before it is FileNotFoundError, a non-directory there
    NotADirectoryError, too many symlinks ELOOP, each naming ``path``."""
    todo = list(reversed(split(path)))
    chain: list[tuple[str, int]] = []  # the directories below the root, with descriptors
    links = 0
    try:
        while todo:
            name = todo.pop()
            if name == "..":
                if chain:
                    os.close(chain.pop()[1])
                continue
            parent = chain[-1][1] if chain else root_fd
            last = not todo
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                if not last:
                    raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT),
                                            path) from None
                return _place(parent, name, None, chain)
            if stat.S_ISLNK(st.st_mode) and (follow or not last):
                links += 1
                if links > MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
                target = os.readlink(name, dir_fd=parent)
                if target.startswith("/"):
                    for _, fd in chain:
                        os.close(fd)
                    chain.clear()
                todo.extend(reversed(split(target)))
                continue
            if last:
                return _place(parent, name, st, chain)
            if not stat.S_ISDIR(st.st_mode):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
            chain.append((name, os.open(name, _DIR_FLAGS, dir_fd=parent)))
        # The path ends at a directory of the chain (or the root): ".." or a symlink last.
        if not chain:
            return Place(os.dup(root_fd), ".", os.stat(root_fd), "/")
        name, fd = chain.pop()
        try:
            st = os.stat(fd)
        finally:
            os.close(fd)
        parent = chain[-1][1] if chain else root_fd
        return _place(parent, name, st, chain)
    finally:
        for _, fd in chain:
            os.close(fd)


def _place(parent: int, name: str, st: os.stat_result | None,
           chain: list[tuple[str, int]]) -> Place:
    names = [n for n, _ in chain] + [name]
    return Place(os.dup(parent), name, st, "/" + "/".join(names))
