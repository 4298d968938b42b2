"""The image_transport family: declared through pypod_image_transports, chosen by a
reference's prefix, and the contract's helpers (platforms, manifests, verified and
decompressed streams)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json

import pytest

from pypod_core.errors import (
    BackendNotFoundError,
    BlobDigestError,
    ImageFormatError,
    InvalidArgError,
)
from pypod_core.plugin import ImageTransportBackend, hookimpl
from pypod_core.plugin.image_transport import (
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    BlobDescriptor,
    Manifest,
    Platform,
    VerifiedReader,
    choose_platform,
    decompress,
    parse_image_manifest,
    parse_index,
    sniff_media_type,
    split_transport,
)
from pypod_core.plugin.manager import PluginManager


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_pypod_image_transports_declares_the_bundled_docker_transport():
    manager = PluginManager().load()
    decl = manager.backends("image_transport")["docker"]
    assert isinstance(decl, ImageTransportBackend)
    assert (decl.plugin, decl.distribution) == ("image_registry", "pypod-image-registry")
    assert manager.infos["image_registry"].backends == {"image_transport": ["docker"]}


def test_pypod_image_transports_third_party_transport_is_found_by_its_prefix():
    class Plugin:
        @hookimpl
        def pypod_image_transports(self):
            yield ImageTransportBackend(name="s3", factory=lambda runtime: object())

    manager = PluginManager().load()
    manager.register_module(Plugin(), "s3_plugin")
    assert manager.transport_for("s3:bucket/img")[0].name == "s3"
    assert manager.transport_for("s3:bucket/img")[1] == "bucket/img"
    assert manager.transport_for("docker://a.io/x")[0].name == "docker"
    assert manager.transport_for("busybox:latest")[1] == "busybox:latest"


def test_an_unknown_transport_names_no_config_key(monkeypatch):
    manager = PluginManager().load()
    with pytest.raises(BackendNotFoundError, match=r"image transport backend 's3'; "
                                                   r"installed: .*docker"):
        manager.backend("image_transport", "s3")


@pytest.mark.parametrize("text, expected", [
    ("docker://a.io/x", ("docker", "a.io/x")), ("a.io:5000/x", ("docker", "a.io:5000/x")),
    ("busybox:1", ("docker", "busybox:1")), ("oci:/dir:tag", ("oci", "/dir:tag")),
    ("localhost:5000/x", ("docker", "localhost:5000/x")),
])
def test_split_transport(text, expected):
    assert split_transport(text, ["docker", "oci"]) == expected


def test_docker_transport_needs_its_slashes():
    with pytest.raises(InvalidArgError, match="docker://NAME"):
        split_transport("docker:busybox", ["docker"])


def test_platform_flags():
    host = Platform.host()
    assert Platform.choose() == host
    assert Platform.choose("linux/arm64/v8") == Platform("linux", "arm64", "v8")
    assert Platform.choose(arch="arm64").architecture == "arm64"
    for bad in ("linux", "linux/", "a/b/c/d"):
        with pytest.raises(InvalidArgError, match="OS/ARCH"):
            Platform.choose(bad)
    with pytest.raises(InvalidArgError, match="conflicts"):
        Platform.choose("linux/amd64", arch="arm64")


def test_choose_platform_prefers_the_exact_variant():
    entries = [BlobDescriptor(f"sha256:{i}", 1, OCI_MANIFEST, platform=p) for i, p in
               enumerate([Platform("linux", "arm", "v6"), Platform("linux", "arm", "v7"),
                          Platform("linux", "arm64", ""), Platform("linux", "amd64")])]
    assert choose_platform(entries, Platform("linux", "arm", "v7")).digest == "sha256:1"
    assert choose_platform(entries, Platform("linux", "arm", "v8")).digest == "sha256:1"
    assert choose_platform(entries, Platform("linux", "arm64", "v8")).digest == "sha256:2"
    assert choose_platform(entries, Platform("linux", "amd64")).digest == "sha256:3"
    with pytest.raises(ImageFormatError, match="no image found in manifest list"):
        choose_platform(entries, Platform("windows", "amd64"))


def test_manifest_media_type_is_optional():
    oci = json.dumps({"schemaVersion": 2, "config": {}, "layers": []}).encode()
    index = json.dumps({"schemaVersion": 2, "manifests": []}).encode()
    assert sniff_media_type(oci) == OCI_MANIFEST
    assert sniff_media_type(index) == OCI_INDEX
    assert sniff_media_type(oci, DOCKER_MANIFEST + "; charset=utf-8") == DOCKER_MANIFEST
    with pytest.raises(ImageFormatError):
        sniff_media_type(b"[]")


def test_unsupported_layer_and_schema1_are_refused_by_name():
    layer = {"mediaType": "application/x-weird", "digest": "sha256:1", "size": 1}
    raw = json.dumps({"config": {"digest": "sha256:0", "size": 1}, "layers": [layer]})
    with pytest.raises(ImageFormatError, match="application/x-weird"):
        parse_image_manifest(Manifest(raw.encode(), OCI_MANIFEST, "sha256:m"))
    with pytest.raises(ImageFormatError, match="schema 1"):
        parse_image_manifest(Manifest(b"{}", "application/vnd.docker.distribution.manifest"
                                      ".v1+prettyjws", "sha256:m"))
    with pytest.raises(ImageFormatError, match="no manifests"):
        parse_index(Manifest(b"{}", OCI_INDEX, "sha256:i"))


def test_verified_reader_checks_digest_and_size_at_the_end():
    data = b"x" * 100
    assert VerifiedReader(io.BytesIO(data), _digest(data), 100).read() == data
    with pytest.raises(BlobDigestError, match=f"blob {_digest(b'y')}: digest mismatch"):
        VerifiedReader(io.BytesIO(data), _digest(b"y")).read()
    with pytest.raises(BlobDigestError, match="got 100 bytes, expected 101"):
        VerifiedReader(io.BytesIO(data), _digest(data), 101).read()


def test_decompress_reads_the_blob_to_its_end_so_its_digest_is_checked():
    tar = b"tar content" * 1000
    blob = gzip.compress(tar) + gzip.compress(b"second member")
    stream = decompress(VerifiedReader(io.BytesIO(blob), _digest(blob)), "gzip")
    assert stream.read() == tar + b"second member"
    bad = decompress(VerifiedReader(io.BytesIO(blob), _digest(b"other")), "gzip")
    with pytest.raises(BlobDigestError):
        bad.read()


def test_decompress_zstd_and_none():
    from backports import zstd

    assert decompress(io.BytesIO(zstd.compress(b"z" * 5000)), "zstd").read() == b"z" * 5000
    assert decompress(io.BytesIO(b"plain"), "none").read() == b"plain"
    with pytest.raises(ImageFormatError, match="compression 'lz4'"):
        decompress(io.BytesIO(b""), "lz4")


def test_decompress_zstd_reads_to_the_end_so_a_wrong_digest_is_seen():
    from backports import zstd

    blob = zstd.compress(b"z" * 5000)
    with pytest.raises(BlobDigestError):
        decompress(VerifiedReader(io.BytesIO(blob), _digest(b"x")), "zstd").read()


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_corrupt_compressed_data_is_an_image_format_error(compression):
    with pytest.raises(ImageFormatError, match=f"corrupt {compression} data"):
        decompress(io.BytesIO(b"\x1f\x8b garbage" * 10), compression).read()


def test_closing_the_decompressed_stream_closes_the_blob():
    raw = io.BytesIO(gzip.compress(b"abc"))
    with decompress(raw, "gzip") as stream:
        assert stream.read(1) == b"a"
    assert raw.closed
