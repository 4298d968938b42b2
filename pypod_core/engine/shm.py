"""A container's /dev/shm, one for all the containers of an IPC namespace (libpod's
``ShmDir``).

System V IPC lives in the IPC namespace, POSIX shared memory in /dev/shm, a tmpfs.
Containers sharing an IPC namespace (a pod's containers by default, ``--ipc
container:NAME``) must see one /dev/shm too, or what one puts there the other cannot
find.  So, as podman, a container with an IPC namespace of its own gets a tmpfs mounted
on the host in its run dir (``shm``, ``--shm-size`` big, mode 1777, nosuid, nodev,
noexec), bind-mounted at its /dev/shm; a container joining its IPC namespace binds that
same directory.  The tmpfs is unmounted (lazily) at the container's clean-up: a joiner
still running keeps it alive through its own bind mount.

Rootless pypod cannot mount on the host: its containers keep the tmpfs the OCI runtime
mounts for each, and joining an IPC namespace shares System V IPC only.  A container of
the host's IPC namespace keeps the runtime's tmpfs as well.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pypod_core.host import mounts

if TYPE_CHECKING:
    from pypod_core.engine.container import Container

#: The tmpfs's directory in a container's run dir.
SHM_DIR = "shm"
#: How many ``--ipc container:`` hops are followed to the namespace's owner.
MAX_HOPS = 8


def shm_path(ctr: Container) -> str:
    """Where the container's own /dev/shm tmpfs is mounted on the host."""
    return os.path.join(ctr.run_dir, SHM_DIR)


def _owner(ctr: Container) -> Container:
    """The container whose IPC namespace (and /dev/shm) ``ctr`` has: itself, or the one
    it joins, followed through containers that join another in turn."""
    for _ in range(MAX_HOPS):
        other = ctr.config.shared_namespaces.get("ipc")
        if not other:
            break
        ctr = ctr.runtime.get_container(other)
    return ctr


def prepare(ctr: Container) -> str:
    """Before the container's bundle is written: the host directory to bind at its
    /dev/shm, mounted now if it is the container's own; "" where the OCI runtime's own
    tmpfs serves (rootless, the host's IPC namespace, or a joined container without a
    host tmpfs).  Its joined containers run already (their namespaces are joined by
    path), so their tmpfs is there."""
    if ctr.runtime.rootless or "ipc" in ctr.config.host_namespaces:
        return ""
    owner = _owner(ctr)
    path = shm_path(owner)
    if owner is not ctr:
        return path if mounts.is_mount_point(path) else ""
    os.makedirs(path, 0o700, exist_ok=True)
    size = f",size={ctr.config.shm_size // 1024}k" if ctr.config.shm_size else ""
    mounts.mount_tmpfs(path, f"mode=1777{size}", source="shm")
    return path


def release(ctr: Container) -> None:
    """At the container's clean-up (before its run dir goes): unmount its own tmpfs, if
    mounted.  Lazily: a joiner's bind mount keeps it until that one ends too."""
    path = shm_path(ctr)
    if os.path.isdir(path):
        mounts.umount(path)
