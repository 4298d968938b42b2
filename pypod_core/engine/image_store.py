"""The image store: the images pypod has (the seed's ``store`` with its image records),
over a graph driver that holds their layers.

Layout under ``graph_root/images``::

    images.json          every image record: {"version": 1, "images": [...]}
    images.lock          flock, held by every change (a read-modify-write of the file)
    blobs/sha256/<hex>   manifests, configs and layer blobs, content-addressed

Why one JSON file replaced whole, and not SQLite: the records are few (tens to
hundreds), every command that lists or looks up images reads them all, and a reader
then needs one ``open`` and no lock.  Crash safety is the state store's: a change is
written to a temporary file, fsync'd and renamed over the old one (the directory
fsync'd too), so a reader sees the old file or the new one, a killed writer leaves the
old one, and a change that returned survives a power loss.

A record is written only after everything it names is stored: its layers (the graph
driver applies each one crash-safely, under a lock per layer, so processes racing to
store one layer end with one copy) and its blobs.  A pull killed before its record is
written leaves layers and blobs that no record names; the next pull of an image that
shares them reuses them.  Reference counts are never stored: a layer is in use while a
record names it, so a crash cannot leave a count wrong.  Images are shared by every
libpod namespace, as containers/storage is.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import BinaryIO

import attrs

from pypod_core import serialize
from pypod_core.errors import (
    AmbiguousIDError,
    ImageStoreError,
    InvalidArgError,
    LayerInUseError,
    NoSuchImageError,
    NoSuchLayerError,
)
from pypod_core.host.locks import FileLock
from pypod_core.host.private import private_dir
from pypod_core.host.reference import ImageReference, parse_reference
from pypod_core.model import Image
from pypod_core.plugin.graph_driver import GraphDriver

#: The record file's format version; a newer one is refused, not rewritten.
STORE_VERSION = 1
_HEX = frozenset("0123456789abcdef")


def normalize_name(name: str) -> str:
    """The name an image is stored under: fully qualified, with a tag or digest.

    A short name lives under ``localhost/`` (podman's rule for ``tag`` and ``commit``):
    ``foo`` is ``localhost/foo:latest``.  InvalidArgError for a malformed name."""
    ref = parse_reference(name).with_default_tag()
    if not ref.qualified:
        ref = attrs.evolve(ref, registry="localhost")
    return str(ref)


def _digest_of(data: bytes) -> str:
    import hashlib  # lazy: only writes hash; listing and lookups (every images) do not

    return "sha256:" + hashlib.sha256(data).hexdigest()


class ImageStore:
    """The image records and blobs under ``home``, the layers in ``driver`` (or in
    the driver a callable gives when the layers are first needed: reading records
    needs none, and making one may probe the kernel)."""

    def __init__(self, home: str, driver: GraphDriver | Callable[[], GraphDriver]):
        self.home = home
        self._driver = driver
        self.records_path = os.path.join(home, "images.json")
        self.blob_dir = os.path.join(home, "blobs")

    @property
    def driver(self) -> GraphDriver:
        """The graph driver holding the images' layers."""
        if not isinstance(self._driver, GraphDriver):
            self._driver = self._driver()
        return self._driver

    # -- reading -------------------------------------------------------------------------

    def images(self) -> list[Image]:
        """Every image, newest first (the order ``images`` lists them in)."""
        return sorted(self._read(), key=lambda image: image.added, reverse=True)

    def get(self, ref: str) -> Image:
        """The image ``ref`` names: an id or a unique id prefix (``sha256:`` allowed), a
        name (``:latest`` assumed, a short name matched as podman does locally), or
        ``name@digest``.  NoSuchImageError (``REF: image not known``) if none does;
        AmbiguousIDError for an id prefix of several images."""
        if not isinstance(ref, str) or not ref:
            raise InvalidArgError("an image name or id is required")
        found = find_image(self._read(), ref)
        if found is None:
            raise NoSuchImageError(f"{ref}: image not known")
        return found

    def exists(self, ref: str) -> bool:
        """Whether :meth:`get` finds ``ref`` (an ambiguous prefix counts as found)."""
        try:
            self.get(ref)
        except (NoSuchImageError, InvalidArgError):
            return False
        except AmbiguousIDError:
            return True
        return True

    def blob_path(self, digest: str) -> str:
        """Where the blob ``digest`` (``sha256:<hex>``) is, or would be, stored."""
        algorithm, _, hexpart = digest.partition(":")
        if algorithm != "sha256" or len(hexpart) != 64 or not set(hexpart) <= _HEX:
            raise InvalidArgError(f"invalid blob digest {digest!r}")
        return os.path.join(self.blob_dir, "sha256", hexpart)

    def read_blob(self, digest: str) -> bytes:
        """The bytes of a stored blob (a manifest or config); ImageStoreError if absent."""
        try:
            with open(self.blob_path(digest), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ImageStoreError(f"blob {digest} is not in the image store") from None

    # -- writing -------------------------------------------------------------------------

    def write_blob(self, data: bytes) -> str:
        """Store ``data`` under its digest (atomically; once) and return the digest.
        ImageStoreError if it cannot be written (a full or read-only file system)."""
        digest = _digest_of(data)
        self._install(digest, lambda f: f.write(data))
        return digest

    def copy_blob(self, path: str, digest: str) -> None:
        """Store the file ``path``, whose digest is ``digest``, as a blob (atomically;
        once); ImageStoreError as :meth:`write_blob`'s."""
        import shutil  # lazy: only imports copy files (~1 ms)

        def copy(out: BinaryIO) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 20)

        self._install(digest, copy)

    def _install(self, digest: str, write: Callable[[BinaryIO], object]) -> None:
        """Write the blob ``digest`` through ``write`` into a temporary file, made
        durable, then renamed into place; nothing if the blob is stored already."""
        path = self.blob_path(digest)
        if os.path.exists(path):
            return
        tmp = f"{path}.{os.getpid()}.tmp"
        try:
            private_dir(os.path.dirname(path))
            with open(tmp, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise ImageStoreError(f"image store {self.blob_dir}: writing blob {digest}: "
                                  f"{exc.strerror or exc}") from None

    def commit(self, image: Image) -> Image:
        """Record ``image`` (its layers and blobs stored already) and return the record.

        An image already stored (same id) gains the new names and digests.  A name moves
        from any other image that had it (that image keeps its other names, or none:
        ``<none>``).  NoSuchLayerError names a layer the driver lost meanwhile (a
        concurrent removal): the caller applies it again and commits again."""
        for layer in image.layers:
            if not self.driver.has_layer(layer.chain_id):
                raise NoSuchLayerError(f"layer {layer.chain_id} of image {image.id} is not "
                                       f"stored")
        with self._changing() as records:
            names = set(image.names)
            for i, other in enumerate(records):
                if other.id != image.id and names & set(other.names):
                    records[i] = attrs.evolve(
                        other, names=tuple(n for n in other.names if n not in names))
            old = next((r for r in records if r.id == image.id), None)
            if old is not None:
                image = attrs.evolve(
                    old,
                    names=_merged(image.names, old.names),
                    digests=_merged(image.digests, old.digests),
                    digest=image.digest or old.digest)
                records[records.index(old)] = image
            else:
                image = attrs.evolve(image, added=image.added or time.time())
                records.append(image)
        return image

    def set_names(self, image_id: str, names: Sequence[str]) -> Image:
        """Give the image exactly ``names`` (normalised; taken from other images that have
        them).  NoSuchImageError if the image is gone."""
        wanted = tuple(dict.fromkeys(names))
        with self._changing() as records:
            for i, other in enumerate(records):
                if other.id != image_id and set(wanted) & set(other.names):
                    records[i] = attrs.evolve(
                        other, names=tuple(n for n in other.names if n not in wanted))
            for i, record in enumerate(records):
                if record.id == image_id:
                    records[i] = attrs.evolve(record, names=wanted)
                    return records[i]
        raise NoSuchImageError(f"{image_id}: image not known")

    def delete(self, image_id: str) -> list[str]:
        """Remove the record of ``image_id``, then its layers and blobs that no other
        image uses; return the layers removed.  A layer a container still stands on
        stays (the driver refuses), to go with the last of its containers' removal."""
        with self._changing() as records:
            gone = next((r for r in records if r.id == image_id), None)
            if gone is None:
                raise NoSuchImageError(f"{image_id}: image not known")
            records.remove(gone)
            used_layers = {layer.chain_id for r in records for layer in r.layers}
            used_blobs = {d for r in records for d in _blobs_of(r)}
        removed = []
        for layer in reversed(gone.layers):
            if layer.chain_id in used_layers:
                break  # the layers below are the parents of one still used
            try:
                self.driver.remove_layer(layer.chain_id)
            except NoSuchLayerError:
                continue
            except LayerInUseError:
                break
            removed.append(layer.chain_id)
        for digest in set(_blobs_of(gone)) - used_blobs:
            with contextlib.suppress(FileNotFoundError, InvalidArgError):
                os.unlink(self.blob_path(digest))
        return removed

    # -- the record file -------------------------------------------------------------------

    def _read(self) -> list[Image]:
        try:
            with open(self.records_path, "rb") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise ImageStoreError(f"image store {self.records_path}: {exc.strerror}") from None
        try:
            data = json.loads(text)
            version = data["version"]
            if version > STORE_VERSION:
                raise ImageStoreError(
                    f"image store {self.records_path} has format {version}, newer than "
                    f"this pypod's {STORE_VERSION} (left untouched)")
            return [serialize.from_dict(item, Image) for item in data["images"]]
        except (ValueError, TypeError, KeyError) as exc:
            raise ImageStoreError(f"image store {self.records_path} is corrupt ({exc}); "
                                  f"left untouched: move it away to start afresh") from None

    @contextlib.contextmanager
    def _changing(self) -> Iterator[list[Image]]:
        """The records to change in place, under the store's lock; written back whole
        when the block ends without an exception."""
        private_dir(self.home)
        with FileLock(os.path.join(self.home, "images.lock")):
            records = self._read()
            yield records
            self._write(records)

    def _write(self, records: list[Image]) -> None:
        data = {"version": STORE_VERSION, "images": [serialize.to_dict(r) for r in records]}
        tmp = f"{self.records_path}.tmp"
        try:
            with open(tmp, "w", encoding="utf-8") as f:
                json.dump(data, f, separators=(",", ":"))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.records_path)
            dir_fd = os.open(self.home, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise ImageStoreError(f"image store {self.records_path} cannot be written: "
                                  f"{exc.strerror}") from None


def _merged(new: Sequence[str], old: Sequence[str]) -> tuple[str, ...]:
    """``new`` then the ``old`` not in it, in order, once each."""
    return tuple(dict.fromkeys([*new, *old]))


def _blobs_of(image: Image) -> list[str]:
    """The digests of the blobs an image's record names: its manifests, its config, its
    layers."""
    return [*image.digests, image.digest, "sha256:" + image.id,
            *(layer.digest for layer in image.layers)]


# -- lookup -------------------------------------------------------------------------------

def find_image(images: Sequence[Image], ref: str) -> Image | None:
    """The image of ``images`` that ``ref`` names, by :meth:`ImageStore.get`'s rules, or
    None."""
    bare = ref.removeprefix("sha256:")
    if set(bare) <= _HEX:
        for image in images:
            if image.id == bare:
                return image
    by_name = _find_by_name(images, ref)
    if by_name is not None:
        return by_name
    if set(bare) <= _HEX and len(bare) >= 3 and bare == bare.lower():
        matches = [image for image in images if image.id.startswith(bare)]
        if len(matches) > 1:
            raise AmbiguousIDError(f"{ref}: more than one image has this id prefix")
        if matches:
            return matches[0]
    return None


def _find_by_name(images: Sequence[Image], ref: str) -> Image | None:
    """By name: exact, then normalised, then by digest, then a short name matched
    against the last components of each image's repository (``busybox`` finds
    ``127.0.0.1:5000/lib/busybox:latest``), newest image first."""
    try:
        parsed = parse_reference(ref)
    except InvalidArgError:
        return None
    if parsed.digest:
        return next((image for image in images
                     if parsed.digest in (image.digest, *image.digests)
                     and _same_repository(image, parsed)), None)
    wanted = str(parsed.with_default_tag())
    exact = [image for image in images if wanted in image.names]
    if exact:
        return exact[0]
    if parsed.qualified:
        return None
    local = f"localhost/{wanted}"
    for image in images:
        if local in image.names:
            return image
    suffix = "/" + wanted
    matches = [image for image in images if any(n.endswith(suffix) for n in image.names)]
    return max(matches, key=lambda image: image.added) if matches else None


def _same_repository(image: Image, ref: ImageReference) -> bool:
    """Whether one of the image's names is in ``ref``'s repository (a short ``ref``
    matches by its last components)."""
    for name in image.names:
        repo = parse_reference(name).name
        if repo == ref.name or (not ref.qualified and repo.endswith("/" + ref.name)):
            return True
    return False
