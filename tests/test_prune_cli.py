"""``container prune``, ``pod prune`` and ``network prune``: what podman removes, and
only that, printed as podman prints it; the question unless ``-f``; filters."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from conftest import need_binary, run_pypod

Pypod = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def pypod(cli_flags: list[str]) -> Iterator[Pypod]:
    need_binary("runc")
    need_binary("conmon")
    yield lambda *args, **kw: run_pypod(*cli_flags, *args, **kw)
    run_pypod(*cli_flags, "rm", "-a", "-f", "-t", "0")
    run_pypod(*cli_flags, "pod", "rm", "-a", "-f", "-t", "0")


def _names(pypod: Pypod) -> set[str]:
    return set(pypod("ps", "-a", "--format", "{{.Names}}").stdout.split())


def _id(pypod: Pypod, name: str) -> str:
    return pypod("inspect", "--format", "{{.Id}}", name).stdout.strip()


def test_container_prune_removes_what_does_not_run(pypod: Pypod, rootfs: str) -> None:
    pypod("run", "-d", "--name", "running", "--rootfs", rootfs, "sleep", "100")
    pypod("run", "--name", "exited", "--rootfs", rootfs, "true")
    pypod("create", "--name", "created", "--rootfs", rootfs, "true")
    gone = {_id(pypod, "exited"), _id(pypod, "created")}
    result = pypod("container", "prune", "-f")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == gone
    assert _names(pypod) == {"running"}


def test_container_prune_asks_first(pypod: Pypod, rootfs: str) -> None:
    pypod("create", "--name", "kept", "--rootfs", rootfs, "true")
    result = pypod("container", "prune", input="n\n")
    assert result.stdout.startswith("WARNING! This will remove all non running containers.")
    assert _names(pypod) == {"kept"}
    kept = _id(pypod, "kept")
    assert pypod("container", "prune", input="y\n").stdout.splitlines()[-1].endswith(kept)
    assert _names(pypod) == set()


def test_container_prune_filters(pypod: Pypod, rootfs: str) -> None:
    pypod("create", "--name", "old", "-l", "keep=no", "--rootfs", rootfs, "true")
    time.sleep(1.1)
    pypod("create", "--name", "young", "-l", "keep=yes", "--rootfs", rootfs, "true")
    pypod("container", "prune", "-f", "--filter", "until=1s")
    assert _names(pypod) == {"young"}
    pypod("create", "--name", "other", "--rootfs", rootfs, "true")
    pypod("container", "prune", "-f", "--filter", "label!=keep=yes")
    assert _names(pypod) == {"young"}
    pypod("container", "prune", "-f", "--filter", "label=keep")
    assert _names(pypod) == set()
    bad = pypod("container", "prune", "-f", "--filter", "name=x")
    assert (bad.returncode, bad.stderr) == (125, "Error: name is an invalid filter\n")


def test_pod_prune_removes_stopped_pods(pypod: Pypod, rootfs: str) -> None:
    pypod("pod", "create", "--name", "up")
    pypod("run", "-d", "--pod", "up", "--rootfs", rootfs, "sleep", "100")
    pypod("pod", "create", "--name", "down")
    pypod("run", "--pod", "down", "--rootfs", rootfs, "true")
    pypod("pod", "stop", "down")
    down = pypod("pod", "inspect", "--format", "{{.Id}}", "down").stdout.strip()
    result = pypod("pod", "prune", "-f")
    assert (result.returncode, result.stdout) == (0, down + "\n")
    assert pypod("pod", "ps", "--format", "{{.Name}}").stdout.split() == ["up"]


def test_network_prune_keeps_used_and_default(net_config: str, rootfs: str) -> None:
    need_binary("iptables")
    flags = ["--config", net_config]
    for name in ("unused", "used"):
        assert run_pypod(*flags, "network", "create", name).returncode == 0
    run_pypod(*flags, "create", "--network", "used", "--rootfs", rootfs, "true")
    try:
        result = run_pypod(*flags, "network", "prune", "-f")
        assert (result.returncode, result.stdout) == (0, "unused\n")
        names = run_pypod(*flags, "network", "ls", "-q").stdout.split()
        assert "used" in names and "unused" not in names and len(names) == 2
        refused = run_pypod(*flags, "network", "prune", "-f", "--filter", "label=a")
        assert refused.returncode == 125 and "not supported by pypod" in refused.stderr
    finally:
        run_pypod(*flags, "rm", "-a", "-f")
        run_pypod(*flags, "network", "rm", "used")
