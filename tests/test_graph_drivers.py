"""The graph_driver family: declared through pypod_graph_drivers, selected by the config
key graph_driver, and ``dir`` (--rootfs in place) and ``dir-overlay`` (--rootfs DIR:O)
built into the core."""

from __future__ import annotations

import os

import pytest

from pypod_core.config import RuntimeConfig, default_config
from pypod_core.errors import (
    InvalidArgError,
    NoSuchRootfsError,
    NotImplementedByBackendError,
    RootfsExistsError,
)
from pypod_core.host.mounts import mounts_under
from pypod_core.plugin import BACKEND_FAMILIES, GraphDriver, GraphDriverBackend
from pypod_core.plugin.manager import PluginManager


@pytest.fixture
def plugins():
    from pypod_core.engine import defaults

    return PluginManager().load().use_defaults(defaults)


def test_pypod_graph_drivers_declares_overlay_vfs_and_dir(plugins):
    found = plugins.backends("graph_driver")
    assert {"overlay", "vfs", "dir"} <= set(found)
    assert all(isinstance(decl, GraphDriverBackend) for decl in found.values())
    assert found["overlay"].distribution == "pypod-storage-overlay"
    assert BACKEND_FAMILIES["graph_driver"] == ("graph_driver", "pypod_graph_drivers")


def test_the_default_graph_driver_is_overlay_for_root_and_vfs_rootless():
    assert RuntimeConfig().graph_driver == "overlay"
    assert default_config(rootless=True).graph_driver == "vfs"


def test_each_bundled_driver_is_built_under_graph_root(plugins, tmp_path):
    class Runtime:
        config = RuntimeConfig(graph_root=str(tmp_path))

    for name in ("overlay", "vfs", "dir", "dir-overlay"):
        driver = plugins.build("graph_driver", name, Runtime())
        assert isinstance(driver, GraphDriver) and driver.name == name
        assert driver.home == os.path.join(str(tmp_path), name)


def test_dir_uses_the_rootfs_in_place_and_never_deletes_it(tmp_path):
    from pypod_core.engine.dirdriver import DirGraphDriver

    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    driver = DirGraphDriver(str(tmp_path / "dir"))
    driver.create_rootfs("c1", str(rootfs))
    assert driver.mount("c1") == str(rootfs) and list(driver.rootfs_ids()) == ["c1"]
    driver.umount("c1")
    driver.remove_rootfs("c1")
    assert (rootfs / "bin").is_dir() and list(driver.rootfs_ids()) == []
    with pytest.raises(NoSuchRootfsError):
        driver.mount("c1")
    with pytest.raises(NotImplementedByBackendError, match="stores no image layers"):
        driver.apply_layer("sha256:a", None, open(os.devnull, "rb"))


def test_dir_overlay_writes_to_its_own_upper_dir_and_removes_only_that(tmp_path):
    from pypod_core.engine.dir_overlay import DirOverlayDriver

    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    (rootfs / "bin" / "sh").write_text("lower")
    driver = DirOverlayDriver(str(tmp_path / "dir-overlay"))
    with pytest.raises(InvalidArgError, match="not a directory"):
        driver.create_rootfs("c1", str(tmp_path / "nope"))
    driver.create_rootfs("c1", str(rootfs))
    with pytest.raises(RootfsExistsError):
        driver.create_rootfs("c1", str(rootfs))
    path = driver.mount("c1")
    assert driver.mount("c1") == path and driver.is_mounted("c1")
    with open(os.path.join(path, "bin", "sh"), "w") as fh:
        fh.write("upper")
    assert (rootfs / "bin" / "sh").read_text() == "lower"
    assert driver.rootfs_data("c1")["LowerDir"] == str(rootfs) and driver.rw_size("c1") == 5
    driver.umount("c1")
    assert not driver.is_mounted("c1")
    with open(os.path.join(driver.mount("c1"), "bin", "sh")) as fh:
        assert fh.read() == "upper"  # kept across mounts (the container's runs)
    driver.remove_rootfs("c1")
    driver.remove_rootfs("c1")  # twice: fine
    assert mounts_under(str(tmp_path)) == [] and list(driver.rootfs_ids()) == []
    assert sorted(os.listdir(rootfs / "bin")) == ["sh"]
    assert (rootfs / "bin" / "sh").read_text() == "lower"
    with pytest.raises(NoSuchRootfsError):
        driver.mount("c1")
