"""A third-party plugin that adds a state backend named 'counting'."""

from pypod_core.plugin import StateBackend, hookimpl


def make_counting(runtime):
    from pypod_state_memory.store import MemoryState

    class CountingState(MemoryState):
        """Memory state that counts how often it is asked for all containers."""

        calls = 0

        def all_containers(self):
            CountingState.calls += 1
            return super().all_containers()

    return CountingState()


@hookimpl
def pypod_state_backends():
    yield StateBackend(name="counting", factory=make_counting, description="counts calls")
