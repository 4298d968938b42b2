"""The ``cni`` backend beyond the kit: config files, versions, errors, the DEL cache, and
no leaks, with the real CNI plugins on namespaces the tests make."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import socket
import struct
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary
from pypod_core.errors import ConfigError, NetworkError, NoSuchNetworkError
from pypod_core.host import netns
from pypod_core.model import PortMapping
from pypod_core.plugin.network import NetworkRequest
from pypod_core.testing.network import first_address, free_port, interfaces_in

CNI_DIRS = ("/usr/lib/cni", "/usr/libexec/cni", "/opt/cni/bin")


@pytest.fixture
def make_net(tmp_path: Path, net_settings: dict[str, str]) -> Iterator[Callable[..., Any]]:
    """Build a CNINetwork on this test's directories (keyword arguments override); what a
    failed test left attached is detached afterwards."""
    need_binary("iptables")
    from pypod_net_cni.network import CNINetwork

    def build(**kwargs: Any) -> CNINetwork:
        options: dict[str, Any] = dict(
            config_dir=str(tmp_path / "cni"), plugin_dirs=CNI_DIRS,
            cache_dir=str(tmp_path / "cache"),
            default_name="podman", **net_settings)
        options.update(kwargs)
        return CNINetwork(**options)

    yield build
    net = build()
    for container_id in net.cache.containers():
        if not container_id.startswith("."):
            net.teardown(NetworkRequest(container_id=container_id))


@pytest.fixture
def make_netns(tmp_path: Path) -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def make() -> str:
        made.append(netns.create_netns(str(tmp_path / "netns"), secrets.token_hex(4)))
        return made[-1]

    yield make
    for path in made:
        netns.remove_netns(path)


def request(path: str, **fields: Any) -> NetworkRequest:
    return NetworkRequest(container_id=secrets.token_hex(32), netns_path=path, **fields)


def write_conflist(directory: Path, file_name: str, data: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / file_name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def bridge_list(name: str, version: str, bridge: str, subnet: str, data_dir: str,
                extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    from pypod_net_cni.conflist import bridge_conflist

    data = bridge_conflist(name, bridge, subnet, data_dir)
    data["cniVersion"] = version
    data["plugins"] += extra or []
    return data


def mtu_of(ifname: str) -> int:
    """An interface's MTU by ioctl (SIOCGIFMTU): /sys shows the namespace of whoever
    mounted it, not the calling thread's."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        ifreq = fcntl.ioctl(sock, 0x8921, struct.pack("16si12x", ifname.encode(), 0))
        return int(struct.unpack("16si12x", ifreq)[1])


def nat_rules_of(container_id: str) -> list[str]:
    out = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True,
                         text=True, check=True).stdout
    return [line for line in out.splitlines() if container_id in line]


def leases(data_dir: Path) -> list[str]:
    """host-local's lease files: one per allocated address, named after it."""
    return [p.name for p in data_dir.rglob("*") if p.name[:1].isdigit() and "." in p.name
            and not p.name.startswith("last_reserved_ip")]


# -- config files --------------------------------------------------------------------------


def test_fresh_host_gets_pypods_own_default_network(make_net, tmp_path, net_settings) -> None:
    net = make_net()
    assert net.default_network() == "podman"  # podman's name, pypod's bridge and subnet
    path = tmp_path / "cni" / "87-pypod-bridge.conflist"
    data = json.loads(path.read_text())
    bridge, portmap = data["plugins"]
    assert bridge["bridge"] == net_settings["default_bridge"]
    assert bridge["ipam"]["ranges"][0][0]["subnet"] == net_settings["default_subnet"]
    assert bridge["ipam"]["type"] == "host-local"
    assert bridge["ipam"]["dataDir"] == net_settings["ipam_dir"]
    assert portmap == {"type": "portmap", "capabilities": {"portMappings": True}}
    assert not any(p["type"] == "firewall" for p in data["plugins"])
    # pypod's firewall masquerades the subnet, rather than the bridge plugin per container.
    assert bridge["ipMasq"] is False and data["pypod"] == {"masquerade": True}
    assert net.inspect("podman").masquerade


def test_default_network_of_an_older_store_is_still_the_default(make_net, tmp_path) -> None:
    # Before pypod took podman's name, the network it wrote was "pypod".
    d = tmp_path / "cni"
    write_conflist(d, "20-alpha.conflist", {"cniVersion": "1.0.0", "name": "alpha",
                                           "plugins": [{"type": "bridge"}]})
    write_conflist(d, "87-pypod-bridge.conflist", {"cniVersion": "1.0.0", "name": "pypod",
                                                  "plugins": [{"type": "bridge"}]})
    net = make_net()
    assert net.default_network() == "pypod"
    assert [n.name for n in net.networks() if n.default] == ["pypod"]
    assert not (d / "87-podman-bridge.conflist").exists()  # nothing new written


def test_files_sorted_first_of_a_name_wins_default_by_name_or_first(make_net, tmp_path) -> None:
    d = tmp_path / "cni"
    single = {"cniVersion": "0.4.0", "name": "zeta", "type": "bridge", "bridge": "x"}
    write_conflist(d, "30-zeta.conf", single)
    write_conflist(d, "20-alpha.conflist", {"cniVersion": "1.0.0", "name": "alpha",
                                           "plugins": [{"type": "loopback"}]})
    write_conflist(d, "40-alpha-again.json", {"cniVersion": "1.0.0", "name": "alpha",
                                             "plugins": [{"type": "bridge"}]})
    write_conflist(d, "10-ignored.txt", "not a config")
    net = make_net()
    infos = net.networks()
    assert [(n.name, os.path.basename(n.path)) for n in infos] == [
        ("alpha", "20-alpha.conflist"), ("zeta", "30-zeta.conf")]
    assert net.default_network() == "alpha"  # no network named "podman" (nor "pypod"): the first
    assert net.inspect("zeta").config["plugins"] == [{"type": "bridge", "bridge": "x"}]
    assert make_net(default_name="zeta").default_network() == "zeta"
    assert not (d / "87-pypod-bridge.conflist").exists()


def test_broken_conflist_is_a_one_line_error_naming_the_file(make_net, tmp_path,
                                                             make_netns) -> None:
    bad = write_conflist(tmp_path / "cni", "50-bad.conflist", '{"name": "bad", "plugins": [')
    net = make_net()
    with pytest.raises(ConfigError) as info:
        net.setup(request(make_netns()))
    message = str(info.value)
    assert str(bad) in message and "invalid CNI config" in message and "\n" not in message
    with pytest.raises(NoSuchNetworkError, match="50-bad.conflist"):
        net.inspect("bad")


def test_missing_plugin_binary_is_a_one_line_error_naming_it(make_net, tmp_path, make_netns,
                                                             net_settings) -> None:
    data = bridge_list("pypod", "1.0.0", net_settings["default_bridge"],
                       net_settings["default_subnet"], str(tmp_path / "ipam"),
                       extra=[{"type": "no-such-plugin"}])
    path = write_conflist(tmp_path / "cni", "10-pypod.conflist", data)
    ns = make_netns()
    with pytest.raises(NetworkError) as info:
        make_net().setup(request(ns))
    message = str(info.value)
    assert "'no-such-plugin' not found in /usr/lib/cni" in message
    assert str(path) in message and "\n" not in message
    assert interfaces_in(ns) == ["lo"]


# -- CNI versions, chaining, DEL cache -----------------------------------------------------


@pytest.mark.parametrize("version", ["0.4.0", "1.0.0"])
def test_spec_versions_add_check_del(version, make_net, tmp_path, make_netns,
                                     net_settings) -> None:
    # tuning reads the interface from prevResult: it proves results are chained.
    data = bridge_list("pypod", version, net_settings["default_bridge"],
                       net_settings["default_subnet"], str(tmp_path / "ipam"),
                       extra=[{"type": "tuning", "mtu": 1280}])
    write_conflist(tmp_path / "cni", "10-pypod.conflist", data)
    net = make_net()
    ns = make_netns()
    req = request(ns)
    result = net.setup(req)["pypod"]
    assert result["cniVersion"] == version
    assert netns.run_in_netns(ns, lambda: mtu_of("eth0")) == 1280
    net.check(req)
    net.teardown(req)
    assert interfaces_in(ns) == ["lo"]
    assert leases(tmp_path / "ipam") == []


def test_failure_in_the_middle_of_a_list_undoes_the_first_plugins(make_net, tmp_path,
                                                                  make_netns,
                                                                  net_settings) -> None:
    data = bridge_list("pypod", "1.0.0", net_settings["default_bridge"],
                       net_settings["default_subnet"], str(tmp_path / "ipam"),
                       extra=[{"type": "tuning", "sysctl": {"net.no.such.knob": "1"}}])
    write_conflist(tmp_path / "cni", "10-pypod.conflist", data)
    ns = make_netns()
    req = request(ns)
    with pytest.raises(NetworkError, match="tuning ADD failed"):
        make_net().setup(req)
    assert interfaces_in(ns) == ["lo"]
    assert leases(tmp_path / "ipam") == []
    assert nat_rules_of(req.container_id) == []
    assert not (tmp_path / "cache" / req.container_id).exists()


def test_del_after_a_crash_uses_the_cache_even_with_the_config_gone(make_net, tmp_path,
                                                                    make_netns) -> None:
    ns = make_netns()
    req = request(ns, port_mappings=(PortMapping(free_port(), 80),))
    make_net().setup(req)
    assert nat_rules_of(req.container_id)
    for conf in (tmp_path / "cni").iterdir():
        conf.unlink()
    # A new process (a new backend object) after the first one died; the namespace is
    # gone too, as after a reboot.
    netns.remove_netns(ns)
    make_net().teardown(NetworkRequest(container_id=req.container_id))
    assert nat_rules_of(req.container_id) == []
    assert leases(tmp_path / "ipam") == []
    assert not (tmp_path / "cache" / req.container_id).exists()


def test_create_picks_a_free_bridge_and_subnet_and_remove_deletes_the_bridge(
        make_net, net_settings, make_netns) -> None:
    net = make_net()
    default = net.inspect(net.default_network())
    made = net.create("second")
    assert made.interface != default.interface
    assert made.interface.startswith(net_settings["default_bridge"][:-1])
    assert made.subnets != default.subnets
    ns = make_netns()
    req = request(ns, networks=("second",))
    net.setup(req)
    assert os.path.exists(f"/sys/class/net/{made.interface}")
    net.teardown(req)
    net.remove("second")
    assert not os.path.exists(f"/sys/class/net/{made.interface}")


# -- leaks -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_no_leak_after_many_cycles(make_net, tmp_path, make_netns) -> None:
    from pypod_firewall_iptables.iptables import IptablesFirewall

    net = make_net()
    firewall = IptablesFirewall(lock_path=str(tmp_path / "fw.lock"))
    ids, addresses = [], set()
    for _ in range(10):
        ns = make_netns()
        req = request(ns, port_mappings=(PortMapping(free_port(), 80),))
        ids.append(req.container_id)
        results = net.setup(req)
        for result in results.values():
            firewall.add(result)
            addresses.add(first_address(result))
        for result in results.values():
            firewall.delete(result)
        net.teardown(req)
        netns.remove_netns(ns)
    filter_rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True,
                                  check=True).stdout
    assert not [a for a in addresses if f" {a}/" in filter_rules]
    assert not [i for i in ids if nat_rules_of(i)]
    assert leases(tmp_path / "ipam") == []
    assert netns.list_netns(str(tmp_path / "netns")) == []
    assert os.listdir(tmp_path / "cache") in ([], [".standin"])


def test_a_failed_first_attach_does_not_break_the_next(make_net, make_netns) -> None:
    """A first ADD that fails in IPAM leaves a new bridge without ports, whose MAC the
    kernel zeroes; the bridge plugin's next ADD trips over that once (pypod retries)."""
    net = make_net()
    with pytest.raises(NetworkError, match="203.0.113.9"):
        net.setup(request(make_netns(), static_ip="203.0.113.9"))
    req = request(make_netns())
    result = net.setup(req)
    assert first_address(result["podman"])
    net.teardown(req)


def test_concurrent_attachments_get_distinct_addresses(make_net, make_netns, tmp_path) -> None:
    """Four namespaces attached at once (as four pypod processes would): host-local's
    lock and the firewall's make each get its own address and its own rules."""
    from concurrent.futures import ThreadPoolExecutor

    from pypod_firewall_iptables.iptables import IptablesFirewall

    firewall = IptablesFirewall(lock_path=str(tmp_path / "fw.lock"))
    requests = [request(make_netns()) for _ in range(4)]

    def attach(req: NetworkRequest) -> str:
        result = make_net().setup(req)["podman"]
        firewall.add(result)
        return first_address(result)

    with ThreadPoolExecutor(4) as pool:
        addresses = list(pool.map(attach, requests))
    assert len(set(addresses)) == 4
    rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
    assert all(f"-A CNI-FORWARD -s {a}/32 -j ACCEPT" in rules for a in addresses)
    net = make_net()
    for req, address in zip(requests, addresses, strict=True):
        firewall.delete({"ips": [{"address": f"{address}/24"}]})
        net.teardown(req)
    assert leases(tmp_path / "ipam") == []


def test_teardown_after_a_crash_during_an_earlier_del(make_net, tmp_path, make_netns) -> None:
    """A process killed during DEL leaves its stand-in namespace behind: the next teardown
    must still undo the attachment, not fail on the leftover for ever."""
    ns = make_netns()
    req = request(ns, port_mappings=(PortMapping(free_port(), 80),))
    make_net().setup(req)
    netns.remove_netns(ns)
    standin_dir = tmp_path / "cache" / ".standin"
    leftover = netns.create_netns(str(standin_dir), f"standin-{req.container_id[:16]}-eth0")
    make_net().teardown(NetworkRequest(container_id=req.container_id))
    assert nat_rules_of(req.container_id) == []
    assert not (tmp_path / "cache" / req.container_id).exists()
    assert netns.list_netns(str(standin_dir)) == [] and not os.path.exists(leftover)


def test_a_hung_plugin_is_killed_and_reported(tmp_path, monkeypatch) -> None:
    """A plugin that never answers (nor its children) is a NetworkError, not a hang."""
    from pypod_net_cni import invoke

    hung = tmp_path / "hung"
    hung.write_text("#!/bin/sh\nsleep 60 &\nsleep 60\n")
    hung.chmod(0o755)
    monkeypatch.setattr(invoke, "PLUGIN_TIMEOUT", 0.5)
    inv = invoke.Invocation(command="ADD", container_id="c" * 64, netns="/x", ifname="eth0")
    with pytest.raises(NetworkError, match="hung ADD: no answer within 0.5s"):
        invoke.exec_plugin(str(hung), {"cniVersion": "1.0.0", "name": "n", "type": "hung"},
                           inv)


@pytest.mark.parametrize("settings,error", [
    ({"default_subnet": "10.1.2.3/16"}, "'default_subnet': 10.1.2.3/16 has host bits set"),
    ({"subnet_pool": "nonsense"}, "'subnet_pool': 'nonsense' does not appear to be"),
    ({"subnet_pool": "10.91.0.0/26"}, "'subnet_pool': 10.91.0.0/26 is smaller than the /24"),
    ({"ipam_dir": "run/ipam"}, "'ipam_dir': 'run/ipam' is not an absolute path"),
])
def test_bad_subnet_settings_are_config_errors(make_runtime, tmp_path, settings,
                                               error) -> None:
    """A malformed subnet in [plugins.net_cni] is a one-line ConfigError naming the key,
    not a ValueError traceback at the first network command."""
    import tomli_w
    from pypod_net_cni.network import CNINetwork

    path = tmp_path / "bad-net.conf"
    path.write_text(tomli_w.dumps({"plugins": {"net_cni": settings}}))
    with pytest.raises(ConfigError, match=error) as info:
        CNINetwork.for_runtime(make_runtime(state_type="memory", config_path=str(path)))
    assert str(path) in str(info.value)


def test_del_without_the_namespace_needs_no_standin(make_net, make_netns, tmp_path,
                                                   monkeypatch) -> None:
    """No plugin of the default list masquerades: with the namespace gone, DEL runs with
    no namespace at all (no stand-in to build), and still frees the lease and the ports."""
    from pypod_net_cni import network as cni_network
    from pypod_net_cni.standin import needs_standin

    def no_standin(*args: object) -> str:
        raise AssertionError("a stand-in namespace was built")

    monkeypatch.setattr(cni_network, "make_standin", no_standin)
    ns = make_netns()
    req = request(ns, port_mappings=(PortMapping(free_port(), 80),))
    net = make_net()
    net.setup(req)
    assert leases(tmp_path / "ipam")
    netns.remove_netns(ns)
    net.teardown(req)
    assert leases(tmp_path / "ipam") == [] and nat_rules_of(req.container_id) == []
    assert needs_standin([{"type": "bridge", "ipMasq": True}, {"type": "portmap"}])
    assert not needs_standin([{"type": "bridge", "ipMasq": False}, {"type": "portmap"}])
