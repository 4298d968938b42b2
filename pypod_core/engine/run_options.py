"""podman's smaller ``run``/``create`` options the engine honours: ``--timeout``,
``--tz``, ``--restart``, ``--systemd``, ``--sysctl``, ``--group-add``, ``--pid``/``--ipc``
/``--uts host``, ``--log-driver``, ``--annotation`` and ``--workdir``'s existence.

:func:`check` refuses bad values at create (podman's words where scripts match them);
:func:`spec_changes` applies them to an OCI spec being built; :func:`should_restart`
is the restart policy, asked after each exit the exit command sees (as podman without
systemd: conmon's exit command starts the container again).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pypod_core.engine import systemd_mode
from pypod_core.errors import CommandNotExecutableError, InvalidArgError

if TYPE_CHECKING:
    from pypod_core.model import ContainerConfig, ContainerState

RESTART_POLICIES = ("", "no", "on-failure", "always", "unless-stopped")
#: ``json-file`` is podman's alias of ``k8s-file`` (kept as given, for inspect).
LOG_DRIVERS = ("k8s-file", "json-file", "none")
#: Log drivers podman has that pypod does not, and why.
LOG_DRIVERS_REFUSED = {
    "journald": "pypod has no journald backend",
    "passthrough": "pypod relays a container's streams through conmon's attach socket",
}
#: Where the zoneinfo database lives on the host (``--tz NAME``).
ZONEINFO = "/usr/share/zoneinfo"
#: Kernel parameters that belong to a container's own namespaces (podman's list):
#: exact names, then prefixes, each with the namespace it needs.
_SYSCTLS = {"kernel.msgmax": "ipc", "kernel.msgmnb": "ipc", "kernel.msgmni": "ipc",
            "kernel.sem": "ipc", "kernel.shmall": "ipc", "kernel.shmmax": "ipc",
            "kernel.shmmni": "ipc", "kernel.shm_rmid_forced": "ipc",
            "kernel.domainname": "uts", "kernel.hostname": "uts"}
_SYSCTL_PREFIXES = {"fs.mqueue.": "ipc", "net.": "net"}


def check(c: ContainerConfig) -> None:
    """InvalidArgError for values that cannot work."""
    if c.timeout < 0:
        raise InvalidArgError(f"invalid --timeout {c.timeout}: must be 0 or more seconds")
    if c.restart_policy not in RESTART_POLICIES:
        raise InvalidArgError(f"invalid restart policy {c.restart_policy!r}: no, "
                              "on-failure[:N], always or unless-stopped")
    if c.restart_retries and c.restart_policy != "on-failure":
        raise InvalidArgError("restart policy retries can only be specified with "
                              "on-failure restart policy")
    if c.restart_retries < 0:
        raise InvalidArgError("must specify restart policy retry count as a number "
                              "greater than 0")
    if c.auto_remove and c.restart_policy not in ("", "no"):
        raise InvalidArgError('the --rm option conflicts with --restart, when the '
                              'restartPolicy is not "" and "no"')
    if c.log_driver in LOG_DRIVERS_REFUSED:
        raise InvalidArgError(f"--log-driver {c.log_driver}: not supported by pypod "
                              f"({LOG_DRIVERS_REFUSED[c.log_driver]})")
    if c.log_driver not in LOG_DRIVERS:
        raise InvalidArgError(f"invalid log driver: {c.log_driver}")
    systemd_mode.check_config(c)
    if c.tz:
        timezone_file(c.tz)
    for kind in c.host_namespaces:
        if kind not in ("pid", "ipc", "uts"):
            raise InvalidArgError(f"invalid host namespace {kind!r}: pid, ipc or uts")
        if kind in c.shared_namespaces:
            raise InvalidArgError(f"--{kind} host: the container already joins another's "
                                  f"{kind} namespace")
    for name in c.sysctls:
        _check_sysctl(c, name)
    if "keep-groups" in c.group_add:
        raise InvalidArgError("--group-add keep-groups: not supported by pypod (it needs "
                              "crun's run.oci.keep_original_groups, in rootless mode)")


def _check_sysctl(c: ContainerConfig, name: str) -> None:
    kind = _SYSCTLS.get(name) or next(
        (k for prefix, k in _SYSCTL_PREFIXES.items() if name.startswith(prefix)), None)
    if kind is None:
        raise InvalidArgError(f"sysctl {name!r} is not allowed")
    if kind == "net" and c.network_mode == "host":
        raise InvalidArgError(f"sysctl {name!r} is not allowed in the hosts network "
                              "namespace")
    if kind in c.host_namespaces:
        raise InvalidArgError(f"sysctl {name!r} is not allowed in the host's {kind} "
                              "namespace")


def timezone_file(tz: str) -> str:
    """The host file ``--tz`` names: /etc/localtime for ``local``, else the zoneinfo
    database's (InvalidArgError if there is none)."""
    if tz == "local":
        path = os.path.realpath("/etc/localtime")
    else:
        if tz.startswith("/") or ".." in tz.split("/"):
            raise InvalidArgError(f"finding timezone {tz!r}: not a zoneinfo name")
        path = os.path.join(ZONEINFO, tz)
    if not os.path.isfile(path):
        raise InvalidArgError(f"finding timezone {tz!r}: {path}: no such file")
    return path


def parse_restart(text: str) -> tuple[str, int]:
    """``--restart POLICY[:N]``: (policy, retries)."""
    policy, colon, count = text.partition(":")
    if not colon:
        return policy, 0
    if policy != "on-failure":
        raise InvalidArgError("restart policy retries can only be specified with "
                              "on-failure restart policy")
    if not count.isdigit() or int(count) == 0:
        raise InvalidArgError("must specify restart policy retry count as a number "
                              "greater than 0")
    return policy, int(count)


def spec_changes(spec: dict[str, Any], c: ContainerConfig) -> None:
    """Apply the options to a spec being built: host namespaces, sysctls,
    annotations, oom_score_adj and /dev/shm's size."""
    linux = spec["linux"]
    if c.host_namespaces:
        kinds = {"pid": "pid", "ipc": "ipc", "uts": "uts"}
        taken = {kinds[k] for k in c.host_namespaces}
        linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] not in taken]
        if "uts" in c.host_namespaces:
            spec.pop("hostname", None)
    if c.sysctls:
        linux["sysctl"] = dict(c.sysctls)
    if c.oom_score_adj:
        spec["process"]["oomScoreAdj"] = c.oom_score_adj
    spec["annotations"].update(c.annotations)
    for mount in spec["mounts"]:
        if mount["destination"] == "/dev/shm" and mount["type"] == "tmpfs":  # not a bind
            mount["options"] = [o for o in mount["options"] if not o.startswith("size=")]
            if c.shm_size:
                mount["options"].append(f"size={c.shm_size // 1024}k")


def localtime_mount(c: ContainerConfig, run_dir: str) -> dict[str, Any]:
    """``--tz``: the zone's file copied into the run dir (the host's may change or go
    while the container runs), as a read-only bind at /etc/localtime."""
    import shutil  # lazy: only --tz (~1.5 ms, with bz2 and lzma)

    local = os.path.join(run_dir, "localtime")
    shutil.copyfile(timezone_file(c.tz), local)
    return {"destination": "/etc/localtime", "type": "bind", "source": local,
            "options": ["bind", "ro", "rprivate"]}


def group_ids(rootfs: str, groups: Sequence[str]) -> list[int]:
    """``--group-add`` names or ids as gids, names looked up in the rootfs's
    /etc/group."""
    from pypod_core.engine.bundle import _read_db  # cycle: bundle imports this module

    gids = []
    table = _read_db(rootfs, "group")
    for group in groups:
        if group.isdigit():
            gids.append(int(group))
            continue
        entry = next((g for g in table if len(g) >= 3 and g[0] == group), None)
        if entry is None or not entry[2].isdigit():
            raise InvalidArgError(f"unable to find group {group}: no matching entries in "
                                  f"{os.path.join(rootfs, 'etc/group')}")
        gids.append(int(entry[2]))
    return gids


def check_workdir(c: ContainerConfig, root: str, mount_points: Sequence[str]) -> None:
    """A ``--workdir`` the user gave must exist in the rootfs, or be (or lie under) a
    mount point: podman's exit 126 otherwise."""
    if c.create_workdir or c.workdir in ("", "/"):
        return
    inside = os.path.join(root, c.workdir.lstrip("/"))
    if os.path.isdir(inside):
        return
    for point in mount_points:
        point = point.rstrip("/")
        if c.workdir == point or c.workdir.startswith(point + "/") \
                or point.startswith(c.workdir.rstrip("/") + "/"):
            return
    raise CommandNotExecutableError(f'workdir "{c.workdir}" does not exist on container '
                                    f"{c.id}")


def should_restart(c: ContainerConfig, state: ContainerState) -> bool:
    """Whether the restart policy starts an exited container again: ``always`` and
    ``unless-stopped`` unless a user stopped it, ``on-failure`` after a non-zero exit,
    at most ``restart_retries`` times (when given)."""
    if c.restart_policy not in ("always", "unless-stopped", "on-failure") \
            or state.stopped_by_user:
        return False
    if c.restart_policy == "on-failure":
        if state.exit_code == 0:
            return False
        if c.restart_retries and state.restart_count >= c.restart_retries:
            return False
    return True
