"""The ``dir`` graph driver: a ``--rootfs`` directory used in place, no layers.

This is what pypod always did for ``--rootfs``, put behind the GraphDriver interface so
the engine handles every container's rootfs the same way.  It lives in the core (not a
plugin) because ``--rootfs`` containers must work with no image store and no storage
plugin installed: the engine uses it for them whatever ``graph_driver`` says.

For this driver a "layer" is the directory itself: ``create_rootfs(ctr, "/abs/dir")``
records the directory (a symlink ``graph_root/dir/containers/<ctr>``), ``mount`` returns
it, ``remove_rootfs`` forgets it and never touches the user's files.  Layers cannot be
applied.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import BinaryIO

from pypod_core.errors import (
    GraphDriverError,
    InvalidArgError,
    NoSuchLayerError,
    NoSuchRootfsError,
    NotImplementedByBackendError,
    RootfsExistsError,
)
from pypod_core.host.private import private_dir
from pypod_core.plugin.graph_driver import GraphDriver, LayerInfo, check_id, id_to_dir


class DirGraphDriver(GraphDriver):
    """Rootfs directories used in place (``--rootfs``)."""

    name = "dir"

    def __init__(self, home: str):
        self.home = home
        self.containers_dir = os.path.join(home, "containers")

    def _link(self, ctr_id: str) -> str:
        return os.path.join(self.containers_dir, id_to_dir(check_id("container id", ctr_id)))

    # -- layers: none ------------------------------------------------------------------

    def apply_layer(self, layer_id: str, parent: str | None, stream: BinaryIO) -> LayerInfo:
        raise NotImplementedByBackendError(
            "the dir graph driver stores no image layers (it serves --rootfs): "
            'set graph_driver to "overlay" or "vfs" for images')

    def has_layer(self, layer_id: str) -> bool:
        return False

    def layer(self, layer_id: str) -> LayerInfo:
        raise NoSuchLayerError(f"layer {layer_id}: layer not known (the dir graph driver "
                               f"stores no layers)")

    def layers(self) -> Iterator[LayerInfo]:
        return iter(())

    def remove_layer(self, layer_id: str) -> None:
        self.layer(layer_id)

    # -- containers ------------------------------------------------------------------

    def create_rootfs(self, ctr_id: str, top_layer: str | None) -> None:
        """Record ``top_layer``, an absolute directory, as the container's rootfs."""
        top_layer = check_rootfs_dir("dir", top_layer)
        link = self._link(ctr_id)
        try:
            private_dir(self.containers_dir)
            os.symlink(top_layer, link)
        except FileExistsError:
            raise RootfsExistsError(f"container {ctr_id} has a rootfs already") from None
        except OSError as exc:
            raise GraphDriverError(f"cannot record the rootfs of container {ctr_id}: "
                                   f"{exc.filename or link}: {_reason(exc)}") from None

    def mount(self, ctr_id: str) -> str:
        try:
            return os.readlink(self._link(ctr_id))
        except FileNotFoundError:
            raise NoSuchRootfsError(f"container {ctr_id} has no rootfs in the dir graph "
                                    f"driver") from None

    def umount(self, ctr_id: str) -> None:
        self.mount(ctr_id)

    def is_mounted(self, ctr_id: str) -> bool:
        return os.path.lexists(self._link(ctr_id))

    def remove_rootfs(self, ctr_id: str) -> None:
        link = self._link(ctr_id)
        try:
            os.unlink(link)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise GraphDriverError(f"cannot forget the rootfs of container {ctr_id}: "
                                   f"{link}: {_reason(exc)}") from None

    def diff(self, ctr_id: str) -> BinaryIO:
        """The whole directory as a tar (it stands on no layer: everything in it is the
        container's), spooled to an unnamed temporary file."""
        import tempfile  # lazy: only export and commit (~3 ms)

        from pypod_core.host.layer_diff import write_tree  # lazy: only export and commit

        directory = self.mount(ctr_id)
        out = tempfile.TemporaryFile()
        try:
            write_tree(directory, out)
            out.seek(0)
        except BaseException:
            out.close()
            raise
        return out  # type: ignore[return-value]

    def rw_size(self, ctr_id: str) -> int:
        """0: the directory is the user's, not a layer pypod made (podman shows no
        size for a ``--rootfs`` container either)."""
        return 0

    def rootfs_ids(self) -> Iterator[str]:
        try:
            entries = sorted(os.listdir(self.containers_dir))
        except FileNotFoundError:
            return iter(())
        return iter(entries)  # container ids have no ':' (id_to_dir kept them as they are)

    def status(self) -> dict[str, str]:
        return {}


def _reason(exc: OSError) -> str:
    """The system's words for ``exc``, as pypod's other messages put them ("read-only
    file system", "no space left on device")."""
    return (exc.strerror or str(exc)).lower()


def check_rootfs_dir(driver: str, top_layer: str | None) -> str:
    """``top_layer`` if it is an existing directory by absolute path (the rootfs a
    directory driver takes); InvalidArgError naming ``driver`` otherwise."""
    if not top_layer or not os.path.isabs(top_layer):
        raise InvalidArgError(f"the {driver} graph driver takes the rootfs directory as "
                              f"an absolute path, not {top_layer!r}")
    if not os.path.isdir(top_layer):
        raise InvalidArgError(f"rootfs {top_layer}: not a directory")
    return top_layer
