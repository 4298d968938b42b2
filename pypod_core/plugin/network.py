"""The Network interface: what attaches containers to networks (libpod's use of ocicni).

A backend manages named networks (list, inspect, create, remove) and attaches a network
namespace to some of them (``setup``), checks the attachment (``check``) and detaches
it (``teardown``); since contract 1.5 it may also attach an attached namespace to one
more network (``connect``) and detach it from one (``disconnect``); since 1.6 a network
may resolve its containers' names (``create(dns=...)``, ``NetworkInfo.dns_enabled``),
its DNS servers and search domains told in each attachment's result (``dns``); since 1.7
it names the interfaces as :func:`interface_names` says, so that names
kept in the container's options survive a restart.  It works on a
:class:`NetworkRequest` (ocicni's ``PodNetwork``), not on a container, so that it can be
used, and tested, on any namespace: :meth:`NetworkRequest.for_container` makes the
request of a container.

The namespace itself is made by the caller (:mod:`pypod_core.host.netns`); the backend puts
interfaces in it.  Firewall rules are the :class:`pypod_core.plugin.firewall.Firewall`'s job.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

import attrs

from pypod_core.errors import NotImplementedByBackendError
from pypod_core.model import NetworkOptions, PortMapping

if TYPE_CHECKING:
    from collections.abc import Collection, Sequence

    from pypod_core.plugin.views import ContainerView as Container


@attrs.frozen(kw_only=True)
class NetworkRequest:
    """One namespace to attach: whose it is, where it is, to which networks, and how."""

    #: The container's id: the key under which a backend remembers the attachment.
    container_id: str
    #: The container's name (passed to plugins that want one).
    name: str = ""
    #: Path of the bind-mounted network namespace ("" on teardown if it is gone).
    netns_path: str = ""
    #: Network names (interfaces eth0, eth1, ... in order unless the options keep others:
    #: :func:`interface_names`); empty: the default network.
    networks: tuple[str, ...] = ()
    #: A static address (no prefix) for the first network's interface, or "".
    static_ip: str = ""
    #: Ports to publish on the host, through every network (as podman's CNI backend).
    port_mappings: tuple[PortMapping, ...] = ()
    #: Per-network options (aliases, static addresses, MAC), for the networks that have
    #: any; ``static_ip`` is the first network's address besides (``--ip``).
    network_options: tuple[NetworkOptions, ...] = ()

    def options_for(self, network: str) -> NetworkOptions:
        """The request's options on ``network`` (none given: the empty ones)."""
        for options in self.network_options:
            if options.network == network:
                return options
        return NetworkOptions(network=network)

    @classmethod
    def for_container(cls, ctr: Container) -> NetworkRequest:
        """The request of a container in network mode ``bridge``."""
        config = ctr.config
        return cls(
            container_id=config.id,
            name=config.name,
            netns_path=ctr.state.netns_path,
            networks=tuple(config.networks),
            static_ip=config.static_ip,
            port_mappings=tuple(config.port_mappings),
            network_options=tuple(config.network_options),
        )


def interface_names(networks: Sequence[str],
                    options: Sequence[NetworkOptions]) -> dict[str, str]:
    """The interface each of ``networks`` gives a container: its options'
    ``interface_name`` where one is kept, else the first ``ethN`` that no network
    before it nor any kept name took (eth0, eth1, ... when none is kept)."""
    kept = {o.network: o.interface_name for o in options
            if o.interface_name and o.network in networks}
    taken = set(kept.values())
    names: dict[str, str] = {}
    for network in networks:
        name = kept.get(network) or next_interface(taken)
        taken.add(name)
        names[network] = name
    return names


def next_interface(taken: Collection[str]) -> str:
    """The first ``ethN`` not in ``taken``."""
    return next(f"eth{i}" for i in itertools.count() if f"eth{i}" not in taken)


@attrs.frozen(kw_only=True)
class NetworkInfo:
    """One network as ``pypod network ls/inspect`` shows it."""

    name: str
    #: The kind of network, e.g. the CNI plugin that makes the interface ("bridge").
    driver: str = ""
    #: Subnets addresses are allocated from (CIDR strings).
    subnets: tuple[str, ...] = ()
    #: Host interface the network's containers hang off (a bridge), if any.
    interface: str = ""
    #: Where the network is defined (a config file), if anywhere.
    path: str = ""
    #: Whether containers without ``--network`` join this one.
    default: bool = False
    #: Whether the runtime's firewall must masquerade traffic leaving ``subnets`` (the
    #: network itself does not).
    masquerade: bool = False
    #: Whether the network's containers resolve each other's names and aliases through a
    #: DNS server of the network, which their attachment results name (contract 1.6).
    dns_enabled: bool = False
    #: The backend's own description of the network (a CNI config list).
    config: dict[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``network ls --format json``)."""
        return attrs.asdict(self)


class Network(ABC):
    """A network backend."""

    #: The backend's name (``cni``).
    name: str

    @abstractmethod
    def networks(self) -> list[NetworkInfo]:
        """Every usable network, in the backend's order (CNI: by file name)."""

    @abstractmethod
    def default_network(self) -> str:
        """The name of the network containers join when they name none."""

    @abstractmethod
    def inspect(self, name: str) -> NetworkInfo:
        """One network; NoSuchNetworkError if there is none of that name."""

    @abstractmethod
    def create(self, name: str, subnet: str = "", *, dns: bool = True) -> NetworkInfo:
        """Define a new bridge network (a free subnet if none is given); return it.
        NetworkExistsError if the name is taken, InvalidArgError for a bad subnet.
        ``dns`` (contract 1.6; ``network create --disable-dns`` passes False): whether
        its containers resolve each other's names, where the backend can (the result
        says, in ``dns_enabled``).  A backend written before 1.6 is called without it
        and makes networks without DNS."""

    @abstractmethod
    def remove(self, name: str) -> None:
        """Delete a network's definition (and its host interface, if no other network
        uses it); NoSuchNetworkError if there is none of that name."""

    @abstractmethod
    def setup(self, request: NetworkRequest) -> dict[str, dict[str, Any]]:
        """Attach ``request.netns_path`` to its networks (interfaces eth0, eth1, ...) and
        return each network's result, by name, in the shape of a CNI result (``ips``,
        ``interfaces``, ``routes``, and ``dns``: ``{"nameservers": [...], "search":
        [...]}`` of a network with DNS, which the container's resolv.conf puts first).
        ``request.name`` and each network's aliases are the names a DNS-enabled network
        resolves to the container's addresses there.  On failure nothing stays
        attached."""

    @abstractmethod
    def teardown(self, request: NetworkRequest) -> None:
        """Detach the container from every network it was attached to.  Works from what
        the backend remembers of the attachment, so it also works after a crash or a
        reboot, with the namespace gone; parts already gone are not an error."""

    @abstractmethod
    def check(self, request: NetworkRequest) -> None:
        """Check that the attachment is still as set up; NetworkError if not."""

    def connect(self, request: NetworkRequest, network: str) -> dict[str, Any]:
        """Attach ``request.netns_path``, set up before (its other networks are
        ``request.networks``), to one more ``network`` on the next free interface, with
        ``request.options_for(network)`` and ``request.port_mappings``; return that
        network's result (as :meth:`setup`'s).  NoSuchNetworkError for an unknown
        network, InvalidArgError if the container is attached to it already; on failure
        nothing of it stays attached.  :meth:`teardown` detaches it with the others.
        A backend written before contract 1.5 raises NotImplementedByBackendError."""
        raise NotImplementedByBackendError(
            f"the network backend {self.name!r} cannot connect a running container to a "
            "network (it was written before plugin contract 1.5)")

    def disconnect(self, request: NetworkRequest, network: str) -> None:
        """Detach the container from one ``network``, leaving its other attachments as
        they are.  Works from what the backend remembers, as :meth:`teardown`; a network
        it is not attached to is not an error.  A backend written before contract 1.5
        raises NotImplementedByBackendError."""
        raise NotImplementedByBackendError(
            f"the network backend {self.name!r} cannot disconnect a running container "
            "from a network (it was written before plugin contract 1.5)")

    def reload(self, request: NetworkRequest) -> None:
        """Make again what the attachment put outside the namespace (a flushed
        firewall's rules, published ports' NAT rules), keeping its interfaces, addresses
        and MAC addresses: ``network reload``.  Default: NetworkError (the backend
        cannot)."""
        from pypod_core.errors import NetworkError  # lazy: only a backend without reload

        raise NetworkError(f"network backend {self.name!r} cannot reload a container's "
                           "network")

    def remembered(self, request: NetworkRequest) -> dict[str, dict[str, Any]]:
        """The results of the container's attachments that the backend remembers (what
        :meth:`teardown` would detach), by network; the runtime deletes their firewall
        rules when its own record is gone (after a crash).  Default: none."""
        return {}


def result_addresses(result: dict[str, Any]) -> list[str]:
    """The container's addresses in a CNI result, as CIDR strings ("10.89.0.2/16").

    Handles results of CNI 0.3.0 and later (``ips``) and of 0.1/0.2 (``ip4``, ``ip6``).
    """
    found = [ip["address"] for ip in result.get("ips", []) if ip.get("address")]
    for key in ("ip4", "ip6"):
        if isinstance(result.get(key), dict) and result[key].get("ip"):
            found.append(result[key]["ip"])
    return found
