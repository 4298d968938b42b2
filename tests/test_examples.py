"""The plugin guide's two example packages, installed with pip as a user would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_pypod

EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Both examples installed by pip (no index: their dependencies are installed)."""
    target = tmp_path_factory.mktemp("site")
    for example in ("pypod-runtime-env", "pypod-state-jsonfile"):
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
             "--no-build-isolation", "--target", str(target), str(EXAMPLES / example)],
            check=True, capture_output=True, cwd=target)
    return str(target)


def test_examples_are_discovered_as_third_party_plugins(site: str, cli_flags):
    result = run_pypod(*cli_flags, "plugins", "--json", env={"PYTHONPATH": site})
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["runtime_env"]["distribution"] == "pypod-runtime-env"
    assert rows["runtime_env"]["hooks"] == ["pypod_find_runtime_path"]
    assert rows["state_jsonfile"]["backends"] == {"state": ["jsonfile"]}


def test_stage_example_serves_find_runtime_path_only_when_asked(site: str, cli_flags):
    crun = shutil.which("crun") or "/usr/bin/crun"
    env = {"PYTHONPATH": site, "PYPOD_RUNTIME_BINARY": crun}
    traced = run_pypod(*cli_flags, "--trace-plugins", "info", "--format", "json", env=env)
    assert traced.returncode == 0, traced.stderr
    assert json.loads(traced.stdout)["host"]["ociRuntime"]["path"] == crun
    line = next(x for x in traced.stderr.splitlines() if "find_runtime_path" in x)
    assert line.split()[3] == "runtime_env"
    deferred = run_pypod(*cli_flags, "--trace-plugins", "info", env={"PYTHONPATH": site})
    line = next(x for x in deferred.stderr.splitlines() if "find_runtime_path" in x)
    assert line.split()[3] == "pypod_core.engine.defaults"
    bad = run_pypod(*cli_flags, "info", env={"PYTHONPATH": site,
                                            "PYPOD_RUNTIME_BINARY": "/nonexistent"})
    assert bad.returncode == 125
    assert bad.stderr.strip() == ("Error: PYPOD_RUNTIME_BINARY=/nonexistent is not an "
                                  "executable file")


def test_backend_example_keeps_state_across_processes(site: str, cli_flags, rootfs):
    env = {"PYTHONPATH": site}
    flags = [*cli_flags, "--state-type", "jsonfile"]
    created = run_pypod(*flags, "create", "--name", "kept", "--rootfs", rootfs, "true", env=env)
    assert created.returncode == 0, created.stderr
    listed = run_pypod(*flags, "ps", "-a", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr
    assert [c["Names"] for c in json.loads(listed.stdout)] == [["kept"]]


def test_backend_example_passes_the_state_conformance_kit(site: str):
    env = {**os.environ, "PYTHONPATH": f"{site}:{REPO}"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         str(EXAMPLES / "pypod-state-jsonfile" / "tests")],
        capture_output=True, text=True, env=env, cwd=str(Path(site)))
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout.splitlines()[-1]
