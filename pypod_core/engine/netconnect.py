"""``network connect`` and ``network disconnect``: a container joins or leaves one
network after it was created (libpod's ``NetworkConnect``/``NetworkDisconnect``).

The container's record changes in one transaction of the state store (its network list,
then explicit, its per-network options and its state).  A container whose namespace is
attached (created in the OCI runtime, running, paused) is attached or detached at once:
the network backend's ``connect``/``disconnect`` (CNI ADD or DEL of that network alone),
the firewall's rules for its addresses, and its ``/etc/hosts``.  Any other container
(configured, stopped, exited) only has its record changed: it joins its networks when it
starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from pypod_core.engine import etc_files
from pypod_core.engine.networking import (
    attach_request,
    firewall_of,
    network_names,
    network_of,
)
from pypod_core.errors import InvalidArgError, NetworkError, PypodError
from pypod_core.model import ContainerStatus, NetworkOptions
from pypod_core.plugin.network import NetworkRequest, interface_names, next_interface

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pypod_core.engine.container import Container
    from pypod_core.engine.runtime import Runtime


def connect(runtime: Runtime, ctr: Container, network: str,
            options: NetworkOptions | None = None) -> None:
    """Make ``ctr`` join ``network`` with ``options`` (aliases, static addresses, MAC).

    NoSuchNetworkError for an unknown network; InvalidArgError for a container not in
    bridge mode or already on the network (a configured one: nothing to do, as podman's
    Docker-compatible no-op)."""
    backend = network_of(runtime)
    with ctr.locked():
        _check_bridged(ctr)
        info = backend.inspect(network)
        current = network_names(runtime, ctr)
        if info.name in current:
            if ctr.state.state is ContainerStatus.CONFIGURED:
                return
            # podman's words, which scripts match
            raise InvalidArgError(f"container {ctr.id} is already connected to network "
                                  f"{info.name!r}: network is already connected")
        kept = _with_interfaces(ctr, current)
        given = options or NetworkOptions(network=info.name)
        interface = given.interface_name or next_interface({o.interface_name for o in kept})
        own = attrs.evolve(given, network=info.name, interface_name=interface)
        names = (*current, info.name)
        all_options = (*kept, own)
        result = None
        if ctr.state.netns_path:
            request = attrs.evolve(attach_request(runtime, ctr), networks=names,
                                   network_options=all_options)
            result = _attach(runtime, request, info.name, list(info.subnets),
                             info.masquerade)
            ctr.state.network_status = {**ctr.state.network_status, info.name: result}
        try:
            runtime.state.save_container_networks(ctr.id, names, all_options, ctr.state)
        except BaseException:
            if result is not None:
                _detach(runtime, NetworkRequest.for_container(ctr), info.name, result)
            raise
        ctr.config = runtime.state.container(ctr.id).config
        if result is not None:
            etc_files.add_network(ctr, result)


def disconnect(runtime: Runtime, ctr: Container, network: str) -> None:
    """Make ``ctr`` leave ``network``.  NoSuchNetworkError for an unknown network;
    InvalidArgError for a container not in bridge mode or not on the network."""
    backend = network_of(runtime)
    with ctr.locked():
        _check_bridged(ctr)
        name = backend.inspect(network).name
        current = network_names(runtime, ctr)
        if name not in current:
            # podman's words, which scripts match
            raise InvalidArgError(f"container {ctr.name} is not connected to network {name}")
        names = tuple(n for n in current if n != name)
        kept = tuple(o for o in _with_interfaces(ctr, current) if o.network != name)
        old = ctr.state.network_status.get(name)
        if ctr.state.netns_path:
            _detach(runtime, NetworkRequest.for_container(ctr), name, old)
            ctr.state.network_status = {n: r for n, r in ctr.state.network_status.items()
                                        if n != name}
        runtime.state.save_container_networks(ctr.id, names, kept, ctr.state)
        ctr.config = runtime.state.container(ctr.id).config
        if old is not None:
            etc_files.remove_network(ctr, old)


def _with_interfaces(ctr: Container, networks: Sequence[str]) -> tuple[NetworkOptions, ...]:
    """The container's options on each of ``networks``, each keeping the name of the
    interface it has there: once the list changes, the names would no longer follow
    from the order (libpod keeps them in its database for the same reason)."""
    names = interface_names(networks, ctr.config.network_options)
    return tuple(attrs.evolve(ctr.config.options_for(n), interface_name=names[n])
                 for n in networks)


def _check_bridged(ctr: Container) -> None:
    """Only a container with a network namespace of its own on the backend's networks
    (network mode bridge) can join or leave one: podman's words otherwise."""
    joined = ctr.config.shared_namespaces.get("net")
    mode = f"container:{joined}" if joined else ctr.config.network_mode
    if mode != "bridge":
        raise InvalidArgError(f'"{mode}" is not supported: invalid network mode')


def _attach(runtime: Runtime, request: NetworkRequest, network: str, subnets: list[str],
            masquerade: bool) -> dict[str, Any]:
    """The backend's ADD of one network, then the firewall's rules; a firewall failure
    detaches the network again before it is raised."""
    result = network_of(runtime).connect(request, network)
    if runtime.firewall:
        try:
            if masquerade:
                firewall_of(runtime).masquerade(subnets)
            firewall_of(runtime).add(result)
        except BaseException:
            _detach(runtime, request, network, result)
            raise
    return result


def _detach(runtime: Runtime, request: NetworkRequest, network: str,
            result: dict[str, Any] | None) -> None:
    """The firewall's rules for the network's addresses, then the backend's DEL; the
    network's masquerade stays (it is the network's, not the container's).  A rule
    already gone is fine; the backend's failure is raised (the container stays on the
    network in its record, and a second disconnect tries again)."""
    if runtime.firewall and result is not None:
        try:
            firewall_of(runtime).delete(result)
        except (PypodError, OSError) as exc:
            raise NetworkError(f"network {network!r}: cannot delete the firewall rules "
                               f"of container {request.name}: {exc}") from None
    network_of(runtime).disconnect(request, network)
