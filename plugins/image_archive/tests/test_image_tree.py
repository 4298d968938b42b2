"""``image tree`` beside Debian's podman 4.3.1: five images loaded from one docker
archive into each (layers shared as a tree: one base, two layers over it, two over the
first of those), drawn the same, line for line, but for the ids of layers over the
base (containers/storage names those its own way; pypod by chain id) and the image's
size to the byte (it counts the manifest, made by each tool in its own bytes)."""

from __future__ import annotations

import io
import json
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from archive_helpers import digest_of, docker_archive_files, write_files

from conftest import need_binary, run_pypod
from pypod_core.errors import NoSuchImageError
from pypod_core.plugin.image_transport import Platform

TAR = "application/vnd.oci.image.layer.v1.tar"


def _layer(name: str, size: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, io.BytesIO(b"x" * size))
    return out.getvalue()


@pytest.fixture
def archive(tmp_path: Path) -> tuple[str, dict[str, bytes]]:
    """A docker archive of a (base), b and c (over a), d and e (over b)."""
    layers = {n: _layer(n, size) for n, size in (("a", 1), ("b", 3000), ("c", 5),
                                                   ("d", 70000), ("e", 9))}
    chains = {"a": "a", "b": "ab", "c": "ac", "d": "abd", "e": "abe"}
    host = Platform.host()
    images = []
    for name, chain in chains.items():
        config = json.dumps({"architecture": host.architecture, "os": host.os,
                             "rootfs": {"type": "layers", "diff_ids": [
                                 digest_of(layers[c]) for c in chain]}}).encode()
        images.append(([f"localhost/tree/{name}:1"], [(layers[c], TAR) for c in chain],
                       config))
    path = str(tmp_path / "tree.tar")
    write_files(docker_archive_files(images), path, True)
    return path, layers


@pytest.fixture
def podman(tmp_path: Path) -> Iterator[Any]:
    need_binary("podman", "podman")
    run = tempfile.mkdtemp(prefix="pp-")  # podman wants a short runroot
    command = ["podman", "--root", str(tmp_path / "podman"), "--runroot", run,
               "--storage-driver", "vfs"]

    def podman(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*command, *args], capture_output=True, text=True)

    try:
        yield podman
    finally:
        podman("rmi", "-a", "-f")
        subprocess.run(["rm", "-rf", run], check=False)


def _masked(text: str, base: str) -> str:
    """The ids of layers other than ``base`` (12 hex) replaced by ``<id>``, and the
    header's size by its unit (it counts the manifest, which each tool writes in its
    own bytes for a docker archive)."""
    text = re.sub(r"^Size:     [0-9.]+", "Size:     ", text, flags=re.M)
    return re.sub(r"ID: ([0-9a-f]{12})",
                  lambda m: m.group(0) if m.group(1) == base else "ID: <id>", text)


def test_tree_and_whatrequires_are_podmans(cli_flags, podman, archive):
    path, layers = archive
    assert run_pypod(*cli_flags, "load", "-q", "-i", path).returncode == 0
    assert podman("load", "-q", "-i", path).returncode == 0
    base = digest_of(layers["a"])[7:19]
    for args in (["localhost/tree/d:1"], ["--whatrequires", "localhost/tree/a:1"],
                 ["--whatrequires", "localhost/tree/b:1"]):
        ours = run_pypod(*cli_flags, "image", "tree", *args)
        theirs = podman("image", "tree", *args)
        assert (ours.returncode, ours.stderr) == (0, ""), ours.stderr
        assert _masked(ours.stdout, base) == _masked(theirs.stdout, base), args
    whole = run_pypod(*cli_flags, "image", "tree", "--whatrequires", "localhost/tree/a:1")
    lines = [re.sub(r"ID: \w+ Size: +\S+", "L", line) for line in whole.stdout.split("\n")]
    assert lines[4:] == ["├── L Top Layer of: [localhost/tree/a:1]",
                         "├── L Top Layer of: [localhost/tree/b:1]",
                         "│   ├── L Top Layer of: [localhost/tree/d:1]",
                         "│   └── L Top Layer of: [localhost/tree/e:1]",
                         "└── L Top Layer of: [localhost/tree/c:1]", "", ""]
    for args, message in ((["nope"], "Error: nope: image not known\n"),
                          ([], "Error: accepts 1 arg(s), received 0\n"),
                          (["a", "b"], "Error: accepts 1 arg(s), received 2\n")):
        ours = run_pypod(*cli_flags, "image", "tree", *args)
        theirs = podman("image", "tree", *args)
        assert (ours.returncode, ours.stderr) == (125, message)
        assert (theirs.returncode, theirs.stderr) == (125, message)


def test_runtime_image_tree(rt_loaded):
    rt, image = rt_loaded
    text = rt.image_tree(image.id)
    assert text.startswith(f"Image ID: {image.short_id}\nTags:     [localhost/tree/b:1]\n")
    assert text.count("ID: ") == 3 and text.endswith("Top Layer of: [localhost/tree/b:1]\n")
    with pytest.raises(NoSuchImageError):
        rt.image_tree("nope")


@pytest.fixture
def rt_loaded(make_runtime: Any, archive: tuple[str, dict[str, bytes]]) -> Any:
    rt = make_runtime()
    rt.load_images(archive[0])
    return rt, rt.get_image("localhost/tree/b:1")
