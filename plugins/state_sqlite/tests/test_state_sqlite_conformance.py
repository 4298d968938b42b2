"""The SQLite state backend passes the state conformance kit."""

from __future__ import annotations

import os

import pytest

from pypod_core.testing import StateBackendTests


class TestSQLiteState(StateBackendTests):
    @pytest.fixture
    def make_state(self):
        from pypod_state_sqlite.store import SQLiteState

        return lambda directory: SQLiteState(os.path.join(directory, "db.sql"))
