"""Files a process reads more than once, parsed once: the seccomp profile and the OCI
hook files are checked when a container is created and read again when it starts, and
``pypod run`` (or a program using the runtime) does both in one process.

A file is parsed again as soon as it changed: the cache is keyed by its device, inode,
size and modification time, so an edit between two uses is seen by the second, as it
would be without the cache.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
#: path -> (the file's stat key, the parser, what it returned)
_parsed: dict[str, tuple[tuple[int, int, int, int], Callable[[str], Any], Any]] = {}


def parsed(path: str, parse: Callable[[str], T]) -> T:
    """``parse(path)``, or what it returned for the same file unchanged since.  An
    OSError of the file (missing, unreadable) is raised as reading it would raise it;
    a failed parse is not kept.  The result is shared: callers must not change it."""
    st = os.stat(path)
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _lock:
        hit = _parsed.get(path)
    if hit is not None and hit[0] == key and hit[1] is parse:
        return hit[2]  # type: ignore[no-any-return]
    value = parse(path)
    with _lock:
        _parsed[path] = (key, parse, value)
    return value


def forget() -> None:
    """Drop every parsed file (tests)."""
    with _lock:
        _parsed.clear()
