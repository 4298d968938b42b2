"""The image transport interface: where images come from (registries, later OCI layouts
and archives), as containers/image's ``ImageSource``.

A transport is chosen by the prefix of a reference (``docker://REF``, later ``oci:DIR``,
``docker-archive:FILE``); a reference with no known prefix is the ``docker`` transport's.
The engine pulls an image this way::

    backend, rest = manager.transport_for(reference)   # or split_transport()
    transport = backend.factory(runtime)
    for candidate in transport.candidates(rest, options).candidates:   # short names
        with transport.open_source(candidate, options, policy=policy) as source:
            manifest = source.manifest()          # the chosen platform's manifest
            config = source.config()              # digest-verified bytes
            paths = source.fetch_blobs(source.layers(), blob_dir)   # parallel, verified
            for layer, path in zip(source.layers(), paths):
                with decompress(open(path, "rb"), layer.compression) as tar: ...

An implementation must: verify every blob and manifest it hands out against its digest
(:class:`VerifiedReader` does it while streaming; a mismatch raises BlobDigestError and
stores nothing), raise the typed errors of :mod:`pypod_core.errors` (NoSuchImageError,
RegistryError, RegistryAuthError, ImageFormatError), and fetch nothing in
:meth:`ImageTransport.open_source` beyond what it needs to name the image, so that the
signature policy is checked before any blob is fetched.  It must not write outside the
directory :meth:`ImageSource.fetch_blobs` is given.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, ClassVar

import attrs

from pypod_core.errors import (
    BlobDigestError,
    ImageFormatError,
    InvalidArgError,
    PypodError,
    UnsupportedTransportError,
)
from pypod_core.host.registries import Resolution

if TYPE_CHECKING:
    from pypod_core.host.auth import Credentials
    from pypod_core.host.policy import Policy

# -- media types -----------------------------------------------------------------------

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_V1_MANIFESTS = ("application/vnd.docker.distribution.manifest.v1+json",
                       "application/vnd.docker.distribution.manifest.v1+prettyjws")
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
#: Each layer media type and its compression ("gzip", "zstd" or "none").
LAYER_TYPES = {
    "application/vnd.oci.image.layer.v1.tar": "none",
    "application/vnd.oci.image.layer.v1.tar+gzip": "gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd": "zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip": "gzip",
    "application/vnd.docker.image.rootfs.diff.tar": "none",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip": "gzip",
}
#: The largest manifest pypod reads (containers/image's limit too).
MAX_MANIFEST_SIZE = 4 << 20


# -- platforms -------------------------------------------------------------------------

_ARCHES = {"x86_64": ("amd64", ""), "amd64": ("amd64", ""), "aarch64": ("arm64", "v8"),
           "arm64": ("arm64", "v8"), "armv7l": ("arm", "v7"), "armv6l": ("arm", "v6"),
           "i386": ("386", ""), "i686": ("386", ""), "ppc64le": ("ppc64le", ""),
           "s390x": ("s390x", ""), "riscv64": ("riscv64", "")}


@attrs.frozen
class Platform:
    """An image platform as an index names it: ``os``, ``architecture``, ``variant``."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def host(cls) -> Platform:
        """This machine's platform, in Go's names (x86_64 is ``amd64``)."""
        machine = os.uname().machine  # not platform.machine(): that module costs ~5 ms
        arch, variant = _ARCHES.get(machine, (machine, ""))
        return cls("linux", arch, variant)

    @classmethod
    def choose(cls, platform: str = "", os: str = "", arch: str = "",
               variant: str = "") -> Platform:
        """The platform of ``--platform OS/ARCH[/VARIANT]`` or ``--os/--arch/--variant``
        (unset parts: the host's); InvalidArgError for a malformed ``--platform``."""
        host = cls.host()
        if platform:
            if os or arch or variant:
                raise InvalidArgError("--platform conflicts with --arch, --os and --variant")
            parts = platform.split("/")
            if len(parts) not in (2, 3) or not all(parts):
                raise InvalidArgError(f"invalid platform {platform!r}: expected "
                                      "OS/ARCH[/VARIANT]")
            os, arch = parts[0], parts[1]
            variant = parts[2] if len(parts) == 3 else ""
        arch = arch or host.architecture
        if not variant and arch == host.architecture:
            variant = host.variant
        return cls(os or host.os, arch, variant)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@attrs.frozen(kw_only=True)
class PullOptions:
    """What the caller of a transport chooses (``pull``'s and ``run``'s flags).

    ``tls_verify`` None follows registries.conf (``insecure = true`` allows plain http
    and unverified TLS); True or False is ``--tls-verify``.  ``registries_conf`` empty
    is the transport's default (the runtime's config).  ``parallel`` is how many blobs
    are fetched at once; ``retries`` how often a transient failure is retried."""

    platform: Platform = attrs.field(factory=Platform.host)
    tls_verify: bool | None = None
    authfile: str = ""
    creds: str = ""
    registries_conf: str = ""
    cert_dir: str = ""
    parallel: int = 6
    retries: int = 3


@attrs.frozen(kw_only=True)
class PushOptions:
    """What the caller of a destination chooses (``push``'s and ``save``'s flags).

    ``tls_verify``, ``authfile``, ``creds``, ``registries_conf`` and ``cert_dir`` are as
    for :class:`PullOptions`.  ``format`` is the manifest format to write: ``""`` keeps
    the stored one, ``"oci"`` or ``"v2s2"`` converts (``--format``);
    ``compression`` is the compression of layers written uncompressed in the store
    (``gzip``, ``zstd``; ``""`` is the destination's default).  ``compress_layers``
    overrides the destination's :attr:`ImageDestination.compress_layers` (None keeps
    it): True compresses layers stored uncompressed (``save --compress``), False sends
    them as stored (``save --uncompressed``).  ``retries`` is how often a transient
    failure is retried."""

    tls_verify: bool | None = None
    authfile: str = ""
    creds: str = ""
    registries_conf: str = ""
    cert_dir: str = ""
    format: str = ""
    compression: str = ""
    compress_layers: bool | None = None
    retries: int = 3


# -- manifests and descriptors ---------------------------------------------------------


@attrs.frozen
class Manifest:
    """A manifest (or index) as fetched: its bytes, media type and digest."""

    raw: bytes
    media_type: str
    digest: str

    def json(self) -> dict[str, Any]:
        """The parsed document; ImageFormatError if it is not a JSON object."""
        try:
            data = json.loads(self.raw)
        except ValueError as exc:
            raise ImageFormatError(f"manifest {self.digest}: invalid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ImageFormatError(f"manifest {self.digest}: not a JSON object")
        return data


@attrs.frozen
class BlobDescriptor:
    """A blob of an image: digest, size, media type, and for a layer its compression
    (``gzip``, ``zstd`` or ``none``; empty for a config)."""

    digest: str
    size: int
    media_type: str
    compression: str = ""
    platform: Platform | None = None


def sniff_media_type(raw: bytes, declared: str = "") -> str:
    """The media type of a manifest: its ``mediaType`` field, else the transport's
    ``declared`` one (Content-Type), else guessed from its shape (OCI manifests may omit
    the field: an index has ``manifests``, an image manifest ``layers``)."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise ImageFormatError("manifest is not valid JSON") from None
    if not isinstance(data, dict):
        raise ImageFormatError("manifest is not a JSON object")
    kind = data.get("mediaType")
    if isinstance(kind, str) and kind:
        return kind
    declared = declared.partition(";")[0].strip()
    if declared in MANIFEST_TYPES + INDEX_TYPES + DOCKER_V1_MANIFESTS:
        return declared
    if data.get("schemaVersion") == 1:
        return DOCKER_V1_MANIFESTS[1]
    if "manifests" in data:
        return OCI_INDEX
    if "layers" in data and "config" in data:
        return OCI_MANIFEST
    raise ImageFormatError(f"unrecognised manifest (media type {declared or 'none'!r})")


def _descriptor(entry: Any, where: str, layer: bool) -> BlobDescriptor:
    if not isinstance(entry, dict) or not isinstance(entry.get("digest"), str) \
            or not isinstance(entry.get("size", 0), int):
        raise ImageFormatError(f"{where}: malformed descriptor {entry!r}")
    kind = str(entry.get("mediaType", ""))
    compression = ""
    if layer:
        if kind not in LAYER_TYPES:
            raise ImageFormatError(f"{where}: unsupported layer media type {kind!r} "
                                   f"(blob {entry['digest']})")
        compression = LAYER_TYPES[kind]
    return BlobDescriptor(entry["digest"], int(entry.get("size", -1)), kind, compression)


def parse_image_manifest(manifest: Manifest) -> tuple[BlobDescriptor, list[BlobDescriptor]]:
    """The config and layer descriptors of an OCI or Docker v2 schema 2 manifest."""
    if manifest.media_type in DOCKER_V1_MANIFESTS:
        raise ImageFormatError(f"manifest {manifest.digest}: Docker schema 1 images are "
                               "deprecated and not supported")
    if manifest.media_type not in MANIFEST_TYPES:
        raise ImageFormatError(f"manifest {manifest.digest}: not an image manifest "
                               f"({manifest.media_type})")
    data = manifest.json()
    layers = data.get("layers")
    if not isinstance(layers, list):
        raise ImageFormatError(f"manifest {manifest.digest}: no layers list")
    config = _descriptor(data.get("config"), f"manifest {manifest.digest}", False)
    return config, [_descriptor(entry, f"manifest {manifest.digest}", True)
                    for entry in layers]


def parse_index(manifest: Manifest) -> list[BlobDescriptor]:
    """The entries of an OCI index or Docker manifest list, each with its platform."""
    entries = manifest.json().get("manifests")
    if not isinstance(entries, list):
        raise ImageFormatError(f"index {manifest.digest}: no manifests list")
    found = []
    for entry in entries:
        desc = _descriptor(entry, f"index {manifest.digest}", False)
        plat = entry.get("platform") or {}
        if isinstance(plat, dict) and plat.get("architecture"):
            desc = attrs.evolve(desc, platform=Platform(
                str(plat.get("os", "")), str(plat["architecture"]),
                str(plat.get("variant", ""))))
        found.append(desc)
    return found


#: Variants an image may have and still run on a machine of a (arch, variant).
_COMPATIBLE = {("arm", "v8"): ("v8", "v7", "v6", "v5"), ("arm", "v7"): ("v7", "v6", "v5"),
               ("arm", "v6"): ("v6", "v5"), ("arm64", "v8"): ("v8", "")}


def choose_platform(entries: Sequence[BlobDescriptor], wanted: Platform,
                    where: str = "") -> BlobDescriptor:
    """The entry of an index for ``wanted``: its exact variant first, then a variant
    that runs there (an arm64 image without one on a v8 host), in index order.
    ImageFormatError naming the platform when none fits, as podman's."""
    variants = _COMPATIBLE.get((wanted.architecture, wanted.variant),
                               (wanted.variant, ""))
    for variant in variants:
        for entry in entries:
            p = entry.platform
            if p and p.os == wanted.os and p.architecture == wanted.architecture \
                    and (p.variant == variant or (not wanted.variant and not variant)):
                return entry
    raise ImageFormatError(
        f"choosing an image from manifest list {where}: no image found in manifest list "
        f"for architecture {wanted.architecture}, variant \"{wanted.variant}\", "
        f"OS {wanted.os}")


# -- verified, decompressed streams ----------------------------------------------------


def hasher(digest: str) -> Any:
    """A hashlib object for ``digest``'s algorithm (sha256, sha512); ImageFormatError
    for another."""
    algorithm = digest.partition(":")[0]
    if algorithm not in ("sha256", "sha512"):
        raise ImageFormatError(f"unsupported digest algorithm in {digest!r}")
    return hashlib.new(algorithm)


class VerifiedReader(io.RawIOBase):
    """A binary stream that hashes what it reads from ``raw`` and, at its end, raises
    BlobDigestError naming the blob when the digest (or the size, if known) is not
    the expected one.  Reading past the expected size fails at once."""

    def __init__(self, raw: BinaryIO, digest: str, size: int = -1, what: str = "blob"):
        self._raw = raw
        self.digest = digest
        self._size = size
        self._what = what
        self._hash = hasher(digest)
        self._count = 0
        self.verified = False

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all the rest for -1), hashed on the way; b"" at the
        end, once the digest is checked.  (No copy: the underlying read's bytes.)"""
        if size is None or size < 0:
            # In pieces: a raw stream's read(-1) may wait for its connection's end.
            chunks = []
            while chunk := self.read(1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        data = self._raw.read(size)
        if not data:
            if size:
                self._finish()
            return b""
        self._hash.update(data)
        self._count += len(data)
        if 0 <= self._size < self._count:
            raise BlobDigestError(f"{self._what} {self.digest}: more data than its size "
                                  f"{self._size}: refused")
        return bytes(data)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def _finish(self) -> None:
        if self.verified:
            return
        if 0 <= self._size != self._count:
            raise BlobDigestError(f"{self._what} {self.digest}: got {self._count} bytes, "
                                  f"expected {self._size}: refused")
        got = f"{self.digest.partition(':')[0]}:{self._hash.hexdigest()}"
        if got != self.digest:
            raise BlobDigestError(f"{self._what} {self.digest}: digest mismatch, the "
                                  f"content is {got}: refused")
        self.verified = True

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def verified_bytes(raw: bytes, digest: str, what: str = "blob") -> bytes:
    """``raw`` if its digest is ``digest``; BlobDigestError naming it otherwise."""
    h = hasher(digest)
    h.update(raw)
    got = f"{digest.partition(':')[0]}:{h.hexdigest()}"
    if got != digest:
        raise BlobDigestError(f"{what} {digest}: digest mismatch, the content is {got}: "
                              "refused")
    return raw


def decompress(stream: BinaryIO, compression: str, what: str = "layer") -> BinaryIO:
    """A stream of ``stream``'s uncompressed bytes (``gzip``, ``zstd`` or ``none``),
    decompressed as it is read.  It reads ``stream`` to its end, so a
    :class:`VerifiedReader` below gets to check its digest, and closing it closes
    ``stream``.  Corrupt compressed data raises ImageFormatError naming ``what``.
    zstd needs ``compression.zstd`` (Python 3.14) or ``backports.zstd``, imported only
    here."""
    if compression == "none":
        return stream
    if compression == "gzip":
        from pypod_core.host.inflate import GzipReader  # lazy: only layers (~0.3 ms, zlib)

        inner: Any = GzipReader(stream)
    elif compression == "zstd":
        try:
            # lazy: only a zstd layer (~0.2 ms)
            from compression import zstd  # type: ignore[import-not-found]
        except ImportError:
            try:
                # lazy: only a zstd layer before Python 3.14 (~0.2 ms)
                from backports import zstd  # type: ignore[no-redef]
            except ImportError:
                raise ImageFormatError("a zstd layer needs the backports.zstd package on "
                                       "Python < 3.14") from None
        inner = zstd.ZstdFile(stream, mode="rb")
    else:
        raise ImageFormatError(f"unsupported layer compression {compression!r}")
    reader = _Decompressed(inner, stream, f"{what}: corrupt {compression} data")
    return io.BufferedReader(reader, 1 << 16)  # type: ignore[return-value]


class _Decompressed(io.RawIOBase):
    """A decompressor's stream that closes the compressed stream with it and reports
    corrupt data as ImageFormatError (gzip and zstd raise OSError, EOFError, ...)."""

    def __init__(self, inner: Any, raw: BinaryIO, what: str):
        self._inner = inner
        self._raw = raw
        self._what = what

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return int(self._inner.readinto(buffer))
        except PypodError:  # a digest mismatch or a registry's error below
            raise
        except Exception as exc:  # OSError, EOFError, zlib.error, zstd.ZstdError
            raise ImageFormatError(f"{self._what}: {exc}") from None

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                self._raw.close()
        super().close()


# -- sources and transports ------------------------------------------------------------


class ImageSource(ABC):
    """One image of a transport, opened: its manifest, config and blobs.

    ``manifest()`` fetches once and returns the same manifest every call.  Use it as a
    context manager, or call :meth:`close`."""

    #: The transport's name (``docker``) and the fully qualified, resolved reference
    #: (``127.0.0.1:5000/pypod-test/busybox:latest``).
    transport: str
    reference: str

    @abstractmethod
    def manifest(self) -> Manifest:
        """The image manifest for the chosen platform (chosen from the index, if the
        reference names one), digest-verified."""

    def index(self) -> Manifest | None:
        """The index (manifest list) the manifest was chosen from, or None."""
        return None

    def names(self) -> tuple[str, ...]:
        """The names the image is stored under when pulled or loaded from here, as
        podman names it for this transport (a registry: the resolved reference; an
        archive: the names it records; a ``dir:``: none, the image is known by its
        id).  Short names are put under ``localhost/`` by the engine."""
        return (self.reference,)

    @abstractmethod
    def open_blob(self, descriptor: BlobDescriptor) -> BinaryIO:
        """A stream of the blob's raw (compressed) bytes that raises BlobDigestError at
        its end on a mismatch (a :class:`VerifiedReader`)."""

    def close(self) -> None:  # noqa: B027 (nothing to release by default)
        """Release connections and files; the source cannot be used after."""

    def is_transient(self, error: BaseException) -> bool:
        """Whether ``error`` while reading a blob is worth another try."""
        return False

    def config_descriptor(self) -> BlobDescriptor:
        """The config's descriptor, from the manifest."""
        return parse_image_manifest(self.manifest())[0]

    def layers(self) -> list[BlobDescriptor]:
        """The layers, base first, from the manifest."""
        return parse_image_manifest(self.manifest())[1]

    def config(self) -> bytes:
        """The config blob, digest-verified (fetched once, then kept)."""
        cached: bytes | None = self.__dict__.get("_config_bytes")
        if cached is None:
            with self.open_blob(self.config_descriptor()) as stream:
                cached = self.__dict__["_config_bytes"] = stream.read()
        return cached

    def diff_ids(self) -> list[str]:
        """The uncompressed digests of the layers, from the config's ``rootfs``."""
        try:
            ids = json.loads(self.config())["rootfs"]["diff_ids"]
        except (ValueError, KeyError, TypeError):
            raise ImageFormatError(f"{self.reference}: config has no rootfs.diff_ids") \
                from None
        if len(ids) != len(self.layers()):
            raise ImageFormatError(f"{self.reference}: config lists {len(ids)} diff IDs for "
                                   f"{len(self.layers())} layers")
        return list(ids)

    def fetch_blob(self, descriptor: BlobDescriptor, path: str, retries: int = 3, *,
                   progress: Callable[[int], None] | None = None) -> str:
        """Download one blob to ``path``, verified: a partial or mismatching download
        leaves nothing there.  A transient failure is tried again ``retries`` times.
        ``progress(done)`` is told the bytes downloaded so far after each chunk (from 0
        again on a retry); an exception it raises ends the download."""
        tmp = f"{path}.partial-{os.getpid()}-{threading.get_ident()}-{id(descriptor)}"
        for attempt in range(retries + 1):
            try:
                with self.open_blob(descriptor) as stream, open(tmp, "wb") as out:
                    done = 0
                    while chunk := stream.read(1 << 20):
                        out.write(chunk)
                        if progress is not None:
                            done += len(chunk)
                            progress(done)
                os.replace(tmp, path)
                return path
            except BaseException as exc:
                _unlink(tmp)
                if attempt == retries or not self.is_transient(exc):
                    raise
        raise AssertionError("unreachable")

    def fetch_blobs(self, descriptors: Iterable[BlobDescriptor], directory: str, *,
                    parallel: int = 6, retries: int = 3,
                    progress: Callable[[BlobDescriptor], None] | None = None) -> list[str]:
        """Download blobs into ``directory`` (each as ``<algorithm>-<hex>``), ``parallel``
        at a time, each verified; the paths, in the descriptors' order.  On an error the
        blobs this call stored are removed and the first error is raised."""
        descs = list(descriptors)
        paths = [os.path.join(directory, d.digest.replace(":", "-", 1)) for d in descs]

        def one(item: tuple[BlobDescriptor, str]) -> str:
            if progress is not None:
                progress(item[0])
            return self.fetch_blob(item[0], item[1], retries)

        results: list[str | BaseException | None] = [None] * len(descs)
        todo = iter(range(len(descs)))
        lock = threading.Lock()

        def worker() -> None:
            # Plain threads, not concurrent.futures: that imports logging (~10 ms).
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                try:
                    results[i] = one((descs[i], paths[i]))
                except BaseException as exc:  # reported below, in order
                    results[i] = exc

        threads = [threading.Thread(target=worker, daemon=True)
                   for _ in range(max(1, min(parallel, len(descs))))]
        for thread in threads[1:]:
            thread.start()
        worker()  # this thread works too
        for thread in threads[1:]:
            thread.join()
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            for path in paths:
                _unlink(path)
            raise errors[0]
        return paths

    def __enter__(self) -> ImageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ImageDestination(ABC):
    """Where images are written, opened: containers/image's ``ImageDestination``.

    The engine copies an image into it as: for each layer, then the config,
    ``has_blob`` (skip it), else ``put_blob`` with a stream of the blob's bytes;
    then ``put_manifest`` with the manifest whose blobs are all there; then
    :meth:`commit`.  A destination that holds several images (``multi_image``: an
    archive of ``save -m``) takes several manifests before its one commit.  Closing a
    destination that was not committed discards what it wrote where it can (a partial
    archive is removed; a registry keeps uploaded blobs, which is harmless).  Use it as
    a context manager, or call :meth:`close`.

    An implementation verifies each blob it stores against the descriptor's digest
    (:class:`VerifiedReader`), raises the typed errors of :mod:`pypod_core.errors`,
    and writes nothing outside its reference's location."""

    #: The transport's name and the resolved reference written to.
    transport: str
    reference: str
    #: Whether the destination takes more than one image.
    multi_image: ClassVar[bool] = False
    #: The manifest media types the destination takes, preferred first (an OCI layout
    #: only OCI's; a docker-archive only Docker's; a registry both).
    manifest_types: ClassVar[tuple[str, ...]] = (OCI_MANIFEST, DOCKER_MANIFEST)
    #: Whether layers stored uncompressed are compressed on the way here (``push
    #: --compression-format``); False for one that keeps what it is given (``dir:``)
    #: or stores layers uncompressed itself (``docker-archive:``).
    compress_layers: ClassVar[bool] = True

    @abstractmethod
    def has_blob(self, descriptor: BlobDescriptor) -> bool:
        """Whether the destination has the blob already (the copy skips it)."""

    @abstractmethod
    def put_blob(self, descriptor: BlobDescriptor, stream: BinaryIO, *,
                 progress: Callable[[int], None] | None = None) -> None:
        """Store the blob read from ``stream`` (its raw, possibly compressed bytes),
        verified against ``descriptor``'s digest and size; ``progress(done)`` is told
        the bytes written so far."""

    @abstractmethod
    def put_manifest(self, manifest: Manifest, *, names: Sequence[str] = ()) -> None:
        """Store the image's manifest, after its blobs.  ``names`` are the image's
        fully qualified names, for destinations that record them (an archive's
        RepoTags, an OCI layout's ``org.opencontainers.image.ref.name``); a registry
        tags the manifest with its reference's tag or pushes it by digest."""

    def commit(self) -> None:  # noqa: B027 (nothing to finish by default)
        """Make what was written visible (an archive's index and its rename); after
        it, :meth:`close` discards nothing."""

    def close(self) -> None:  # noqa: B027 (nothing to release by default)
        """Release connections and files; discard an uncommitted write."""

    def __enter__(self) -> ImageDestination:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class ImageTransport(ABC):
    """A transport: opens the images of references written after its prefix."""

    #: The transport's name, as references and policy.json write it (``docker``).
    name: ClassVar[str]

    def candidates(self, reference: str, options: PullOptions, *,
                   tty: bool = False) -> Resolution:
        """The references to try for ``reference``, in order (the ``docker`` transport
        resolves short names); by default just ``reference``."""
        return Resolution((reference,))

    def open_source(self, reference: str, options: PullOptions,
                    policy: Policy | None = None) -> ImageSource:
        """Open ``reference`` (no prefix) and check it against ``policy``
        (PolicyError) before anything of it is fetched."""
        source = self._open(reference, options)
        if policy is not None:
            try:
                policy.check(self.name, self.policy_scope(source))
            except BaseException:
                source.close()
                raise
        return source

    def policy_scope(self, source: ImageSource) -> str:
        """The scope policy.json matches ``source`` by (default: its reference)."""
        return source.reference

    @abstractmethod
    def _open(self, reference: str, options: PullOptions) -> ImageSource:
        """Build the source of ``reference``; fetch no blob."""

    def image_references(self, reference: str) -> list[str]:
        """The references (no prefix) of every image ``reference`` holds, for ``load``:
        a multi-image archive lists each of its images; by default ``[reference]``."""
        return [reference]

    def recognizes(self, path: str) -> bool:
        """Whether the file or directory ``path`` is in this transport's format (how
        ``load`` sniffs an archive); by default False, the transport is not loaded
        from.  It reads no more than it needs to tell."""
        return False

    def open_destination(self, reference: str, options: PushOptions) -> ImageDestination:
        """Open ``reference`` (no prefix) for writing; UnsupportedTransportError for a
        transport that only reads."""
        raise UnsupportedTransportError(f"the {self.name} transport cannot be written "
                                        f"to (destination {reference!r})")

    def check_auth(self, registry: str, credentials: Credentials | None, *,
                   tls_verify: bool | None = None, registries_conf: str = "",
                   cert_dir: str = "") -> None:
        """Check ``credentials`` against ``registry`` (a host), as ``login`` does
        before it writes them: return if the registry accepts them,
        RegistryUnauthorizedError if it refuses them, RegistryError if it cannot be
        asked.  ``tls_verify`` None follows registries.conf.  Transports without
        registries raise UnsupportedTransportError (the default)."""
        raise UnsupportedTransportError(f"the {self.name} transport has no registries "
                                        f"to log in to ({registry!r})")


def split_transport(reference: str, transports: Iterable[str]) -> tuple[str, str]:
    """``(transport, rest)`` of ``reference``: ``docker://x`` -> ``("docker", "x")``,
    ``oci:dir`` -> ``("oci", "dir")`` when ``oci`` is among ``transports``; a reference
    without a known prefix (``busybox:latest``, ``host:5000/x``) is ``docker``'s."""
    prefix, colon, rest = reference.partition(":")
    if colon and prefix == "docker":
        if not rest.startswith("//"):
            raise InvalidArgError(f"invalid image reference {reference!r}: the docker "
                                  "transport is written docker://NAME")
        return "docker", rest[2:]
    if colon and prefix in set(transports):
        return prefix, rest
    return "docker", reference
