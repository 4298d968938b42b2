"""File locks: one file per locked object in the runtime's lock dir, held with flock(2).

The lock is the kernel's, so it is released when its holder dies, however it dies.
Within one process a lock is reentrant.  This replaces the ``filelock`` package on
pypod's hot path: filelock 4 costs every ``pypod`` process about 14 ms to import,
flock needs nothing beyond the standard library.

A lock file is its owner's alone (0600, whatever the umask; a wider one an older pypod
made is narrowed when taken): ``flock`` needs only a read descriptor, so any user who
can open the file can hold the lock.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from pypod_core.host.private import fix_mode

#: How often a waiting acquire() tries again.
POLL_INTERVAL = 0.005


class LockTimeout(TimeoutError):
    """The lock was not acquired within the timeout."""


class FileLock:
    """An exclusive, reentrant (within the process) lock on the file at ``path``."""

    def __init__(self, path: str, mode: int = 0o600):
        self.path = path
        self.mode = mode
        self._fd: int | None = None
        self._depth = 0

    @property
    def is_locked(self) -> bool:
        """Whether this process holds the lock."""
        return self._fd is not None

    def acquire(self, timeout: float | None = None) -> FileLock:
        """Take the lock, waiting up to ``timeout`` seconds (None: for ever, 0: not at all);
        LockTimeout if another process still holds it then."""
        if self._fd is not None:
            self._depth += 1
            return self
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, self.mode)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if deadline is not None and time.monotonic() >= deadline:
                    raise LockTimeout(f"lock {self.path} is held by another process") from None
                time.sleep(POLL_INTERVAL)
                continue
            # The holder before us may have deleted the file (an object's removal): a
            # lock on an unlinked file protects nothing, so take the new file instead.
            st = _same_file(fd, self.path)
            if st is not None:
                fix_mode(fd, self.mode, st)
                self._fd, self._depth = fd, 1
                return self
            os.close(fd)

    def release(self) -> None:
        """Give the lock back (the outermost release unlocks the file)."""
        if self._fd is None:
            return
        self._depth -= 1
        if self._depth == 0:
            fd, self._fd = self._fd, None
            os.close(fd)  # closing the only descriptor drops the flock

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let go of the lock entirely (however deep this process holds it) for the
        duration, then take it back as deep as before: libpod's stop unlocks the
        container while it waits out the stop timeout."""
        depth, fd = self._depth, self._fd
        if fd is None:
            yield
            return
        self._fd, self._depth = None, 0
        os.close(fd)
        try:
            yield
        finally:
            self.acquire()
            self._depth = depth

    def __enter__(self) -> FileLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def _same_file(fd: int, path: str) -> os.stat_result | None:
    """The descriptor's stat if ``path`` still names its file, else None."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    fst = os.fstat(fd)
    return fst if (st.st_dev, st.st_ino) == (fst.st_dev, fst.st_ino) else None


class LockTable:
    """The locks of one process on one lock dir, by name: one FileLock object per name,
    so that a lock taken twice by this process is re-entered, not waited for."""

    def __init__(self, directory: str):
        self.directory = directory
        self._locks: dict[str, FileLock] = {}

    def get(self, name: str) -> FileLock:
        """The lock ``name`` (file ``<directory>/<name>.lock``)."""
        lock = self._locks.get(name)
        if lock is None:
            lock = self._locks[name] = FileLock(os.path.join(self.directory, f"{name}.lock"))
        return lock

    def forget(self, name: str) -> None:
        """Drop a removed object's lock and its file.  The caller holds the lock; a
        process still waiting on the file finds the object gone once it gets it."""
        self._locks.pop(name, None)
        try:
            os.unlink(os.path.join(self.directory, f"{name}.lock"))
        except FileNotFoundError:
            pass
