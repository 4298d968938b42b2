"""The network conformance kit: :class:`NetworkBackendTests`.

Subclass it and provide the ``network`` fixture: a backend whose default network the
tests may attach namespaces to, on a subnet of its own (so that tests do not collide
with each other or with real containers), cleaned up by the fixture afterwards::

    class TestMyNetwork(NetworkBackendTests):
        @pytest.fixture
        def network(self, tmp_path):
            yield MyNetwork(state_dir=tmp_path, subnet="10.201.7.0/24")

The tests make their own network namespaces (:mod:`pypod_core.host.netns`) under
``tmp_path``; no container is involved.  Traffic stays on the host: between the test's
namespaces, and from the host's loopback to a published port.
"""

from __future__ import annotations

import fcntl
import ipaddress
import secrets
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from pypod_core.errors import (
    InvalidArgError,
    NetworkError,
    NetworkExistsError,
    NoSuchNetworkError,
)
from pypod_core.host import netns
from pypod_core.model import NetworkOptions, PortMapping
from pypod_core.plugin.network import Network, NetworkRequest, result_addresses

Attach = Callable[..., tuple[NetworkRequest, dict[str, dict[str, Any]]]]


def first_address(result: dict[str, Any]) -> str:
    """The first IPv4 address of a result, without prefix."""
    for cidr in result_addresses(result):
        ip = ipaddress.ip_interface(cidr).ip
        if ip.version == 4:
            return str(ip)
    raise AssertionError(f"no IPv4 address in {result}")


def interfaces_in(path: str) -> list[str]:
    """The interface names inside a namespace."""
    return sorted(name for _, name in netns.run_in_netns(path, socket.if_nameindex))


#: ioctl(2) request for an interface's (first) IPv4 address, from <linux/sockios.h>.
SIOCGIFADDR = 0x8915


def interface_of(path: str, address: str) -> str:
    """The interface inside a namespace that holds the IPv4 ``address``, as the
    kernel says (not the backend's result)."""

    def find() -> str:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for _, name in socket.if_nameindex():
                request = struct.pack("256s", name.encode())
                try:
                    reply = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
                except OSError:
                    continue  # an interface without an IPv4 address
                if socket.inet_ntoa(reply[20:24]) == address:
                    return name
        raise AssertionError(f"no interface holds {address}")

    return netns.run_in_netns(path, find)


def serve_once(path: str, port: int, reply: bytes = b"pong") -> threading.Thread:
    """Listen on ``port`` inside the namespace; answer one connection with ``reply``."""

    def listen() -> socket.socket:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("0.0.0.0", port))
        sock.listen(4)
        sock.settimeout(10)
        return sock

    server = netns.run_in_netns(path, listen)

    def answer() -> None:
        with server:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.sendall(reply)

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    return thread


def free_port() -> int:
    """A TCP port nothing listens on now, from a range containers rarely publish."""
    for _ in range(100):
        port = 20000 + secrets.randbelow(10000)
        with socket.socket() as probe:
            try:
                probe.bind(("", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port found")


class NetworkBackendTests:
    """Behaviour every network backend must have; subclass and give ``network``."""

    @pytest.fixture
    def network(self) -> Network:
        """The backend under test (override)."""
        raise NotImplementedError("subclass NetworkBackendTests and provide `network`")

    @pytest.fixture
    def make_netns(self, tmp_path: Path) -> Iterator[Callable[[], str]]:
        """Make namespaces under tmp_path; removed after the test."""
        made: list[str] = []

        def make() -> str:
            made.append(netns.create_netns(str(tmp_path / "netns"), f"ns{len(made)}"))
            return made[-1]

        yield make
        for path in made:
            netns.remove_netns(path)

    @pytest.fixture
    def attach(self, network: Network, make_netns: Callable[[], str]) -> Iterator[Attach]:
        """``attach(**request fields)``: a new namespace set up on networks; torn down
        after the test (before its namespace is removed)."""
        requests: list[NetworkRequest] = []

        def do(**fields: Any) -> tuple[NetworkRequest, dict[str, dict[str, Any]]]:
            request = NetworkRequest(container_id=secrets.token_hex(32),
                                     netns_path=make_netns(), **fields)
            requests.append(request)
            return request, network.setup(request)

        yield do
        for request in reversed(requests):
            network.teardown(request)

    @pytest.fixture
    def extra_network(self, network: Network) -> Iterator[str]:
        """A second network, made by the backend; removed afterwards."""
        name = f"kit-{secrets.token_hex(3)}"
        network.create(name)
        yield name
        try:
            network.remove(name)
        except NoSuchNetworkError:
            pass

    def _spare_address(self, network: Network, offset: int = 0) -> str:
        subnet = ipaddress.ip_network(network.inspect(network.default_network()).subnets[0])
        hosts = list(subnet.hosts())
        return str(hosts[len(hosts) // 2 + offset])

    # -- the networks --------------------------------------------------------------------

    def test_default_network_is_listed(self, network: Network) -> None:
        names = [n.name for n in network.networks()]
        assert network.default_network() in names
        assert [n.name for n in network.networks() if n.default] == [network.default_network()]

    def test_create_inspect_remove(self, network: Network) -> None:
        name = f"kit-{secrets.token_hex(3)}"
        made = network.create(name)
        try:
            assert made.name == name and made.subnets
            assert network.inspect(name).subnets == made.subnets
            assert name in [n.name for n in network.networks()]
            with pytest.raises(NetworkExistsError):
                network.create(name)
        finally:
            network.remove(name)
        with pytest.raises(NoSuchNetworkError):
            network.inspect(name)
        with pytest.raises(NoSuchNetworkError):
            network.remove(name)

    def test_create_refuses_a_subnet_in_use(self, network: Network) -> None:
        taken = network.inspect(network.default_network()).subnets[0]
        with pytest.raises(InvalidArgError):
            network.create(f"kit-{secrets.token_hex(3)}", subnet=taken)
        with pytest.raises(InvalidArgError):
            network.create(f"kit-{secrets.token_hex(3)}", subnet="10.1.2.3.4/8")

    def test_a_network_with_dns_names_its_servers(self, network: Network,
                                                   attach: Attach) -> None:
        """contract 1.6: ``create(dns=False)`` makes a network without DNS; one made
        with it (where the backend can) tells its servers and search domains in each
        attachment's result, which the container's resolv.conf puts first."""
        plain, named = (f"kit-{secrets.token_hex(3)}" for _ in range(2))
        try:
            assert network.create(plain, dns=False).dns_enabled is False
            assert network.inspect(plain).dns_enabled is False
            made = network.create(named)
            assert network.inspect(named).dns_enabled is made.dns_enabled
            request, results = attach(name="kit-dns", networks=(plain, named))
            assert not (results[plain].get("dns") or {}).get("nameservers")
            dns = results[named].get("dns") or {}
            assert not made.dns_enabled or (dns.get("nameservers") and dns.get("search"))
            network.teardown(request)  # before its networks go
        finally:
            for name in (plain, named):
                try:
                    network.remove(name)
                except NoSuchNetworkError:
                    pass

    # -- attaching -----------------------------------------------------------------------

    def test_setup_gives_eth0_an_address_in_the_namespace(self, network: Network,
                                                          attach: Attach) -> None:
        request, results = attach()
        assert list(results) == [network.default_network()]
        address = first_address(results[network.default_network()])
        assert interfaces_in(request.netns_path) == ["eth0", "lo"]

        def bind_there() -> None:
            with socket.socket() as sock:
                sock.bind((address, 0))  # only an address of the namespace binds

        netns.run_in_netns(request.netns_path, bind_there)

    def test_two_namespaces_reach_each_other(self, attach: Attach) -> None:
        server_req, server_results = attach()
        client_req, _ = attach()
        address = first_address(next(iter(server_results.values())))
        thread = serve_once(server_req.netns_path, 7777)

        def fetch() -> bytes:
            with socket.create_connection((address, 7777), timeout=5) as conn:
                return conn.recv(16)

        assert netns.run_in_netns(client_req.netns_path, fetch) == b"pong"
        thread.join(5)

    def test_published_port_answers_on_host_loopback(self, attach: Attach) -> None:
        host_port = free_port()
        request, _ = attach(port_mappings=(PortMapping(host_port=host_port,
                                                       container_port=8080),))
        thread = serve_once(request.netns_path, 8080, b"published")
        with socket.create_connection(("127.0.0.1", host_port), timeout=5) as conn:
            assert conn.recv(16) == b"published"
        thread.join(5)

    def test_static_ip_and_teardown_frees_it(self, network: Network, attach: Attach) -> None:
        wanted = self._spare_address(network)
        request, results = attach(static_ip=wanted)
        assert first_address(next(iter(results.values()))) == wanted
        network.teardown(request)
        again, results = attach(static_ip=wanted)  # the address was released
        assert first_address(next(iter(results.values()))) == wanted

    def test_two_networks_give_eth0_and_eth1(self, network: Network, attach: Attach,
                                             extra_network: str) -> None:
        request, results = attach(networks=(network.default_network(), extra_network))
        assert list(results) == [network.default_network(), extra_network]
        assert interfaces_in(request.netns_path) == ["eth0", "eth1", "lo"]

    def test_check_after_setup_and_after_teardown(self, network: Network,
                                                  attach: Attach) -> None:
        request, _ = attach(port_mappings=(PortMapping(free_port(), 80),))
        network.check(request)
        network.teardown(request)
        with pytest.raises(NetworkError):
            network.check(request)

    def test_teardown_twice_and_without_the_namespace(self, network: Network,
                                                      attach: Attach) -> None:
        request, _ = attach()
        netns.remove_netns(request.netns_path)
        network.teardown(request)
        network.teardown(request)
        assert network.remembered(request) == {}  # forgotten although its netns was gone
        again, _ = attach()
        network.teardown(again)
        network.teardown(again)
        assert network.remembered(again) == {}
        assert interfaces_in(again.netns_path) == ["lo"]

    def test_unknown_network_is_an_error_and_attaches_nothing(
        self, network: Network, make_netns: Callable[[], str]
    ) -> None:
        request = NetworkRequest(container_id=secrets.token_hex(32), netns_path=make_netns(),
                                 networks=(network.default_network(), "no-such-network"))
        with pytest.raises(NoSuchNetworkError, match="no-such-network"):
            network.setup(request)
        assert interfaces_in(request.netns_path) == ["lo"]

    def test_failed_setup_leaves_nothing_attached(self, network: Network,
                                                  make_netns: Callable[[], str]) -> None:
        outside = "203.0.113.250"  # TEST-NET-3: in no test network's subnet
        request = NetworkRequest(container_id=secrets.token_hex(32), netns_path=make_netns(),
                                 static_ip=outside)
        with pytest.raises(NetworkError):
            network.setup(request)
        assert interfaces_in(request.netns_path) == ["lo"]
        network.teardown(request)

    # -- one network more or less (contract 1.5) ---------------------------------------

    def test_connect_adds_the_next_interface(self, network: Network, attach: Attach,
                                             extra_network: str) -> None:
        request, results = attach()
        result = network.connect(request, extra_network)
        assert interfaces_in(request.netns_path) == ["eth0", "eth1", "lo"]
        new = first_address(result)
        assert new != first_address(results[network.default_network()])
        assert set(network.remembered(request)) == {network.default_network(), extra_network}
        with pytest.raises(InvalidArgError):
            network.connect(request, extra_network)  # once is enough
        with pytest.raises(NoSuchNetworkError):
            network.connect(request, "no-such-network")
        assert interfaces_in(request.netns_path) == ["eth0", "eth1", "lo"]

    def test_disconnect_leaves_the_other_networks(self, network: Network, attach: Attach,
                                                  extra_network: str) -> None:
        request, results = attach(networks=(network.default_network(), extra_network))
        network.disconnect(request, network.default_network())
        assert interfaces_in(request.netns_path) == ["eth1", "lo"]
        assert list(network.remembered(request)) == [extra_network]
        network.disconnect(request, network.default_network())  # not attached: fine
        again = network.connect(request, network.default_network())  # eth0 is free again
        assert interfaces_in(request.netns_path) == ["eth0", "eth1", "lo"]
        assert first_address(again)
        network.teardown(request)
        assert network.remembered(request) == {}
        assert interfaces_in(request.netns_path) == ["lo"]

    def test_interfaces_are_named_as_the_request_keeps_them(
        self, network: Network, attach: Attach, extra_network: str
    ) -> None:
        """contract 1.7: a name kept in a network's options is its interface's, on
        setup and on connect; the other networks take the first ``ethN`` left free."""
        default = network.default_network()
        kept = NetworkOptions(network=extra_network, interface_name="eth0")
        request, results = attach(networks=(default, extra_network), network_options=(kept,))
        path = request.netns_path
        assert interfaces_in(path) == ["eth0", "eth1", "lo"]
        assert interface_of(path, first_address(results[extra_network])) == "eth0"
        assert interface_of(path, first_address(results[default])) == "eth1"
        network.disconnect(request, default)
        taken = attrs.evolve(request, network_options=(
            kept, NetworkOptions(network=default, interface_name="eth0")))
        with pytest.raises(InvalidArgError):
            network.connect(taken, default)
        assert interfaces_in(path) == ["eth0", "lo"]
        again = attrs.evolve(request, network_options=(
            kept, NetworkOptions(network=default, interface_name="eth3")))
        assert interface_of(path, first_address(network.connect(again, default))) == "eth3"
        assert interfaces_in(path) == ["eth0", "eth3", "lo"]

    def test_disconnect_frees_the_address(self, network: Network, attach: Attach) -> None:
        wanted = self._spare_address(network, 1)
        request, _ = attach(networks=(network.default_network(),))
        network.disconnect(request, network.default_network())
        other, _ = attach(static_ip=wanted)
        network.teardown(other)
        with_ip = attrs.evolve(request, network_options=(
            NetworkOptions(network=network.default_network(), static_ips=(wanted,)),))
        assert first_address(network.connect(with_ip, network.default_network())) == wanted

    def test_published_port_follows_to_a_connected_network(
        self, network: Network, attach: Attach, extra_network: str
    ) -> None:
        host_port = free_port()
        request, _ = attach(port_mappings=(PortMapping(host_port=host_port,
                                                       container_port=8080),))
        network.connect(request, extra_network)
        network.disconnect(request, network.default_network())
        thread = serve_once(request.netns_path, 8080, b"moved")
        with socket.create_connection(("127.0.0.1", host_port), timeout=5) as conn:
            assert conn.recv(16) == b"moved"
        thread.join(5)

    def test_failed_connect_attaches_nothing(self, network: Network, attach: Attach,
                                             extra_network: str) -> None:
        request, _ = attach()
        outside = attrs.evolve(request, network_options=(
            NetworkOptions(network=extra_network, static_ips=("203.0.113.250",)),))
        with pytest.raises(NetworkError):
            network.connect(outside, extra_network)
        assert interfaces_in(request.netns_path) == ["eth0", "lo"]
        assert list(network.remembered(request)) == [network.default_network()]
