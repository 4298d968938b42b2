"""Mounting on the host, as podman's ``mount``/``umount`` and ``image mount``/``image
unmount``: a mixin of :class:`pypod_core.engine.runtime.Runtime`.

A container's rootfs is mounted by :meth:`~pypod_core.engine.container.Container.mount`
(counted in its state); an image's files, read-only, by :mod:`pypod_core.engine.image_mount`
(counted per layer under ``run_root``).  Both counts live outside this process: a mount
made by one ``pypod`` is seen, listed and unmounted by the next.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from pypod_core.engine.runtime_half import RuntimeHalf

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.model import Image


@attrs.frozen
class MountedContainer:
    """A container whose rootfs is mounted, and where."""

    container: Container
    path: str


@attrs.frozen
class MountedImage:
    """A mounted image, and where its files are."""

    image: Image
    path: str


class MountOps(RuntimeHalf):
    """The mount part of :class:`pypod_core.engine.runtime.Runtime` (a mixin)."""

    def mount_container(self, ctr: Container | str) -> str:
        """Mount the container's rootfs (once more) and return its path, as ``podman
        mount``; it stays mounted until as many :meth:`unmount_container` calls."""
        self.check_valid()
        if isinstance(ctr, str):
            ctr = self._runtime.lookup_container(ctr)
        return ctr.mount()

    def unmount_container(self, ctr: Container | str, force: bool = False) -> None:
        """Drop one :meth:`mount_container` (``force``: all of them), as ``podman
        umount``; a running container's rootfs stays mounted for its run."""
        self.check_valid()
        if isinstance(ctr, str):
            ctr = self._runtime.lookup_container(ctr)
        ctr.unmount(force)

    def mounted_containers(self) -> list[MountedContainer]:
        """The containers whose rootfs is mounted now (by ``mount`` or by their run),
        oldest first; a ``--rootfs`` directory used in place counts while it runs."""
        self.check_valid()
        found = []
        for ctr in self._runtime.containers():
            path = ctr.state.mount_point
            if path:
                found.append(MountedContainer(ctr, path))
        return found

    def mount_image(self, ref: str) -> str:
        """Mount the image ``ref`` names, read-only (once more), and return where its
        files are, as ``podman image mount``."""
        from pypod_core.engine import image_mount  # lazy: only image mount (~1 ms)

        self.check_valid()
        return image_mount.mount(self._runtime, self._runtime.get_image(ref))

    def unmount_image(self, ref: str, force: bool = False) -> bool:
        """Drop one :meth:`mount_image` of the image ``ref`` (``force``: all of them),
        the view going after the last; whether it was mounted."""
        from pypod_core.engine import image_mount  # lazy: only image unmount (~1 ms)

        self.check_valid()
        return image_mount.unmount(self._runtime, self._runtime.get_image(ref), force)

    def mounted_images(self) -> list[MountedImage]:
        """The images mounted now, newest first (two with one top layer both are)."""
        from pypod_core.engine import image_mount  # lazy: only image mount (~1 ms)

        self.check_valid()
        found = []
        for image in self._runtime.images():
            path = image_mount.mount_point(self._runtime, image)
            if path:
                found.append(MountedImage(image, path))
        return found
