"""A container's networking, as the lifecycle sees it (libpod's ``networking_linux.go``).

The container lifecycle calls :func:`setup_network` before a container is created in
the OCI runtime and :func:`teardown_network` when it stops, exits, is removed, and at the
reboot refresh.  Network modes: ``none`` (the OCI runtime makes a namespace with loopback
only), ``host`` (no namespace of its own), ``bridge`` (the networks of the runtime's
network backend, in a namespace pypod makes under ``<tmp_dir>/netns``), ``slirp4netns``
(such a namespace with slirp4netns attached: :mod:`pypod_core.engine.slirp`).

Setup order: reserve the published host ports, make the namespace, then, while the OCI
runtime creates the container, attach the namespace to the networks (the backend) and
add the firewall rules.  Teardown: firewall, then the namespace
(the kernel deletes its interfaces in the background), then the backend's DEL, then the ports.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import attrs

from pypod_core.engine import slirp
from pypod_core.errors import CtrInUseError, NetworkError, PortInUseError, PypodError
from pypod_core.host import netns, portreserve
from pypod_core.host.background import Background
from pypod_core.plugin.network import NetworkRequest

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.engine.runtime import Runtime
    from pypod_core.plugin.firewall import Firewall
    from pypod_core.plugin.network import Network

def attach_request(runtime: Runtime, ctr: Container) -> NetworkRequest:
    """The request that attaches ``ctr``: a pod's infra container is named by its pod,
    the name a network's DNS resolves (podman's ``getCNIPodName``)."""
    request = NetworkRequest.for_container(ctr)
    if ctr.config.is_infra and ctr.config.pod:
        try:
            name = runtime.state.pod(ctr.config.pod).config.name
        except PypodError:
            return request  # the pod went meanwhile: the container's own name will do
        request = attrs.evolve(request, name=name)
    return request


def netns_dir(runtime: Runtime) -> str:
    """Where pypod keeps its containers' namespaces: per boot, pypod's own."""
    return os.path.join(runtime.config.tmp_dir, "netns")


def ports_dir(runtime: Runtime) -> str:
    """Where the port holders of running containers are recorded."""
    return os.path.join(runtime.config.tmp_dir, "ports")


def setup_network(runtime: Runtime, ctr: Container) -> Background | None:
    """Make the container's network namespace (``ctr.state.netns_path``, and the
    published ports' ``reserved_ports``), then attach it to its networks on a thread of
    its own and return that attachment (None if the container has no networks).

    The caller creates the container in the OCI runtime meanwhile (that needs the
    namespace, not its interfaces) and calls the attachment's ``result()`` before the
    container starts: it records ``network_status``, or raises the attachment's error,
    after which the caller undoes the setup with :func:`teardown_network` (as after any
    failure of its own).  A failure here, before the attachment, is undone here."""
    if ctr.config.network_mode == slirp.MODE:
        return _setup_slirp(runtime, ctr)
    if ctr.config.network_mode != "bridge":
        return None
    if not runtime.network:
        raise NetworkError(f"container {ctr.config.name}: {no_network_reason(runtime)}")
    try:
        if ctr.config.port_mappings and runtime.config.enable_port_reservation:
            ctr.state.reserved_ports = tuple(_reserve(runtime, ctr))
        path = os.path.join(netns_dir(runtime), ctr.config.id)
        netns.remove_netns(path)  # a leftover of a crash: this container does not run
        ctr.state.netns_path = netns.create_netns(netns_dir(runtime), ctr.config.id)
    except BaseException:
        teardown_network(runtime, ctr)
        raise
    return Background(_attach, runtime, ctr)


def _setup_slirp(runtime: Runtime, ctr: Container) -> Background:
    """A namespace of the container's own, and slirp4netns attached to it on a thread
    of its own (the same contract as a bridged attachment).  slirp binds the published
    ports itself, so pypod holds none of them."""
    try:
        path = os.path.join(netns_dir(runtime), ctr.config.id)
        netns.remove_netns(path)  # a leftover of a crash: this container does not run
        ctr.state.netns_path = netns.create_netns(netns_dir(runtime), ctr.config.id)
    except BaseException:
        teardown_network(runtime, ctr)
        raise
    return Background(slirp.start, runtime, ctr)


def _attach(runtime: Runtime, ctr: Container) -> None:
    """Attach the namespace to the container's networks and let its traffic through the
    firewall.  A failure is raised, not undone here: the OCI runtime may still be using
    the namespace, and the caller tears the setup down once it is done with it."""
    if not network_names(runtime, ctr):  # it left every network (network disconnect)
        ctr.state.network_status = {}
        return
    masquerading = None
    try:
        if runtime.firewall:
            # The networks' masquerade does not depend on this container's attachment:
            # it is checked (and made if missing) on a thread of its own meanwhile.
            subnets = _masqueraded_subnets(runtime, ctr)
            masquerading = Background(firewall_of(runtime).masquerade, subnets)
        ctr.state.network_status = network_of(runtime).setup(attach_request(runtime, ctr))
        if masquerading is not None:
            masquerading.result()
        if runtime.firewall:
            for result in ctr.state.network_status.values():
                firewall_of(runtime).add(result)
    finally:
        if masquerading is not None:  # its rules are the network's: kept, waited for
            masquerading.wait()


def _masqueraded_subnets(runtime: Runtime, ctr: Container) -> list[str]:
    """The subnets of the container's networks (its own list, or the default network)
    that leave masquerading to the firewall; the networks are read once."""
    infos = network_of(runtime).networks()
    default = next((info.name for info in infos if info.default), "")
    joined = set(ctr.config.network_list(default))
    return [subnet for info in infos
            if info.name in joined and info.masquerade for subnet in info.subnets]


def _reserve(runtime: Runtime, ctr: Container) -> list[int]:
    try:
        return portreserve.reserve_ports(ports_dir(runtime), ctr.config.id,
                                         ctr.config.port_mappings)
    except PortInUseError as exc:
        holder = _container_holding(runtime, ctr, str(exc))
        raise PortInUseError(f"{exc}{holder}") from None


def _container_holding(runtime: Runtime, ctr: Container, message: str) -> str:
    """`` (published by container NAME)`` if another container has the port."""
    ports = {m.host_port for m in ctr.config.port_mappings}
    for record in runtime.state.all_containers():
        if record.config.id != ctr.config.id and ports & set(record.state.reserved_ports):
            for port in ports & set(record.state.reserved_ports):
                if f"{port}/" in message:
                    return f" (published by container {record.config.name})"
    return ""


def teardown_network(runtime: Runtime, ctr: Container) -> None:
    """Undo :func:`setup_network`: firewall, then the namespace, then the backend's DEL,
    then the port holder; parts already gone are fine.  Works from the backend's memory
    of the attachment too, so it also cleans up after a crash or at the reboot refresh,
    when the state has been cleared.  Never raises for a part that fails (the container
    must stay removable): each failure is logged as a warning."""
    state = ctr.state
    bridged = ctr.config.network_mode == "bridge" and runtime.network
    request = NetworkRequest.for_container(ctr) if bridged else None
    firewall = None
    if request is not None and runtime.firewall:
        # The firewall's rules and the backend's attachment are independent: both go at
        # once, the firewall on a thread of its own.
        results = list((state.network_status or _remembered(runtime, request)).values())
        firewall = Background(_delete_rules, runtime, ctr.config.name, results)
    # The namespace goes before the backend's DEL: the kernel then deletes its interfaces
    # in the background, where deleting a veth inside a live namespace waits ~30 ms.
    if ctr.config.network_mode == slirp.MODE:
        _try(f"stop slirp4netns of {ctr.config.name}", slirp.stop, runtime, ctr.config.id)
    paths = {state.netns_path, os.path.join(netns_dir(runtime), ctr.config.id)}
    for path in sorted(p for p in paths if p):
        _try(f"remove network namespace {path}", netns.remove_netns, path)
    if request is not None:
        _try(f"detach {ctr.config.name} from its networks", network_of(runtime).teardown, request)
    if firewall is not None:
        firewall.result()
    _try(f"release published ports of {ctr.config.name}", portreserve.release_ports,
         ports_dir(runtime), ctr.config.id)
    state.netns_path = ""
    state.network_status = {}
    state.reserved_ports = ()


def reload_network(runtime: Runtime, ctr: Container) -> None:
    """``network reload``: make the running container's firewall rules and the network
    backend's rules outside its namespace (published ports) again, where a firewall
    reload or an iptables flush removed them; its addresses and MAC addresses stay.
    NetworkError for a container that is not running on bridge networks."""
    if ctr.config.network_mode != "bridge" or not ctr.state.network_status:
        raise NetworkError(f"container {ctr.config.name} is not running on a bridge "
                           "network: nothing to reload")
    network_of(runtime).reload(NetworkRequest.for_container(ctr))
    if runtime.firewall:
        subnets = _masqueraded_subnets(runtime, ctr)
        if subnets:
            firewall_of(runtime).masquerade(subnets)
        for result in ctr.state.network_status.values():
            firewall_of(runtime).add(result)


def _delete_rules(runtime: Runtime, name: str, results: list[dict[str, Any]]) -> None:
    for result in results:
        _try(f"delete firewall rules of {name}", firewall_of(runtime).delete, result)


def _remembered(runtime: Runtime, request: NetworkRequest) -> dict[str, dict[str, Any]]:
    try:
        return network_of(runtime).remembered(request)
    except PypodError:
        return {}


def _try(what: str, func: Any, *args: Any) -> None:
    try:
        func(*args)
    except (PypodError, OSError) as exc:
        import logging  # lazy: only a failure (network rm has no logging else, ~5 ms)

        logging.getLogger("pypod.networking").warning("cannot %s: %s", what, exc)


def network_names(runtime: Runtime, ctr: Container) -> list[str]:
    """The networks a container joins: its own list, or the default network."""
    if ctr.config.network_mode != "bridge":
        return []
    if ctr.config.networks or ctr.config.networks_explicit:
        return list(ctr.config.networks)
    return [network_of(runtime).default_network()] if runtime.network else []


def network_of(runtime: Runtime) -> Network:
    """The runtime's network backend; NetworkError saying why if it has none."""
    if runtime.network is None:
        raise NetworkError(no_network_reason(runtime))
    return runtime.network


def firewall_of(runtime: Runtime) -> Firewall:
    """The runtime's firewall backend (callers check ``runtime.firewall`` first)."""
    if runtime.firewall is None:
        raise NetworkError("this runtime has no firewall backend")
    return runtime.firewall


def no_network_reason(runtime: Runtime) -> str:
    """Why this runtime has no network backend, and what to do instead."""
    why = runtime.missing_backends.get("network", "rootless pypod has none")
    return f"this runtime has no network backend ({why}): use --network none or host"


def remove_network(runtime: Runtime, name: str, *, force: bool = False,
                   timeout: int | None = None) -> None:
    """Remove a network no container is configured to join, and the firewall's
    masquerade of its subnets.  CtrInUseError naming the containers otherwise; with
    ``force``, as podman's ``network rm -f``, those containers are removed first (a
    running one stopped, after ``timeout`` seconds)."""
    if not runtime.network:
        raise NetworkError(no_network_reason(runtime))
    users = containers_using(runtime, name)
    if users and force:
        network_of(runtime).inspect(name)  # a missing network: NoSuchNetworkError first
        for user in users:
            runtime.remove_container(runtime.lookup_container(user), force=True,
                                     timeout=timeout)
    elif users:
        raise CtrInUseError(f"network {name!r} is used by containers: {', '.join(sorted(users))}")
    info = network_of(runtime).inspect(name)
    network_of(runtime).remove(name)
    if info.masquerade and runtime.firewall:
        firewall_of(runtime).unmasquerade(list(info.subnets))


def containers_using(runtime: Runtime, network: str) -> list[str]:
    """Names of the containers configured to join ``network``."""
    default = network_of(runtime).default_network() if runtime.network else ""
    found = []
    for record in runtime.state.all_containers():
        c = record.config
        if c.network_mode == "bridge" and network in c.network_list(default):
            found.append(c.name)
    return found


# -- inspect -------------------------------------------------------------------------------


def network_settings(ctr: Container) -> dict[str, Any]:
    """The ``NetworkSettings`` of ``pypod inspect``, with podman's keys: the first
    network's endpoint at the top level, every network under ``Networks``."""
    networks = {name: _endpoint(name, result, _aliases(ctr, name))
                for name, result in ctr.state.network_status.items()}
    if not ctr.state.netns_path:  # not attached: the networks it will join, no addresses
        networks = {name: _endpoint(name, {}, _aliases(ctr, name))
                    for name in _configured_networks(ctr)}
    settings: dict[str, Any] = {
        "Bridge": "",
        "SandboxID": "",
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": port_bindings(ctr),
        "SandboxKey": ctr.state.netns_path,
        **_empty_endpoint(),
        "Networks": networks,
    }
    if networks:
        first = next(iter(networks.values()))
        settings.update({k: v for k, v in first.items() if k in _empty_endpoint()})
    return settings


def port_bindings(ctr: Container) -> dict[str, list[dict[str, str]]]:
    """``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}``, as podman's ``Ports``."""
    ports: dict[str, list[dict[str, str]]] = {}
    for m in ctr.config.port_mappings:
        ports.setdefault(f"{m.container_port}/{m.protocol}", []).append(
            {"HostIp": m.host_ip, "HostPort": str(m.host_port)})
    return ports


def _empty_endpoint() -> dict[str, Any]:
    return {"EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
            "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "MacAddress": ""}


def _configured_networks(ctr: Container) -> list[str]:
    """The networks a bridged container joins when it starts ([] if that cannot be
    told: no network backend, or no usable default network)."""
    if ctr.config.shared_namespaces.get("net"):
        return []  # another container's namespace: its networks are that one's
    try:
        return network_names(ctr.runtime, ctr)
    except PypodError:
        return []


def _aliases(ctr: Container, network: str) -> list[str]:
    """The container's names on a network: its ``--alias``es and its short id (which
    podman gives every container, for Docker's sake)."""
    aliases = list(ctr.config.options_for(network).aliases)
    return aliases + [ctr.config.id[:12]] if ctr.config.id[:12] not in aliases else aliases


def _endpoint(name: str, result: dict[str, Any], aliases: list[str]) -> dict[str, Any]:
    """One network's entry under ``Networks``, from its CNI result."""
    import ipaddress  # lazy: only inspect (~1 ms)

    entry = {**_empty_endpoint(), "NetworkID": name, "DriverOpts": None,
             "IPAMConfig": None, "Links": None, "Aliases": aliases}
    interfaces = result.get("interfaces") or []
    for ip in result.get("ips") or []:
        iface = ipaddress.ip_interface(ip["address"])
        index = ip.get("interface")
        if isinstance(index, int) and 0 <= index < len(interfaces) and not entry["MacAddress"]:
            entry["MacAddress"] = interfaces[index].get("mac", "")
        if iface.version == 4 and not entry["IPAddress"]:
            entry.update(IPAddress=str(iface.ip), IPPrefixLen=iface.network.prefixlen,
                         Gateway=ip.get("gateway", ""))
        elif iface.version == 6 and not entry["GlobalIPv6Address"]:
            entry.update(GlobalIPv6Address=str(iface.ip),
                         GlobalIPv6PrefixLen=iface.network.prefixlen,
                         IPv6Gateway=ip.get("gateway", ""))
    if not entry["MacAddress"]:
        entry["MacAddress"] = next((i.get("mac", "") for i in interfaces if i.get("sandbox")), "")
    return entry
