"""Mounting on the host, as podman's ``mount``/``umount`` and ``image mount``/``image
unmount``: a mixin of :class:`pypod_core.engine.runtime.Runtime`.

A container's rootfs is mounted by :meth:`~pypod_core.engine.container.Container.mount`
(counted in its state); an image's files, read-only, by :mod:`pypod_core.engine.image_mount`
(counted per layer under ``run_root``).  Both counts live outside this process: a mount
made by one ``pypod`` is seen, listed and unmounted by the next.  Each mount and unmount
is a ``mount``/``unmount`` event of the container or image, as podman logs them.
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
        path = ctr.mount()
        self._log_container(ctr, "mount")
        return path

    def unmount_container(self, ctr: Container | str, force: bool = False) -> None:
        """Drop one :meth:`mount_container` (``force``: all of them), as ``podman
        umount``; a running container's rootfs stays mounted for its run."""
        self.check_valid()
        if isinstance(ctr, str):
            ctr = self._runtime.lookup_container(ctr)
        ctr.unmount(force)
        self._log_container(ctr, "unmount")

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
        image = self._runtime.get_image(ref)
        path = image_mount.mount(self._runtime, image)
        self._log_image(image, "mount")
        return path

    def unmount_image(self, ref: str, force: bool = False) -> bool:
        """Drop one :meth:`mount_image` of the image ``ref`` (``force``: all of them),
        the view going after the last; whether it was mounted."""
        from pypod_core.engine import image_mount  # lazy: only image unmount (~1 ms)

        self.check_valid()
        image = self._runtime.get_image(ref)
        was_mounted = image_mount.unmount(self._runtime, image, force)
        if was_mounted:  # as podman's, which passes over an image not mounted
            self._log_image(image, "unmount")
        return was_mounted

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

    def _log_container(self, ctr: Container, status: str) -> None:
        # lazy: only mount and unmount (~1.8 ms)
        from pypod_core.engine.events import container_event, write_event

        write_event(self.config, container_event(ctr.config, status))

    def _log_image(self, image: Image, status: str) -> None:
        """podman's image mount events carry the id and no name."""
        # lazy: only image mount and unmount (~1.8 ms)
        from pypod_core.engine.events import image_event, write_event

        write_event(self.config, image_event(image.id, status))
