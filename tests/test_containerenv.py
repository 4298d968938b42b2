"""``/run/.containerenv`` as podman gives it: in every container, empty unless the
container is privileged, where it names the engine, the container and its image in
assignments a shell can source (real runc and conmon, an imported image)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any

import pytest

from conftest import need_binary, run_pypod
from pypod_core.engine.containerenv import content
from pypod_core.model import ContainerConfig

Pypod = Callable[..., subprocess.CompletedProcess[str]]
SHOW = ". /run/.containerenv; echo $engine; echo $name; echo $image; echo $id; " \
       "echo $imageid; echo $rootless"


@pytest.fixture
def pypod(cli_flags: list[str], make_runtime: Callable[..., Any], busybox_tar: str) -> Pypod:
    """``pypod(*args)`` on a store holding the busybox image as ``busybox``."""
    need_binary("runc")
    need_binary("conmon")
    make_runtime().import_image([busybox_tar], {}, names=["busybox"])

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = run_pypod(*cli_flags, *args)
        assert result.returncode == 0, result.stderr
        return result
    return run


def test_an_unprivileged_container_has_the_file_empty(pypod: Pypod) -> None:
    out = pypod("run", "--rm", "--network", "none", "busybox",
                "stat", "-c", "%s %F", "/run/.containerenv").stdout
    assert out == "0 regular empty file\n"


def test_a_privileged_container_is_told_engine_name_and_image(pypod: Pypod) -> None:
    image_id = pypod("image", "inspect", "--format", "{{.Id}}", "busybox").stdout.strip()
    out = pypod("run", "--rm", "--privileged", "--name", "told", "--network", "none",
                "busybox", "sh", "-c", SHOW).stdout.splitlines()
    engine, name, image, ctr_id, imageid, rootless = out
    assert engine.startswith("pypod-") and name == "told"
    assert image == "localhost/busybox:latest" and imageid == image_id
    assert len(ctr_id) == 64 and rootless == "0"


def test_values_are_quoted_for_the_shell() -> None:
    config = ContainerConfig(id="a" * 64, name='x"$y', command=["true"], rootfs="/r",
                             privileged=True)
    text = content(config, "1.0", rootless=True)
    assert 'name="x\\"\\$y"\n' in text and text.endswith("rootless=1\n")
    plain = ContainerConfig(id="b", name="n", command=["true"], rootfs="/r")
    assert content(plain, "1.0", False) == ""
