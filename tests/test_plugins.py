"""The plugin manager: discovery through real entry points, blocking, failures, tracing.

Third-party plugins are small distributions in ``tests/fixture_plugins/<scenario>``
(a module plus a ``.dist-info`` with ``entry_points.txt``), found through the path
exactly as an installed distribution is.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from conftest import FIXTURE_PLUGINS, run_pypod
from pypod_core.errors import BackendNotFoundError, HookError, PluginError
from pypod_core.plugin.manager import PluginManager

BUNDLED = {"state_memory", "state_sqlite", "oci_runc", "net_cni", "firewall_iptables"}


@pytest.fixture
def with_scenario(monkeypatch: pytest.MonkeyPatch):
    """Put one scenario's distributions on the path, in-process and for subprocesses."""

    def use(name: str) -> dict[str, str]:
        path = str(FIXTURE_PLUGINS / name)
        monkeypatch.syspath_prepend(path)
        return {"PYTHONPATH": path}

    return use


def test_bundled_plugins_are_discovered_through_entry_points():
    manager = PluginManager().load()
    assert BUNDLED <= set(manager.infos)
    for name in BUNDLED:
        info = manager.infos[name]
        assert info.status == "active", info
        assert info.distribution == "pypod-" + name.replace("_", "-")
    assert set(manager.backends("state")) >= {"memory", "sqlite"}
    assert set(manager.backends("oci_runtime")) >= {"runc", "crun"}
    assert manager.backends("state")["sqlite"].distribution == "pypod-state-sqlite"


def test_pypod_state_backends_third_party_backend_is_selectable(with_scenario, make_runtime):
    with_scenario("backend")
    runtime = make_runtime(state_type="counting")
    decl = runtime.plugins.backends("state")["counting"]
    assert (decl.plugin, decl.distribution, decl.version) == (
        "test_backend", "pypod-test-backend", "0.1")
    before = type(runtime.state).calls
    runtime.state.all_containers()
    assert type(runtime.state).calls == before + 1


def test_third_party_stage_replaces_the_default(with_scenario, make_runtime, runtime_options):
    with_scenario("stage")
    runtime = make_runtime(state_type="memory")
    storage = runtime.storage  # a deferred stage: built here
    served = {stage: plugin for stage, plugin, _ in runtime.stage_timings}
    assert served["make_storage"] == "test_stage"
    assert served["make_state"] == "pypod_core.engine.defaults"
    assert storage.graph_root.endswith("/elsewhere")


def test_plugin_blocked_by_config_env_and_flag(with_scenario, monkeypatch, make_runtime):
    with_scenario("stage")
    runtime = make_runtime(state_type="memory", disabled_plugins=["test_stage"])
    assert runtime.plugins.infos["test_stage"].status == "blocked"
    assert runtime.storage is not None  # a deferred stage: built here
    assert dict((s, p) for s, p, _ in runtime.stage_timings)["make_storage"] != "test_stage"
    runtime = make_runtime(state_type="memory", no_plugins=["test_stage"])
    assert runtime.plugins.infos["test_stage"].status == "blocked"
    monkeypatch.setenv("PYPOD_DISABLE_PLUGINS", "test_stage,other")
    assert PluginManager().load().infos["test_stage"].status == "blocked"


def test_blocked_plugin_is_never_imported(with_scenario):
    with_scenario("broken")
    manager = PluginManager(blocked=["test_broken"]).load()
    assert manager.infos["test_broken"].status == "blocked"
    assert "fx_broken" not in sys.modules


def test_blocked_plugins_backend_is_unknown_and_the_error_says_blocked():
    manager = PluginManager(blocked=["state_memory"]).load()
    with pytest.raises(BackendNotFoundError, match="blocked plugins: state_memory"):
        manager.backend("state", "memory")


def test_autoload_disabled_loads_no_entry_points(monkeypatch):
    monkeypatch.setenv("PYPOD_DISABLE_PLUGIN_AUTOLOAD", "1")
    manager = PluginManager().load()
    assert set(manager.infos) == set()
    assert manager.backends("state") == {}


def test_pypod_plugins_env_registers_extra_modules(monkeypatch):
    monkeypatch.setenv("PYPOD_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYPOD_PLUGINS", "pypod_state_memory.plugin")
    manager = PluginManager().load()
    assert "memory" in manager.backends("state")


def test_plugin_that_fails_to_import_is_skipped_with_a_warning(with_scenario):
    env = with_scenario("broken")
    warnings: list[str] = []
    manager = PluginManager(warn=warnings.append).load()
    assert manager.infos["test_broken"].status == "failed"
    assert len(warnings) == 1
    assert "test_broken" in warnings[0] and "pypod-test-broken" in warnings[0]
    assert "libfoo" in warnings[0]
    result = run_pypod("plugins", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert "warning: plugin 'test_broken' (distribution 'pypod-test-broken')" in result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["test_broken"]["status"] == "failed"


def test_strict_plugins_makes_an_import_failure_fatal(with_scenario, monkeypatch):
    env = with_scenario("broken")
    monkeypatch.setenv("PYPOD_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="test_broken.*pypod-test-broken"):
        PluginManager().load()
    result = run_pypod("plugins", env={**env, "PYPOD_STRICT_PLUGINS": "1"})
    assert result.returncode == 125
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_failed_plugin_that_may_provide_the_selected_backend_is_named(with_scenario, cli_flags):
    env = with_scenario("brokenbackend")
    result = run_pypod(*cli_flags, "--state-type", "fragile", "info", env=env)
    assert result.returncode == 125
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: unknown state backend 'fragile'")
    assert "test_brokenbackend (distribution 'pypod-test-brokenbackend')" in last
    assert "not_installed_dependency" in last


def test_two_plugins_claiming_one_backend_name_is_an_error_naming_both(with_scenario):
    with_scenario("twins")
    manager = PluginManager().load()
    with pytest.raises(PluginError) as err:
        manager.backends("state")
    assert "'twin'" in str(err.value)
    assert "pypod-test-twin-a" in str(err.value) and "pypod-test-twin-b" in str(err.value)


def test_unknown_backend_lists_the_installed_ones(make_runtime):
    with pytest.raises(BackendNotFoundError) as err:
        make_runtime(state_type="nosuch")
    assert "unknown state backend 'nosuch'" in str(err.value)
    assert "memory" in str(err.value) and "sqlite" in str(err.value)


def test_misspelt_hook_is_an_error_at_load_naming_the_plugin(with_scenario, cli_flags):
    env = with_scenario("typo")
    with pytest.raises(PluginError, match="test_typo.*pypod_make_stat"):
        PluginManager().load()
    result = run_pypod(*cli_flags, "ps", env=env)
    assert result.returncode == 125
    assert "test_typo" in result.stderr and "--no-plugin test_typo" in result.stderr
    assert "Traceback" not in result.stderr
    assert run_pypod(*cli_flags, "--no-plugin", "test_typo", "ps", env=env).returncode == 0


def test_pypod_plugins_shows_a_broken_plugin_so_it_can_be_blocked(with_scenario, cli_flags):
    for scenario, plugin in (("typo", "test_typo"), ("twins", None)):
        env = with_scenario(scenario)
        result = run_pypod(*cli_flags, "plugins", "--json", env=env)
        assert result.returncode == 0, result.stderr
        rows = {row["name"]: row for row in json.loads(result.stdout)}
        if plugin:
            assert rows[plugin]["status"] == "failed"
            assert "pypod_make_stat" in rows[plugin]["error"]
        assert "--no-plugin" in result.stderr and "Traceback" not in result.stderr
        assert rows["state_sqlite"]["module"] == "pypod_state_sqlite.plugin"


def test_exception_inside_a_hook_names_plugin_and_hook(with_scenario, make_runtime, cli_flags):
    env = with_scenario("raising")
    with pytest.raises(HookError) as err:
        make_runtime(state_type="memory")
    assert "plugin 'test_raising'" in str(err.value)
    assert "pypod_prepare_tmp_dir" in str(err.value) and "disk on fire" in str(err.value)
    result = run_pypod(*cli_flags, "--state-type", "memory", "info", env=env)
    assert result.returncode == 125
    assert result.stderr.strip().splitlines() == [
        "Error: plugin 'test_raising' failed in hook pypod_prepare_tmp_dir: "
        "RuntimeError: disk on fire"
    ]
    debug = run_pypod(*cli_flags, "--log-level", "debug", "--state-type", "memory", "info",
                      env=env)
    assert "Traceback" in debug.stderr


def test_trace_prints_each_stage_with_its_plugin_and_time(cli_flags, rootfs):
    from pypod_core.engine.pipeline import DEFERRED, STAGES

    for extra, env in ((["--trace-plugins"], {}), ([], {"PYPOD_TRACE": "1"})):
        result = run_pypod(*cli_flags, *extra, "--state-type", "memory", "info",
                           "--format", "json", env=env)
        assert result.returncode == 0, result.stderr
        lines = [line for line in result.stderr.splitlines() if "stage" in line]
        built = [line for line in lines if not line.endswith("deferred to first use")]
        deferred = [line.split()[2] for line in lines if line not in built]
        assert deferred == [s for s, _ in STAGES if s in DEFERRED]
        assert [line.split()[2] for line in built if "(deferred)" not in line] == \
            [s for s, _ in STAGES if s not in DEFERRED]
        assert all(line.split()[3] == "pypod_core.engine.defaults" for line in built)
        assert all(line.endswith((" ms", " ms (deferred)")) for line in built)
    # A deferred stage that runs is traced when it runs, after the runtime was built.
    result = run_pypod(*cli_flags, "--trace-plugins", "--state-type", "memory", "run",
                       "--rm", "--network", "none", "--rootfs", str(rootfs), "true")
    assert result.returncode == 0, result.stderr
    late = [line.split()[2] for line in result.stderr.splitlines()
            if line.endswith(" ms (deferred)")]
    assert "make_oci_runtime" in late and "make_storage" in late
    assert "make_network" not in late  # --network none needs no network backend


def test_plugins_command_shows_every_plugin_with_hooks_and_backends(cli_flags):
    result = run_pypod(*cli_flags, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows: dict[str, Any] = {row["name"]: row for row in json.loads(result.stdout)}
    assert BUNDLED <= set(rows)
    assert rows["oci_runc"]["backends"] == {"oci_runtime": ["runc", "crun"]}
    assert rows["oci_runc"]["hooks"] == ["pypod_oci_runtimes"]
    assert rows["pypod_core.engine.defaults"]["status"] == "active"
    table = run_pypod(*cli_flags, "plugins")
    assert "state_sqlite" in table.stdout and "pypod-state-sqlite" in table.stdout
