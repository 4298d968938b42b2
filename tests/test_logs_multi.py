"""``pypod logs`` of several containers, as podman's: lines merged in time order, each
after its container's short id (``--names``: name), ``--timestamps`` with nine decimals,
``--until``, ``-f`` over several running containers."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator

import pytest

from conftest import need_binary, run_pypod

Pypod = Callable[..., subprocess.CompletedProcess[str]]
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}(Z|[+-]\d\d:\d\d)"


@pytest.fixture
def pypod(cli_flags: list[str]) -> Iterator[Pypod]:
    need_binary("runc")
    need_binary("conmon")
    yield lambda *args, **kw: run_pypod(*cli_flags, *args, **kw)
    run_pypod(*cli_flags, "rm", "-a", "-f", "-t", "0")


def _id(pypod: Pypod, name: str) -> str:
    return pypod("inspect", "--format", "{{.Id}}", name).stdout.strip()[:12]


def test_several_containers_merged_by_time(pypod: Pypod, rootfs: str) -> None:
    pypod("run", "-d", "--name", "a", "--rootfs", rootfs, "sh", "-c",
          "echo a1; sleep 1; echo a2")
    pypod("run", "-d", "--name", "b", "--rootfs", rootfs, "sh", "-c",
          "sleep 0.5; echo b1 >&2; sleep 1; echo b2")
    pypod("wait", "a", "b")
    a, b = _id(pypod, "a"), _id(pypod, "b")
    result = pypod("logs", "a", "b")
    assert result.stdout == f"{a} a1\n{a} a2\n{b} b2\n"
    assert result.stderr == f"{b} b1\n"
    named = pypod("logs", "--names", "-t", "b", "a").stdout.splitlines()
    assert [re.sub(STAMP, "T", line) for line in named] == ["a T a1", "a T a2", "b T b2"]
    # One container: no prefix, as podman's; --until before it ran: nothing.
    assert pypod("logs", "-t", "--tail", "1", "a").stdout.split()[1:] == ["a2"]
    assert pypod("logs", "--until", "1000", "a", "b").stdout == ""


def test_follow_several_running_containers(pypod: Pypod, rootfs: str) -> None:
    for name in ("x", "y"):
        pypod("run", "-d", "--name", name, "--rootfs", rootfs, "sh", "-c",
              f"sleep 1; echo {name}1; sleep 1; echo {name}2")
    result = pypod("logs", "-f", "-n", "x", "y", timeout=60)
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == ["x x1", "x x2", "y y1", "y y2"]
    lines = result.stdout.splitlines()
    assert lines.index("x x1") < lines.index("x x2") and lines.index("y y1") < lines.index(
        "y y2")
