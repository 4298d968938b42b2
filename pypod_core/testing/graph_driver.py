"""The graph driver conformance kit: subclass :class:`GraphDriverTests` and give the
``driver`` fixture (a fresh driver whose home is under ``tmp_path``)::

    class TestOverlay(GraphDriverTests):
        @pytest.fixture
        def driver(self, tmp_path):
            return OverlayDriver(str(tmp_path / "graph" / "overlay"))

Every check looks through a mounted rootfs, never into the driver's own files, so it
holds for any layout.  Layers are tars built in memory by :func:`layer_tar`.  Runs as
root (layers carry devices and owners).  After each test every rootfs is removed and no
mount may be left under the driver's home, whether the test passed or not.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import signal
import stat
import tarfile
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pypod_core.errors import (
    GraphDriverError,
    InvalidArgError,
    LayerInUseError,
    NoSuchLayerError,
    NoSuchRootfsError,
    NotImplementedByBackendError,
    RootfsExistsError,
)
from pypod_core.host.mounts import mounts_under
from pypod_core.plugin.graph_driver import GraphDriver, chain_id

#: A member of :func:`layer_tar`: (kind, name, options).  Kinds: "f" file (data, mode,
#: uid, gid), "d" directory, "l" symlink (target), "h" hardlink (target), "c" char
#: device (major, minor).
Member = tuple[str, str, dict[str, Any]]


def layer_tar(*members: Member) -> bytes:
    """An uncompressed tar of ``members``, in order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, opts in members:
            info = tarfile.TarInfo(name)
            info.uid, info.gid = opts.get("uid", 0), opts.get("gid", 0)
            info.mtime = 1_700_000_000
            data = None
            if kind == "f":
                data = opts.get("data", b"")
                info.size, info.mode = len(data), opts.get("mode", 0o644)
            elif kind == "d":
                info.type, info.mode = tarfile.DIRTYPE, opts.get("mode", 0o755)
            elif kind == "l":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, opts["target"], 0o777
            elif kind == "h":
                info.type, info.linkname = tarfile.LNKTYPE, opts["target"]
            elif kind == "c":
                info.type, info.mode = tarfile.CHRTYPE, opts.get("mode", 0o666)
                info.devmajor, info.devminor = opts["major"], opts["minor"]
            else:
                raise ValueError(f"unknown member kind {kind!r}")
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def f(name: str, data: bytes = b"", **opts: Any) -> Member:
    """A regular file member."""
    return ("f", name, {"data": data, **opts})


def d(name: str, **opts: Any) -> Member:
    """A directory member."""
    return ("d", name, opts)


def sym(name: str, target: str) -> Member:
    """A symlink member."""
    return ("l", name, {"target": target})


def hard(name: str, target: str) -> Member:
    """A hardlink member."""
    return ("h", name, {"target": target})


def chardev(name: str, major: int, minor: int) -> Member:
    """A character device member."""
    return ("c", name, {"major": major, "minor": minor})


def digest(data: bytes) -> str:
    """``sha256:<hex>`` of ``data`` (a diff id)."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


class _KillingStream(io.RawIOBase):
    """A tar stream that, after ``after`` reads, kills the extraction's child processes
    (or, for a driver that extracts in-process, fails like a lost connection)."""

    def __init__(self, data: bytes, after: int = 2):
        self.data, self.after, self.reads, self.pos = data, after, 0, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        if self.reads == self.after:
            children = _children_of(os.getpid())
            for child in children:
                os.kill(child, signal.SIGKILL)
            if not children:
                raise ConnectionResetError("the stream broke off (test)")
        size = 65536 if size is None or size < 0 else min(size, 65536)
        chunk = self.data[self.pos:self.pos + size]
        self.pos += len(chunk)
        return chunk


class GraphDriverTests:
    """The conformance kit for graph drivers that store layers (overlay, vfs, ...)."""

    #: How many layers the many-layers test stacks (overlay: 500, the kernel's limit).
    many_layers = 500
    #: Whether the driver mounts read-only views of layers (``image mount``); a driver
    #: that does not must refuse with NotImplementedByBackendError.
    layer_views = True

    @pytest.fixture
    def driver(self) -> GraphDriver:  # pragma: no cover - the subclass gives it
        raise NotImplementedError("give a `driver` fixture returning a GraphDriver")

    @pytest.fixture(autouse=True)
    def _no_mount_left(self, driver: GraphDriver) -> Iterator[None]:
        yield
        failures = []
        for ctr in list(driver.rootfs_ids()):
            try:
                driver.remove_rootfs(ctr)
            except Exception as exc:  # noqa: BLE001 - clean up all, then fail
                failures.append(f"{ctr}: {exc}")
        left = mounts_under(driver.home)
        for point in reversed(left):  # never leave a mount behind, even when failing
            os.system(f"umount -l '{point}'")  # noqa: S605 - test cleanup of our own
        assert not failures and not left, (failures, left)

    def apply(self, driver: GraphDriver, layer_id: str, parent: str | None,
              *members: Member) -> str:
        driver.apply_layer(layer_id, parent, io.BytesIO(layer_tar(*members)))
        return layer_id

    def rootfs(self, driver: GraphDriver, top: str | None, ctr: str = "") -> str:
        ctr = ctr or uuid.uuid4().hex
        driver.create_rootfs(ctr, top)
        return driver.mount(ctr)

    # -- applying layers ------------------------------------------------------------

    def test_apply_returns_the_layer_info_with_the_tar_size(self, driver):
        data = layer_tar(f("hello", b"hi"))
        info = driver.apply_layer("sha256:aa", None, io.BytesIO(data))
        assert (info.id, info.parent, info.diff_size) == ("sha256:aa", None, len(data))
        assert driver.has_layer("sha256:aa") and driver.layer("sha256:aa") == info
        assert [i.id for i in driver.layers()] == ["sha256:aa"]

    def test_applying_a_stored_layer_again_does_not_read_the_stream(self, driver):
        self.apply(driver, "sha256:aa", None, f("x"))
        stream = io.BytesIO(b"not a tar at all")
        assert driver.apply_layer("sha256:aa", None, stream).id == "sha256:aa"
        assert stream.tell() == 0

    def test_a_layer_from_a_pipe(self, driver):
        data = layer_tar(f("big", os.urandom(300_000)))
        r, w = os.pipe()

        def feed() -> None:
            with os.fdopen(w, "wb") as out:
                out.write(data)

        thread = threading.Thread(target=feed)
        thread.start()
        with os.fdopen(r, "rb") as stream:
            info = driver.apply_layer("sha256:bb", None, stream)
        thread.join()
        assert info.diff_size == len(data)
        assert os.path.getsize(os.path.join(self.rootfs(driver, "sha256:bb"), "big")) == 300_000

    def test_unknown_parent_and_bad_ids_are_refused(self, driver):
        with pytest.raises(NoSuchLayerError):
            self.apply(driver, "sha256:bb", "sha256:nope", f("x"))
        with pytest.raises(InvalidArgError):
            self.apply(driver, "../evil", None, f("x"))
        assert not driver.has_layer("sha256:bb") and list(driver.layers()) == []

    def test_chain_ids_follow_the_oci_image_spec(self):
        base = digest(b"a")
        assert chain_id(None, base) == base
        expected = "sha256:" + hashlib.sha256(f"{base} {digest(b'b')}".encode()).hexdigest()
        assert chain_id(base, digest(b"b")) == expected

    # -- what a layer keeps -----------------------------------------------------------

    def test_files_keep_mode_owner_setuid_devices_links(self, driver):
        self.apply(driver, "sha256:l1", None,
                   d("usr/lib"), f("usr/lib/libz.so", b"lib"), d("bin"),
                   f("bin/passwd", b"#!", mode=0o4755, uid=0, gid=0),
                   f("bin/tool", b"t", mode=0o2750, uid=1000, gid=1001),
                   hard("bin/tool-link", "bin/tool"),
                   sym("lib", "/usr/lib"), sym("bin/rel", "../usr/lib/libz.so"),
                   d("dev"), chardev("dev/null", 1, 3), d("srv", uid=33, gid=34, mode=0o750))
        root = self.rootfs(driver, "sha256:l1")
        passwd = os.lstat(os.path.join(root, "bin/passwd"))
        assert stat.S_IMODE(passwd.st_mode) == 0o4755
        tool = os.lstat(os.path.join(root, "bin/tool"))
        assert (stat.S_IMODE(tool.st_mode), tool.st_uid, tool.st_gid) == (0o2750, 1000, 1001)
        assert tool.st_nlink == 2
        assert os.lstat(os.path.join(root, "bin/tool-link")).st_ino == tool.st_ino
        assert os.readlink(os.path.join(root, "lib")) == "/usr/lib"
        assert os.readlink(os.path.join(root, "bin/rel")) == "../usr/lib/libz.so"
        with open(os.path.join(root, "bin/rel"), "rb") as fh:
            assert fh.read() == b"lib"
        null = os.lstat(os.path.join(root, "dev/null"))
        assert stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1 \
            and os.minor(null.st_rdev) == 3
        srv = os.lstat(os.path.join(root, "srv"))
        assert (stat.S_IMODE(srv.st_mode), srv.st_uid, srv.st_gid) == (0o750, 33, 34)

    def test_whiteouts_and_opaque_dirs_hide_lower_files(self, driver):
        self.apply(driver, "sha256:l1", None, d("etc"), f("etc/removed-me", b"x"),
                   f("etc/kept", b"k"), d("opt/d"), f("opt/d/a"), f("opt/d/b"),
                   d("gone-dir"), f("gone-dir/inner"))
        self.apply(driver, "sha256:l2", "sha256:l1", f("etc/.wh.removed-me"),
                   f(".wh.gone-dir"), d("opt/d"), f("opt/d/.wh..wh..opq"), f("opt/d/c"),
                   f("etc/new", b"n"), f("etc/.wh.new"))  # a whiteout spares its own layer
        root = self.rootfs(driver, "sha256:l2")
        assert sorted(os.listdir(os.path.join(root, "etc"))) == ["kept", "new"]
        assert os.listdir(os.path.join(root, "opt/d")) == ["c"]
        assert not os.path.lexists(os.path.join(root, "gone-dir"))
        # the lower layer itself is untouched
        lower = self.rootfs(driver, "sha256:l1")
        assert sorted(os.listdir(os.path.join(lower, "opt/d"))) == ["a", "b"]
        assert os.path.exists(os.path.join(lower, "etc/removed-me"))

    def test_a_later_layer_replaces_a_file_and_a_dir(self, driver):
        self.apply(driver, "sha256:l1", None, f("a", b"old"), d("b"), f("b/x"))
        self.apply(driver, "sha256:l2", "sha256:l1", f("a", b"new"), f("b", b"now a file"))
        root = self.rootfs(driver, "sha256:l2")
        with open(os.path.join(root, "a"), "rb") as fh:
            assert fh.read() == b"new"
        assert os.path.isfile(os.path.join(root, "b"))

    # -- hostile layers ---------------------------------------------------------------

    def test_dotdot_is_refused_and_leaves_nothing(self, driver, tmp_path):
        name = f"evil-pypod-{uuid.uuid4().hex[:8]}"
        with pytest.raises(GraphDriverError):
            self.apply(driver, "sha256:ev", None, f("ok"), f(f"../../../../../../{name}"))
        assert not driver.has_layer("sha256:ev")
        assert not os.path.lexists(f"/{name}")
        assert not any(p.name == name for p in tmp_path.rglob(name))

    def test_absolute_names_land_inside_the_layer(self, driver):
        host = "/etc/evil-pypod-test"
        assert not os.path.lexists(host)
        self.apply(driver, "sha256:ab", None, f(host, b"inside"))
        assert not os.path.lexists(host)
        with open(os.path.join(self.rootfs(driver, "sha256:ab"), "etc/evil-pypod-test"),
                  "rb") as fh:
            assert fh.read() == b"inside"

    def test_symlinks_are_never_followed_out_of_the_layer(self, driver, tmp_path):
        outside = tmp_path / "outside"
        outside.mkdir()
        name = f"evil-pypod-{uuid.uuid4().hex[:8]}"
        try:
            self.apply(driver, "sha256:sy", None,
                       sym("esc", str(outside)), f(f"esc/{name}", b"x"),
                       sym("up", "../../../../../../../../.."), f(f"up/{name}", b"y"),
                       sym("root", "/"), f(f"root/tmp/{name}", b"z"))
        except GraphDriverError:
            pass  # refusing the layer is fine too
        assert list(outside.iterdir()) == []
        assert not os.path.lexists(f"/{name}") and not os.path.lexists(f"/tmp/{name}")

    def test_a_hardlink_to_a_host_file_is_refused(self, driver):
        before = os.stat("/etc/passwd")
        try:
            self.apply(driver, "sha256:hl", None, d("etc"), hard("etc/passwd", "/etc/passwd"))
        except GraphDriverError:
            pass
        else:  # if it was taken, it must not be the host's file
            linked = os.stat(os.path.join(self.rootfs(driver, "sha256:hl"), "etc/passwd"))
            assert (linked.st_dev, linked.st_ino) != (before.st_dev, before.st_ino)
        assert os.stat("/etc/passwd").st_nlink == before.st_nlink

    def test_a_broken_tar_is_refused_and_leaves_no_layer(self, driver):
        data = layer_tar(f("a", os.urandom(100_000)))[:50_000]
        with pytest.raises(GraphDriverError):
            driver.apply_layer("sha256:tr", None, io.BytesIO(data))
        assert not driver.has_layer("sha256:tr")
        self.apply(driver, "sha256:tr", None, f("a"))
        assert driver.has_layer("sha256:tr")

    # -- robustness ---------------------------------------------------------------------

    def test_a_killed_extraction_leaves_no_layer(self, driver):
        data = layer_tar(*(f(f"file{i}", os.urandom(20_000)) for i in range(50)))
        with pytest.raises((GraphDriverError, OSError)):
            driver.apply_layer("sha256:kk", None, _KillingStream(data))
        assert not driver.has_layer("sha256:kk")
        assert [i.id for i in driver.layers()] == []
        info = driver.apply_layer("sha256:kk", None, io.BytesIO(data))
        assert info.diff_size == len(data)

    def test_four_processes_applying_one_layer_leave_one_copy(self, driver):
        data = layer_tar(*(f(f"file{i}", os.urandom(50_000)) for i in range(40)))
        pids = []
        for _ in range(4):
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child
                code = 1
                try:
                    driver.apply_layer("sha256:cc", None, io.BytesIO(data))
                    code = 0
                finally:
                    os._exit(code)
            pids.append(pid)
        statuses = [os.waitpid(pid, 0)[1] for pid in pids]
        assert statuses == [0, 0, 0, 0]
        assert [i.id for i in driver.layers()] == ["sha256:cc"]
        root = self.rootfs(driver, "sha256:cc")
        assert len(os.listdir(root)) == 40

    # -- containers' root filesystems -------------------------------------------------

    def test_writes_go_to_the_containers_own_layer(self, driver):
        self.apply(driver, "sha256:l1", None, d("etc"), f("etc/hosts", b"base"))
        one = self.rootfs(driver, "sha256:l1", "c1")
        two = self.rootfs(driver, "sha256:l1", "c2")
        with open(os.path.join(one, "etc/hosts"), "wb") as fh:
            fh.write(b"changed")
        with open(os.path.join(one, "new"), "wb") as fh:
            fh.write(b"n")
        os.unlink(os.path.join(two, "etc/hosts"))
        with open(os.path.join(self.rootfs(driver, "sha256:l1", "c3"), "etc/hosts"),
                  "rb") as fh:
            assert fh.read() == b"base"
        assert not os.path.exists(os.path.join(two, "new"))
        with open(os.path.join(one, "etc/hosts"), "rb") as fh:
            assert fh.read() == b"changed"
        # the container's writes outlive an unmount
        driver.umount("c1")
        assert not driver.is_mounted("c1")
        assert os.path.exists(os.path.join(driver.mount("c1"), "new"))

    # -- diff (commit) -----------------------------------------------------------------

    def test_diff_is_a_layer_of_the_containers_changes(self, driver):
        """What the container added, changed and removed (a file, a whole directory, a
        directory removed and made again) comes out as an OCI layer: applied over the
        same layer, it gives the container's files; unchanged files are not in it."""
        self.apply(driver, "sha256:l1", None, d("etc"), f("etc/keep", b"k"),
                   f("etc/change", b"old"), f("etc/remove", b"r"), d("tree/sub"),
                   f("tree/sub/x"), d("redo"), f("redo/old"))
        root = self.rootfs(driver, "sha256:l1", "c1")
        with open(os.path.join(root, "etc/change"), "wb") as fh:
            fh.write(b"new")
        with open(os.path.join(root, "added"), "wb") as fh:
            fh.write(b"a")
        os.unlink(os.path.join(root, "etc/remove"))
        for top in ("tree", "redo"):
            for path, _dirs, files in os.walk(os.path.join(root, top), topdown=False):
                for name in files:
                    os.unlink(os.path.join(path, name))
                os.rmdir(path)
        os.mkdir(os.path.join(root, "redo"))
        with open(os.path.join(root, "redo/new"), "wb") as fh:
            fh.write(b"n")
        driver.umount("c1")
        with driver.diff("c1") as stream:
            data = stream.read()
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            names = set(tar.getnames())
        assert "etc/keep" not in names and "tree/sub/x" not in names
        assert {"added", "etc/change", "etc/.wh.remove", ".wh.tree", "redo/new"} <= names
        driver.apply_layer("sha256:l2", "sha256:l1", io.BytesIO(data))
        again = self.rootfs(driver, "sha256:l2")
        assert sorted(os.listdir(os.path.join(again, "etc"))) == ["change", "keep"]
        with open(os.path.join(again, "etc/change"), "rb") as fh:
            assert fh.read() == b"new"
        assert not os.path.lexists(os.path.join(again, "tree"))
        assert os.listdir(os.path.join(again, "redo")) == ["new"]
        assert os.path.exists(os.path.join(again, "added"))

    def test_write_diff_writes_the_diff_onto_a_file(self, driver, tmp_path):
        """What ``commit`` stores: the same tar as diff(), written onto the file it is
        given (the image store's new blob), a file that grew and one removed in it."""
        self.apply(driver, "sha256:l1", None, f("keep", b"k"), f("gone", b"g"))
        root = self.rootfs(driver, "sha256:l1", "c1")
        with open(os.path.join(root, "big"), "wb") as fh:
            fh.write(b"x" * 100_000)
        os.unlink(os.path.join(root, "gone"))
        driver.umount("c1")
        with driver.diff("c1") as stream:
            expected = stream.read()
        with open(tmp_path / "blob", "w+b") as out:
            driver.write_diff("c1", out)
        data = (tmp_path / "blob").read_bytes()
        assert data == expected
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.extractfile("big")
            assert member is not None and member.read() == b"x" * 100_000
            assert ".wh.gone" in tar.getnames() and "keep" not in tar.getnames()

    def test_diff_without_a_rootfs_is_refused(self, driver):
        with pytest.raises(NoSuchRootfsError):
            driver.diff("nope")

    def test_mount_umount_remove_leave_no_mount(self, driver):
        self.apply(driver, "sha256:l1", None, f("a"))
        driver.create_rootfs("c1", "sha256:l1")
        assert not driver.is_mounted("c1")
        path = driver.mount("c1")
        assert driver.mount("c1") == path and driver.is_mounted("c1")
        assert os.path.exists(os.path.join(path, "a"))
        driver.umount("c1")
        driver.umount("c1")  # not mounted: fine
        assert not driver.is_mounted("c1") and mounts_under(driver.home) == []
        driver.mount("c1")
        driver.remove_rootfs("c1")
        driver.remove_rootfs("c1")  # twice: fine
        assert mounts_under(driver.home) == [] and list(driver.rootfs_ids()) == []

    def test_a_layer_view_is_read_only_and_shows_its_parents(self, driver):
        """``image mount``: the top layer over its parents, whiteouts applied, nothing
        writable, one path per layer; gone after ``umount_layer``."""
        self.apply(driver, "sha256:l1", None, f("a", b"1"), f("gone"))
        self.apply(driver, "sha256:l2", "sha256:l1", f("b", b"2"), f(".wh.gone"))
        assert driver.layer_mount_point("sha256:l2") == ""
        if not self.layer_views:
            with pytest.raises(NotImplementedByBackendError):
                driver.mount_layer("sha256:l2")
            return
        path = driver.mount_layer("sha256:l2")
        assert driver.mount_layer("sha256:l2") == path == driver.layer_mount_point("sha256:l2")
        assert sorted(os.listdir(path)) == ["a", "b"]
        with pytest.raises(OSError) as exc:
            open(os.path.join(path, "new"), "w").close()
        assert exc.value.errno == errno.EROFS
        one = driver.mount_layer("sha256:l1")  # a single layer mounts too
        assert one != path and sorted(os.listdir(one)) == ["a", "gone"]
        driver.umount_layer("sha256:l2")
        driver.umount_layer("sha256:l2")  # not mounted: fine
        assert driver.layer_mount_point("sha256:l2") == ""
        driver.umount_layer("sha256:l1")
        assert mounts_under(driver.home) == []
        with pytest.raises(NoSuchLayerError):
            driver.mount_layer("sha256:nope")

    def test_removing_a_viewed_layer_takes_the_view_away(self, driver):
        self.apply(driver, "sha256:l1", None, f("a"))
        path = driver.mount_layer("sha256:l1") if self.layer_views else ""
        driver.remove_layer("sha256:l1")
        assert not driver.has_layer("sha256:l1") and mounts_under(driver.home) == []
        assert not path or not os.path.exists(path)

    def test_rootfs_errors(self, driver):
        self.apply(driver, "sha256:l1", None, f("a"))
        with pytest.raises(NoSuchLayerError):
            driver.create_rootfs("c1", "sha256:nope")
        with pytest.raises(NoSuchRootfsError):
            driver.mount("c1")
        with pytest.raises(NoSuchRootfsError):
            driver.umount("c1")
        driver.create_rootfs("c1", "sha256:l1")
        with pytest.raises(RootfsExistsError):
            driver.create_rootfs("c1", "sha256:l1")
        assert list(driver.rootfs_ids()) == ["c1"]

    def test_an_empty_rootfs(self, driver):
        root = self.rootfs(driver, None)
        assert os.listdir(root) == []
        with open(os.path.join(root, "x"), "w") as fh:
            fh.write("y")

    def test_a_layer_in_use_cannot_be_removed(self, driver):
        self.apply(driver, "sha256:l1", None, f("a"))
        self.apply(driver, "sha256:l2", "sha256:l1", f("b"))
        with pytest.raises(LayerInUseError):
            driver.remove_layer("sha256:l1")
        driver.create_rootfs("c1", "sha256:l2")
        with pytest.raises(LayerInUseError):
            driver.remove_layer("sha256:l2")
        driver.remove_rootfs("c1")
        driver.remove_layer("sha256:l2")
        driver.remove_layer("sha256:l1")
        assert list(driver.layers()) == []
        with pytest.raises(NoSuchLayerError):
            driver.remove_layer("sha256:l1")

    def test_many_layers_mount(self, driver):
        parent = None
        for i in range(self.many_layers):
            layer = f"sha256:{i:04d}"
            self.apply(driver, layer, parent, f(f"f{i}"), f("top", str(i).encode()))
            parent = layer
        root = self.rootfs(driver, parent)
        assert len(os.listdir(root)) == self.many_layers + 1
        with open(os.path.join(root, "top"), "rb") as fh:
            assert fh.read() == str(self.many_layers - 1).encode()

    def test_status_is_a_dict_of_strings(self, driver):
        status = driver.status()
        assert isinstance(status, dict)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in status.items())
