"""What /proc says of a process: its stat and status fields, command line, pid
namespace and the processes sharing it (``top`` reads these, as psgo does)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import attrs

#: Clock ticks per second (stat's times are in ticks).
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@attrs.frozen(kw_only=True)
class ProcessInfo:
    """One process as /proc/PID shows it (host pids; ``ns_pid``/``ns_ppid`` are those
    its own pid namespace sees)."""

    pid: int
    ppid: int
    ns_pid: int
    ns_ppid: int
    comm: str
    args: tuple[str, ...]
    state: str
    pgid: int
    tty_nr: int
    nice: int
    utime: int
    stime: int
    start_ticks: int
    vsize: int
    uids: tuple[int, ...]
    gids: tuple[int, ...]
    status: dict[str, str]


def _stat_fields(pid: int) -> tuple[str, list[str]]:
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # comm is in parentheses and may itself contain spaces and parentheses.
    comm = text[text.index("(") + 1:text.rindex(")")]
    return comm, text[text.rindex(")") + 2:].split()


def _status(pid: int) -> dict[str, str]:
    status: dict[str, str] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    return status


def read_process(pid: int) -> ProcessInfo:
    """The process ``pid``; FileNotFoundError/ProcessLookupError once it is gone."""
    comm, stat = _stat_fields(pid)
    status = _status(pid)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        args = tuple(a.decode(errors="replace") for a in f.read().split(b"\0") if a)
    ns_pids = [int(p) for p in status.get("NSpid", str(pid)).split()]
    ppid = int(stat[1])
    return ProcessInfo(
        pid=pid, ppid=ppid, ns_pid=ns_pids[-1], ns_ppid=_ns_pid_of(ppid, len(ns_pids)),
        comm=comm, args=args or (f"[{comm}]",), state=stat[0], pgid=int(stat[2]),
        tty_nr=int(stat[4]), nice=int(stat[16]), utime=int(stat[11]), stime=int(stat[12]),
        start_ticks=int(stat[19]), vsize=int(stat[20]),
        uids=tuple(int(u) for u in status.get("Uid", "0").split()),
        gids=tuple(int(g) for g in status.get("Gid", "0").split()), status=status)


def _ns_pid_of(pid: int, depth: int) -> int:
    """``pid``'s number in the pid namespace ``depth`` levels down from ours (0 when it
    is gone, or not in that namespace: the parent of a namespace's init)."""
    if pid <= 0:
        return 0
    try:
        return int(_status(pid).get("NSpid", "0").split()[depth - 1])
    except (OSError, ValueError, IndexError):
        return 0


def pid_namespace(pid: int) -> str:
    """The identity of ``pid``'s pid namespace (``pid:[4026531836]``)."""
    return os.readlink(f"/proc/{pid}/ns/pid")


def all_pids() -> Iterator[int]:
    """Every process's pid."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def pids_in_namespace_of(pid: int) -> list[int]:
    """The processes in ``pid``'s pid namespace, ``pid`` first; where that is our own
    namespace (a container sharing the host's), ``pid`` and its descendants only."""
    target = pid_namespace(pid)
    if target == pid_namespace(os.getpid()):
        return _descendants(pid)
    found = []
    for other in all_pids():
        try:
            if pid_namespace(other) == target:
                found.append(other)
        except OSError:
            continue  # gone, or not ours to read
    return sorted(found, key=lambda p: (p != pid, p))


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for other in all_pids():
        try:
            _, stat = _stat_fields(other)
        except OSError:
            continue
        children.setdefault(int(stat[1]), []).append(other)
    out, todo = [], [root]
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        todo += sorted(children.get(pid, []))
    return out


def boot_time() -> float:
    """When the host booted (Unix time): processes' start times count from it."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


def tty_name(tty_nr: int) -> str:
    """A controlling terminal's name as ps writes it (``pts/0``), ``?`` for none."""
    if tty_nr == 0:
        return "?"
    major, minor = (tty_nr >> 8) & 0xFFF, (tty_nr & 0xFF) | ((tty_nr >> 12) & 0xFFF00)
    if 136 <= major <= 143:
        return f"pts/{minor + (major - 136) * 256}"
    if major == 4:
        return f"tty{minor}" if minor < 64 else f"ttyS{minor - 64}"
    return "?"
