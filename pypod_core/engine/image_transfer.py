"""Moving stored images out and in through transports: ``push``, ``save`` and
``load``, as podman 4.3.1's (libimage's ``Push``, ``Save`` and ``Load``).

- :func:`push_image`: one image to any writable transport's reference (default:
  ``docker://`` and the name the image was asked for by), through
  :func:`pypod_core.engine.image_copy.copy_image`, then the destination's commit.
- :func:`save_images`: ``oci-archive``, ``oci-dir`` and ``docker-dir`` take one image
  (named in the layout by the name it was asked for by, unless asked for by id);
  ``docker-archive`` takes several, each with its RepoTags.
- :func:`load_images`: the format sniffed in podman's order (OCI directory,
  OCI archive, docker archive, ``dir:``) by each transport's ``recognizes``; every
  image of the archive is pulled from it as ``pull`` would (so the signature policy
  applies and a broken archive stores no record).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import attrs

from pypod_core.engine.image_copy import copy_image
from pypod_core.engine.image_store import normalize_name
from pypod_core.engine.pull import pull_image
from pypod_core.engine.runtime_img import _by_id as by_id
from pypod_core.errors import ImageFormatError, InvalidArgError
from pypod_core.model import Image, PullEvent, PullStep
from pypod_core.plugin.image_transport import PullOptions, PushOptions

if TYPE_CHECKING:
    from pypod_core.engine.runtime import Runtime
    from pypod_core.plugin.image_transport import ImageTransport

#: ``save --format``'s values: the transport each writes, and whether it takes a
#: reference name (``PATH:NAME``) and several images.
SAVE_FORMATS = {"oci-archive": "oci-archive", "oci-dir": "oci",
                "docker-archive": "docker-archive", "docker-dir": "dir"}
#: The transports ``load`` sniffs, in podman's order.
LOAD_ORDER = ("oci", "oci-archive", "docker-archive", "dir")

Progress = Callable[[PullEvent], None]


@attrs.frozen
class PushResult:
    """A push: the image, the destination (``transport:reference``) and the digest
    of the manifest written there (``--digestfile``)."""

    image: Image
    destination: str
    digest: str


@attrs.frozen
class SaveResult:
    """A save: where, in which format, the images written."""

    path: str
    format: str
    images: tuple[Image, ...]


@attrs.frozen
class LoadResult:
    """A load: the images stored, and the names ``load`` prints for them (an image
    without a name as ``sha256:<id>``, as podman's)."""

    images: tuple[Image, ...]
    names: tuple[str, ...]


def push_image(runtime: Runtime, ref: str, dest: str | None = None, *,
               options: PushOptions, progress: Progress | None = None) -> PushResult:
    """Copy the stored image ``ref`` to ``dest`` and commit it there."""
    image = runtime.image_store.get(ref)
    if dest is None or dest == "":
        name = matched_name(image, ref)
        if not name:
            raise InvalidArgError(f"push: image {ref} has no name: give a destination")
        dest = "docker://" + name
    transport, rest = _transport(runtime, dest)
    with transport.open_destination(rest, options) as destination:
        result = copy_image(runtime.image_store, image, destination, options,
                            progress=progress)
        destination.commit()
    return PushResult(image, dest, result.manifest.digest)


def save_images(runtime: Runtime, refs: Sequence[str], path: str, *,
                format: str = "docker-archive", tags: Sequence[str] = (),
                progress: Progress | None = None, compress: bool = False,
                uncompressed: bool = False) -> SaveResult:
    """Write the stored images ``refs`` to ``path`` in ``format``; ``tags`` are more
    names for a single image of a docker archive (``save IMAGE TAG...``); ``compress``
    (docker-dir only) and ``uncompressed`` (the OCI formats) as podman's flags."""
    if not refs:
        raise InvalidArgError("no image specified for saving images")
    if format not in SAVE_FORMATS:
        raise InvalidArgError(f"unsupported format {format!r} for saving images (one of "
                              f"{', '.join(SAVE_FORMATS)})")
    if len(refs) > 1 and format != "docker-archive":
        raise InvalidArgError(f"unsupported format {format!r} for saving multiple images "
                              "(only docker-archive)")
    if tags and (format != "docker-archive" or len(refs) > 1):
        raise InvalidArgError("additional tags need --format docker-archive and one image")
    if not path:
        raise InvalidArgError("save: an output path is required")
    if compress and format != "docker-dir":
        raise InvalidArgError("--compress can only be set when --format is 'docker-dir'")
    images = [runtime.image_store.get(ref) for ref in refs]
    names = [matched_name(image, ref) if not _by_id(image, ref) else ""
             for image, ref in zip(images, refs, strict=True)]
    extra = [normalize_name(tag) for tag in tags]
    transport = runtime.plugins.build("image_transport", SAVE_FORMATS[format], runtime)
    # --compress: gzip what is stored uncompressed (dir: keeps layers as given);
    # --uncompressed: an OCI layout takes them as stored (it compresses otherwise).
    # docker-dir is a dir: with a v2s2 manifest, whatever the stored one (podman's).
    options = PushOptions(compress_layers=True if compress else
                          False if uncompressed and format.startswith("oci") else None,
                          format="v2s2" if format == "docker-dir" else "")
    if format in ("oci-archive", "oci-dir"):
        reference = f"{path}:{names[0]}" if names[0] else path
    else:
        reference = path
    with transport.open_destination(reference, options) as destination:
        for image, name in zip(images, names, strict=True):
            copy_image(runtime.image_store, image, destination, options,
                       names=[n for n in [name, *extra] if n], progress=progress)
        destination.commit()
    return SaveResult(path, format, tuple(images))


def load_images(runtime: Runtime, path: str, *, progress: Progress | None = None,
                signature_policy: str = "") -> LoadResult:
    """Store every image of the archive or layout at ``path`` (format sniffed)."""
    if not isinstance(path, str) or not path:
        raise InvalidArgError("load: an input path is required")
    if not os.path.exists(path):
        raise InvalidArgError(f"load: {path}: no such file or directory")
    for name in LOAD_ORDER:
        if name not in runtime.plugins.backends("image_transport"):
            continue
        transport: ImageTransport = runtime.plugins.build("image_transport", name, runtime)
        if not transport.recognizes(path):
            continue
        refs = transport.image_references(path)
        # Every image's blobs are there before any is stored: a broken archive leaves
        # neither a record nor layers of the images before the broken one.
        names = [_checked(transport, ref) for ref in refs]
        images: list[Image] = []
        printed: list[str] = []
        for ref, found in zip(refs, names, strict=True):
            image = pull_image(runtime, f"{name}:{ref}", progress=_without_trying(progress),
                               signature_policy=signature_policy)
            images.append(image)
            printed += found or ["sha256:" + image.id]
        return LoadResult(tuple(images), tuple(printed))
    raise ImageFormatError(f"payload does not match any of the supported image formats "
                           f"({', '.join(LOAD_ORDER)}): {path}")


def _checked(transport: ImageTransport, ref: str) -> list[str]:
    """The names the image ``ref`` of ``transport`` gives (what ``load`` prints; the
    record may have more, from before), once its config and every layer blob were
    found there (opened, not read: the source's one-line error names a missing one)."""
    with transport.open_source(ref, PullOptions()) as source:
        for descriptor in (source.config_descriptor(), *source.layers()):
            source.open_blob(descriptor).close()
        return list(dict.fromkeys(normalize_name(n) for n in source.names()))


def _without_trying(progress: Progress | None) -> Progress | None:
    """``progress`` without the ``Trying to pull`` events (``load`` prints none)."""
    if progress is None:
        return None

    def filtered(event: PullEvent) -> None:
        if event.step is not PullStep.TRYING:
            progress(event)

    return filtered


def _transport(runtime: Runtime, reference: str) -> tuple[ImageTransport, str]:
    backend, rest = runtime.plugins.transport_for(reference)
    transport: ImageTransport = runtime.plugins.build("image_transport", backend.name,
                                                      runtime)
    return transport, rest


def matched_name(image: Image, ref: str) -> str:
    """Which of the image's names ``ref`` asked for (a name, short or partial); its
    first name when ``ref`` is an id; "" for an image without names."""
    try:
        if normalize_name(ref) in image.names:
            return normalize_name(ref)
    except InvalidArgError:
        pass
    for name in image.names:
        if name.endswith("/" + ref) or name.endswith("/" + ref + ":latest"):
            return name
    return image.names[0] if image.names else ""


def _by_id(image: Image, ref: str) -> bool:
    """Whether ``ref`` names ``image`` by its id, by rmi's rule."""
    return by_id(image, ref)
