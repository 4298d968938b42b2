"""A command on a real pseudo-terminal, driven as a user would: type, read what the
screen shows, resize the window (for tests of interactive containers).

:class:`PtySession` starts the command with a new pseudo-terminal as its stdin,
stdout and stderr (or stdin only, ``output="pipe"``, to read a clean stdout), and
waits for what the screen shows with :meth:`~PtySession.expect`: a test waits for
text, never for a time.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Mapping, Sequence

#: How long expect() waits by default: long enough for a busy machine.
TIMEOUT = 30.0


class PtySession:
    """``argv`` running on a pseudo-terminal of ``rows`` x ``cols``."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
                 rows: int = 24, cols: int = 80, output: str = "pty"):
        self.master, slave = os.openpty()
        self.resize(rows, cols, signal_child=False)
        out = slave if output == "pty" else subprocess.PIPE
        self.proc = subprocess.Popen(list(argv), stdin=slave, stdout=out, stderr=out,
                                     env={**os.environ, **(env or {})},
                                     start_new_session=True, close_fds=True)
        os.close(slave)
        self.screen = b""
        self._seen = 0

    def send(self, data: bytes | str) -> None:
        """Type ``data`` (str is UTF-8)."""
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def resize(self, rows: int, cols: int, signal_child: bool = True) -> None:
        """Resize the window, and tell the command as a terminal would (SIGWINCH)."""
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        if signal_child and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGWINCH)

    def _read(self, timeout: float) -> bool:
        """Read what is there within ``timeout``; False once the terminal is closed."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every process holding the terminal is gone
            return False
        self.screen += data
        return bool(data)

    def expect(self, pattern: bytes | str, timeout: float = TIMEOUT) -> re.Match[bytes]:
        """Wait until the screen shows ``pattern`` (a regular expression) after what
        earlier calls matched; the match.  AssertionError with the screen if it does
        not come."""
        regex = re.compile(pattern.encode() if isinstance(pattern, str) else pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.screen, self._seen)
            if found:
                self._seen = found.end()
                return found
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.5)) and not regex.search(
                    self.screen, self._seen):
                raise AssertionError(f"{pattern!r} not shown within {timeout}s; the "
                                     f"screen after the last match: "
                                     f"{self.screen[self._seen:]!r}")

    def wait_raw(self, timeout: float = TIMEOUT) -> None:
        """Wait until the command has put the terminal in raw mode (no line editing, no
        echo): from then on what is typed reaches it as it is."""
        deadline = time.monotonic() + timeout
        while termios.tcgetattr(self.master)[3] & (termios.ICANON | termios.ECHO):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"the terminal is not in raw mode; the screen: "
                                     f"{self.screen[-500:]!r}")
            self._read(0.02)

    def wait(self, timeout: float = TIMEOUT) -> int:
        """The command's exit code, once it exits (reading the screen meanwhile)."""
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"still running after {timeout}s; the screen: "
                                     f"{self.screen[-500:]!r}")
            if not self._read(0.1):
                time.sleep(0.05)
        while self._read(0):
            pass
        return self.proc.returncode

    def close(self) -> None:
        """Kill the command if it still runs; close the terminal."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        os.close(self.master)

    def __enter__(self) -> PtySession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
