"""CNI network configuration lists: read from a directory, written for new networks.

As libcni does: files ``*.conf``, ``*.conflist`` and ``*.json`` of the config directory,
in sorted order; a ``.conf``/``.json`` holding one plugin's config (it has a ``type``) is
a list of that one plugin; when two files name the same network the first wins.  A file
that cannot be used is remembered with the reason, so that an error about a network it
might have defined names it.
"""

from __future__ import annotations

import json
import os
from typing import Any

import attrs

from pypod_core.errors import ConfigError, NetworkExistsError

EXTENSIONS = (".conf", ".conflist", ".json")
#: The CNI plugin that gives a network name resolution between its containers (a
#: dnsmasq per network), and the domain podman's networks resolve their names in.
DNS_PLUGIN = "dnsname"
DNS_DOMAIN = "dns.podman"


@attrs.frozen(kw_only=True)
class ConfList:
    """One network: a CNI configuration list and the file it came from."""

    name: str
    cni_version: str
    plugins: tuple[dict[str, Any], ...]
    path: str = ""
    disable_check: bool = False
    #: pypod's own settings of the network: the list's ``"pypod"`` object, which CNI
    #: ignores.  ``{"masquerade": true}``: pypod's firewall masquerades the subnets.
    pypod: dict[str, Any] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The list as CNI's JSON (what is cached, and what ``network inspect`` shows)."""
        data: dict[str, Any] = {"cniVersion": self.cni_version, "name": self.name,
                                "plugins": [dict(p) for p in self.plugins]}
        if self.disable_check:
            data["disableCheck"] = True
        if self.pypod:
            data["pypod"] = dict(self.pypod)
        return data

    def subnets(self) -> list[str]:
        """The subnets of host-local IPAM in the list's plugins."""
        found = []
        for plugin in self.plugins:
            ipam = plugin.get("ipam") or {}
            for range_set in ipam.get("ranges") or []:
                found += [r["subnet"] for r in range_set if isinstance(r, dict) and "subnet" in r]
            if ipam.get("subnet"):
                found.append(ipam["subnet"])
        return found

    def dns_enabled(self) -> bool:
        """Whether the list runs the ``dnsname`` plugin (podman's test of the same)."""
        return any(plugin.get("type") == DNS_PLUGIN for plugin in self.plugins)

    def bridge(self) -> str:
        """The bridge interface of the list's ``bridge`` plugin, or ""."""
        for plugin in self.plugins:
            if plugin.get("type") == "bridge":
                return str(plugin.get("bridge") or "cni0")
        return ""


def parse(data: Any, path: str) -> ConfList:
    """Turn a file's JSON into a ConfList; ConfigError naming the file if it is not one."""
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: invalid CNI config: not a JSON object")
    if "plugins" not in data and "type" in data:
        plugin = {k: v for k, v in data.items() if k not in ("name", "cniVersion")}
        data = {"name": data.get("name"), "cniVersion": data.get("cniVersion", "0.2.0"),
                "plugins": [plugin]}
    name, plugins = data.get("name"), data.get("plugins")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{path}: invalid CNI config: no network name")
    if not isinstance(plugins, list) or not plugins:
        raise ConfigError(f"{path}: invalid CNI config: no plugins")
    for i, plugin in enumerate(plugins):
        if not isinstance(plugin, dict) or not isinstance(plugin.get("type"), str):
            raise ConfigError(f"{path}: invalid CNI config: plugin {i} has no type")
    version = data.get("cniVersion", "0.2.0")
    if not isinstance(version, str):
        raise ConfigError(f"{path}: invalid CNI config: cniVersion is not a string")
    return ConfList(name=name, cni_version=version, plugins=tuple(plugins), path=path,
                    disable_check=bool(data.get("disableCheck", False)),
                    pypod=_pypod_settings(data.get("pypod", {}), path))


def _pypod_settings(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(v, bool) for v in value.values()):
        raise ConfigError(f"{path}: invalid CNI config: \"pypod\" must map names to booleans")
    return dict(value)


def load_file(path: str) -> ConfList:
    """Read one config file; ConfigError naming it if unreadable or malformed."""
    try:
        with open(path, "rb") as f:
            data = json.load(f)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid CNI config: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read CNI config: {exc}") from None
    return parse(data, path)


def load_dir(directory: str) -> tuple[list[ConfList], list[ConfigError]]:
    """Every network of ``directory`` in file order, and the errors of unusable files."""
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(EXTENSIONS))
    except FileNotFoundError:
        return [], []
    lists: list[ConfList] = []
    broken: list[ConfigError] = []
    seen: set[str] = set()
    for file_name in names:
        try:
            conf = load_file(os.path.join(directory, file_name))
        except ConfigError as exc:
            broken.append(exc)
            continue
        if conf.name not in seen:
            seen.add(conf.name)
            lists.append(conf)
    return lists, broken


def bridge_conflist(name: str, bridge: str, subnet: str, data_dir: str,
                    dns: bool = False) -> dict[str, Any]:
    """A bridge network as podman's: host-local IPAM, masquerade, portmap, and with
    ``dns`` the ``dnsname`` plugin last (domain ``dns.podman``, taking the containers'
    aliases), as podman's ``network create`` writes it.

    No ``firewall`` plugin: pypod's firewall backend writes those rules itself.  And the
    masquerade is the firewall's too (``"pypod": {"masquerade": true}``), one rule per
    subnet, rather than the bridge plugin's ``ipMasq``, a chain per container whose
    teardown costs each container some forty milliseconds of iptables commands.
    """
    import ipaddress  # lazy: only a new network (~1 ms)

    net = ipaddress.ip_network(subnet)
    gateway = str(next(net.hosts()))
    default_route = "0.0.0.0/0" if net.version == 4 else "::/0"
    return {
        "cniVersion": "0.4.0",
        "name": name,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": data_dir,
                    "routes": [{"dst": default_route}],
                    "ranges": [[{"subnet": str(net), "gateway": gateway}]],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
            *([{"type": DNS_PLUGIN, "domainName": DNS_DOMAIN,
                "capabilities": {"aliases": True}}] if dns else []),
        ],
        "pypod": {"masquerade": True},
    }


def write_new(path: str, data: dict[str, Any]) -> None:
    """Write a config file that must not exist yet, atomically (NetworkExistsError if
    another process wrote it first)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, 0o755, exist_ok=True)
    import tempfile  # lazy: only a new network (~1 ms)

    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".pypod-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise NetworkExistsError(f"network config {path} exists already") from None
    finally:
        os.unlink(tmp)
