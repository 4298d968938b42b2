"""The ``docker-archive:FILE[:REF]`` transport: ``docker save``'s format.

The archive holds ``manifest.json`` (a list, one entry per image: ``Config``, the config
file; ``RepoTags``, the image's names; ``Layers``, its layer tars, base first), each
config as ``<hex>.json`` and each layer as a tar named by its diff id, ``<hex>.tar``.
There is no manifest in it: reading, a Docker v2s2 manifest is made from the entry;
writing, the layers are stored uncompressed (decompressed on the way), as podman's
are, so an image's id survives the trip but its manifest digest does not.

``REF`` picks an image of several: one of its RepoTags, or ``@N`` (the N-th entry);
without one, the archive must hold one image (``load`` reads every one).  An image is
named by its RepoTags; without any it has no name.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

from pypod_core.errors import ImageFormatError, NoSuchImageError
from pypod_core.plugin.image_transport import (
    DOCKER_CONFIG,
    DOCKER_MANIFEST,
    BlobDescriptor,
    ImageDestination,
    ImageSource,
    ImageTransport,
    Manifest,
    PullOptions,
    PushOptions,
    VerifiedReader,
    decompress,
    parse_image_manifest,
)
from pypod_image_archive.layout import split_reference
from pypod_image_archive.tarstream import TarIndex, TarWriter, TruncatedArchiveError

_TAR_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_WHAT = "docker archive"


def read_entries(archive: TarIndex) -> list[dict[str, Any]]:
    """The archive's ``manifest.json`` entries; ImageFormatError if it is not one."""
    if not archive.has("manifest.json"):
        raise ImageFormatError(f"{_WHAT} {archive.path}: no manifest.json: not a "
                               "docker archive")
    try:
        entries = json.loads(archive.read("manifest.json"))
    except ValueError as exc:
        raise ImageFormatError(f"{_WHAT} {archive.path}: manifest.json is not JSON: "
                               f"{exc}") from None
    if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("Config"), str)
            and isinstance(e.get("Layers"), list) for e in entries):
        raise ImageFormatError(f"{_WHAT} {archive.path}: manifest.json is not a list of "
                               "images (Config, Layers)")
    return entries


def _choose(entries: list[dict[str, Any]], ref: str, where: str) -> dict[str, Any]:
    if ref.startswith("@"):
        if not ref[1:].isdigit() or int(ref[1:]) >= len(entries):
            raise NoSuchImageError(f"{where}: no image {ref} in an archive of "
                                   f"{len(entries)}")
        return entries[int(ref[1:])]
    if ref:
        wanted = {ref, ref + ":latest", "docker.io/library/" + ref,
                  "docker.io/library/" + ref + ":latest", "localhost/" + ref,
                  "localhost/" + ref + ":latest"}
        for entry in entries:
            if wanted & set(entry.get("RepoTags") or ()):
                return entry
        raise NoSuchImageError(f"{where}: no image tagged {ref!r} in the archive")
    if len(entries) != 1:
        raise ImageFormatError(f"{where}: the archive holds {len(entries)} images: name "
                               "one as FILE:NAME or FILE:@N")
    return entries[0]


class DockerArchiveSource(ImageSource):
    """One image of a docker archive, with a manifest made from its entry."""

    def __init__(self, archive: TarIndex, reference: str, ref: str):
        self.transport = "docker-archive"
        self.reference = reference
        self._archive = archive
        self._where = f"docker-archive:{reference}"
        self._entry = _choose(read_entries(archive), ref, self._where)
        self._files: dict[str, tuple[str, str]] = {}  # digest -> (member, compression)
        self._manifest: Manifest | None = None

    def names(self) -> tuple[str, ...]:
        """The image's RepoTags."""
        return tuple(t for t in self._entry.get("RepoTags") or () if isinstance(t, str))

    def manifest(self) -> Manifest:
        """A Docker v2s2 manifest of the entry's config and layers."""
        if self._manifest is None:
            self._manifest = self._make_manifest()
        return self._manifest

    def _make_manifest(self) -> Manifest:
        config_name = self._entry["Config"]
        config = self._archive.read(config_name)
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        self._files[config_digest] = (config_name, "none")
        try:
            diff_ids = json.loads(config)["rootfs"]["diff_ids"]
        except (ValueError, KeyError, TypeError):
            raise ImageFormatError(f"{self._where}: config has no rootfs.diff_ids") \
                from None
        layers = self._entry["Layers"]
        if len(diff_ids) != len(layers):
            raise ImageFormatError(f"{self._where}: {len(layers)} layers for "
                                   f"{len(diff_ids)} diff IDs")
        described = []
        for name, diff_id in zip(layers, diff_ids, strict=True):
            compression = self._compression(name)
            self._files[diff_id] = (name, compression)
            # A compressed layer is handed out decompressed (as containers/image
            # does): its digest is then the diff id the config names.
            size = self._archive.size(name) if compression == "none" else -1
            described.append({"mediaType": _TAR_LAYER, "size": size, "digest": diff_id})
        doc = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
               "config": {"mediaType": DOCKER_CONFIG, "size": len(config),
                          "digest": config_digest},
               "layers": described}
        raw = json.dumps(doc, separators=(",", ":")).encode()
        return Manifest(raw, DOCKER_MANIFEST, "sha256:" + hashlib.sha256(raw).hexdigest())

    def _compression(self, name: str) -> str:
        with self._archive.open(name) as f:
            head = f.read(4)
        if head.startswith(_GZIP_MAGIC):
            return "gzip"
        return "zstd" if head == _ZSTD_MAGIC else "none"

    def open_blob(self, descriptor: BlobDescriptor) -> BinaryIO:
        """The config or a layer's tar, verified while read."""
        self.manifest()
        try:
            name, compression = self._files[descriptor.digest]
        except KeyError:
            raise ImageFormatError(f"{self._where}: no blob {descriptor.digest}") from None
        stream = self._archive.open(name)
        if compression != "none":
            stream = decompress(stream, compression, what=f"{self._where}: {name}")
        return VerifiedReader(stream, descriptor.digest, descriptor.size)  # type: ignore[return-value]


class DockerArchiveDestination(ImageDestination):
    """A new docker archive: each layer decompressed into ``<diff id hex>.tar``, each
    config as ``<hex>.json``, ``manifest.json`` last (written at commit)."""

    multi_image = True
    manifest_types = (DOCKER_MANIFEST,)
    compress_layers = False

    def __init__(self, path: str, reference: str, ref: str = ""):
        self.transport = "docker-archive"
        self.reference = reference
        self._ref = ref
        self._writer = TarWriter(path, _WHAT)
        self._files: dict[str, str] = {}  # blob digest -> member
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def has_blob(self, descriptor: BlobDescriptor) -> bool:
        """Whether this archive has the blob already (an earlier image's)."""
        return descriptor.digest in self._files

    def put_blob(self, descriptor: BlobDescriptor, stream: BinaryIO, *,
                 progress: Callable[[int], None] | None = None) -> None:
        """Write a layer (decompressed) or the config, verified on the way."""
        raw = VerifiedReader(stream, descriptor.digest, descriptor.size)
        if not descriptor.compression:  # the config
            hexpart = descriptor.digest.partition(":")[2]
            self._writer.add(f"{hexpart}.json", raw, progress)  # type: ignore[arg-type]
            self._files[descriptor.digest] = f"{hexpart}.json"
            return
        tar = _Hashing(decompress(raw, descriptor.compression,  # type: ignore[arg-type]
                                  what=f"layer {descriptor.digest}"))
        self._writer.add("0" * 64 + ".tar", tar, progress,  # type: ignore[arg-type]
                         final_name=lambda: tar.hexdigest() + ".tar")
        self._files[descriptor.digest] = tar.hexdigest() + ".tar"

    def put_manifest(self, manifest: Manifest, *, names: Sequence[str] = ()) -> None:
        """Record the image's entry (its config, layers and names: the reference's
        ``REF`` if it has one, as podman's ``push IMAGE docker-archive:FILE:NAME``)."""
        config, layers = parse_image_manifest(manifest)
        if self._ref:
            names = [self._ref]
        try:
            entry = {"Config": self._files[config.digest], "RepoTags": list(names),
                     "Layers": [self._files[layer.digest] for layer in layers]}
        except KeyError as exc:
            raise ImageFormatError(f"docker-archive:{self.reference}: blob {exc.args[0]} "
                                   "was not written before the manifest") from None
        self._entries.append(entry)

    def commit(self) -> None:
        """Write ``manifest.json`` and rename the archive into place."""
        self._writer.add_bytes("manifest.json", json.dumps(
            self._entries, separators=(",", ":")).encode())
        self._writer.commit()

    def close(self) -> None:
        """Remove an uncommitted archive."""
        self._writer.close()


class _Hashing:
    """A stream that hashes what is read through it (the layer's diff id)."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self._hash.update(data)
        return data

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class DockerArchiveTransport(ImageTransport):
    """``docker-archive:FILE[:REF]``: ``docker save``'s format."""

    name = "docker-archive"

    def _open(self, reference: str, options: PullOptions) -> ImageSource:
        path, ref = split_reference(reference, self.name)
        if not os.path.exists(path):
            raise NoSuchImageError(f"docker-archive:{reference}: {path}: no such file")
        return DockerArchiveSource(TarIndex(path, _WHAT), reference, ref)

    def policy_scope(self, source: ImageSource) -> str:
        """The archive's absolute path."""
        return os.path.abspath(split_reference(source.reference, self.name)[0])

    def image_references(self, reference: str) -> list[str]:
        """``FILE:@N`` for each image in the archive."""
        path = split_reference(reference, self.name)[0]
        return [f"{path}:@{i}" for i in range(len(read_entries(TarIndex(path, _WHAT))))]

    def recognizes(self, path: str) -> bool:
        """A tar file with a ``manifest.json`` member."""
        if not os.path.isfile(path):
            return False
        try:
            return TarIndex(path, "archive").has("manifest.json")
        except TruncatedArchiveError:
            raise  # a tar, cut off: say so rather than "not a known format"
        except ImageFormatError:
            return False

    def open_destination(self, reference: str, options: PushOptions) -> ImageDestination:
        """A new archive at ``FILE`` (``REF``, if given, names the image written)."""
        path, ref = split_reference(reference, self.name)
        return DockerArchiveDestination(path, reference, ref)
