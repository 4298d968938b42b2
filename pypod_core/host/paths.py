"""Paths inside a container's root file system, resolved as the container sees them.

A container's ``/data`` may be a symlink to ``/etc``: seen from the host,
``rootfs/data`` then leads to the host's ``/etc``.  :func:`secure_join` resolves every
symlink as if the root file system were ``/`` (containers/storage's ``securejoin``), so
what it returns is always under the root.
"""

from __future__ import annotations

import errno
import os
import stat

#: Symlinks followed before giving up (Linux's own limit is 40 per lookup).
MAX_LINKS = 255


def secure_join(root: str, path: str) -> str:
    """``root`` joined with the container path ``path``, every symlink on the way
    resolved inside ``root`` (an absolute target is taken from ``root``, ``..`` stops at
    it).  Components that do not exist are kept as they are.  OSError ELOOP after
    MAX_LINKS symlinks."""
    root = os.path.realpath(root)
    pending = [p for p in path.split("/") if p and p != "."]
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            mode = os.lstat(candidate).st_mode
        except (FileNotFoundError, NotADirectoryError):
            resolved.append(part)
            continue
        if not stat.S_ISLNK(mode):
            resolved.append(part)
            continue
        links += 1
        if links > MAX_LINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), os.path.join(root, path))
        target = os.readlink(candidate)
        if target.startswith("/"):
            resolved = []
        pending[:0] = [p for p in target.split("/") if p and p != "."]
    return os.path.join(root, *resolved)
