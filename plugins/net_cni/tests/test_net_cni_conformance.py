"""The bundled ``cni`` network backend passes the conformance kit (real CNI plugins, on
network namespaces the tests make)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import need_binary
from pypod_core.plugin.network import Network
from pypod_core.testing import NetworkBackendTests

CNI_DIRS = ("/usr/lib/cni", "/usr/libexec/cni", "/opt/cni/bin")


class TestCNINetwork(NetworkBackendTests):
    @pytest.fixture
    def network(self, tmp_path: Path, net_settings: dict[str, str]) -> Iterator[Network]:
        need_binary("iptables")
        from pypod_net_cni.network import CNINetwork

        yield CNINetwork(config_dir=str(tmp_path / "cni"), plugin_dirs=CNI_DIRS,
                         cache_dir=str(tmp_path / "cache"),
                         default_name="kit", **net_settings)
