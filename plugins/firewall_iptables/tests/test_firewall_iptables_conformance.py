"""The bundled firewall backends pass the conformance kit (real iptables/ip6tables)."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import need_binary
from pypod_core.plugin.firewall import Firewall
from pypod_core.testing import FirewallBackendTests


class TestIptablesFirewall(FirewallBackendTests):
    @pytest.fixture
    def firewall(self, tmp_path: Path) -> Firewall:
        need_binary("iptables")
        need_binary("ip6tables")
        from pypod_firewall_iptables.iptables import IptablesFirewall

        return IptablesFirewall(lock_path=str(tmp_path / "iptables.lock"))


class TestNoFirewall(FirewallBackendTests):
    writes_rules = False

    @pytest.fixture
    def firewall(self) -> Firewall:
        from pypod_firewall_iptables.none import NoFirewall

        return NoFirewall()
