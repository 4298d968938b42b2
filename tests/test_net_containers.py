"""Containers on networks, end to end: real runc under conmon, real CNI plugins, real
iptables; each test on a default network (bridge, subnet) of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import fetch, need_binary
from pypod_core.engine.networking import netns_dir, ports_dir
from pypod_core.errors import PortInUseError
from pypod_core.host import netns, portreserve
from pypod_core.model import Mount, PortMapping
from pypod_core.testing.network import first_address, free_port


@pytest.fixture
def rt(net_runtime: Any) -> Any:
    """This module's runtime: one on a default network of the test's own."""
    return net_runtime


def web(rt: Any, rootfs: str, www: Path, **fields: Any) -> Any:
    """A started container serving ``www`` on port 80 with busybox httpd."""
    ctr = rt.create_container(rootfs, ["httpd", "-f", "-p", "80", "-h", "/www"],
                              network_mode="bridge",
                              mounts=(Mount(str(www), "/www", read_only=True),), **fields)
    ctr.start()
    return ctr


def ip_of(ctr: Any) -> str:
    return ctr.inspect()["NetworkSettings"]["IPAddress"]


def host_rules() -> str:
    """Both tables pypod's networking writes to, as ``iptables -S`` prints them."""
    return "".join(subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True,
                                  text=True, check=True).stdout for table in ("filter", "nat"))


def leftovers(rt: Any, ids: list[str], addresses: list[str]) -> dict[str, Any]:
    """What a container's networking could leave behind: rules (by container id and by
    address), namespaces, host-local leases, DEL cache entries and port holders."""
    rules = host_rules()
    leases_dir = Path(rt.network.ipam_dir)
    return {
        "rules": [x for x in ids + [f" {a}/" for a in addresses] if x in rules],
        "netns": netns.list_netns(netns_dir(rt)),
        "leases": [p.name for p in leases_dir.rglob("*") if p.name[:1].isdigit()],
        "cache": [n for n in os.listdir(Path(rt.config.graph_root) / "cni" / "results")
                  if not n.startswith(".")]
        if (Path(rt.config.graph_root) / "cni" / "results").exists() else [],
        "holders": [i for i in ids if portreserve.holder_pid(ports_dir(rt), i)],
    }


NOTHING = {"rules": [], "netns": [], "leases": [], "cache": [], "holders": []}


def test_two_containers_reach_each_other_by_address(rt, rootfs, www) -> None:
    server = web(rt, rootfs, www)
    client = rt.create_container(
        rootfs, ["wget", "-q", "-O", "/dev/null", f"http://{ip_of(server)}/index.html"],
        network_mode="bridge")
    deadline = time.monotonic() + 10
    while True:  # httpd may still be starting
        client.start()
        if client.wait(timeout=20) == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert client.state.exit_code == 0
    rt.remove_container(client, force=True)
    rt.remove_container(server, force=True, timeout=0)


def test_published_port_answers_on_host_loopback(rt, rootfs, www) -> None:
    port = free_port()
    ctr = web(rt, rootfs, www, port_mappings=(PortMapping(port, 80),))
    try:
        assert fetch(f"http://127.0.0.1:{port}/") == "hello\n"
        settings = ctr.inspect()["NetworkSettings"]
        assert settings["Ports"] == {"80/tcp": [{"HostIp": "", "HostPort": str(port)}]}
        assert settings["Networks"][rt.network.default_network()]["IPAddress"]
        assert ctr.state.reserved_ports == (port,)
    finally:
        rt.remove_container(ctr, force=True, timeout=0)


def test_two_containers_cannot_publish_the_same_port(rt, rootfs, www) -> None:
    port = free_port()
    first = web(rt, rootfs, www, name="first", port_mappings=(PortMapping(port, 80),))
    second = rt.create_container(rootfs, ["httpd", "-f", "-p", "80"], name="second",
                                 network_mode="bridge", port_mappings=(PortMapping(port, 80),))
    try:
        with pytest.raises(PortInUseError) as info:
            second.start()
        message = str(info.value)
        assert f"{port}/tcp" in message and "first" in message and "\n" not in message
        # The failed start undid itself: no namespace, nothing held; the first still serves.
        assert second.state.netns_path == "" and second.state.reserved_ports == ()
        assert fetch(f"http://127.0.0.1:{port}/") == "hello\n"
        rt.remove_container(second)
    finally:
        rt.remove_container(first, force=True, timeout=0)


def test_rules_exist_while_running_and_are_gone_after_removal(rt, rootfs, www) -> None:
    ctr = web(rt, rootfs, www, port_mappings=(PortMapping(free_port(), 80),))
    address = ip_of(ctr)
    rules = host_rules()
    assert f"-A CNI-FORWARD -s {address}/32 -j ACCEPT" in rules
    assert (f"-A CNI-FORWARD -d {address}/32 -m conntrack --ctstate RELATED,ESTABLISHED "
            "-j ACCEPT") in rules
    assert ctr.id in rules  # portmap's DNAT rules
    subnet = rt.network.inspect(rt.network.default_network()).subnets[0]
    assert f"-A PYPOD-MASQ -s {subnet} ! -d 224.0.0.0/4 -j MASQUERADE" in rules
    assert netns.is_netns(ctr.state.netns_path)
    rt.remove_container(ctr, force=True, timeout=0)
    assert leftovers(rt, [ctr.id], [address]) == NOTHING


@pytest.mark.slow
def test_sigkilled_containers_leave_nothing_behind(rt, rootfs, www) -> None:
    """No pypod process is around when the containers die: conmon's exit command
    (``pypod container cleanup``) tears their networks down."""
    ctrs = [web(rt, rootfs, www, port_mappings=(PortMapping(free_port(), 80),))
            for _ in range(2)]
    addresses = [ip_of(c) for c in ctrs]
    for ctr in ctrs:
        os.kill(ctr.state.pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while leftovers(rt, [c.id for c in ctrs], addresses) != NOTHING:
        assert time.monotonic() < deadline, leftovers(rt, [c.id for c in ctrs], addresses)
        time.sleep(0.1)
    for ctr in ctrs:
        rt.remove_container(ctr.sync(), force=True)
    assert leftovers(rt, [c.id for c in ctrs], addresses) == NOTHING


@pytest.mark.slow
def test_fifty_run_rm_cycles_leave_nothing_behind(rt, rootfs) -> None:
    ids, addresses = [], []
    for i in range(50):
        ports = (PortMapping(free_port(), 80),) if i % 10 == 0 else ()
        ctr = rt.create_container(rootfs, ["true"], network_mode="bridge",
                                  port_mappings=ports)
        ctr.start()
        ids.append(ctr.id)
        addresses.append(first_address(next(iter(ctr.state.network_status.values()))))
        assert ctr.wait(timeout=20) == 0
        rt.remove_container(ctr, force=True)
    assert leftovers(rt, ids, [a for a in addresses if a]) == NOTHING


def test_default_netns_bridge_puts_a_container_and_a_pod_on_the_default_network(
        make_runtime, net_config, rootfs) -> None:
    """pypod's default, as podman's rootful one: no network asked for is the default
    bridge network (config ``netns``); a pod's member still shares the pod's."""
    need_binary("iptables")
    rt = make_runtime(config_path=net_config, netns="bridge")
    ctr = rt.create_container(rootfs, ["sleep", "100"])
    pod = rt.create_pod(name="defaultnet")
    member = rt.create_container(rootfs, ["sleep", "100"], pod=pod)
    try:
        assert ctr.config.network_mode == "bridge"
        ctr.start()
        pod.start()
        member.start()
        assert ip_of(ctr)
        infra = rt.get_container(pod.infra_container_id)
        assert infra.config.network_mode == "bridge" and ip_of(infra)
        assert member.config.network_mode == "none"  # it shares the infra's namespace
        assert ip_of(infra) != ip_of(ctr)
    finally:
        rt.remove_pod(pod, force=True, timeout=0)
        rt.remove_container(ctr, force=True, timeout=0)
    assert leftovers(rt, [ctr.id, infra.id], []) == NOTHING
    # With netns = "none" (this test's config file), -p alone still asks for the
    # default network, as podman's does.
    result = subprocess.run(
        [sys.executable, "-m", "pypod_core.cli.main", "--config", net_config, "run", "--rm",
         "-p", f"{free_port()}:80", "--rootfs", rootfs, "ip", "-o", "-4", "addr", "show",
         "eth0"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert " eth0 " in result.stdout and "inet " in result.stdout


def conmons_of(ctr_id: str) -> list[int]:
    """The pids of the conmon processes monitoring container ``ctr_id``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args[0].endswith(b"conmon") and ctr_id.encode() in args:
            found.append(int(pid))
    return found


def test_a_failed_attach_undoes_the_created_container(rt, rootfs) -> None:
    """The networks are attached while the OCI runtime creates the container: when the
    attachment fails (the network's gateway address asked for: an address outside the
    network is refused at create already), the created container is deleted too, and it
    can be started again or removed."""
    import ipaddress

    from pypod_core.errors import NetworkError
    from pypod_core.model import ContainerStatus

    subnet = rt.network.inspect(rt.network.default_network()).subnets[0]
    gateway = str(next(ipaddress.ip_network(subnet).hosts()))
    ctr = rt.create_container(rootfs, ["true"], network_mode="bridge", static_ip=gateway)
    with pytest.raises(NetworkError, match=gateway):
        ctr.start()
    ctr = rt.get_container(ctr.id).sync()
    assert ctr.state.state is ContainerStatus.CONFIGURED
    runc_root = rt.oci_runtime.state_root
    assert not os.path.exists(os.path.join(runc_root, ctr.id))  # runc has no container
    assert ctr.state.pid == 0 and ctr.state.conmon_pid == 0
    deadline = time.monotonic() + 10
    while conmons_of(ctr.id):  # it notices the container is gone, then exits
        assert time.monotonic() < deadline, conmons_of(ctr.id)
        time.sleep(0.05)
    assert leftovers(rt, [ctr.id], []) == NOTHING
    rt.remove_container(ctr)
    assert leftovers(rt, [ctr.id], []) == NOTHING


def test_two_stores_on_one_network_share_its_leases(make_runtime, net_config, tmp_path,
                                                    rootfs) -> None:
    """A network's leases are the network's: store A wrote the network, store B's
    container holds an address on it; resetting store A (its run root deleted) must not
    hand that address to the next container."""
    from conftest import run_pypod

    store_a = make_runtime(config_path=net_config)
    store_a.network.default_network()  # store A writes the default network
    store_a.shutdown()
    store_b = make_runtime(config_path=net_config, graph_root=str(tmp_path / "root-b"),
                           run_root=str(tmp_path / "run-b"))
    held = store_b.create_container(rootfs, ["sleep", "1000"], network_mode="bridge")
    held.start()
    reset = run_pypod("--config", net_config, "system", "reset", "--force")
    assert reset.returncode == 0, reset.stderr
    assert not os.path.exists(store_a.config.run_root)
    again = make_runtime(config_path=net_config)
    ctr = again.create_container(rootfs, ["sleep", "1000"], network_mode="bridge")
    ctr.start()
    addresses = [ip_of(held), ip_of(ctr)]
    assert addresses[0] != addresses[1]
    for rt, c in ((again, ctr), (store_b, held)):
        rt.remove_container(c, force=True)
    assert leftovers(store_b, [held.id, ctr.id], addresses)["leases"] == []
