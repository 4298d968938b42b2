"""Declares the ``sqlite`` state backend; the store is imported by its factory."""

from __future__ import annotations

from pypod_core.plugin import StateBackend, hookimpl


def _make_state(runtime):
    from pypod_state_sqlite.store import SQLiteState  # lazy: only when the backend is built

    return SQLiteState.for_runtime(runtime)


@hookimpl
def pypod_state_backends():
    """The ``sqlite`` backend, pypod's default state store."""
    yield StateBackend(
        name="sqlite",
        factory=_make_state,
        description="persistent state in a SQLite database under static_dir",
    )
