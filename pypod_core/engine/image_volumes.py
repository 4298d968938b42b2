"""``--mount type=image``: an image's files inside a container (libpod's image volumes).

At each start (:func:`mount_all`) every image the container names is looked up by the
name it was given, as podman does (one that is missing fails the start; it is not
pulled), and mounted read-only on the host with the counts of ``image mount``
(:mod:`pypod_core.engine.image_mount`): ``image umount`` sees a container's use as one
more mount, and the last user takes the view away.  The OCI spec then gets

- a read-only bind of that view (an overlay of the image's layers; a bind of its
  directory with vfs), or
- with ``rw=true``, an overlay whose lower is the view and whose upper and work dirs are
  the container's own (``image-volumes/N`` in its bundle dir): made empty at each start
  and deleted when it stops, as podman's are, so the image never changes.

What a start mounted (the layers) is written to ``image-volumes.json`` in the run dir,
so that the clean-up (:func:`unmount_all`) lets go of exactly those, and once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from typing import TYPE_CHECKING, Any

from pypod_core.engine import image_mount
from pypod_core.errors import NoSuchImageError, PypodError

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.engine.runtime import Runtime
    from pypod_core.model import Image


def _record(ctr: Container) -> str:
    return os.path.join(ctr.run_dir, "image-volumes.json")


def _scratch(ctr: Container) -> str:
    return os.path.join(ctr.bundle_dir, "image-volumes")


def _lookup(runtime: Runtime, source: str, destination: str) -> Image:
    try:
        return runtime.get_image(source)
    except NoSuchImageError as exc:
        raise NoSuchImageError(f'creating image volume "{source}":"{destination}": '
                               f"{exc}") from None


def mount_all(ctr: Container) -> list[dict[str, Any]]:
    """Mount each image the container names and return the OCI spec's mounts of them;
    on failure, what was mounted is let go again."""
    if not ctr.config.image_volumes:
        return []
    layers: list[str] = []
    spec = []
    shutil.rmtree(_scratch(ctr), ignore_errors=True)  # a run cut short left its writes
    try:
        for index, iv in enumerate(ctr.config.image_volumes):
            image = _lookup(ctr.runtime, iv.source, iv.destination)
            view = image_mount.mount(ctr.runtime, image)
            layers.append(str(image.top_layer))
            _write_record(ctr, layers)
            spec.append(_overlay(ctr, index, view, iv.destination) if iv.read_write else
                        {"destination": iv.destination, "type": "bind", "source": view,
                         "options": ["rbind", "ro", "rprivate"]})
    except BaseException:
        unmount_all(ctr)
        raise
    return spec


def _write_record(ctr: Container, layers: list[str]) -> None:
    tmp = _record(ctr) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(layers, f)
    os.replace(tmp, _record(ctr))


def _overlay(ctr: Container, index: int, view: str, destination: str) -> dict[str, Any]:
    """``rw=true``: the view as the lower of an overlay the OCI runtime mounts, with an
    upper and a work dir of the container's own."""
    base = os.path.join(_scratch(ctr), str(index))
    upper, work = os.path.join(base, "upper"), os.path.join(base, "work")
    os.makedirs(upper, 0o755)
    os.makedirs(work, 0o700)
    return {"destination": destination, "type": "overlay", "source": "overlay",
            "options": [f"lowerdir={view}", f"upperdir={upper}", f"workdir={work}",
                        "private"]}


def unmount_all(ctr: Container) -> None:
    """Let go of the images the last start mounted (after the container stopped) and
    delete its writes; nothing if it mounted none."""
    try:
        with open(_record(ctr), encoding="utf-8") as f:
            layers: list[str] = json.load(f)
    except (FileNotFoundError, ValueError):
        layers = []
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_record(ctr))  # first: a second clean-up lets go of nothing
    for layer in layers:
        try:
            image_mount.release_layer(ctr.runtime, layer)
        except PypodError as exc:
            import logging  # lazy: only a failure (~3.5 ms)

            logging.getLogger("pypod.volumes").warning(
                "container %s: image mount of layer %s: %s", ctr.name, layer, exc)
    shutil.rmtree(_scratch(ctr), ignore_errors=True)


def users(runtime: Runtime, image: Image) -> list[str]:
    """The ids of the containers that mount ``image`` (their image mounts' names find
    it now): ``rmi`` treats them as the image's users."""
    result = []
    for record in runtime.state.all_containers():
        for iv in record.config.image_volumes:
            try:
                found = runtime.get_image(iv.source).id
            except PypodError:
                continue
            if found == image.id:
                result.append(record.config.id)
                break
    return result
