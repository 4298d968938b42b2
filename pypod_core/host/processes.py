"""Whether a process is alive, asked of the kernel by its pid, and which of them are a
runtime's exit commands."""

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


def cleanup_commands(graph_root: str) -> list[int]:
    """The pids of the exit commands (``pypod --root GRAPH_ROOT ... container cleanup``,
    and the shell waiting to run one) of the runtime at ``graph_root``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        roots = {args[i + 1] for i, arg in enumerate(args[:-1]) if arg == "--root"}
        if "cleanup" in args and graph_root in roots:
            found.append(int(entry))
    return found
