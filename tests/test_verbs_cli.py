"""Small verbs, as podman's: ``version`` (its layout and ``--format`` keys), the
``exists`` of containers, pods and networks (exit 0 or 1), and what pypod refuses by
name (``build``: exit 125, one line)."""

from __future__ import annotations

import json
import time

from conftest import run_pypod


def test_version_layout_and_format() -> None:
    result = run_pypod("version")
    assert result.returncode == 0, result.stderr
    labels = [line.split(":")[0] for line in result.stdout.splitlines()]
    assert labels == ["Client", "Version", "API Version", "Go Version", "Built", "OS/Arch"]
    built = result.stdout.split("Built:")[1].splitlines()[0].strip()
    assert time.strptime(built, "%a %b %d %H:%M:%S %Y").tm_year >= 2019
    doc = json.loads(run_pypod("version", "--format", "json").stdout)
    assert set(doc["Client"]) == {"APIVersion", "Version", "GoVersion", "GitCommit",
                                  "BuiltTime", "Built", "OsArch", "Os"}
    assert doc["Client"]["APIVersion"] == "4.3.1"
    templated = run_pypod("version", "--format", "{{.Client.Version}} {{.Client.Os}}")
    assert templated.stdout == f"{doc['Client']['Version']} linux\n"


def test_exists(cli_flags: list[str], rootfs: str) -> None:
    assert run_pypod(*cli_flags, "create", "--name", "here", "--rootfs", rootfs,
                     "true").returncode == 0
    assert run_pypod(*cli_flags, "pod", "create", "--name", "pod-here",
                     "--infra=false").returncode == 0
    codes = [run_pypod(*cli_flags, *args).returncode for args in (
        ("container", "exists", "here"), ("container", "exists", "nowhere"),
        ("pod", "exists", "pod-here"), ("pod", "exists", "nowhere"))]
    assert codes == [0, 1, 0, 1]
    outputs = run_pypod(*cli_flags, "container", "exists", "nowhere")
    assert (outputs.stdout, outputs.stderr) == ("", "")


def test_network_exists(net_config: str) -> None:
    codes = [run_pypod("--config", net_config, "network", "exists", name).returncode
             for name in ("podman", "nowhere")]
    assert codes == [0, 1]


def test_refused_verbs_say_so_in_one_line(cli_flags: list[str]) -> None:
    for args in (("build", "-t", "x", "."),):
        result = run_pypod(*cli_flags, *args)
        assert result.returncode == 125
        assert "not supported by pypod" in result.stderr
        assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
