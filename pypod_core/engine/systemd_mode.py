"""``--systemd``: systemd mode, as podman's.

A container is in systemd mode with ``--systemd=always``, or with ``true`` (the
default) when its command is an init: ``/sbin/init``, ``/usr/sbin/init``,
``/usr/local/sbin/init``, or any path named ``systemd`` (also behind ``/bin/sh -c``).
It is decided once, at create (:func:`create_fields`), and kept in the container's
config (``systemd_mode``); the stop signal becomes ``SIGRTMIN+3`` (systemd's "halt")
unless the user or the image named one.

At each start :func:`spec_changes` gives the spec what systemd expects to find:
tmpfs on /run, /run/lock, /tmp and /var/log/journal (where nothing else is mounted),
a writable ``name=systemd`` cgroup hierarchy (cgroups v1: the host's bound over the
container's read-only view, its ``release_agent`` masked; v2: the host's unified
hierarchy bound read-write), ``container_uuid`` (the id's first 32 characters) and,
with ``--privileged``, none of the host's ``/dev/tty*`` devices (systemd would start
gettys on them).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from pypod_core.errors import InvalidArgError

if TYPE_CHECKING:
    from pypod_core.model import ContainerConfig

#: The values ``--systemd`` takes.
MODES: Final = ("true", "false", "always")
#: The init paths that make ``true`` mean systemd mode (besides any ``*/systemd``).
INIT_COMMANDS: Final = frozenset({"/sbin/init", "/usr/sbin/init", "/usr/local/sbin/init"})
#: The tmpfs systemd wants, in mount order, and their options (podman's).
TMPFS: Final = ("/run", "/run/lock", "/tmp", "/var/log/journal")
TMPFS_OPTIONS: Final = ("rw", "rprivate", "nosuid", "nodev", "tmpcopyup")
CGROUP_ROOT: Final = "/sys/fs/cgroup"
#: The v1 hierarchy systemd manages its units in.
SYSTEMD_HIERARCHY: Final = "/sys/fs/cgroup/systemd"


def check(setting: str) -> None:
    """InvalidArgError unless ``setting`` is one of :data:`MODES` (podman's words)."""
    if setting not in MODES:
        raise InvalidArgError('invalid config provided: --systemd values must be one of '
                              '"true, false, always"')


def wanted(setting: str, command: Sequence[str]) -> bool:
    """Whether ``--systemd=setting`` puts a container running ``command`` in systemd
    mode."""
    check(setting)
    if setting != "true" or not command:
        return setting == "always"
    # A command given to a shell (as image builds write it) counts by what it runs.
    cmd = command[2:] if len(command) > 2 and tuple(command[:2]) == ("/bin/sh", "-c") \
        else command
    return cmd[0] in INIT_COMMANDS or posixpath.basename(cmd[0]) == "systemd"


def create_fields(fields: dict[str, Any], command: Sequence[str]) -> dict[str, Any]:
    """The container's fields with ``systemd_mode`` decided; in systemd mode the stop
    signal is :func:`stop_signal` unless ``fields`` (the user's, with the image's
    defaults) name one."""
    mode = wanted(str(fields.get("systemd", "true")), command)
    result = {**fields, "systemd_mode": mode}
    if mode and "stop_signal" not in fields:
        result["stop_signal"] = stop_signal()
    return result


def stop_signal() -> int:
    """SIGRTMIN+3, on which systemd halts (SIGTERM would only make it re-execute
    itself)."""
    import signal  # lazy: only systemd mode; create imports no signal (~1 ms)

    return int(signal.SIGRTMIN) + 3


def check_config(c: ContainerConfig) -> None:
    """InvalidArgError for what systemd mode cannot go with: a bad value, or
    ``--init`` with ``always`` (podman's rule: systemd is the container's init)."""
    check(c.systemd)
    if c.init and c.systemd == "always":
        raise InvalidArgError("cannot use container-init binary with systemd=always")


def extra_env(c: ContainerConfig) -> dict[str, str]:
    """``container_uuid`` for systemd (its machine id when /etc/machine-id is empty),
    unless the user set one."""
    if not c.systemd_mode or "container_uuid" in c.env:
        return {}
    return {"container_uuid": c.id[:32]}


def keep_device(c: ContainerConfig, path: str) -> bool:
    """Whether a ``--privileged`` container gets the host device at ``path``: in systemd
    mode no terminal (``/dev/tty*``), or systemd would start a getty on each."""
    return not (c.systemd_mode and path.startswith("/dev/tty"))


def mounts(c: ContainerConfig, kernel: list[dict[str, Any]], others: Sequence[Any],
           cgroup_root: str = CGROUP_ROOT) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the ``kernel`` mounts less what systemd mode replaces, the mounts it adds) for a
    spec whose other mounts are ``others``; the caller sorts the added ones in with the
    others, shallower paths first (/run before /run/.containerenv)."""
    if not c.systemd_mode:
        return kernel, []
    taken = {m["destination"] for m in (*kernel, *others)}
    added = [{"destination": path, "type": "tmpfs", "source": "tmpfs",
              "options": list(TMPFS_OPTIONS)} for path in TMPFS if path not in taken]
    if os.path.exists(os.path.join(cgroup_root, "cgroup.controllers")):
        # cgroups v2: no cgroup namespace here, so the host's hierarchy itself, writable.
        kernel = [m for m in kernel if m["destination"] != CGROUP_ROOT]
        added.append({"destination": CGROUP_ROOT, "type": "bind", "source": cgroup_root,
                      "options": ["bind", "private", "rw"]})
    elif os.path.isdir(os.path.join(cgroup_root, "systemd")):  # else nothing to bind
        hierarchy = os.path.join(cgroup_root, "systemd")
        added.append({"destination": SYSTEMD_HIERARCHY, "type": "bind",
                      "source": hierarchy, "options": _bind_options(hierarchy)})
    return kernel, added


def spec_changes(spec: dict[str, Any], c: ContainerConfig) -> None:
    """Give a spec being built systemd mode's environment and, over the bound v1
    hierarchy, a masked ``release_agent`` (as podman, even with ``--privileged``);
    nothing for a container not in systemd mode."""
    if not c.systemd_mode:
        return
    spec["process"]["env"] += [f"{k}={v}" for k, v in extra_env(c).items()]
    if any(m["destination"] == SYSTEMD_HIERARCHY for m in spec["mounts"]):
        linux = spec["linux"]
        linux["maskedPaths"] = [*linux.get("maskedPaths", ()),
                                f"{SYSTEMD_HIERARCHY}/release_agent"]


def _bind_options(path: str) -> list[str]:
    """The bind's options: rprivate, and the host mount's nodev, noexec, nosuid and ro
    kept (a bind cannot lift them)."""
    flags = os.statvfs(path).f_flag
    return ["bind", "rprivate", *(name for bit, name in (
        (os.ST_NODEV, "nodev"), (os.ST_NOEXEC, "noexec"), (os.ST_NOSUID, "nosuid"),
        (os.ST_RDONLY, "ro")) if flags & bit)]
