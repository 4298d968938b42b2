"""extract_layer (pypod_core.host.layers) and its tar reader (host.tarstream): what GNU tar
extracts from an archive, extract_layer extracts the same, whoever wrote the archive
(GNU tar's gnu, posix, ustar and v7 formats, Python's tarfile) and whatever it holds
(modes with setuid/setgid/sticky, owners, nanosecond and negative mtimes, long names
and link targets, hardlinks, devices, FIFOs, undecodable names, sparse files); hostile
and broken archives are refused in one line and write nothing outside the target.
Root only, as layers are (chroot, mknod, chown)."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from pypod_core.host.layers import LayerError, extract_layer
from pypod_core.testing.graph_driver import d, f, layer_tar

# -- building trees and comparing them --------------------------------------------------

LONG_DIR = "/".join(["a-rather-long-directory-name-for-the-test"] * 3)  # > 100 chars


def _set(path: Path, mode: int, uid: int = 0, gid: int = 0,
         mtime_ns: int = 1_600_000_000_123_456_789) -> None:
    os.lchown(path, uid, gid)
    if not path.is_symlink():
        os.chmod(path, mode)
    os.utime(path, ns=(mtime_ns, mtime_ns), follow_symlinks=False)


def make_tree(root: Path, level: str) -> Path:
    """A tree with one of everything an image layer holds, as far as the format's
    ``level`` stores it: "v7" (no devices, FIFOs or names past 100 bytes), "ustar" (no
    link targets past 100 bytes), "full" (gnu and posix: also names past 255 bytes,
    negative times, uids past 2**21)."""
    files = {"empty": b"", "small": b"hello\n", "big": os.urandom(3 * 1024 * 1024 + 17),
             "exactly-a-block": b"x" * 512}
    (root / "dir/sub").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "sgid-dir").mkdir()
    for name, data in files.items():
        (root / "dir" / name).write_bytes(data)
    (root / "dir/secret").write_bytes(b"s")
    (root / "dir/passwd").write_bytes(b"#!/bin/true\n")
    (root / "dir/wall").write_bytes(b"w")
    os.symlink("sub/../small", root / "dir/rel-link")
    os.symlink("/usr/lib/absolute-target", root / "abs-link")
    os.link(root / "dir/small", root / "hardlink-to-small")
    os.symlink("small", root / "dir/linked-symlink")
    os.link(root / "dir/linked-symlink", root / "hardlink-to-a-symlink", follow_symlinks=False)
    if level != "v7":
        (root / LONG_DIR).mkdir(parents=True)
        (root / LONG_DIR / "file-under-a-long-path").write_bytes(b"long")
        os.mknod(root / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.mknod(root / "loop9", stat.S_IFBLK | 0o660, os.makedev(7, 9))
        _set(root / "loop9", 0o660, 0, 6)
        os.mkfifo(root / "fifo", 0o644)
    (root / os.fsdecode(b"caf\xe9-latin1")).write_bytes(b"undecodable name")
    _set(root / "dir/secret", 0o600, 1000, 1001)
    _set(root / "dir/passwd", 0o4755)
    _set(root / "dir/wall", 0o2755, 0, 5)
    _set(root / "dir/sub", 0o700, 33, 34, 1_500_000_000_000_000_000)
    _set(root / "tmp", 0o1777)
    _set(root / "sgid-dir", 0o2775, 0, 50)
    _set(root / "dir/rel-link", 0o777, 7, 8)
    if level == "full":
        os.symlink("t" * 150, root / "long-target-link")
        os.link(root / LONG_DIR / "file-under-a-long-path", root / "hardlink-to-long")
        deep = root / ("n" * 200) / ("m" * 200)
        deep.mkdir(parents=True)
        (deep / "f").write_bytes(b"deep")
        (root / "old").write_bytes(b"1938")
        _set(root / "old", 0o644, mtime_ns=-1_000_000_000 * 10**9)
        (root / "big-ids").write_bytes(b"ids")
        _set(root / "big-ids", 0o644, 3_000_000, 4_000_000)
    return root


def snapshot(root: Path) -> dict[bytes, tuple]:
    """Every entry under ``root`` with what a container sees of it; a hardlinked
    entry with every name of its inode."""
    names: dict[tuple[int, int], list[bytes]] = {}
    entries: dict[bytes, tuple] = {}
    base = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(base):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, base)
            st = os.lstat(path)
            names.setdefault((st.st_dev, st.st_ino), []).append(rel)
            content: object = None
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as fh:
                    content = hashlib.sha256(fh.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                content = os.readlink(path)
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                content = (os.major(st.st_rdev), os.minor(st.st_rdev))
            entries[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid,
                            st.st_gid, st.st_size, st.st_mtime_ns, content, (st.st_dev,
                                                                             st.st_ino))
    return {rel: (*entry[:-1], sorted(names[entry[-1]])) for rel, entry in entries.items()}


def gnu_tar(*args: str | Path) -> None:
    subprocess.run(["tar", *map(str, args)], check=True, capture_output=True)


def apply(data: bytes | Path, target: Path, whiteouts: str = "overlay") -> int:
    target.mkdir(exist_ok=True)
    stream = io.BytesIO(data) if isinstance(data, bytes) else open(data, "rb")  # noqa: SIM115
    with stream:
        return extract_layer(stream, str(target), whiteouts=whiteouts)  # type: ignore[arg-type]


def assert_same_as_gnu_tar(archive: Path, tmp_path: Path) -> None:
    by_tar, by_pypod = tmp_path / "by-tar", tmp_path / "by-pypod"
    by_tar.mkdir()
    gnu_tar("-xf", archive, "-C", by_tar)
    assert apply(archive, by_pypod) == archive.stat().st_size
    expected, got = snapshot(by_tar), snapshot(by_pypod)
    assert got.keys() == expected.keys()
    assert {k: v for k, v in got.items() if v != expected[k]} == {}


# -- what GNU tar extracts, extract_layer extracts ---------------------------------------


@pytest.mark.parametrize("fmt", ["gnu", "posix", "ustar", "v7"])
def test_gnu_tar_archives_extract_as_gnu_tar_extracts_them(tmp_path, fmt):
    source = make_tree(tmp_path / "src", "full" if fmt in ("gnu", "posix") else fmt)
    archive = tmp_path / "layer.tar"
    gnu_tar(f"--format={fmt}", "-cf", archive, "-C", source, ".")
    assert_same_as_gnu_tar(archive, tmp_path)


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_python_tarfile_archives_extract_as_gnu_tar_extracts_them(tmp_path, fmt):
    source = make_tree(tmp_path / "src", "ustar" if fmt == tarfile.USTAR_FORMAT else "full")
    archive = tmp_path / "layer.tar"
    with tarfile.open(archive, "w", format=fmt) as tar:
        for entry in sorted(os.listdir(source)):
            tar.add(source / entry, arcname=entry)
    assert_same_as_gnu_tar(archive, tmp_path)


@pytest.mark.parametrize("args", [["--format=gnu"], ["--format=posix", "--sparse-version=0.0"],
                                  ["--format=posix", "--sparse-version=0.1"],
                                  ["--format=posix", "--sparse-version=1.0"]])
def test_sparse_files_keep_their_bytes_and_their_holes(tmp_path, args):
    source = tmp_path / "src"
    source.mkdir()
    with open(source / "many-holes", "wb") as fh:  # 40 pieces: old GNU needs 2 more blocks
        for i in range(40):
            fh.seek(i * 1024 * 1024)
            fh.write(f"piece {i}".encode() * 100)
    with open(source / "ends-in-a-hole", "wb") as fh:
        fh.write(b"start")
        fh.truncate(8 * 1024 * 1024)
    archive = tmp_path / "layer.tar"
    gnu_tar(*args, "-S", "-cf", archive, "-C", source, ".")
    assert_same_as_gnu_tar(archive, tmp_path)
    for name in ("many-holes", "ends-in-a-hole"):
        st = os.stat(tmp_path / "by-pypod" / name)
        assert st.st_blocks * 512 < st.st_size / 4, name  # the holes stayed holes


# -- layer semantics ------------------------------------------------------------------


def test_a_member_replaces_what_is_there_without_writing_through_a_hardlink(tmp_path):
    target = tmp_path / "layer"
    target.mkdir()
    (target / "a").write_bytes(b"parent's")
    os.link(target / "a", target / "also-a")  # as in a copied parent (vfs)
    (target / "was-dir").mkdir()
    (target / "was-dir/inner").write_bytes(b"x")
    apply(layer_tar(f("a", b"layer's"), f("was-dir", b"now a file")), target, "vfs")
    assert (target / "a").read_bytes() == b"layer's"
    assert (target / "also-a").read_bytes() == b"parent's"
    assert (target / "was-dir").read_bytes() == b"now a file"


def test_directories_keep_their_mtime_when_files_follow_them(tmp_path):
    data = layer_tar(d("etc"), f("etc/hosts", b"h"), d("etc/ssl"), f("etc/ssl/cert", b"c"))
    apply(data, tmp_path / "layer")
    assert os.stat(tmp_path / "layer/etc").st_mtime_ns == 1_700_000_000 * 10**9
    assert os.stat(tmp_path / "layer/etc/ssl").st_mtime_ns == 1_700_000_000 * 10**9


def test_a_directory_replaced_by_a_file_takes_the_files_mtime(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, type_, mtime in (("a", tarfile.DIRTYPE, 1000), ("a/b", tarfile.DIRTYPE, 2000),
                                   ("a", tarfile.REGTYPE, 3000)):
            info = tarfile.TarInfo(name)
            info.type, info.mtime = type_, mtime
            tar.addfile(info, io.BytesIO(b""))
    apply(buf.getvalue(), tmp_path / "layer")
    st = os.lstat(tmp_path / "layer/a")
    assert stat.S_ISREG(st.st_mode) and st.st_mtime == 3000


def test_implicit_parents_are_made_0755_root(tmp_path):
    apply(layer_tar(f("usr/share/doc/x", b"x", mode=0o600)), tmp_path / "layer")
    for path in ("usr", "usr/share", "usr/share/doc"):
        st = os.lstat(tmp_path / "layer" / path)
        assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o755, 0), path
    assert stat.S_IMODE(os.lstat(tmp_path / "layer/usr/share/doc/x").st_mode) == 0o600


def test_a_global_pax_header_applies_to_the_members_after_it(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT,
                      pax_headers={"uid": "77", "gid": "78"}) as tar:
        info = tarfile.TarInfo("owned")
        tar.addfile(info, io.BytesIO(b""))
    apply(buf.getvalue(), tmp_path / "layer")
    st = os.lstat(tmp_path / "layer/owned")
    assert (st.st_uid, st.st_gid) == (77, 78)


def test_whiteouts_with_long_names(tmp_path):
    deep = "x" * 120 + "/" + "y" * 120
    target = tmp_path / "layer"
    target.mkdir()
    os.makedirs(target / deep / "opaque")
    (target / deep / "gone").write_bytes(b"lower")
    (target / deep / "opaque/lower").write_bytes(b"lower")
    apply(layer_tar(f(f"{deep}/.wh.gone"), f(f"{deep}/opaque/.wh..wh..opq"),
                    f(f"{deep}/opaque/mine", b"m")), target, "vfs")
    assert os.listdir(target / deep) == ["opaque"]
    assert os.listdir(target / deep / "opaque") == ["mine"]


def test_the_docker_empty_layer_and_trailing_data(tmp_path):
    # 1024 zero bytes: the blob of Docker's empty layers
    assert apply(bytes(1024), tmp_path / "empty") == 1024
    assert os.listdir(tmp_path / "empty") == []
    data = layer_tar(f("a", b"a")) + b"trailing bytes after the end of the archive"
    assert apply(data, tmp_path / "trailing") == len(data)
    assert (tmp_path / "trailing/a").read_bytes() == b"a"


#: ``security.capability`` (vfs_cap_data revision 2) granting cap_net_raw, effective:
#: what ``setcap cap_net_raw=ep`` writes.
NET_RAW_EP = bytes.fromhex("0100000200200000000000000000000000000000")


def test_extended_attributes_and_file_capabilities_are_kept(tmp_path):
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    ping = src / "bin" / "ping"
    ping.write_bytes(b"#!/bin/sh\n")
    os.chown(ping, 0, 0)
    os.setxattr(ping, "security.capability", NET_RAW_EP)
    os.setxattr(ping, "user.note", b"a=b\nc")
    os.setxattr(src / "bin", "user.dir", b"\x00\xff")
    archive = tmp_path / "caps.tar"
    gnu_tar("--xattrs", "--xattrs-include=*", "--format=posix", "-cf", archive,
            "-C", src, "bin")
    apply(archive, tmp_path / "layer")
    got = tmp_path / "layer" / "bin" / "ping"
    # Set after the owner: a chown would have cleared the capability.
    assert os.getxattr(got, "security.capability") == NET_RAW_EP
    assert os.getxattr(got, "user.note") == b"a=b\nc"
    assert os.getxattr(got.parent, "user.dir") == b"\x00\xff"


def test_a_layer_cannot_set_overlayfs_own_attributes(tmp_path):
    archive = (_pax(**{"SCHILY.xattr.trusted.overlay.redirect": "/etc",
                       "SCHILY.xattr.user.kept": "yes"})
               + _header(b"d/", b"5") + _end())
    apply(archive, tmp_path / "layer")
    directory = tmp_path / "layer" / "d"
    assert "trusted.overlay.redirect" not in os.listxattr(directory)
    assert os.getxattr(directory, "user.kept") == b"yes"


# -- broken and hostile archives ------------------------------------------------------


def _header(name: bytes, type_: bytes, size: int = 0, linkname: bytes = b"") -> bytes:
    """One ustar header block with a correct checksum."""
    block = bytearray(512)
    block[0:len(name)] = name
    block[100:108] = b"0000644\0"
    block[108:116] = block[116:124] = b"0000000\0"
    block[124:136] = b"%011o\0" % size
    block[136:148] = b"%011o\0" % 1_700_000_000
    block[148:156] = b" " * 8
    block[156:157] = type_
    block[157:157 + len(linkname)] = linkname
    block[257:265] = b"ustar\x0000"
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _meta(type_: bytes, data: bytes) -> bytes:
    return _header(b"././@meta", type_, len(data)) + data + bytes(-len(data) % 512)


def _pax(**records: str) -> bytes:
    body = b""
    for key, value in records.items():
        text = f" {key}={value}\n".encode()
        length = len(text) + len(str(len(text)))
        length += len(str(length)) - len(str(len(text)))
        body += str(length).encode() + text
    return _meta(b"x", body)


def _end() -> bytes:
    return bytes(1024)


@pytest.mark.parametrize("archive", [
    _meta(b"L", b"../../../../escaped-by-gnu-longname\0") + _header(b"x", b"0") + _end(),
    _pax(path="../../../escaped-by-pax-path") + _header(b"x", b"0") + _end(),
    _header(b"a", b"0") + _pax(linkpath="../../etc/passwd") + _header(b"h", b"1") + _end(),
], ids=["gnu-longname", "pax-path", "pax-linkpath"])
def test_dotdot_through_any_name_field_is_refused(tmp_path, archive):
    with pytest.raises(LayerError, match=r"points outside the layer \(\.\.\)"):
        apply(archive, tmp_path / "layer")
    assert not any(p.name.startswith("escaped") for p in tmp_path.rglob("*"))
    assert not os.path.lexists("/escaped-by-gnu-longname")


def test_absolute_names_in_pax_records_land_inside(tmp_path):
    host = "/etc/pypod-test-absolute-pax"
    apply(_pax(path=host) + _header(b"x", b"0", 0) + _end(), tmp_path / "layer")
    assert not os.path.lexists(host)
    assert (tmp_path / "layer" / host.lstrip("/")).exists()


@pytest.mark.parametrize(("archive", "message"), [
    (b"", "empty stream"),
    (_header(b"a", b"0", 10)[:300], "unexpected end of data at offset 0"),
    (_header(b"a", b"0", 10_000) + b"x" * 600, "unexpected end of data"),
    (_header(b"a", b"0")[:148] + b"0000001\0" + _header(b"a", b"0")[156:],
     "bad checksum.* at offset 0"),
    (_header(b"a", b"0") + b"garbage!" * 64, "bad checksum.* at offset 512"),
    (_meta(b"x", b"10 a=b\n"), "invalid pax header"),
    (_header(b"big", b"x", 2 << 20) + bytes(2 << 20) + _end(), "refused"),
    (_header(b"file", b"0") + _header(b"file/under", b"0") + _end(),
     "'file/under': a parent is not a directory"),
    (_header(b"h", b"1", linkname=b"missing") + _end(), "no such file in the layer"),
], ids=["empty", "cut-header", "cut-data", "checksum", "garbage", "pax", "huge-pax",
        "parent-file", "dangling-hardlink"])
def test_broken_archives_are_refused_in_one_line(tmp_path, archive, message):
    with pytest.raises(LayerError, match=message) as info:
        apply(archive, tmp_path / "layer")
    assert "\n" not in str(info.value) and str(tmp_path / "layer") in str(info.value)
