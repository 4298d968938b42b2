"""The Firewall interface: rules that let a container's traffic through the host.

After a container is attached to a network, the runtime calls :meth:`Firewall.add` with
that network's result (a CNI result: its ``ips`` are the container's addresses); before
it detaches the container, :meth:`Firewall.delete` with the same result.  The seed's
rules (libpod's ``pkg/firewall``, the iptables backend) accept forwarded traffic from
each address and the replies to it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from pypod_core.plugin.network import result_addresses

if TYPE_CHECKING:
    import ipaddress


class Firewall(ABC):
    """A firewall backend."""

    #: The backend's name (``iptables``, ``none``).
    name: str

    @abstractmethod
    def add(self, result: dict[str, Any]) -> None:
        """Let the traffic of every address in ``result`` through.  Idempotent: adding
        the same result twice leaves one set of rules.  FirewallError on failure."""

    @abstractmethod
    def delete(self, result: dict[str, Any]) -> None:
        """Remove the rules :meth:`add` made for ``result``'s addresses, and only those;
        rules already gone are not an error."""

    @abstractmethod
    def masquerade(self, subnets: list[str]) -> None:
        """Masquerade traffic from each subnet to anywhere outside it (not multicast), for
        networks that leave this to the firewall (``NetworkInfo.masquerade``): one set of
        rules per subnet, shared by all its containers.  Idempotent."""

    @abstractmethod
    def unmasquerade(self, subnets: list[str]) -> None:
        """Remove what :meth:`masquerade` made for these subnets (a network was removed);
        rules already gone are not an error."""

    @abstractmethod
    def masqueraded(self) -> list[str]:
        """The subnets masqueraded now."""

    @abstractmethod
    def rules(self, result: dict[str, Any]) -> list[str]:
        """The rules for ``result``'s addresses that exist now, one string each (for
        ``inspect``-style views and for the conformance kit); empty when none."""


def container_ips(result: dict[str, Any]) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The container's addresses in a CNI result, without prefixes, IPv4 first."""
    import ipaddress  # lazy: only adding or deleting rules (~1 ms)

    ips = [ipaddress.ip_interface(a).ip for a in result_addresses(result)]
    return sorted(set(ips), key=lambda ip: (ip.version, ip))
