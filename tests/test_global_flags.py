"""podman's global flags on ``pypod``: each overrides its config key, a value pypod cannot
honour is refused by name, the remote ones are answered as podman answers them with no
service, and an unknown flag is reported by name, never taken as an argument.  The real
command, real runc under conmon, each test on directories of its own."""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import need_binary, run_pypod

Pypod = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def pypod(cli_flags: list[str]) -> Iterator[Pypod]:
    """``pypod(*args)`` on this test's store (global flags go first in ``args``)."""

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return run_pypod(*cli_flags, *args)

    yield call
    run_pypod(*cli_flags, "rm", "-a", "-f", "-t", "0")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], code: int = 125) -> str:
    """The one error line of a command that failed with ``code``."""
    assert result.returncode == code, result
    [line] = result.stderr.splitlines()
    assert line.startswith("Error: ")
    return line


def test_version() -> None:
    for flag in ("--version", "-v"):
        result = run_pypod(flag)
        assert result.returncode == 0 and result.stdout.startswith("pypod version ")


def test_each_flag_overrides_its_config_key(pypod: Pypod, tmp_path: Path) -> None:
    conmon = need_binary("conmon")
    shown = tomllib.loads(ok(pypod(
        "--storage-driver", "vfs", "--volumepath", str(tmp_path / "vols"),
        "--tmpdir", str(tmp_path / "tmp"), "--cgroup-manager", "systemd",
        "--network-config-dir", str(tmp_path / "net"), "--events-backend", "none",
        "--runtime-flag", "log-format=json", "--runtime-flag", "debug",
        "--conmon", conmon, "--storage-opt=", "config", "show")))
    assert (shown["graph_driver"], shown["volume_path"], shown["tmp_dir"]) == (
        "vfs", str(tmp_path / "vols"), str(tmp_path / "tmp"))
    assert (shown["cgroup_manager"], shown["cni_config_dir"], shown["events_logger"]) == (
        "systemd", str(tmp_path / "net"), "none")
    assert shown["runtime_flags"] == ["log-format=json", "debug"]
    assert shown["conmon_path"] == [conmon]


def test_relative_directories_are_taken_from_the_current_one(pypod: Pypod) -> None:
    shown = tomllib.loads(ok(pypod("--volumepath", "vols", "config", "show")))
    assert shown["volume_path"] == str(Path.cwd() / "vols")


@pytest.mark.parametrize("flags, says", [
    (["--events-backend", "bogus"], '"bogus" is not a valid events backend'),
    (["--events-backend", "journald"], "--events-backend journald: pypod has no journald"),
    (["--cgroup-manager", "bogus"], "cgroup manager must be one of cgroupfs and systemd"),
    (["--storage-opt", "overlay.mountopt=nodev"], "--storage-opt 'overlay.mountopt=nodev'"),
    (["--network-cmd-path", "/usr/bin/slirp4netns"], "--network-cmd-path"),
    (["--runtime-flag=--debug"], "without its leading --"),
    (["--remote"], "unable to connect to Podman socket"),
    (["-r"], "pypod is daemonless"),
    (["--url", "unix:///tmp/none.sock"], "unix:///tmp/none.sock"),
    (["--connection", "far"], '"far" service destination not found'),
])
def test_values_pypod_cannot_honour_are_refused_by_name(pypod: Pypod, flags: list[str],
                                                        says: str) -> None:
    assert says in refused(pypod(*flags, "ps"))


def test_remote_without_a_command_shows_the_usage() -> None:
    result = run_pypod("--remote")
    assert result.returncode == 125 and result.stdout.startswith("Usage: pypod")


@pytest.mark.parametrize("args, says", [
    (["ps", "--bogus"], "unknown flag: --bogus (see 'pypod ps --help')"),
    (["--bogus", "ps"], "unknown flag: --bogus"),
    (["rm", "--bogus=1", "x"], "unknown flag: --bogus (see 'pypod rm --help')"),
    (["pod", "ps", "--bogus"], "unknown flag: --bogus (see 'pypod pod ps --help')"),
    (["run", "--bogus", "--rootfs", "/", "true"], "unknown flag: --bogus"),
    # no abbreviations, as podman's
    (["ps", "--al"], "unknown flag: --al"),
    (["version", "--remote"], "pypod"),
])
def test_an_unknown_flag_is_named(pypod: Pypod, args: list[str], says: str) -> None:
    assert says in refused(pypod(*args))


def test_runtime_flags_reach_the_oci_runtime(pypod: Pypod, rootfs: str) -> None:
    need_binary("runc")
    need_binary("conmon")
    # podman's exit code when the runtime cannot start the container: 126
    line = refused(pypod("--runtime-flag", "invalidflag", "run", "--rm", "--rootfs", rootfs,
                         "true"), 126)
    assert "invalidflag" in line
    assert ok(pypod("ps", "-a", "-q")) == ""  # --rm removed it
    assert ok(pypod("--runtime-flag", "log-format=json", "run", "--rm", "--rootfs", rootfs,
                    "echo", "hi")) == "hi\n"


def test_noout_drops_pypods_output_not_the_containers(pypod: Pypod, rootfs: str) -> None:
    need_binary("runc")
    need_binary("conmon")
    assert ok(pypod("--noout", "run", "-d", "--name", "quiet", "--rootfs", rootfs,
                    "echo", "hi")) == ""
    assert ok(pypod("wait", "quiet")) == "0\n"
    assert ok(pypod("--noout", "rm", "quiet")) == ""
    assert ok(pypod("ps", "-a", "-q")) == ""
    # attached, what the container writes is its own, not pypod's
    assert ok(pypod("--noout", "run", "--rm", "--rootfs", rootfs, "echo", "hi")) == "hi\n"


def test_tmpdir_holds_the_per_boot_files(pypod: Pypod, rootfs: str, tmp_path: Path) -> None:
    need_binary("runc")
    need_binary("conmon")
    tmp = tmp_path / "elsewhere"
    ctr = ok(pypod("--tmpdir", str(tmp), "run", "-d", "--rootfs", rootfs,
                   "sleep", "30")).strip()
    assert (tmp / "containers" / ctr).is_dir()
    assert ok(pypod("--tmpdir", str(tmp), "rm", "-f", "-t", "0", ctr)) == f"{ctr}\n"
