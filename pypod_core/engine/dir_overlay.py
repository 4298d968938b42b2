"""The ``dir-overlay`` graph driver: a ``--rootfs DIR:O`` container's rootfs, an overlay
with DIR as its read-only lower and the container's own upper and work dirs, so the
container writes without touching DIR.

As the ``dir`` driver, it lives in the core (``--rootfs`` works without a storage
plugin) and its "layer" is the directory itself; unlike it, the container's changes are
kept, in ``graph_root/dir-overlay/containers/<ctr>``::

    lower      a symlink to DIR (the container's record of it)
    diff       the upper dir (what the container wrote; kept across restarts)
    work       overlayfs' work dir
    merged     the mount point: the rootfs

``remove_rootfs`` unmounts and deletes these (DIR's files are the user's: never).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import BinaryIO

from pypod_core.engine.dirdriver import DirGraphDriver, _reason, check_rootfs_dir
from pypod_core.errors import (
    DiffUnsupportedError,
    GraphDriverError,
    NoSuchRootfsError,
    RootfsExistsError,
)
from pypod_core.host import mounts
from pypod_core.host.private import private_dir
from pypod_core.plugin.graph_driver import check_id, id_to_dir

#: How many mounts stacked on one merged dir umount takes away before giving up.
_MAX_STACKED = 16


class DirOverlayDriver(DirGraphDriver):
    """``--rootfs DIR:O``: an overlay over DIR per container."""

    name = "dir-overlay"

    def _dir(self, ctr_id: str) -> str:
        return os.path.join(self.containers_dir, id_to_dir(check_id("container id", ctr_id)))

    def create_rootfs(self, ctr_id: str, top_layer: str | None) -> None:
        """Record ``top_layer``, an absolute directory, as the lower of a new overlay."""
        top_layer = check_rootfs_dir("dir-overlay", top_layer)
        directory = self._dir(ctr_id)
        private_dir(self.containers_dir)
        tmp = f"{directory}.new"
        try:
            shutil.rmtree(tmp, ignore_errors=True)  # a creation cut short
            os.mkdir(tmp, 0o700)
            for part in ("diff", "work", "merged"):
                os.mkdir(os.path.join(tmp, part), 0o755)
            os.symlink(top_layer, os.path.join(tmp, "lower"))
            os.rename(tmp, directory)
        except OSError as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if os.path.isdir(directory):
                raise RootfsExistsError(f"container {ctr_id} has a rootfs already") from None
            raise GraphDriverError(f"cannot make the rootfs of container {ctr_id}: "
                                   f"{exc.filename or directory}: {_reason(exc)}") from None

    def _lower(self, ctr_id: str) -> str:
        try:
            return os.readlink(os.path.join(self._dir(ctr_id), "lower"))
        except FileNotFoundError:
            raise NoSuchRootfsError(f"container {ctr_id} has no rootfs in the dir-overlay "
                                    f"graph driver") from None

    def mount(self, ctr_id: str) -> str:
        lower = self._lower(ctr_id)
        directory = self._dir(ctr_id)
        merged = os.path.join(directory, "merged")
        if mounts.is_mount_point(merged):
            return merged
        try:
            mounts.mount_overlay(merged, [lower], os.path.join(directory, "diff"),
                                 os.path.join(directory, "work"))
        except OSError as exc:
            raise GraphDriverError(f"container {ctr_id}: rootfs overlay over {lower}: "
                                   f"{exc}") from None
        return merged

    def umount(self, ctr_id: str) -> None:
        self._lower(ctr_id)
        self._umount(os.path.join(self._dir(ctr_id), "merged"))

    def _umount(self, merged: str) -> None:
        for _ in range(_MAX_STACKED):  # a mount stacked over ours: take every one away
            if not mounts.is_mount_point(merged):
                return
            try:
                mounts.umount(merged)
            except OSError as exc:
                raise GraphDriverError(str(exc)) from None
        raise GraphDriverError(f"{merged} is still mounted")

    def is_mounted(self, ctr_id: str) -> bool:
        return mounts.is_mount_point(os.path.join(self._dir(ctr_id), "merged"))

    def remove_rootfs(self, ctr_id: str) -> None:
        directory = self._dir(ctr_id)
        if not os.path.isdir(directory):
            return
        self._umount(os.path.join(directory, "merged"))
        # Unmounted first: rmtree deletes the upper and work dirs, never DIR's files.
        shutil.rmtree(directory, ignore_errors=True)

    def diff(self, ctr_id: str) -> BinaryIO:
        raise DiffUnsupportedError("a --rootfs container's changes cannot be written as "
                                   "a layer (commit)")

    def rw_size(self, ctr_id: str) -> int:
        """What the container wrote: its upper dir's files."""
        from pypod_core.host.layer_diff import tree_size  # lazy: only system df

        return tree_size(os.path.join(self._dir(ctr_id), "diff"))

    def rootfs_ids(self) -> Iterator[str]:
        try:
            entries = sorted(os.listdir(self.containers_dir))
        except FileNotFoundError:
            return iter(())
        return iter(e for e in entries if not e.endswith(".new"))

    def rootfs_data(self, ctr_id: str) -> dict[str, str]:
        """podman's overlay keys: DIR as the lower, the upper and work dirs, the merged
        dir while it is mounted."""
        try:
            lower = self._lower(ctr_id)
        except NoSuchRootfsError:
            return {}
        directory = self._dir(ctr_id)
        data = {"LowerDir": lower, "UpperDir": os.path.join(directory, "diff"),
                "WorkDir": os.path.join(directory, "work")}
        if self.is_mounted(ctr_id):
            data["MergedDir"] = os.path.join(directory, "merged")
        return data
