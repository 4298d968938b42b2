"""``cp`` from Python: Container.copy_in / copy_out into and out of stopped and running
containers (real runc under conmon), podman's rules for paths, owners, bind mounts,
overwriting and tar streams.

Each rule's docstring says what Debian's podman 4.3.1 does, as checked against it (a
private --root, ``podman import`` of the busybox rootfs as a tar, runc): pypod does the
same unless the docstring says otherwise.
"""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary
from pypod_core.errors import (
    CopyConflictError,
    CopyError,
    NoSuchFileError,
)
from pypod_core.model import Mount

ODD_NAMES = ("with space.txt", "new\nline", "ünïcødé ✓", "-dash", "a:colon")
MTIME = 1_600_000_000


def sleeper(rt: Any, rootfs: str, **options: Any) -> Any:
    """A container that sleeps until it is stopped (SIGKILL: sleep as PID 1 ignores
    SIGTERM, and a stop would wait out its timeout)."""
    return rt.create_container(rootfs, ["sleep", "1000"], stop_signal=9, **options)


@pytest.fixture
def own_rootfs(rootfs: str, tmp_path: Path) -> str:
    """A busybox rootfs of this test's own: copies write into it."""
    target = tmp_path / "ctr-rootfs"
    shutil.copytree(rootfs, target, symlinks=True)
    return str(target)


@pytest.fixture
def rt(make_runtime: Callable[..., Any]) -> Any:
    need_binary("runc")
    need_binary("conmon")
    return make_runtime()


def make_tree(top: Path) -> Path:
    """A tree with what a copy must keep: a symlink (relative and absolute), a hardlink,
    a fifo, an empty directory, modes, a time, and odd names."""
    (top / "sub" / "deeper").mkdir(parents=True)
    (top / "empty").mkdir()
    plain = top / "plain.txt"
    plain.write_bytes(b"plain\n")
    plain.chmod(0o640)
    os.utime(plain, (MTIME, MTIME))
    (top / "exec.sh").write_text("#!/bin/sh\n")
    (top / "exec.sh").chmod(0o755)
    (top / "sub" / "deeper" / "file").write_bytes(b"deep" * 1000)
    for i, name in enumerate(ODD_NAMES):
        (top / "sub" / name).write_text(f"odd {i}")
    os.symlink("plain.txt", top / "link")
    os.symlink("/etc/passwd", top / "abs_link")
    os.link(plain, top / "hard")
    os.mkfifo(top / "fifo")
    return top


def snapshot(top: str | Path) -> dict[str, tuple[Any, ...]]:
    """What a copy must reproduce: each path's kind, mode, content or link text."""
    found: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            rel = os.path.relpath(path, top)
            mode = stat.S_IMODE(st.st_mode)
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("symlink", os.readlink(path))
            elif stat.S_ISREG(st.st_mode):
                found[rel] = ("file", mode, Path(path).read_bytes())
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", mode)
            else:
                found[rel] = (stat.S_IFMT(st.st_mode), mode)
    return found


@pytest.fixture(params=["stopped", "running"])
def ctr(request: pytest.FixtureRequest, rt: Any, own_rootfs: str) -> Any:
    """A container that never ran, or one that runs (its root reached through its
    process, so that what it sees is what is copied)."""
    c = sleeper(rt, own_rootfs)
    if request.param == "running":
        c.start()
    return c


def in_rootfs(ctr: Any, path: str) -> Path:
    return Path(ctr.config.rootfs) / path.lstrip("/")


# -- round trips -------------------------------------------------------------------------


def test_a_tree_round_trips_into_and_out_of_a_container(ctr: Any, tmp_path: Path) -> None:
    """Kinds, modes, times, link texts and hardlinks survive both ways.  (podman 4.3.1
    fails on a hardlink in a tree it copies under a new name: ``link /tmp/tree/plain.txt
    /tmp/copied/hard: no such file or directory``.)"""
    tree = make_tree(tmp_path / "tree")
    ctr.copy_in(str(tree), "/tmp/copied")
    out = tmp_path / "out"
    ctr.copy_out("/tmp/copied", str(out))
    assert snapshot(out) == snapshot(tree)
    assert os.stat(out / "hard").st_ino == os.stat(out / "plain.txt").st_ino
    assert stat.S_ISFIFO(os.lstat(out / "fifo").st_mode)
    assert os.stat(out / "plain.txt").st_mtime == MTIME
    assert snapshot(in_rootfs(ctr, "/tmp/copied")) == snapshot(tree)
    if ctr.state.state.value == "running":  # what the container itself sees
        with open(tmp_path / "seen", "wb") as seen:
            assert ctr.exec(["cat", "/tmp/copied/sub/ünïcødé ✓"], stdout=seen) == 0
        assert (tmp_path / "seen").read_bytes() == b"odd 2"


def test_a_tree_round_trips_through_tar_streams(ctr: Any, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree")
    ctr.copy_in(str(tree), "/tmp/copied")
    stream = io.BytesIO()
    ctr.copy_out("/tmp/copied", stream)
    stream.seek(0)
    names = tarfile.open(fileobj=io.BytesIO(stream.getvalue())).getnames()
    assert "copied/sub/new\nline" in names and "copied/hard" in names
    os.makedirs(in_rootfs(ctr, "/var/back"))
    ctr.copy_in(stream, "/var/back")
    assert snapshot(in_rootfs(ctr, "/var/back/copied")) == snapshot(tree)
    back = in_rootfs(ctr, "/var/back/copied")
    assert os.stat(back / "hard").st_ino == os.stat(back / "plain.txt").st_ino


def test_a_gzip_tar_stream_goes_in(ctr: Any, tmp_path: Path) -> None:
    """podman 4.3.1 takes compressed tars on stdin (gzip here)."""
    tree = make_tree(tmp_path / "tree")
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        tar.add(tree, arcname=".")
    data.seek(0)
    ctr.copy_in(data, "/tmp")
    assert snapshot(in_rootfs(ctr, "/tmp")) == {
        k: v for k, v in snapshot(tree).items()}


def test_containers_copy_to_each_other(rt: Any, own_rootfs: str, tmp_path: Path) -> None:
    """podman 4.3.1: ``cp A:/path B:/path`` copies between two containers."""
    tree = make_tree(tmp_path / "tree")
    other_rootfs = tmp_path / "other"
    shutil.copytree(own_rootfs, other_rootfs, symlinks=True)
    first = sleeper(rt, own_rootfs)
    first.copy_in(str(tree), "/tmp/t")
    second = sleeper(rt, str(other_rootfs))
    second.start()
    from pypod_core.engine.copy import copy_between

    copy_between(first, "/tmp/t", second, "/root/from-first")
    assert snapshot(other_rootfs / "root" / "from-first") == snapshot(tree)


#: ``security.capability`` granting cap_net_raw, effective (``setcap cap_net_raw=ep``).
NET_RAW_EP = bytes.fromhex("0100000200200000000000000000000000000000")


def xattr_tree(top: Path) -> Path:
    """A file with a capability and a binary ``user.`` attribute, a directory with one."""
    (top / "bin").mkdir(parents=True)
    ping = top / "bin" / "ping"
    ping.write_bytes(b"ping")
    os.setxattr(ping, "security.capability", NET_RAW_EP)
    os.setxattr(ping, "user.note", b"\x00\xffbinary")
    os.setxattr(top / "bin", "user.dir", b"d")
    return top


def assert_xattrs_kept(top: Path) -> None:
    assert os.getxattr(top / "bin" / "ping", "security.capability") == NET_RAW_EP
    assert os.getxattr(top / "bin" / "ping", "user.note") == b"\x00\xffbinary"
    assert os.getxattr(top / "bin", "user.dir") == b"d"


def test_file_capabilities_and_user_xattrs_survive_a_copy(ctr: Any, tmp_path: Path) -> None:
    """podman 4.3.1's cp carries security.capability, security.ima and user.* (set after
    the owner, which would clear a capability)."""
    tree = xattr_tree(tmp_path / "tree")
    ctr.copy_in(str(tree), "/tmp/x")
    assert_xattrs_kept(in_rootfs(ctr, "/tmp/x"))
    ctr.copy_out("/tmp/x", str(tmp_path / "out"))
    assert_xattrs_kept(tmp_path / "out")


def test_xattrs_travel_in_tar_streams_as_gnu_tar_reads_them(ctr: Any, tmp_path: Path) -> None:
    ctr.copy_in(str(xattr_tree(tmp_path / "tree")), "/tmp/x")
    stream = tmp_path / "x.tar"
    with open(stream, "wb") as out:
        ctr.copy_out("/tmp/x", out)
    (tmp_path / "by-tar").mkdir()
    subprocess.run(["tar", "--xattrs", "--xattrs-include=*", "-xf", str(stream), "-C",
                    str(tmp_path / "by-tar")], check=True)
    assert_xattrs_kept(tmp_path / "by-tar" / "x")
    os.makedirs(in_rootfs(ctr, "/var/back"))
    with open(stream, "rb") as data:
        ctr.copy_in(data, "/var/back")
    assert_xattrs_kept(in_rootfs(ctr, "/var/back/x"))


# -- podman's rules for paths --------------------------------------------------------------


@pytest.fixture
def stopped(rt: Any, own_rootfs: str) -> Any:
    ctr = rt.create_container(own_rootfs, ["true"])
    for path in ("/srv/existing_dir", ):
        os.makedirs(in_rootfs(ctr, path))
    in_rootfs(ctr, "/srv/existing_file").write_text("old")
    return ctr


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A host directory with a file ``f`` and a directory ``d`` (holding ``x``, ``sub/y``)."""
    top = tmp_path / "host"
    (top / "d" / "sub").mkdir(parents=True)
    (top / "d" / "x").write_text("x")
    (top / "d" / "sub" / "y").write_text("y")
    (top / "f").write_text("new")
    return top


def listing(path: Path) -> set[str]:
    return {os.path.relpath(os.path.join(d, n), path)
            for d, dirs, files in os.walk(path) for n in dirs + files}


def test_a_file_onto_a_missing_path_an_existing_file_or_into_a_directory(
        stopped: Any, host: Path) -> None:
    """podman 4.3.1: a file onto a missing path makes it; onto an existing file replaces
    its contents; into an existing directory lands there under its own name; ``/tmp/.``
    and ``/`` are directories like any."""
    stopped.copy_in(str(host / "f"), "/srv/made")
    stopped.copy_in(str(host / "f"), "/srv/existing_file")
    stopped.copy_in(str(host / "f"), "/srv/existing_dir")
    stopped.copy_in(str(host / "f"), "/srv/existing_dir/.")
    stopped.copy_in(str(host / "f"), "/")
    assert in_rootfs(stopped, "/srv/made").read_text() == "new"
    assert in_rootfs(stopped, "/srv/existing_file").read_text() == "new"
    assert in_rootfs(stopped, "/srv/existing_dir/f").read_text() == "new"
    assert in_rootfs(stopped, "/f").read_text() == "new"


def test_a_missing_destination_with_a_trailing_slash_is_an_error(
        stopped: Any, host: Path) -> None:
    """podman 4.3.1: ``"/srv/new/" could not be found on container NAME: no such file or
    directory``, for a file and a directory alike; so is a missing parent directory."""
    for source in ("f", "d"):
        with pytest.raises(NoSuchFileError, match=r'"/srv/new/" could not be found on '
                                                  r"container \S+: no such file"):
            stopped.copy_in(str(host / source), "/srv/new/")
    with pytest.raises(NoSuchFileError, match='"/nope/x" could not be found'):
        stopped.copy_in(str(host / "f"), "/nope/x")
    assert not in_rootfs(stopped, "/srv/new").exists()


def test_a_directory_onto_a_missing_path_or_into_a_directory(
        stopped: Any, host: Path) -> None:
    """podman 4.3.1: a directory onto a missing path makes it with the source's contents;
    into an existing directory lands inside it, ``d`` and ``d/`` alike; ``d/.`` copies
    its contents into it (and onto a missing path, as ``d``)."""
    stopped.copy_in(str(host / "d"), "/srv/made")
    assert listing(in_rootfs(stopped, "/srv/made")) == {"x", "sub", "sub/y"}
    stopped.copy_in(str(host / "d"), "/srv/existing_dir")
    stopped.copy_in(f"{host}/d/", "/srv/existing_dir")
    assert listing(in_rootfs(stopped, "/srv/existing_dir")) == {"d", "d/x", "d/sub",
                                                                 "d/sub/y"}
    stopped.copy_in(f"{host}/d/.", "/srv/existing_dir")
    assert listing(in_rootfs(stopped, "/srv/existing_dir")) >= {"x", "sub/y", "d/x"}
    stopped.copy_in(f"{host}/d/.", "/srv/made_from_contents")
    assert listing(in_rootfs(stopped, "/srv/made_from_contents")) == {"x", "sub", "sub/y"}


def test_a_directory_onto_a_file_is_an_error(stopped: Any, host: Path) -> None:
    """podman 4.3.1: ``destination must be a directory when copying a directory``."""
    with pytest.raises(CopyError, match="must be a directory when copying a directory"):
        stopped.copy_in(str(host / "d"), "/srv/existing_file")
    assert in_rootfs(stopped, "/srv/existing_file").read_text() == "old"


def test_a_missing_source_or_a_file_with_a_trailing_slash(stopped: Any, host: Path) -> None:
    """podman 4.3.1: ``"h/nosuch" could not be found on the host: no such file or
    directory``; ``f/`` and ``f/.`` of a file: ``... not a directory`` on the host.  On a
    container's side podman lets ``file/`` pass; pypod refuses it there too."""
    with pytest.raises(NoSuchFileError, match="could not be found on the host: no such"):
        stopped.copy_in(str(host / "nosuch"), "/srv")
    for suffix in ("/", "/."):
        with pytest.raises(NoSuchFileError, match="on the host: not a directory"):
            stopped.copy_in(f"{host}/f{suffix}", "/srv")
    with pytest.raises(NoSuchFileError, match=r'"/nosuch" could not be found on container'):
        stopped.copy_out("/nosuch", str(host / "out"))
    with pytest.raises(NoSuchFileError, match="not a directory"):
        stopped.copy_out("/srv/existing_file/", str(host / "out"))


def test_the_same_rules_apply_out_of_a_container(stopped: Any, host: Path) -> None:
    """podman 4.3.1, container to host: a file onto a missing path, ``missing/`` an error,
    a directory into an existing one lands inside, ``dir/.`` copies its contents, a
    directory onto a file is an error."""
    out = host / "out"
    out.mkdir()
    (out / "file").write_text("f")
    stopped.copy_out("/etc/passwd", str(out / "pw"))
    assert (out / "pw").read_text().startswith("root:")
    with pytest.raises(NoSuchFileError, match='"[^"]*/nf/" could not be found on the host'):
        stopped.copy_out("/etc/passwd", f"{out}/nf/")
    stopped.copy_out("/etc", str(out))
    stopped.copy_out("/etc/.", str(out))
    assert {"etc/passwd", "passwd", "group"} <= listing(out)
    with pytest.raises(CopyError, match="must be a directory"):
        stopped.copy_out("/etc", str(out / "file"))


def test_the_root_of_a_container_is_copied_without_dev_proc_and_sys(
        ctr: Any, tmp_path: Path) -> None:
    """podman 4.3.1: ``cp CTR:/ DIR`` copies the contents of / less /dev, /proc, /sys."""
    ctr.copy_out("/", str(tmp_path / "root-copy"))
    names = set(os.listdir(tmp_path / "root-copy"))
    assert {"bin", "etc", "tmp"} <= names and not names & {"dev", "proc", "sys"}


def test_symlinks_at_either_end_are_followed_inside_the_container(
        stopped: Any, host: Path) -> None:
    """podman 4.3.1: a destination that is a symlink to a file writes the file it points
    to; one to a directory copies into it; a container source that is a symlink is
    copied as its target, named after it (``cp CTR:/evil DIR`` gives ``DIR/etc``), while
    a host source symlink keeps the name given.  Symlinks inside a copied tree stay
    symlinks."""
    os.symlink("/srv/existing_file", in_rootfs(stopped, "/flink"))
    os.symlink("/srv/existing_dir", in_rootfs(stopped, "/dlink"))
    stopped.copy_in(str(host / "f"), "/flink")
    assert in_rootfs(stopped, "/srv/existing_file").read_text() == "new"
    assert os.path.islink(in_rootfs(stopped, "/flink"))
    stopped.copy_in(str(host / "f"), "/dlink")
    assert in_rootfs(stopped, "/srv/existing_dir/f").read_text() == "new"
    out = host / "out"
    out.mkdir()
    stopped.copy_out("/dlink", str(out))
    stopped.copy_out("/flink", str(out))
    assert {"existing_dir", "existing_dir/f", "existing_file"} == listing(out)
    os.symlink(host / "d", host / "dir_link")
    stopped.copy_in(str(host / "dir_link"), "/srv")
    assert listing(in_rootfs(stopped, "/srv/dir_link")) == {"x", "sub", "sub/y"}


def test_relative_container_paths_start_at_the_working_directory(
        rt: Any, own_rootfs: str, host: Path) -> None:
    """podman 4.3.1: ``cp f CTR:rel`` with ``-w /tmp`` writes /tmp/rel (the man page says
    relative to /, its code joins the working directory)."""
    ctr = rt.create_container(own_rootfs, ["true"], workdir="/tmp")
    ctr.copy_in(str(host / "f"), "rel")
    assert in_rootfs(ctr, "/tmp/rel").read_text() == "new"


# -- owners ----------------------------------------------------------------------------------


def test_archive_gives_copies_the_containers_user_and_without_it_keeps_the_owners(
        rt: Any, own_rootfs: str, host: Path) -> None:
    """podman 4.3.1: with ``--archive`` (its default) what is copied in belongs to the
    container's user (``--user 1000:1001`` -> 1000:1001); ``--archive=false`` keeps the
    source's uid and gid; what is copied out belongs to the caller (root), either way."""
    for path in (host / "d", host / "d" / "x"):
        os.chown(path, 1234, 2345)
    ctr = sleeper(rt, own_rootfs, user="1000:1001")
    ctr.copy_in(str(host / "d"), "/srv-archive")
    ctr.copy_in(str(host / "d"), "/srv-kept", archive=False)
    for path in ("/srv-archive", "/srv-archive/x"):
        st = os.stat(in_rootfs(ctr, path))
        assert (st.st_uid, st.st_gid) == (1000, 1001)
    for path in ("/srv-kept", "/srv-kept/x"):
        st = os.stat(in_rootfs(ctr, path))
        assert (st.st_uid, st.st_gid) == (1234, 2345)
    ctr.start()
    ctr.copy_out("/srv-kept", str(host / "out"))
    st = os.stat(host / "out" / "x")
    assert (st.st_uid, st.st_gid) == (os.geteuid(), os.getegid())
    stream = io.BytesIO()
    ctr.copy_out("/srv-kept", stream)
    stream.seek(0)
    member = tarfile.open(fileobj=stream).getmember("srv-kept/x")
    assert (member.uid, member.gid) == (1234, 2345)  # the stream keeps the owners


def test_device_nodes_go_into_tar_streams_but_not_onto_the_host(
        stopped: Any, tmp_path: Path) -> None:
    """podman 4.3.1 leaves device nodes out of what it copies onto the host."""
    dev = in_rootfs(stopped, "/srv/devs")
    dev.mkdir()
    os.mknod(dev / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    (dev / "plain").write_text("p")
    stopped.copy_out("/srv/devs", str(tmp_path / "devs"))
    assert os.listdir(tmp_path / "devs") == ["plain"]
    stream = io.BytesIO()
    stopped.copy_out("/srv/devs", stream)
    stream.seek(0)
    member = tarfile.open(fileobj=stream).getmember("devs/null")
    assert member.ischr() and (member.devmajor, member.devminor) == (1, 3)


# -- overwriting -----------------------------------------------------------------------------


def test_a_directory_and_a_file_replace_each_other_only_with_overwrite(
        stopped: Any, tmp_path: Path) -> None:
    """podman 4.3.1: a directory ``conf`` copied where ``conf`` is a file (and a file
    where it is a directory) fails (``file exists``) unless ``--overwrite``."""
    src = tmp_path / "src"
    (src / "conf").mkdir(parents=True)
    (src / "conf" / "c").write_text("c")
    in_rootfs(stopped, "/srv/conf").write_text("a file")
    with pytest.raises(CopyConflictError, match="cannot overwrite non-directory /srv/conf"):
        stopped.copy_in(str(src / "conf"), "/srv")
    assert in_rootfs(stopped, "/srv/conf").read_text() == "a file"
    stopped.copy_in(str(src / "conf"), "/srv", overwrite=True)
    assert in_rootfs(stopped, "/srv/conf/c").read_text() == "c"
    (tmp_path / "f2").mkdir()
    (tmp_path / "f2" / "conf").write_text("a file again")
    with pytest.raises(CopyConflictError, match="cannot overwrite directory /srv/conf"):
        stopped.copy_in(str(tmp_path / "f2" / "conf"), "/srv")
    stopped.copy_in(str(tmp_path / "f2" / "conf"), "/srv", overwrite=True)
    assert in_rootfs(stopped, "/srv/conf").read_text() == "a file again"


# -- bind mounts -----------------------------------------------------------------------------


@pytest.mark.parametrize("running", [False, True], ids=["stopped", "running"])
def test_a_path_inside_a_bind_mount_is_the_mounts_source(
        rt: Any, own_rootfs: str, host: Path, tmp_path: Path, running: bool) -> None:
    """podman 4.3.1: ``cp f CTR:/bm/sub/x`` with ``-v SRC:/bm`` writes SRC/sub/x, running
    or stopped; into a ``:ro`` mount of a running container it fails (read-only file
    system).  Into a stopped container's ``:ro`` mount podman writes; pypod refuses."""
    (tmp_path / "bm" / "sub").mkdir(parents=True)
    (tmp_path / "ro").mkdir()
    ctr = sleeper(rt, own_rootfs, mounts=(
        Mount(str(tmp_path / "bm"), "/bm"), Mount(str(tmp_path / "ro"), "/ro", True)))
    if running:
        ctr.start()
    ctr.copy_in(str(host / "f"), "/bm/sub/x")
    assert (tmp_path / "bm" / "sub" / "x").read_text() == "new"
    ctr.copy_out("/bm/sub/x", str(tmp_path / "back"))
    assert (tmp_path / "back").read_text() == "new"
    with pytest.raises(CopyError, match="(?i)read-only"):
        ctr.copy_in(str(host / "f"), "/ro/x")
    assert os.listdir(tmp_path / "ro") == []


def test_a_file_mounted_alone_is_written_in_place_and_named_as_the_container_sees_it(
        rt: Any, own_rootfs: str, host: Path, tmp_path: Path) -> None:
    """``-v HOST_FILE:/etc/app.conf``: a copy onto /etc/app.conf rewrites the host file
    (its inode kept, so a running container sees it too); a copy out is named app.conf."""
    source = tmp_path / "real.conf"
    source.write_text("old")
    os.symlink(source, tmp_path / "link.conf")  # the source as the host resolves it
    ctr = sleeper(rt, own_rootfs, mounts=(Mount(str(tmp_path / "link.conf"),
                                                 "/etc/app.conf"),))
    inode = os.stat(source).st_ino
    ctr.copy_in(str(host / "f"), "/etc/app.conf")
    assert source.read_text() == "new" and os.stat(source).st_ino == inode
    out = tmp_path / "out"
    out.mkdir()
    ctr.copy_out("/etc/app.conf", str(out))
    assert os.listdir(out) == ["app.conf"]
    ctr.start()
    (host / "f").write_text("newer")
    ctr.copy_in(str(host / "f"), "/etc/app.conf")
    assert source.read_text() == "newer"
