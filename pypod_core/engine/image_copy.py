"""Copying a stored image into an :class:`ImageDestination` (containers/image's copy,
store to anywhere): what ``push`` and ``save`` share.

The blobs go as the store has them: the layer blobs a pull kept (compressed as the
registry served them), the config, and the stored manifest itself when its media type
is one the destination takes and no ``--format`` conversion is asked, so the image's
digests at the destination are the source's.  Otherwise a manifest of the wanted type
is written (OCI <-> Docker v2s2: the same blobs under the other family's media types).
A layer stored uncompressed (``commit``, ``import``) is compressed on the way (gzip, or
``--compression-format zstd``) unless the destination keeps what it is given
(``dir:``) or stores layers uncompressed itself (``docker-archive:``); its compressed
form goes through a temporary file in the store, so its digest is known before it is
sent.  Order: each layer, then the config, then the manifest; :meth:`commit` is the
caller's (a ``save -m`` puts several images into one archive first).
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import zlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from pypod_core.errors import ImageFormatError, ImageStoreError, InvalidArgError
from pypod_core.model import Image, ImageLayer, PullEvent, PullStep
from pypod_core.plugin.image_transport import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    LAYER_TYPES,
    OCI_CONFIG,
    OCI_MANIFEST,
    BlobDescriptor,
    ImageDestination,
    Manifest,
    PushOptions,
    sniff_media_type,
)

if TYPE_CHECKING:
    from pypod_core.engine.image_store import ImageStore

#: ``--format``'s values and the manifest type each writes.
FORMATS = {"oci": OCI_MANIFEST, "v2s2": DOCKER_MANIFEST}
#: ``--compression-format``'s values.
COMPRESSIONS = ("gzip", "zstd")
#: Each manifest family's layer media type for a compression.
_LAYER_TYPE = {
    OCI_MANIFEST: {"none": "application/vnd.oci.image.layer.v1.tar",
                   "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
                   "zstd": "application/vnd.oci.image.layer.v1.tar+zstd"},
    DOCKER_MANIFEST: {"none": "application/vnd.docker.image.rootfs.diff.tar",
                      "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip"},
}
_CONFIG_TYPE = {OCI_MANIFEST: OCI_CONFIG, DOCKER_MANIFEST: DOCKER_CONFIG}
_CHUNK = 1 << 20

Progress = Callable[[PullEvent], None]


@attrs.frozen
class CopyResult:
    """What was written: the manifest (its digest is the image's there), and whether
    it is the stored one or was made (a conversion, a layer compressed)."""

    manifest: Manifest
    converted: bool


def copy_image(store: ImageStore, image: Image, dest: ImageDestination,
               options: PushOptions, *, names: Sequence[str] = (),
               progress: Progress | None = None) -> CopyResult:
    """Copy ``image`` into ``dest`` (not committed); ``names`` go with its manifest."""
    report = _Reporter(progress)
    stored = _stored_manifest(store, image)
    wanted = _wanted_type(stored.media_type, dest, options.format)
    compression = options.compression or "gzip"
    if compression not in COMPRESSIONS:
        raise InvalidArgError(f"unsupported compression format {compression!r} (one of "
                              f"{', '.join(COMPRESSIONS)})")
    # podman's --compress / --uncompressed: the caller's say over the destination's.
    compress = compression if (dest.compress_layers if options.compress_layers is None
                               else options.compress_layers) else ""
    for layer in image.layers:  # all there, before anything is written
        if not os.path.exists(store.blob_path(layer.digest)):
            raise ImageStoreError(f"image {image.short_id}: layer blob {layer.digest} is "
                                  "not in the image store (pull the image again to copy "
                                  "it)")
    report(PullStep.SOURCE, reference=dest.reference)
    written: list[BlobDescriptor] = []
    changed = False
    for layer in image.layers:
        desc, was_changed = _copy_layer(store, layer, dest, compress, report)
        written.append(desc)
        changed = changed or was_changed
    config = store.read_blob("sha256:" + image.id)
    config_desc = BlobDescriptor("sha256:" + image.id, len(config), _CONFIG_TYPE[wanted])
    report(PullStep.CONFIG, reference=dest.reference, digest=config_desc.digest)
    if not dest.has_blob(config_desc):
        import io  # lazy: only a copy

        dest.put_blob(config_desc, io.BytesIO(config))
    if wanted == stored.media_type and not changed:
        manifest, converted = stored, False
    else:
        manifest, converted = _made_manifest(stored, wanted, config_desc, written), True
    report(PullStep.MANIFEST, reference=dest.reference, digest=manifest.digest)
    dest.put_manifest(manifest, names=names)
    report(PullStep.DONE, reference=dest.reference, image_id=image.id)
    return CopyResult(manifest, converted)


def _stored_manifest(store: ImageStore, image: Image) -> Manifest:
    if not image.digest:
        raise ImageStoreError(f"image {image.short_id} has no stored manifest")
    try:
        raw = store.read_blob(image.digest)
    except ImageStoreError:
        raise ImageStoreError(f"image {image.short_id}: its manifest blob {image.digest} "
                              "is not in the image store") from None
    return Manifest(raw, image.manifest_type or sniff_media_type(raw), image.digest)


def _wanted_type(stored: str, dest: ImageDestination, fmt: str) -> str:
    """The manifest type to write: ``--format``'s, else the stored one if the
    destination takes it, else the destination's first."""
    if fmt:
        if fmt not in FORMATS:
            raise InvalidArgError(f"unsupported manifest format {fmt!r} (one of "
                                  f"{', '.join(FORMATS)})")
        if FORMATS[fmt] not in dest.manifest_types:
            raise InvalidArgError(f"the {dest.transport} destination cannot hold {fmt} "
                                  f"manifests ({dest.reference})")
        return FORMATS[fmt]
    return stored if stored in dest.manifest_types else dest.manifest_types[0]


def _copy_layer(store: ImageStore, layer: ImageLayer, dest: ImageDestination,
                compression: str,
                report: _Reporter) -> tuple[BlobDescriptor, bool]:
    """Send one layer blob (compressed with ``compression`` first if it is stored
    uncompressed; "": as stored); its descriptor as sent and whether it differs from
    the stored one."""
    path = store.blob_path(layer.digest)
    kind = LAYER_TYPES.get(layer.media_type, "none")
    desc = BlobDescriptor(layer.digest, layer.size, layer.media_type, kind)
    tmp = None
    try:
        if kind == "none" and compression:
            tmp, desc = _compressed(store, path, compression)
        if dest.has_blob(desc):
            report(PullStep.BLOB, digest=desc.digest, total=desc.size, skipped=True)
            report(PullStep.BLOB_DONE, digest=desc.digest, total=desc.size, skipped=True)
            return desc, tmp is not None
        report(PullStep.BLOB, digest=desc.digest, total=desc.size)

        def progress(done: int) -> None:
            report(PullStep.BLOB_PROGRESS, digest=desc.digest, total=desc.size, done=done)

        with open(tmp or path, "rb") as stream:
            dest.put_blob(desc, stream, progress=progress)
        report(PullStep.BLOB_DONE, digest=desc.digest, total=desc.size)
        return desc, tmp is not None
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)


def _compressed(store: ImageStore, path: str, compression: str) -> tuple[str, BlobDescriptor]:
    """``path`` compressed into a temporary file; the file and its descriptor."""
    # lazy: only a recompressed layer (hashlib ~3 ms, tempfile ~5 ms)
    import hashlib
    import tempfile

    compressor = _compressor(compression)
    sha, size = hashlib.sha256(), 0
    os.makedirs(store.home, 0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".compress-", dir=store.home)
    try:
        with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
            while chunk := src.read(_CHUNK):
                data = compressor.compress(chunk)
                out.write(data)
                sha.update(data)
                size += len(data)
            data = compressor.flush()
            out.write(data)
            sha.update(data)
            size += len(data)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise ImageStoreError(f"image store: compressing {path}: {exc.strerror or exc}") \
            from None
    media = _LAYER_TYPE[OCI_MANIFEST][compression]
    return tmp, BlobDescriptor("sha256:" + sha.hexdigest(), size, media, compression)


def _compressor(compression: str) -> Any:
    if compression == "gzip":
        return zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: a gzip stream, mtime 0
    try:
        # lazy: only zstd (~0.2 ms)
        from compression import zstd  # type: ignore[import-not-found]
    except ImportError:
        try:
            # lazy: only zstd before Python 3.14 (~0.2 ms)
            from backports import zstd  # type: ignore[no-redef]
        except ImportError:
            raise ImageFormatError("zstd compression needs the backports.zstd package on "
                                   "Python < 3.14") from None
    return zstd.ZstdCompressor()


def _made_manifest(stored: Manifest, wanted: str, config: BlobDescriptor,
                   layers: Sequence[BlobDescriptor]) -> Manifest:
    """A manifest of type ``wanted`` naming ``config`` and ``layers`` (an OCI one
    keeps the stored manifest's annotations)."""
    import hashlib  # lazy: only a new manifest (~3 ms)

    described = []
    for layer in layers:
        kind = _LAYER_TYPE[wanted].get(layer.compression)
        if kind is None:
            raise ImageFormatError(f"layer {layer.digest} is {layer.compression}-"
                                   f"compressed, which a Docker v2s2 manifest cannot "
                                   "describe: use --format oci")
        described.append({"mediaType": kind, "size": layer.size, "digest": layer.digest})
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": wanted,
                           "config": {"mediaType": config.media_type, "size": config.size,
                                      "digest": config.digest},
                           "layers": described}
    annotations = stored.json().get("annotations")
    if wanted == OCI_MANIFEST and isinstance(annotations, dict) and annotations:
        doc["annotations"] = annotations
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return Manifest(raw, wanted, "sha256:" + hashlib.sha256(raw).hexdigest())


class _Reporter:
    """Calls ``progress`` with PullEvents, one call at a time."""

    def __init__(self, progress: Progress | None):
        self._progress = progress
        self._lock = threading.Lock()

    def __call__(self, step: PullStep, **fields: Any) -> None:
        if self._progress is not None:
            with self._lock:
                self._progress(PullEvent(step=step, **fields))
