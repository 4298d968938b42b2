"""Directories and files that only their owner can reach: a store's roots and its locks.

A rootful store is root's alone: its directories are 0700 and the files pypod picks a
mode for are 0600.  The locks make it more than privacy: ``flock`` needs only a read
descriptor, so a lock file another user can open is a lock that user can hold, and
stall every pypod command (``alive.lck``) or every start of a container.

Modes are set explicitly, never left to the umask.  And a directory an older pypod made
wider (0755 roots, a 0751 tmp dir) is narrowed when it is found: the roots are pypod's
to delete (``system reset``), so they are pypod's to close.  Directories shared by
design (sticky, like ``/tmp``) or owned by another user are never changed.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Final

#: The mode of the directories pypod makes for a store.
DIR_MODE: Final = 0o700
#: The mode of the files pypod makes where nothing else needs to read them.
FILE_MODE: Final = 0o600


def private_dir(path: str) -> None:
    """``mkdir -p path``, each directory made 0700 whatever the umask; an existing
    ``path`` of this user that others can reach is narrowed to its owner's bits.  OSError
    as ``os.makedirs`` raises it (NotADirectoryError where ``path`` is a file)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        _make(path)
        return
    if not stat.S_ISDIR(st.st_mode):
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), path)
    narrow(path, st)


def _make(path: str) -> None:
    parent = os.path.dirname(os.path.normpath(path))
    if parent and parent != path and not os.path.isdir(parent):
        _make(parent)
    try:
        os.mkdir(path, DIR_MODE)
    except FileExistsError:  # another process made it first
        if not os.path.isdir(path):
            raise
        return
    os.chmod(path, DIR_MODE)  # a umask such as 0277 takes bits from the owner as well


def narrow(path: str, st: os.stat_result | None = None) -> None:
    """Take group and other permissions off ``path`` if this user owns it, unless it is
    sticky (a directory shared by design) or ``/``."""
    st = st or os.stat(path)
    if (st.st_mode & 0o077 and st.st_uid == os.geteuid() and not st.st_mode & stat.S_ISVTX
            and os.path.normpath(path) != "/"):
        os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)


def private_file(path: str) -> int:
    """Open ``path`` for writing, made 0600 whatever the umask (or narrowed to it where
    an older pypod made it wider); the descriptor, truncated."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    fix_mode(fd, FILE_MODE)
    return fd


def fix_mode(fd: int, mode: int, st: os.stat_result | None = None) -> None:
    """Give the open file ``fd`` (whose stat is ``st``, if known) exactly ``mode``
    where this user owns it: the umask's doing, or an older pypod's, is undone."""
    st = st or os.fstat(fd)
    if stat.S_IMODE(st.st_mode) != mode and st.st_uid == os.geteuid():
        os.fchmod(fd, mode)


def write_private(path: str, text: str) -> None:
    """Write ``text`` to ``path`` (0600; see :func:`private_file`)."""
    with os.fdopen(private_file(path), "w") as f:
        f.write(text)


def replace_private(path: str, text: str) -> None:
    """Write ``text`` to ``path`` (0600) all at once: into a file beside it, flushed
    to disk, then renamed over it, so that a reader (or a crash) never sees half of
    it."""
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        with os.fdopen(private_file(temporary), "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise
