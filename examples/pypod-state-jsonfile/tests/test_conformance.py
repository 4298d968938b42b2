"""The jsonfile backend passes pypod's state conformance kit."""

import os

import pytest
from pypod_state_jsonfile.store import JsonFileState

from pypod_core.testing import StateBackendTests


class TestJsonFileState(StateBackendTests):
    @pytest.fixture
    def make_state(self):
        return lambda directory: JsonFileState(os.path.join(directory, "state.json"))
