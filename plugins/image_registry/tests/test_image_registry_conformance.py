"""The docker transport passes the image transport kit against a real registry."""

from __future__ import annotations

import json

import pytest
from pypod_image_registry.transport import DockerTransport
from registry_helpers import OCI_INDEX, digest_of

from pypod_core.plugin.image_transport import PullOptions
from pypod_core.testing import ImageTransportTests


class TestDockerRegistry(ImageTransportTests):
    @pytest.fixture
    def transport(self):
        return DockerTransport()

    @pytest.fixture
    def options(self, registries_conf):
        return PullOptions(registries_conf=registries_conf)

    @pytest.fixture
    def publish(self, registry):
        def publish(name, layers, config, platforms=None):
            if platforms is None:
                registry.push_image(name, "latest", layers, config)
                return f"{registry.host}/{name}:latest"
            entries = []
            for i, (plat, p_layers, p_config) in enumerate(platforms):
                digest, raw = registry.push_image(name, f"p{i}", p_layers, p_config)
                entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                         "digest": digest, "size": len(raw),
                         "platform": {"os": plat.os, "architecture": plat.architecture}}
                if plat.variant:
                    entry["platform"]["variant"] = plat.variant
                entries.append(entry)
            index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX,
                                "manifests": entries}).encode()
            registry.push_manifest(name, "latest", index, OCI_INDEX)
            return f"{registry.host}/{name}:latest"
        return publish

    @pytest.fixture
    def corrupt(self, registry):
        def corrupt(reference, digest):
            path = registry.blob_path(digest)
            data = bytearray(open(path, "rb").read())
            data[len(data) // 2] ^= 0xFF
            open(path, "wb").write(bytes(data))
            assert digest_of(bytes(data)) != digest
        return corrupt
