"""The ``vfs`` graph driver: every layer a full tree (its parent's copied, then its own
tar applied with whiteouts as deletions), every container's rootfs a full copy of its
image's top layer.  Slow and big, but it works on any file system: the fallback where
overlayfs cannot mount.

Copies are made with GNU ``cp -a`` (hardlinks, xattrs, devices, owners and modes kept;
reflinks where the file system has them); a container's directory::

    containers/<ctr>/rootfs   the copy: the rootfs
    containers/<ctr>/mounted  present between mount() and umount()
"""

from __future__ import annotations

import os
import subprocess
from typing import Any, BinaryIO

from pypod_core.errors import GraphDriverError
from pypod_storage_overlay.store import LayerStore, backing_fs


def copy_tree(source: str, target: str) -> None:
    """``cp -a`` ``source`` to the new directory ``target``; GraphDriverError with cp's
    own words if it fails."""
    result = subprocess.run(["cp", "-a", "--reflink=auto", "--", source, target],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise GraphDriverError(f"copying {source} to {target}: "
                               f"{result.stderr.strip() or f'cp exited {result.returncode}'}")


class VfsDriver(LayerStore):
    """Layers as full trees; rootfs as full copies."""

    name = "vfs"
    whiteouts = "vfs"

    def _start_layer(self, diff: str, parent: str | None) -> None:
        if parent is None:
            os.mkdir(diff, 0o755)
        else:
            copy_tree(os.path.join(self.layer_dir(parent), "diff"), diff)

    def _make_rootfs(self, directory: str, stack: list[str]) -> dict[str, Any]:
        rootfs = os.path.join(directory, "rootfs")
        if stack:
            copy_tree(os.path.join(self.layers_dir, stack[0], "diff"), rootfs)
        else:
            os.mkdir(rootfs, 0o755)
        return {}

    def _mount(self, ctr_id: str, directory: str, record: dict[str, Any]) -> str:
        with open(os.path.join(directory, "mounted"), "w"):
            pass
        return os.path.join(directory, "rootfs")

    def _umount(self, ctr_id: str, directory: str) -> None:
        try:
            os.unlink(os.path.join(directory, "mounted"))
        except FileNotFoundError:
            pass

    def _mount_view(self, target: str, record: dict[str, Any]) -> None:
        """A read-only bind mount of the layer's tree (a vfs layer holds every file)."""
        from pypod_core.host.mounts import bind_readonly  # lazy: only image mount (ctypes)

        bind_readonly(os.path.join(self.layer_dir(record["id"]), "diff"), target)

    def _write_diff(self, directory: str, record: dict[str, Any], out: BinaryIO) -> None:
        """The copy against the top layer's tree it was made from (an empty tree for a
        rootfs on no layer)."""
        from pypod_core.host.layer_diff import write_changes, write_tree  # lazy: only commit

        rootfs = os.path.join(directory, "rootfs")
        if record["layers"]:
            write_changes(os.path.join(self.layers_dir, record["layers"][0], "diff"),
                          rootfs, out)
        else:
            write_tree(rootfs, out)

    def is_mounted(self, ctr_id: str) -> bool:
        return os.path.exists(os.path.join(self.container_dir(ctr_id), "mounted"))

    def status(self) -> dict[str, str]:
        return {"Backing Filesystem": backing_fs(self.home),
                "Layers": str(sum(1 for _ in self.layers()))}
