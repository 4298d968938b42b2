"""The GraphDriver interface: how image layers are stored and a container's root
filesystem is made from them (containers/storage's drivers; the config key
``graph_driver``, podman's ``driver`` in storage.conf).

A layer is the result of applying one uncompressed tar stream (an image's layer, its
diff) on top of its parent layer.  Layers are keyed by **chain id** (:func:`chain_id`):
the first layer's id is its diff id, each next one hashes its parent's chain id with its
own diff id, so one id always names one stack of files and two images sharing a base
share its layers.  The caller (the image store) computes chain ids and keeps the
reference counts; the driver stores and mounts.

A container's rootfs is the container's own writable layer over an image's top layer:

    create_rootfs(ctr, top)  ->  mount(ctr) -> merged path  ->  umount(ctr)
                                 (start)                        (stop / cleanup)
    diff(ctr) -> the container's changes as a layer tar (commit; optional)
    mount_layer(layer) -> a read-only view of a layer  (image mount; optional)
    write_diff(ctr, file) -> the same tar written onto a file (commit; optional)
    remove_rootfs(ctr)  (rm: unmounts first)

What every implementation must do (the kit, :class:`pypod_core.testing.GraphDriverTests`,
checks it):

- apply a layer with whiteouts, opaque directories, hardlinks, symlinks (relative and
  absolute), devices, setuid bits and numeric owners kept; never write outside the
  layer, whatever the tar says (use :func:`pypod_core.host.layers.extract_layer`);
- be safe across processes: two applying the same layer end with one copy; a crash or
  kill mid-extraction leaves no layer (extract into a temporary directory, rename it
  into place under a lock per layer; leftovers are removed by a later apply);
- keep containers apart: writes go to the container's own layer, never to a layer;
- leave no mount behind after ``umount`` or ``remove_rootfs``.

What it must not do: decompress (the caller hands over a plain tar stream), fetch
anything, or know about images, names or reference counts.
"""

from __future__ import annotations

import functools
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import BinaryIO

import attrs

from pypod_core.errors import DiffUnsupportedError, InvalidArgError, NotImplementedByBackendError

#: What a layer or container id may look like: a chain id (``sha256:<hex>``), a hex id,
#: or any name of letters, digits and ``_.-`` (with one ``algorithm:`` prefix).
_ID = r"^(?:[a-z0-9]+:)?[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"


@functools.cache
def _id_pattern() -> re.Pattern[str]:
    return re.compile(_ID)  # on first use: ``images`` checks no id


def chain_id(parent_chain: str | None, diff_id: str) -> str:
    """The chain id of a layer whose diff id is ``diff_id`` over the layer whose chain id
    is ``parent_chain`` (None for the first layer), as the OCI image spec defines it:
    ``ChainID(L0) = DiffID(L0)``, ``ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))``.
    """
    import hashlib  # lazy: only chain ids (~2 ms, OpenSSL's start-up)

    check_id("diff id", diff_id)
    if parent_chain is None:
        return diff_id
    check_id("chain id", parent_chain)
    return "sha256:" + hashlib.sha256(f"{parent_chain} {diff_id}".encode()).hexdigest()


def check_id(what: str, value: str) -> str:
    """``value`` if it is a valid layer or container id; InvalidArgError naming ``what``."""
    if not isinstance(value, str) or not _id_pattern().match(value):
        raise InvalidArgError(f"invalid {what} {value!r}: expected letters, digits and _.- "
                              f"with an optional 'algorithm:' prefix")
    return value


def id_to_dir(value: str) -> str:
    """The directory name a driver keeps the layer or container ``value`` under (a ``:``
    becomes ``-``, so that overlay's ``:``-separated lowerdir lists stay parsable)."""
    return value.replace(":", "-")


@attrs.frozen
class LayerInfo:
    """One stored layer: its (chain) id, its parent's, and the size of its uncompressed
    tar stream in bytes (podman's ``diff-size``)."""

    id: str
    parent: str | None
    diff_size: int


class GraphDriver(ABC):
    """Stores layers and makes containers' root filesystems from them."""

    #: The driver's name, as ``graph_driver`` selects it (``overlay``, ``vfs``, ``dir``).
    name: str
    #: The directory the driver keeps everything under (``graph_root/<name>``).
    home: str

    # -- layers ------------------------------------------------------------------------

    @abstractmethod
    def apply_layer(self, layer_id: str, parent: str | None, stream: BinaryIO) -> LayerInfo:
        """Store the layer ``layer_id``: ``parent``'s files (None: nothing) changed by the
        uncompressed tar ``stream`` (read to its end; it may be a pipe).

        If the layer exists already (another process applied it first), the stream is
        not read and the stored layer's info is returned.  NoSuchLayerError if
        ``parent`` is not stored; InvalidLayerError if the tar is broken or hostile (no
        layer is left); InvalidArgError for a malformed id."""

    @abstractmethod
    def has_layer(self, layer_id: str) -> bool:
        """Whether the layer ``layer_id`` is stored (completely)."""

    @abstractmethod
    def layer(self, layer_id: str) -> LayerInfo:
        """The stored layer ``layer_id``; NoSuchLayerError if there is none."""

    @abstractmethod
    def layers(self) -> Iterator[LayerInfo]:
        """Every stored layer, in no particular order."""

    @abstractmethod
    def remove_layer(self, layer_id: str) -> None:
        """Delete the layer ``layer_id``.  NoSuchLayerError if there is none;
        LayerInUseError if another layer has it as parent or a container's rootfs
        stands on it."""

    def mount_layer(self, layer_id: str) -> str:
        """A read-only view of the layer ``layer_id`` over its parents (``image
        mount``), at a path of the driver's own, one per layer; mounting a mounted layer
        returns the same path.  The caller keeps the reference count and calls
        :meth:`umount_layer` after the last user; :meth:`remove_layer` takes a view away
        first.  NoSuchLayerError if it is not stored; GraphDriverError if the mount
        fails.  The default: NotImplementedByBackendError, naming the driver."""
        raise NotImplementedByBackendError(
            f"the {self.name} graph driver cannot mount a layer (image mount)")

    def umount_layer(self, layer_id: str) -> None:
        """Take the layer's read-only view away; not mounted is fine.  The default:
        nothing (a driver without :meth:`mount_layer` has no views)."""
        return None

    def layer_mount_point(self, layer_id: str) -> str:
        """Where the layer's read-only view is mounted now; "" if it is not.  The
        default: "" (no views)."""
        return ""

    # -- containers' root filesystems ----------------------------------------------------

    @abstractmethod
    def create_rootfs(self, ctr_id: str, top_layer: str | None) -> None:
        """Make the container's own writable layer over ``top_layer`` (None: an empty
        rootfs).  Nothing is mounted yet.  RootfsExistsError if the container has one;
        NoSuchLayerError if ``top_layer`` is not stored."""

    @abstractmethod
    def mount(self, ctr_id: str) -> str:
        """Make the container's rootfs usable and return its path (the OCI ``root.path``).
        Mounting a mounted rootfs returns the same path.  NoSuchRootfsError if
        create_rootfs was not called; GraphDriverError if the mount fails."""

    @abstractmethod
    def umount(self, ctr_id: str) -> None:
        """Unmount the container's rootfs (its files stay).  Not mounted is fine;
        NoSuchRootfsError if there is no rootfs."""

    @abstractmethod
    def is_mounted(self, ctr_id: str) -> bool:
        """Whether the container's rootfs is mounted (False if it has none)."""

    @abstractmethod
    def remove_rootfs(self, ctr_id: str) -> None:
        """Unmount and delete the container's rootfs with its writable layer.  No rootfs
        is fine (removing twice is not an error)."""

    @abstractmethod
    def rootfs_ids(self) -> Iterator[str]:
        """The ids of the containers that have a rootfs."""

    def diff(self, ctr_id: str) -> BinaryIO:
        """The container's changes over the layer its rootfs stands on, as an
        uncompressed OCI layer tar stream (``commit``): new and changed files, and a
        ``.wh.NAME`` entry for each file removed (``DIR/.wh..wh..opq`` for a directory
        whose lower contents are hidden).  For a driver without layers (``dir``), the
        whole rootfs.  The caller reads the stream to its end and closes it; the
        container may be running (it is paused by the caller if it wants a still
        picture).  NoSuchRootfsError if the container has no rootfs.  The default:
        DiffUnsupportedError, naming the driver."""
        raise DiffUnsupportedError(f"the {self.name} graph driver cannot write a "
                                   f"container's changes as a layer (commit)")

    def write_diff(self, ctr_id: str, out: BinaryIO) -> None:
        """:meth:`diff`'s tar written onto ``out`` (a file open for writing) instead of
        returned: ``commit`` hands over the image store's new blob file, so a driver
        that makes the tar itself writes the container's changes once (the bundled
        drivers do; file contents go by sendfile(2) where ``out`` has a descriptor).
        Errors as :meth:`diff`'s.  The default copies :meth:`diff`'s stream."""
        import shutil  # lazy: only commit (~1 ms)

        with self.diff(ctr_id) as stream:
            shutil.copyfileobj(stream, out, 1 << 20)

    def rw_size(self, ctr_id: str) -> int:
        """The size in bytes of what the container wrote (podman's ``RWSize``, for
        ``system df``).  The default: the length of :meth:`diff`'s stream (0 where the
        driver has no diff); a driver with the changes in a directory of their own
        counts that directory instead."""
        try:
            stream = self.diff(ctr_id)
        except DiffUnsupportedError:
            return 0
        with stream:
            size = 0
            while chunk := stream.read(1 << 20):
                size += len(chunk)
        return size

    def rootfs_data(self, ctr_id: str) -> dict[str, str]:
        """What ``inspect`` shows of the container's rootfs under ``GraphDriver.Data``,
        podman's keys where they apply (overlay: ``LowerDir``, ``UpperDir``,
        ``WorkDir``, and ``MergedDir`` while mounted).  The default: nothing."""
        return {}

    # -- info ----------------------------------------------------------------------------

    def check(self) -> None:
        """GraphDriverNotSupportedError if the driver cannot work on this host (overlay
        where overlayfs does not mount): the engine then falls back to ``vfs`` unless the
        user chose this driver.  The default: it always works."""
        return None

    @abstractmethod
    def status(self) -> dict[str, str]:
        """What ``info`` shows under ``store.graphStatus``, podman's keys where they
        apply (``Backing Filesystem``, ``Supports d_type``, ``Native Overlay Diff``...)."""

    def metadata(self, layer_id: str) -> dict[str, str]:
        """What ``image inspect`` shows under ``GraphDriver.Data`` for an image whose top
        layer is ``layer_id``, podman's keys where they apply (overlay's ``UpperDir`` and
        ``LowerDir``).  The default: nothing; a layer the driver lost shows nothing too."""
        return {}
