"""The bundled state backends pass the conformance kit (pypod_core.testing)."""

from __future__ import annotations

import os

import pytest

from pypod_core.testing import StateBackendTests


class TestMemoryState(StateBackendTests):
    persistent = False

    @pytest.fixture
    def make_state(self):
        from pypod_state_memory.store import MemoryState
        return lambda directory: MemoryState()


class TestSQLiteState(StateBackendTests):
    @pytest.fixture
    def make_state(self):
        from pypod_state_sqlite.store import SQLiteState
        return lambda directory: SQLiteState(os.path.join(directory, "db.sql"))
