"""``pypod info`` in podman's schema: the keys, nesting and order podman 4.3 prints
(scripts read ``.host.conmon.path``, ``{{.Host.Security.Rootless}}``, grep the YAML),
and the host readers behind them."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from conftest import run_pypod
from pypod_core.host import hostinfo


def _info(cli_flags: list[str], *args: str) -> str:
    result = run_pypod(*cli_flags, "--state-type", "memory", "info", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_json_has_podmans_host_and_store_keys(cli_flags: list[str]) -> None:
    data = json.loads(_info(cli_flags, "--format", "json"))
    host, store = data["host"], data["store"]
    assert host["cgroupManager"] in ("cgroupfs", "systemd")
    assert host["cgroupVersion"] in ("v1", "v2")
    assert os.path.isabs(host["conmon"]["path"]) and "conmon" in host["conmon"]["version"]
    assert host["ociRuntime"]["name"] == "runc"
    assert os.path.isabs(host["ociRuntime"]["path"])
    assert host["security"]["rootless"] is False
    assert host["distribution"] == hostinfo.distribution()
    assert host["logDriver"] == "k8s-file" and host["networkBackend"] == "cni"
    assert store["graphOptions"] == {} and store["imageStore"] == {"number": 0}
    assert store["containerStore"] == {"number": 0, "paused": 0, "running": 0, "stopped": 0}
    assert store["graphRootAllocated"] >= store["graphRootUsed"] > 0
    assert data["plugins"]["log"] == ["k8s-file"] and data["plugins"]["volume"] == ["local"]
    assert data["version"]["Os"] == "linux"


def test_binaries_name_their_debian_package(cli_flags: list[str]) -> None:
    host = json.loads(_info(cli_flags, "--format", "json"))["host"]
    assert host["conmon"]["package"].startswith("conmon_")
    assert host["ociRuntime"]["package"].startswith("runc_")
    assert hostinfo.package_of("/nonexistent/binary") == ""
    # --network slirp4netns's binary (scripts read .host.slirp4netns.executable)
    slirp = host["slirp4netns"]
    assert list(slirp) == ["executable", "package", "version"]
    assert os.path.isabs(slirp["executable"]) and slirp["package"].startswith("slirp4netns_")
    assert slirp["version"].startswith("slirp4netns version ")


def test_text_nests_keys_in_podmans_order_with_yaml_scalars(cli_flags: list[str]) -> None:
    text = _info(cli_flags)
    # podman's YAML puts package first under conmon, name first under ociRuntime.
    assert re.search(r"^  conmon:\n    package: ", text, re.M)
    assert re.search(r"^  ociRuntime:\n    name: runc$", text, re.M)
    assert re.search(r"^  imageStore:\n    number: 0$", text, re.M)
    assert "    rootless: false\n" in text and "  graphOptions: {}\n" in text
    assert "  gidmap: null\n" in text


def test_templates_see_podmans_field_names(cli_flags: list[str]) -> None:
    out = _info(cli_flags, "--format", "{{.Host.Security.Rootless}} {{.Host.CgroupsVersion}} "
                "{{.Host.EventLogger}} {{.Store.GraphOptions}} "
                "{{.Host.Distribution.Distribution}} {{.Host.Security.SECCOMPEnabled}}")
    distro = hostinfo.distribution()["distribution"]
    version = hostinfo.cgroup_version()
    assert out == f"false {version} none map[] {distro} true\n"


def test_distribution_reads_os_release(tmp_path: Path) -> None:
    release = tmp_path / "os-release"
    release.write_text('NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n'
                       "VERSION_CODENAME=bookworm\n")
    assert hostinfo.distribution(str(release)) == {
        "distribution": "debian", "version": "12", "codename": "bookworm"}
    assert hostinfo.distribution(str(tmp_path / "none")) == {
        "distribution": "", "version": "", "codename": ""}


def test_cgroup_version_follows_the_unified_root(tmp_path: Path) -> None:
    assert hostinfo.cgroup_version(str(tmp_path)) == "v1"
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    assert hostinfo.cgroup_version(str(tmp_path)) == "v2"
    assert hostinfo.cgroup_controllers(str(tmp_path)) == ["cpu", "memory", "pids"]
