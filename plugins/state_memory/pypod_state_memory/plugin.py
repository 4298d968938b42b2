"""Declares the ``memory`` state backend; the store itself is imported by its factory."""

from __future__ import annotations

from pypod_core.plugin import StateBackend, hookimpl


def _make_state(runtime):
    from pypod_state_memory.store import MemoryState  # lazy: only when the backend is built

    return MemoryState()


@hookimpl
def pypod_state_backends():
    """The ``memory`` backend: nothing outlives the process."""
    yield StateBackend(
        name="memory",
        factory=_make_state,
        description="in-memory state for one process (tests, embedding)",
    )
