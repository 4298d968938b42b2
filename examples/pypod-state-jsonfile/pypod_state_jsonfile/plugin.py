"""Declare the backend; import the implementation only when it is built."""

from __future__ import annotations

import os

from pypod_core.plugin import StateBackend, hookimpl


def make_state(runtime):
    from pypod_state_jsonfile.store import JsonFileState

    return JsonFileState(os.path.join(runtime.config.static_dir, "state.json"))


@hookimpl
def pypod_state_backends():
    yield StateBackend(name="jsonfile", factory=make_state,
                       description="containers and pods in one JSON file (example)")
