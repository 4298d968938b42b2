"""Host port reservation (``enable_port_reservation``): while a container publishes a
port, pypod holds it open on the host so that no other process (and no other container)
can take it.

Who holds the sockets: a small holder process, forked (twice, so that it is nobody's
child and never a zombie) from the pypod process that starts the container.  It keeps
the bound sockets and nothing else (its stdio is /dev/null: it must not keep a caller's
pipes open), sleeps, and is killed when the container's network is torn down: on stop,
on exit (conmon's exit command runs ``pypod container cleanup`` when no pypod process is
around) and on remove.  The alternative, handing the sockets to conmon, would tie port
reservation to one OCI runtime backend; a holder works with any.  The holder is found
again through ``<tmp_dir>/ports/<container id>``: its pid and start time, so that a
recycled pid is never killed.  Since pypod's port mappings are DNAT rules, the packets
for a published port never reach the holder's sockets.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
from collections.abc import Iterable

from pypod_core.errors import PortInUseError
from pypod_core.host.private import private_dir
from pypod_core.model import PortMapping

HOLDER_NAME = b"pypod-ports"
_PR_SET_NAME = 15


def describe(mapping: PortMapping) -> str:
    """``[ip:]port/proto`` of a mapping's host side, as errors show it."""
    where = f"{mapping.host_ip}:" if mapping.host_ip else ""
    return f"{where}{mapping.host_port}/{mapping.protocol}"


def bind_port(mapping: PortMapping) -> socket.socket:
    """A socket bound to the mapping's host address and port (TCP: also listening, so
    that nothing else may bind it even with SO_REUSEADDR).  OSError if it is taken."""
    family = socket.AF_INET6 if ":" in mapping.host_ip else socket.AF_INET
    kind = socket.SOCK_DGRAM if mapping.protocol == "udp" else socket.SOCK_STREAM
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((mapping.host_ip, mapping.host_port))
        if kind == socket.SOCK_STREAM:
            sock.listen(1)
    except OSError:
        sock.close()
        raise
    return sock


def reserve_ports(directory: str, ctr_id: str, mappings: Iterable[PortMapping]) -> list[int]:
    """Bind every mapping's host port and hand the sockets to a holder process; return
    the ports.  PortInUseError naming the first port that is taken (nothing is held)."""
    sockets: list[socket.socket] = []
    try:
        for mapping in mappings:
            if mapping.protocol not in ("tcp", "udp"):
                continue  # sctp: no socket to hold on a host without the sctp module
            try:
                sockets.append(bind_port(mapping))
            except OSError as exc:
                raise PortInUseError(
                    f"cannot publish port {describe(mapping)}: {(exc.strerror or str(exc)).lower()}"
                ) from None
        if not sockets:
            return []
        pid = _spawn_holder([s.fileno() for s in sockets])
        _write_record(directory, ctr_id, pid)
        return sorted({s.getsockname()[1] for s in sockets})
    finally:
        for sock in sockets:
            sock.close()


def release_ports(directory: str, ctr_id: str) -> None:
    """Kill the container's holder, if it is still the process pypod started."""
    path = os.path.join(directory, ctr_id)
    try:
        with open(path) as f:
            pid_text, start = f.read().split()
        pid = int(pid_text)
    except (FileNotFoundError, ValueError):
        pid, start = 0, ""
    if pid and _start_time(pid) == start:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def holder_pid(directory: str, ctr_id: str) -> int:
    """The pid of the container's live holder, or 0."""
    try:
        with open(os.path.join(directory, ctr_id)) as f:
            pid_text, start = f.read().split()
        pid = int(pid_text)
    except (FileNotFoundError, ValueError):  # no record, or a torn one: no holder
        return 0
    return pid if _start_time(pid) == start else 0


def _write_record(directory: str, ctr_id: str, pid: int) -> None:
    private_dir(directory)
    with open(os.path.join(directory, ctr_id), "w") as f:
        f.write(f"{pid} {_start_time(pid)}\n")


def _start_time(pid: int) -> str:
    """Field 22 of ``/proc/PID/stat``: when the process started (clock ticks since boot)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _spawn_holder(fds: list[int]) -> int:
    """Fork, setsid, fork again: the grandchild holds ``fds``; return its pid."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the intermediate child: never returns into the caller's code
        try:
            os.close(read_end)
            os.setsid()
            holder = os.fork()
            if holder == 0:
                _hold(fds, keep=write_end)
            os.write(write_end, str(holder).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        os.waitpid(child, 0)
        with os.fdopen(read_end, "rb") as pipe:
            return int(pipe.read() or b"0")
    except ValueError:
        return 0


def _hold(fds: list[int], keep: int) -> None:
    """The holder's life: drop every other descriptor, then sleep until killed."""
    try:
        os.close(keep)
        devnull = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):
            os.dup2(devnull, std)
        keep_fds = sorted({0, 1, 2, *fds})
        low = 3
        for fd in keep_fds:
            if fd >= low:
                os.closerange(low, fd)
                low = fd + 1
        os.closerange(low, 65536)
        os.chdir("/")
        with contextlib.suppress(OSError, AttributeError):
            import ctypes  # only the holder process names itself

            ctypes.CDLL(None).prctl(_PR_SET_NAME, HOLDER_NAME, 0, 0, 0)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        while True:
            signal.pause()
    finally:
        os._exit(0)
