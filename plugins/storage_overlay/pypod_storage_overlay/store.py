"""What the overlay and vfs drivers share: layers on disk, keyed by chain id, applied
safely across processes, and the containers' directories.

Layout under the driver's home (``graph_root/overlay`` or ``graph_root/vfs``)::

    layers/<id>/diff         the layer's files (overlay: its diff; vfs: the whole tree)
    layers/<id>/info.json    {"id", "parent", "diff_size", "lower", "link"}
    tmp/<id>.<random>/       a layer being applied (renamed to layers/<id> when done)
    mounts/<id>/             the layer's read-only view while mounted (image mount)
    locks/<name>.lock        flock files: one per layer and container, and "store"
    containers/<ctr>/        a container's own files (the driver's)

``<id>`` is the layer id with ``:`` turned into ``-`` (``sha256-<hex>``).

Applying takes the layer's lock (so two processes applying one layer extract it once),
extracts into ``tmp/`` and renames into ``layers/`` under the short ``store`` lock, which
also covers removals and rootfs creation (so a layer is never removed while a child
layer or container is being made on it).  A crash leaves only ``tmp/`` entries; the next
apply removes those whose layer lock nobody holds.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from pypod_core.errors import (
    GraphDriverError,
    InvalidLayerError,
    LayerInUseError,
    NoSuchLayerError,
    NoSuchRootfsError,
    RootfsExistsError,
)
from pypod_core.host.locks import FileLock, LockTimeout
from pypod_core.host.private import private_dir
from pypod_core.plugin.graph_driver import GraphDriver, LayerInfo, check_id, id_to_dir

if TYPE_CHECKING:
    from pypod_core.host.layers import Whiteouts


def read_json(path: str) -> dict[str, Any]:
    """A small JSON file of the driver's."""
    with open(path, encoding="utf-8") as f:
        data: dict[str, Any] = json.load(f)
    return data


def write_json(path: str, data: dict[str, Any]) -> None:
    """Write a small JSON file whole: a reader never sees half of it."""
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def copy_root_attributes(source: str, target: str) -> None:
    """Give the directory ``target`` the owner and mode of ``source``."""
    st = os.stat(source)
    os.chown(target, st.st_uid, st.st_gid)
    os.chmod(target, stat.S_IMODE(st.st_mode))


def fresh_dir(parent: str, prefix: str) -> str:
    """A new directory under ``parent`` named ``prefix`` and random characters (as
    tempfile.mkdtemp, without importing tempfile: ``images`` builds this driver too)."""
    while True:
        path = os.path.join(parent, prefix + os.urandom(6).hex())
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue


def _spool(directory: str) -> BinaryIO:
    """A new unnamed file in ``directory`` (O_TMPFILE: nothing left behind by a crash)."""
    try:
        fd = os.open(directory, os.O_TMPFILE | os.O_RDWR, 0o600)
    except OSError:  # a file system without O_TMPFILE
        import tempfile  # lazy: rare (~3 ms)

        return tempfile.TemporaryFile(dir=directory)  # type: ignore[return-value]
    return os.fdopen(fd, "w+b")


def backing_fs(path: str) -> str:
    """The file system under ``path`` as podman names it (ext4 is ``extfs``)."""
    from pypod_core.host.mounts import fs_type_of  # lazy: only status() (~1-2.5 ms, ctypes)

    kind = fs_type_of(path)
    return "extfs" if kind in ("ext2", "ext3", "ext4") else kind


class LayerStore(GraphDriver):
    """Layers under ``home/layers``; a subclass says how whiteouts are written, how a
    layer's directory starts (empty, or a copy of its parent) and how rootfs are made."""

    whiteouts: Whiteouts

    def __init__(self, home: str):
        self.home = home
        self.layers_dir = os.path.join(home, "layers")
        self.tmp_dir = os.path.join(home, "tmp")
        self.locks_dir = os.path.join(home, "locks")
        self.containers_dir = os.path.join(home, "containers")
        try:
            for directory in (self.layers_dir, self.tmp_dir, self.locks_dir,
                              self.containers_dir):
                private_dir(directory)  # the home too, whatever the umask
        except OSError as exc:
            raise GraphDriverError(f"{self.name} graph driver home {home}: "
                                   f"{exc.strerror}") from None

    # -- paths and locks -------------------------------------------------------------

    def layer_dir(self, layer_id: str) -> str:
        """Where the layer ``layer_id`` lives (whether or not it is stored)."""
        return os.path.join(self.layers_dir, id_to_dir(check_id("layer id", layer_id)))

    def container_dir(self, ctr_id: str) -> str:
        """Where the container's own files live (whether or not it has a rootfs)."""
        return os.path.join(self.containers_dir, id_to_dir(check_id("container id", ctr_id)))

    def lock(self, name: str) -> FileLock:
        """A fresh lock object on ``locks/<name>.lock`` (fresh: a lock inherited over a
        fork must not count as held)."""
        return FileLock(os.path.join(self.locks_dir, f"{name}.lock"), 0o600)

    # -- layers ------------------------------------------------------------------------

    def has_layer(self, layer_id: str) -> bool:
        return os.path.exists(os.path.join(self.layer_dir(layer_id), "info.json"))

    def layer(self, layer_id: str) -> LayerInfo:
        info = self._layer_record(layer_id)
        return LayerInfo(info["id"], info["parent"], info["diff_size"])

    def _layer_record(self, layer_id: str) -> dict[str, Any]:
        try:
            return read_json(os.path.join(self.layer_dir(layer_id), "info.json"))
        except FileNotFoundError:
            raise NoSuchLayerError(f"layer {layer_id}: layer not known") from None

    def layers(self) -> Iterator[LayerInfo]:
        for entry in sorted(os.listdir(self.layers_dir)):
            try:
                info = read_json(os.path.join(self.layers_dir, entry, "info.json"))
            except FileNotFoundError:  # removed meanwhile
                continue
            yield LayerInfo(info["id"], info["parent"], info["diff_size"])

    def apply_layer(self, layer_id: str, parent: str | None, stream: BinaryIO) -> LayerInfo:
        name = id_to_dir(check_id("layer id", layer_id))
        if parent is not None:
            check_id("parent layer id", parent)
        with self.lock(f"layer-{name}"):
            if self.has_layer(layer_id):
                return self.layer(layer_id)
            parent_record = self._layer_record(parent) if parent is not None else None
            self._clean_tmp(name)
            tmp = fresh_dir(self.tmp_dir, f"{name}.")
            try:
                record = self._build_layer(tmp, layer_id, parent, parent_record, stream)
                with self.lock("store"):
                    if parent is not None and not self.has_layer(parent):
                        raise NoSuchLayerError(f"layer {parent}: layer not known "
                                               f"(removed while {layer_id} was applied)")
                    os.rename(tmp, os.path.join(self.layers_dir, name))
                    self._layer_added(record)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        return LayerInfo(layer_id, parent, record["diff_size"])

    def _build_layer(self, tmp: str, layer_id: str, parent: str | None,
                     parent_record: dict[str, Any] | None, stream: BinaryIO) -> dict[str, Any]:
        from pypod_core.host.layers import LayerError, extract_layer  # lazy: only applying (~2 ms)

        diff = os.path.join(tmp, "diff")
        self._start_layer(diff, parent)
        # Here, not at the top: running a container needs no extraction (tarfile, ~7 ms).

        try:
            size = extract_layer(stream, diff, whiteouts=self.whiteouts)
        except LayerError as exc:
            raise InvalidLayerError(f"layer {layer_id}: {exc}") from None
        lower = []
        if parent is not None and parent_record is not None:
            lower = [id_to_dir(parent), *parent_record.get("lower", [])]
        record = {"id": layer_id, "parent": parent, "diff_size": size, "lower": lower,
                  **self._layer_extra(tmp)}
        write_json(os.path.join(tmp, "info.json"), record)
        return record

    def _start_layer(self, diff: str, parent: str | None) -> None:
        """Make the new layer's ``diff`` directory (empty; vfs copies the parent), with
        its parent's root owner and mode (containers/storage's rule: "/" stays the
        image's unless a layer changes it)."""
        os.mkdir(diff, 0o755)
        if parent is not None:
            copy_root_attributes(os.path.join(self.layer_dir(parent), "diff"), diff)

    def _layer_extra(self, tmp: str) -> dict[str, Any]:
        """More fields for the new layer's info.json (overlay: its short link)."""
        return {}

    def _layer_added(self, record: dict[str, Any]) -> None:
        """Called under the store lock once the layer is in place."""

    def _layer_removed(self, record: dict[str, Any]) -> None:
        """Called under the store lock once the layer is gone."""

    def _clean_tmp(self, mine: str) -> None:
        """Remove what crashed applies left in ``tmp/``: those of the layer we hold the
        lock of, and any other whose layer lock we can take at once."""
        for entry in os.listdir(self.tmp_dir):
            name = entry.rpartition(".")[0]
            path = os.path.join(self.tmp_dir, entry)
            if name == mine:
                shutil.rmtree(path, ignore_errors=True)
                continue
            lock = self.lock(f"layer-{name}")
            try:
                lock.acquire(timeout=0)
            except LockTimeout:
                continue  # being applied right now
            try:
                shutil.rmtree(path, ignore_errors=True)
            finally:
                lock.release()

    def remove_layer(self, layer_id: str) -> None:
        name = id_to_dir(check_id("layer id", layer_id))
        with self.lock(f"layer-{name}"), self.lock("store"):
            record = self._layer_record(layer_id)
            self._check_unused(layer_id, name)
            self._umount_view(self._view_dir(layer_id))  # rmi of a mounted image
            doomed = fresh_dir(self.tmp_dir, f"{name}.")
            os.rename(os.path.join(self.layers_dir, name), os.path.join(doomed, "layer"))
            self._layer_removed(record)
        shutil.rmtree(doomed, ignore_errors=True)

    def _check_unused(self, layer_id: str, name: str) -> None:
        for info in self.layers():
            if info.parent == layer_id:
                raise LayerInUseError(f"layer {layer_id} is in use: it is the parent of "
                                      f"layer {info.id}")
        for ctr_id in self.rootfs_ids():
            record = self._rootfs_record(ctr_id)
            if name in record["layers"]:
                raise LayerInUseError(f"layer {layer_id} is in use by the rootfs of "
                                      f"container {ctr_id}")

    # -- read-only views of layers (image mount) -----------------------------------------

    def _view_dir(self, layer_id: str) -> str:
        return os.path.join(self.home, "mounts", id_to_dir(check_id("layer id", layer_id)))

    def mount_layer(self, layer_id: str) -> str:
        """The layer over its parents, read-only, at ``mounts/<id>`` (under its lock, so a
        removal or a second mount waits)."""
        from pypod_core.host.mounts import is_mount_point  # lazy: only mounts (~2 ms, ctypes)

        target = self._view_dir(layer_id)
        with self.lock(f"layer-{id_to_dir(layer_id)}"):
            record = self._layer_record(layer_id)
            if is_mount_point(target):
                return target
            private_dir(os.path.dirname(target))
            os.makedirs(target, 0o755, exist_ok=True)
            try:
                self._mount_view(target, record)
            except OSError as exc:
                raise GraphDriverError(f"layer {layer_id}: {exc}") from None
        return target

    def umount_layer(self, layer_id: str) -> None:
        with self.lock(f"layer-{id_to_dir(check_id('layer id', layer_id))}"):
            self._umount_view(self._view_dir(layer_id))

    def layer_mount_point(self, layer_id: str) -> str:
        from pypod_core.host.mounts import is_mount_point  # lazy: only mounts (~2 ms, ctypes)

        target = self._view_dir(layer_id)
        return target if is_mount_point(target) else ""

    def _mount_view(self, target: str, record: dict[str, Any]) -> None:
        """Mount the layer of ``record`` read-only on ``target``."""
        raise NotImplementedError

    def _umount_view(self, target: str) -> None:
        """Take every mount off ``target`` (one stacked over ours too), then the
        directory; not mounted is fine."""
        from pypod_core.host.mounts import is_mount_point, umount  # lazy: only mounts

        for _ in range(16):
            if not is_mount_point(target):
                break
            try:
                umount(target)
            except OSError as exc:
                raise GraphDriverError(str(exc)) from None
        else:
            raise GraphDriverError(f"{target} is still mounted")
        try:
            os.rmdir(target)
        except OSError:
            pass  # never made, or not empty: never delete through a mount

    # -- containers ------------------------------------------------------------------

    def rootfs_ids(self) -> Iterator[str]:
        for entry in sorted(os.listdir(self.containers_dir)):
            try:
                yield read_json(os.path.join(self.containers_dir, entry, "info.json"))["id"]
            except FileNotFoundError:
                continue

    def _rootfs_record(self, ctr_id: str) -> dict[str, Any]:
        try:
            return read_json(os.path.join(self.container_dir(ctr_id), "info.json"))
        except FileNotFoundError:
            raise NoSuchRootfsError(f"container {ctr_id} has no rootfs in the "
                                    f"{self.name} graph driver") from None

    def create_rootfs(self, ctr_id: str, top_layer: str | None) -> None:
        directory = self.container_dir(ctr_id)
        with self.lock(f"ctr-{id_to_dir(ctr_id)}"), self.lock("store"):
            if os.path.exists(directory):
                raise RootfsExistsError(f"container {ctr_id} has a rootfs already")
            stack: list[str] = []
            if top_layer is not None:
                top = self._layer_record(top_layer)
                stack = [id_to_dir(top_layer), *top.get("lower", [])]
            tmp = fresh_dir(self.tmp_dir, ".ctr.")
            try:
                record = {"id": ctr_id, "top": top_layer, "layers": stack,
                          **self._make_rootfs(tmp, stack)}
                write_json(os.path.join(tmp, "info.json"), record)
                os.rename(tmp, directory)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise

    def _make_rootfs(self, directory: str, stack: list[str]) -> dict[str, Any]:
        """Fill a new container's ``directory`` over the layers ``stack`` (uppermost
        first); return more fields for its info.json."""
        raise NotImplementedError

    def remove_rootfs(self, ctr_id: str) -> None:
        directory = self.container_dir(ctr_id)
        with self.lock(f"ctr-{id_to_dir(ctr_id)}"):
            if not os.path.exists(directory):
                return
            self._umount(ctr_id, directory)
            doomed = fresh_dir(self.tmp_dir, ".rm.")
            os.rename(directory, os.path.join(doomed, "ctr"))
        shutil.rmtree(doomed, ignore_errors=True)

    def umount(self, ctr_id: str) -> None:
        directory = self.container_dir(ctr_id)
        with self.lock(f"ctr-{id_to_dir(ctr_id)}"):
            self._rootfs_record(ctr_id)
            self._umount(ctr_id, directory)

    def mount(self, ctr_id: str) -> str:
        directory = self.container_dir(ctr_id)
        with self.lock(f"ctr-{id_to_dir(ctr_id)}"):
            return self._mount(ctr_id, directory, self._rootfs_record(ctr_id))

    def diff(self, ctr_id: str) -> BinaryIO:
        """The container's changes as a layer tar, spooled to an unnamed file in the
        driver's ``tmp/`` (gone when closed), read from its start."""
        out = _spool(self.tmp_dir)
        try:
            self.write_diff(ctr_id, out)
            out.seek(0)
        except BaseException:
            out.close()
            raise
        return out

    def write_diff(self, ctr_id: str, out: BinaryIO) -> None:
        """The container's changes as a layer tar onto ``out``, under its lock."""
        with self.lock(f"ctr-{id_to_dir(ctr_id)}"):
            record = self._rootfs_record(ctr_id)
            self._write_diff(self.container_dir(ctr_id), record, out)

    def _write_diff(self, directory: str, record: dict[str, Any], out: BinaryIO) -> None:
        """Write the changes of the container in ``directory`` as a tar on ``out``."""
        raise NotImplementedError

    def _mount(self, ctr_id: str, directory: str, record: dict[str, Any]) -> str:
        raise NotImplementedError

    def _umount(self, ctr_id: str, directory: str) -> None:
        raise NotImplementedError
