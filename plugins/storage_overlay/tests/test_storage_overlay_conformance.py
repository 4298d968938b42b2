"""The bundled graph drivers pass the graph driver kit."""

from __future__ import annotations

import pytest
from pypod_storage_overlay.overlay import OverlayDriver
from pypod_storage_overlay.vfs import VfsDriver

from pypod_core.testing import GraphDriverTests


class TestOverlay(GraphDriverTests):
    @pytest.fixture
    def driver(self, tmp_path):
        return OverlayDriver(str(tmp_path / "graph" / "overlay"))


class TestVfs(GraphDriverTests):
    # vfs copies the parent into every layer: 500 layers would be 125,000 file copies.
    many_layers = 60

    @pytest.fixture
    def driver(self, tmp_path):
        return VfsDriver(str(tmp_path / "graph" / "vfs"))
