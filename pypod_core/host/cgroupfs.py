"""What the kernel's cgroup files say of one cgroup: its CPU time, memory, block I/O and
pids, read from cgroup v1 controller hierarchies or from the v2 unified one.

A cgroup is named by its path below a hierarchy's root (``/pypod/ID``).  On a v1 (or
hybrid) host each controller has a hierarchy of its own (``/sys/fs/cgroup/memory``,
``.../cpuacct``); on a v2 host one hierarchy holds every controller its
``cgroup.controllers`` lists.  The mount points come from /proc/self/mountinfo, so a
host that mounts them elsewhere works too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

#: The v1 controllers the figures come from, and their v2 counterparts.
V1_CONTROLLERS = ("cpuacct", "memory", "blkio", "pids")
V2_CONTROLLERS = {"cpuacct": "cpu", "memory": "memory", "blkio": "io", "pids": "pids"}


@attrs.frozen(kw_only=True)
class CgroupUsage:
    """One reading of a cgroup's counters (nanoseconds, bytes, a count)."""

    cpu_nano: int = 0
    cpu_system_nano: int = 0
    #: Each CPU's share of ``cpu_nano`` (v1's cpuacct.usage_percpu; empty on v2).
    per_cpu: tuple[int, ...] = ()
    memory: int = 0
    block_read: int = 0
    block_write: int = 0
    pids: int = 0


@attrs.frozen
class Hierarchies:
    """Where each controller's hierarchy is mounted: ``v1`` maps a v1 controller name to
    its mount point; ``v2`` is the unified mount point ("" if none) and
    ``v2_controllers`` what its root delegates."""

    v1: Mapping[str, str]
    v2: str = ""
    v2_controllers: frozenset[str] = frozenset()


def hierarchies(mountinfo: str = "/proc/self/mountinfo") -> Hierarchies:
    """The cgroup hierarchies this process sees mounted."""
    v1: dict[str, str] = {}
    v2 = ""
    with open(mountinfo) as f:
        for line in f:
            fields = line.split()
            # ... mount-point options [optional fields] - fstype source super-options
            sep = fields.index("-")
            fstype, point = fields[sep + 1], fields[4]
            if fstype == "cgroup":
                for option in fields[sep + 3].split(","):
                    v1.setdefault(option, point)
            elif fstype == "cgroup2" and not v2:
                v2 = point
    controllers: frozenset[str] = frozenset()
    if v2:
        try:
            with open(os.path.join(v2, "cgroup.controllers")) as f:
                controllers = frozenset(f.read().split())
        except OSError:
            pass
    return Hierarchies({c: v1[c] for c in V1_CONTROLLERS if c in v1}, v2, controllers)


def read_usage(path: str, where: Hierarchies | None = None) -> CgroupUsage:
    """The counters of the cgroup at ``path`` (relative to the hierarchies' roots):
    from each v1 controller the host mounts, the rest from the v2 hierarchy.
    FileNotFoundError if the cgroup does not exist (its process has gone)."""
    where = where or hierarchies()
    rel = path.strip("/")
    figures: dict[str, object] = {}
    for controller in V1_CONTROLLERS:
        if controller in where.v1:
            figures.update(_V1_READERS[controller](os.path.join(where.v1[controller], rel)))
        elif where.v2 and V2_CONTROLLERS[controller] in where.v2_controllers:
            figures.update(_V2_READERS[controller](os.path.join(where.v2, rel)))
    return CgroupUsage(**figures)  # type: ignore[arg-type]


def _number(path: str, missing: int | None = None) -> int:
    """A file holding one number; ``missing`` if it does not exist (when allowed)."""
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except FileNotFoundError:
        if missing is None:
            raise
        return missing


def _keyed(path: str) -> dict[str, int]:
    """A ``key value`` per line file (memory.stat, cpu.stat)."""
    values = {}
    with open(path) as f:
        for line in f:
            key, _, value = line.partition(" ")
            if value.strip().isdigit():
                values[key] = int(value)
    return values


def _v1_cpu(d: str) -> dict[str, object]:
    # usage_sys and usage_percpu are missing on old kernels; the total never is.
    per_cpu: tuple[int, ...] = ()
    try:
        with open(os.path.join(d, "cpuacct.usage_percpu")) as f:
            per_cpu = tuple(int(v) for v in f.read().split())
    except FileNotFoundError:
        pass
    return {"cpu_nano": _number(os.path.join(d, "cpuacct.usage")),
            "cpu_system_nano": _number(os.path.join(d, "cpuacct.usage_sys"), 0),
            "per_cpu": per_cpu}


def _v1_memory(d: str) -> dict[str, object]:
    return {"memory": _number(os.path.join(d, "memory.usage_in_bytes"))}


def _v1_blkio(d: str) -> dict[str, object]:
    """Bytes read and written: the throttle policy's recursive counters, which every
    kernel keeps (``MAJ:MIN Read N`` lines; the ``Total`` line is skipped)."""
    read = write = 0
    try:
        with open(os.path.join(d, "blkio.throttle.io_service_bytes_recursive")) as f:
            for line in f:
                fields = line.split()
                if len(fields) == 3 and fields[2].isdigit():
                    read += int(fields[2]) if fields[1].lower() == "read" else 0
                    write += int(fields[2]) if fields[1].lower() == "write" else 0
    except FileNotFoundError:
        if not os.path.isdir(d):
            raise
    return {"block_read": read, "block_write": write}


def _pids(d: str) -> dict[str, object]:
    return {"pids": _number(os.path.join(d, "pids.current"))}


def _v2_cpu(d: str) -> dict[str, object]:
    stat = _keyed(os.path.join(d, "cpu.stat"))
    return {"cpu_nano": stat.get("usage_usec", 0) * 1000,
            "cpu_system_nano": stat.get("system_usec", 0) * 1000}


def _v2_memory(d: str) -> dict[str, object]:
    # The anonymous memory, as podman 4.3 counts a v2 container's (no page cache).
    return {"memory": _keyed(os.path.join(d, "memory.stat")).get("anon", 0)}


def _v2_io(d: str) -> dict[str, object]:
    """Bytes read and written: ``MAJ:MIN rbytes=N wbytes=N ...`` lines of io.stat."""
    read = write = 0
    with open(os.path.join(d, "io.stat")) as f:
        for line in f:
            for item in line.split()[1:]:
                key, _, value = item.partition("=")
                read += int(value) if key == "rbytes" else 0
                write += int(value) if key == "wbytes" else 0
    return {"block_read": read, "block_write": write}


_V1_READERS = {"cpuacct": _v1_cpu, "memory": _v1_memory, "blkio": _v1_blkio, "pids": _pids}
_V2_READERS = {"cpuacct": _v2_cpu, "memory": _v2_memory, "blkio": _v2_io, "pids": _pids}
