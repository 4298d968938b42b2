"""``pypod top`` and ``pypod pod top``: a running container's processes as podman's psgo
lists them (the container's own pids and user names, the default columns, chosen
descriptors, AIX codes); an unknown descriptor or a stopped container is one line."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest

from conftest import need_binary, run_pypod
from pypod_core.engine.top import go_duration, parse_descriptors
from pypod_core.errors import InvalidArgError

Pypod = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def pypod(cli_flags: list[str]) -> Iterator[Pypod]:
    need_binary("runc")
    need_binary("conmon")
    yield lambda *args, **kw: run_pypod(*cli_flags, *args, **kw)
    run_pypod(*cli_flags, "rm", "-a", "-f", "-t", "0")
    run_pypod(*cli_flags, "pod", "rm", "-a", "-f", "-t", "0")


def _rows(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines()]


def test_default_columns_and_the_containers_own_pids(pypod: Pypod, rootfs: str) -> None:
    pypod("run", "-d", "--name", "busy", "--user", "65534", "--rootfs", rootfs,
          "sh", "-c", "sleep 100 & exec sleep 200")
    result = pypod("top", "busy")
    assert result.returncode == 0, result.stderr
    rows = _rows(result.stdout)
    assert rows[0] == ["USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"]
    by_command = {" ".join(r[7:]): r for r in rows[1:]}
    assert set(by_command) == {"sleep 200", "sleep 100"}
    init, child = by_command["sleep 200"], by_command["sleep 100"]
    assert (init[1], init[2], child[2]) == ("1", "0", "1")
    assert init[0] == "nobody"  # the name in the container's /etc/passwd
    assert init[5] == "?" and init[6] == "0s"
    # Descriptors, comma-separated or not, and AIX codes; the host's pid beside.
    rows = _rows(pypod("top", "busy", "pid,hpid", "%c", "huser").stdout)
    assert rows[0] == ["PID", "HPID", "COMMAND", "HUSER"]
    assert rows[1][0] == "1" and int(rows[1][1]) > 1 and rows[1][2] == "sleep"


def test_bad_descriptor_and_stopped_container(pypod: Pypod, rootfs: str) -> None:
    pypod("create", "--name", "idle", "--rootfs", rootfs, "true")
    result = pypod("top", "idle")
    assert (result.returncode, result.stderr) == (
        125, "Error: top can only be used on running containers\n")
    pypod("run", "-d", "--name", "up", "--rootfs", rootfs, "sleep", "100")
    bad = pypod("top", "up", "pid,bogus")
    assert bad.returncode == 125 and bad.stderr.startswith("Error: 'bogus': unknown descriptor")
    assert len(bad.stderr.splitlines()) == 1


def test_pod_top_lists_every_running_container(pypod: Pypod, rootfs: str) -> None:
    pypod("pod", "create", "--name", "tp")
    for name, seconds in (("one", "100"), ("two", "101")):
        pypod("run", "-d", "--pod", "tp", "--name", name, "--rootfs", rootfs,
              "sleep", seconds)
    rows = _rows(pypod("pod", "top", "tp", "args").stdout)
    assert rows[0] == ["COMMAND"]
    assert {"sleep 100", "sleep 101", "/bin/sh /bin/pypod-pause"} <= {" ".join(r) for r in rows[1:]}
    pypod("pod", "stop", "-t", "0", "tp")
    stopped = pypod("pod", "top", "tp")
    assert stopped.returncode == 125 and "at least one running container" in stopped.stderr


def test_descriptors_and_durations() -> None:
    assert parse_descriptors([]) == ["user", "pid", "ppid", "pcpu", "etime", "tty",
                                     "time", "args"]
    assert parse_descriptors(["%p,%U", "comm"]) == ["pid", "user", "comm"]
    with pytest.raises(InvalidArgError, match="'x': unknown descriptor"):
        parse_descriptors(["pid,x"])
    assert [go_duration(s) for s in (0, 0.5, 5.25, 65, 3723)] == [
        "0s", "500ms", "5.25s", "1m5s", "1h2m3s"]
