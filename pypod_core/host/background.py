"""Independent steps side by side: a call on a thread of its own, joined later.

Most of a container's clean-up is waiting for other processes (``runc delete``, CNI
plugins, ``iptables-restore``); steps that do not depend on each other wait at the same
time instead of one after the other.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class Background:
    """``func(*args)`` started on a thread now; :meth:`result` waits for it and returns
    its value or raises its exception in the caller's thread."""

    def __init__(self, func: Callable[..., Any], *args: Any):
        self._outcome: tuple[bool, Any] = (False, None)
        self._thread = threading.Thread(target=self._run, args=(func, args), daemon=True,
                                        name=f"pypod-{getattr(func, '__name__', 'step')}")
        self._thread.start()

    def _run(self, func: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            self._outcome = (True, func(*args))
        except BaseException as exc:  # re-raised by result(), in the caller's thread
            self._outcome = (False, exc)

    def wait(self) -> None:
        """Wait for the call to end, whatever its outcome (after a failure elsewhere)."""
        self._thread.join()

    def result(self) -> Any:
        """Wait for the call to end; its return value, or its exception raised here."""
        self.wait()
        ok, value = self._outcome
        if not ok:
            raise value
        return value
