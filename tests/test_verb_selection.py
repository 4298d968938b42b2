"""Which containers the container verbs act on, as podman's: ``--all`` (for start, pause
and unpause only those in the state it makes sense for), ``--latest``, ``--cidfile``,
``--filter``, ``rm --depend``; podman's exit codes and words; the stop warning.  The real
command, real runc under conmon, each test on directories of its own."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary, run_pypod

Pypod = Callable[..., subprocess.CompletedProcess[str]]
#: podman's words for a container that does not exist.
MISSING = 'Error: no container with name or ID "nosuch" found: no such container'


@pytest.fixture
def pypod(cli_flags: list[str]) -> Iterator[Pypod]:
    """``pypod(*args)`` on this test's store; every container left is removed after."""
    need_binary("runc")
    need_binary("conmon")

    def call(*args: str) -> subprocess.CompletedProcess[str]:
        return run_pypod(*cli_flags, *args)

    yield call
    run_pypod(*cli_flags, "pod", "rm", "-a", "-f", "-t", "0")
    run_pypod(*cli_flags, "rm", "-a", "-f", "-t", "0")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return ok(result).splitlines()


def test_start_all_takes_only_what_is_not_running(pypod: Pypod, rootfs: str) -> None:
    zero = ok(pypod("run", "-d", "--rootfs", rootfs, "true")).strip()
    one = ok(pypod("run", "-d", "--rootfs", rootfs, "false")).strip()
    running = ok(pypod("run", "-d", "--rootfs", rootfs, "sleep", "60")).strip()
    assert lines(pypod("wait", zero, one)) == ["0", "1"]
    assert lines(pypod("start", "--all", "--filter", "exited=0")) == [zero]
    started = lines(pypod("start", "--all"))
    assert one in started and running not in started
    # a filter over named containers: only those that match are started (by name)
    ok(pypod("wait", zero, one))
    assert lines(pypod("start", "--filter", "exited=1", zero, one)) == [one]
    both = pypod("start", "--all", zero)
    assert (both.returncode, both.stderr) == (125, "Error: either start all containers or "
                                              "the container(s) provided in the arguments\n")


def test_pause_and_unpause_all(pypod: Pypod, rootfs: str) -> None:
    ok(pypod("create", "--name", "notrunning", "--rootfs", rootfs, "true"))
    ctr = ok(pypod("run", "-d", "--rootfs", rootfs, "sleep", "60")).strip()
    assert lines(pypod("pause", "--all")) == [ctr]
    assert ok(pypod("inspect", "--format", "{{.State.Status}}", ctr)) == "paused\n"
    assert lines(pypod("unpause", "--all")) == [ctr]
    assert ok(pypod("inspect", "--format", "{{.State.Status}}", ctr)) == "running\n"
    assert lines(pypod("unpause", "--all")) == []


def test_restart_all_and_running(pypod: Pypod, rootfs: str) -> None:
    done = ok(pypod("run", "-d", "--rootfs", rootfs, "true")).strip()
    busy = ok(pypod("run", "-d", "--rootfs", rootfs, "sleep", "60")).strip()
    ok(pypod("wait", done))
    assert lines(pypod("restart", "--running", "-t", "0")) == [busy]
    assert sorted(lines(pypod("restart", "--all", "-t", "0"))) == sorted([done, busy])


def test_cidfile_and_latest(pypod: Pypod, rootfs: str, tmp_path: Path) -> None:
    ctr = ok(pypod("run", "-d", "--rootfs", rootfs, "sleep", "60")).strip()
    cidfile = tmp_path / "cid"
    cidfile.write_text(ctr + "\n")
    assert lines(pypod("kill", "--cidfile", str(cidfile))) == [ctr]
    ok(pypod("wait", ctr))
    missing = pypod("rm", "--cidfile", str(tmp_path / "none"))
    assert missing.returncode == 125 and "reading CIDFile" in missing.stderr
    assert ok(pypod("rm", "-i", "--cidfile", str(tmp_path / "none"))) == ""
    assert lines(pypod("rm", "--cidfile", str(cidfile))) == [ctr]
    first = ok(pypod("create", "--rootfs", rootfs, "true")).strip()
    last = ok(pypod("create", "--rootfs", rootfs, "true")).strip()
    assert lines(pypod("rm", "--latest")) == [last]
    assert lines(pypod("ps", "-a", "-q", "--no-trunc")) == [first]
    both = pypod("rm", "--latest", first)
    assert (both.returncode, both.stderr) == (
        125, "Error: --latest and containers cannot be used together\n")


def test_stop_filter_and_the_sigkill_warning(pypod: Pypod, rootfs: str) -> None:
    ok(pypod("run", "-d", "--name", "keep", "--rootfs", rootfs, "sleep", "60"))
    ok(pypod("run", "-d", "--name", "stubborn", "--label", "go=1", "--rootfs", rootfs,
             "sleep", "60"))
    # sleep as PID 1 has no handler for SIGTERM: the kernel ignores it, SIGKILL follows
    stopped = pypod("stop", "-t", "1", "--filter", "label=go=1")
    assert stopped.returncode == 0 and len(stopped.stdout.split()) == 1
    assert stopped.stderr == ("WARN: StopSignal SIGTERM failed to stop container stubborn "
                              "in 1 seconds, resorting to SIGKILL\n")
    assert lines(pypod("ps", "--format", "{{.Names}}")) == ["keep"]
    quick = pypod("stop", "-t", "0", "keep")
    assert (quick.stdout, quick.stderr) == ("keep\n", "")


def test_exit_codes_and_words(pypod: Pypod, rootfs: str) -> None:
    missing = pypod("rm", "nosuch")
    assert (missing.returncode, missing.stderr) == (1, MISSING + "\n")
    assert pypod("stop", "nosuch").stderr == MISSING + "\n"
    ok(pypod("run", "-d", "--name", "busy", "--rootfs", rootfs, "sleep", "60"))
    assert pypod("rm", "busy").returncode == 2
    for verb in (["kill"], ["pod", "kill"]):
        bad = pypod(*verb, "-s", "BOGUS", "busy")
        assert (bad.returncode, bad.stderr) == (125, "Error: invalid signal: BOGUS\n")


def test_rm_refuses_a_container_others_joined_unless_depend(
        pypod: Pypod, rootfs: str, make_runtime: Callable[..., Any]) -> None:
    base = ok(pypod("create", "--rootfs", rootfs, "sleep", "60")).strip()
    rt = make_runtime()
    joiner = rt.create_container(rootfs, ["true"], shared_namespaces={"net": base}).id
    refused = pypod("rm", base)
    assert refused.returncode == 125
    assert refused.stderr == (f"Error: container {base} has dependent containers which must "
                              f"be removed before it: {joiner}\n")
    # dependents first, each removed id printed
    assert lines(pypod("rm", "--depend", base)) == [joiner, base]
    assert ok(pypod("ps", "-a", "-q")) == ""


def test_rm_depend_of_an_infra_container_removes_its_pod(pypod: Pypod, rootfs: str) -> None:
    ok(pypod("pod", "create", "--name", "p"))
    member = ok(pypod("create", "--pod", "p", "--rootfs", rootfs, "true")).strip()
    infra = ok(pypod("pod", "inspect", "--format", "{{.InfraContainerID}}", "p")).strip()
    refused = pypod("rm", infra)
    assert refused.returncode == 125
    assert "cannot be removed without removing the pod" in refused.stderr
    assert lines(pypod("rm", "--depend", infra)) == [member, infra]
    assert ok(pypod("pod", "ps", "-q")) == ""


def test_publish_with_the_host_network_warns(pypod: Pypod, rootfs: str) -> None:
    result = pypod("run", "--rm", "--network", "host", "-p", "8080:80", "--rootfs", rootfs,
                   "true")
    assert result.returncode == 0
    assert result.stderr == ("Port mappings have been discarded as one of the Host, "
                             "Container, Pod, and None network modes are in use\n")


def test_network_rm_of_a_missing_network_exits_1(pypod: Pypod) -> None:
    result = pypod("network", "rm", "nosuchnet")
    assert result.returncode == 1 and "nosuchnet" in result.stderr
