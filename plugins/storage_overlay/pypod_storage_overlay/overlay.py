"""The ``overlay`` graph driver: each layer extracted once, a container's rootfs an
overlay mount of its image's layers with the container's own upper and work dirs.

Whiteouts are stored in the kernel's own form (0/0 character devices and the
``trusted.overlay.opaque`` xattr), so the layers' diff dirs are overlayfs lowerdirs as
they are.  Each layer also gets a short link ``l/<26 chars> -> ../layers/<id>/diff``
(as containers/storage does): mount(2) takes those, relative to the home, when the
kernel lacks the new mount API and absolute paths would not fit in one page.

A container's directory::

    containers/<ctr>/diff     its upper dir (what the container wrote)
    containers/<ctr>/work     overlayfs' work dir
    containers/<ctr>/merged   the mount point: the rootfs
"""

from __future__ import annotations

import os
from types import ModuleType
from typing import Any, BinaryIO

from pypod_core.errors import (
    GraphDriverError,
    GraphDriverNotSupportedError,
    InvalidArgError,
    NoSuchLayerError,
    NoSuchRootfsError,
)
from pypod_storage_overlay.store import LayerStore, backing_fs, copy_root_attributes, read_json

#: string.ascii_uppercase + string.digits (the string module compiles a regex on import).
_LINK_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


def _mounts() -> ModuleType:
    """:mod:`pypod_core.host.mounts`, imported on first use: its ctypes would cost every
    command that only lists or inspects images."""
    from pypod_core.host import mounts  # lazy: only mounts and checks (~1-2.5 ms, ctypes)

    return mounts

_LINK_LENGTH = 26
#: How many mounts stacked on one merged dir umount takes away before giving up.
_MAX_STACKED = 16


class OverlayDriver(LayerStore):
    """Layers as overlayfs lowerdirs; rootfs as overlay mounts (root only for now)."""

    name = "overlay"
    whiteouts = "overlay"

    def __init__(self, home: str):
        super().__init__(home)
        self.links_dir = os.path.join(home, "l")
        self.empty_dir = os.path.join(home, "empty")
        os.makedirs(self.links_dir, 0o700, exist_ok=True)
        os.makedirs(self.empty_dir, 0o755, exist_ok=True)

    def check(self) -> None:
        """GraphDriverNotSupportedError if overlayfs does not mount under the home (a real
        mount of an empty layer, done once per kernel: the answer is kept in the home)."""
        marker = os.path.join(self.home, "mount-checked")
        kernel = os.uname().release
        try:
            with open(marker, encoding="utf-8") as f:
                if f.read() == kernel:
                    return
        except OSError:
            pass
        why = _mounts().overlay_supported(self.home)
        if why:
            raise GraphDriverNotSupportedError(
                f"the overlay graph driver cannot mount under {self.home}: {why} "
                f'(graph_driver = "vfs" copies layers instead)')
        with open(marker, "w", encoding="utf-8") as f:
            f.write(kernel)

    # -- layers ------------------------------------------------------------------------

    def _layer_extra(self, tmp: str) -> dict[str, Any]:
        import secrets  # lazy: only applying a layer (~3 ms: hmac, random, base64)

        return {"link": "".join(secrets.choice(_LINK_ALPHABET) for _ in range(_LINK_LENGTH))}

    def _layer_added(self, record: dict[str, Any]) -> None:
        self._ensure_link(record)

    def _ensure_link(self, record: dict[str, Any]) -> str:
        """The layer's short link, relative to the home (made if a crash lost it)."""
        link = os.path.join(self.links_dir, record["link"])
        if not os.path.lexists(link):
            os.symlink(os.path.join("..", "layers", self._dir_of(record), "diff"), link)
        return os.path.join("l", record["link"])

    def _layer_removed(self, record: dict[str, Any]) -> None:
        try:
            os.unlink(os.path.join(self.links_dir, record["link"]))
        except FileNotFoundError:
            pass

    def _dir_of(self, record: dict[str, Any]) -> str:
        return os.path.basename(self.layer_dir(record["id"]))

    # -- containers ------------------------------------------------------------------

    def _make_rootfs(self, directory: str, stack: list[str]) -> dict[str, Any]:
        for part in ("diff", "work", "merged"):
            os.mkdir(os.path.join(directory, part), 0o755)
        if stack:  # the upper dir's root is the merged "/": the image's owner and mode
            copy_root_attributes(os.path.join(self.layers_dir, stack[0], "diff"),
                                 os.path.join(directory, "diff"))
        return {}

    def _lowers(self, record: dict[str, Any]) -> tuple[list[str], list[str]]:
        """The container's lowerdirs, uppermost first: absolute diff paths, and the
        same as short links relative to the home (for mount(2))."""
        if not record["layers"]:
            return [self.empty_dir], ["empty"]
        absolute = [os.path.join(self.layers_dir, d, "diff") for d in record["layers"]]
        short = []
        if not _mounts().new_mount_api():  # only mount(2) needs the links
            for layer_dir in record["layers"]:
                info = read_json(os.path.join(self.layers_dir, layer_dir, "info.json"))
                short.append(self._ensure_link(info))
        return absolute, short

    def _mount(self, ctr_id: str, directory: str, record: dict[str, Any]) -> str:
        merged = os.path.join(directory, "merged")
        if _mounts().is_mount_point(merged):
            return merged
        absolute, short = self._lowers(record)
        try:
            _mounts().mount_overlay(merged, absolute, os.path.join(directory, "diff"),
                                 os.path.join(directory, "work"), relative_to=self.home,
                                 short_lowers=short)
        except OSError as exc:
            raise GraphDriverError(f"container {ctr_id}: {exc}") from None
        return merged

    def _mount_view(self, target: str, record: dict[str, Any]) -> None:
        """A read-only overlay of the layer and its parents (no upper dir; overlayfs
        then wants two lowerdirs, so a single layer stands on the empty one)."""
        absolute, short = self._lowers({"layers": [self._dir_of(record),
                                                   *record.get("lower", [])]})
        if len(absolute) == 1:
            absolute.append(self.empty_dir)
            short.extend(["empty"] if short else [])
        _mounts().mount_overlay(target, absolute, "", "", relative_to=self.home,
                                short_lowers=short)

    def _umount(self, ctr_id: str, directory: str) -> None:
        merged = os.path.join(directory, "merged")
        for _ in range(_MAX_STACKED):  # a mount stacked over ours: take every one away
            if not _mounts().is_mount_point(merged):
                return
            try:
                _mounts().umount(merged)
            except OSError as exc:
                raise GraphDriverError(f"container {ctr_id}: {exc}") from None
        raise GraphDriverError(f"container {ctr_id}: {merged} is still mounted")

    def _write_diff(self, directory: str, record: dict[str, Any], out: BinaryIO) -> None:
        """The upper dir is the diff: the kernel's whiteouts become OCI ones."""
        from pypod_core.host.layer_diff import write_overlay_upper  # lazy: only commit

        write_overlay_upper(os.path.join(directory, "diff"), out)

    def rw_size(self, ctr_id: str) -> int:
        """The upper dir's files (``du``'s apparent size), without writing a tar."""
        from pypod_core.host.layer_diff import tree_size  # lazy: only system df

        return tree_size(os.path.join(self.container_dir(ctr_id), "diff"))

    def is_mounted(self, ctr_id: str) -> bool:
        return _mounts().is_mount_point(os.path.join(self.container_dir(ctr_id), "merged"))

    def rootfs_data(self, ctr_id: str) -> dict[str, str]:
        """podman's ``GraphDriver.Data``: the lowerdirs uppermost first, the upper and
        work dirs, and the merged dir while it is mounted."""
        directory = self.container_dir(ctr_id)
        try:
            record = self._rootfs_record(ctr_id)
        except NoSuchRootfsError:
            return {}
        data = {"LowerDir": ":".join(self._lowers(record)[0]),
                "UpperDir": os.path.join(directory, "diff"),
                "WorkDir": os.path.join(directory, "work")}
        if self.is_mounted(ctr_id):
            data["MergedDir"] = os.path.join(directory, "merged")
        return dict(sorted(data.items()))

    # -- info ----------------------------------------------------------------------------

    def metadata(self, layer_id: str) -> dict[str, str]:
        """``UpperDir``: the layer's files; ``LowerDir``: its parents', uppermost first
        (podman's overlay keys for an image; its layers have no ``WorkDir`` here)."""
        try:
            data = {"UpperDir": os.path.join(self.layer_dir(layer_id), "diff")}
            lowers, parent = [], self.layer(layer_id).parent
            while parent is not None:
                lowers.append(os.path.join(self.layer_dir(parent), "diff"))
                parent = self.layer(parent).parent
        except (NoSuchLayerError, InvalidArgError):
            return {}
        if lowers:
            data["LowerDir"] = ":".join(lowers)
        return data

    def status(self) -> dict[str, str]:
        api = ("mount(2) where the options fit a page, else fsconfig lowerdir+ (up to 500 "
               "layers)" if _mounts().new_mount_api() else "mount(2) (up to about 130 layers)")
        return {
            "Backing Filesystem": backing_fs(self.home),
            "Native Overlay Diff": "true",
            "Supports d_type": "true",
            "Using metacopy": "false",
            "Mount API": api,
            "Layers": str(sum(1 for _ in self.layers())),
        }
