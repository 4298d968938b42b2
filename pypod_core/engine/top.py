"""``top``: a running container's processes, one row per process, in the columns its
descriptors name (podman's psgo: ps's AIX descriptors and a few of its own).

The default columns are podman's: USER PID PPID %CPU ELAPSED TTY TIME COMMAND.  PIDs
are those the container sees (its init is 1); ``hpid``, ``huser`` and ``hgroup`` are the
host's.  User and group names come from the container's own /etc/passwd and /etc/group.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from pypod_core.errors import CtrStateInvalidError, InvalidArgError
from pypod_core.host import procfs
from pypod_core.host.procfs import ProcessInfo

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.engine.pod import Pod

DEFAULT_DESCRIPTORS = ("user", "pid", "ppid", "pcpu", "etime", "tty", "time", "args")


def go_duration(seconds: float) -> str:
    """A duration as Go's ``time.Duration.String`` writes it (``1m5.25s``, ``0s``)."""
    ns = int(round(seconds * 1e9))
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                return f"{_trim(ns / size)}{unit}"
    hours, rest = divmod(ns, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = f"{hours}h" if hours else ""
    text += f"{minutes}m" if hours or minutes else ""
    return text + f"{_trim(rest / 1e9)}s"


def _trim(value: float) -> str:
    return f"{value:.9f}".rstrip("0").rstrip(".")


class _Context:
    """What the columns of one listing share: names from the container's files."""

    def __init__(self, root_pid: int):
        self.now = time.time()
        self.boot = procfs.boot_time()
        self.users = _names(f"/proc/{root_pid}/root/etc/passwd")
        self.groups = _names(f"/proc/{root_pid}/root/etc/group")
        self.host_users = _names("/etc/passwd")
        self.host_groups = _names("/etc/group")

    def elapsed(self, p: ProcessInfo) -> float:
        return max(0.0, self.now - (self.boot + p.start_ticks / procfs.CLOCK_TICKS))


def _names(path: str) -> dict[int, str]:
    """uid (or gid) -> name, from a passwd or group file (empty if unreadable)."""
    names: dict[int, str] = {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                fields = line.split(":")
                if len(fields) > 2 and fields[2].isdigit():
                    names.setdefault(int(fields[2]), fields[0])
    except OSError:
        pass
    return names


def _cpu(p: ProcessInfo, c: _Context) -> str:
    elapsed = c.elapsed(p)
    used = (p.utime + p.stime) / procfs.CLOCK_TICKS
    return f"{(used / elapsed * 100) if elapsed else 0.0:.3f}"


def _caps(key: str) -> Callable[[ProcessInfo, _Context], str]:
    def column(p: ProcessInfo, c: _Context) -> str:
        from pypod_core.engine.bundle import ALL_CAPABILITIES  # lazy: only cap columns

        mask = int(p.status.get(key, "0"), 16)
        names = [n.removeprefix("CAP_") for i, n in enumerate(ALL_CAPABILITIES)
                 if mask >> i & 1]
        return "full" if len(names) == len(ALL_CAPABILITIES) else ",".join(names) or "none"

    return column


Column = Callable[[ProcessInfo, _Context], str]

#: descriptor -> (header, column); AIX "%x" codes are aliases (see _ALIASES).
_COLUMNS: dict[str, tuple[str, Column]] = {
    "args": ("COMMAND", lambda p, c: " ".join(p.args)),
    "comm": ("COMMAND", lambda p, c: p.comm),
    "etime": ("ELAPSED", lambda p, c: go_duration(c.elapsed(p))),
    "group": ("GROUP", lambda p, c: c.groups.get(p.gids[1], str(p.gids[1]))),
    "hgroup": ("HGROUP", lambda p, c: c.host_groups.get(p.gids[1], str(p.gids[1]))),
    "hpid": ("HPID", lambda p, c: str(p.pid)),
    "huser": ("HUSER", lambda p, c: c.host_users.get(p.uids[1], str(p.uids[1]))),
    "nice": ("NI", lambda p, c: str(p.nice)),
    "pcpu": ("%CPU", _cpu),
    "pgid": ("PGID", lambda p, c: str(p.pgid)),
    "pid": ("PID", lambda p, c: str(p.ns_pid)),
    "ppid": ("PPID", lambda p, c: str(p.ns_ppid)),
    "rgroup": ("RGROUP", lambda p, c: c.groups.get(p.gids[0], str(p.gids[0]))),
    "ruser": ("RUSER", lambda p, c: c.users.get(p.uids[0], str(p.uids[0]))),
    "state": ("STATE", lambda p, c: p.state),
    "stime": ("STIME", lambda p, c: time.strftime(
        "%Y-%m-%d %H:%M:%S %z", time.localtime(c.now - c.elapsed(p)))),
    "time": ("TIME", lambda p, c: go_duration(int((p.utime + p.stime) / procfs.CLOCK_TICKS))),
    "tty": ("TTY", lambda p, c: procfs.tty_name(p.tty_nr)),
    "user": ("USER", lambda p, c: c.users.get(p.uids[1], str(p.uids[1]))),
    "vsz": ("VSZ", lambda p, c: str(p.vsize // 1024)),
    "capamb": ("AMBIENT CAPS", _caps("CapAmb")),
    "capbnd": ("BOUNDING CAPS", _caps("CapBnd")),
    "capeff": ("EFFECTIVE CAPS", _caps("CapEff")),
    "capinh": ("INHERITED CAPS", _caps("CapInh")),
    "capprm": ("PERMITTED CAPS", _caps("CapPrm")),
    "seccomp": ("SECCOMP", lambda p, c: {"0": "disabled", "1": "strict", "2": "filter"}
                .get(p.status.get("Seccomp", ""), "?")),
}

_ALIASES = {"%C": "pcpu", "%G": "group", "%P": "ppid", "%U": "user", "%a": "args",
            "%c": "comm", "%g": "rgroup", "%n": "nice", "%p": "pid", "%r": "pgid",
            "%t": "etime", "%u": "ruser", "%x": "time", "%y": "tty", "%z": "vsz"}


def descriptors() -> list[str]:
    """Every descriptor ``top`` knows, sorted."""
    return sorted(_COLUMNS)


def parse_descriptors(items: Iterable[str]) -> list[str]:
    """The descriptors of ``top``'s arguments (each may be comma-separated; none:
    podman's defaults); an unknown one is an InvalidArgError naming it."""
    wanted = [_ALIASES.get(d, d) for item in items for d in item.split(",") if d]
    for d in wanted:
        if d not in _COLUMNS:
            raise InvalidArgError(f"'{d}': unknown descriptor (known: "
                                  f"{', '.join(descriptors())})")
    return wanted or list(DEFAULT_DESCRIPTORS)


def process_table(root_pid: int, wanted: Sequence[str]) -> list[list[str]]:
    """The header and one row per process in ``root_pid``'s pid namespace."""
    context = _Context(root_pid)
    rows = [[_COLUMNS[d][0] for d in wanted]]
    for pid in procfs.pids_in_namespace_of(root_pid):
        try:
            info = procfs.read_process(pid)
        except OSError:
            continue  # it exited meanwhile
        rows.append([_COLUMNS[d][1](info, context) for d in wanted])
    return rows


def container_top(ctr: Container, items: Iterable[str] = ()) -> list[list[str]]:
    """``podman top``: the processes of a running container (a CtrStateInvalidError
    for one that is not)."""
    wanted = parse_descriptors(items)
    ctr.sync()
    if ctr.state.state.value != "running" or not ctr.state.pid:
        raise CtrStateInvalidError("top can only be used on running containers")
    try:
        return process_table(ctr.state.pid, wanted)
    except FileNotFoundError:
        raise CtrStateInvalidError("top can only be used on running containers") from None


def pod_top(pod: Pod, items: Iterable[str] = ()) -> list[list[str]]:
    """``podman pod top``: the processes of the pod's running containers (its infra's
    too), under one header; a CtrStateInvalidError when none runs."""
    wanted = parse_descriptors(items)
    rows: list[list[str]] = []
    for ctr in pod.containers():
        ctr.sync()
        if ctr.state.state.value != "running" or not ctr.state.pid:
            continue
        try:
            table = process_table(ctr.state.pid, wanted)
        except FileNotFoundError:
            continue  # it exited meanwhile
        rows += table[0 if not rows else 1:]
    if not rows:
        raise CtrStateInvalidError(
            "pod top can only be used on pods with at least one running container")
    return rows
