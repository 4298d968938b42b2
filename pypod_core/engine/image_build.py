"""Images made locally: ``commit`` (a container's changes as a new layer over its
image), ``import`` (tarballs as an image's layers) and ``export`` (a container's whole
file system as a tar), as podman 4.3.1 does them.

Every image this module stores is complete in the image store, as a pulled one: each
layer's uncompressed tar is a blob (``application/vnd.oci.image.layer.v1.tar``, or
docker's ``...rootfs.diff.tar`` for ``format="docker"``; its digest is its diff id),
and so are the config and the manifest, so push and save copy it from its record.
The record is written last: a failure leaves no image (at most blobs and a layer
no record names, which the next image that shares them reuses).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

import attrs

from pypod_core.errors import (
    CtrStateInvalidError,
    ImageFormatError,
    ImageStoreError,
    InvalidArgError,
)
from pypod_core.host.private import private_dir
from pypod_core.model import ContainerStatus, Image, ImageLayer
from pypod_core.plugin.graph_driver import chain_id

if TYPE_CHECKING:
    from pypod_core.engine.container import Container
    from pypod_core.engine.image_store import ImageStore
    from pypod_core.engine.runtime import Runtime
    from pypod_core.plugin.graph_driver import GraphDriver

#: The media types of the two manifest formats pypod writes (``--format oci|docker``).
MEDIA = {
    "oci": {"manifest": "application/vnd.oci.image.manifest.v1+json",
            "config": "application/vnd.oci.image.config.v1+json",
            "tar": "application/vnd.oci.image.layer.v1.tar",
            "gzip": "application/vnd.oci.image.layer.v1.tar+gzip"},
    "docker": {"manifest": "application/vnd.docker.distribution.manifest.v2+json",
               "config": "application/vnd.docker.container.image.v1+json",
               "tar": "application/vnd.docker.image.rootfs.diff.tar",
               "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip"},
}
#: podman's history entry of a commit (buildah's import builder's ``created_by``).
COMMIT_CREATED_BY = "/bin/sh"
#: Compressed tarballs ``import`` takes, by their first bytes.
_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"),
          (b"\x28\xb5\x2f\xfd", "zstd"))


def now_rfc3339() -> str:
    """The time now as an image config's ``created`` (RFC 3339, UTC, nanoseconds as
    Go writes them)."""
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + \
        f".{ns % 10**9:09d}Z"


# -- blobs and layers -------------------------------------------------------------------


def store_stream(store: ImageStore, stream: BinaryIO) -> tuple[str, int]:
    """Store the uncompressed tar ``stream`` as a blob; its digest and size (hashed
    while written)."""
    def fill(out: BinaryIO) -> Any:
        sha = hashlib.sha256()
        while chunk := stream.read(1 << 20):
            sha.update(chunk)
            out.write(chunk)
        return sha

    return _store_file(store, fill)


def store_diff(store: ImageStore, driver: GraphDriver, ctr_id: str) -> tuple[str, int]:
    """Store the container's changes (the driver's layer tar) as a blob, written once:
    straight into the blob's file, then hashed from the page cache (the driver sends
    file contents by sendfile(2), so they never pass through Python on the way in).
    Its digest and size."""
    def fill(out: BinaryIO) -> Any:
        driver.write_diff(ctr_id, out)
        out.flush()
        out.seek(0)
        return hashlib.file_digest(out, "sha256")  # type: ignore[arg-type]  # a real file

    return _store_file(store, fill)


def _store_file(store: ImageStore, fill: Callable[[BinaryIO], Any]) -> tuple[str, int]:
    """A blob written by ``fill(file)`` (which returns the hash of what it wrote) into a
    temporary file beside the blobs, made durable, renamed to its digest."""
    directory = os.path.join(store.blob_dir, "sha256")
    tmp = os.path.join(directory, f".layer-{os.getpid()}-{os.urandom(4).hex()}.tmp")
    try:
        private_dir(directory)
        with open(tmp, "w+b") as out:
            sha = fill(out)
            out.flush()
            size = out.seek(0, os.SEEK_END)
            os.fsync(out.fileno())
        digest = "sha256:" + sha.hexdigest()
        os.replace(tmp, store.blob_path(digest))
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise ImageStoreError(f"image store {store.blob_dir}: writing a layer: "
                                  f"{exc.strerror or exc}") from None
        raise
    return digest, size


def apply_blob(store: ImageStore, driver: GraphDriver, digest: str, size: int,
               parent: str | None, media_type: str) -> ImageLayer:
    """Apply the stored uncompressed layer blob ``digest`` over ``parent``."""
    chain = chain_id(parent, digest)
    with open(store.blob_path(digest), "rb") as f:
        info = driver.apply_layer(chain, parent, f)
    return ImageLayer(digest=digest, size=size, media_type=media_type, diff_id=digest,
                      chain_id=chain, diff_size=info.diff_size)


def record_image(store: ImageStore, config: dict[str, Any], layers: Sequence[ImageLayer],
                 names: Sequence[str], fmt: str = "oci") -> Image:
    """Write the config and manifest blobs of an image of ``layers`` and commit its
    record under ``names`` (normalised)."""
    # lazy: only a new image (image_store ~4 ms)
    from pypod_core.engine.image_store import normalize_name

    wanted = tuple(normalize_name(name) for name in names)
    media = MEDIA[fmt]
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_digest = store.write_blob(config_bytes)
    manifest = {"schemaVersion": 2, "mediaType": media["manifest"],
                "config": {"mediaType": media["config"], "digest": config_digest,
                           "size": len(config_bytes)},
                "layers": [{"mediaType": x.media_type, "digest": x.digest, "size": x.size}
                           for x in layers]}
    manifest_digest = store.write_blob(json.dumps(manifest, sort_keys=True).encode())
    return store.commit(Image(
        id=config_digest.removeprefix("sha256:"), names=wanted, digest=manifest_digest,
        digests=(manifest_digest,), manifest_type=media["manifest"], layers=tuple(layers),
        config=config, created=config.get("created", ""),
        size=sum(x.diff_size for x in layers)))


def drop_unused_blobs(store: ImageStore, digests: Sequence[str]) -> None:
    """Remove the blobs ``digests`` that no image record names (what a failed import or
    commit wrote)."""
    used = {d for image in store.images()
            for d in (image.digest, *image.digests, "sha256:" + image.id,
                      *(layer.digest for layer in image.layers))}
    for digest in set(digests) - used:
        with contextlib.suppress(OSError):
            os.unlink(store.blob_path(digest))


def _in_format(layer: ImageLayer, fmt: str) -> ImageLayer:
    """A base image's layer named with ``fmt``'s media type for the same bytes."""
    for kind in ("tar", "gzip"):
        for media in MEDIA.values():
            if layer.media_type == media[kind]:
                return attrs.evolve(layer, media_type=MEDIA[fmt][kind])
    return layer


# -- import --------------------------------------------------------------------------


def plain_tar(store: ImageStore, path: str) -> tuple[str, int]:
    """The tarball ``path`` (plain, gzip, bzip2, xz or zstd) stored as an uncompressed
    layer blob: its digest and size.  ImageFormatError if it cannot be decompressed."""
    with open(path, "rb") as f:
        head = f.read(8)
        f.seek(0)
        kind = next((k for magic, k in _MAGIC if head.startswith(magic)), "")
        try:
            if not kind:
                return store_stream(store, f)
            with _decompressor(kind, f) as plain:
                return store_stream(store, plain)
        except (OSError, EOFError, ValueError) as exc:
            raise ImageFormatError(f"{path}: cannot decompress ({kind}): {exc}") from None


def _decompressor(kind: str, f: BinaryIO) -> Any:
    if kind == "gzip":
        import gzip  # lazy: only a gzip layer (~1.4 ms)

        return gzip.GzipFile(fileobj=f)
    if kind == "bzip2":
        import bz2  # lazy: only a bzip2 layer (~0.9 ms)

        return bz2.BZ2File(f)
    if kind == "xz":
        import lzma  # lazy: only an xz layer (~1.2 ms)

        return lzma.LZMAFile(f)
    # lazy: only a zstd layer (the image contract ~17 ms)
    from pypod_core.plugin.image_transport import decompress

    return decompress(f, "zstd")


def import_layers(runtime: Runtime, paths: Sequence[str], config: Mapping[str, Any],
                  names: Sequence[str], changes: Sequence[str], message: str,
                  platform: Mapping[str, str]) -> Image:
    """``runtime.import_image``: each tarball of ``paths`` a layer, with podman's
    history entry (``ADD file:<digest> in /``, the ``message`` as its comment)."""
    # lazy: only import (~1 ms, the image contract ~17 ms)
    from pypod_core.engine.image_changes import (
        IMPORT_INSTRUCTIONS,
        apply_changes,
        parse_changes,
    )
    from pypod_core.plugin.image_transport import Platform

    fields = parse_changes(changes, IMPORT_INSTRUCTIONS)  # before anything is stored
    store, driver = runtime.image_store, runtime.graph_driver
    layers: list[ImageLayer] = []
    written: list[str] = []
    try:
        for path in paths:
            digest, size = plain_tar(store, path)
            written.append(digest)
            parent = layers[-1].chain_id if layers else None
            layers.append(apply_blob(store, driver, digest, size, parent,
                                     MEDIA["oci"]["tar"]))
    except BaseException:
        drop_unused_blobs(store, written)
        raise
    host = Platform.host()
    created = now_rfc3339()
    full: dict[str, Any] = {"architecture": host.architecture, "os": host.os,
                            "created": created, **dict(config)}
    full.update({k: v for k, v in platform.items() if v})
    if fields or "config" in full:
        full["config"] = apply_changes(dict(full.get("config") or {}), fields)
    if "history" not in full:  # a caller's own history is kept as given
        full["history"] = [_import_entry(full["created"], layer, message)
                           for layer in layers]
    full["rootfs"] = {"type": "layers", "diff_ids": [x.diff_id for x in layers]}
    return record_image(store, full, layers, names)


def _import_entry(created: str, layer: ImageLayer, message: str) -> dict[str, str]:
    """podman's history entry of an imported tarball."""
    entry = {"created": created, "created_by": f"/bin/sh -c #(nop) ADD file:"
                                             f"{layer.diff_id.removeprefix('sha256:')} in /"}
    if message:
        entry["comment"] = message
    return entry


# -- commit ---------------------------------------------------------------------------


def commit(runtime: Runtime, ctr: Container, name: str, changes: Sequence[str],
           pause: bool, message: str, author: str, fmt: str) -> Image:
    """``runtime.commit_container``."""
    # lazy: only commit (~1 ms, image_store ~4 ms, rootfs)
    from pypod_core.engine.image_changes import parse_changes

    if fmt not in MEDIA:
        raise InvalidArgError(f'unrecognized image type "{fmt}" (oci or docker)')
    if message and fmt != "docker":
        raise InvalidArgError("messages are only compatible with the docker image format "
                              "(-f docker)")
    fields = parse_changes(changes)
    if name:
        # lazy: only commit (image_store ~4 ms)
        from pypod_core.engine.image_store import normalize_name

        normalize_name(name)  # a bad name before any work
    if not ctr.config.image_id:
        raise InvalidArgError("cannot commit a container that uses an exploded rootfs")
    base = runtime.get_image(ctr.config.image_id)
    with ctr.locked(), _paused(ctr, pause):
        from pypod_core.engine.rootfs import driver_named  # lazy: only commit (~0.3 ms)

        driver = driver_named(runtime, ctr.config.graph_driver)
        digest, size = store_diff(runtime.image_store, driver, ctr.id)
    try:
        layer = apply_blob(runtime.image_store, runtime.graph_driver, digest, size,
                           base.top_layer, MEDIA[fmt]["tar"])
    except BaseException:
        drop_unused_blobs(runtime.image_store, [digest])
        raise
    config = _committed_config(base, ctr, fields, message, author)
    layers = [*(_in_format(x, fmt) for x in base.layers), layer]
    config["rootfs"] = {"type": "layers", "diff_ids": [x.diff_id for x in layers]}
    return record_image(runtime.image_store, config, layers, [name] if name else [], fmt)


@contextlib.contextmanager
def _paused(ctr: Container, pause: bool) -> Any:
    """The container paused for the block if it runs and ``pause`` says so."""
    if not (pause and ctr.state.state is ContainerStatus.RUNNING):
        yield
        return
    ctr.pause()
    try:
        yield
    finally:
        with contextlib.suppress(CtrStateInvalidError):
            ctr.unpause()


def _committed_config(base: Image, ctr: Container, fields: dict[str, Any], message: str,
                      author: str) -> dict[str, Any]:
    """The new image's config: the base image's, with the container's settings (as
    podman: its entrypoint, command, environment, ports, labels, user and working
    directory), then the ``--change`` fields; a history entry added."""
    # lazy: only commit (bundle ~3 ms, image_changes ~1 ms)
    from pypod_core.engine.bundle import DEFAULT_PATH
    from pypod_core.engine.image_changes import apply_changes

    cfg = ctr.config
    run = dict(base.run_config)
    run["Entrypoint"] = list(cfg.entrypoint) or None
    run["Cmd"] = list(cfg.command[len(cfg.entrypoint):]) or None
    env = {"PATH": DEFAULT_PATH, "container": "pypod",
           **({"TERM": "xterm"} if cfg.terminal else {}), **cfg.env}
    run["Env"] = [f"{k}={v}" for k, v in env.items()]
    ports = dict(run.get("ExposedPorts") or {})
    ports.update({f"{p.container_port}/{p.protocol}": {} for p in cfg.port_mappings})
    if ports:
        run["ExposedPorts"] = ports
    if cfg.labels:
        run["Labels"] = dict(cfg.labels)
    if cfg.user:
        run["User"] = cfg.user
    run["WorkingDir"] = cfg.workdir or "/"
    run = {k: v for k, v in apply_changes(run, fields).items() if v is not None}
    created = now_rfc3339()
    config = {k: v for k, v in base.config.items() if k not in ("history", "rootfs")}
    config.update({"created": created, "config": run})
    if author:
        config["author"] = author
    if message:
        config["comment"] = message
    entry = {"created": created, "created_by": COMMIT_CREATED_BY,
             **({"author": author} if author else {}),
             "comment": f"FROM {cfg.image_name or base.id}"}
    config["history"] = [*(base.config.get("history") or []), entry]
    return config


# -- export ---------------------------------------------------------------------------


def export(ctr: Container, out: BinaryIO) -> None:
    """``runtime.export_container``: the container's whole file system as a tar on
    ``out`` (its mount if it runs; mounted for the moment otherwise)."""
    # lazy: only export (~0.7 ms)
    from pypod_core.engine import rootfs
    from pypod_core.host.layer_diff import write_tree

    with ctr.locked():
        path = rootfs.readable_path(ctr)
        if path:
            write_tree(path, out)
            return
        with rootfs.mounted(ctr) as mounted:
            write_tree(mounted, out)
