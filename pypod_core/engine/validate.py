"""Checks of what a caller asks the runtime to create, before anything is stored.

:func:`container_fields` checks the type of every field a caller gives
``create_container`` against :class:`~pypod_core.model.ContainerConfig`'s annotations
(so a field added to the model later is type-checked too) and :func:`check_container`
checks the values of the config built from them: ranges, formats, and what must exist
on the host (bind mount sources, networks, the static address's subnet).  A wrong type
raises TypeError, a bad value InvalidArgError (NoSuchNetworkError for a missing network),
each one line naming the field.  :func:`pod_args` does the same for ``create_pod``.

These are plain functions rather than attrs validators: a validator would run on every
construction, also for each record the state store loads; these run once, at create.
"""

from __future__ import annotations

import enum
import functools
import os
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs

from pypod_core.errors import InvalidArgError, NoSuchNetworkError
from pypod_core.model import NAME_PATTERN, ContainerConfig, PortMapping

#: The longest stop timeout pypod takes, in seconds (one day).  podman takes any uint;
#: a stop (and ``rm -f``) waits this long for a container that ignores its stop signal,
#: so a larger value would hang them in practice for ever.
MAX_STOP_TIMEOUT: Final = 86400
#: Signal numbers a container may be stopped with (Linux: 1 to SIGRTMAX).
MAX_SIGNAL: Final = 64
#: The kernel's limit on a host name (sethostname(2)), less the NUL: 64 in utsname.
MAX_HOSTNAME: Final = 64
#: Network modes of a container or pod.
NETWORK_MODES: Final = ("none", "host", "bridge", "slirp4netns")
#: Namespace kinds a container may join (``shared_namespaces``).
NAMESPACE_KINDS: Final = ("pid", "ipc", "uts", "net", "mnt", "cgroup")
#: Fields the runtime sets itself: ``create_container`` refuses them as keywords.
RUNTIME_SET: Final = frozenset({"id", "rootfs", "command", "namespace", "oci_runtime",
                                "entrypoint", "image_id", "image_name", "graph_driver"})
_PROTOCOLS: Final = ("tcp", "udp", "sctp")
_RLIMITS: Final = frozenset({
    "RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS",
    "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC",
    "RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK"})


# -- types -----------------------------------------------------------------------------


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of an attrs class (they are strings in the model)."""
    return typing.get_type_hints(cls)


_PLURALS: Final = {str: "strings", int: "integers", bool: "booleans", float: "numbers"}


def _label(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin is tuple or origin is list:
        item = typing.get_args(hint)[0]
        return f"a list of {_PLURALS.get(item) or _label(item)}"
    if origin is dict:
        key, value = typing.get_args(hint)
        return f"a dict of {_label(key)} to {_label(value)}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_label(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "None"
    names = {str: "a string", int: "an integer", bool: "a boolean", float: "a number",
             dict: "a dict", list: "a list", tuple: "a tuple"}
    return names.get(hint, getattr(hint, "__name__", str(hint)))


def _wrong(where: str, hint: Any, value: Any) -> TypeError:
    shown = repr(value)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return TypeError(f"{where}: expected {_label(hint)}, not {type(value).__name__} {shown}")


def check_type(value: Any, hint: Any, where: str) -> Any:
    """``value`` if it has the type ``hint`` (an annotation: ``str``, ``tuple[str, ...]``,
    ``dict[str, str]``, an attrs class, an enum, a union); a list given for a tuple comes
    back as a tuple.  TypeError naming ``where`` otherwise.  A string with a NUL byte is
    refused too: no system call would take it."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return value
    if origin is tuple or origin is list:
        if not isinstance(value, list | tuple):
            raise _wrong(where, hint, value)
        item = typing.get_args(hint)[0]
        return origin(check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _wrong(where, hint, value)
        key_t, value_t = typing.get_args(hint)
        return {check_type(k, key_t, f"{where} key"): check_type(v, value_t, f"{where}[{k!r}]")
                for k, v in value.items()}
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise InvalidArgError(f"{where}: {value!r} is not one of "
                                  f"{', '.join(map(repr, typing.get_args(hint)))}")
        return value
    if origin is not None and typing.get_args(hint):  # a union (X | None)
        for option in typing.get_args(hint):
            try:
                return check_type(value, option, where)
            except TypeError:
                continue
        raise _wrong(where, hint, value)
    return _check_plain(value, hint, where)


def _check_plain(value: Any, hint: Any, where: str) -> Any:
    if hint is type(None):
        if value is not None:
            raise _wrong(where, hint, value)
        return value
    if hint is bool or hint is str or hint is dict or hint is list:
        if not isinstance(value, hint):
            raise _wrong(where, hint, value)
        if isinstance(value, str) and "\0" in value:
            raise InvalidArgError(f"{where}: {value!r} contains a NUL byte")
        return value
    if hint is int or hint is float:
        if isinstance(value, bool) or not isinstance(value, int if hint is int else int | float):
            raise _wrong(where, hint, value)
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        if not isinstance(value, hint):
            raise _wrong(where, hint, value)
        return value
    if isinstance(hint, type) and attrs.has(hint):
        if not isinstance(value, hint):
            raise _wrong(where, hint, value)
        for name, field_hint in _hints(hint).items():
            check_type(getattr(value, name), field_hint, f"{where}.{name}")
        return value
    return value  # an annotation this checker does not know: nothing to check


def container_args(rootfs: Any, command: Any, name: Any, image: Any = None,
                   entrypoint: Any = None) -> tuple[tuple[str, ...], tuple[str, ...] | None]:
    """Check ``create_container``'s arguments' types; (the command, the entrypoint or
    None) as tuples.  A command or entrypoint given as one string is refused: it would
    run as a program named by the whole string."""
    if rootfs is not None and not isinstance(rootfs, str | os.PathLike):
        raise _wrong("rootfs", str, rootfs)
    if image is not None:
        check_type(image, str, "image")
    if name is not None:
        check_type(name, str, "name")
    args = _argv("command", command)
    return args, None if entrypoint is None else _argv("entrypoint", entrypoint)


def _argv(what: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TypeError(f"{what}: expected a list of strings, not {type(value).__name__} "
                        f"{value!r:.40}" + ("; split it: ['sh', '-c', ...]"
                                            if isinstance(value, str) else ""))
    return check_type(tuple(value), tuple[str, ...], what)  # type: ignore[no-any-return]


def container_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``create_container``'s keyword fields, type-checked against ContainerConfig (a
    Pod given as ``pod`` becomes its id); TypeError for an unknown or mistyped field."""
    hints = _hints(ContainerConfig)
    result: dict[str, Any] = {}
    for key, value in fields.items():
        if key in RUNTIME_SET:
            raise TypeError(f"create_container: {key} is set by the runtime, not a keyword")
        if key not in hints:
            raise TypeError(f"create_container: unknown field {key!r}")
        if key == "pod" and not isinstance(value, str):
            value = getattr(value, "id", value)  # a Pod object
        result[key] = check_field(key, value)
    return result


def check_field(key: str, value: Any) -> Any:
    """``value`` if it has the type of ContainerConfig's field ``key`` (a list given for
    a tuple comes back as a tuple); TypeError naming ``key`` otherwise."""
    return check_type(value, _hints(ContainerConfig)[key], key)


# -- values ----------------------------------------------------------------------------


def check_stop_timeout(timeout: int, what: str = "stop timeout") -> int:
    """``timeout`` if it is 0 to MAX_STOP_TIMEOUT seconds, else InvalidArgError."""
    if isinstance(timeout, bool) or not isinstance(timeout, int):
        raise _wrong(what, int, timeout)
    if not 0 <= timeout <= MAX_STOP_TIMEOUT:
        raise InvalidArgError(f"invalid {what} {timeout}: must be 0 to {MAX_STOP_TIMEOUT} "
                              "seconds")
    return timeout


def check_ip(address: str, what: str) -> None:
    """InvalidArgError (``invalid WHAT: 'ADDRESS' is not an IP address``) unless
    ``address`` is an IPv4 or IPv6 address."""
    import ipaddress  # lazy: only for an address given (~1 ms)

    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise InvalidArgError(f"invalid {what}: {address!r} is not an IP address") from None


def check_ports(ports: Sequence[PortMapping]) -> None:
    """Each published port: ports 1-65535, a known protocol, an IP address if any."""
    for p in ports:
        spec = f"{p.host_ip + ':' if p.host_ip else ''}{p.host_port}:{p.container_port}"
        if not (0 < p.host_port < 65536 and 0 < p.container_port < 65536):
            raise InvalidArgError(f"invalid port {spec}: ports are 1-65535")
        if p.protocol not in _PROTOCOLS:
            raise InvalidArgError(f"invalid port {spec}/{p.protocol}: protocol must be "
                                  "tcp, udp or sctp")
        if p.host_ip:
            check_ip(p.host_ip, f"port {spec}")


def check_network_names(mode: str, networks: Sequence[str]) -> None:
    """The network mode is known, and network names are names (no ``../``), each once,
    given only with mode ``bridge``."""
    if mode not in NETWORK_MODES:
        raise InvalidArgError(f"invalid network mode {mode!r}: none, host, bridge or "
                              "slirp4netns")
    for net in networks:
        if not NAME_PATTERN.match(net):
            raise InvalidArgError(f"invalid network name {net!r}: names must match "
                                  "[a-zA-Z0-9][a-zA-Z0-9_.-]*")
    if len(set(networks)) != len(networks):
        raise InvalidArgError(f"network listed twice in {','.join(networks)}")
    if networks and mode != "bridge":
        raise InvalidArgError(f"networks {','.join(networks)} need network mode bridge, "
                              f"not {mode}")


def _check_process(c: ContainerConfig) -> None:
    if not c.command or not c.command[0]:
        raise InvalidArgError("no command specified for the container")
    if not c.workdir.startswith("/"):
        raise InvalidArgError(f"invalid workdir {c.workdir!r}: must be an absolute path")
    for key in c.env:
        if not key or "=" in key:
            raise InvalidArgError(f"invalid environment variable name {key!r}")
    if len(c.hostname) > MAX_HOSTNAME:
        raise InvalidArgError(f"invalid hostname {c.hostname[:20]!r}...: longer than "
                              f"{MAX_HOSTNAME} characters")
    if not 0 < c.stop_signal <= MAX_SIGNAL:
        raise InvalidArgError(f"invalid stop signal {c.stop_signal}: valid signals are 1 "
                              f"through {MAX_SIGNAL}")
    check_stop_timeout(c.stop_timeout)
    for r in c.rlimits:
        if r.type not in _RLIMITS:
            raise InvalidArgError(f"invalid ulimit {r.type!r}: not an RLIMIT_ name")
        if r.soft < -1 or r.hard < -1 or (-1 not in (r.soft, r.hard) and r.soft > r.hard):
            raise InvalidArgError(f"invalid ulimit {r.type}={r.soft}:{r.hard}: limits are "
                                  "-1 (unlimited) or more, the soft one at most the hard one")
    for kind in c.shared_namespaces:
        if kind not in NAMESPACE_KINDS:
            raise InvalidArgError(f"invalid namespace kind {kind!r}: one of "
                                  f"{', '.join(NAMESPACE_KINDS)}")


def _check_mounts(c: ContainerConfig) -> None:
    if c.mounts or c.named_volumes or c.image_volumes:
        from pypod_core.engine.volumes import check_config  # lazy: only with mounts (~8 ms)

        check_config(c)


def check_container(runtime: Any, c: ContainerConfig) -> None:
    """Check the values of a container's config before it is stored: its process, its
    mounts (sources must exist), its network (the networks must exist; a static address
    must lie in the first network's subnet)."""
    from pypod_core.engine import resources, run_options  # lazy: only create (~0.3 ms)

    _check_process(c)
    resources.check(c)
    run_options.check(c)
    _check_mounts(c)
    check_network_names(c.network_mode, c.networks)
    if c.static_ip:
        check_ip(c.static_ip, "static IP address (--ip)")
    check_ports(c.port_mappings)
    if c.static_ip and c.network_mode != "bridge":
        raise InvalidArgError(f"a static IP address needs network mode bridge, not "
                              f"{c.network_mode}")
    if c.port_mappings and c.network_mode not in ("bridge", "slirp4netns"):
        raise InvalidArgError(f"published ports need network mode bridge or slirp4netns, "
                              f"not {c.network_mode}")
    if c.slirp_options and c.network_mode != "slirp4netns":
        raise InvalidArgError(f"slirp4netns options {','.join(c.slirp_options)} need network "
                              f"mode slirp4netns, not {c.network_mode}")
    if c.network_mode == "slirp4netns":
        from pypod_core.engine import slirp  # lazy: only slirp4netns containers (~1 ms)

        slirp.check_options(c.slirp_options)
    if c.network_mode == "bridge":
        check_networks_exist(runtime, c.networks, c.static_ip)


def check_networks_exist(runtime: Any, networks: Sequence[str], static_ip: str = "") -> None:
    """The networks exist in the runtime's network backend (which must exist), and
    ``static_ip`` is in a subnet of the first (the default network if none is named).
    The backend is asked only when there is something to check."""
    if runtime.network is None:
        raise InvalidArgError("network mode bridge needs a network backend, and this runtime "
                              "has none (rootless pypod): use --network none or host")
    if not networks and not static_ip:
        return
    infos = {info.name: info for info in runtime.network.networks()}
    for name in networks:
        if name not in infos:
            raise NoSuchNetworkError(  # podman's words
                f"unable to find network with name or ID {name}: network not found")
    if static_ip:
        first = networks[0] if networks else runtime.network.default_network()
        _check_in_subnets(static_ip, first, infos[first].subnets)


def _check_in_subnets(address: str, network: str, subnets: Sequence[str]) -> None:
    import ipaddress  # lazy: only for --ip (~1 ms)

    ip = ipaddress.ip_address(address)
    what = f"invalid static IP address (--ip) {address}"
    for subnet in subnets:
        try:
            net = ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            continue
        if ip.version == net.version and ip in net:
            if ip in (net.network_address, net.broadcast_address) and net.num_addresses > 2:
                raise InvalidArgError(f"{what}: the network or broadcast address of {subnet}")
            return
    raise InvalidArgError(f"{what}: not in the subnets of network {network!r} "
                          f"({', '.join(subnets) or 'none'})")


# -- pods ------------------------------------------------------------------------------


def pod_args(name: Any, labels: Any, ports: Any, share: Any, infra: Any, network_mode: Any,
             networks: Any, hostname: Any) -> None:
    """Check ``create_pod``'s arguments' types and the values that need no pod: TypeError
    or InvalidArgError naming the argument."""
    if name is not None:
        check_type(name, str, "name")
    if labels is not None:
        check_type(labels, dict[str, str], "labels")
    check_type(ports, tuple[PortMapping, ...], "ports")
    if share is not None:
        if isinstance(share, str):
            raise _wrong("share", tuple[str, ...], share)
        check_type(share, tuple[str, ...], "share")
    check_type(infra, bool, "infra")
    if network_mode is not None:
        check_type(network_mode, str, "network_mode")
    if isinstance(networks, str):
        raise _wrong("networks", tuple[str, ...], networks)
    check_type(networks, tuple[str, ...], "networks")
    check_type(hostname, str, "hostname")
    check_ports(ports)
    if len(hostname) > MAX_HOSTNAME:
        raise InvalidArgError(f"invalid hostname {hostname[:20]!r}...: longer than "
                              f"{MAX_HOSTNAME} characters")
