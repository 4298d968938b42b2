"""One of two plugins that both claim the state backend 'twin'."""

from pypod_core.plugin import StateBackend, hookimpl


@hookimpl
def pypod_state_backends():
    yield StateBackend(name="twin", factory=lambda runtime: None, description="twin")
