"""The ``dir:DIR`` transport: containers/image's directory of one image.

``DIR/version`` says ``Directory Transport Version: 1.1``; ``DIR/manifest.json`` is the
manifest as it was (OCI or Docker v2s2, or an index: then each image's manifest is
``<hex>.manifest.json``); every blob is ``DIR/<hex>`` (sha256 digests are written
without their algorithm).  Blobs are written as they come (not compressed or
decompressed), so a copy keeps the image's digests.  An image pulled from ``dir:`` has
no name, as podman's.  Writing a directory that holds something other than a ``dir:``
image is refused; one that does is replaced (the old blobs go at commit).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import BinaryIO

from pypod_core.errors import ImageFormatError, NoSuchImageError
from pypod_core.plugin.image_transport import (
    DOCKER_MANIFEST,
    INDEX_TYPES,
    OCI_MANIFEST,
    BlobDescriptor,
    ImageDestination,
    ImageSource,
    ImageTransport,
    Manifest,
    PullOptions,
    PushOptions,
    VerifiedReader,
    choose_platform,
    parse_index,
    sniff_media_type,
    verified_bytes,
)
from pypod_image_archive.files import DirFiles, DirWriter

VERSION = b"Directory Transport Version: 1.1\n"
_HEX = frozenset("0123456789abcdef")


def blob_file(digest: str) -> str:
    """The file name of a blob: ``<hex>`` for sha256, ``<algorithm>-<hex>`` else."""
    algorithm, _, hexpart = digest.partition(":")
    if algorithm not in ("sha256", "sha512") or not hexpart or not set(hexpart) <= _HEX:
        raise ImageFormatError(f"invalid digest {digest!r}")
    return hexpart if algorithm == "sha256" else f"{algorithm}-{hexpart}"


class DirSource(ImageSource):
    """The image of a ``dir:`` directory."""

    def __init__(self, path: str, options: PullOptions):
        self.transport = "dir"
        self.reference = path
        self._files = DirFiles(path, "dir: image")
        self._options = options
        self._manifest: Manifest | None = None
        self._index: Manifest | None = None

    def names(self) -> tuple[str, ...]:
        """None: a ``dir:`` image is known by its id."""
        return ()

    def manifest(self) -> Manifest:
        """``manifest.json``; for an index, the options' platform's manifest."""
        if self._manifest is None:
            if not self._files.has("manifest.json"):
                raise ImageFormatError(f"dir:{self.reference}: no manifest.json: not a "
                                       "dir: image")
            raw = self._files.read("manifest.json")
            found = Manifest(raw, sniff_media_type(raw), _sha256(raw))
            if found.media_type in INDEX_TYPES:
                self._index = found
                chosen = choose_platform(parse_index(found), self._options.platform,
                                         f"dir:{self.reference}")
                name = blob_file(chosen.digest) + ".manifest.json"
                raw = verified_bytes(self._files.read(name), chosen.digest, "manifest")
                found = Manifest(raw, sniff_media_type(raw, chosen.media_type),
                                 chosen.digest)
            self._manifest = found
        return self._manifest

    def index(self) -> Manifest | None:
        """The index in ``manifest.json``, if it is one."""
        self.manifest()
        return self._index

    def open_blob(self, descriptor: BlobDescriptor) -> BinaryIO:
        """``DIR/<hex>``, verified while read."""
        name = blob_file(descriptor.digest)
        if not self._files.has(name):
            raise ImageFormatError(f"dir:{self.reference}: blob {descriptor.digest} is "
                                   "missing")
        return VerifiedReader(self._files.open(name), descriptor.digest,  # type: ignore[return-value]
                              descriptor.size)


class DirDestination(ImageDestination):
    """An image written as a ``dir:`` directory."""

    manifest_types = (OCI_MANIFEST, DOCKER_MANIFEST)
    compress_layers = False

    def __init__(self, path: str):
        self.transport = "dir"
        self.reference = path
        self._old: list[str] = []
        if os.path.isdir(path) and os.listdir(path):
            if not os.path.isfile(os.path.join(path, "version")):
                raise ImageFormatError(f"dir:{path}: the directory is not empty and holds "
                                       "no dir: image: refusing to write into it")
            self._old = os.listdir(path)
        self._writer = DirWriter(path, "dir: image")
        self._written: set[str] = set()

    def has_blob(self, descriptor: BlobDescriptor) -> bool:
        """Whether this copy wrote the blob already."""
        return blob_file(descriptor.digest) in self._written

    def put_blob(self, descriptor: BlobDescriptor, stream: BinaryIO, *,
                 progress: Callable[[int], None] | None = None) -> None:
        """Write ``DIR/<hex>``, verified while written."""
        name = blob_file(descriptor.digest)
        self._writer.add(name, VerifiedReader(stream, descriptor.digest,  # type: ignore[arg-type]
                                              descriptor.size), progress)
        self._written.add(name)

    def put_manifest(self, manifest: Manifest, *, names: Sequence[str] = ()) -> None:
        """Write ``manifest.json`` (the names are not recorded: ``dir:`` has none)."""
        self._writer.add_bytes("manifest.json", manifest.raw)
        self._written.add("manifest.json")

    def commit(self) -> None:
        """Write ``version``; remove what an earlier image left."""
        self._writer.add_bytes("version", VERSION)
        self._writer.commit()
        for name in self._old:
            if name not in self._written and name != "version":
                path = os.path.join(self.reference, name)
                if os.path.isfile(path):
                    os.unlink(path)

    def close(self) -> None:
        """Discard an uncommitted write's new files."""
        self._writer.close()


def _sha256(data: bytes) -> str:
    import hashlib  # lazy: only a dir: image's digests (hashlib ~3 ms)

    return "sha256:" + hashlib.sha256(data).hexdigest()


class DirTransport(ImageTransport):
    """``dir:DIR``: one image's manifest and blobs as files."""

    name = "dir"

    def _open(self, reference: str, options: PullOptions) -> ImageSource:
        if not os.path.isdir(reference):
            raise NoSuchImageError(f"dir:{reference}: no such directory")
        return DirSource(reference, options)

    def policy_scope(self, source: ImageSource) -> str:
        """The directory's absolute path."""
        return os.path.abspath(source.reference)

    def recognizes(self, path: str) -> bool:
        """A directory with ``manifest.json`` and ``version`` files."""
        return all(os.path.isfile(os.path.join(path, f)) for f in ("manifest.json", "version"))

    def open_destination(self, reference: str, options: PushOptions) -> ImageDestination:
        """The directory ``DIR`` (made if missing)."""
        return DirDestination(reference)
