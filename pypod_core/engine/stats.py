"""``stats``: a container's resource use as podman computes it (libpod's
``GetContainerStats``): CPU time and percentages, memory against its limit, network and
block I/O, and the number of pids.

The figures come from the kernel, not from the OCI runtime: the container's cgroup
(whose path is the one its bundle gave runc or crun, so any OCI runtime backend's
containers are read the same way) and /proc/PID/net/dev of its network namespace.

CPU %, as podman's: the CPU time used since the previous sample over the wall time
since then; a first sample is measured from the container's start.  Avg CPU % is the
CPU time over the whole time the container has run.  A container that is not running
(or paused) has every figure zero.
"""

from __future__ import annotations

import json
import os
import time
from typing import TYPE_CHECKING

import attrs

from pypod_core.errors import CgroupError
from pypod_core.host import cgroupfs
from pypod_core.model import ContainerStatus

if TYPE_CHECKING:
    from pypod_core.engine.container import Container

_LIVE = (ContainerStatus.RUNNING, ContainerStatus.PAUSED)


@attrs.frozen(kw_only=True)
class ContainerStats:
    """One sample of a container's use, in podman's terms (``define.ContainerStats``):
    nanoseconds, bytes and percentages (0-100 per CPU)."""

    container_id: str
    name: str
    #: CPU % since the previous sample (since the start for a first one).
    cpu: float = 0.0
    #: CPU % over the container's whole run.
    avg_cpu: float = 0.0
    cpu_nano: int = 0
    cpu_system_nano: int = 0
    per_cpu: tuple[int, ...] = ()
    #: When this sample was taken (nanoseconds since the epoch).
    system_nano: int = 0
    mem_usage: int = 0
    mem_limit: int = 0
    mem_perc: float = 0.0
    net_input: int = 0
    net_output: int = 0
    block_input: int = 0
    block_output: int = 0
    pids: int = 0


def container_stats(ctr: Container, previous: ContainerStats | None = None,
                    where: cgroupfs.Hierarchies | None = None) -> ContainerStats:
    """A sample of ``ctr``'s use (synced first); ``previous`` is its last sample, from
    which CPU % is measured.  CgroupError if a running container's cgroup cannot be
    read."""
    ctr.sync(wait=False)
    state = ctr.state
    if state.state not in _LIVE:
        return ContainerStats(container_id=ctr.id, name=ctr.name)
    started = int(state.started_at * 1e9)
    path = cgroups_path(ctr)
    try:
        usage = cgroupfs.read_usage(path, where)
    except OSError as e:
        # The container may have exited since the sync: then it has no figures.
        if ctr.sync(wait=False).state.state not in _LIVE:
            return ContainerStats(container_id=ctr.id, name=ctr.name)
        raise CgroupError(f"unable to load cgroup at {path}: {e.strerror or e}") from None
    now = time.time_ns()
    # A total below the last one: the container restarted into a new cgroup.
    if previous is None or previous.cpu_nano > usage.cpu_nano:
        previous = ContainerStats(container_id=ctr.id, name=ctr.name, system_nano=started)
    limit = memory_limit(ctr.config.memory)
    received, sent = net_io(state.pid)
    return ContainerStats(
        container_id=ctr.id, name=ctr.name,
        cpu=_percent(usage.cpu_nano - previous.cpu_nano, now - previous.system_nano),
        avg_cpu=_percent(usage.cpu_nano, now - started),
        cpu_nano=usage.cpu_nano, cpu_system_nano=usage.cpu_system_nano,
        per_cpu=usage.per_cpu, system_nano=now,
        mem_usage=usage.memory, mem_limit=limit, mem_perc=usage.memory / limit * 100,
        net_input=received, net_output=sent,
        block_input=usage.block_read, block_output=usage.block_write, pids=usage.pids)


def _percent(used: int, elapsed: int) -> float:
    return used / elapsed * 100 if used > 0 and elapsed > 0 else 0.0


def memory_limit(configured: int) -> int:
    """The memory a container may use: its ``--memory``, or the host's RAM where that
    is unset or larger (as podman reports it)."""
    physical = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return configured if 0 < configured <= physical else physical


def cgroups_path(ctr: Container) -> str:
    """The container's cgroup below the hierarchies' roots, from the ``cgroupsPath``
    its bundle gave the OCI runtime: ``/pypod/ID`` (cgroupfs), or systemd's
    ``SLICE:PREFIX:NAME``, which is the scope ``SLICE.../PREFIX-NAME.scope``."""
    try:
        with open(os.path.join(ctr.bundle_dir, "config.json")) as f:
            spec_path = json.load(f).get("linux", {}).get("cgroupsPath", "")
    except (OSError, ValueError) as e:
        raise CgroupError(f"cannot read the cgroup path of container {ctr.id}: "
                          f"{getattr(e, 'strerror', None) or e}") from None
    if not spec_path:
        raise CgroupError(f"container {ctr.id} has no cgroup of its own")
    if ":" not in spec_path:
        return spec_path
    slice_name, prefix, name = spec_path.split(":", 2)
    return _slice_dir(slice_name or "system.slice") + f"/{prefix}-{name}.scope"


def _slice_dir(slice_name: str) -> str:
    """systemd's nesting of a slice: ``a-b.slice`` is ``/a.slice/a-b.slice``."""
    parts = slice_name.removesuffix(".slice").split("-")
    return "".join("/" + "-".join(parts[:i + 1]) + ".slice" for i in range(len(parts)))


def net_io(pid: int) -> tuple[int, int]:
    """Bytes received and sent over the interfaces of the network namespace of ``pid``
    (its loopback aside); nothing for a process in the host's namespace, whose traffic
    is not the container's."""
    try:
        if os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat("/proc/self/ns/net").st_ino:
            return 0, 0
        with open(f"/proc/{pid}/net/dev") as f:
            lines = f.readlines()[2:]  # two header lines
    except OSError:  # the process has just gone
        return 0, 0
    received = sent = 0
    for line in lines:
        name, _, counters = line.partition(":")
        fields = counters.split()
        if name.strip() != "lo" and len(fields) >= 9:
            received += int(fields[0])
            sent += int(fields[8])
    return received, sent
