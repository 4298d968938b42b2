"""Paths resolved under a root one name at a time (pypod_core.host.inroot), as the kernel
resolves them for a process chrooted there; no container needed."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pypod_core.host.inroot import escapes, open_root, resolve


@pytest.fixture
def root(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    top = tmp_path / "root"
    (top / "etc").mkdir(parents=True)
    (top / "etc" / "passwd").write_text("inside")
    (top / "a" / "b").mkdir(parents=True)
    os.symlink("/etc", top / "abs")                    # absolute: from the root
    os.symlink("../../../../../../etc", top / "a" / "climb")  # .. stops at the root
    os.symlink("b/../../etc/passwd", top / "a" / "mixed")
    os.symlink("loop2", top / "loop1")
    os.symlink("loop1", top / "loop2")
    os.symlink("/nowhere/file", top / "dangling_dir")
    os.symlink("/etc/new", top / "dangling")
    fd = open_root(str(top))
    yield top, fd
    os.close(fd)


@pytest.mark.parametrize("path, resolved", [
    ("/abs/passwd", "/etc/passwd"),
    ("abs/passwd", "/etc/passwd"),
    ("/a/climb/passwd", "/etc/passwd"),
    ("/a/mixed", "/etc/passwd"),
    ("/../../etc/passwd", "/etc/passwd"),
    ("/a/b/..", "/a"),
    ("/", "/"),
    ("/a/b/../..", "/"),
    ("/dangling", "/etc/new"),
])
def test_paths_resolve_inside_the_root(root: tuple[Path, int], path: str,
                                       resolved: str) -> None:
    with resolve(root[1], path) as place:
        assert place.path == resolved


def test_what_a_place_holds(root: tuple[Path, int]) -> None:
    top, fd = root
    with resolve(fd, "/abs/passwd") as place:
        assert place.exists and not place.is_dir and place.name == "passwd"
        with os.fdopen(os.open(place.name, os.O_RDONLY, dir_fd=place.dir_fd)) as f:
            assert f.read() == "inside"
    with resolve(fd, "/abs/missing") as place:
        assert not place.exists and place.path == "/etc/missing"
    with resolve(fd, "/abs", follow=False) as place:
        assert place.name == "abs" and os.path.islink(top / "abs")
    with resolve(fd, "/") as place:
        assert place.is_dir and place.name == "."


def test_missing_directories_non_directories_and_loops(root: tuple[Path, int]) -> None:
    fd = root[1]
    with pytest.raises(FileNotFoundError):
        resolve(fd, "/nowhere/x")
    with pytest.raises(FileNotFoundError):
        resolve(fd, "/dangling_dir")  # its target's parent is missing
    with pytest.raises(NotADirectoryError):
        resolve(fd, "/etc/passwd/x")
    with pytest.raises(OSError) as exc:
        resolve(fd, "/loop1")
    assert exc.value.errno == errno.ELOOP


def test_no_descriptor_is_left_open(root: tuple[Path, int]) -> None:
    before = len(os.listdir("/proc/self/fd"))
    for path in ("/a/climb/passwd", "/a/b/..", "/nowhere/x", "/loop1"):
        try:
            resolve(root[1], path).close()
        except OSError:
            pass
    assert len(os.listdir("/proc/self/fd")) == before


@pytest.mark.parametrize("path, out", [("../x", True), ("/a/../../x", True),
                                       ("/a/../b", False), ("a/b/../../c", False)])
def test_escapes_is_lexical(path: str, out: bool) -> None:
    assert escapes(path) is out
