"""``--network slirp4netns[:OPTIONS]``: user-mode networking for a container's namespace.

The container gets a network namespace of its own (made as a bridged one is), and
Debian's ``slirp4netns`` attached to it: ``--configure`` gives the namespace a ``tap0``
interface on ``CIDR.100`` (default 10.0.2.0/24), the gateway ``CIDR.2`` (the host,
through slirp's user-mode stack) and a DNS forwarder on ``CIDR.3``, as podman's.  Ports
are forwarded by slirp4netns itself (``-p``: its API's ``add_hostfwd``), so slirp binds
the host ports.  The process outlives the pypod command that started it; it is
recorded in ``<tmp_dir>/slirp/<container id>`` (pid and start time, so a recycled pid is
never killed) and ended when the container's network is torn down.

Options (podman's words): ``cidr=``, ``mtu=``, ``enable_ipv6=``, ``allow_host_loopback=``
and ``port_handler=slirp4netns``; ``port_handler=rootlesskit`` and the others are
refused by name.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import time
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from pypod_core.errors import InvalidArgError, NetworkError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pypod_core.engine.container import Container
    from pypod_core.engine.runtime import Runtime
    from pypod_core.model import ContainerConfig

MODE: Final = "slirp4netns"
DEFAULT_CIDR: Final = "10.0.2.0/24"
#: podman's default MTU for slirp4netns.
DEFAULT_MTU: Final = 65520
BOOL_OPTIONS: Final = ("enable_ipv6", "allow_host_loopback")
#: How long slirp4netns may take to configure the namespace.
READY_TIMEOUT: Final = 10.0


class Addresses(NamedTuple):
    """The container's side of slirp's network."""

    ip: str
    prefix: int
    gateway: str
    dns: str


def parse_options(text: str) -> tuple[str, ...]:
    """The ``KEY=VALUE`` options after ``slirp4netns:`` (comma-separated), checked."""
    options = tuple(o for o in text.split(",") if o)
    check_options(options)
    return options


def check_options(options: Sequence[str]) -> dict[str, str]:
    """The options as a dict; InvalidArgError naming the first bad one."""
    result: dict[str, str] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep:
            raise InvalidArgError(f"invalid slirp4netns option {option!r}: expected KEY=VALUE")
        if key == "port_handler":
            if value == "rootlesskit":
                raise InvalidArgError("slirp4netns option port_handler=rootlesskit is not "
                                      "supported by pypod (no rootlessport): use "
                                      "port_handler=slirp4netns")
            if value != "slirp4netns":
                raise InvalidArgError(f"unknown port_handler for slirp4netns: {value!r}")
        elif key in BOOL_OPTIONS:
            if value not in ("true", "false"):
                raise InvalidArgError(f"invalid slirp4netns option {option!r}: true or false")
        elif key == "mtu":
            if not value.isdigit() or not 68 <= int(value) <= 65521:
                raise InvalidArgError(f"invalid slirp4netns mtu {value!r}: 68 to 65521")
        elif key == "cidr":
            _network(value)
        else:
            raise InvalidArgError(f"slirp4netns option {key!r} is not supported by pypod")
        result[key] = value
    return result


def _network(cidr: str) -> Any:
    import ipaddress  # lazy: only slirp4netns containers (~1 ms)

    try:
        net = ipaddress.IPv4Network(cidr)
    except ValueError as exc:
        raise InvalidArgError(f"invalid slirp4netns cidr {cidr!r}: {exc}") from None
    if net.prefixlen > 25:  # the container is .100
        raise InvalidArgError(f"invalid slirp4netns cidr {cidr!r}: a /25 or larger is needed")
    return net


def addresses(config: ContainerConfig) -> Addresses:
    """The container's address, prefix length, gateway and DNS forwarder."""
    net = _network(check_options(config.slirp_options).get("cidr", DEFAULT_CIDR))
    return Addresses(str(net[100]), net.prefixlen, str(net[2]), str(net[3]))


# -- the process -------------------------------------------------------------------------

def _dir(runtime: Runtime) -> str:
    return os.path.join(runtime.config.tmp_dir, "slirp")


def start(runtime: Runtime, ctr: Container) -> None:
    """Attach slirp4netns to the container's namespace (``ctr.state.netns_path``), wait
    until the namespace is configured, then forward the published ports.  NetworkError
    saying why on failure (the caller tears down)."""
    binary = shutil.which("slirp4netns")
    if binary is None:
        raise NetworkError("--network slirp4netns: the slirp4netns binary is not installed")
    opts = check_options(ctr.config.slirp_options)
    base = _dir(runtime)
    os.makedirs(base, 0o700, exist_ok=True)
    api = _api_name(ctr.config.id)
    if os.path.exists(os.path.join(base, api)):
        os.unlink(os.path.join(base, api))  # a crashed start's
    # The socket's name is relative to slirp's working directory (``base``): a socket
    # path longer than 107 bytes cannot be bound, and run roots can be deep.
    argv = [binary, "--configure", f"--mtu={opts.get('mtu', DEFAULT_MTU)}",
            f"--cidr={opts.get('cidr', DEFAULT_CIDR)}", "--api-socket", api]
    if opts.get("allow_host_loopback") != "true":
        argv.append("--disable-host-loopback")
    if opts.get("enable_ipv6", "true") == "true":  # podman's default: on
        argv.append("--enable-ipv6")
    read_end, write_end = os.pipe()
    log = open(os.path.join(base, f"{ctr.config.id}.log"), "wb")
    try:
        proc = subprocess.Popen(
            [*argv, f"--ready-fd={write_end}", "--netns-type=path", ctr.state.netns_path,
             "tap0"], stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            pass_fds=(write_end,), start_new_session=True, cwd=base)
    finally:
        os.close(write_end)
        log.close()
    _record(base, ctr.config.id, proc.pid)
    try:
        _wait_ready(read_end, proc, os.path.join(base, f"{ctr.config.id}.log"))
    finally:
        os.close(read_end)
    for mapping in ctr.config.port_mappings:
        _forward(base, api, mapping, addresses(ctr.config).ip)


def _api_name(ctr_id: str) -> str:
    return f"{ctr_id[:12]}.sock"


def _wait_ready(fd: int, proc: subprocess.Popen[bytes], log: str) -> None:
    ready, _, _ = select.select([fd], [], [], READY_TIMEOUT)
    data = os.read(fd, 1) if ready else b""
    if data == b"1":
        return
    proc.poll()
    with open(log, errors="replace") as f:
        why = " ".join(f.read().split())[-300:] or "no output"
    raise NetworkError(f"slirp4netns did not configure the namespace: {why}")


def _forward(base: str, api: str, mapping: Any, guest_ip: str) -> None:
    """One published port, through slirp4netns's API socket (``add_hostfwd``), reached
    through a descriptor of its directory (see :func:`start`)."""
    if mapping.protocol not in ("tcp", "udp"):
        raise InvalidArgError(f"slirp4netns forwards tcp and udp ports, not {mapping.protocol}")
    request = {"execute": "add_hostfwd", "arguments": {
        "proto": mapping.protocol, "host_addr": mapping.host_ip or "0.0.0.0",
        "host_port": mapping.host_port, "guest_addr": guest_ip,
        "guest_port": mapping.container_port}}
    dir_fd = os.open(base, os.O_PATH | os.O_CLOEXEC)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(READY_TIMEOUT)
        try:
            sock.connect(f"/proc/self/fd/{dir_fd}/{api}")
        finally:
            os.close(dir_fd)
        sock.sendall(json.dumps(request).encode())
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    try:
        answer = json.loads(reply or b"{}")
    except ValueError:
        answer = {"error": {"desc": reply.decode(errors="replace")}}
    if "error" in answer or "return" not in answer:
        why = (answer.get("error") or {}).get("desc", "no answer")
        raise NetworkError(f"cannot publish port {mapping.host_port}/{mapping.protocol} "
                           f"through slirp4netns: {why}")


def _start_time(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[19]
    except (OSError, IndexError):
        return ""


def _record(base: str, ctr_id: str, pid: int) -> None:
    path = os.path.join(base, ctr_id)
    with open(f"{path}.tmp", "w") as f:
        json.dump({"pid": pid, "start": _start_time(pid)}, f)
    os.replace(f"{path}.tmp", path)


def stop(runtime: Runtime, ctr_id: str) -> None:
    """End the container's slirp4netns (if it runs) and forget it; idempotent."""
    base = _dir(runtime)
    path = os.path.join(base, ctr_id)
    try:
        with open(path) as f:
            record = json.load(f)
    except (OSError, ValueError):
        record = {}
    pid = record.get("pid")
    if isinstance(pid, int) and pid > 0 and _start_time(pid) == record.get("start"):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        _reap(pid)
    for leftover in (path, os.path.join(base, _api_name(ctr_id)), f"{path}.log"):
        try:
            os.unlink(leftover)
        except FileNotFoundError:
            pass


def _reap(pid: int) -> None:
    """Wait (briefly) until the process is gone: ours to reap, or another's child."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                return
        except ChildProcessError:  # not our child: its parent (or init) reaps it
            if not os.path.exists(f"/proc/{pid}") or _start_time(pid) == "":
                return
        time.sleep(0.01)
