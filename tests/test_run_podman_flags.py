"""``run``'s flags as podman's: ``--attach`` of single streams, ``--http-proxy``, the
block I/O throttles, ``--kernel-memory``'s warning, device cgroup rules of a major
alone, the log size inspect shows, the exit code of a run whose port is taken, and
``exec --detach``, ``--runtime PATH``.
Real runc under conmon on each test's own store."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import need_binary, run_pypod
from pypod_core.engine.resources import parse_cgroup_rule
from pypod_core.testing.network import free_port

Pypod = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def pypod(cli_flags: list[str]) -> Iterator[Pypod]:
    """``pypod(*args)`` on this test's store; containers removed afterwards."""
    need_binary("runc")
    need_binary("conmon")

    def call(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return run_pypod(*cli_flags, *args, **kwargs)  # type: ignore[arg-type]

    yield call
    call("rm", "-a", "-f", "-t", "0")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


SCRIPT = "echo out; echo err >&2"


def test_attach_gives_only_the_streams_named(pypod: Pypod, rootfs: str) -> None:
    err_only = pypod("run", "--rm", "-a", "stderr", "--rootfs", rootfs, "sh", "-c", SCRIPT)
    assert (err_only.returncode, err_only.stdout, err_only.stderr) == (0, "", "err\n")
    out_only = pypod("run", "--rm", "--attach", "STDOUT", "--rootfs", rootfs, "sh", "-c",
                     SCRIPT)
    assert (out_only.stdout, out_only.stderr) == ("out\n", "")
    piped = pypod("run", "--rm", "-i", "-a", "stdin", "-a", "stdout", "--rootfs", rootfs,
                  "cat", input="typed\n")
    assert piped.stdout == "typed\n"


def test_attach_of_stdin_alone_prints_the_id(pypod: Pypod, rootfs: str) -> None:
    shown = ok(pypod("run", "--name", "quiet", "--attach", "stdin", "--rootfs", rootfs,
                     "echo", "hello"))
    assert shown == ok(pypod("inspect", "--format", "{{.Id}}", "quiet"))
    # what it wrote is in its log all the same
    assert ok(pypod("logs", "quiet")) == "hello\n"


@pytest.mark.parametrize("flags, says", [
    (["-a", "stdio"], 'Error: invalid stream "stdio" for --attach - must be one of stdin, '
                      "stdout, or stderr: invalid argument"),
    (["-a", "stdout", "-d"], "Error: --attach and --detach cannot be used together"),
    (["--http-proxy=maybe"], 'Error: invalid argument "maybe" for "--http-proxy" flag: '
                             'strconv.ParseBool: parsing "maybe": invalid syntax'),
    (["--device-read-bps", "sda"], "Error: bad format for device: sda"),
    (["--device-write-iops", "/dev/null:lots"], "Error: invalid IOps for device: "
     "/dev/null:lots. The correct format is <device-path>:<number>[<unit>]. Number must "
     "be a positive integer. Unit is optional and can be kb, mb, or gb"),
    (["--device-read-bps", "/no/such:1mb"],
     "Error: --device-read-bps /no/such: No such file or directory"),
])
def test_bad_values_are_refused_before_anything_is_made(pypod: Pypod, rootfs: str,
                                                         flags: list[str], says: str) -> None:
    result = pypod("run", *flags, "--rootfs", rootfs, "true")
    assert (result.returncode, result.stderr.strip()) == (125, says)
    assert ok(pypod("ps", "-a", "-q")) == ""


def test_http_proxy_passes_the_proxy_variables_unless_false(pypod: Pypod,
                                                             rootfs: str) -> None:
    env = {"http_proxy": "http://proxy.test:3128", "NO_PROXY": "local"}
    shown = ok(pypod("run", "--rm", "--rootfs", rootfs, "env", env=env)).splitlines()
    assert "http_proxy=http://proxy.test:3128" in shown and "NO_PROXY=local" in shown
    off = ok(pypod("run", "--rm", "--http-proxy=false", "--rootfs", rootfs, "env", env=env))
    assert "proxy" not in off.lower()
    # -e wins over the host's value
    mine = ok(pypod("run", "--rm", "-e", "http_proxy=mine", "--rootfs", rootfs, "env",
                    env=env)).splitlines()
    assert "http_proxy=mine" in mine


def _block_device() -> Path | None:
    for name in sorted(os.listdir("/sys/block")):
        node = Path("/dev") / name
        if node.exists() and stat.S_ISBLK(node.stat().st_mode):
            return node
    return None


def test_block_io_throttles_reach_the_cgroup(pypod: Pypod, rootfs: str) -> None:
    device = _block_device()
    if device is None:
        pytest.skip("no block device node on this machine")
    rdev = device.stat().st_rdev
    number = f"{os.major(rdev)}:{os.minor(rdev)}"
    ctr = ok(pypod("run", "-d", f"--device-read-bps={device}:1mb",
                   "--device-write-iops", f"{device}:30", "--rootfs", rootfs,
                   "sleep", "60")).strip()
    blkio = Path("/sys/fs/cgroup/blkio")
    if blkio.is_dir():  # cgroups v1
        base = blkio / "pypod" / ctr
        assert (base / "blkio.throttle.read_bps_device").read_text().split() == [
            number, "1048576"]
        assert (base / "blkio.throttle.write_iops_device").read_text().split() == [
            number, "30"]
    else:
        io_max = (Path("/sys/fs/cgroup/pypod") / ctr / "io.max").read_text()
        assert f"{number} rbps=1048576 wbps=max riops=max wiops=30" in io_max
    shown = ok(pypod("inspect", "--format", "{{json .HostConfig.BlkioDeviceReadBps}} "
                     "{{json .HostConfig.BlkioDeviceWriteIOps}}", ctr)).split()
    assert shown == [f'[{{"Path":"{device}","Rate":1048576}}]',
                     f'[{{"Path":"{device}","Rate":30}}]']


def test_kernel_memory_warns_that_it_does_nothing(pypod: Pypod, rootfs: str) -> None:
    result = pypod("run", "--rm", "--kernel-memory", "100", "--rootfs", rootfs, "echo", "ran")
    assert (result.returncode, result.stdout) == (0, "ran\n")
    assert result.stderr == ("WARN: The --kernel-memory flag is no longer supported. This "
                             "flag is a noop.\n")


def test_a_rule_of_a_major_alone_allows_every_minor() -> None:
    assert parse_cgroup_rule("a 7 rmw") == {"allow": True, "type": "a", "major": 7,
                                            "access": "rmw"}
    assert parse_cgroup_rule("c 7:3 r") == {"allow": True, "type": "c", "major": 7,
                                            "minor": 3, "access": "r"}


def test_inspect_shows_the_log_size_as_podman(pypod: Pypod, rootfs: str) -> None:
    ok(pypod("create", "--name", "sized", "--log-opt", "max-size=1.234m", "--rootfs", rootfs,
             "true"))
    shown = ok(pypod("inspect", "--format", "{{ .HostConfig.LogConfig.Size }}", "sized"))
    assert shown == "1.234MB\n"


def test_a_run_whose_port_is_taken_exits_126(pypod: Pypod, rootfs: str) -> None:
    port = free_port()
    ok(pypod("run", "-d", "--name", "holder", "-p", f"{port}:80", "--rootfs", rootfs,
             "sleep", "60"))
    kept = pypod("run", "-d", "--name", "kept", "-p", f"{port}:80", "--rootfs", rootfs,
                 "sleep", "60")
    assert kept.returncode == 126 and "address already in use" in kept.stderr
    removed = pypod("run", "--rm", "--name", "gone", "-p", f"{port}:80", "--rootfs",
                    rootfs, "true")
    assert removed.returncode == 126
    names = ok(pypod("ps", "-a", "--format", "{{.Names}} {{.Status}}")).splitlines()
    assert sorted(n.split()[0] for n in names) == ["holder", "kept"]  # --rm's is gone
    assert "kept Created" in names


def test_exec_detach_leaves_the_command_running(pypod: Pypod, rootfs: str) -> None:
    ok(pypod("run", "-d", "--name", "host", "--rootfs", rootfs, "sleep", "60"))
    started = time.monotonic()
    session = ok(pypod("exec", "-d", "host", "sh", "-c",
                       "sleep 1; echo done > /tmp/marker; sleep 30")).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", session)
    assert time.monotonic() - started < 30  # it did not wait for the command
    assert "sleep 30" in ok(pypod("exec", "host", "sh", "-c", "sleep 1.5; ps"))
    assert ok(pypod("exec", "host", "cat", "/tmp/marker")) == "done\n"


def test_a_runtime_given_by_path_is_used_and_recorded(pypod: Pypod, rootfs: str,
                                                      tmp_path: Path) -> None:
    copy = tmp_path / "myruntime"
    shutil.copy2(shutil.which("runc") or "", copy)
    cid = ok(pypod("run", "-d", "--runtime", str(copy), "--rootfs", rootfs,
                   "sleep", "60")).strip()
    assert ok(pypod("inspect", "--format", "{{.OCIRuntime}}", cid)) == f"{copy}\n"
    # the later commands need no --runtime: the container is found where it was made
    ok(pypod("kill", cid))
    assert ok(pypod("wait", cid)) == "137\n"
    missing = pypod("run", "--runtime", str(tmp_path / "none"), "--rootfs", rootfs, "true")
    assert missing.returncode == 125 and "could not find a working binary" in missing.stderr
    relative = pypod("run", "--runtime", "bin/runc", "--rootfs", rootfs, "true")
    assert "is not an absolute path" in relative.stderr


def test_inspect_latest_is_the_newest_container(pypod: Pypod, rootfs: str) -> None:
    assert "no latest container" in pypod("inspect", "-l").stderr
    ok(pypod("create", "--name", "older", "--rootfs", rootfs, "true"))
    ok(pypod("create", "--name", "newer", "--rootfs", rootfs, "true"))
    assert ok(pypod("inspect", "-l", "--format", "{{.Name}}")) == "newer\n"
    both = pypod("inspect", "--latest", "older")
    assert (both.returncode, both.stderr) == (
        125, "Error: --latest and containers cannot be used together\n")
    assert pypod("inspect").stderr == "Error: no names or ids specified\n"


def test_default_variables_and_unsetenv(pypod: Pypod, rootfs: str) -> None:
    def env(*flags: str) -> dict[str, str]:
        out = ok(pypod("run", "--rm", *flags, "--rootfs", rootfs, "/bin/env"))
        return dict(line.split("=", 1) for line in out.splitlines())

    plain = env()
    assert plain["TERM"] == "xterm" and plain["container"] == "pypod"  # as podman's
    assert "PATH" in plain
    assert "TERM" not in env("--unsetenv", "TERM") and "PATH" in env("--unsetenv", "TERM")
    bare = env("--unsetenv-all")
    assert not {"TERM", "container", "PATH"} & set(bare)
    assert env("--unsetenv-all", "-e", "TERM=abc")["TERM"] == "abc"  # -e stays


def test_unsetenv_drops_the_images_variables(pypod: Pypod, busybox_tar: str,
                                             make_runtime: Callable[..., object],
                                             cli_flags: list[str]) -> None:
    config = {"config": {"Cmd": ["env"], "Env": ["FROM_IMAGE=1", "OTHER=2"]}}
    runtime: object = make_runtime()
    runtime.import_image([busybox_tar], config, names=["localhost/envs:1"])  # type: ignore[attr-defined]
    shown = ok(pypod("run", "--rm", "--unsetenv", "FROM_IMAGE", "localhost/envs:1"))
    assert "FROM_IMAGE" not in shown and "OTHER=2" in shown
