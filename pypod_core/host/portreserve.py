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
recycled pid is never killed.  The holder writes that record itself, first thing: a
pypod process killed at any moment of a start leaves no holder that the container's
teardown cannot find.  Since pypod's port mappings are DNAT rules, the packets
for a published port never reach the holder's sockets.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Iterable

from pypod_core.errors import PortInUseError
from pypod_core.host.private import private_dir
from pypod_core.model import PortMapping

HOLDER_NAME = b"pypod-ports"
#: How long releasing the ports waits for the killed holder to be gone.
RELEASE_WAIT = 5.0
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
        _spawn_holder([s.fileno() for s in sockets], directory, ctr_id)
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
        _wait_gone(pid, start)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _wait_gone(pid: int, start: str) -> None:
    """Wait (a little) until the killed holder has exited, so that its ports are free
    when this returns: SIGKILL is delivered, and the sockets closed, asynchronously."""
    deadline = time.monotonic() + RELEASE_WAIT
    while True:
        fields = _stat_fields(pid)  # one read a poll: its state and its start time
        if len(fields) <= _START_TIME or fields[_START_TIME] != start:
            return  # gone, or the pid is another process's now
        if fields[0] in ("Z", "X"):
            return  # exited (its descriptors closed), awaiting its reaper
        if time.monotonic() > deadline:
            return
        time.sleep(0.001)


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
    """Record the holder, atomically: a torn record would name no holder to kill."""
    private_dir(directory)
    path = os.path.join(directory, ctr_id)
    tmp = f"{path}.{pid}"
    with open(tmp, "w") as f:
        f.write(f"{pid} {_start_time(pid)}\n")
    os.replace(tmp, path)


#: Field 22 of ``/proc/PID/stat`` (when the process started, in clock ticks since
#: boot) among the fields after the command name, which begin at field 3 (the state).
_START_TIME = 19


def _stat_fields(pid: int) -> list[str]:
    """The fields of ``/proc/PID/stat`` after the command name; none if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _start_time(pid: int) -> str:
    """When the process started (clock ticks since boot), or "" if it is gone."""
    fields = _stat_fields(pid)
    return fields[_START_TIME] if len(fields) > _START_TIME else ""


def _spawn_holder(fds: list[int], directory: str, ctr_id: str) -> int:
    """Fork, setsid, fork again: the grandchild holds ``fds``; return its pid.

    The holder records itself (``directory/ctr_id``) before it reports, and whatever
    happens to the caller: a pypod process killed at any moment after the fork leaves
    a holder that the container's teardown (``rm -f``, ``cleanup``) finds and kills."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the intermediate child: never returns into the caller's code
        try:
            os.close(read_end)
            os.setsid()
            if os.fork() == 0:
                _hold(fds, directory, ctr_id, report=write_end)
        finally:
            os._exit(0)
    os.close(write_end)
    try:
        os.waitpid(child, 0)
        with os.fdopen(read_end, "rb") as pipe:  # EOF once the holder has reported
            return int(pipe.read() or b"0")
    except ValueError:
        return 0


def _hold(fds: list[int], directory: str, ctr_id: str, report: int) -> None:
    """The holder's life: record itself, report its pid, drop every other descriptor,
    then sleep until killed."""
    try:
        _write_record(directory, ctr_id, os.getpid())
        os.write(report, str(os.getpid()).encode())
        os.close(report)
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
            import ctypes  # lazy: only the holder process names itself (~2.5 ms)

            ctypes.CDLL(None).prctl(_PR_SET_NAME, HOLDER_NAME, 0, 0, 0)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        while True:
            signal.pause()
    finally:
        os._exit(0)
