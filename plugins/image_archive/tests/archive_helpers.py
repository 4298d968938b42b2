"""Layouts and archives written by hand (not by the transports under test), from the
files of each format: the image spec's layout, ``docker save``'s archive, containers/
image's ``dir:``."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_files(files: dict[str, bytes], target: str, archive: bool) -> None:
    """``files`` as a directory at ``target``, or a tar file there."""
    if archive:
        with tarfile.open(target, "w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return
    for name, data in files.items():
        path = os.path.join(target, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def manifest_of(layers: list[tuple[bytes, str]], config: bytes) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                       "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config),
                                  "size": len(config)},
                       "layers": [{"mediaType": kind, "digest": digest_of(blob),
                                   "size": len(blob)} for blob, kind in layers]}).encode()


def index_of(entries: list[tuple[object, bytes]]) -> bytes:
    """An OCI index of ``(platform, manifest)`` pairs."""
    manifests = []
    for plat, raw in entries:
        p = {"os": plat.os, "architecture": plat.architecture}  # type: ignore[attr-defined]
        if plat.variant:  # type: ignore[attr-defined]
            p["variant"] = plat.variant  # type: ignore[attr-defined]
        manifests.append({"mediaType": OCI_MANIFEST, "digest": digest_of(raw),
                          "size": len(raw), "platform": p})
    return json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                       "manifests": manifests}).encode()


def oci_files(name: str, layers, config, platforms=None) -> dict[str, bytes]:
    """An OCI layout holding one image (or an index of ``platforms``), annotated
    ``name``."""
    files: dict[str, bytes] = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}'}

    def blob(data: bytes) -> str:
        digest = digest_of(data)
        files["blobs/sha256/" + digest[7:]] = data
        return digest

    if platforms is None:
        for data, _ in layers:
            blob(data)
        blob(config)
        top = manifest_of(layers, config)
        kind = OCI_MANIFEST
    else:
        pairs = []
        for plat, p_layers, p_config in platforms:
            for data, _ in p_layers:
                blob(data)
            blob(p_config)
            raw = manifest_of(p_layers, p_config)
            blob(raw)
            pairs.append((plat, raw))
        top = index_of(pairs)
        kind = OCI_INDEX
    files["index.json"] = json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": kind, "digest": blob(top), "size": len(top),
        "annotations": {REF_NAME: name}}]}).encode()
    return files


def docker_archive_files(images: list[tuple[list[str], list[tuple[bytes, str]], bytes]]
                         ) -> dict[str, bytes]:
    """``docker save``'s archive of ``(repo_tags, layers, config)`` images, each layer
    stored uncompressed as ``<diff id hex>.tar``."""
    files: dict[str, bytes] = {}
    entries = []
    for tags, layers, config in images:
        names = []
        for data, kind in layers:
            tar = gzip.decompress(data) if kind.endswith("gzip") else data
            names.append(digest_of(tar)[7:] + ".tar")
            files[names[-1]] = tar
        files[digest_of(config)[7:] + ".json"] = config
        entries.append({"Config": digest_of(config)[7:] + ".json", "RepoTags": tags,
                        "Layers": names})
    files["manifest.json"] = json.dumps(entries).encode()
    return files


def dir_files(layers, config, platforms=None) -> dict[str, bytes]:
    """containers/image's ``dir:`` of one image (or an index of ``platforms``)."""
    files = {"version": b"Directory Transport Version: 1.1\n"}
    if platforms is None:
        for data, _ in layers:
            files[digest_of(data)[7:]] = data
        files[digest_of(config)[7:]] = config
        files["manifest.json"] = manifest_of(layers, config)
        return files
    pairs = []
    for plat, p_layers, p_config in platforms:
        for data, _ in p_layers:
            files[digest_of(data)[7:]] = data
        files[digest_of(p_config)[7:]] = p_config
        raw = manifest_of(p_layers, p_config)
        files[digest_of(raw)[7:] + ".manifest.json"] = raw
        pairs.append((plat, raw))
    files["manifest.json"] = index_of(pairs)
    return files


def corrupt_member(path: str, member: str) -> None:
    """Flip a byte in the middle of ``member`` of the tar at ``path``, in place."""
    with tarfile.open(path, "r:") as tar:
        info = tar.getmember(member)
        offset = info.offset_data + info.size // 2
    with open(path, "r+b") as f:
        f.seek(offset)
        byte = f.read(1)
        f.seek(offset)
        f.write(bytes([byte[0] ^ 0xFF]))


def corrupt_file(path: str) -> None:
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0xFF
    open(path, "wb").write(bytes(data))
