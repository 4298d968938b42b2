"""What the local driver does with podman's options beyond the kit: mount(8)'s
arguments, owners, sizes, binds, and the options it refuses by name."""

from __future__ import annotations

import os

import pytest
from pypod_volume_local.local import LocalDriver, LocalOptions, parse_size

from pypod_core.errors import InvalidArgError, VolumeDriverError
from pypod_core.host.mounts import fs_type_of, is_mount_point, mounts_under


@pytest.fixture
def local(tmp_path):
    driver = LocalDriver(str(tmp_path / "volumes"))
    yield driver
    for name in driver.volumes():
        driver.remove(name, {})
    assert mounts_under(driver.home) == []


def test_mount_arguments_are_podmans():
    assert LocalOptions({"type": "tmpfs", "device": "tmpfs", "o": "size=1m,uid=5"}) \
        .mount_args("/t") == ["-t", "tmpfs", "-o", "size=1m,uid=5", "tmpfs", "/t"]
    assert LocalOptions({"type": "tmpfs", "size": "2m"}).mount_args("/t") == [
        "-t", "tmpfs", "-o", f"size={2 << 20}", "tmpfs", "/t"]
    assert LocalOptions({"type": "bind", "device": "/etc", "o": "ro,uid=3"}).mount_args(
        "/t") == ["-o", "bind", "-o", "ro", "/etc", "/t"]
    assert not LocalOptions({"o": "uid=1,gid=2"}).mounts


@pytest.mark.parametrize("options,words", [
    ({"bogus": "1"}, "invalid mount option bogus for driver 'local'"),
    ({"uid": "1"}, "give it in o"),
    ({"size": "10m"}, "pypod sets no disk quotas"),
    ({"o": "size=10m"}, "pypod sets no disk quotas"),
    ({"o": "inodes=10"}, "pypod sets no disk quotas"),
    ({"o": "uid=me"}, "uid must be a number"),
    ({"o": "nosuid"}, "mount options need type="),
    ({"type": "bind"}, "needs device="),
    ({"type": "none", "o": "bind", "device": "/no/such/dir"}, "no such file or directory"),
    ({"type": "tmpfs", "size": "lots"}, "invalid volume size 'lots'"),
])
def test_refused_options_say_which(options, words):
    with pytest.raises(InvalidArgError) as info:
        LocalOptions(options)
    assert words in str(info.value)


def test_sizes():
    assert parse_size("512", "s") == 512
    assert parse_size("64k", "s") == 64 << 10
    assert parse_size("10MB", "s") == 10 << 20
    assert parse_size("2GiB", "s") == 2 << 30
    assert parse_size("1.5m", "s") == int(1.5 * (1 << 20))


def test_owner_and_layout_are_podmans(local):
    info = local.create("owned", {"o": "uid=1000,gid=1001"})
    assert info.path == os.path.join(local.home, "owned", "_data")
    assert (info.uid, info.gid, info.may_chown) == (1000, 1001, False)
    for path in (info.path, os.path.dirname(info.path)):
        st = os.stat(path)
        assert (st.st_uid, st.st_gid) == (1000, 1001)
    assert oct(os.stat(os.path.dirname(info.path)).st_mode & 0o777) == "0o700"
    assert local.create("plain", {}).may_chown


def test_a_tmpfs_volume_has_its_size_and_owner(local):
    opts = {"type": "tmpfs", "device": "tmpfs", "o": "size=3m,uid=1234"}
    local.create("t", opts)
    path = local.mount("t", opts)
    assert fs_type_of(path) == "tmpfs" and is_mount_point(path)
    st = os.statvfs(path)
    assert st.f_blocks * st.f_frsize == 3 << 20
    assert os.stat(path).st_uid == 1234
    local.unmount("t", opts)
    assert not is_mount_point(path)


def test_a_bind_volume_shows_its_device(local, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "f").write_text("from the device")
    opts = {"type": "none", "o": "bind", "device": str(source)}
    local.create("b", opts)
    path = local.mount("b", opts)
    with open(os.path.join(path, "f")) as f:
        assert f.read() == "from the device"
    local.remove("b", opts)
    assert (source / "f").read_text() == "from the device"  # remove unmounted first


def test_a_failed_mount_is_one_line_naming_the_volume(local):
    opts = {"type": "no-such-fs-pypod", "device": "nothing"}
    local.create("bad", opts)
    with pytest.raises(VolumeDriverError) as info:
        local.mount("bad", opts)
    message = str(info.value)
    assert message.startswith("mounting volume bad (-t no-such-fs-pypod nothing): mount:")
    assert "\n" not in message
    assert not is_mount_point(local.data_path("bad"))
