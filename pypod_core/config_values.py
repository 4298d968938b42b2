"""Checks of the configuration's values, once the types are right (cattrs checks those).

:func:`check_values` goes through every key of
:class:`~pypod_core.config.RuntimeConfig`: names of backends and networks are names,
directories and binaries are absolute paths, enumerations are one of their values,
numbers are in range.  A bad value is a ConfigError of one line naming where the value
came from (the file, or "options") and the key.  :func:`check_depth` bounds how deeply a
TOML value nests, so that nothing after the parser recurses without bound.

It runs on both of :func:`~pypod_core.config.load_config`'s paths (with and without
cattrs) and costs microseconds: plain comparisons, no imports.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from pypod_core.errors import ConfigError

if TYPE_CHECKING:
    from pypod_core.config import RuntimeConfig

#: How deeply arrays and tables may nest in a config file (pypod's own keys need 2).
MAX_DEPTH: Final = 32
#: Values of ``cgroup_manager`` and of ``netns``.
CGROUP_MANAGERS: Final = ("cgroupfs", "systemd")
NETNS_MODES: Final = ("bridge", "none", "host")
#: Values of ``events_logger`` (podman's journald is not one: pypod has none).
EVENTS_LOGGERS: Final = ("file", "none")
#: conmon reads logs in 8 KiB chunks: a positive log size limit below that is refused,
#: as containers.conf's ``log_size_max`` is; a negative one means no limit.
MIN_LOG_SIZE: Final = 8192


#: libpod's rule for container, pod, network and volume names (the model's too).
NAME_PATTERN: Final = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def _name(value: str) -> str | None:
    """A problem unless ``value`` is a name as containers', pods' and networks' are."""
    if not NAME_PATTERN.fullmatch(value):
        return f"{value!r} is not a name ([a-zA-Z0-9][a-zA-Z0-9_.-]*)"
    return None


def _name_or_absolute(value: str) -> str | None:
    """A backend's name, or (``runtime``, as podman's) a binary's absolute path."""
    if "/" in value:
        return _absolute(value)
    return _name(value)


def _optional_name(value: str) -> str | None:
    return _name(value) if value else None


def _absolute(value: str) -> str | None:
    if not value.startswith("/"):
        return f"{value!r} is not an absolute path"
    return None


def _optional_absolute(value: str) -> str | None:
    return _absolute(value) if value else None


def _each(check: Callable[[Any], str | None]) -> Callable[[list[Any]], str | None]:
    def check_all(values: list[Any]) -> str | None:
        for value in values:
            problem = check(value)
            if problem:
                return problem
        return None

    return check_all


def _ip(value: str) -> str | None:
    """A problem unless ``value`` is an IPv4 or IPv6 address."""
    import ipaddress  # lazy: only DNS or hosts addresses in a config (~1 ms)

    try:
        ipaddress.ip_address(value)
    except ValueError:
        return f"{value!r} is not an IP address"
    return None


def _optional_ip(value: str) -> str | None:
    return _ip(value) if value else None


def _word(value: str) -> str | None:
    if not value or any(c.isspace() for c in value):
        return f"{value!r} is not one word"
    return None


def _hosts_file(value: str) -> str | None:
    return None if value in ("", "none") else _absolute(value)


def _one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        if value not in choices:
            return f"{value!r} is not one of {', '.join(choices)}"
        return None

    return check


def _env_var(value: str) -> str | None:
    key, eq, _ = value.partition("=")
    if not key or not eq:
        return f"{value!r} is not NAME=VALUE"
    return None


def _runtime_flag(value: str) -> str | None:
    if not value or value.startswith("-"):
        return f"{value!r} is not a runtime flag without its leading -- (log-format=json)"
    return None


def _log_size(value: int) -> str | None:
    if 0 <= value < MIN_LOG_SIZE:
        return f"{value} is neither negative (no limit) nor at least {MIN_LOG_SIZE} bytes"
    return None


def _events_logger(value: str) -> str | None:
    if value == "journald":
        return "'journald' is not supported by pypod (no journal backend); use file or none"
    return _one_of(*EVENTS_LOGGERS)(value)


#: An image reference with a registry, repository path or tag (``--infra-image``'s form).
_IMAGE_REFERENCE: Final = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.:/@-]*[/:@][a-zA-Z0-9_.:/@-]+$")


def _infra_image(value: str) -> str | None:
    if value.startswith("/") or _name(value) is None or _IMAGE_REFERENCE.match(value):
        return None
    return f"{value!r} is neither an absolute path, a name nor an image reference"


def _command(value: list[str]) -> str | None:
    if not value or not value[0]:
        return "the infra command is empty"
    return None


def _plugin_tables(value: dict[str, Any]) -> str | None:
    return _each(_name)(list(value))


#: The check of each key's value (types are already right); a key without one takes
#: any value of its type (booleans).
CHECKS: Final[dict[str, Callable[[Any], str | None]]] = {
    "state_type": _name,
    "runtime": _name_or_absolute,
    "network_backend": _name,
    "firewall_backend": _name,
    "disabled_plugins": _each(_name),
    "runtime_path": _each(_absolute),
    "conmon_path": _each(_absolute),
    "conmon_env_vars": _each(_env_var),
    "cgroup_manager": _one_of(*CGROUP_MANAGERS),
    "runtime_flags": _each(_runtime_flag),
    "init_path": _optional_absolute,
    "graph_root": _absolute,
    "run_root": _absolute,
    "graph_driver": _name,
    "static_dir": _absolute,
    "tmp_dir": _absolute,
    "volume_path": _absolute,
    "volume_driver": _name,
    "secret_driver": _name,
    "events_logger": _events_logger,
    "events_logfile_path": _optional_absolute,
    "max_log_size": _log_size,
    "hooks_dir": _each(_absolute),
    "namespace": _optional_name,
    "cni_config_dir": _absolute,
    "cni_plugin_dir": _each(_absolute),
    "cni_default_network": _name,
    "netns": _one_of(*NETNS_MODES),
    "dns_servers": _each(_ip),
    "dns_searches": _each(_word),
    "dns_options": _each(_word),
    "base_hosts_file": _hosts_file,
    "host_containers_internal_ip": _optional_ip,
    "infra_image": _infra_image,
    "infra_command": _command,
    "registries_conf": _absolute,
    "signature_policy": _optional_absolute,
    "plugins": _plugin_tables,
}


def check_values(config: RuntimeConfig, where: Callable[[str], str]) -> None:
    """ConfigError ``WHERE: key 'KEY': PROBLEM`` for the first bad value of ``config``;
    ``where(key)`` says where the key's value came from."""
    for key, check in CHECKS.items():
        if not hasattr(config, key):
            continue  # a key another version of the config dropped
        problem = check(getattr(config, key))
        if problem:
            raise ConfigError(f"{where(key)}: key {key!r}: {problem}")


def check_depth(data: Mapping[str, Any], where: str) -> None:
    """ConfigError naming the top-level key whose value nests arrays or tables more
    than MAX_DEPTH deep (walked without recursion)."""
    for key, value in data.items():
        stack: list[tuple[Any, int]] = [(value, 1)]
        while stack:
            item, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise ConfigError(f"{where}: key {key!r}: nested more than {MAX_DEPTH} "
                                  "levels deep")
            if isinstance(item, dict):
                stack.extend((v, depth + 1) for v in item.values())
            elif isinstance(item, list):
                stack.extend((v, depth + 1) for v in item)
