"""What the overlay and vfs drivers do beyond the kit: the kernel's whiteout form on
disk, the mount API past 140 layers, one copy after racing applies, crash leftovers
cleaned, status()."""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time

import pytest
from pypod_storage_overlay.overlay import OverlayDriver
from pypod_storage_overlay.vfs import VfsDriver

from pypod_core.errors import GraphDriverError
from pypod_core.host import mounts
from pypod_core.host.locks import LockTimeout
from pypod_core.testing.graph_driver import d, f, layer_tar


@pytest.fixture
def overlay(tmp_path):
    driver = OverlayDriver(str(tmp_path / "overlay"))
    yield driver
    for ctr in list(driver.rootfs_ids()):
        driver.remove_rootfs(ctr)
    assert mounts.mounts_under(driver.home) == []


def apply(driver, layer, parent, *members):
    return driver.apply_layer(layer, parent, io.BytesIO(layer_tar(*members)))


def test_overlay_layers_hold_whiteouts_in_the_kernels_form(overlay):
    apply(overlay, "sha256:l1", None, d("etc"), f("etc/x"), d("opt/d"), f("opt/d/a"))
    apply(overlay, "sha256:l2", "sha256:l1", f("etc/.wh.x"), d("opt/d"),
          f("opt/d/.wh..wh..opq"))
    diff = os.path.join(overlay.layer_dir("sha256:l2"), "diff")
    st = os.lstat(os.path.join(diff, "etc/x"))
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)
    assert os.getxattr(os.path.join(diff, "opt/d"), "trusted.overlay.opaque") == b"y"
    assert not os.path.lexists(os.path.join(diff, "etc/.wh.x"))


def test_vfs_layers_apply_whiteouts_by_deleting(tmp_path):
    vfs = VfsDriver(str(tmp_path / "vfs"))
    apply(vfs, "sha256:l1", None, d("etc"), f("etc/x"), d("opt/d"), f("opt/d/a"))
    apply(vfs, "sha256:l2", "sha256:l1", f("etc/.wh.x"), f("opt/d/.wh..wh..opq"),
          f("opt/d/b"))
    diff = os.path.join(vfs.layer_dir("sha256:l2"), "diff")
    assert os.listdir(os.path.join(diff, "etc")) == []
    assert os.listdir(os.path.join(diff, "opt/d")) == ["b"]
    assert os.path.exists(os.path.join(vfs.layer_dir("sha256:l1"), "diff/etc/x"))


@pytest.mark.skipif(not mounts.new_mount_api(), reason="the kernel lacks fsconfig lowerdir+")
def test_beyond_140_layers_the_new_mount_api_is_used(overlay):
    parent = None
    for i in range(200):
        layer = f"sha256:{i:04d}"
        apply(overlay, layer, parent, f(f"f{i}"))
        parent = layer
    overlay.create_rootfs("c1", parent)
    merged = overlay.mount("c1")
    assert len(os.listdir(merged)) == 200
    # mount(2) could not have taken these with absolute paths: they would not fit a page
    lowers = [os.path.join(overlay.layers_dir, d_, "diff")
              for d_ in [os.path.basename(overlay.layer_dir(parent))]] * 200
    assert len(":".join(lowers)) > os.sysconf("SC_PAGESIZE")


def test_mount2_with_short_links_fits_130_layers(tmp_path):
    """The fallback for kernels without lowerdir+: l/<short> links after a chdir."""
    home = tmp_path / "h"
    lowers, short = [], []
    (home / "l").mkdir(parents=True)
    for i in range(130):
        layer = home / "layers" / f"sha256-{i:064x}" / "diff"
        layer.mkdir(parents=True)
        (layer / f"f{i}").touch()
        link = f"l/{i:026d}"
        os.symlink(os.path.relpath(layer, home / "l"), home / link)
        lowers.append(str(layer))
        short.append(link)
    for part in ("upper", "work", "merged"):
        (home / part).mkdir()
    cwd = os.getcwd()
    mounts.mount_overlay(str(home / "merged"), lowers, str(home / "upper"), str(home / "work"),
                         relative_to=str(home), short_lowers=short, force_mount2=True)
    try:
        assert len(os.listdir(home / "merged")) == 130 and os.getcwd() == cwd
    finally:
        mounts.umount(str(home / "merged"))
    assert not mounts.is_mount_point(str(home / "merged"))


def test_more_than_500_layers_is_a_clear_error(tmp_path):
    with pytest.raises(OSError, match="501 lower layers"):
        mounts.mount_overlay(str(tmp_path), [str(tmp_path)] * 501, "u", "w")


def test_a_failed_mount_names_the_container(overlay):
    apply(overlay, "sha256:l1", None, f("a"))
    overlay.create_rootfs("c1", "sha256:l1")
    os.rmdir(os.path.join(overlay.container_dir("c1"), "work"))
    with pytest.raises(GraphDriverError, match="container c1"):
        overlay.mount("c1")


def test_racing_applies_leave_one_directory_and_no_temp(overlay):
    data = layer_tar(*(f(f"file{i}", os.urandom(50_000)) for i in range(40)))
    pids = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            try:
                overlay.apply_layer("sha256:cc", None, io.BytesIO(data))
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    assert os.listdir(overlay.layers_dir) == ["sha256-cc"]
    assert os.listdir(overlay.tmp_dir) == []
    assert len(os.listdir(overlay.links_dir)) == 1


def test_a_crashed_process_leaves_a_temp_dir_the_next_apply_removes(overlay, tmp_path):
    """The whole applying process is killed mid-layer: no layer, and the leftovers go."""
    code = textwrap.dedent(f"""
        import sys
        from pypod_storage_overlay.overlay import OverlayDriver
        OverlayDriver({overlay.home!r}).apply_layer("sha256:dd", None, sys.stdin.buffer)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(layer_tar(f("a", os.urandom(200_000)))[:100_000])
    proc.stdin.flush()
    while not os.listdir(overlay.tmp_dir):  # the extraction has started
        assert proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdin.close()
    assert not overlay.has_layer("sha256:dd")
    # The extraction child (forked, holding the layer's lock) ends at the closed pipe;
    # until then its layer counts as being applied, and is rightly left alone.
    lock = overlay.lock("layer-sha256-dd")
    deadline = time.monotonic() + 30
    while True:
        try:
            lock.acquire(timeout=0)
            break
        except LockTimeout:
            assert time.monotonic() < deadline, "the extraction child never ended"
            time.sleep(0.05)
    lock.release()
    apply(overlay, "sha256:ee", None, f("b"))
    assert os.listdir(overlay.tmp_dir) == []


def test_status_shows_podmans_keys(overlay, tmp_path):
    status = overlay.status()
    assert status["Backing Filesystem"] == ("extfs" if mounts.fs_type_of(str(tmp_path))
                                            .startswith("ext") else mounts.fs_type_of(
                                                str(tmp_path)))
    assert status["Native Overlay Diff"] == "true" and status["Supports d_type"] == "true"
    assert "500" in status["Mount API"] or "140" in status["Mount API"]
    assert VfsDriver(str(tmp_path / "vfs")).status()["Backing Filesystem"]


def test_overlay_check_passes_where_overlay_mounts_and_is_done_once(tmp_path):
    driver = OverlayDriver(str(tmp_path / "probe"))
    driver.check()
    assert mounts.mounts_under(str(tmp_path)) == []
    marker = tmp_path / "probe" / "mount-checked"
    assert marker.read_text() == os.uname().release
    marker.write_text("another kernel")
    driver.check()  # a new kernel is checked again
    assert marker.read_text() == os.uname().release
