"""Whether a process is alive, asked of the kernel by its pid."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (signal 0: nothing is sent).  A process of
    another user counts as alive; a pid of 0 or less is no process."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
