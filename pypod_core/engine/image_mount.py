"""``image mount``: an image's files, read-only, at a path on the host, counted.

The graph driver mounts a read-only view of the image's top layer over its parents
(:meth:`~pypod_core.plugin.graph_driver.GraphDriver.mount_layer`); this module keeps how
many times each layer was mounted, so that the last ``image unmount`` takes the view away
and every earlier one only counts down (``--force``: at once), as containers/storage's
mount counts.  Two images with one top layer share one view, and both show as mounted.

The counts live in ``run_root/image-mounts.json`` ({layer id: count}), changed under
``run_root/image-mounts.lock``: pypod is daemonless, so every process sees one count.
``run_root`` is per boot where it is a tmpfs (as a reboot takes the mounts away); where
it is not, a count whose view is not mounted any more counts as 0.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pypod_core.errors import InvalidArgError
from pypod_core.host.locks import FileLock

if TYPE_CHECKING:
    from pypod_core.engine.runtime import Runtime
    from pypod_core.model import Image


def _paths(runtime: Runtime) -> tuple[str, str]:
    base = os.path.join(runtime.config.run_root, "image-mounts")
    return base + ".json", base + ".lock"


@contextmanager
def _counts(runtime: Runtime) -> Iterator[dict[str, int]]:
    """The mount counts, locked; written back (whole) when the block ends well."""
    path, lock = _paths(runtime)
    os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
    with FileLock(lock):
        try:
            with open(path, encoding="utf-8") as f:
                counts: dict[str, int] = json.load(f)
        except (FileNotFoundError, ValueError):
            counts = {}
        yield counts
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({k: v for k, v in counts.items() if v > 0}, f)
        os.replace(tmp, path)


def _layer(image: Image) -> str:
    if image.top_layer is None:
        raise InvalidArgError(f"image {image.id[:12]} has no layers to mount")
    return image.top_layer


def mount(runtime: Runtime, image: Image) -> str:
    """Mount ``image`` (once more) and return where its files are (containers'
    ``--mount type=image`` count here too: :mod:`pypod_core.engine.image_volumes`)."""
    layer = _layer(image)
    driver = runtime.graph_driver
    with _counts(runtime) as counts:
        if not driver.layer_mount_point(layer):
            counts[layer] = 0  # a count the mount outlived (a reboot) starts again
        path = driver.mount_layer(layer)
        counts[layer] = counts.get(layer, 0) + 1
    return os.path.realpath(path)


def unmount(runtime: Runtime, image: Image, force: bool = False) -> bool:
    """Count one mount of ``image`` off (``force``: all of them), taking the view away
    after the last; whether it was mounted (podman prints only those)."""
    if image.top_layer is None:
        return False
    return release_layer(runtime, image.top_layer, force)


def release_layer(runtime: Runtime, layer: str, force: bool = False) -> bool:
    """:func:`unmount` by the image's top layer (a container's image mount lets go of
    the layer it mounted, whatever became of the image's names since)."""
    driver = runtime.graph_driver
    with _counts(runtime) as counts:
        if not driver.layer_mount_point(layer):
            counts.pop(layer, None)
            return False
        counts[layer] = 0 if force else max(counts.get(layer, 1) - 1, 0)
        if counts[layer] == 0:
            driver.umount_layer(layer)
    return True


def mount_point(runtime: Runtime, image: Image) -> str:
    """Where ``image`` is mounted now; "" if it is not."""
    if image.top_layer is None:
        return ""
    path = runtime.graph_driver.layer_mount_point(image.top_layer)
    return os.path.realpath(path) if path else ""
