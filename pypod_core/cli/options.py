"""Parsers of podman's container flag values: ``-v``, ``-p``, ``-e``, ``--ulimit``,
``--stop-signal``, ``--network``, ``--security-opt``, ``--dns`` and its kin, and times
(``--since``).  Each raises
:class:`~pypod_core.errors.InvalidArgError` naming the flag and the bad value."""

from __future__ import annotations

import datetime
import os
import re
import time
from collections.abc import Iterable, Mapping
from typing import Any

from pypod_core.errors import InvalidArgError
from pypod_core.model import Mount, NamedVolume, PortMapping, Rlimit

#: ``--ulimit`` names (podman's, from Docker's units.ulimit).
ULIMIT_NAMES = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
                "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0,
                   "h": 3600.0}


def parse_env(items: Iterable[str], host_env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``-e K=V`` (or ``-e K``, taking K from the host environment if set)."""
    host_env = os.environ if host_env is None else host_env
    env: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise InvalidArgError(f"invalid environment variable {item!r}")
        if eq:
            env[key] = value
        elif key in host_env:
            env[key] = host_env[key]
    return env


def parse_labels(items: Iterable[str]) -> dict[str, str]:
    """``-l K=V`` (``-l K`` gives an empty value)."""
    return {k: v for k, _, v in (item.partition("=") for item in items)}


def parse_volume(spec: str) -> Mount | NamedVolume:
    """``-v [SRC:]CTR[:OPTS]``: a bind mount, a named volume or an anonymous one
    (:func:`pypod_core.engine.mount_specs.parse_volume`)."""
    from pypod_core.engine.mount_specs import parse_volume as parse  # lazy: only -v (~1.4 ms)

    return parse(spec)


def parse_ulimit(spec: str) -> Rlimit:
    """``--ulimit nofile=1024[:2048]`` (-1 is unlimited)."""
    name, eq, values = spec.partition("=")
    if not eq or name not in ULIMIT_NAMES:
        raise InvalidArgError(f"invalid ulimit {spec!r}: expected NAME=SOFT[:HARD] with NAME "
                              f"one of {', '.join(ULIMIT_NAMES)}")
    soft_text, _, hard_text = values.partition(":")
    try:
        soft = int(soft_text)
        hard = int(hard_text) if hard_text else soft
    except ValueError:
        raise InvalidArgError(f"invalid ulimit {spec!r}: limits must be integers") from None
    if soft != -1 and hard != -1 and soft > hard:
        raise InvalidArgError(f"invalid ulimit {spec!r}: soft limit above hard limit")
    return Rlimit(type=f"RLIMIT_{name.upper()}", soft=soft, hard=hard)


def parse_signal(text: str) -> int:
    """A signal by number, ``SIGTERM`` or ``TERM`` (any case), one leading dash allowed
    (``-9``, ``-INT``); podman's errors: ``invalid signal: X`` for what is no signal,
    ``valid signals are 1 through 64`` for a number out of range."""
    import signal  # lazy: only --stop-signal, kill -s (~0.9 ms: its enum of signals)

    bare = text[1:] if text.startswith("-") else text
    if bare.isdigit():
        number = int(bare)
        if number == 0:
            raise InvalidArgError(f"invalid signal: {bare}")
        if not 0 < number < signal.NSIG:
            raise InvalidArgError(f"valid signals are 1 through {signal.NSIG - 1}")
        return number
    name = bare.upper()
    name = name if name.startswith("SIG") else f"SIG{name}"
    member = getattr(signal.Signals, name, None) if name != "SIG" else None
    if member is None:
        raise InvalidArgError(f"invalid signal: {bare}")
    return int(member)


def parse_entrypoint(text: str) -> tuple[str, ...]:
    """``--entrypoint``, as podman reads it: a JSON array of strings, else one program
    (not split at spaces); ``""`` is none at all."""
    if not text:
        return ()
    if text.startswith("["):
        import json  # lazy: the engine loads it, not for parsing (~1.7 ms)

        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
    return (text,)


def _free_port(protocol: str) -> int:
    import socket  # lazy: only -p with no host port; kill and exec use this module (~2 ms)

    kind = socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("", 0))
        return int(sock.getsockname()[1])


def _port_range(text: str, spec: str) -> list[int]:
    first, dash, last = text.partition("-")
    try:
        low, high = int(first), int(last) if dash else int(first)
    except ValueError:
        raise InvalidArgError(f"invalid port {spec!r}") from None
    if not 0 < low <= high < 65536:
        raise InvalidArgError(f"invalid port {spec!r}: ports are 1-65535")
    return list(range(low, high + 1))


def parse_publish(spec: str) -> list[PortMapping]:
    """``-p [[ip:][hostPort]:]containerPort[/proto]``, ranges allowed (``8080-8081:80-81``);
    without a host port a free one is chosen, as podman does."""
    body, _, protocol = spec.partition("/")
    protocol = protocol or "tcp"
    if protocol not in ("tcp", "udp", "sctp"):
        raise InvalidArgError(f"invalid port {spec!r}: protocol must be tcp, udp or sctp")
    host_ip, host_part = "", ""
    if body.startswith("["):  # [ipv6]:host:ctr
        end = body.find("]")
        if end < 0:
            raise InvalidArgError(f"invalid port {spec!r}: missing ] after the IPv6 address")
        host_ip, rest = body[1:end], body[end + 2:]
        host_part, _, ctr_part = rest.rpartition(":")
    else:
        pieces = body.split(":")
        if len(pieces) == 3:
            host_ip, host_part, ctr_part = pieces
        elif len(pieces) == 2:
            host_part, ctr_part = pieces
        elif len(pieces) == 1:
            ctr_part = pieces[0]
        else:
            raise InvalidArgError(f"invalid port {spec!r}")
    ctr_ports = _port_range(ctr_part, spec)
    host_ports = (_port_range(host_part, spec) if host_part
                  else [_free_port(protocol) for _ in ctr_ports])
    if len(host_ports) != len(ctr_ports):
        raise InvalidArgError(f"invalid port {spec!r}: host and container ranges differ")
    return [PortMapping(host_port=h, container_port=c, protocol=protocol, host_ip=host_ip)
            for h, c in zip(host_ports, ctr_ports, strict=True)]


def parse_network(value: str | None, rootless: bool = False) -> tuple[str, tuple[str, ...]]:
    """``--network``: (network mode, networks). ``none``, ``host``, ``bridge`` (the
    default network), ``private`` (podman's: a namespace of its own, on the default
    network when rootful; rootless pypod has no network backend, so none),
    ``slirp4netns[:OPTIONS]``, or a comma-separated list of network names.
    ``container:NAME`` is the caller's (a container's flag, not a pod's)."""
    if value in (None, "", "none"):
        return "none", ()
    if value == "host":
        return "host", ()
    if value in ("bridge", "default"):
        return "bridge", ()
    if value == "slirp4netns" or value.startswith("slirp4netns:"):
        return "slirp4netns", ()  # its options: slirp_options()
    if value == "private":
        return ("none" if rootless else "bridge"), ()
    if value.startswith(("container:", "ns:")):
        raise InvalidArgError(f"--network {value}: not supported by pypod here (bridge, "
                              "none, host, private, slirp4netns or network names; "
                              "container:NAME for a container)")
    names = tuple(n for n in value.split(",") if n)
    if not names or any(n in ("none", "host") for n in names):
        raise InvalidArgError(f"invalid --network {value!r}: none and host cannot be combined")
    return "bridge", names


def slirp_options(value: str | None) -> tuple[str, ...]:
    """The options of ``--network slirp4netns:KEY=VALUE,...`` (checked), else ()."""
    if not value or not value.startswith("slirp4netns:"):
        return ()
    from pypod_core.engine import slirp  # lazy: only slirp4netns (~1 ms)

    return slirp.parse_options(value.partition(":")[2])


def _comma_list(values: Iterable[str]) -> list[str]:
    """Repeated flags, each maybe a comma-separated list (podman's StringSlice)."""
    return [item for value in values for item in value.split(",")]


def dns_fields(dns: Iterable[str], search: Iterable[str], options: Iterable[str],
               add_host: Iterable[str], no_hosts: bool) -> dict[str, Any]:
    """ContainerConfig fields of ``--dns`` (``none``: no resolv.conf), ``--dns-search``,
    ``--dns-option``, ``--add-host`` and ``--no-hosts``, checked (for create and pod
    create)."""
    from pypod_core.engine.etc_files import check_fields  # lazy: only create (~4 ms)

    servers = _comma_list(dns)
    no_resolv_conf = "none" in servers
    if no_resolv_conf and len(servers) > 1:
        raise InvalidArgError("invalid --dns: none cannot be combined with DNS servers")
    return check_fields({
        "dns_servers": () if no_resolv_conf else servers, "no_resolv_conf": no_resolv_conf,
        "dns_search": _comma_list(search), "dns_options": _comma_list(options),
        "extra_hosts": _comma_list(add_host), "no_hosts": no_hosts})


def parse_duration(text: str) -> float:
    """A Go duration (``1h30m``, ``10s``, ``500ms``) in seconds."""
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise InvalidArgError(f"invalid duration {text!r}")
    return total


def parse_since(text: str, now: float | None = None) -> float:
    """``--since``: a Unix time, an RFC 3339 time or date, or a duration before now."""
    now = time.time() if now is None else now
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return now - parse_duration(text)
    except InvalidArgError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgError(f"invalid time {text!r}: expected a Unix time, RFC 3339 "
                              "time or a duration such as 10m") from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.timestamp()


#: ``--security-opt`` keys podman has that pypod does not implement, and why.
_UNSUPPORTED_SECURITY_OPTS = {
    "proc-opts": "pypod does not set /proc mount options",
    "label": "pypod applies no SELinux labels (only label=disable is accepted)",
}


def parse_security_opts(items: Iterable[str]) -> dict[str, object]:
    """``--security-opt`` values as ContainerConfig fields, as podman reads them:
    ``seccomp=unconfined|PATH``, ``apparmor=PROFILE``, ``no-new-privileges[=BOOL]``,
    ``mask=/a:/b``, ``unmask=ALL|/a:/b``, ``systempaths=unconfined`` (unmask ALL) and
    ``label=disable`` (pypod never labels); ``KEY:VALUE`` as Docker's old spelling."""
    fields: dict[str, object] = {}
    mask: list[str] = []
    unmask: list[str] = []
    for opt in items:
        sep = "=" if "=" in opt else ":"
        key, has_value, value = opt.partition(sep)
        if not has_value and key != "no-new-privileges":
            raise InvalidArgError(f"invalid --security-opt {opt!r}: expected KEY=VALUE")
        if key == "seccomp":
            if not value:
                raise InvalidArgError("invalid --security-opt seccomp=: give unconfined "
                                      "or a profile's path")
            fields["seccomp_profile"] = value if value == "unconfined" else \
                os.path.abspath(value)
        elif key == "apparmor":
            fields["apparmor_profile"] = value
        elif key == "no-new-privileges":
            fields["no_new_privileges"] = _parse_bool(value, opt) if has_value else True
        elif key == "mask":
            mask += [p for p in value.split(":") if p]
        elif key == "unmask":
            unmask += ["ALL" if p.upper() == "ALL" else p for p in value.split(":") if p]
        elif key == "systempaths":
            if value != "unconfined":
                raise InvalidArgError(f"invalid --security-opt {opt!r}: only "
                                      "systempaths=unconfined is supported")
            unmask.append("ALL")
        elif key == "label" and value == "disable":
            continue
        elif key in _UNSUPPORTED_SECURITY_OPTS:
            raise InvalidArgError(f"--security-opt {opt}: not supported: "
                                  f"{_UNSUPPORTED_SECURITY_OPTS[key]}")
        else:
            raise InvalidArgError(f"invalid --security-opt {opt!r}: unknown option {key!r}")
    if mask:
        fields["mask"] = tuple(mask)
    if unmask:
        fields["unmask"] = tuple(unmask)
    return fields


def _parse_bool(text: str, opt: str) -> bool:
    """A Go ``strconv.ParseBool`` value."""
    if text in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if text in ("0", "f", "F", "false", "FALSE", "False"):
        return False
    raise InvalidArgError(f"invalid --security-opt {opt!r}: expected true or false")


#: ``--log-opt`` keys podman knows that pypod's k8s-file logs do not (journald's).
_LOG_OPTS_REFUSED = ("tag", "label", "driver")


def parse_log_opts(items: Iterable[str]) -> dict[str, str | int]:
    """``--log-opt path=FILE`` and ``--log-opt max-size=10mb``: ContainerConfig fields
    (``log_path``, ``log_size_max``); any other key is refused by name."""
    from pypod_core.engine.logs import parse_size  # lazy: only create and run (~1.3 ms)

    fields: dict[str, str | int] = {}
    for item in items:
        key, eq, value = item.partition("=")
        key = key.strip().lower()
        if not eq:
            raise InvalidArgError(f"--log-opt {item!r}: expected NAME=VALUE")
        if key == "path":
            fields["log_path"] = value
        elif key == "max-size":
            fields["log_size_max"] = parse_size(value, f"--log-opt {item}")
        elif key in _LOG_OPTS_REFUSED:
            raise InvalidArgError(f"--log-opt {key}: not supported (journald's; pypod "
                                  f"writes k8s-file logs, which take path and max-size)")
        else:
            raise InvalidArgError(f"--log-opt {key}: unknown log option (supported: path, "
                                  f"max-size)")
    return fields
