"""``--systemd``: systemd mode as a user meets it (real runc under conmon): the tmpfs
and the writable ``name=systemd`` cgroup hierarchy seen from inside, ``container_uuid``,
``SIGRTMIN+3`` as the stop signal (in inspect, and sent by ``stop``), no host terminals
with ``--privileged``, and which commands ``--systemd=true`` takes for an init.  The
init here is a shell script named ``/sbin/init`` (pypod only looks at the command's
path; systemd itself is not installed for the tests).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary, run_pypod
from pypod_core.engine import systemd_mode
from pypod_core.errors import InvalidArgError
from pypod_core.host.rootfs import make_busybox_rootfs
from pypod_core.model import ContainerConfig
from pypod_core.testing.host import await_signal_handled

Pypod = Callable[..., subprocess.CompletedProcess[str]]
#: What the init script prints: its mounts, then that it is ready.
INIT = """#!/bin/sh
trap 'echo halted by $1; exit 0' 37
cat /proc/mounts
echo ready
while :; do sleep 0.1; done
"""


@pytest.fixture
def pypod(cli_flags: list[str]) -> Iterator[Pypod]:
    """``pypod(*args)`` on this test's store with runc; containers removed afterwards."""
    need_binary("runc")
    need_binary("conmon")
    flags = [*cli_flags, "--runtime", "runc"]

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return run_pypod(*flags, *args)

    yield call
    call("rm", "-a", "-f", "-t", "0")


@pytest.fixture(scope="module")
def init_rootfs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A busybox rootfs whose /sbin/init is :data:`INIT`."""
    need_binary("busybox")
    root = make_busybox_rootfs(str(tmp_path_factory.mktemp("initfs")))
    os.makedirs(os.path.join(root, "sbin"), exist_ok=True)
    init = Path(root, "sbin", "init")
    init.write_text(INIT)
    init.chmod(0o755)
    return root


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def inspect(pypod: Pypod, ctr: str) -> dict[str, Any]:
    return dict(json.loads(ok(pypod("inspect", ctr)))[0])


def mounts_of(text: str) -> dict[str, tuple[str, list[str]]]:
    """``/proc/mounts`` as {mount point: (fs type, options)} (the last mount wins)."""
    table = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            table[fields[1]] = (fields[2], fields[3].split(","))
    return table


def test_systemd_mode_mounts_tmpfs_and_a_writable_systemd_hierarchy(
        pypod: Pypod, rootfs: str) -> None:
    script = ("cat /proc/mounts; echo ---; "
              "own=$(sed -n 's/^[0-9]*:name=systemd://p' /proc/self/cgroup); "
              "mkdir /sys/fs/cgroup/systemd$own/unit && echo made "
              "&& rmdir /sys/fs/cgroup/systemd$own/unit")
    out = ok(pypod("run", "--rm", "--systemd=always", "--rootfs", rootfs,
                   "sh", "-c", script))
    table, rest = out.split("---\n")
    mounts = mounts_of(table)
    for path in systemd_mode.TMPFS:
        kind, options = mounts[path]
        assert kind == "tmpfs" and "rw" in options and "nosuid" in options \
            and "nodev" in options, (path, mounts[path])
    if os.path.isdir(systemd_mode.SYSTEMD_HIERARCHY):  # cgroups v1 (this host's)
        kind, options = mounts[systemd_mode.SYSTEMD_HIERARCHY]
        assert kind == "cgroup" and "rw" in options and "name=systemd" in options
        assert rest == "made\n"  # systemd can make its units' cgroups
        assert mounts[f"{systemd_mode.SYSTEMD_HIERARCHY}/release_agent"][0] == "tmpfs"


def test_without_systemd_mode_nothing_changes(pypod: Pypod, rootfs: str) -> None:
    out = ok(pypod("run", "--rm", "--rootfs", rootfs, "cat", "/proc/mounts"))
    mounts = mounts_of(out)
    assert not any(path in mounts for path in systemd_mode.TMPFS)
    if os.path.isdir(systemd_mode.SYSTEMD_HIERARCHY):
        assert "ro" in mounts[systemd_mode.SYSTEMD_HIERARCHY][1]


def test_the_users_own_mounts_win(pypod: Pypod, rootfs: str, tmp_path: Path) -> None:
    (tmp_path / "mine").write_text("mine\n")
    out = ok(pypod("run", "--rm", "--systemd=always", "-v", f"{tmp_path}:/tmp",
                   "--tmpfs", "/run:size=1m", "--rootfs", rootfs,
                   "sh", "-c", "cat /tmp/mine; cat /proc/mounts"))
    assert out.startswith("mine\n")
    mounts = mounts_of(out)
    assert "size=1024k" in mounts["/run"][1]
    assert mounts["/run/lock"][0] == "tmpfs"  # what the user left alone is mounted


def test_read_only_keeps_its_scratch_tmpfs_and_gets_the_rest(pypod: Pypod,
                                                              rootfs: str) -> None:
    out = ok(pypod("run", "--rm", "--read-only", "--systemd=always", "--rootfs", rootfs,
                   "sh", "-c", "touch /run/lock/x /var/log/journal/x && cat /proc/mounts"))
    mounts = mounts_of(out)
    # --read-only's own tmpfs on /run, not a second one over it
    assert [line.split()[1] for line in out.splitlines()].count("/run") == 1
    assert mounts["/var/log/journal"][0] == "tmpfs"


def test_stop_signal_and_container_uuid(pypod: Pypod, rootfs: str) -> None:
    ctr = ok(pypod("create", "--systemd=always", "--rootfs", rootfs, "sh")).strip()
    data = inspect(pypod, ctr)
    assert data["Config"]["SystemdMode"] is True
    assert data["Config"]["StopSignal"] == systemd_mode.stop_signal() == 37
    assert f"container_uuid={ctr[:32]}" in data["Config"]["Env"]
    own = ok(pypod("create", "--systemd=always", "--stop-signal", "TERM",
                   "--rootfs", rootfs, "sh")).strip()
    assert inspect(pypod, own)["Config"]["StopSignal"] == 15
    plain = inspect(pypod, ok(pypod("create", "--rootfs", rootfs, "sh")).strip())
    assert plain["Config"]["SystemdMode"] is False
    assert plain["Config"]["StopSignal"] == 15
    assert not any(e.startswith("container_uuid=") for e in plain["Config"]["Env"])
    echo = ["sh", "-c", "echo $container_uuid"]
    out = ok(pypod("run", "--name", "uuid", "--systemd=always", "--rootfs", rootfs, *echo))
    assert out == inspect(pypod, "uuid")["Id"][:32] + "\n"
    out = ok(pypod("run", "--rm", "--systemd=always", "-e", "container_uuid=mine",
                   "--rootfs", rootfs, *echo))
    assert out == "mine\n"


def test_stop_sends_sigrtmin_plus_3(pypod: Pypod, init_rootfs: str) -> None:
    ctr = ok(pypod("run", "-d", "--rootfs", init_rootfs, "/sbin/init")).strip()
    ok(pypod("wait", "--condition", "running", ctr))
    pid = inspect(pypod, ctr)["State"]["Pid"]
    # Before its trap, signal 37 to pid 1 is dropped: stop would wait 60 s, then kill.
    await_signal_handled(pid, 37)
    ok(pypod("stop", "-t", "60", ctr))
    assert "halted by" in ok(pypod("logs", ctr))
    assert inspect(pypod, ctr)["State"]["ExitCode"] == 0  # the init's own exit


def test_privileged_systemd_gets_no_host_terminals(pypod: Pypod, rootfs: str) -> None:
    assert any(name.startswith("tty") and name != "tty" for name in os.listdir("/dev"))
    listing = "ls /dev/tty*"
    plain = ok(pypod("run", "--rm", "--privileged", "--rootfs", rootfs, "sh", "-c", listing))
    assert plain.split() != ["/dev/tty"]
    out = ok(pypod("run", "--rm", "--privileged", "--systemd=always", "--rootfs", rootfs,
                   "sh", "-c", listing))
    assert out.split() == ["/dev/tty"]


@pytest.mark.parametrize("command, mode", [
    (["/sbin/init"], True),
    (["/usr/sbin/init"], True),
    (["/usr/local/sbin/init"], True),
    (["/lib/systemd/systemd", "--log-level=debug"], True),
    (["/bin/sh", "-c", "/sbin/init"], True),
    (["init"], False),
    (["/usr/bin/init"], False),
    (["/bin/sh", "-c", "/sbin/init --verbose"], False),
    (["sh"], False),
])
def test_which_commands_are_an_init(command: list[str], mode: bool) -> None:
    assert systemd_mode.wanted("true", command) is mode
    assert systemd_mode.wanted("false", command) is False
    assert systemd_mode.wanted("always", command) is True


def test_true_runs_an_init_in_systemd_mode(pypod: Pypod, init_rootfs: str) -> None:
    ctr = ok(pypod("run", "-d", "--rootfs", init_rootfs, "/sbin/init")).strip()
    ok(pypod("wait", "--condition", "running", ctr))
    assert inspect(pypod, ctr)["Config"]["SystemdMode"] is True
    off = ok(pypod("create", "--systemd=false", "--rootfs", init_rootfs, "/sbin/init"))
    assert inspect(pypod, off.strip())["Config"]["SystemdMode"] is False
    ok(pypod("stop", "-t", "60", ctr))
    assert mounts_of(ok(pypod("logs", ctr)))["/run"][0] == "tmpfs"


def test_bad_values_are_refused(pypod: Pypod, rootfs: str) -> None:
    bogus = pypod("create", "--systemd", "maybe", "--rootfs", rootfs, "true")
    assert bogus.returncode == 125
    assert bogus.stderr == ('Error: invalid config provided: --systemd values must be '
                            'one of "true, false, always"\n')
    init = pypod("create", "--init", "--systemd=always", "--rootfs", rootfs, "true")
    assert init.returncode == 125
    assert "cannot use container-init binary with systemd=always" in init.stderr
    assert ok(pypod("ps", "-a", "-q")) == ""


def test_cgroups_v2_binds_the_unified_hierarchy(tmp_path: Path) -> None:
    # A directory standing in for a v2 host's /sys/fs/cgroup (this host has v1).
    (tmp_path / "cgroup.controllers").write_text("cpu memory pids\n")
    config = ContainerConfig(id="a" * 64, name="x", command=("sh",), rootfs="/",
                             systemd_mode=True)
    kernel = [{"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["ro"]}]
    left, added = systemd_mode.mounts(config, kernel, [], cgroup_root=str(tmp_path))
    assert left == []
    assert added[-1] == {"destination": "/sys/fs/cgroup", "type": "bind",
                         "source": str(tmp_path), "options": ["bind", "private", "rw"]}


def test_v1_without_a_systemd_hierarchy_binds_nothing(tmp_path: Path) -> None:
    config = ContainerConfig(id="a" * 64, name="x", command=("sh",), rootfs="/",
                             systemd_mode=True)
    _, added = systemd_mode.mounts(config, [], [], cgroup_root=str(tmp_path))
    assert [m["destination"] for m in added] == list(systemd_mode.TMPFS)


def test_an_images_init_cmd_and_stop_signal(make_runtime: Callable[..., Any],
                                            busybox_tar: str) -> None:
    """From Python: an image whose Cmd is an init runs in systemd mode; its own
    StopSignal wins over systemd's, as the user's does."""
    rt = make_runtime()
    rt.import_image([busybox_tar], {"config": {"Cmd": ["/sbin/init"]}}, names=["initimg"])
    rt.import_image([busybox_tar], {"config": {"Cmd": ["/sbin/init"], "StopSignal": "2"}},
                    names=["initsig"])
    ctr = rt.create_container(image="initimg")
    assert ctr.config.systemd_mode and ctr.config.stop_signal == systemd_mode.stop_signal()
    assert rt.create_container(image="initsig").config.stop_signal == 2
    assert not rt.create_container(image="initimg", systemd="false").config.systemd_mode
    with pytest.raises(InvalidArgError, match="--systemd values must be one of"):
        rt.create_container(image="initimg", systemd="sometimes")
    assert len(rt.containers()) == 3  # the refused one left nothing behind
