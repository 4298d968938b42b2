"""The image transport conformance kit: :class:`ImageTransportTests`.

A transport's test module subclasses the class and provides four fixtures:

- ``transport``: the :class:`~pypod_core.plugin.image_transport.ImageTransport`;
- ``options``: the :class:`~pypod_core.plugin.image_transport.PullOptions` to open with;
- ``publish``: ``publish(name, layers, config, platforms=None) -> reference``, which
  stores an image the transport can then open: ``layers`` is a list of ``(blob,
  media_type)``, ``config`` the config's bytes; with ``platforms`` (a list of
  ``(Platform, layers, config)``) it stores an index of those images instead;
- ``corrupt``: ``corrupt(reference, digest)``, which changes the stored bytes of one
  blob so that they no longer match their digest.

The kit builds its images itself (tars in memory, gzip and uncompressed), so a transport
passes on any machine that can hold an image::

    class TestRegistry(ImageTransportTests):
        @pytest.fixture
        def transport(self):
            return DockerTransport()
        ...
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from collections.abc import Callable
from typing import Any, ClassVar

import attrs
import pytest

from pypod_core.errors import BlobDigestError, NoSuchImageError, PolicyError
from pypod_core.host.policy import Policy
from pypod_core.plugin.image_transport import (
    ImageTransport,
    Platform,
    PullOptions,
    decompress,
)

GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
TAR_LAYER = "application/vnd.oci.image.layer.v1.tar"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1700000000
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _image(tag: str, arch: str = "amd64") -> tuple[list[tuple[bytes, str]], bytes, list[bytes]]:
    """Two layers (gzip, uncompressed), their tars, and a config naming their diff IDs."""
    tars = [_tar({"etc/hello": f"hello {tag}\n".encode()}),
            _tar({"srv/data": os.urandom(4096), "srv/arch": arch.encode()})]
    layers = [(gzip.compress(tars[0], mtime=0), GZIP_LAYER), (tars[1], TAR_LAYER)]
    config = json.dumps({"architecture": arch, "os": "linux",
                         "config": {"Labels": {"arch": arch}},
                         "rootfs": {"type": "layers",
                                    "diff_ids": [_digest(t) for t in tars]}}).encode()
    return layers, config, tars


class ImageTransportTests:
    """What every image transport must do, whatever it stores images in.

    A format that cannot hold an index (``docker-archive:``) sets
    ``test_an_index_gives_the_host_platform_or_the_one_asked_for = None`` in its
    subclass (pytest then collects no such test); one that hands its layers out
    uncompressed whatever they were stored as (``docker-archive:``, as
    containers/image's) sets ``layers_uncompressed``: its layer digests are then the
    diff ids."""

    layers_uncompressed: ClassVar[bool] = False

    def _expected(self, layers: list[tuple[bytes, str]], tars: list[bytes]) -> list[str]:
        if self.layers_uncompressed:
            return [_digest(t) for t in tars]
        return [_digest(b) for b, _ in layers]

    @pytest.fixture
    def transport(self) -> ImageTransport:
        raise NotImplementedError("a subclass provides the transport fixture")

    @pytest.fixture
    def options(self) -> PullOptions:
        return PullOptions()

    @pytest.fixture
    def publish(self) -> Callable[..., str]:
        raise NotImplementedError("a subclass provides the publish fixture")

    @pytest.fixture
    def corrupt(self) -> Callable[[str, str], None]:
        raise NotImplementedError("a subclass provides the corrupt fixture")

    def test_manifest_config_and_layers_are_what_was_published(self, transport, options,
                                                               publish):
        layers, config, tars = _image("plain")
        ref = publish("kit/plain", layers, config)
        with transport.open_source(ref, options) as source:
            manifest = source.manifest()
            assert manifest.digest == _digest(manifest.raw)
            assert source.config() == config
            assert [d.digest for d in source.layers()] == self._expected(layers, tars)
            assert [d.compression for d in source.layers()] == \
                (["none", "none"] if self.layers_uncompressed else ["gzip", "none"])
            assert source.diff_ids() == [_digest(t) for t in tars]
            for desc, tar in zip(source.layers(), tars, strict=True):
                with decompress(source.open_blob(desc), desc.compression) as stream:
                    assert stream.read() == tar

    def test_fetch_blobs_stores_each_blob_verified(self, transport, options, publish,
                                                   tmp_path):
        layers, config, tars = _image("fetch")
        ref = publish("kit/fetch", layers, config)
        blobs = tmp_path / "kit-blobs"
        blobs.mkdir()
        with transport.open_source(ref, options) as source:
            paths = source.fetch_blobs(source.layers(), str(blobs), parallel=2)
        assert [_digest(open(p, "rb").read()) for p in paths] == \
            self._expected(layers, tars)
        assert sorted(os.listdir(blobs)) == sorted(os.path.basename(p) for p in paths)

    def test_an_index_gives_the_host_platform_or_the_one_asked_for(self, transport,
                                                                  options, publish):
        amd64, arm64 = _image("multi", "amd64"), _image("multi", "arm64")
        ref = publish("kit/multi", [], b"", platforms=[
            (Platform("linux", "amd64"), amd64[0], amd64[1]),
            (Platform("linux", "arm64", "v8"), arm64[0], arm64[1])])

        def arch(opts: PullOptions) -> Any:
            with transport.open_source(ref, opts) as source:
                assert source.index() is not None
                return json.loads(source.config())["architecture"]

        host = Platform.host().architecture
        if host in ("amd64", "arm64"):
            assert arch(options) == host
        assert arch(attrs.evolve(options, platform=Platform.choose("linux/arm64"))) == "arm64"
        assert arch(attrs.evolve(options, platform=Platform.choose(arch="amd64"))) == "amd64"

    def test_a_corrupted_blob_is_refused_naming_it_and_nothing_is_stored(
            self, transport, options, publish, corrupt, tmp_path):
        layers, config, tars = _image("corrupt")
        ref = publish("kit/corrupt", layers, config)
        bad = self._expected(layers, tars)[0]
        corrupt(ref, bad)
        blobs = tmp_path / "kit-blobs"
        blobs.mkdir()
        with transport.open_source(ref, options) as source:
            with pytest.raises(BlobDigestError, match=bad):
                source.fetch_blobs(source.layers(), str(blobs))
        assert os.listdir(blobs) == []

    def test_a_rejecting_policy_refuses_before_anything_is_fetched(self, transport,
                                                                  options, publish):
        layers, config, _ = _image("policy")
        ref = publish("kit/policy", layers, config)
        reject = Policy("test", ("reject",))
        with pytest.raises(PolicyError, match="rejected by policy"):
            transport.open_source(ref, options, policy=reject)
        accept = Policy("test", ("insecureAcceptAnything",))
        with transport.open_source(ref, options, policy=accept) as source:
            assert source.config() == config

    def test_an_unknown_image_is_no_such_image(self, transport, options, publish):
        layers, config, _ = _image("known")
        ref = publish("kit/known", layers, config)
        missing = ref.rsplit(":", 1)[0] + ":no-such-tag"
        with pytest.raises(NoSuchImageError):
            with transport.open_source(missing, options) as source:
                source.manifest()
