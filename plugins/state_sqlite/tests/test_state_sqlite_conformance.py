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


class TestSQLiteStateOwnConnections(StateBackendTests):
    """The SQLite state as it works when the file system is too full for a WAL index:
    a connection of its own, in exclusive locking mode, per statement or transaction."""

    @pytest.fixture
    def make_state(self):
        from pypod_state_sqlite.database import EXCLUSIVE
        from pypod_state_sqlite.store import SQLiteState

        def make(directory):
            state = SQLiteState(os.path.join(directory, "db.sql"))
            assert state._db._readable_elsewise() and state._db.mode == EXCLUSIVE
            return state
        return make
