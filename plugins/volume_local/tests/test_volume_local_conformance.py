"""The bundled local volume driver passes the volume driver kit, plain and as a tmpfs."""

from __future__ import annotations

import pytest
from pypod_volume_local.local import LocalDriver

from pypod_core.testing import VolumeDriverTests


class TestLocal(VolumeDriverTests):
    mount_options = {"type": "tmpfs", "device": "tmpfs", "o": "size=4m,mode=0700"}
    options = {"o": "uid=1000,gid=1000", "nocopy": "", "noquota": ""}

    @pytest.fixture
    def driver(self, tmp_path):
        return LocalDriver(str(tmp_path / "volumes"))
