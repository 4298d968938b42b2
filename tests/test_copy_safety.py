"""``cp`` never leaves a container's root: symlinks in the container that point at host
paths, ``..`` in paths and in tar members, hostile tar streams.  Each escape is tried
against a stopped container (its rootfs directory) and a running one (real runc under
conmon, reached through its process's root).
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_copy import sleeper

from conftest import need_binary
from pypod_core.errors import CopyError, NoSuchFileError, PathEscapeError


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host directory no copy may touch, with a secret in it."""
    path = tmp_path / "outside"
    path.mkdir()
    (path / "secret").write_text("host secret")
    return path


@pytest.fixture(params=["stopped", "running"])
def ctr(request: pytest.FixtureRequest, make_runtime: Callable[..., Any], rootfs: str,
        tmp_path: Path, outside: Path) -> Any:
    """A container whose rootfs holds symlinks to the host directory ``outside``: an
    absolute one, one that climbs with ``..``, and one to the secret file."""
    need_binary("runc")
    need_binary("conmon")
    own = tmp_path / "ctr-rootfs"
    shutil.copytree(rootfs, own, symlinks=True)
    os.symlink(str(outside), own / "evil")
    os.symlink("../" * 20 + str(outside).lstrip("/"), own / "tmp" / "climb")
    os.symlink(str(outside / "secret"), own / "secret_link")
    c = sleeper(make_runtime(), str(own))
    if request.param == "running":
        c.start()
    return c


def untouched(outside: Path) -> None:
    assert sorted(os.listdir(outside)) == ["secret"]
    assert (outside / "secret").read_text() == "host secret"


def test_copying_in_through_a_symlink_to_the_host_stays_in_the_container(
        ctr: Any, tmp_path: Path, outside: Path) -> None:
    """podman 4.3.1 resolves ``/evil -> /etc`` inside the container: ``cp f CTR:/evil/``
    writes the container's /etc/f, never the host's."""
    payload = tmp_path / "payload"
    payload.mkdir()
    (payload / "pwn").write_text("pwned")
    root = Path(ctr.config.rootfs)
    inside = root / str(outside).lstrip("/")
    inside.mkdir(parents=True)
    ctr.copy_in(str(payload / "pwn"), "/evil/")
    ctr.copy_in(str(payload / "pwn"), "/evil/pwn2")
    ctr.copy_in(str(payload), "/tmp/climb")
    ctr.copy_in(str(payload / "pwn"), "/secret_link")
    untouched(outside)
    assert (inside / "pwn").read_text() == "pwned"
    assert (inside / "pwn2").read_text() == "pwned"
    assert (inside / "payload" / "pwn").read_text() == "pwned"
    assert (inside / "secret").read_text() == "pwned"  # the container's own "secret"


def test_copying_out_through_a_symlink_to_the_host_reads_nothing_of_the_host(
        ctr: Any, tmp_path: Path, outside: Path) -> None:
    with pytest.raises(NoSuchFileError, match='"/secret_link" could not be found on '
                                              "container"):
        ctr.copy_out("/secret_link", str(tmp_path / "stolen"))
    with pytest.raises(NoSuchFileError):
        ctr.copy_out("/tmp/climb/secret", io.BytesIO())
    assert not (tmp_path / "stolen").exists()


def test_a_symlink_in_a_copied_tree_is_copied_as_a_symlink(
        ctr: Any, tmp_path: Path, outside: Path) -> None:
    """Inside a copied directory a symlink stays a symlink (podman 4.3.1): its target is
    neither read nor written."""
    ctr.copy_out("/tmp", str(tmp_path / "tmp-copy"))
    assert os.readlink(tmp_path / "tmp-copy" / "climb").endswith(str(outside).lstrip("/"))
    untouched(outside)


def test_dot_dot_out_of_the_root_is_refused(ctr: Any, tmp_path: Path,
                                            outside: Path) -> None:
    """podman 4.3.1 clamps ``../../tmp/x`` to /tmp/x; pypod refuses a container path
    that climbs out of the root (``..`` that stays inside, ``/etc/../tmp``, is fine)."""
    (tmp_path / "f").write_text("f")
    for path in ("../../tmp/x", "/tmp/../../x", "/../etc"):
        with pytest.raises(PathEscapeError, match="climbs out of the root"):
            ctr.copy_in(str(tmp_path / "f"), path)
        with pytest.raises(PathEscapeError):
            ctr.copy_out(path, str(tmp_path / "out"))
    ctr.copy_in(str(tmp_path / "f"), "/etc/../tmp/fine")
    assert (Path(ctr.config.rootfs) / "tmp" / "fine").read_text() == "f"


def _tar(*members: tuple[str, str, str]) -> io.BytesIO:
    """A tar of (name, kind, text): kind file (text is its data), symlink or hardlink
    (text is the target)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, text in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(text)
                tar.addfile(info, io.BytesIO(text.encode()))
                continue
            info.type = tarfile.SYMTYPE if kind == "symlink" else tarfile.LNKTYPE
            info.linkname = text
            tar.addfile(info)
    data.seek(0)
    return data


def test_a_hostile_tar_stream_writes_nothing_outside(ctr: Any, outside: Path) -> None:
    """A tar with ``..`` members is refused (podman 4.3.1 clamps them into the target);
    a symlink to the host followed by a file "through" it, or a hardlink to a host file,
    cannot reach the host."""
    root = Path(ctr.config.rootfs)
    with pytest.raises(PathEscapeError, match="climbs out"):
        ctr.copy_in(_tar(("../../escape", "file", "x")), "/tmp")
    with pytest.raises(CopyError, match="is not a directory"):
        ctr.copy_in(_tar(("l", "symlink", str(outside)), ("l/pwn", "file", "x")), "/tmp")
    assert os.readlink(root / "tmp" / "l") == str(outside)
    with pytest.raises(PathEscapeError):
        ctr.copy_in(_tar(("h", "hardlink", "../" * 10 + str(outside / "secret"))), "/tmp")
    with pytest.raises(CopyError, match="not there"):
        ctr.copy_in(_tar(("h", "hardlink", str(outside / "secret"))), "/tmp")
    ctr.copy_in(_tar(("/abs", "file", "stripped")), "/tmp")
    assert (root / "tmp" / "abs").read_text() == "stripped"  # as podman: / dropped
    untouched(outside)
    assert not (root.parent / "escape").exists()


def test_a_broken_tar_stream_is_one_clear_error(ctr: Any) -> None:
    with pytest.raises(CopyError, match="not a valid tar stream"):
        ctr.copy_in(io.BytesIO(b"this is not a tar archive" * 40), "/tmp")
