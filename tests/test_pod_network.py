"""Bridged pods end to end: the pod's network and published ports belong to its infra
container; members have no network of their own; ``pod rm -f`` leaves nothing behind.

Real runc under conmon, real CNI plugins, real iptables; each test on a default network
(bridge, subnet) of its own (the ``net_config`` fixture).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import fetch
from pypod_core.engine.networking import netns_dir, ports_dir
from pypod_core.errors import NoSuchPodError
from pypod_core.host import netns, portreserve
from pypod_core.model import Mount, PortMapping
from pypod_core.testing.network import free_port

SERVE = "trap 'exit 0' TERM; httpd -f -p 80 -h /www & wait"


@pytest.fixture
def rt(net_runtime: Any) -> Any:
    """This module's runtime: one on a default network of the test's own."""
    return net_runtime


def web_pod(rt: Any, rootfs: str, www: Path, port: int) -> tuple[Any, Any]:
    """A started pod publishing ``port`` -> 80, with a member serving ``www`` on 80."""
    pod = rt.create_pod(ports=(PortMapping(port, 80),))
    member = rt.create_container(rootfs, ["sh", "-c", SERVE], pod=pod,
                                 mounts=(Mount(str(www), "/www", read_only=True),))
    pod.start()
    return pod, member


def host_rules() -> str:
    return "".join(subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True,
                                  text=True, check=True).stdout for table in ("filter", "nat"))


def test_the_pods_published_port_answers_on_host_loopback(rt, rootfs, www) -> None:
    port = free_port()
    pod, member = web_pod(rt, rootfs, www, port)
    try:
        assert fetch(f"http://127.0.0.1:{port}/") == "hello\n"
        infra = pod.infra().sync()
        # The network is the infra container's: its namespace, address, port holder.
        assert infra.config.network_mode == "bridge"
        assert netns.is_netns(infra.state.netns_path)
        assert infra.state.reserved_ports == (port,)
        address = infra.inspect()["NetworkSettings"]["IPAddress"]
        assert address
        # The member has none of its own, and is in the infra container's namespace.
        member.sync()
        assert member.config.network_mode == "none" and member.state.netns_path == ""
        assert member.state.network_status == {}
        assert os.readlink(f"/proc/{member.state.pid}/ns/net") == \
            os.readlink(f"/proc/{infra.state.pid}/ns/net")
        doc = pod.inspect()
        assert doc["InfraConfig"]["PortBindings"] == {
            "80/tcp": [{"HostIp": "", "HostPort": str(port)}]}
        assert doc["InfraConfig"]["Networks"] == [rt.network.default_network()]
        assert pod.ps_entry()["Networks"] == [rt.network.default_network()]
    finally:
        rt.remove_pod(pod, force=True, timeout=0)


def test_pod_rm_force_of_a_running_pod_leaves_nothing(rt, rootfs, www) -> None:
    port = free_port()
    pod, member = web_pod(rt, rootfs, www, port)
    infra = pod.infra().sync()
    address = infra.inspect()["NetworkSettings"]["IPAddress"]
    ids = [infra.id, member.id]
    assert fetch(f"http://127.0.0.1:{port}/") == "hello\n"
    assert f"-A CNI-FORWARD -s {address}/32 -j ACCEPT" in host_rules()
    rt.remove_pod(pod, force=True, timeout=0)
    rules = host_rules()
    assert [x for x in [*ids, f" {address}/"] if x in rules] == []
    assert netns.list_netns(netns_dir(rt)) == []
    assert [i for i in ids if portreserve.holder_pid(ports_dir(rt), i)] == []
    assert rt.state.all_containers() == [] and rt.state.all_pods() == []
    assert rt.storage.count() == 0
    # conmon's exit commands (`pypod container cleanup`) may still be running: one that
    # waited for a removed container's lock re-creates the file, finds the container
    # gone and deletes it.  Give them a moment, then nothing may be left.
    deadline = time.monotonic() + 5
    while (ours := [n for n in os.listdir(rt.lock_dir) if pod.id in n
                    or any(i in n for i in ids)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ours == []
    with pytest.raises(NoSuchPodError):
        rt.lookup_pod(pod.id)
    # The port is free again: a new pod publishes it.
    again, _ = web_pod(rt, rootfs, www, port)
    assert fetch(f"http://127.0.0.1:{port}/") == "hello\n"
    rt.remove_pod(again, force=True, timeout=0)
