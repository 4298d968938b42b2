"""The OCI image layout (image-spec ``image-layout.md``), read and written over a
directory (``oci:DIR[:REF]``) or a tar of one (``oci-archive:FILE[:REF]``).

A layout is ``oci-layout`` (``{"imageLayoutVersion": "1.0.0"}``), ``index.json`` (the
images, each a descriptor whose ``org.opencontainers.image.ref.name`` annotation is the
``REF`` that names it) and ``blobs/<algorithm>/<hex>``.  Without a ``REF`` the index
must hold exactly one image, as containers/image requires.  A descriptor may name an
index (a multi-platform image); the platform is chosen from it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO, Protocol

from pypod_core.errors import ImageFormatError, InvalidArgError, NoSuchImageError
from pypod_core.plugin.image_transport import (
    INDEX_TYPES,
    OCI_MANIFEST,
    BlobDescriptor,
    ImageDestination,
    ImageSource,
    Manifest,
    PullOptions,
    VerifiedReader,
    choose_platform,
    parse_index,
    sniff_media_type,
    verified_bytes,
)

REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_FILE = "oci-layout"
LAYOUT_VERSION = b'{"imageLayoutVersion":"1.0.0"}'
_HEX = frozenset("0123456789abcdef")


class Files(Protocol):
    """What a layout is read from: :class:`.files.DirFiles` or :class:`.tarstream.TarIndex`."""

    path: str

    def has(self, name: str) -> bool: ...
    def open(self, name: str) -> BinaryIO: ...
    def read(self, name: str, limit: int = ...) -> bytes: ...


class Writer(Protocol):
    """What a layout is written to: :class:`.files.DirWriter` or :class:`.tarstream.TarWriter`."""

    path: str

    def add(self, name: str, stream: BinaryIO,
            progress: Callable[[int], None] | None = ...) -> int: ...
    def add_bytes(self, name: str, data: bytes) -> None: ...
    def commit(self) -> None: ...
    def close(self) -> None: ...


def split_reference(reference: str, transport: str) -> tuple[str, str]:
    """``(path, ref)`` of ``PATH[:REF]``, split at the first colon as containers/image
    does (a ``REF`` may hold colons: ``docker.io/library/busybox:latest``)."""
    path, _, ref = reference.partition(":")
    if not path:
        raise InvalidArgError(f"invalid {transport} reference {reference!r}: a path is "
                              "required")
    return path, ref


def blob_name(digest: str) -> str:
    """``blobs/<algorithm>/<hex>`` of a digest; ImageFormatError for a malformed one."""
    algorithm, _, hexpart = digest.partition(":")
    if algorithm not in ("sha256", "sha512") or not hexpart or not set(hexpart) <= _HEX:
        raise ImageFormatError(f"invalid digest {digest!r}")
    return f"blobs/{algorithm}/{hexpart}"


def read_index(files: Files, what: str) -> dict[str, Any]:
    """The layout's ``index.json``; ImageFormatError if it is not an OCI layout."""
    if not files.has(LAYOUT_FILE) or not files.has("index.json"):
        raise ImageFormatError(f"{what} {files.path}: not an OCI image layout (no "
                               f"{LAYOUT_FILE} or index.json)")
    try:
        index = json.loads(files.read("index.json"))
    except ValueError as exc:
        raise ImageFormatError(f"{what} {files.path}: index.json is not JSON: "
                               f"{exc}") from None
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise ImageFormatError(f"{what} {files.path}: index.json has no manifests list")
    return index


def choose_descriptor(index: dict[str, Any], ref: str, where: str) -> dict[str, Any]:
    """The index entry ``ref`` names (by its ref.name annotation), or the only one."""
    entries = [e for e in index["manifests"] if isinstance(e, dict)]
    if ref:
        for entry in entries:
            if (entry.get("annotations") or {}).get(REF_NAME) == ref:
                return entry
        raise NoSuchImageError(f"{where}: no image named {ref!r} in the layout")
    if len(entries) != 1:
        raise ImageFormatError(f"{where}: the layout holds {len(entries)} images: name "
                               "one as PATH:REF")
    return entries[0]


class LayoutSource(ImageSource):
    """One image of an OCI layout (the index entry ``ref`` names)."""

    def __init__(self, files: Files, transport: str, reference: str, ref: str,
                 options: PullOptions, names: Callable[[dict[str, Any]], tuple[str, ...]],
                 on_close: Callable[[], None] | None = None):
        self.transport = transport
        self.reference = reference
        self._files = files
        self._ref = ref
        self._options = options
        self._names = names
        self._on_close = on_close
        self._where = f"{transport}:{reference}"
        self._manifest: Manifest | None = None
        self._index: Manifest | None = None
        self._entry: dict[str, Any] = {}

    def manifest(self) -> Manifest:
        """The image's manifest; for an index entry, the options' platform's."""
        if self._manifest is None:
            self._entry = choose_descriptor(read_index(self._files, self.transport),
                                            self._ref, self._where)
            found = self._document(self._entry)
            if found.media_type in INDEX_TYPES:
                self._index = found
                chosen = choose_platform(parse_index(found), self._options.platform,
                                         self._where)
                found = self._document({"digest": chosen.digest, "size": chosen.size,
                                        "mediaType": chosen.media_type})
            self._manifest = found
        return self._manifest

    def index(self) -> Manifest | None:
        """The index the manifest was chosen from, if any."""
        self.manifest()
        return self._index

    def names(self) -> tuple[str, ...]:
        """As the transport names the image (see its module)."""
        self.manifest()
        return self._names(self._entry)

    def _document(self, entry: dict[str, Any]) -> Manifest:
        digest = entry.get("digest")
        if not isinstance(digest, str):
            raise ImageFormatError(f"{self._where}: a descriptor without a digest")
        name = blob_name(digest)
        if not self._files.has(name):
            raise ImageFormatError(f"{self._where}: manifest blob {digest} is missing")
        raw = verified_bytes(self._files.read(name), digest, "manifest")
        return Manifest(raw, sniff_media_type(raw, str(entry.get("mediaType", ""))), digest)

    def open_blob(self, descriptor: BlobDescriptor) -> BinaryIO:
        """The blob's bytes, verified while read."""
        name = blob_name(descriptor.digest)
        if not self._files.has(name):
            raise ImageFormatError(f"{self._where}: blob {descriptor.digest} is missing")
        return VerifiedReader(self._files.open(name), descriptor.digest,  # type: ignore[return-value]
                              descriptor.size)

    def close(self) -> None:
        """Release the archive, if any."""
        if self._on_close is not None:
            self._on_close()
            self._on_close = None


class LayoutDestination(ImageDestination):
    """An image written into an OCI layout: blobs, then its manifest as an entry of
    ``index.json`` (annotated with ``ref``, replacing an entry of that name)."""

    manifest_types = (OCI_MANIFEST,)

    def __init__(self, writer: Writer, transport: str, reference: str, ref: str,
                 index: dict[str, Any] | None = None, has: Callable[[str], bool] | None = None):
        self.transport = transport
        self.reference = reference
        self._writer = writer
        self._ref = ref
        self._index = index or {"schemaVersion": 2, "manifests": []}
        self._has = has
        self._written: set[str] = set()

    def has_blob(self, descriptor: BlobDescriptor) -> bool:
        """Whether the layout holds the blob (from before, or written now)."""
        name = blob_name(descriptor.digest)
        return name in self._written or (self._has is not None and self._has(name))

    def put_blob(self, descriptor: BlobDescriptor, stream: BinaryIO, *,
                 progress: Callable[[int], None] | None = None) -> None:
        """Write the blob, verified against its descriptor while written."""
        name = blob_name(descriptor.digest)
        self._writer.add(name, VerifiedReader(stream, descriptor.digest,  # type: ignore[arg-type]
                                              descriptor.size), progress)
        self._written.add(name)

    def put_manifest(self, manifest: Manifest, *, names: Sequence[str] = ()) -> None:
        """Write the manifest blob and its index entry."""
        if manifest.media_type not in self.manifest_types:
            raise ImageFormatError(f"{self.transport}:{self.reference}: an OCI layout "
                                   f"holds OCI manifests, not {manifest.media_type}")
        name = blob_name(manifest.digest)
        if name not in self._written:
            self._writer.add_bytes(name, manifest.raw)
            self._written.add(name)
        entry: dict[str, Any] = {"mediaType": manifest.media_type,
                                 "digest": manifest.digest, "size": len(manifest.raw)}
        kept = []
        for old in self._index["manifests"]:
            old_ref = (old.get("annotations") or {}).get(REF_NAME, "")
            if (self._ref and old_ref == self._ref) or \
                    (not self._ref and not old_ref and old.get("digest") == manifest.digest):
                continue
            kept.append(old)
        if self._ref:
            entry["annotations"] = {REF_NAME: self._ref}
        self._index["manifests"] = [*kept, entry]

    def commit(self) -> None:
        """Write ``oci-layout`` and ``index.json`` (the step that makes the image
        visible), then finish the directory or archive."""
        self._writer.add_bytes(LAYOUT_FILE, LAYOUT_VERSION)
        self._writer.add_bytes("index.json", json.dumps(
            self._index, separators=(",", ":")).encode())
        self._writer.commit()

    def close(self) -> None:
        """Discard what an uncommitted write added."""
        self._writer.close()


def local_name(path: str) -> str:
    """podman's name for an image pulled from ``oci:PATH``: ``localhost/PATH``."""
    return "localhost/" + os.path.normpath(path).lstrip("/")
