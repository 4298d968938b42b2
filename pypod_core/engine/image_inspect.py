"""``pypod image inspect`` and ``pypod images``: an image as podman 4.3.1 shows it.

Scripts written for podman read these documents: the keys, their order, nesting and
value types follow podman's (``null`` where podman prints ``null``).  Names: the store
keeps an image's names newest first; podman lists ``RepoTags`` and ``Names`` oldest
first (a tag is appended) and ``NamesHistory`` newest first.
"""

from __future__ import annotations

import datetime
import json
import os
from typing import TYPE_CHECKING, Any

from pypod_core.host.reference import parse_reference
from pypod_core.model import Image

if TYPE_CHECKING:
    from pypod_core.engine.image_store import ImageStore
    from pypod_core.plugin.graph_driver import GraphDriver


def created_time(image: Image) -> float:
    """When the image was built (its config's ``created``), in seconds since the epoch;
    when the store got it, for an image whose config says nothing (as podman)."""
    if image.created:
        try:
            return datetime.datetime.fromisoformat(image.created).timestamp()
        except ValueError:
            pass
    return image.added


def go_time_string(when: float) -> str:
    """A time as Go's ``Time.String()`` prints it in UTC: ``2026-12-02 16:34:00 +0000
    UTC`` (the ``{{.CreatedAt}}`` of ``images --format``)."""
    moment = datetime.datetime.fromtimestamp(int(when), datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def rfc3339(when: float) -> str:
    """A Unix time in whole seconds as RFC 3339 UTC (``2026-12-02T16:34:00Z``)."""
    return datetime.datetime.fromtimestamp(int(when), datetime.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def repo_tags(image: Image) -> list[str]:
    """The image's names, oldest first (podman's ``RepoTags`` and ``Names``)."""
    return list(reversed(image.names))


def repo_digests(image: Image) -> list[str]:
    """``repository@digest`` for each repository the image is named in and each
    manifest digest it has (podman's ``RepoDigests``)."""
    digests = list(dict.fromkeys(d for d in (image.digest, *image.digests) if d))
    out: dict[str, None] = {}
    for name in repo_tags(image):
        repository = repository_of(name)
        for digest in digests:
            out[f"{repository}@{digest}"] = None
    return list(out)


def repository_of(name: str) -> str:
    """``localhost/one`` of ``localhost/one:latest`` (or of ``NAME@sha256:...``)."""
    return parse_reference(name).name


def tag_of(name: str) -> str:
    """``latest`` of ``localhost/one:latest``; ``<none>`` for a name by digest."""
    return parse_reference(name).tag or "<none>"


def podman_size(store: ImageStore, image: Image) -> int:
    """The image's size as podman counts it: its layers' uncompressed sizes plus the
    manifest (containers/storage keeps it twice) and the config."""
    extra = 0
    for digest, times in ((image.digest, 2), ("sha256:" + image.id, 1)):
        if not digest:
            continue
        try:
            extra += times * os.stat(store.blob_path(digest)).st_size
        except (OSError, ValueError):
            pass  # a blob lost to a crash: its size is not counted
    return image.size + extra


def summary(image: Image, size: int, containers: int) -> dict[str, Any]:
    """One image as ``images --format json`` shows it (podman's keys and order; an
    image without names has ``Dangling`` and no ``Names`` or ``History``, as
    podman's ``omitempty``)."""
    created = created_time(image)
    labels = image.run_config.get("Labels") or None
    entry: dict[str, Any] = {
        "Id": image.id, "ParentId": "",
        "RepoTags": None,  # podman 4.3.1 prints null here, its names are under Names
        "RepoDigests": repo_digests(image), "Size": size, "SharedSize": 0,
        "VirtualSize": size, "Labels": labels, "Containers": containers,
    }
    if not image.names:
        entry["Dangling"] = True
    else:
        entry["Names"] = repo_tags(image)
    entry["Digest"] = image.digest
    if image.names:
        entry["History"] = list(image.names)
    entry["Created"] = int(created)
    entry["CreatedAt"] = rfc3339(created)
    return entry


def inspect_image(store: ImageStore, driver: GraphDriver, image: Image) -> dict[str, Any]:
    """One image as ``image inspect`` shows it (podman's keys and order)."""
    config = image.config
    run = image.run_config
    size = podman_size(store, image)
    return {
        "Id": image.id,
        "Digest": image.digest,
        "RepoTags": repo_tags(image),
        "RepoDigests": repo_digests(image),
        "Parent": "",
        "Comment": config.get("comment", ""),
        "Created": image.created or None,
        "Config": run,
        "Version": config.get("docker_version", ""),
        "Author": config.get("author", ""),
        "Architecture": config.get("architecture", ""),
        "Os": config.get("os", ""),
        "Size": size,
        "VirtualSize": size,
        "GraphDriver": {"Name": driver.name,
                        "Data": driver.metadata(image.top_layer) if image.top_layer else {}},
        "RootFS": {"Type": "layers", "Layers": [layer.diff_id for layer in image.layers]},
        "Labels": run.get("Labels") or None,
        "Annotations": _annotations(store, image),
        "ManifestType": image.manifest_type,
        "User": run.get("User", ""),
        "History": config.get("history") or None,
        "NamesHistory": list(image.names),
    }


def _annotations(store: ImageStore, image: Image) -> dict[str, str]:
    """The manifest's annotations ({} if none, or if the manifest cannot be read)."""
    if not image.digest:
        return {}
    try:
        manifest = json.loads(store.read_blob(image.digest))
    except Exception:  # a lost or unreadable manifest must not break inspect
        return {}
    annotations = manifest.get("annotations") if isinstance(manifest, dict) else None
    return dict(annotations) if isinstance(annotations, dict) else {}
