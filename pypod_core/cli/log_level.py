"""``--log-level`` and ``--debug``/``-D``: which of pypod's own log lines reach stderr.

The levels are podman's (logrus'): ``trace``, ``debug``, ``info``, ``warn`` (the default,
``warning`` alike), ``error``, ``fatal``, ``panic``.  Lines are written as podman writes
them, ``time="..." level=LEVEL msg="..."``, so that scripts reading podman's logs read
pypod's.  What pypod logs:

- info: the level it filters at;
- debug: the command called, and the directories and backends of the runtime it built;
- trace: each runtime stage, the plugin that served it and how long it took.

Warnings and errors keep their own form (``WARN: ...``, ``Error: ...``).  An unknown level,
or ``--debug`` with ``--log-level``, is refused in podman's words with exit 1.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Final

from pypod_core.errors import InvalidArgError

if TYPE_CHECKING:
    from pypod_core.engine.runtime import Runtime

#: podman's levels, most verbose first (``warning`` is ``warn``).
LEVELS: Final = ("trace", "debug", "info", "warn", "warning", "error", "fatal", "panic")
_RANK: Final = {"trace": 0, "debug": 1, "info": 2, "warn": 3, "warning": 3, "error": 4,
                "fatal": 5, "panic": 6}
#: podman's exit code for a log level it does not know (its flag check, before any command).
EXIT_BAD_LEVEL: Final = 1


class LogLevelError(InvalidArgError):
    """A bad ``--log-level``/``--debug``: podman prints it bare and exits 1."""


def chosen_level(log_level: str | None, debug: bool) -> str:
    """The level the flags select (``warn`` if none); LogLevelError in podman's words
    for an unknown one or for both flags."""
    if debug and log_level is not None:
        raise LogLevelError("Setting --log-level and --debug is not allowed")
    if debug:
        return "debug"
    level = "warn" if log_level is None else log_level
    if level not in _RANK:
        raise LogLevelError(f'Log Level "{level}" is not supported, choose from: '
                            f'{", ".join(LEVELS)}')
    return level


class Logger:
    """Writes pypod's log lines of the levels at or above its own to stderr."""

    def __init__(self, level: str):
        self.level = level

    def enabled(self, level: str) -> bool:
        """Whether lines of ``level`` are written."""
        return _RANK[level] >= _RANK[self.level]

    def log(self, level: str, message: str) -> None:
        """One line, logrus' text form (``msg`` quoted, its quotes escaped)."""
        if not self.enabled(level):
            return
        stamp = _rfc3339(time.time())
        quoted = message.replace("\\", "\\\\").replace('"', '\\"')
        sys.stderr.write(f'time="{stamp}" level={level} msg="{quoted}"\n')

    def started(self, command: str, argv: list[str]) -> None:
        """The lines of a command's start: the level filtered at, the command called."""
        self.log("info", f"pypod filtering at log level {self.level}")
        self.log("debug", f"Called {command} ({' '.join(['pypod', *argv])})")

    def runtime_built(self, runtime: Runtime) -> None:
        """The runtime's directories and backends (debug), its stages (trace)."""
        if not self.enabled("debug"):
            return
        c = runtime.config
        for what, value in (("graph root", c.graph_root), ("run root", c.run_root),
                            ("static dir", c.static_dir), ("tmp dir", c.tmp_dir),
                            ("volume path", c.volume_path), ("state backend", c.state_type),
                            ("OCI runtime", c.runtime)):
            self.log("debug", f"Using {what} {value}")
        for stage, served_by, elapsed_ms in runtime.stage_timings:
            self.log("trace", f"stage {stage} served by {served_by or 'nothing'} in "
                              f"{elapsed_ms:.2f} ms")


def _rfc3339(now: float) -> str:
    """``2026-01-02T03:04:05Z`` (or ``+01:00``), as logrus stamps its lines."""
    local = time.localtime(now)
    offset = local.tm_gmtoff or 0
    zone = "Z" if offset == 0 else (f"{'+' if offset > 0 else '-'}{abs(offset) // 3600:02d}:"
                                    f"{abs(offset) % 3600 // 60:02d}")
    return time.strftime("%Y-%m-%dT%H:%M:%S", local) + zone
