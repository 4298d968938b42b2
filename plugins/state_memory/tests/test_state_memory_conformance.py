"""The in-memory state backend passes the state conformance kit."""

from __future__ import annotations

import pytest

from pypod_core.testing import StateBackendTests


class TestMemoryState(StateBackendTests):
    persistent = False

    @pytest.fixture
    def make_state(self):
        from pypod_state_memory.store import MemoryState

        return lambda directory: MemoryState()
