"""The keys of podman's ``containers.conf`` that pypod honours, beneath its own config.

Files, as podman reads them: ``$CONTAINERS_CONF`` alone where it is set; else
``/etc/containers/containers.conf`` and, rootless, ``~/.config/containers/
containers.conf`` (a later file's key wins).  The vendor file
(``/usr/share/containers/containers.conf``) is not read: it spells out podman's built-in
defaults, which pypod's own built-in defaults stand for.

Each supported key becomes the pypod config key of :data:`KEYS`; ``pypod.conf`` and
the caller's options override it.  A key pypod does not support is named in one warning
line on stderr (users' files hold many keys; none of them is an error), and ignored.  A
supported key of the wrong type is a ConfigError naming the file and the key.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Final

from pypod_core.errors import ConfigError

SYSTEM_FILE = "/etc/containers/containers.conf"
USER_FILE = ".config/containers/containers.conf"

#: (table, key) of containers.conf -> (pypod config key, type: "list" or "str").
KEYS: Final[dict[tuple[str, str], tuple[str, str]]] = {
    ("containers", "dns_servers"): ("dns_servers", "list"),
    ("containers", "dns_searches"): ("dns_searches", "list"),
    ("containers", "dns_options"): ("dns_options", "list"),
    ("containers", "base_hosts_file"): ("base_hosts_file", "str"),
    ("containers", "host_containers_internal_ip"): ("host_containers_internal_ip", "str"),
    ("network", "default_network"): ("cni_default_network", "str"),
    ("engine", "infra_image"): ("infra_image", "str"),
    ("secrets", "driver"): ("secret_driver", "str"),
}


def files(rootless: bool) -> list[str]:
    """The containers.conf files to read, in order (only those that exist)."""
    given = os.environ.get("CONTAINERS_CONF")
    if given:
        return [given]  # podman reads it alone, and it must exist
    found = [SYSTEM_FILE]
    home = os.environ.get("HOME")
    if rootless and home:
        found.append(os.path.join(home, USER_FILE))
    return [path for path in found if os.path.isfile(path)]


def load(rootless: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The pypod config keys the containers.conf files set ({} if there are none), and
    the file each one came from."""
    result: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for path in files(rootless):
        found = _keys_of(path)
        result.update(found)
        origins.update(dict.fromkeys(found, path))
    return result, origins


def _keys_of(path: str) -> dict[str, Any]:
    from pypod_core.config import read_toml  # cycle: config imports this module

    data = read_toml(path)
    found: dict[str, Any] = {}
    ignored: list[str] = []
    for table, body in data.items():
        if not isinstance(body, dict):
            ignored.append(table)
            continue
        for key, value in body.items():
            target = KEYS.get((table, key))
            if target is None:
                ignored.append(f"[{table}] {key}")
                continue
            found[target[0]] = _checked(value, target[1], f"{path}: [{table}] {key}")
    if ignored:
        sys.stderr.write(f"WARN: {path}: containers.conf keys pypod does not support, "
                         f"ignored: {', '.join(ignored)}\n")
    return found


def _checked(value: Any, kind: str, where: str) -> Any:
    if kind == "str":
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected an array of strings, got {value!r}")
    return list(value)
