"""A container joins and leaves networks after it was created (``network connect`` and
``disconnect``): real runc under conmon, real CNI plugins, real iptables, on networks of
the test's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_net_containers import NOTHING, host_rules, leftovers

from conftest import fetch
from pypod_core.engine.inspect import ps_entry
from pypod_core.errors import InvalidArgError, NoSuchNetworkError, NotImplementedByBackendError
from pypod_core.model import Mount, NetworkOptions, PortMapping
from pypod_core.plugin.network import Network, NetworkRequest
from pypod_core.testing.network import free_port, interface_of, interfaces_in


@pytest.fixture
def rt(net_runtime: Any) -> Any:
    """This module's runtime: one on a default network of the test's own."""
    return net_runtime


@pytest.fixture
def second(rt: Any) -> str:
    """A second network (the test's bridges and subnets are removed after it)."""
    return str(rt.network.create("second").name)


def web(rt: Any, rootfs: str, www: Path, **fields: Any) -> Any:
    """A started container serving ``www`` on port 80, published on a free host port."""
    ctr = rt.create_container(rootfs, ["httpd", "-f", "-p", "80", "-h", "/www"],
                              network_mode="bridge", name="web",
                              port_mappings=(PortMapping(free_port(), 80),),
                              mounts=(Mount(str(www), "/www", read_only=True),), **fields)
    ctr.start()
    return ctr


def address(ctr: Any, network: str) -> str:
    return str(ctr.inspect()["NetworkSettings"]["Networks"][network]["IPAddress"])


def hosts(ctr: Any) -> str:
    return Path(ctr.inspect()["HostsPath"]).read_text()


def test_running_container_joins_and_leaves_a_network(rt, rootfs, www, second) -> None:
    ctr = web(rt, rootfs, www)
    default = rt.network.default_network()
    port = ctr.config.port_mappings[0].host_port
    old = address(ctr, default)
    try:
        rt.connect_network(ctr, second)
        new = address(ctr, second)
        assert new and new != old
        assert interfaces_in(ctr.state.netns_path) == ["eth0", "eth1", "lo"]
        assert f"{new}\t" in hosts(ctr) and f"{old}\t" in hosts(ctr)
        assert f"-A CNI-FORWARD -s {new}/32 -j ACCEPT" in host_rules()
        assert rt.lookup_container("web").config.networks == (default, second)

        rt.disconnect_network(ctr, default)
        # The published port follows the container to the network it is still on.
        assert fetch(f"http://127.0.0.1:{port}/") == "hello\n"
        assert interfaces_in(ctr.state.netns_path) == ["eth1", "lo"]
        assert list(ctr.inspect()["NetworkSettings"]["Networks"]) == [second]
        assert f"{old}\t" not in hosts(ctr) and f"{new}\t" in hosts(ctr)
        assert f" {old}/32 " not in host_rules()
        stored = rt.lookup_container("web")
        assert stored.config.networks == (second,) and list(stored.state.network_status) == [second]
    finally:
        rt.remove_container(ctr, force=True, timeout=0)
    assert leftovers(rt, [ctr.id], [old, new]) == NOTHING


def test_a_container_that_left_every_network_has_none_until_it_joins_again(
    rt, rootfs, www
) -> None:
    ctr = web(rt, rootfs, www)
    default = rt.network.default_network()
    try:
        rt.disconnect_network(ctr, default)
        assert interfaces_in(ctr.state.netns_path) == ["lo"]
        assert ctr.inspect()["NetworkSettings"]["Networks"] == {}
        ctr.stop(timeout=0)
        ctr.start()  # it joins none: not the default network again
        assert interfaces_in(ctr.state.netns_path) == ["lo"]
        assert ps_entry(ctr, 0)["Networks"] == []
        rt.connect_network(ctr, default)
        port = ctr.config.port_mappings[0].host_port
        assert fetch(f"http://127.0.0.1:{port}/") == "hello\n"
    finally:
        rt.remove_container(ctr, force=True, timeout=0)


def test_a_created_container_only_has_its_record_changed(rt, rootfs, second) -> None:
    ctr = rt.create_container(rootfs, ["sleep", "60"], network_mode="bridge")
    try:
        options = NetworkOptions(network=second, aliases=("db",),
                                 static_mac="02:42:0a:0b:0c:0d")
        rt.connect_network(ctr, second, options)
        assert ctr.state.netns_path == ""
        networks = ctr.inspect()["NetworkSettings"]["Networks"]
        assert list(networks) == [rt.network.default_network(), second]
        assert networks[second]["Aliases"] == ["db", ctr.id[:12]]
        assert networks[second]["IPAddress"] == ""
        rt.connect_network(ctr, second)  # podman's no-op for a container not yet made
        ctr.start()
        assert interfaces_in(ctr.state.netns_path) == ["eth0", "eth1", "lo"]
        networks = ctr.inspect()["NetworkSettings"]["Networks"]
        assert networks[second]["MacAddress"] == "02:42:0a:0b:0c:0d"
        assert networks[second]["Aliases"] == ["db", ctr.id[:12]]
    finally:
        rt.remove_container(ctr, force=True, timeout=0)


def test_interfaces_keep_their_names_across_a_restart(rt, rootfs, second) -> None:
    """As libpod's: once the networks change, each keeps its interface's name, so a
    restart does not move the second network to eth0 when the first one left."""
    default = rt.network.default_network()
    ctr = rt.create_container(rootfs, ["sleep", "60"], network_mode="bridge",
                              networks=(default, second))
    try:
        ctr.start()
        rt.disconnect_network(ctr, default)
        ctr.stop(timeout=0)
        ctr.start()
        path = ctr.state.netns_path
        assert interfaces_in(path) == ["eth1", "lo"]
        assert interface_of(path, address(ctr, second)) == "eth1"
        rt.connect_network(ctr, default)  # the first name left free
        ctr = rt.lookup_container(ctr.id)
        assert [o.interface_name for o in ctr.config.network_options] == ["eth1", "eth0"]
        ctr.stop(timeout=0)
        ctr.start()
        path = ctr.state.netns_path
        assert interface_of(path, address(ctr, default)) == "eth0"
        assert interface_of(path, address(ctr, second)) == "eth1"
    finally:
        rt.remove_container(ctr, force=True, timeout=0)


def test_static_address_on_a_connected_network(rt, rootfs, second) -> None:
    ctr = rt.create_container(rootfs, ["sleep", "60"], network_mode="bridge")
    wanted = rt.network.inspect(second).subnets[0].rsplit(".", 1)[0] + ".77"
    try:
        ctr.start()
        rt.connect_network(ctr, second, NetworkOptions(network=second, static_ips=(wanted,)))
        assert address(ctr, second) == wanted
    finally:
        rt.remove_container(ctr, force=True, timeout=0)


def test_bad_requests_are_refused_and_change_nothing(rt, rootfs, second) -> None:
    ctr = rt.create_container(rootfs, ["sleep", "60"], network_mode="bridge")
    loner = rt.create_container(rootfs, ["true"], network_mode="none")
    try:
        ctr.start()
        with pytest.raises(NoSuchNetworkError):
            rt.connect_network(ctr, "no-such-network")
        with pytest.raises(InvalidArgError, match="already connected"):
            rt.connect_network(ctr, rt.network.default_network())
        with pytest.raises(InvalidArgError, match="is not connected to network second"):
            rt.disconnect_network(ctr, second)
        with pytest.raises(InvalidArgError, match='"none" is not supported'):
            rt.connect_network(loner, second)
        assert rt.lookup_container(ctr.id).config.networks == ()
        assert interfaces_in(ctr.state.netns_path) == ["eth0", "lo"]
    finally:
        rt.remove_container(ctr, force=True, timeout=0)
        rt.remove_container(loner)


class _Old(Network):
    """A backend written before contract 1.5: no connect or disconnect of its own."""

    name = "old"

    def networks(self) -> list[Any]:
        return []

    def default_network(self) -> str:
        return "x"

    def inspect(self, name: str) -> Any:
        raise NoSuchNetworkError(name)

    def create(self, name: str, subnet: str = "") -> Any:
        raise NoSuchNetworkError(name)

    def remove(self, name: str) -> None:
        raise NoSuchNetworkError(name)

    def setup(self, request: NetworkRequest) -> dict[str, dict[str, Any]]:
        return {}

    def teardown(self, request: NetworkRequest) -> None:
        pass

    def check(self, request: NetworkRequest) -> None:
        pass


def test_a_backend_without_connect_says_so() -> None:
    request = NetworkRequest(container_id="a" * 64)
    with pytest.raises(NotImplementedByBackendError, match="contract 1.5"):
        _Old().connect(request, "x")
    with pytest.raises(NotImplementedByBackendError, match="contract 1.5"):
        _Old().disconnect(request, "x")
