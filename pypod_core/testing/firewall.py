"""The firewall conformance kit: :class:`FirewallBackendTests`.

Subclass it and provide the ``firewall`` fixture::

    class TestNftFirewall(FirewallBackendTests):
        @pytest.fixture
        def firewall(self, tmp_path):
            return NftFirewall(lock_path=str(tmp_path / "lock"))

A backend that writes no rules at all (``none``) sets ``writes_rules = False``.  The
tests use addresses of the documentation ranges (198.51.100.0/24, 2001:db8::/32), each
test its own, so they never match real traffic and never collide with other tests.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from pypod_core.plugin.firewall import Firewall


def cni_result(*addresses: str) -> dict[str, Any]:
    """A CNI 1.0.0 result with these container addresses (CIDR strings)."""
    return {
        "cniVersion": "1.0.0",
        "interfaces": [{"name": "eth0", "mac": "02:00:00:00:00:01", "sandbox": "/x"}],
        "ips": [{"address": a, "interface": 0} for a in addresses],
    }


def _random_result(v6: bool = False) -> dict[str, Any]:
    octet = 2 + secrets.randbelow(250)
    addresses = [f"198.51.100.{octet}/24"]
    if v6:
        addresses.append(f"2001:db8:{secrets.token_hex(2)}::{octet:x}/64")
    return cni_result(*addresses)


class FirewallBackendTests:
    """Behaviour every firewall backend must have; subclass and give ``firewall``."""

    #: False for a backend that never writes rules (``none``).
    writes_rules: bool = True

    @pytest.fixture
    def firewall(self) -> Firewall:
        """The backend under test (override)."""
        raise NotImplementedError("subclass FirewallBackendTests and provide `firewall`")

    @pytest.fixture
    def results(self, firewall: Firewall) -> Iterator[list[dict[str, Any]]]:
        """A list the test appends its results to; their rules are deleted afterwards."""
        made: list[dict[str, Any]] = []
        yield made
        for result in made:
            firewall.delete(result)

    def test_add_then_delete_leaves_no_rule(self, firewall: Firewall, results: list) -> None:
        result = _random_result()
        results.append(result)
        firewall.add(result)
        assert bool(firewall.rules(result)) is self.writes_rules
        firewall.delete(result)
        assert firewall.rules(result) == []

    def test_add_is_idempotent(self, firewall: Firewall, results: list) -> None:
        result = _random_result()
        results.append(result)
        firewall.add(result)
        once = firewall.rules(result)
        firewall.add(result)
        assert firewall.rules(result) == once

    def test_delete_tolerates_rules_already_gone(self, firewall: Firewall) -> None:
        result = _random_result()
        firewall.delete(result)
        firewall.add(result)
        firewall.delete(result)
        firewall.delete(result)
        assert firewall.rules(result) == []

    def test_delete_removes_only_that_address(self, firewall: Firewall, results: list) -> None:
        first = cni_result("198.51.100.201/24")
        second = cni_result("198.51.100.202/24")
        results += [first, second]
        firewall.add(first)
        firewall.add(second)
        kept = firewall.rules(second)
        firewall.delete(first)
        assert firewall.rules(first) == []
        assert firewall.rules(second) == kept

    def test_both_ip_families(self, firewall: Firewall, results: list) -> None:
        result = _random_result(v6=True)
        results.append(result)
        firewall.add(result)
        rules = firewall.rules(result)
        if self.writes_rules:
            for address in (ip["address"] for ip in result["ips"]):
                bare = str(ipaddress.ip_interface(address).ip)
                assert any(f" {bare}/" in rule for rule in rules), (bare, rules)
        firewall.delete(result)
        assert firewall.rules(result) == []

    def test_result_without_addresses_is_a_no_op(self, firewall: Firewall) -> None:
        empty = cni_result()
        firewall.add(empty)
        firewall.delete(empty)
        assert firewall.rules(empty) == []

    def test_masquerade_is_idempotent_and_undone(self, firewall: Firewall) -> None:
        subnets = [f"198.51.100.{16 * (1 + secrets.randbelow(14))}/28",
                   f"2001:db8:{secrets.token_hex(2)}::/64"]
        # As masqueraded() spells them: "2001:db8:0a1b::/64" is listed as 2001:db8:a1b::/64.
        expected = [str(ipaddress.ip_network(s)) for s in subnets]
        try:
            firewall.masquerade(subnets)
            firewall.masquerade(subnets)
            now = firewall.masqueraded()
            if self.writes_rules:
                assert [s for s in now if s in expected] == expected
            else:
                assert now == []
        finally:
            firewall.unmasquerade(subnets)
        assert not [s for s in firewall.masqueraded() if s in expected]
        firewall.unmasquerade(subnets)
