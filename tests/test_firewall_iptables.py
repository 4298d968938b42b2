"""The iptables firewall writes exactly the seed's rules, with real iptables/ip6tables."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from conftest import need_binary

from pypod_core.testing.firewall import cni_result


@pytest.fixture
def firewall(tmp_path: Path):
    need_binary("iptables")
    need_binary("ip6tables")
    from pypod_firewall_iptables.iptables import IptablesFirewall

    return IptablesFirewall(lock_path=str(tmp_path / "iptables.lock"))


def rules(tool: str) -> list[str]:
    return subprocess.run([tool, "-w", "-S"], capture_output=True, text=True,
                          check=True).stdout.splitlines()


def test_seed_chains_jumps_and_per_ip_rules(firewall) -> None:
    result = cni_result("198.51.100.77/24", "2001:db8:77::7/64")
    firewall.add(result)
    try:
        for tool, cidr in (("iptables", "198.51.100.77/32"), ("ip6tables", "2001:db8:77::7/128")):
            lines = rules(tool)
            assert "-N CNI-FORWARD" in lines and "-N CNI-ADMIN" in lines
            forward = [r for r in lines if r.startswith("-A FORWARD ")]
            assert forward[0] == ('-A FORWARD -m comment --comment "CNI firewall plugin rules" '
                                  "-j CNI-FORWARD"), "the jump must come first in FORWARD"
            ours = [r for r in lines if r.startswith("-A CNI-FORWARD ")]
            assert ours[0].endswith("-j CNI-ADMIN"), "admin overrides are consulted first"
            assert (f"-A CNI-FORWARD -d {cidr} -m conntrack --ctstate RELATED,ESTABLISHED "
                    "-j ACCEPT") in ours
            assert f"-A CNI-FORWARD -s {cidr} -j ACCEPT" in ours
    finally:
        firewall.delete(result)
    for tool, bare in (("iptables", "198.51.100.77/"), ("ip6tables", "2001:db8:77::7/")):
        lines = rules(tool)
        assert not [r for r in lines if bare in r]
        # The shared chains and the jump stay: other containers' rules live there.
        assert "-N CNI-FORWARD" in lines


def test_add_twice_keeps_one_copy_of_each_rule(firewall) -> None:
    result = cni_result("198.51.100.78/24")
    try:
        firewall.add(result)
        firewall.add(result)
        lines = rules("iptables")
        assert sum("198.51.100.78/32" in r for r in lines) == 2
        assert sum("-j CNI-FORWARD" in r for r in lines if r.startswith("-A FORWARD")) == 1
    finally:
        firewall.delete(result)


def test_rules_deleted_behind_its_back_are_tolerated(firewall) -> None:
    result = cni_result("198.51.100.79/24")
    firewall.add(result)
    subprocess.run(["iptables", "-w", "-D", "CNI-FORWARD", "-s", "198.51.100.79/32", "-j",
                    "ACCEPT"], check=True)
    firewall.delete(result)
    assert not [r for r in rules("iptables") if "198.51.100.79/" in r]


def test_a_command_that_hangs_is_a_firewall_error(monkeypatch) -> None:
    """iptables -w waits for the xtables lock for ever; pypod gives up with one line."""
    from pypod_firewall_iptables import iptables

    from pypod_core.errors import FirewallError

    monkeypatch.setattr(iptables, "COMMAND_TIMEOUT", 0.3)
    with pytest.raises(FirewallError, match="sleep 10: no answer within 0.3s"):
        iptables._checked(["sleep", "10"])


def test_rules_lists_a_duplicate_twice(firewall) -> None:
    """rules() must show a rule added twice, or the kit's idempotency test cannot fail."""
    result = cni_result("198.51.100.80/24")
    firewall.add(result)
    extra = ["CNI-FORWARD", "-s", "198.51.100.80/32", "-j", "ACCEPT"]
    subprocess.run(["iptables", "-w", "-A", *extra], check=True)
    try:
        assert firewall.rules(result).count("-A CNI-FORWARD -s 198.51.100.80/32 -j ACCEPT") == 2
    finally:
        subprocess.run(["iptables", "-w", "-D", *extra], check=True)
        firewall.delete(result)
    assert firewall.rules(result) == []


def test_a_firewall_lock_held_too_long_is_a_firewall_error(firewall, monkeypatch,
                                                           tmp_path: Path) -> None:
    from pypod_firewall_iptables import iptables

    from pypod_core.errors import FirewallError
    from pypod_core.host.locks import FileLock

    monkeypatch.setattr(iptables, "COMMAND_TIMEOUT", 0.2)
    holder = FileLock(str(tmp_path / "iptables.lock")).acquire()
    try:
        with pytest.raises(FirewallError, match="held the firewall lock"):
            firewall.add(cni_result("10.203.7.9/24"))
    finally:
        holder.release()
    assert "10.203.7.9" not in "".join(rules("iptables"))
