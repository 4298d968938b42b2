"""The volume_driver family: declared through pypod_volume_drivers, chosen per volume
with ``-d NAME`` (config ``volume_driver`` names the default, ``local``), and a
third-party driver installed by entry point passes the kit and serves containers."""

from __future__ import annotations

import json
import os
import sys

import pytest

from conftest import FIXTURE_PLUGINS, run_pypod
from pypod_core.config import RuntimeConfig
from pypod_core.errors import BackendNotFoundError
from pypod_core.plugin import BACKEND_FAMILIES, VolumeDriver, VolumeDriverBackend
from pypod_core.plugin.manager import PluginManager
from pypod_core.testing import VolumeDriverTests

SCENARIO = str(FIXTURE_PLUGINS / "voldriver")


@pytest.fixture
def voldriver(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The fxbind distribution on the path, in-process and for subprocesses."""
    monkeypatch.syspath_prepend(SCENARIO)
    return {"PYTHONPATH": SCENARIO}


def test_pypod_volume_drivers_declares_local():
    found = PluginManager().load().backends("volume_driver")
    assert isinstance(found["local"], VolumeDriverBackend)
    assert found["local"].distribution == "pypod-volume-local"
    assert BACKEND_FAMILIES["volume_driver"] == ("volume_driver", "pypod_volume_drivers")
    assert RuntimeConfig().volume_driver == "local"


def test_local_keeps_volumes_under_volume_path(make_runtime, tmp_path):
    rt = make_runtime(volume_path=str(tmp_path / "vols"))
    driver = rt.volume_driver()
    assert isinstance(driver, VolumeDriver) and driver.name == "local"
    assert rt.create_volume("v").mount_point == str(tmp_path / "vols" / "v" / "_data")


def test_pypod_volume_drivers_third_party_driver_is_chosen_with_d(voldriver, make_runtime):
    rt = make_runtime()
    decl = rt.plugins.backends("volume_driver")["fxbind"]
    assert (decl.plugin, decl.distribution, decl.version) == (
        "test_voldriver", "pypod-test-voldriver", "0.1")
    volume = rt.create_volume("fx", driver="fxbind", options={"note": "hi"})
    assert (volume.driver, volume.config.options) == ("fxbind", {"note": "hi"})
    assert rt.inspect_volume(volume)["Status"] == {
        "store": os.path.join(rt.config.graph_root, "fxbind", "store", "fx")}
    with pytest.raises(BackendNotFoundError, match="installed: fxbind, local"):
        rt.create_volume("nope", driver="no-such-driver")
    assert not rt.has_volume("nope")


def test_a_third_party_driver_serves_containers_from_the_command_line(
        voldriver, cli_flags, rootfs):
    env = voldriver
    made = run_pypod(*cli_flags, "volume", "create", "-d", "fxbind", "-o", "note=x", "shared",
                     env=env)
    assert made.returncode == 0, made.stderr
    for command in ("echo from-fxbind > /v/f", "cat /v/f"):
        ran = run_pypod(*cli_flags, "run", "--rm", "--network", "none", "-v", "shared:/v",
                        "--rootfs", rootfs, "sh", "-c", command, env=env)
        assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "from-fxbind\n"
    listed = run_pypod(*cli_flags, "volume", "ls", "--filter", "driver=fxbind", "--format",
                       "json", env=env)
    (entry,) = json.loads(listed.stdout)
    assert (entry["Name"], entry["Driver"], entry["MountCount"]) == ("shared", "fxbind", 0)
    bad = run_pypod(*cli_flags, "volume", "create", "-d", "fxbind", "-o", "size=1m", "x",
                    env=env)
    assert (bad.returncode, bad.stderr) == (
        125, "Error: invalid option 'size' for volume driver 'fxbind'\n")
    assert run_pypod(*cli_flags, "volume", "rm", "shared", env=env).returncode == 0


def test_the_default_driver_is_the_config_key(voldriver, make_runtime, rootfs):
    rt = make_runtime(volume_driver="fxbind")
    assert rt.create_volume("d").driver == "fxbind"
    rt.create_container(rootfs, ["true"], volumes=["made:/m"])
    assert rt.get_volume("made").driver == "fxbind"


class TestThirdPartyDriver(VolumeDriverTests):
    """The fxbind driver, installed as a third party would, passes the kit."""

    mount_options = {}  # every fxbind volume is a bind mount

    @pytest.fixture
    def driver(self, voldriver, tmp_path):
        import fx_voldriver

        yield fx_voldriver.BindDriver(str(tmp_path / "fxbind"))
        sys.modules.pop("fx_voldriver", None)
