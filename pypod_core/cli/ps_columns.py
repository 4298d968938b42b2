"""What ``ps`` shows beyond its plain table, as podman's: ``--sort``, ``--size`` (the
SIZE column) and ``--ns`` (the namespaces' columns).

Sizes, as podman's ``Size``: ``rwSize`` is what the container wrote (its overlay upper
directory; a ``vfs`` copy or a ``--rootfs`` directory is all its own, so all of it),
``rootFsSize`` that plus its image.  Namespaces are the inode numbers of
``/proc/PID/ns/KIND`` of a running container's process, as podman's columns show them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from pypod_core.errors import InvalidArgError

if TYPE_CHECKING:
    from pypod_core.engine.container import Container

#: podman's ``--sort`` keys.
SORT_KEYS: Final = ("command", "created", "id", "image", "names", "runningfor", "size",
                    "status")
#: ``--ns``: podman's columns and the /proc/PID/ns entry of each.
NS_COLUMNS: Final = (("CGROUPNS", "cgroup"), ("IPC", "ipc"), ("MNT", "mnt"), ("NET", "net"),
                     ("PIDNS", "pid"), ("USERNS", "user"), ("UTS", "uts"))


def check_sort(key: str) -> str:
    """``--sort``: a key of SORT_KEYS, else podman's refusal naming the choices."""
    if key not in SORT_KEYS:
        raise InvalidArgError(f'invalid argument "{key}" for "--sort" flag: must be one of '
                              f'{", ".join(SORT_KEYS)}')
    return key


def sort_key(key: str) -> Callable[[dict[str, Any]], Any]:
    """How ps entries sort by ``key`` (ascending, as podman's)."""
    keys: dict[str, Callable[[dict[str, Any]], Any]] = {
        "command": lambda e: " ".join(e["Command"]),
        "created": lambda e: e["Created"],
        "id": lambda e: e["Id"],
        "image": lambda e: e["Image"],
        "names": lambda e: e["Names"][0],
        # the longest running first: the earliest start
        "runningfor": lambda e: e["StartedAt"],
        "size": lambda e: (e.get("Size") or {}).get("rootFsSize", 0),
        "status": lambda e: e["Status"],
    }
    return keys[key]


def _tree_size(path: str) -> int:
    """Bytes of the regular files under ``path`` (each hard link once), not crossing
    into other file systems (a mounted rootfs's /proc)."""
    if not path or not os.path.isdir(path):
        return 0
    total, seen = 0, set()
    device = os.lstat(path).st_dev
    for top, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if os.lstat(os.path.join(top, d)).st_dev == device]
        for name in files:
            st = os.lstat(os.path.join(top, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
    return total


def container_size(ctr: Container) -> dict[str, int]:
    """podman's ``Size``: ``{"rootFsSize": ..., "rwSize": ...}``."""
    from pypod_core.engine import rootfs  # lazy: only ps --size

    config = ctr.config
    upper = ""
    if config.graph_driver not in ("", rootfs.DIR_DRIVER):
        try:
            upper = rootfs.driver_named(ctr.runtime, config.graph_driver) \
                .rootfs_data(ctr.id).get("UpperDir", "")
        except Exception:  # a driver that cannot say: the size is unknown (0)
            upper = ""
    if upper:
        rw = _tree_size(upper)
    else:
        rw = _tree_size(rootfs.readable_path(ctr))
    image = 0
    if config.image_id:
        try:
            image = ctr.runtime.get_image(config.image_id).size
        except Exception:  # the image is gone (rmi -f): only the container's own
            image = 0
    return {"rootFsSize": image + rw, "rwSize": rw}


def size_text(size: dict[str, int]) -> str:
    """The SIZE column: ``12B (virtual 1.2MB)``, go-units' sizes as podman prints them."""
    return f"{_human(size['rwSize'])} (virtual {_human(size['rootFsSize'])})"


def _human(size: int) -> str:
    value = float(max(size, 0))
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if value < 1000:
            return f"{value:.3g}{unit}"
        value /= 1000
    return f"{value:.3g}EB"


def namespaces(pid: int) -> dict[str, str]:
    """The namespace inode numbers of a process, keyed by NS_COLUMNS' column; empty
    strings for a container that does not run."""
    values = {}
    for column, kind in NS_COLUMNS:
        value = ""
        if pid > 0:
            try:
                link = os.readlink(f"/proc/{pid}/ns/{kind}")  # "net:[4026531993]"
                value = link.partition("[")[2].rstrip("]")
            except OSError:
                value = ""
        values[column] = value
    return values
