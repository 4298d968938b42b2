"""Each stage of building a runtime: the default does the seed's work, a plugin replaces it.

One test per hook, named after it (the meta-test in test_contract.py checks that).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from pypod_core import hookimpl
from pypod_core.errors import DBBadConfigError, OCIRuntimeError
from pypod_core.plugin.manager import PluginManager
from pypod_core.plugin.state import DBConfig


def manager_with(*plugins: Any) -> PluginManager:
    """The installed plugins plus in-process plugin objects."""
    manager = PluginManager().load()
    for i, plugin in enumerate(plugins):
        manager.register_module(plugin, f"test_inline_{i}")
    return manager


def served_by(runtime: Any) -> dict[str, str]:
    return {stage: plugin for stage, plugin, _ in runtime.stage_timings}


def test_pypod_find_runtime_path(make_runtime, tmp_path: Path):
    runc = "/usr/sbin/runc" if os.path.exists("/usr/sbin/runc") else "/usr/bin/runc"
    (tmp_path / "adir").mkdir()
    runtime = make_runtime(state_type="memory",
                           runtime_path=[str(tmp_path / "missing"), str(tmp_path / "adir"), runc])
    assert runtime.runtime_binary == runc  # missing files and directories are skipped
    with pytest.raises(OCIRuntimeError, match="could not find a working binary"):
        make_runtime(state_type="memory", runtime_path=[str(tmp_path / "missing")])

    class Pinned:
        @hookimpl
        def pypod_find_runtime_path(self, runtime):
            return runc

    runtime = make_runtime(state_type="memory", plugin_manager=manager_with(Pinned()),
                           runtime_path=[str(tmp_path / "missing")])
    assert runtime.runtime_binary == runc
    assert served_by(runtime)["find_runtime_path"] == "test_inline_0"


def test_pypod_find_conmon_path(make_runtime, tmp_path: Path):
    with pytest.raises(OCIRuntimeError, match="conmon"):
        make_runtime(state_type="memory", conmon_path=[str(tmp_path)])
    runtime = make_runtime(state_type="memory")
    assert os.path.basename(runtime.conmon_binary) == "conmon"


def test_pypod_prepare_static_dir(make_runtime, runtime_options):
    runtime = make_runtime(state_type="memory")
    mode = stat.S_IMODE(os.stat(runtime.config.static_dir).st_mode)
    assert runtime.config.static_dir == os.path.join(runtime_options["graph_root"], "static")
    assert mode == 0o700
    assert stat.S_IMODE(os.stat(runtime_options["graph_root"]).st_mode) == 0o700


def test_pypod_make_state(make_runtime):
    from pypod_state_memory.store import MemoryState

    class Own(MemoryState):
        pass

    class Plugin:
        @hookimpl
        def pypod_make_state(self, runtime):
            return Own()

    runtime = make_runtime(plugin_manager=manager_with(Plugin()))
    assert type(runtime.state) is Own
    default = make_runtime(state_type="memory")
    assert type(default.state) is MemoryState


def _state_recorded_with(**paths: str):
    """A plugin whose state 'remembers' a DB config, as a database made earlier would."""
    from pypod_state_memory.store import MemoryState

    class Plugin:
        @hookimpl
        def pypod_make_state(self, runtime):
            state = MemoryState()
            state.validate_db_config(DBConfig(**paths))
            return state

    return Plugin()


def test_pypod_apply_db_config(make_runtime, tmp_path: Path):
    recorded = {"static_dir": str(tmp_path / "db-static"), "tmp_dir": str(tmp_path / "db-tmp"),
                "graph_root": str(tmp_path / "root"), "run_root": str(tmp_path / "run")}
    # Values the user did not set explicitly are taken from the DB.
    runtime = make_runtime(plugin_manager=manager_with(_state_recorded_with(**recorded)))
    assert runtime.config.static_dir == recorded["static_dir"]
    assert runtime.config.tmp_dir == recorded["tmp_dir"]
    # A value the user set that the DB disagrees with is the libpod mismatch error.
    with pytest.raises(DBBadConfigError) as err:
        make_runtime(plugin_manager=manager_with(_state_recorded_with(**recorded)),
                     static_dir=str(tmp_path / "mine"))
    assert str(err.value) == (
        f'database static dir "{recorded["static_dir"]}" does not match our static dir '
        f'"{tmp_path / "mine"}": database configuration mismatch')


def test_pypod_apply_db_config_accepts_a_symlinked_path(make_runtime, tmp_path: Path):
    real = tmp_path / "real-static"
    real.mkdir()
    (tmp_path / "link-static").symlink_to(real)
    plugin = _state_recorded_with(static_dir=str(real))
    runtime = make_runtime(plugin_manager=manager_with(plugin),
                           static_dir=str(tmp_path / "link-static"))
    assert runtime.valid


def test_pypod_set_namespace(make_runtime):
    runtime = make_runtime(state_type="memory", namespace="tenant-a")
    assert runtime.state.get_namespace() == "tenant-a"

    class Plugin:
        @hookimpl
        def pypod_set_namespace(self, runtime):
            runtime.state.set_namespace("forced")
            return True

    runtime = make_runtime(state_type="memory", plugin_manager=manager_with(Plugin()))
    assert runtime.state.get_namespace() == "forced"


def test_pypod_make_storage(make_runtime, runtime_options):
    runtime = make_runtime(state_type="memory")
    assert runtime.storage.graph_root == runtime_options["graph_root"]
    ctr_dir = runtime.storage.container_dir("abc")
    assert ctr_dir.startswith(runtime_options["graph_root"]) and os.path.isdir(ctr_dir)


def test_pypod_prepare_tmp_dir(make_runtime, runtime_options):
    runtime = make_runtime(state_type="memory")
    assert runtime.config.tmp_dir == os.path.join(runtime_options["run_root"], "tmp")
    assert stat.S_IMODE(os.stat(runtime.config.tmp_dir).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(runtime_options["run_root"]).st_mode) == 0o700


def test_pypod_make_oci_runtime(make_runtime):
    runtime = make_runtime(state_type="memory", runtime="crun")
    assert runtime.oci_runtime.name == "crun"
    assert os.path.basename(runtime.runtime_binary) == "crun"


def test_pypod_prepare_lock_dir(make_runtime):
    runtime = make_runtime(state_type="memory")
    assert runtime.lock_dir == os.path.join(runtime.config.tmp_dir, "lock")
    assert stat.S_IMODE(os.stat(runtime.lock_dir).st_mode) == 0o700


def test_pypod_make_network(make_runtime, monkeypatch):
    class NoNetwork:
        @hookimpl
        def pypod_make_network(self, runtime):
            return False

    runtime = make_runtime(state_type="memory", plugin_manager=manager_with(NoNetwork()))
    assert runtime.network is None
    assert served_by(runtime)["make_network"] == "test_inline_0"
    monkeypatch.setattr("pypod_core.engine.runtime.is_rootless", lambda: True)
    assert make_runtime(state_type="memory").network is None  # rootless: no network


def test_pypod_make_firewall(make_runtime, monkeypatch):
    from pypod_firewall_iptables.iptables import IptablesFirewall
    from pypod_firewall_iptables.none import NoFirewall

    assert isinstance(make_runtime(state_type="memory").firewall, IptablesFirewall)
    monkeypatch.setattr("pypod_core.engine.runtime.is_rootless", lambda: True)
    assert isinstance(make_runtime(state_type="memory").firewall, NoFirewall)


def test_pypod_runtime_ready(make_runtime):
    seen = []

    class Plugin:
        @hookimpl
        def pypod_runtime_ready(self, runtime):
            seen.append((runtime.valid, runtime.state is not None))

    make_runtime(state_type="memory", plugin_manager=manager_with(Plugin()))
    assert seen == [(True, True)]


def test_pypod_oci_runtimes(make_runtime):
    manager = PluginManager().load()
    runc = manager.backend("oci_runtime", "runc")
    assert (runc.plugin, runc.distribution) == ("oci_runc", "pypod-oci-runc")
    assert set(manager.backends("oci_runtime")) >= {"runc", "crun"}


def test_pypod_network_backends():
    manager = PluginManager().load()
    cni = manager.backend("network", "cni")
    assert (cni.plugin, cni.distribution) == ("net_cni", "pypod-net-cni")


def test_pypod_firewall_backends():
    manager = PluginManager().load()
    found = manager.backends("firewall")
    assert set(found) >= {"iptables", "none"}
    assert found["none"].distribution == "pypod-firewall-iptables"
