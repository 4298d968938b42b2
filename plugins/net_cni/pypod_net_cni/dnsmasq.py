"""The dnsmasq that the ``dnsname`` CNI plugin runs for a network, seen from pypod.

``dnsname`` (chained last in a network's list) starts one dnsmasq per network on the
first ADD, listening on the network's bridge, and keeps its files in
``$XDG_RUNTIME_DIR/containers/cni/dnsname/<network>/`` (``dnsmasq.conf``, ``addnhosts``
with one line per container address: the address, the container's name from
``CNI_ARGS`` ``K8S_POD_NAME``, then its aliases; ``pidfile``).  Each DEL removes the
container's lines and, when none is left, stops the dnsmasq and removes the directory.
It also inserts an ``INPUT`` rule accepting DNS queries from the bridge, which it never
removes.  pypod runs the plugin with ``XDG_RUNTIME_DIR`` set to the backend's
``dns_dir``; what is here is what ``network rm`` cleans that DEL did not: a dnsmasq left
running (its last container's DEL never ran, say after a crash) and the ``INPUT`` rule
of a bridge that is gone.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import time

#: Where dnsname keeps its networks' directories, under its XDG_RUNTIME_DIR.
SUBDIR = os.path.join("containers", "cni", "dnsname")
#: How long a stopped dnsmasq may take to exit before it is killed.
STOP_TIMEOUT = 2.0


def server_dir(dns_dir: str, network: str) -> str:
    """The directory of ``network``'s dnsmasq files."""
    return os.path.join(dns_dir, SUBDIR, network)


def networks(dns_dir: str) -> list[str]:
    """The networks that have a dnsmasq directory (a dnsmasq running, or left)."""
    try:
        return sorted(os.listdir(os.path.join(dns_dir, SUBDIR)))
    except FileNotFoundError:
        return []


def server_pid(dns_dir: str, network: str) -> int | None:
    """The pid of ``network``'s running dnsmasq, or None (no pid file, or its pid is no
    longer a dnsmasq: pids are reused)."""
    try:
        with open(os.path.join(server_dir(dns_dir, network), "pidfile")) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/comm") as f:
            comm = f.read().strip()
    except (OSError, ValueError):
        return None
    return pid if comm == "dnsmasq" else None


def serves(dns_dir: str, network: str) -> bool:
    """Whether ``network``'s dnsmasq runs with its config and hosts files in place (what
    dnsname's CHECK means to check)."""
    directory = server_dir(dns_dir, network)
    return server_pid(dns_dir, network) is not None and all(
        os.path.isfile(os.path.join(directory, f)) for f in ("dnsmasq.conf", "addnhosts"))


def stop_server(dns_dir: str, network: str) -> None:
    """Stop ``network``'s dnsmasq if it runs and remove its directory, holding the lock
    dnsname takes (an flock of the directory's ``lock`` file: an ADD or DEL of the same
    network waits meanwhile)."""
    directory = server_dir(dns_dir, network)
    try:
        fd = os.open(os.path.join(directory, "lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                     0o600)
    except FileNotFoundError:
        return  # no directory: no dnsmasq
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        pid = server_pid(dns_dir, network)
        if pid is not None:
            _terminate(pid)
        shutil.rmtree(directory, ignore_errors=True)
    finally:
        os.close(fd)


def _terminate(pid: int) -> None:
    """SIGTERM, then SIGKILL if it has not exited within STOP_TIMEOUT."""
    try:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            if not os.path.exists(f"/proc/{pid}"):
                return
            time.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def input_rule(bridge: str) -> list[str]:
    """The ``INPUT`` rule dnsname inserts for a bridge (its exact words, so that
    ``iptables -D`` finds it)."""
    return ["-i", bridge, "-p", "udp", "-m", "udp", "--dport", "53", "-j", "ACCEPT"]


def drop_input_rule(bridge: str) -> None:
    """Delete dnsname's ``INPUT`` rule for a deleted bridge (each copy of it); absent,
    or no iptables at all, is fine."""
    iptables = shutil.which("iptables") or shutil.which("iptables", path="/usr/sbin:/sbin")
    if iptables is None:
        return
    for _ in range(16):  # a bound: each ADD of a fresh network may have inserted one
        proc = subprocess.run([iptables, "-w", "-t", "filter", "-D", "INPUT",
                               *input_rule(bridge)], capture_output=True)
        if proc.returncode != 0:
            return
