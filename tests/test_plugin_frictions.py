"""What a third-party plugin author ran into, each now a promise: a backend says which
binary it runs, a misspelt backend lists the installed ones, a trylast stage of a plugin
runs before the core's defaults, a factory returning None is blamed on its plugin,
settings and ``--no-plugin`` for plugins that are not installed are warned about, the
contract version is checked, and ``--network none`` needs no network backend."""

from __future__ import annotations

import subprocess
import sys

import pytest
from test_stages import manager_with

from conftest import run_pypod
from pypod_core import OCIRuntimeBackend, StateBackend, hookimpl
from pypod_core.errors import BackendNotFoundError, HookError, NetworkError, PluginError


class LoggedRunc:
    """An OCI backend of its own name that reuses the bundled runc backend."""

    @hookimpl
    def pypod_oci_runtimes(self):
        def make(runtime):
            return runtime.plugins.backend("oci_runtime", "runc").factory(runtime)

        yield OCIRuntimeBackend(name="runc-logged", binary="runc", factory=make,
                                description="runc, logged")


def test_an_oci_backend_names_the_binary_it_runs(make_runtime, rootfs):
    runtime = make_runtime(state_type="memory", runtime="runc-logged",
                           plugin_manager=manager_with(LoggedRunc()))
    assert runtime.runtime_binary.endswith("/runc")
    ctr = runtime.create_container(rootfs, ["true"])
    ctr.start()
    assert ctr.wait() == 0


def test_a_misspelt_runtime_lists_the_installed_backends(make_runtime, cli_flags):
    with pytest.raises(BackendNotFoundError, match="'runx'.*installed: crun, runc"):
        make_runtime(state_type="memory", runtime="runx")
    result = run_pypod(*cli_flags, "--runtime", "runx", "ps")
    assert result.returncode == 125
    assert "installed: crun, runc" in result.stderr and "Traceback" not in result.stderr


class TrylastStorage:
    """A trylast stage: it must still come before the core's defaults."""

    @hookimpl(trylast=True)
    def pypod_make_storage(self, runtime):
        return "third-party storage"


def test_a_trylast_stage_of_a_plugin_runs_before_the_defaults(make_runtime):
    runtime = make_runtime(state_type="memory", plugin_manager=manager_with(TrylastStorage()))
    assert runtime.storage == "third-party storage"


class NoneFactory:
    @hookimpl
    def pypod_state_backends(self):
        yield StateBackend(name="hollow", factory=lambda runtime: None)


def test_a_factory_returning_none_is_blamed_on_its_plugin(make_runtime):
    with pytest.raises(HookError, match="test_inline_0.*'hollow' returned None"):
        make_runtime(state_type="hollow", plugin_manager=manager_with(NoneFactory()))


class FromTheFuture:
    @hookimpl
    def pypod_state_backends(self):
        yield StateBackend(name="future", contract="2.0",
                           factory=lambda runtime: runtime.plugins.build(
                               "state", "memory", runtime))


def test_a_backend_for_another_contract_major_is_refused_by_name(make_runtime):
    with pytest.raises(PluginError, match="'future' of plugin 'test_inline_0'.*contract 2.0"):
        make_runtime(state_type="future", plugin_manager=manager_with(FromTheFuture()))


def test_settings_and_no_plugin_for_plugins_not_installed_warn(cli_flags, tmp_path,
                                                               runtime_options):
    import tomli_w

    conf = tmp_path / "warn.conf"
    conf.write_text(tomli_w.dumps({**runtime_options, "plugins": {"net_cnii": {"a": 1}}}))
    result = run_pypod("--config", str(conf), "--no-plugin", "nosuch", "ps")
    assert result.returncode == 0, result.stderr
    assert "'net_cnii', which is not installed" in result.stderr
    assert "'nosuch', which is not installed" in result.stderr


def test_python_dash_m_pypod_core_runs_the_command(cli_flags):
    result = subprocess.run([sys.executable, "-m", "pypod_core", *cli_flags, "ps", "-a"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("CONTAINER ID")


def test_without_autoload_network_none_needs_no_network_backend(make_runtime, rootfs,
                                                                monkeypatch):
    monkeypatch.setenv("PYPOD_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYPOD_PLUGINS", "pypod_state_memory.plugin,pypod_oci_runc.plugin")
    runtime = make_runtime(state_type="memory", netns="bridge")
    assert not runtime.network and not runtime.firewall
    ctr = runtime.create_container(rootfs, ["true"], network_mode="none")
    ctr.start()
    assert ctr.wait() == 0
    with pytest.raises(NetworkError, match="no network backend.*'cni'.*--network none"):
        runtime.create_container(rootfs, ["true"])


def test_runtime_config_source_names_the_file_read(make_runtime, cli_config):
    assert make_runtime(config_path=cli_config).config.source == cli_config
    assert make_runtime(config_path=cli_config).config.plugin_config("nosuch") == {}
