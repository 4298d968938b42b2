"""What images hold and use: ``history`` (an image's history entries matched to its
layers, podman 4.3.1's rule), ``image prune`` (which images go) and ``system df`` (sizes
and what is reclaimable), read from the image store, the state and the volumes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from pypod_core.engine.runtime import Runtime
    from pypod_core.model import Image


@attrs.frozen
class HistoryRow:
    """One row of ``history``, newest first: the id of the image whose top layer this
    step made (``<missing>`` if none or already shown), when, how, the layer's size
    (0 for a step without one), the comment."""

    id: str
    created: str
    created_by: str
    size: int
    comment: str


def history(runtime: Runtime, image: Image) -> list[HistoryRow]:
    """The image's history, newest first, as podman's ``libimage`` builds it: each entry
    that made a layer takes the next layer down (its size); a row's id is that of an
    image whose top layer it is, each id once."""
    entries = list(image.config.get("history") or [])
    tops: dict[str, str] = {}
    for other in sorted(runtime.image_store.images(), key=lambda i: i.added):
        if other.top_layer is not None:
            tops.setdefault(other.top_layer, other.id)
    tops[image.top_layer or ""] = image.id  # this image's own top layer is its row
    layers = list(reversed(image.layers))
    used: set[str] = set()
    rows = []
    for i, entry in enumerate(reversed(entries)):
        layer = layers[0] if layers else None
        empty = bool(entry.get("empty_layer"))
        row_id = "<missing>"
        if layer is not None:
            candidate = tops.get(layer.chain_id, "")
            if i == 0:
                candidate = image.id
            if candidate and candidate not in used:
                row_id = candidate
                used.add(candidate)
        elif i == 0:
            row_id = image.id
        rows.append(HistoryRow(row_id, entry.get("created", ""), entry.get("created_by", ""),
                               0 if empty or layer is None else layer.diff_size,
                               entry.get("comment", "")))
        if layer is not None and not empty:
            layers.pop(0)
    return rows


def prunable(runtime: Runtime, every_unused: bool,
             select: Callable[[Image], bool] | None) -> list[Image]:
    """The images ``image prune`` removes: those without names (``every_unused``: also
    those no container uses), that ``select`` accepts."""
    used = {r.config.image_id for r in runtime.state.all_containers()}
    return [image for image in runtime.image_store.images()
            if image.id not in used and (every_unused or not image.names)
            and (select is None or select(image))]


def tree_size(path: str) -> int:
    """The bytes of the files and symlinks under ``path`` (apparent sizes, a file with
    several hardlinks once; 0 if it does not exist)."""
    from pypod_core.host.layer_diff import tree_size as size  # lazy: only system df (~0.4 ms)

    return size(path)


@attrs.frozen
class ImageUsage:
    """An image's part of ``system df``: its size, the part other images share (their
    common layers), the rest, and how many containers use it."""

    image: Image
    size: int
    shared_size: int
    unique_size: int
    containers: int


@attrs.frozen
class ContainerUsage:
    """A container's part of ``system df``: its writable layer's size (``RWSize``) and
    how many named volumes it mounts."""

    id: str
    image_id: str
    command: tuple[str, ...]
    local_volumes: int
    rw_size: int
    created: float
    status: str
    name: str


@attrs.frozen
class VolumeUsage:
    """A volume's part of ``system df``: how many containers use it, its size, and the
    part reclaimable (all of it when no container uses it)."""

    name: str
    links: int
    size: int
    reclaimable: int


@attrs.frozen
class DiskUsage:
    """``system df``: images, containers and local volumes."""

    images: tuple[ImageUsage, ...]
    containers: tuple[ContainerUsage, ...]
    volumes: tuple[VolumeUsage, ...]


def disk_usage(runtime: Runtime) -> DiskUsage:
    """``runtime.disk_usage()``: what podman's ``system df`` counts."""
    return DiskUsage(tuple(_images(runtime)), tuple(_containers(runtime)),
                     tuple(_volumes(runtime)))


def _images(runtime: Runtime) -> list[ImageUsage]:
    # lazy: only system df and history (image_inspect ~3.7 ms)
    from pypod_core.engine.image_inspect import podman_size

    images = runtime.image_store.images()
    users: dict[str, int] = {}
    for record in runtime.state.all_containers():
        users[record.config.image_id] = users.get(record.config.image_id, 0) + 1
    holders: dict[str, int] = {}
    for image in images:
        for layer in image.layers:
            holders[layer.chain_id] = holders.get(layer.chain_id, 0) + 1
    result = []
    for image in images:
        size = podman_size(runtime.image_store, image)
        shared = sum(x.diff_size for x in image.layers if holders[x.chain_id] > 1)
        result.append(ImageUsage(image, size, shared, size - shared, users.get(image.id, 0)))
    return result


def _containers(runtime: Runtime) -> list[ContainerUsage]:
    from pypod_core.engine.rootfs import driver_named  # lazy: only system df (~0.3 ms)

    result = []
    for ctr in runtime.containers():
        cfg = ctr.config
        size = 0
        if cfg.graph_driver and cfg.graph_driver != "dir":
            size = driver_named(runtime, cfg.graph_driver).rw_size(ctr.id)
        result.append(ContainerUsage(
            cfg.id, cfg.image_id, cfg.command[len(cfg.entrypoint):] or cfg.command,
            len(cfg.named_volumes), size, cfg.created, str(ctr.state.state), cfg.name))
    return result


def _volumes(runtime: Runtime) -> list[VolumeUsage]:
    result = []
    for volume in runtime.volumes():
        links = len(runtime.volume_users(volume.name))
        size = tree_size(volume.mount_point) if volume.mount_point else 0
        result.append(VolumeUsage(volume.name, links, size, 0 if links else size))
    return result
