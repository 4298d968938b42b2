"""The iptables firewall writes exactly the seed's rules, with real iptables/ip6tables."""

from __future__ import annotations

import secrets
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import need_binary
from pypod_core.host import netns
from pypod_core.testing.firewall import cni_result
from pypod_core.testing.network import free_port, serve_once


@pytest.fixture
def firewall(tmp_path: Path):
    need_binary("iptables")
    need_binary("ip6tables")
    from pypod_firewall_iptables.iptables import IptablesFirewall

    return IptablesFirewall(lock_path=str(tmp_path / "iptables.lock"))


def rules(tool: str) -> list[str]:
    return subprocess.run([tool, "-w", "-S"], capture_output=True, text=True,
                          check=True).stdout.splitlines()


PYPOD_JUMP = '-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD'


@pytest.fixture
def foreign_jump(firewall) -> Iterator[str]:
    """Another tool's chain, its jump inserted first in FORWARD after pypod's exists (as
    podman's netavark and docker do); both families; removed afterwards."""
    earlier = cni_result("198.51.100.76/24", "2001:db8:76::6/64")
    firewall.add(earlier)  # pypod's chains and jumps exist (they stay after delete)
    firewall.delete(earlier)
    chain = f"PT-OTHER-{secrets.token_hex(4)}"
    for tool in ("iptables", "ip6tables"):
        subprocess.run([tool, "-w", "-N", chain], check=True)
        subprocess.run([tool, "-w", "-I", "FORWARD", "1", "-j", chain], check=True)
    yield chain
    for tool in ("iptables", "ip6tables"):
        subprocess.run([tool, "-w", "-D", "FORWARD", "-j", chain], capture_output=True)
        subprocess.run([tool, "-w", "-F", chain], capture_output=True)
        subprocess.run([tool, "-w", "-X", chain], capture_output=True)


def test_seed_chains_jumps_and_per_ip_rules(firewall, foreign_jump) -> None:
    result = cni_result("198.51.100.77/24", "2001:db8:77::7/64")
    firewall.add(result)
    try:
        for tool, cidr in (("iptables", "198.51.100.77/32"), ("ip6tables", "2001:db8:77::7/128")):
            lines = rules(tool)
            assert "-N CNI-FORWARD" in lines and "-N CNI-ADMIN" in lines
            forward = [r for r in lines if r.startswith("-A FORWARD ")]
            assert forward.count(PYPOD_JUMP) == 1, "FORWARD jumps to CNI-FORWARD once"
            # Above the jump another tool inserted first (the suite may run beside other
            # tests inserting their own: this test's is the one it can order against).
            assert forward.index(PYPOD_JUMP) < forward.index(f"-A FORWARD -j {foreign_jump}"), \
                "pypod's jump must come before other tools' jumps in FORWARD"
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


def _routed_netns(path: str, host_if: str, ns_if: str, host_ip: str, ns_ip: str) -> None:
    """Give the namespace at ``path`` a veth to the host, ``ns_ip``/30, routed via the
    host end ``host_ip``: traffic between two such namespaces crosses FORWARD."""
    subprocess.run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if],
                   check=True)
    subprocess.run(["ip", "link", "set", ns_if, "netns", path], check=True)
    subprocess.run(["ip", "addr", "add", f"{host_ip}/30", "dev", host_if], check=True)
    subprocess.run(["ip", "link", "set", host_if, "up"], check=True)

    def inside() -> None:  # a child forked from this thread starts in the namespace
        for cmd in (["addr", "add", f"{ns_ip}/30", "dev", ns_if], ["link", "set", ns_if, "up"],
                    ["route", "add", "default", "via", host_ip]):
            subprocess.run(["ip", *cmd], check=True)

    netns.run_in_netns(path, inside)


@pytest.fixture
def ipv4_forwarding():
    """IPv4 forwarding on for the test (the routed namespaces need it), as it was after."""
    path = "/proc/sys/net/ipv4/ip_forward"
    with open(path) as f:
        before = f.read().strip()
    with open(path, "w") as f:
        f.write("1")
    yield
    with open(path, "w") as f:
        f.write(before)


def test_traffic_passes_when_another_tools_jump_is_first_and_drops_it(
        firewall, foreign_jump, net_settings, tmp_path: Path, ipv4_forwarding) -> None:
    """Another tool's chain, first in FORWARD, drops the container's address: pypod's
    accept rules must still decide first (its jump existed before the other tool's)."""
    need_binary("ip")
    prefix = net_settings["default_bridge"][:-1]  # the fixture deletes links named so
    base = net_settings["default_subnet"].rsplit(".", 1)[0]
    client, server = (netns.create_netns(str(tmp_path / "netns"), n) for n in ("c", "s"))
    try:
        _routed_netns(client, f"{prefix}h1", f"{prefix}c1", f"{base}.1", f"{base}.2")
        _routed_netns(server, f"{prefix}h2", f"{prefix}c2", f"{base}.5", f"{base}.6")
        for args in (["-s", f"{base}.2/32"], ["-d", f"{base}.2/32"]):
            subprocess.run(["iptables", "-w", "-A", foreign_jump, *args, "-j", "DROP"],
                           check=True)
        result = cni_result(f"{base}.2/30")
        firewall.add(result)
        try:
            port = free_port()
            thread = serve_once(server, port)

            def fetch() -> bytes:
                with socket.create_connection((f"{base}.6", port), timeout=5) as conn:
                    return conn.recv(16)

            assert netns.run_in_netns(client, fetch) == b"pong"
            thread.join(5)
        finally:
            firewall.delete(result)
    finally:
        for path in (client, server):
            netns.remove_netns(path)
