"""The local terminal of an attached session: raw mode, its window size, and SIGWINCH.

While a user types into a container's terminal, the local one must pass every key on
as it is (raw mode: no echo, no line editing, ctrl-C a byte rather than a signal), and
the container's terminal must follow the local window's size.  A signal handler can do
nothing but note the change: :class:`WindowWatcher` turns SIGWINCH into a readable
descriptor that an attach loop waits on beside its other descriptors.
"""

from __future__ import annotations

import os
import signal
import termios
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: termios attribute indexes (tcgetattr's list).
_IFLAG, _OFLAG, _CFLAG, _LFLAG, _CC = 0, 1, 2, 3, 6


def is_terminal(fd: int | None) -> bool:
    """Whether ``fd`` is an open terminal."""
    if fd is None:
        return False
    try:
        return os.isatty(fd)
    except OSError:
        return False


def window_size(fd: int) -> tuple[int, int] | None:
    """The terminal's size as (rows, columns); None if ``fd`` is no terminal or the
    size is unknown (0x0, a terminal nobody sized)."""
    try:
        size = os.get_terminal_size(fd)
    except OSError:
        return None
    if size.lines <= 0 or size.columns <= 0:
        return None
    return size.lines, size.columns


def make_raw(attrs: list[Any]) -> list[Any]:
    """Raw-mode attributes from ``attrs`` (cfmakeraw's, as Go's term.MakeRaw): bytes
    pass unchanged in both directions, one at a time, with no echo and no signals."""
    raw: list[Any] = list(attrs)
    raw[_IFLAG] = int(attrs[_IFLAG]) & ~(
        termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP | termios.INLCR
        | termios.IGNCR | termios.ICRNL | termios.IXON)
    raw[_OFLAG] = int(attrs[_OFLAG]) & ~termios.OPOST
    raw[_LFLAG] = int(attrs[_LFLAG]) & ~(
        termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    raw[_CFLAG] = (int(attrs[_CFLAG]) & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
    cc = list(attrs[_CC])
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    raw[_CC] = cc
    return raw


@contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """Put the terminal ``fd`` in raw mode, and back as it was on the way out (after
    an error too).  A descriptor that is no terminal is left alone."""
    try:
        saved = termios.tcgetattr(fd)
    except (termios.error, OSError):
        yield
        return
    termios.tcsetattr(fd, termios.TCSANOW, make_raw(saved))
    try:
        yield
    finally:
        try:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        except (termios.error, OSError):
            pass  # the terminal went away (its window was closed)


class WindowWatcher:
    """The size of the terminal ``fd``, with a descriptor that becomes readable when it
    may have changed (SIGWINCH): for an attach loop's ``select``.

    Use as a context manager; the SIGWINCH handler is installed only in the main thread
    (Python runs handlers nowhere else): elsewhere :meth:`fileno` never becomes ready
    and only the size at the start is used."""

    def __init__(self, fd: int):
        self.fd = fd
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._saved: Any = None
        self._installed = False

    def __enter__(self) -> WindowWatcher:
        if threading.current_thread() is threading.main_thread():
            self._saved = signal.signal(signal.SIGWINCH, self._changed)
            self._installed = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._installed:
            signal.signal(signal.SIGWINCH, self._saved)
            self._installed = False
        os.close(self._read)
        os.close(self._write)

    def _changed(self, signum: int, frame: Any) -> None:
        try:
            os.write(self._write, b"w")
        except OSError:
            pass  # the pipe is full: a change is noted already

    def fileno(self) -> int:
        """Readable once the window size may have changed."""
        return self._read

    def size(self) -> tuple[int, int] | None:
        """The current (rows, columns); reading it clears :meth:`fileno`."""
        try:
            while os.read(self._read, 64):
                pass
        except BlockingIOError:
            pass
        return window_size(self.fd)
