"""An image's "/" keeps the owner and mode its layers give it, as containers/storage
applies them: the layer tar's root member (``./``) sets them, later layers and the
container's own layer inherit them (overlay's upper dir is the merged "/"; vfs copies).
Real runc under real conmon, overlay and vfs."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import make_layer, need_binary


@pytest.fixture(params=["overlay", "vfs"])
def rt(request: pytest.FixtureRequest, make_runtime: Callable[..., Any]) -> Any:
    need_binary("runc")
    need_binary("conmon")
    return make_runtime(graph_driver=request.param)


def with_root(busybox_tar: str, path: Path, mode: int) -> str:
    """The busybox layer with a ``./`` member of ``mode`` first, owned by root."""
    with tarfile.open(busybox_tar) as source, tarfile.open(path, "w") as target:
        root = tarfile.TarInfo("./")
        root.type, root.mode = tarfile.DIRTYPE, mode
        target.addfile(root)
        for member in source.getmembers():
            target.addfile(member, source.extractfile(member) if member.isfile() else None)
    return str(path)


def root_mode(rt: Any, image: str) -> bytes:
    out = io.BytesIO()
    ctr = rt.create_container(image=image, command=["stat", "-c", "%a %u", "/"])
    assert ctr.start_attached(out, io.BytesIO()) == 0
    rt.remove_container(ctr)
    return out.getvalue()


def test_the_layer_root_member_sets_the_images_root(rt: Any, busybox_tar: str,
                                                    tmp_path: Path) -> None:
    layer = with_root(busybox_tar, tmp_path / "root555.tar", 0o555)
    rt.import_image([layer], {}, names=["strict"])
    assert root_mode(rt, "strict") == b"555 0\n"
    # A layer above without a root member leaves "/" as the one below made it.
    extra = make_layer(tmp_path / "extra.tar", {"etc/extra": b"x\n"})
    rt.import_image([layer, extra], {}, names=["stacked"])
    assert root_mode(rt, "stacked") == b"555 0\n"


def test_without_a_root_member_the_root_is_0755(rt: Any, busybox_tar: str) -> None:
    rt.import_image([busybox_tar], {}, names=["plain"])
    assert root_mode(rt, "plain") == b"755 0\n"
