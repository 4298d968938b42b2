"""The OCI bundle: a container's ``config.json`` per the OCI runtime spec.

:func:`build_spec` turns a container's configuration into the spec's dictionary, with
podman's defaults: its capability set, masked and read-only paths, the usual kernel
file systems, a new namespace of each kind, resource limits clamped to the host's.
:func:`write_bundle` writes it (and the small ``/etc`` files pypod bind-mounts) for the
OCI runtime to read.
"""

from __future__ import annotations

import fnmatch
import json
import os
import resource
import stat
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from pypod_core.engine import resources, run_options, seccomp, systemd_mode
from pypod_core.engine.names import hostname_of
from pypod_core.errors import InvalidArgError
from pypod_core.plugin.oci import ExecSpec

if TYPE_CHECKING:
    from pypod_core.config import RuntimeConfig
    from pypod_core.engine.container import Container
    from pypod_core.model import ContainerConfig

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: podman's default capabilities (containers.conf ``default_capabilities``).
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID",
    "CAP_SYS_CHROOT",
)

#: Every capability by number (linux/capability.h), for ``--privileged``.
ALL_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)

#: podman's masked and read-only paths (pkg/specgen/generate, oci defaults).
MASKED_PATHS = (
    "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/fs/selinux", "/sys/dev/block",
)
READONLY_PATHS = (
    "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
)

#: podman's default limits for a root container; clamped to the host's hard limits.
DEFAULT_RLIMITS = (("RLIMIT_NOFILE", 1048576), ("RLIMIT_NPROC", 4194304))

#: The OCI namespace type of each kind pypod shares between containers.
NAMESPACE_TYPES = {"pid": "pid", "ipc": "ipc", "uts": "uts", "net": "network",
                   "mnt": "mount", "cgroup": "cgroup"}

#: Where ``--init``'s binary is mounted in the container (podman's: /run/podman-init).
INIT_DESTINATION = "/run/pypod-init"

_UNLIMITED = 2**64 - 1
_NOSUID_NOEXEC_NODEV = ["nosuid", "noexec", "nodev"]


class ExecUser(NamedTuple):
    """The user a container's process runs as, resolved against its /etc files.

    (A NamedTuple, not attrs: this module is on ``pypod run``'s path, and an attrs class
    costs a compile at every start.)"""

    uid: int = 0
    gid: int = 0
    additional_gids: tuple[int, ...] = ()
    home: str = "/"


def _read_db(rootfs: str, name: str) -> list[list[str]]:
    """The colon-separated entries of ``rootfs/etc/<name>`` (passwd, group); [] if none."""
    try:
        with open(os.path.join(rootfs, "etc", name), encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip()
                    and not line.startswith("#")]
    except OSError:
        return []


def resolve_user(rootfs: str, user: str) -> ExecUser:
    """Resolve ``user`` (``name``, ``uid``, ``name:group``, ``uid:gid``, "" for root)
    against the rootfs's /etc/passwd and /etc/group, as podman does."""
    spec_user, _, spec_group = (user or "0").partition(":")
    passwd = _read_db(rootfs, "passwd")
    entry = next((e for e in passwd if len(e) >= 6 and
                  (e[0] == spec_user or (spec_user.isdigit() and e[2] == spec_user))), None)
    if entry is not None:
        uid, gid, home, name = int(entry[2]), int(entry[3]) if entry[3].isdigit() else 0, \
            entry[5] or "/", entry[0]
    elif spec_user.isdigit():
        uid, gid, home, name = int(spec_user), 0, "/", ""
    else:
        raise InvalidArgError(f"unable to find user {spec_user}: no matching entries in "
                              f"{os.path.join(rootfs, 'etc/passwd')}")
    groups = _read_db(rootfs, "group")
    if spec_group:
        if spec_group.isdigit():
            gid = int(spec_group)
        else:
            found = next((g for g in groups if len(g) >= 3 and g[0] == spec_group), None)
            if found is None or not found[2].isdigit():
                raise InvalidArgError(f"unable to find group {spec_group}: no matching "
                                      f"entries in {os.path.join(rootfs, 'etc/group')}")
            gid = int(found[2])
    extra = tuple(sorted({int(g[2]) for g in groups if len(g) >= 4 and g[2].isdigit()
                          and name and name in g[3].split(",") and int(g[2]) != gid}))
    return ExecUser(uid=uid, gid=gid, additional_gids=extra, home=home)


def _host_hard_limit(name: str) -> int:
    """The host's hard limit; unlimited for a limit Python cannot query (RLIMIT_LOCKS)."""
    number = getattr(resource, name, None)
    if number is None:
        return _UNLIMITED
    hard = resource.getrlimit(number)[1]
    return _UNLIMITED if hard == resource.RLIM_INFINITY else hard


def rlimits(config: ContainerConfig) -> list[dict[str, Any]]:
    """podman's default limits overridden by ``--ulimit``; none above the host's hard
    limit (a container cannot raise it without CAP_SYS_RESOURCE, which hosts may lack)."""
    wanted: dict[str, tuple[int, int]] = {name: (v, v) for name, v in DEFAULT_RLIMITS}
    for limit in config.rlimits:
        wanted[limit.type] = (limit.soft, limit.hard)
    result = []
    for name, (soft, hard) in wanted.items():
        host = _host_hard_limit(name)
        soft = _UNLIMITED if soft < 0 else soft
        hard = min(_UNLIMITED if hard < 0 else hard, host)
        result.append({"type": name, "soft": min(soft, hard), "hard": hard})
    return result


def _kernel_mounts(config: ContainerConfig) -> list[dict[str, Any]]:
    """proc, /dev (tmpfs), devpts, shm, mqueue, sysfs and cgroup, as podman mounts them."""
    sys_ro = [] if config.privileged else ["ro"]
    mounts = [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": list(_NOSUID_NOEXEC_NODEV)},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": [*_NOSUID_NOEXEC_NODEV, "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": list(_NOSUID_NOEXEC_NODEV)},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": [*_NOSUID_NOEXEC_NODEV, *sys_ro]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": [*_NOSUID_NOEXEC_NODEV, "relatime", *sys_ro]},
    ]
    if config.read_only:
        # podman's --read-only-tmpfs (on by default): scratch space stays writable.
        for path in ("/run", "/tmp", "/var/tmp"):
            mounts.append({"destination": path, "type": "tmpfs", "source": "tmpfs",
                           "options": ["rw", "rprivate", "nosuid", "nodev", "mode=1777"]})
    return mounts


def _bind(source: str, destination: str, read_only: bool) -> dict[str, Any]:
    options = ["rbind", "rprivate"] + (["ro"] if read_only else [])
    return {"destination": destination, "type": "bind", "source": source, "options": options}


def user_mounts(config: ContainerConfig, user: ExecUser | None = None) -> list[dict[str, Any]]:
    """The ``-v host:ctr``, ``--mount`` and ``--tmpfs`` binds and tmpfs, with podman's
    options; a bind's host side must exist, as podman requires (named volumes are
    :func:`pypod_core.engine.volumes.mount_all`'s)."""
    if not config.mounts:
        return []
    from pypod_core.engine.volumes import bind_and_tmpfs_mounts  # lazy: only with mounts (~8 ms)

    user = user or ExecUser()
    return bind_and_tmpfs_mounts(config, user.uid, user.gid)


def _depth(mount: Mapping[str, Any]) -> int:
    return str(mount["destination"]).rstrip("/").count("/")


def own_bounding_set() -> tuple[str, ...]:
    """The capabilities this process may hand on: ``--privileged`` gets all of them
    (asking for one outside our bounding set would make the runtime fail)."""
    try:
        with open("/proc/self/status") as f:
            line = next(line for line in f if line.startswith("CapBnd:"))
        mask = int(line.split()[1], 16)
    except (OSError, StopIteration, ValueError):
        return DEFAULT_CAPABILITIES
    return tuple(c for bit, c in enumerate(ALL_CAPABILITIES) if mask >> bit & 1)


def _capabilities(config: ContainerConfig, user: ExecUser) -> dict[str, list[str]]:
    """podman's sets: the defaults with ``--cap-add``/``--cap-drop`` merged (all we hold
    for ``--privileged``), none beyond our bounding set.  A non-root user gets only the
    added ones, as ambient capabilities that survive its exec."""
    from pypod_core.engine.security import merge_capabilities  # cycle: it imports bundle

    bounding = own_bounding_set()
    caps = list(bounding) if config.privileged else merge_capabilities(
        DEFAULT_CAPABILITIES, config.cap_add, config.cap_drop, bounding)
    if user.uid == 0:
        return {"bounding": caps, "effective": caps, "permitted": caps}
    added = merge_capabilities((), config.cap_add, (), bounding) if config.cap_add else []
    return {"bounding": caps, "effective": added, "permitted": added,
            "inheritable": added, "ambient": added}


def _seccomp(config: ContainerConfig, capabilities: list[str]) -> dict[str, Any] | None:
    """The container's ``linux.seccomp``: its profile for its capabilities."""
    if config.seccomp_profile in ("", seccomp.UNCONFINED):
        return None
    return seccomp.translate(seccomp.load_profile(config.seccomp_profile), capabilities,
                             where=f"seccomp profile {config.seccomp_profile}")


def _masked_paths(config: ContainerConfig, paths: Iterable[str]) -> list[str]:
    """``paths`` less those ``--security-opt unmask`` names (ALL, or shell patterns)."""
    if not config.unmask:
        return list(paths)
    if "ALL" in config.unmask:  # normalised at create (engine.security)
        return []
    return [p for p in paths if not any(fnmatch.fnmatchcase(p, u) for u in config.unmask)]


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """Every character and block device under /dev, for ``--privileged``."""
    devices = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ("pts", "shm", "mqueue", "fd")]
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                devices.append({
                    "path": path, "type": "c" if stat.S_ISCHR(st.st_mode) else "b",
                    "major": os.major(st.st_rdev), "minor": os.minor(st.st_rdev),
                    "fileMode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid,
                })
    return devices


def namespaces(config: ContainerConfig, netns_path: str,
               shared: Mapping[str, str]) -> list[dict[str, str]]:
    """The namespaces: a new one of each kind, except those joined by path.

    ``shared`` maps a kind (``net``, ``ipc``, ``uts``, ``pid``) to the ``/proc/PID/ns``
    file of the container it is shared with.  Network: ``host`` has no entry, ``bridge``
    joins the namespace pypod made (``netns_path``), ``none`` gets a new one that the
    OCI runtime gives a loopback interface.
    """
    result = []
    for kind in ("pid", "ipc", "uts", "mnt", "net"):
        entry = {"type": NAMESPACE_TYPES[kind]}
        if kind in shared:
            entry["path"] = shared[kind]
        elif kind == "net":
            if config.network_mode == "host":
                continue
            if netns_path:
                entry["path"] = netns_path
        result.append(entry)
    return result


def container_env(config: ContainerConfig, user: ExecUser,
                  extra: Mapping[str, str] | None = None) -> list[str]:
    """The process environment: the defaults (as podman's: PATH, ``TERM=xterm``,
    ``container``; less those ``--unsetenv`` names, none with ``--unsetenv-all``),
    ``HOSTNAME``, ``HOME`` (the user's); then the container's variables (the image's
    and ``-e``), then ``extra`` (an exec's)."""
    defaults = {} if config.unset_env_all else {
        k: v for k, v in (("PATH", DEFAULT_PATH), ("TERM", "xterm"), ("container", "pypod"))
        if k not in config.unset_env}
    env = {**defaults, "HOSTNAME": hostname_of(config), "HOME": user.home,
           **config.env, **(extra or {})}
    return [f"{k}={v}" for k, v in env.items()]


def exec_spec(config: ContainerConfig, command: Sequence[str],
              env: Mapping[str, str] | None = None, user: str = "",
              workdir: str = "", rootfs: str = "") -> ExecSpec:
    """The process ``pypod exec`` runs: ``user`` (else the container's) resolved against
    the /etc files of the mounted ``rootfs`` (default: the ``--rootfs`` directory), the
    container's environment plus ``env``, ``workdir`` (else the container's)."""
    resolved = resolve_user(rootfs or config.rootfs, user or config.user)
    return ExecSpec(args=tuple(command), env=tuple(container_env(config, resolved, env)),
                    uid=resolved.uid, gid=resolved.gid,
                    additional_gids=resolved.additional_gids,
                    cwd=workdir or config.workdir or "/",
                    no_new_privileges=config.no_new_privileges,
                    apparmor_profile="" if config.apparmor_profile in ("", "unconfined")
                    else config.apparmor_profile)


def build_spec(
    config: ContainerConfig,
    *,
    user: ExecUser,
    netns_path: str = "",
    shared_namespaces: Mapping[str, str] | None = None,
    etc_files: Iterable[tuple[str, str]] = (),
    cgroups_path: str = "",
    volume_mounts: Sequence[Mapping[str, Any]] = (),
    root: str = "",
    console_size: tuple[int, int] | None = None,
    shm_dir: str = "",
) -> dict[str, Any]:
    """The OCI runtime spec (``config.json``) of a container, as a dictionary.

    ``etc_files`` are (host file, container path) pairs bind-mounted read-write
    (``/etc/hosts``, ``/etc/hostname``, ``/etc/resolv.conf``: the container's own);
    ``shared_namespaces`` maps a namespace kind to the ``/proc/PID/ns/KIND`` path of the
    container it is shared with;
    ``cgroups_path`` defaults to ``/pypod/ID`` (cgroupfs); ``volume_mounts`` are the
    spec mounts of the named volumes, mounted on the host already; ``root`` is the
    mounted rootfs (default: the ``--rootfs`` directory); ``console_size`` (rows,
    columns) sizes a ``terminal`` container's terminal; ``shm_dir`` is the host tmpfs
    bound at /dev/shm (:mod:`pypod_core.engine.shm`; "": a tmpfs of the container's own).
    """
    if not config.command:
        raise InvalidArgError("no command specified for the container")
    hostname = hostname_of(config)
    shared = dict(shared_namespaces or {})
    capabilities = _capabilities(config, user)
    process: dict[str, Any] = {
        "terminal": config.terminal,
        "user": {"uid": user.uid, "gid": user.gid,
                 **({"additionalGids": list(user.additional_gids)}
                    if user.additional_gids else {})},
        "args": list(config.command),
        "env": container_env(config, user),
        "cwd": config.workdir or "/",
        "capabilities": capabilities,
        "rlimits": rlimits(config),
        "noNewPrivileges": config.no_new_privileges,
    }
    if config.apparmor_profile and config.apparmor_profile != "unconfined":
        process["apparmorProfile"] = config.apparmor_profile
    if config.terminal and console_size:
        # The size of the terminal attached at the start: the runtime sizes the new
        # terminal before the command runs, so that its first look is right.
        process["consoleSize"] = {"height": console_size[0], "width": console_size[1]}
    if config.init:
        process["args"] = [INIT_DESTINATION, "--", *config.command]
    mounts = _kernel_mounts(config)
    if shm_dir:
        mounts = [m if m["destination"] != "/dev/shm" else
                  {"destination": "/dev/shm", "type": "bind", "source": shm_dir,
                   "options": ["bind", "rprivate", *_NOSUID_NOEXEC_NODEV]} for m in mounts]
    own = [*user_mounts(config, user), *(dict(m) for m in volume_mounts)]
    if own:  # the user's own mounts win over read-only's scratch tmpfs
        taken = {m["destination"] for m in own}
        mounts = [m for m in mounts if m["destination"] not in taken]
    after = [_bind(src, dst, False) for src, dst in etc_files] + own
    if config.init:
        after.append({"destination": INIT_DESTINATION, "type": "bind",
                      "source": config.init_path, "options": ["bind", "ro"]})
    mounts, for_systemd = systemd_mode.mounts(config, mounts, after)
    after += for_systemd
    # As podman, shallower paths first (a volume at /data before a bind at /data/x).
    mounts += sorted(after, key=_depth)
    linux: dict[str, Any] = {
        "namespaces": namespaces(config, netns_path, shared),
        "cgroupsPath": cgroups_path or f"/pypod/{config.id}",
        "resources": {"devices": resources.device_rules(config),
                      **resources.spec_resources(config)},
    }
    if config.privileged:
        linux["devices"] = [d for d in host_devices()
                            if systemd_mode.keep_device(config, d["path"])]
    elif config.devices:
        linux["devices"] = resources.spec_devices(config)
    if not config.privileged:
        linux["maskedPaths"] = _masked_paths(config, MASKED_PATHS)
        linux["readonlyPaths"] = _masked_paths(config, READONLY_PATHS)
    if config.mask:  # as podman, masked even when privileged
        linux["maskedPaths"] = [*linux.get("maskedPaths", ()), *config.mask]
    seccomp = _seccomp(config, capabilities["bounding"])
    if seccomp is not None:
        linux["seccomp"] = seccomp
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": os.path.abspath(root or config.rootfs), "readonly": config.read_only},
        "mounts": mounts,
        "annotations": {"io.pypod.container.name": config.name, **config.labels},
        "linux": linux,
    }
    if "uts" not in shared:
        spec["hostname"] = hostname
    run_options.spec_changes(spec, config)
    systemd_mode.spec_changes(spec, config)
    return spec


def write_etc_files(config: ContainerConfig, run_dir: str,
                    defaults: RuntimeConfig | None = None) -> list[tuple[str, str]]:
    """Write the container's ``/etc/hostname``, ``/etc/hosts``, ``/etc/resolv.conf``
    and ``/run/.containerenv`` in its run dir; return (host file, container path) pairs
    to bind-mount.  Every container has files of its own (or those of the container
    whose network namespace it joins): never the host's
    (:mod:`pypod_core.engine.etc_files`, :mod:`pypod_core.engine.containerenv`).
    ``defaults``: the runtime's config (containers.conf's DNS and hosts keys)."""
    from pypod_core.engine import containerenv  # lazy: exec needs neither

    # lazy: only a start (etc_files, with socket ~7 ms)
    from pypod_core.engine.etc_files import write_files

    hostname_file = os.path.join(run_dir, "hostname")
    with open(hostname_file, "w") as f:
        f.write(hostname_of(config) + "\n")
    return [(hostname_file, "/etc/hostname"), *write_files(config, run_dir, defaults=defaults),
            containerenv.write(config, run_dir)]


def write_bundle(ctr: Container, netns_path: str = "",
                 shared_namespaces: Mapping[str, str] | None = None,
                 volume_mounts: Sequence[Mapping[str, Any]] = (), root: str = "",
                 shm_dir: str = "") -> str:
    """Write ``config.json`` into the container's bundle dir; return its path
    (``volume_mounts``: the named volumes' spec mounts; ``root``: the mounted rootfs,
    default the ``--rootfs`` directory; ``shm_dir``: the host tmpfs for /dev/shm)."""
    config = ctr.config
    root = root or config.rootfs
    user = resolve_user(root, config.user)
    if config.group_add:
        extra = run_options.group_ids(root, config.group_add)
        user = user._replace(additional_gids=tuple(dict.fromkeys(
            [*user.additional_gids, *(g for g in extra if g != user.gid)])))
    if config.secrets:
        from pypod_core.engine import ctr_secrets  # lazy: only with --secret

        volume_mounts = [*volume_mounts, *ctr_secrets.spec_mounts(ctr)]
    # The systemd cgroup manager takes "slice:prefix:name" (a pypod-ID.scope).
    systemd = ctr.runtime.config.cgroup_manager == "systemd"
    spec = build_spec(config, user=user, netns_path=netns_path,
                      shared_namespaces=shared_namespaces,
                      etc_files=write_etc_files(config, ctr.run_dir, ctr.runtime.config),
                      cgroups_path=f"machine.slice:pypod:{config.id}" if systemd else "",
                      volume_mounts=volume_mounts, root=root,
                      console_size=getattr(ctr, "console_size", None), shm_dir=shm_dir)
    if config.secrets:
        # After the image's and -e variables, as podman's: a secret's value wins.
        spec["process"]["env"] = container_env(config, user, ctr_secrets.env(ctr))
    run_options.check_workdir(config, root, [m["destination"] for m in spec["mounts"]])
    if config.tz:
        spec["mounts"].append(run_options.localtime_mount(config, ctr.run_dir))
    from pypod_core.engine import oci_hooks as hooks  # lazy: only start, not exec (~0.5 ms)

    hooks.add_to_spec(spec, hooks.read_dirs(ctr.runtime.config.hooks_dir),
                      has_bind_mounts=bool(config.mounts or config.named_volumes))
    path = os.path.join(ctr.bundle_dir, "config.json")
    with open(path, "w") as f:
        json.dump(spec, f, separators=(",", ":"))
    return path
