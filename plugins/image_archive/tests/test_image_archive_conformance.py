"""Each layout and archive transport passes the image transport kit for its read side,
on layouts and archives written by hand from each format's files."""

from __future__ import annotations

import os

import pytest
from archive_helpers import (
    corrupt_file,
    corrupt_member,
    dir_files,
    docker_archive_files,
    oci_files,
    write_files,
)
from pypod_image_archive.dirformat import DirTransport
from pypod_image_archive.docker_archive import DockerArchiveTransport
from pypod_image_archive.oci import OCIArchiveTransport, OCILayoutTransport

from pypod_core.testing import ImageTransportTests


def _slug(name: str) -> str:
    return name.replace("/", "-")


class TestOCILayout(ImageTransportTests):
    @pytest.fixture
    def transport(self):
        return OCILayoutTransport()

    @pytest.fixture
    def publish(self, tmp_path):
        def publish(name, layers, config, platforms=None):
            target = tmp_path / _slug(name)
            write_files(oci_files(name, layers, config, platforms), str(target), False)
            return f"{target}:{name}"
        return publish

    @pytest.fixture
    def corrupt(self):
        def corrupt(reference, digest):
            corrupt_file(os.path.join(reference.split(":")[0], "blobs", "sha256",
                                      digest[7:]))
        return corrupt


class TestOCIArchive(ImageTransportTests):
    @pytest.fixture
    def transport(self):
        return OCIArchiveTransport()

    @pytest.fixture
    def publish(self, tmp_path):
        def publish(name, layers, config, platforms=None):
            target = tmp_path / (_slug(name) + ".tar")
            write_files(oci_files(name, layers, config, platforms), str(target), True)
            return f"{target}:{name}"
        return publish

    @pytest.fixture
    def corrupt(self):
        def corrupt(reference, digest):
            corrupt_member(reference.split(":")[0], "blobs/sha256/" + digest[7:])
        return corrupt


class TestDockerArchive(ImageTransportTests):
    layers_uncompressed = True
    #: docker save's format holds one platform per image, no index
    test_an_index_gives_the_host_platform_or_the_one_asked_for = None

    @pytest.fixture
    def transport(self):
        return DockerArchiveTransport()

    @pytest.fixture
    def publish(self, tmp_path):
        def publish(name, layers, config, platforms=None):
            assert platforms is None, "a docker archive holds no index"
            target = tmp_path / (_slug(name) + ".tar")
            write_files(docker_archive_files([([f"localhost/{name}:latest"], layers,
                                               config)]), str(target), True)
            return f"{target}:localhost/{name}:latest"
        return publish

    @pytest.fixture
    def corrupt(self):
        def corrupt(reference, digest):
            corrupt_member(reference.split(":")[0], digest[7:] + ".tar")
        return corrupt


class TestDir(ImageTransportTests):
    @pytest.fixture
    def transport(self):
        return DirTransport()

    @pytest.fixture
    def publish(self, tmp_path):
        def publish(name, layers, config, platforms=None):
            target = tmp_path / _slug(name)
            write_files(dir_files(layers, config, platforms), str(target), False)
            return str(target)
        return publish

    @pytest.fixture
    def corrupt(self):
        def corrupt(reference, digest):
            corrupt_file(os.path.join(reference, digest[7:]))
        return corrupt
