"""Declares the ``overlay`` and ``vfs`` graph drivers, each under ``graph_root/<name>``."""

from __future__ import annotations

import os

from pypod_core.plugin import GraphDriverBackend, hookimpl


def _make_overlay(runtime):
    # lazy: only when the backend is built (~4.5 ms)
    from pypod_storage_overlay.overlay import OverlayDriver

    return OverlayDriver(os.path.join(runtime.config.graph_root, "overlay"))


def _make_vfs(runtime):
    # lazy: only when the backend is built (~6.5 ms)
    from pypod_storage_overlay.vfs import VfsDriver

    return VfsDriver(os.path.join(runtime.config.graph_root, "vfs"))


@hookimpl
def pypod_graph_drivers():
    """``overlay`` (layers once, rootfs as overlay mounts) and ``vfs`` (full copies)."""
    yield GraphDriverBackend(name="overlay", factory=_make_overlay,
                             description="layers extracted once, rootfs as overlay mounts")
    yield GraphDriverBackend(name="vfs", factory=_make_vfs,
                             description="a full copy per layer and per container")
