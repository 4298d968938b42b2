"""A container's cgroup resources: ``--memory`` and its kin, the CPU, pids and block
I/O limits, ``--device`` and ``--device-cgroup-rule``, as the OCI spec's
``linux.resources`` and ``linux.devices`` (the OCI runtime applies them to the
container's cgroup).

:func:`check` refuses, at create, what podman 4.3 refuses (with its words, which
scripts match); :func:`spec_resources` and :func:`spec_devices` build the spec's parts;
:func:`host_config` is what ``inspect`` shows under podman's keys.
"""

from __future__ import annotations

import os
import re
import stat
from typing import TYPE_CHECKING, Any

from pypod_core.errors import InvalidArgError

if TYPE_CHECKING:
    from pypod_core.model import ContainerConfig

#: podman's CFS period for ``--cpus`` (microseconds).
DEFAULT_CPU_PERIOD = 100000
#: The kernel's smallest memory limit podman accepts (6 MiB).
MIN_MEMORY = 6 * 1024 * 1024
#: ``TYPE MAJOR:MINOR ACCESS`` of ``--device-cgroup-rule``.
_CAP_SYS_RESOURCE = 24
_CPUSET = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


def check(c: ContainerConfig) -> None:
    """InvalidArgError for limits podman refuses (its messages)."""
    if c.memory and c.memory < MIN_MEMORY:
        raise InvalidArgError("minimum memory limit allowed is 6MB")
    if c.memory_swap > 0:
        if not c.memory:
            raise InvalidArgError("you should always set a memory limit when using a "
                                  "memoryswap limit, see usage")
        if c.memory_swap < c.memory:
            raise InvalidArgError("minimum memoryswap limit should be larger than memory "
                                  "limit, see usage")
    if c.memory and c.memory_reservation and c.memory < c.memory_reservation:
        raise InvalidArgError("minimum memory limit cannot be less than memory reservation "
                              "limit, see usage")
    if c.cpu_period and not 1000 <= c.cpu_period <= 1000000:
        raise InvalidArgError("CPU cfs period cannot be less than 1ms (i.e. 1000) or larger "
                              "than 1s (i.e. 1000000)")
    if c.cpu_quota and c.cpu_quota < 1000:
        raise InvalidArgError("CPU cfs quota cannot be less than 1ms (i.e. 1000)")
    for value, what in ((c.cpuset_cpus, "cpus"), (c.cpuset_mems, "mems")):
        if value and not _CPUSET.match(value):
            raise InvalidArgError(f"invalid value {value} for cpuset {what}")
    if c.blkio_weight and not 10 <= c.blkio_weight <= 1000:
        raise InvalidArgError("range of blkio weight is from 10 to 1000")
    if not -1000 <= c.oom_score_adj <= 1000:
        raise InvalidArgError(f"invalid --oom-score-adj {c.oom_score_adj}: must be "
                              "-1000 to 1000")
    if c.oom_score_adj < 0:
        _check_oom_lowering(c.oom_score_adj)
    if c.pids_limit < -1 or c.shm_size < 0 or min(c.memory, c.memory_reservation,
                                                  c.cpu_shares, c.cpu_quota) < 0:
        raise InvalidArgError("invalid resource limit: limits cannot be negative")
    for rule in c.device_cgroup_rules:
        parse_cgroup_rule(rule)
    throttled_devices(c)
    for device in c.devices:
        _device_nodes(device)


def _check_oom_lowering(value: int) -> None:
    """A score below our own needs CAP_SYS_RESOURCE (the kernel's rule): without it the
    runtime's create would fail, so say why at create."""
    try:
        with open("/proc/self/oom_score_adj") as f:
            own = int(f.read())
        with open("/proc/self/status") as f:
            effective = next(int(line.split()[1], 16) for line in f
                             if line.startswith("CapEff:"))
    except (OSError, ValueError, StopIteration):
        return
    if value < own and not effective >> _CAP_SYS_RESOURCE & 1:
        raise InvalidArgError(f"--oom-score-adj {value}: below this process's ({own}), "
                              "which needs CAP_SYS_RESOURCE, and pypod does not have it")


def spec_resources(c: ContainerConfig) -> dict[str, Any]:
    """The spec's ``linux.resources`` besides the device rules (only what was given)."""
    resources: dict[str, Any] = {}
    memory: dict[str, int] = {}
    if c.memory:
        memory["limit"] = c.memory
        memory["swap"] = c.memory_swap or 2 * c.memory  # podman's default: swap = memory
    if c.memory_swap:
        memory["swap"] = c.memory_swap
    if c.memory_reservation:
        memory["reservation"] = c.memory_reservation
    if memory:
        resources["memory"] = memory
    cpu: dict[str, Any] = {}
    for key, value in (("shares", c.cpu_shares), ("period", c.cpu_period),
                       ("quota", c.cpu_quota), ("cpus", c.cpuset_cpus),
                       ("mems", c.cpuset_mems)):
        if value:
            cpu[key] = value
    if cpu:
        resources["cpu"] = cpu
    if c.pids_limit:
        resources["pids"] = {"limit": c.pids_limit}
    block_io: dict[str, Any] = {"weight": c.blkio_weight} if c.blkio_weight else {}
    for kind, major, minor, rate in throttled_devices(c):
        key = {"read_bps": "throttleReadBpsDevice", "write_bps": "throttleWriteBpsDevice",
               "read_iops": "throttleReadIOPSDevice",
               "write_iops": "throttleWriteIOPSDevice"}[kind]
        block_io.setdefault(key, []).append({"major": major, "minor": minor, "rate": rate})
    if block_io:
        resources["blockIO"] = block_io
    return resources


def throttled_devices(c: ContainerConfig) -> list[tuple[str, int, int, int]]:
    """``--device-{read,write}-{bps,iops}`` as (kind, major, minor, rate): the path's
    device numbers, read from the node (InvalidArgError if it is none)."""
    result = []
    for entry in c.device_throttle:
        kind, _, rest = entry.partition(":")
        path, _, rate = rest.rpartition(":")
        try:
            st = os.stat(path)
        except OSError as exc:
            raise InvalidArgError(f"--device-{kind.replace('_', '-')} {path}: "
                                  f"{exc.strerror}") from None
        if not (stat.S_ISBLK(st.st_mode) or stat.S_ISCHR(st.st_mode)):
            raise InvalidArgError(f"--device-{kind.replace('_', '-')} {path}: not a device "
                                  "node")
        result.append((kind, os.major(st.st_rdev), os.minor(st.st_rdev), int(rate)))
    return result


def device_rules(c: ContainerConfig) -> list[dict[str, Any]]:
    """The device cgroup's rules: all denied (all allowed when privileged), then each
    ``--device``'s node and each ``--device-cgroup-rule`` allowed."""
    rules: list[dict[str, Any]] = [{"allow": c.privileged, "access": "rwm"}]
    for device in c.devices:
        for node in _device_nodes(device):
            rules.append({"allow": True, "type": node["type"], "major": node["major"],
                          "minor": node["minor"], "access": node["access"]})
    for rule in c.device_cgroup_rules:
        rules.append(parse_cgroup_rule(rule))
    return rules


def spec_devices(c: ContainerConfig) -> list[dict[str, Any]]:
    """The ``--device`` nodes for the spec's ``linux.devices``."""
    nodes = []
    for device in c.devices:
        for node in _device_nodes(device):
            nodes.append({k: v for k, v in node.items() if k != "access"})
    return nodes


def parse_device(spec: str) -> str:
    """``--device HOST[:CONTAINER][:PERMISSIONS]`` normalised to ``HOST:CTR:PERMS``
    (the container path defaults to the host's, the permissions to ``rwm``)."""
    parts = spec.split(":")
    if len(parts) > 3 or not parts[0]:
        raise InvalidArgError(f"invalid device mode: {spec}")
    host = parts[0]
    ctr, perms = host, "rwm"
    if len(parts) == 2:
        if _is_access(parts[1]):
            perms = parts[1]
        else:
            ctr = parts[1]
    elif len(parts) == 3:
        ctr, perms = parts[1], parts[2]
        if not _is_access(perms):
            raise InvalidArgError(f"invalid device mode: {perms}")
    if not ctr.startswith("/"):
        raise InvalidArgError(f"{ctr} is not an absolute path")
    return f"{host}:{ctr}:{perms}"


def _is_access(text: str) -> bool:
    return bool(text) and all(ch in "rwm" for ch in text) and len(set(text)) == len(text)


def _device_nodes(device: str) -> list[dict[str, Any]]:
    """The device nodes of ``HOST:CTR:PERMS`` (every node under a directory)."""
    host, ctr, perms = device.rsplit(":", 2)
    try:
        st = os.stat(host)
    except OSError as exc:
        raise InvalidArgError(f"--device {host}: {exc.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        nodes = []
        for dirpath, _, names in os.walk(host):
            for name in sorted(names):
                path = os.path.join(dirpath, name)
                try:
                    inner = os.stat(path)
                except OSError:
                    continue
                if stat.S_ISCHR(inner.st_mode) or stat.S_ISBLK(inner.st_mode):
                    target = os.path.join(ctr, os.path.relpath(path, host))
                    nodes.append(_node(target, inner, perms))
        return nodes
    if not (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
        raise InvalidArgError(f"--device {host}: not a device node")
    return [_node(ctr, st, perms)]


def _node(path: str, st: os.stat_result, perms: str) -> dict[str, Any]:
    return {"path": path, "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
            "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
            "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
            "access": perms}


def parse_cgroup_rule(rule: str) -> dict[str, Any]:
    """``--device-cgroup-rule 'c 1:3 rwm'`` (``*`` for any major or minor) as a spec
    rule; podman's errors otherwise."""
    words = rule.split(" ")
    if len(words) != 3:
        raise InvalidArgError(f"invalid device cgroup rule requires type, major:Minor, "
                              f'and access rules: "{rule}"')
    kind, number, access = words
    # "7" alone is major 7, any minor (as "7:*")
    major, _, minor = number.partition(":")
    minor = minor or "*"
    if kind not in ("a", "b", "c"):
        raise InvalidArgError(f"invalid device type in device-access-add: {kind}")
    result: dict[str, Any] = {"allow": True, "type": kind}
    for key, text in (("major", major), ("minor", minor)):
        if text != "*":
            if not text.isdigit():
                raise InvalidArgError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
            result[key] = int(text)
    for ch in access:
        if ch not in "rwm":
            raise InvalidArgError(f"invalid device access in device-access-add: {ch}")
    result["access"] = access
    return result


def host_config(c: ContainerConfig) -> dict[str, Any]:
    """inspect's ``HostConfig`` resource keys, as podman names them."""
    nano_cpus = c.cpu_quota * 1_000_000_000 // c.cpu_period if c.cpu_quota and \
        c.cpu_period else 0
    return {
        "Memory": c.memory,
        "MemoryReservation": c.memory_reservation,
        "MemorySwap": c.memory_swap or (2 * c.memory if c.memory else 0),
        "CpuShares": c.cpu_shares,
        "CpuPeriod": c.cpu_period,
        "CpuQuota": c.cpu_quota,
        "NanoCpus": nano_cpus,
        "CpusetCpus": c.cpuset_cpus,
        "CpusetMems": c.cpuset_mems,
        "PidsLimit": c.pids_limit,
        "BlkioWeight": c.blkio_weight,
        "OomScoreAdj": c.oom_score_adj,
        "ShmSize": c.shm_size,
        "Devices": [_inspect_device(d) for d in c.devices],
        "DeviceCgroupRules": list(c.device_cgroup_rules),
        **{key: [{"Path": path, "Rate": int(rate)} for path, rate in
                 (e.partition(":")[2].rpartition(":")[::2] for e in c.device_throttle
                  if e.startswith(f"{kind}:"))]
           for key, kind in (("BlkioDeviceReadBps", "read_bps"),
                             ("BlkioDeviceWriteBps", "write_bps"),
                             ("BlkioDeviceReadIOps", "read_iops"),
                             ("BlkioDeviceWriteIOps", "write_iops"))},
    }


def _inspect_device(device: str) -> dict[str, str]:
    host, ctr, perms = device.rsplit(":", 2)
    return {"PathOnHost": host, "PathInContainer": ctr, "CgroupPermissions": perms}
