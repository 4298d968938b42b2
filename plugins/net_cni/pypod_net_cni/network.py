"""The ``cni`` network backend: CNI plugin binaries attach namespaces to networks.

Networks are the config lists in ``cni_config_dir``; where that directory holds none,
pypod writes its own default network there (a bridge of its own, host-local IPAM,
masquerade, portmap), so that a fresh host works.  Plugins are searched for in
``cni_plugin_dir``.  Settings of ``[plugins.net_cni]``: ``default_bridge`` (``pypod0``),
``default_subnet`` (``10.90.0.0/16``) for the network pypod writes, ``subnet_pool``
(``10.91.0.0/16``), whose /24s ``network create`` hands out, ``ipam_dir``
(``/run/pypod-ipam``), the host-local ``dataDir`` written into the networks pypod writes,
and ``dns_dir`` (``/run/pypod-dns``), where the ``dnsname`` plugin keeps the dnsmasq of
each network that resolves its containers' names (see :mod:`pypod_net_cni.dnsmasq`).

A network's leases belong to the network, not to the store that created it: every store
whose ``cni_config_dir`` holds the network reads the same ``dataDir`` from its config
list, so they share one lease table (``<ipam_dir>/<network name>/``), on a per-boot file
system, outside any store's run root (``system reset`` of one store must not free the
addresses another store's containers hold).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import TYPE_CHECKING, Any

from pypod_core.errors import (
    ConfigError,
    InvalidArgError,
    NetworkError,
    NetworkExistsError,
    NoSuchNetworkError,
    PypodError,
)
from pypod_core.host.netns import is_netns
from pypod_core.host.private import private_dir
from pypod_core.model import NetworkOptions, validate_name
from pypod_core.plugin.network import (
    Network,
    NetworkInfo,
    NetworkRequest,
    interface_names,
    next_interface,
    result_addresses,
)
from pypod_net_cni import conflist, dnsmasq
from pypod_net_cni.cache import CacheEntry, ResultCache
from pypod_net_cni.conflist import ConfList
from pypod_net_cni.invoke import Invocation, exec_plugin, find_plugin
from pypod_net_cni.standin import discard_standin, drop_standin, make_standin, needs_standin

if TYPE_CHECKING:
    import ipaddress

    from pypod_core.plugin import RuntimeView as Runtime

DEFAULT_FILE = "87-pypod-bridge.conflist"
_MAC = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}")
#: The name of the default network pypod wrote before it took podman's (``podman``):
#: where no network has the configured default name, a store of that time still finds
#: its default network (and its containers their network) under this one.
LEGACY_DEFAULT = "pypod"
SETTINGS = {"default_bridge": "pypod0", "default_subnet": "10.90.0.0/16",
            "subnet_pool": "10.91.0.0/16", "ipam_dir": "/run/pypod-ipam",
            "dns_dir": "/run/pypod-dns"}


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split("."))
    except ValueError:
        return (0,)


def _settings(runtime: Runtime) -> dict[str, str]:
    """``[plugins.net_cni]`` merged over the defaults; ConfigError for a wrong key."""
    given = runtime.config.plugin_config("net_cni")
    where = runtime.config.source or "options"
    for key, value in given.items():
        if key not in SETTINGS:
            raise ConfigError(f"{where}: [plugins.net_cni]: unknown key {key!r}")
        if not isinstance(value, str):
            raise ConfigError(f"{where}: [plugins.net_cni]: key {key!r}: expected a string")
    settings = {**SETTINGS, **given}
    for key in ("ipam_dir", "dns_dir"):
        if not os.path.isabs(settings[key]):
            raise ConfigError(f"{where}: [plugins.net_cni]: key {key!r}: "
                              f"{settings[key]!r} is not an absolute path")
    for key in ("default_subnet", "subnet_pool"):
        if key not in given:
            continue  # the built-in ones are good
        import ipaddress  # lazy: only subnets set in the config (~1 ms)

        try:
            net = ipaddress.ip_network(settings[key])
        except ValueError as exc:
            raise ConfigError(f"{where}: [plugins.net_cni]: key {key!r}: {exc}") from None
        if key == "subnet_pool" and net.prefixlen > 24:
            raise ConfigError(f"{where}: [plugins.net_cni]: key {key!r}: {net} is smaller "
                              "than the /24 each new network gets")
    return settings


class CNINetwork(Network):
    """Networks from CNI config lists, attached by running CNI plugins."""

    name = "cni"

    def __init__(self, *, config_dir: str, plugin_dirs: tuple[str, ...], cache_dir: str,
                 default_name: str = "podman",
                 default_bridge: str = SETTINGS["default_bridge"],
                 default_subnet: str = SETTINGS["default_subnet"],
                 subnet_pool: str = SETTINGS["subnet_pool"],
                 ipam_dir: str = SETTINGS["ipam_dir"],
                 dns_dir: str = SETTINGS["dns_dir"]):
        self.config_dir = config_dir
        self.plugin_dirs = plugin_dirs
        self.cache = ResultCache(cache_dir)
        self.standin_dir = os.path.join(cache_dir, ".standin")
        self.ipam_dir = ipam_dir
        self.dns_dir = dns_dir
        self.default_name = default_name
        self.default_bridge = default_bridge
        self.default_subnet = default_subnet
        self.subnet_pool = subnet_pool

    @classmethod
    def for_runtime(cls, runtime: Runtime) -> CNINetwork:
        """The backend of a runtime: its config keys and ``[plugins.net_cni]``; the DEL
        cache under the graph root (it must survive a reboot)."""
        c = runtime.config
        settings = _settings(runtime)
        return cls(
            config_dir=c.cni_config_dir,
            plugin_dirs=tuple(c.cni_plugin_dir),
            cache_dir=os.path.join(c.graph_root, "cni", "results"),
            default_name=c.cni_default_network,
            **settings,
        )

    # -- the networks --------------------------------------------------------------------

    def _load(self) -> tuple[list[ConfList], list[ConfigError]]:
        lists, broken = conflist.load_dir(self.config_dir)
        if not lists and not broken:
            self._write_default()
            lists, broken = conflist.load_dir(self.config_dir)
        return lists, broken

    def _write_default(self) -> None:
        data = conflist.bridge_conflist(self.default_name, self.default_bridge,
                                        self.default_subnet, self.ipam_dir)
        try:
            conflist.write_new(os.path.join(self.config_dir, DEFAULT_FILE), data)
        except NetworkExistsError:
            pass  # another pypod process wrote it first: as good as ours

    def _lookup(self, name: str) -> ConfList:
        return self._find(name, *self._load())

    def _find(self, name: str, lists: list[ConfList], broken: list[ConfigError]) -> ConfList:
        for conf in lists:
            if conf.name == name:
                return conf
        hint = "".join(f" (unusable config file {exc})" for exc in broken)
        # podman's words, which scripts match; then the broken files that may be it
        raise NoSuchNetworkError(
            f"unable to find network with name or ID {name}: network not found{hint}")

    def _default(self, lists: list[ConfList], broken: list[ConfigError]) -> ConfList:
        for wanted in (self.default_name, LEGACY_DEFAULT):
            for conf in lists:
                if conf.name == wanted:
                    return conf
        if lists:
            return lists[0]
        if broken:
            raise broken[0]
        raise NoSuchNetworkError(f"no CNI network config in {self.config_dir}")

    def default_network(self) -> str:
        """``cni_default_network`` if such a network exists, else the one named
        ``pypod`` (the default network of older pypod stores), else the first one."""
        return self._default(*self._load()).name

    def networks(self) -> list[NetworkInfo]:
        """Every usable network, in file order."""
        lists, broken = self._load()
        default = self._default(lists, broken).name if lists else ""
        return [self._info(conf, conf.name == default) for conf in lists]

    def inspect(self, name: str) -> NetworkInfo:
        """One network; NoSuchNetworkError naming the config dir if missing."""
        conf = self._lookup(name)
        return self._info(conf, conf.name == self.default_network())

    @staticmethod
    def _info(conf: ConfList, default: bool) -> NetworkInfo:
        return NetworkInfo(name=conf.name, driver=str(conf.plugins[0]["type"]),
                           subnets=tuple(conf.subnets()), interface=conf.bridge(),
                           path=conf.path, default=default, config=conf.to_dict(),
                           masquerade=bool(conf.pypod.get("masquerade")),
                           dns_enabled=conf.dns_enabled())

    def create(self, name: str, subnet: str = "", *, dns: bool = True) -> NetworkInfo:
        """Write ``<config dir>/<name>.conflist``: a bridge network like the default one,
        on a bridge and subnet no other network (or host route) uses; with ``dns`` and
        the ``dnsname`` plugin installed, its containers resolve each other's names
        (podman's rule: without the plugin the network has no DNS, and says so)."""
        validate_name(name)
        lists, _ = self._load()
        if any(conf.name == name for conf in lists):
            # podman's words, which scripts match
            raise NetworkExistsError(f"network name {name} already used: network already exists")
        net = self._check_subnet(subnet, lists) if subnet else self._free_subnet(lists)
        dns = dns and find_plugin(conflist.DNS_PLUGIN, self.plugin_dirs) is not None
        data = conflist.bridge_conflist(name, self._free_bridge(lists), str(net),
                                        self.ipam_dir, dns=dns)
        path = os.path.join(self.config_dir, f"{name}.conflist")
        conflist.write_new(path, data)
        return self._info(conflist.load_file(path), False)

    def _check_subnet(self, subnet: str, lists: list[ConfList]) -> ipaddress._BaseNetwork:
        import ipaddress  # lazy: only network create --subnet (~1 ms)

        try:
            net = ipaddress.ip_network(subnet)
        except ValueError as exc:
            raise InvalidArgError(f"invalid subnet {subnet!r}: {exc}") from None
        if net.num_addresses < 4:
            raise InvalidArgError(f"subnet {subnet} is too small for a network")
        for conf in lists:
            for other in conf.subnets():
                if _overlaps(net, other):
                    raise InvalidArgError(
                        f"subnet {subnet} overlaps subnet {other} of network {conf.name!r}")
        return net

    def _free_subnet(self, lists: list[ConfList]) -> ipaddress._BaseNetwork:
        import ipaddress  # lazy: only network create (~1 ms)

        used = [s for conf in lists for s in conf.subnets()] + _host_routes()
        for candidate in ipaddress.ip_network(self.subnet_pool).subnets(new_prefix=24):
            if not any(_overlaps(candidate, u) for u in used):
                return candidate
        raise NetworkError(f"no free /24 subnet left in the pool {self.subnet_pool}")

    def _free_bridge(self, lists: list[ConfList]) -> str:
        used = {conf.bridge() for conf in lists} | set(_host_interfaces())
        prefix = self.default_bridge.rstrip("0123456789") or "pypod"
        n = 1
        while f"{prefix}{n}" in used:
            n += 1
        return f"{prefix}{n}"

    def remove(self, name: str) -> None:
        """Delete the network's config file, and its bridge if no other network uses it;
        stop its dnsmasq if one still runs.  The default network cannot be removed
        (pypod would write it again)."""
        lists, broken = self._load()
        conf = self._lookup(name)
        if conf.name == self._default(lists, broken).name:
            # podman's words, which scripts match
            raise InvalidArgError(f"default network {name} cannot be removed")
        try:
            os.unlink(conf.path)
        except FileNotFoundError:
            pass
        if conf.dns_enabled():
            dnsmasq.stop_server(self.dns_dir, conf.name)
        bridge = conf.bridge()
        if bridge and not any(c.bridge() == bridge for c in lists if c.name != name):
            _delete_link(bridge)
            if conf.dns_enabled():
                dnsmasq.drop_input_rule(bridge)

    # -- attaching -----------------------------------------------------------------------

    def setup(self, request: NetworkRequest) -> dict[str, dict[str, Any]]:
        """ADD the namespace to each network in turn, on the interfaces the request
        names (eth0, eth1, ... unless kept otherwise); on failure DEL what was added and
        raise."""
        known, broken = self._load()  # read once: every lookup below is in it
        names = request.networks or (self._default(known, broken).name,)
        if len(set(names)) != len(names):
            raise InvalidArgError(f"network listed twice in {','.join(names)}")
        if request.static_ip:
            _check_ip(request.static_ip)
        for name in names:
            _check_options(request.options_for(name))
        lists = [self._find(n, known, broken) for n in names]
        ifnames = interface_names(names, request.network_options)
        for conf in lists:
            self._binaries(conf)  # fail before anything is attached
            _prepare_data_dirs(conf)
        results: dict[str, dict[str, Any]] = {}
        try:
            for i, (name, conf) in enumerate(zip(names, lists, strict=True)):
                entry = CacheEntry(container_id=request.container_id, network=conf.name,
                                   ifname=ifnames[name], netns=request.netns_path,
                                   config=conf.to_dict(),
                                   cni_args=_cni_args(request, conf.name, i == 0),
                                   capability_args=_capability_args(request, conf.name, i == 0))
                self.cache.save(entry)
                entry.result = self._add_retrying(conf, entry)
                self.cache.save(entry)
                results[conf.name] = entry.result
        except BaseException:
            try:
                self.teardown(request)
            except NetworkError:
                pass  # the ADD error is the one worth reporting
            raise
        return results

    def connect(self, request: NetworkRequest, network: str) -> dict[str, Any]:
        """ADD the namespace to one more network, on the interface its options name or
        else the first ``ethN`` the container's attachments leave free; on failure DEL
        it again and raise."""
        conf = self._lookup(network)
        entries = self.cache.entries(request.container_id)
        if any(e.network == conf.name for e in entries):
            raise InvalidArgError(f"container {request.container_id[:12]} is already "
                                  f"connected to network {conf.name!r}")
        _check_options(request.options_for(conf.name))
        used = {e.ifname for e in entries}
        ifname = request.options_for(conf.name).interface_name or next_interface(used)
        if ifname in used:
            raise InvalidArgError(f"container {request.container_id[:12]} has an "
                                  f"interface {ifname} already")
        self._binaries(conf)  # fail before anything is attached
        _prepare_data_dirs(conf)
        entry = CacheEntry(container_id=request.container_id, network=conf.name,
                           ifname=ifname, netns=request.netns_path, config=conf.to_dict(),
                           cni_args=_cni_args(request, conf.name, False),
                           capability_args=_capability_args(request, conf.name, False))
        self.cache.save(entry)
        try:
            entry.result = self._add_retrying(conf, entry)
        except BaseException:
            try:
                self._del(entry)
                self.cache.remove(entry)
            except PypodError:
                pass  # the ADD error is the one worth reporting; the entry stays for DEL
            raise
        self.cache.save(entry)
        return entry.result

    def disconnect(self, request: NetworkRequest, network: str) -> None:
        """DEL the container's attachment to one network (from the cache, as teardown);
        the entry of a DEL that fails stays cached."""
        for entry in self.cache.entries(request.container_id):
            if entry.network == network:
                self._del(entry)
                self.cache.remove(entry)

    def _binaries(self, conf: ConfList) -> list[str]:
        """Each plugin's binary; NetworkError naming the first missing one."""
        found = []
        for plugin in conf.plugins:
            binary = find_plugin(plugin["type"], self.plugin_dirs)
            if binary is None:
                raise NetworkError(
                    f"network {conf.name!r} ({conf.path}): CNI plugin {plugin['type']!r} "
                    f"not found in {', '.join(self.plugin_dirs)}")
            found.append(binary)
        return found

    def _invocation(self, command: str, entry: CacheEntry, netns: str) -> Invocation:
        return Invocation(command=command, container_id=entry.container_id, netns=netns,
                          ifname=entry.ifname, args=entry.cni_args,
                          plugin_dirs=self.plugin_dirs, runtime_dir=self.dns_dir)

    def _add_retrying(self, conf: ConfList, entry: CacheEntry) -> dict[str, Any]:
        """ADD, and once more after a DEL where the bridge plugin (up to at least 1.1.1)
        trips over its own stale copy of a bridge whose MAC address the kernel zeroed
        (the bridge lost its last port in a failed first ADD): the first retry finds
        the bridge's address in place and skips the step that failed."""
        try:
            return self._add(conf, entry)
        except NetworkError as exc:
            if "could not set bridge's mac" not in str(exc):
                raise
        self._del(entry)
        return self._add(conf, entry)

    def _add(self, conf: ConfList, entry: CacheEntry) -> dict[str, Any]:
        inv = self._invocation("ADD", entry, entry.netns)
        prev: dict[str, Any] | None = None
        for plugin, binary in zip(conf.plugins, self._binaries(conf), strict=True):
            config = _plugin_config(conf, plugin, prev, entry.capability_args)
            try:
                prev = exec_plugin(binary, config, inv) or prev
            except NetworkError as exc:
                raise NetworkError(f"network {conf.name!r}: {exc}") from None
        if prev is None:
            raise NetworkError(f"network {conf.name!r}: the CNI plugins returned no result")
        return prev

    def teardown(self, request: NetworkRequest) -> None:
        """DEL every cached attachment of the container, last interface first; an entry
        whose DEL fails stays cached (a later teardown tries again)."""
        first_error: PypodError | None = None
        for entry in reversed(self.cache.entries(request.container_id)):
            try:
                self._del(entry)
            except PypodError as exc:  # e.g. a cached config that no longer parses
                first_error = first_error or exc
                continue
            self.cache.remove(entry)
        if first_error is not None:
            raise first_error

    def reload(self, request: NetworkRequest) -> None:
        """ADD again, with the cached result as ``prevResult``, every plugin of each
        attachment's list after the first (``portmap``, ``firewall``, ``tuning``...,
        whose rules live outside the namespace): they make what is missing.  The first
        plugin (the interface and its IPAM lease) is left as it is, so the addresses and
        MAC addresses stay."""
        entries = self.cache.entries(request.container_id)
        if not entries:
            raise NetworkError(f"container {request.container_id[:12]} is attached to no network")
        for entry in entries:
            conf = conflist.parse(entry.config, f"cache of {entry.container_id}")
            if entry.result is None or not is_netns(entry.netns):
                raise NetworkError(f"network {conf.name!r}: container "
                                   f"{entry.container_id[:12]} is not attached")
            inv = self._invocation("ADD", entry, entry.netns)
            chained = list(zip(conf.plugins, self._binaries(conf), strict=True))[1:]
            for plugin, binary in chained:
                config = _plugin_config(conf, plugin, entry.result, entry.capability_args)
                try:
                    exec_plugin(binary, config, inv)
                except NetworkError as exc:
                    raise NetworkError(f"network {conf.name!r}: {exc}") from None

    def remembered(self, request: NetworkRequest) -> dict[str, dict[str, Any]]:
        """The cached ADD results of the container, by network."""
        return {e.network: e.result for e in self.cache.entries(request.container_id)
                if e.result is not None}

    def _del(self, entry: CacheEntry) -> None:
        conf = conflist.parse(entry.config, f"cache of {entry.container_id}")
        binaries = self._binaries(conf)
        standin = ""
        if is_netns(entry.netns):
            netns = entry.netns
        elif needs_standin(conf.plugins):
            netns = standin = make_standin(self.standin_dir, entry)
        else:  # CNI's DEL with no namespace: each plugin releases what it holds outside
            netns = ""
            discard_standin(self.standin_dir, entry)
        inv = self._invocation("DEL", entry, netns)
        prev = entry.result if _version(conf.cni_version) >= (0, 4, 0) else None
        first_error: NetworkError | None = None
        try:
            # Every plugin gets its DEL even if one fails: each undoes its own part.
            for plugin, binary in reversed(list(zip(conf.plugins, binaries, strict=True))):
                config = _plugin_config(conf, plugin, prev, entry.capability_args)
                try:
                    exec_plugin(binary, config, inv)
                except NetworkError as exc:
                    first_error = first_error or NetworkError(f"network {conf.name!r}: {exc}")
        finally:
            drop_standin(standin)
        if first_error is not None:
            raise first_error

    def check(self, request: NetworkRequest) -> None:
        """CHECK every attachment (config lists of CNI 0.4.0 and later)."""
        entries = self.cache.entries(request.container_id)
        if not entries:
            raise NetworkError(f"container {request.container_id[:12]} is attached to no network")
        for entry in entries:
            conf = conflist.parse(entry.config, f"cache of {entry.container_id}")
            if conf.disable_check or _version(conf.cni_version) < (0, 4, 0):
                continue
            if entry.result is None or not is_netns(entry.netns):
                raise NetworkError(f"network {conf.name!r}: container "
                                   f"{entry.container_id[:12]} is not attached")
            inv = self._invocation("CHECK", entry, entry.netns)
            for plugin, binary in zip(conf.plugins, self._binaries(conf), strict=True):
                config = _plugin_config(conf, plugin, entry.result, entry.capability_args)
                try:
                    exec_plugin(binary, config, inv)
                except NetworkError as exc:
                    if not _known_false_alarm(plugin, entry, exc, self.dns_dir):
                        raise NetworkError(f"network {conf.name!r}: {exc}") from None


def _prepare_data_dirs(conf: ConfList) -> None:
    """Make the host-local ``dataDir`` of the network's plugins, root's only, where it is
    missing: the plugin would make it (and the lease table and lock inside) world-readable,
    and any local user could then hold its lock and stall every ADD on the network."""
    for plugin in conf.plugins:
        ipam = plugin.get("ipam") or {}
        data_dir = ipam.get("dataDir") if ipam.get("type") == "host-local" else None
        if isinstance(data_dir, str) and data_dir and not os.path.isdir(data_dir):
            try:
                private_dir(data_dir)
            except OSError as exc:
                raise NetworkError(f"network {conf.name!r}: IPAM data dir {data_dir}: "
                                   f"{exc.strerror}") from None


def _plugin_config(conf: ConfList, plugin: dict[str, Any], prev: dict[str, Any] | None,
                   capability_args: dict[str, Any]) -> dict[str, Any]:
    """One plugin's stdin (libcni's ``buildOneConfig``): its config, the list's name and
    version, the previous result, and the capability arguments it declared.  Several
    static addresses go to the first plugin (the one with the IPAM) as ``ips`` whether
    it declares that capability or not: ``CNI_ARGS`` carries one address only."""
    config = dict(plugin)
    config["name"] = conf.name
    config["cniVersion"] = conf.cni_version
    if prev is not None:
        config["prevResult"] = prev
    caps = dict(plugin.get("capabilities") or {})
    if plugin is conf.plugins[0] and len(capability_args.get("ips", ())) > 1:
        caps["ips"] = True
    runtime_config = {k: v for k, v in capability_args.items() if caps.get(k)}
    if runtime_config:
        config["runtimeConfig"] = {**config.get("runtimeConfig", {}), **runtime_config}
    return config


def _known_false_alarm(plugin: dict[str, Any], entry: CacheEntry, exc: NetworkError,
                       dns_dir: str) -> bool:
    """portmap up to at least 1.1.1 fails CHECK of a container with published ports but
    no IPv6 address: it looks for an IPv6 DNAT chain that ADD rightly never made.
    dnsname (up to at least 1.3.1) fails every CHECK: it looks for the network's files
    one directory too high; pypod looks where they are instead."""
    if plugin.get("type") == conflist.DNS_PLUGIN and "missing from configuration" in str(exc):
        return dnsmasq.serves(dns_dir, entry.network)
    if plugin.get("type") != "portmap" or "ipv6" not in str(exc):
        return False
    return not any(":" in a for a in result_addresses(entry.result or {}))


def _static_ips(request: NetworkRequest, network: str, first: bool) -> list[str]:
    """The static addresses on ``network``: ``--ip`` on the first network, then the
    network's own (``network connect --ip/--ip6``)."""
    given = [request.static_ip] if first and request.static_ip else []
    return given + [ip for ip in request.options_for(network).static_ips if ip not in given]


def _cni_args(request: NetworkRequest, network: str, first: bool) -> str:
    """``CNI_ARGS``: the container's name as ``K8S_POD_NAME`` (the name ``dnsname``
    resolves, as podman passes it), a lone static address as ``IP`` (what CNI plugins
    before 1.0 take), a static MAC address as ``MAC``."""
    # dnsname removes a container's line by that name on DEL: never an empty one (and a
    # DNS label is at most 63 characters: the short id, not the whole one).
    args = ["IgnoreUnknown=1", f"K8S_POD_NAME={request.name or request.container_id[:12]}"]
    ips = _static_ips(request, network, first)
    if len(ips) == 1:
        args.append(f"IP={ips[0]}")
    mac = request.options_for(network).static_mac
    if mac:
        args.append(f"MAC={mac}")
    return ";".join(args)


def _capability_args(request: NetworkRequest, network: str, first: bool) -> dict[str, Any]:
    """Port mappings go to every network (a published port stays reachable while the
    container is on any of them, as podman's), the static addresses and the aliases
    (with the container's short id, as podman's) to their network."""
    caps: dict[str, Any] = {}
    if request.port_mappings:
        caps["portMappings"] = [
            {"hostPort": p.host_port, "containerPort": p.container_port,
             "protocol": p.protocol, "hostIP": p.host_ip}
            for p in request.port_mappings
        ]
    ips = _static_ips(request, network, first)
    if ips:
        caps["ips"] = ips
    aliases = list(request.options_for(network).aliases)
    caps["aliases"] = {network: aliases + [request.container_id[:12]]}
    return caps


def _check_options(options: NetworkOptions) -> None:
    """InvalidArgError for a static address or MAC address that is not one."""
    for address in options.static_ips:
        _check_ip(address)
    if options.static_mac and not _MAC.fullmatch(options.static_mac):
        raise InvalidArgError(f"invalid MAC address {options.static_mac!r}")


def _check_ip(address: str) -> None:
    import ipaddress  # lazy: only --ip (~1 ms)

    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise InvalidArgError(f"invalid static IP address {address!r}") from None


def _overlaps(net: ipaddress._BaseNetwork, other: str) -> bool:
    import ipaddress  # lazy: only network create (~1 ms)

    try:
        o = ipaddress.ip_network(other, strict=False)
    except ValueError:
        return False
    return o.version == net.version and net.overlaps(o)  # type: ignore[arg-type]


def _host_routes() -> list[str]:
    """The IPv4 destinations of the host's routes, except default routes."""
    import ipaddress  # lazy: only network create (~1 ms)

    found = []
    try:
        with open("/proc/net/route") as f:
            rows = [line.split() for line in f.readlines()[1:]]
    except OSError:
        return []
    for row in rows:
        if len(row) < 8:
            continue
        dest, mask = (ipaddress.IPv4Address(bytes.fromhex(v)[::-1]) for v in (row[1], row[7]))
        if int(mask):
            found.append(f"{dest}/{bin(int(mask)).count('1')}")
    return found


def _host_interfaces() -> list[str]:
    try:
        return os.listdir("/sys/class/net")
    except OSError:
        return []


def _delete_link(name: str) -> None:
    """Delete a host interface if it exists (``ip link del``); absent is fine."""
    if not os.path.exists(f"/sys/class/net/{name}"):
        return
    ip = shutil.which("ip") or "/usr/sbin/ip"
    proc = subprocess.run([ip, "link", "del", name], capture_output=True, text=True)
    if proc.returncode != 0 and os.path.exists(f"/sys/class/net/{name}"):
        raise NetworkError(f"cannot delete interface {name}: {proc.stderr.strip()}")
