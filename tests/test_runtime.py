"""The Runtime API: config copies, shutdown, info, names, and the once-per-boot refresh."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import FIXTURE_PLUGINS, REPO, run_pypod
from pypod_core.engine import names
from pypod_core.engine.info import read_registries
from pypod_core.errors import RuntimeStoppedError
from pypod_core.model import (
    ContainerConfig,
    ContainerRecord,
    ContainerState,
    ContainerStatus,
    PodConfig,
    PodRecord,
    PodState,
    new_id,
)


def test_get_config_is_a_deep_copy(make_runtime):
    runtime = make_runtime(state_type="memory")
    copy = runtime.get_config()
    copy.runtime_path.append("/bogus")
    copy.plugins["x"] = {"y": 1}
    copy.static_dir = "/elsewhere"
    assert "/bogus" not in runtime.config.runtime_path
    assert "x" not in runtime.config.plugins
    assert runtime.get_config().static_dir != "/elsewhere"


def test_shutdown_closes_the_state_and_later_use_fails(make_runtime):
    runtime = make_runtime(state_type="memory")
    runtime.shutdown()
    assert not runtime.valid
    for use in (runtime.get_config, runtime.info, runtime.generate_name, runtime.shutdown):
        with pytest.raises(RuntimeStoppedError):
            use()


def _add_container(runtime, name: str, rootfs: str = "/") -> None:
    config = ContainerConfig(id=new_id(), name=name, rootfs=rootfs, command=("true",))
    runtime.state.add_container(ContainerRecord(config, ContainerState()))


class ScriptedRandom(random.Random):
    """A Random whose choice() returns the given picks in order."""

    def __init__(self, picks: list[str]):
        super().__init__()
        self.picks = iter(picks)

    def choice(self, seq):  # type: ignore[override]
        return next(self.picks)


def test_generate_name_is_unique_across_containers_and_pods(make_runtime):
    runtime = make_runtime(state_type="memory")
    _add_container(runtime, "happy_turing")
    runtime.state.add_pod(PodRecord(PodConfig(id=new_id(), name="sad_curie"), PodState()))
    rng = ScriptedRandom(["happy", "turing", "sad", "curie", "cool", "bohr"])
    assert names.generate_name(runtime.name_in_use, rng) == "cool_bohr"
    name = runtime.generate_name()
    adjective, _, surname = name.partition("_")
    assert adjective in names.ADJECTIVES and surname in names.SURNAMES
    assert not runtime.name_in_use(name)


def test_info_reports_host_store_registries_and_plugins(make_runtime, tmp_path: Path):
    registries = tmp_path / "registries.conf"
    registries.write_text('unqualified-search-registries = ["docker.io", "quay.io"]\n'
                          '[[registry]]\nlocation = "registry.local:5000"\ninsecure = true\n')
    runtime = make_runtime(state_type="memory", registries_conf=str(registries))
    _add_container(runtime, "one")
    info = runtime.info()
    host = info["host"]
    machine = os.uname().machine  # podman (Go) names the architectures
    assert host["os"] == "linux"
    assert host["arch"] == {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    assert host["kernel"] == os.uname().release and host["cpus"] == os.cpu_count()
    assert host["memTotal"] > 0 and host["hostname"] == os.uname().nodename
    assert host["uptime"] and host["security"]["rootless"] is False
    assert info["store"]["containerStore"]["number"] == 1
    assert info["store"]["staticDir"] == runtime.config.static_dir
    assert info["registries"]["search"] == ["docker.io", "quay.io"]
    assert info["insecure registries"]["registries"] == ["registry.local:5000"]
    selected = info["plugins"]["selected"]
    assert selected["state"] == {"name": "memory", "plugin": "state_memory",
                                 "distribution": "pypod-state-memory"}
    assert selected["oci_runtime"]["plugin"] == "oci_runc"


def test_registries_conf_v1_and_v2_forms(tmp_path: Path):
    v1 = tmp_path / "v1.conf"
    v1.write_text("[registries.search]\nregistries = ['docker.io']\n"
                  "[registries.insecure]\nregistries = ['localhost:5000']\n")
    assert read_registries(str(v1)) == {"search": ["docker.io"], "insecure": ["localhost:5000"]}
    v2 = tmp_path / "v2.conf"
    v2.write_text("unqualified-search-registries = ['quay.io']\n"
                  "[[registry]]\nprefix = 'example.com/foo'\nlocation = 'mirror:5000'\n"
                  "insecure = true\n[[registry]]\nlocation = 'secure.io'\n")
    assert read_registries(str(v2)) == {"search": ["quay.io"], "insecure": ["mirror:5000"]}
    assert read_registries(str(tmp_path / "none.conf")) == {"search": [], "insecure": []}


def test_info_command_prints_json_and_text(cli_flags):
    result = run_pypod(*cli_flags, "--state-type", "memory", "info", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) >= {"host", "store", "registries", "plugins"}
    text = run_pypod(*cli_flags, "--state-type", "memory", "info")
    assert "host:" in text.stdout and "  kernel: " in text.stdout


_BUILD = """
import os, sys, time
from pypod_core.engine.runtime import new_runtime
while time.time() < float(os.environ["START_AT"]):
    time.sleep(0.001)
runtime = new_runtime(config_path=os.devnull, graph_root=sys.argv[1], run_root=sys.argv[2],
                      state_type="memory")
runtime.shutdown()
"""


def test_pypod_refresh_after_reboot_runs_once_across_8_processes(tmp_path: Path):
    probe = tmp_path / "refreshed"
    env = {**os.environ, "PYTHONPATH": f"{FIXTURE_PLUGINS / 'probe'}:{REPO}",
           "PYPOD_PLUGINS": "fx_refresh_probe", "PROBE_FILE": str(probe)}
    roots = [str(tmp_path / "root"), str(tmp_path / "run")]
    for boot in range(2):
        env["START_AT"] = str(time.time() + 1.5)
        procs = [subprocess.Popen([sys.executable, "-c", _BUILD, *roots], env=env,
                                  stderr=subprocess.PIPE, text=True) for _ in range(8)]
        for proc in procs:
            _, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err
        assert os.path.exists(tmp_path / "run" / "tmp" / "alive")
        assert len(probe.read_text().splitlines()) == 1, f"boot {boot}"
        # A "reboot": the per-boot tmp dir loses its alive file.
        os.unlink(tmp_path / "run" / "tmp" / "alive")
        probe.unlink()


def test_new_runtime_from_config_reads_one_named_file(tmp_path: Path, runtime_options):
    from pypod_core.engine.runtime import new_runtime_from_config

    path = tmp_path / "named.conf"
    path.write_text(f'state_type = "memory"\nruntime = "crun"\n'
                    f'graph_root = "{runtime_options["graph_root"]}"\n'
                    f'run_root = "{runtime_options["run_root"]}"\n')
    runtime = new_runtime_from_config(str(path), max_log_size=9999)
    try:
        config = runtime.get_config()
        assert (config.source, config.runtime, config.max_log_size) == (str(path), "crun", 9999)
        assert runtime.oci_runtime.name == "crun" and runtime.state.get_namespace() == ""
        assert config.explicit == {"state_type", "runtime", "graph_root", "run_root",
                                   "max_log_size"}
    finally:
        runtime.shutdown()


def test_an_unusable_directory_is_a_one_line_error_not_an_internal_one():
    result = run_pypod("--config", os.devnull, "--root", "/dev/null/x", "--state-type",
                       "memory", "info")
    assert result.returncode == 125
    assert result.stderr.strip().splitlines() == [
        "Error: graph_root /dev/null/x: Not a directory"]


@pytest.mark.parametrize("state_type", ["sqlite", "memory"])
def test_info_counts_containers_without_reading_every_record(make_runtime, state_type,
                                                             monkeypatch):
    runtime = make_runtime(state_type=state_type)
    for name in ("one", "two", "three"):
        _add_container(runtime, name)
    for name, status in (("two", ContainerStatus.RUNNING), ("three", ContainerStatus.PAUSED)):
        record = runtime.state.lookup_container(name)
        record.state.state = status
        runtime.state.save_container_state(record.config.id, record.state)
    assert runtime.state.container_counts() == (3, 1, 1)
    if state_type == "sqlite":  # the backend counts: no record is read
        monkeypatch.setattr(type(runtime.state), "all_containers",
                            lambda self: pytest.fail("info read every container"))
    store = runtime.info()["store"]["containerStore"]
    assert store == {"number": 3, "paused": 1, "running": 1, "stopped": 1}
