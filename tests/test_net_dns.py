"""Name resolution on networks, as podman 4.3's CNI backend gives it: a created network
runs the ``dnsname`` plugin (a dnsmasq on its bridge), its containers resolve each
other's names and ``--network-alias`` names, their resolv.conf names the network's
gateway first and searches ``dns.podman``; ``--disable-dns`` and the default network
have none; the dnsmasq goes with the last container, or with the network."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from pathlib import Path
from typing import Any

import pytest
import test_net_cli
from pypod_net_cni import dnsmasq

from conftest import need_binary
from pypod_core.host import netns
from pypod_core.plugin.network import NetworkRequest

#: The fixture running pypod on this test's network config (test_net_cli's).
pypod = test_net_cli.pypod


@pytest.fixture
def dns_pypod(pypod: Any) -> Any:
    """``pypod``, where the dnsname plugin and dnsmasq are installed."""
    need_binary("dnsmasq", "dnsmasq-base")
    if not os.path.exists("/usr/lib/cni/dnsname"):  # a CNI plugin: not on any PATH
        need_binary("dnsname", "golang-github-containernetworking-plugin-dnsname")
    return pypod


def _inspect(pypod: Any, network: str) -> dict[str, Any]:
    [info] = json.loads(pypod("network", "inspect", network).stdout)
    return info


def _lookup(pypod: Any, rootfs: str, network: str, name: str) -> str:
    """The address ``name`` resolves to from a new container on ``network`` ("" if none)."""
    out = pypod("run", "--rm", "--network", network, "--rootfs", rootfs,
                "sh", "-c", f"nslookup {name} || true").stdout
    answers = out.split("Name:", 1)[1:] or [""]
    found = [line.split()[1] for line in answers[0].splitlines()
             if line.startswith("Address:") and len(line.split()) == 2]
    return found[0] if found else ""


def _ip(pypod: Any, ctr: str, network: str) -> str:
    fmt = "{{(index .NetworkSettings.Networks " + json.dumps(network) + ").IPAddress}}"
    return str(pypod("inspect", "--format", fmt, ctr).stdout.strip())


def test_containers_resolve_each_other_by_name_and_alias(dns_pypod, rootfs, net_settings) -> None:
    pypod = dns_pypod
    pypod("network", "create", "named")
    info = _inspect(pypod, "named")
    assert info["dns_enabled"] is True
    assert info["plugins"][-1] == {"type": "dnsname", "domainName": "dns.podman",
                                   "capabilities": {"aliases": True}}
    gateway = info["subnets"][0]["gateway"]
    cid = pypod("run", "-d", "--name", "db", "--network", "named", "--network-alias",
                "pg,primary", "--rootfs", rootfs, "sleep", "1000").stdout.strip()
    try:
        address = _ip(pypod, cid, "named")
        for name in ("db", "pg", "primary", cid[:12], "db.dns.podman"):
            assert _lookup(pypod, rootfs, "named", name) == address, name
        assert _lookup(pypod, rootfs, "named", "nosuchname") == ""
        resolv = pypod("run", "--rm", "--network", "named", "--dns-option", "ndots:1",
                       "--rootfs", rootfs, "cat", "/etc/resolv.conf").stdout.splitlines()
        # podman's order: the network's search domain and server first, the host's after
        assert resolv[0].split()[:2] == ["search", "dns.podman"]
        assert resolv[1] == f"nameserver {gateway}"
        assert dnsmasq.server_pid(net_settings["dns_dir"], "named") is not None
    finally:
        pypod("rm", "-f", "-t", "0", cid)
    # The last container gone, its DEL stopped the network's dnsmasq.
    assert dnsmasq.server_pid(net_settings["dns_dir"], "named") is None
    assert dnsmasq.networks(net_settings["dns_dir"]) == []
    pypod("network", "rm", "named")


def test_user_dns_servers_replace_the_networks(dns_pypod, rootfs) -> None:
    pypod = dns_pypod
    pypod("network", "create", "named")
    out = pypod("run", "--rm", "--network", "named", "--dns", "192.0.2.53",
                "--dns-search", "example.com", "--rootfs", rootfs,
                "cat", "/etc/resolv.conf").stdout
    assert "dns.podman" not in out
    assert [line for line in out.splitlines() if line.startswith("nameserver")] == \
        ["nameserver 192.0.2.53"]
    assert out.startswith("search example.com\n")
    pypod("network", "rm", "named")


def test_disable_dns_and_the_default_network_have_none(dns_pypod, rootfs, net_settings) -> None:
    pypod = dns_pypod
    pypod("network", "create", "--disable-dns", "plain")
    for network in ("plain", "podman"):
        info = _inspect(pypod, network)
        assert info["dns_enabled"] is False
        assert "dnsname" not in [p["type"] for p in info["plugins"]]
        gateway = info["subnets"][0]["gateway"]
        resolv = pypod("run", "--rm", "--network", network, "--rootfs", rootfs,
                       "cat", "/etc/resolv.conf").stdout
        assert "dns.podman" not in resolv and f"nameserver {gateway}\n" not in resolv
    assert dnsmasq.networks(net_settings["dns_dir"]) == []
    rows = json.loads(pypod("network", "ls", "--format", "json").stdout)
    assert {r["name"]: r["dns_enabled"] for r in rows} == {"plain": False, "podman": False}
    assert pypod("network", "ls", "--format", "{{.Name}} {{.DNSEnabled}}").stdout == \
        "plain false\npodman false\n"
    pypod("network", "rm", "plain")


def test_network_alias_needs_a_bridge(pypod, rootfs) -> None:
    err = pypod("run", "--rm", "--network", "none", "--network-alias", "x", "--rootfs",
                rootfs, "true", code=125).stderr
    assert err == "Error: --network-alias can only be set when the network mode is bridge\n"


def test_network_rm_stops_a_dnsmasq_left_running(dns_pypod, make_runtime, net_config,
                                                 net_settings, tmp_path: Path) -> None:
    """A container whose DEL never ran (it died with the host's power, say) leaves the
    network's dnsmasq running: removing the network stops it, and drops the firewall
    rule dnsname made for the bridge."""
    dns_pypod("network", "create", "named")
    rt = make_runtime(config_path=net_config)
    bridge = rt.network.inspect("named").interface
    path = netns.create_netns(str(tmp_path / "netns"), "lost")
    try:
        request = NetworkRequest(container_id=secrets.token_hex(32), name="lost",
                                 netns_path=path, networks=("named",))
        rt.network.setup(request)
        pid = dnsmasq.server_pid(net_settings["dns_dir"], "named")
        assert pid is not None
        assert _has_input_rule(bridge)
        rt.network.check(request)  # the dnsmasq serves: CHECK passes
        dns_pypod("network", "rm", "named")
        assert not os.path.exists(f"/proc/{pid}")
        assert dnsmasq.networks(net_settings["dns_dir"]) == []
        assert not _has_input_rule(bridge)
    finally:
        netns.remove_netns(path)


def _has_input_rule(bridge: str) -> bool:
    proc = subprocess.run(["iptables", "-w", "-C", "INPUT", *dnsmasq.input_rule(bridge)],
                          capture_output=True)
    return proc.returncode == 0


def test_a_pod_is_found_by_its_name(dns_pypod, rootfs) -> None:
    """The pod's containers share its infra container's namespace: the network knows
    them by the pod's name (podman's), not by the infra container's."""
    pypod = dns_pypod
    pypod("network", "create", "named")
    pypod("pod", "create", "--name", "shop", "--network", "named")
    try:
        pypod("run", "-d", "--pod", "shop", "--rootfs", rootfs, "sleep", "1000")
        infra = pypod("pod", "inspect", "--format", "{{.InfraContainerID}}", "shop").stdout
        address = _ip(pypod, infra.strip(), "named")
        assert address and _lookup(pypod, rootfs, "named", "shop") == address
        pod_id = pypod("pod", "inspect", "--format", "{{.Id}}", "shop").stdout
        assert _lookup(pypod, rootfs, "named", f"{pod_id[:12]}-infra") == ""  # its own name
    finally:
        pypod("pod", "rm", "-f", "-t", "0", "shop")
    pypod("network", "rm", "named")


def test_a_pods_network_aliases_name_it(dns_pypod, rootfs) -> None:
    """``pod create --network-alias``: the pod's infra container, and so every container
    sharing its namespace, answers to the aliases on the pod's networks."""
    pypod = dns_pypod
    pypod("network", "create", "named")
    pypod("pod", "create", "--name", "shop", "--network", "named",
          "--network-alias", "store,market", "--network-alias", "bazaar")
    try:
        pypod("run", "-d", "--pod", "shop", "--rootfs", rootfs, "sleep", "1000")
        infra = pypod("pod", "inspect", "--format", "{{.InfraContainerID}}", "shop").stdout
        address = _ip(pypod, infra.strip(), "named")
        for name in ("shop", "store", "market", "bazaar"):
            assert _lookup(pypod, rootfs, "named", name) == address, name
        err = pypod("run", "--rm", "--pod", "shop", "--network-alias", "x", "--rootfs",
                    rootfs, "true", code=125).stderr  # a member's network is the pod's
        assert err == "Error: --network-alias can only be set when the network mode is bridge\n"
    finally:
        pypod("pod", "rm", "-f", "-t", "0", "shop")
    pypod("network", "rm", "named")


def test_pod_network_alias_needs_an_infra_container_and_a_bridge(pypod) -> None:
    err = pypod("pod", "create", "--infra=false", "--network-alias", "x", code=125).stderr
    assert err == "Error: cannot set --network-alias without infra container\n"
    err = pypod("pod", "create", "--network", "none", "--network-alias", "x", code=125).stderr
    assert err == "Error: --network-alias can only be set when the network mode is bridge\n"
    assert pypod("pod", "ps", "-q").stdout == ""  # nothing made


def test_connect_and_disconnect_add_and_drop_the_names(dns_pypod, rootfs) -> None:
    pypod = dns_pypod
    pypod("network", "create", "named")
    cid = pypod("run", "-d", "--name", "late", "--network", "podman", "--rootfs", rootfs,
                "sleep", "1000").stdout.strip()
    try:
        pypod("network", "connect", "--alias", "cache", "named", "late")
        address = _ip(pypod, cid, "named")
        assert _lookup(pypod, rootfs, "named", "late") == address
        assert _lookup(pypod, rootfs, "named", "cache") == address
        pypod("network", "disconnect", "named", "late")
        assert _lookup(pypod, rootfs, "named", "late") == ""
    finally:
        pypod("rm", "-f", "-t", "0", cid)
    pypod("network", "rm", "named")
