"""``rm``, ``stop`` and ``pod rm`` of containers that do not exist, as podman 4.3's:
``rm -f`` and ``--ignore`` make a missing container no error, ``rm`` says what failed
in its exit code, and parallel removals of one container all succeed."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from conftest import PYPOD, need_binary, run_pypod

Pypod = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def pypod(cli_flags: list[str]) -> Pypod:
    """``pypod(*args)`` on this test's store."""
    need_binary("runc")
    need_binary("conmon")
    return lambda *args: run_pypod(*cli_flags, *args)


@pytest.mark.parametrize("args, code, says", [
    (["rm", "nosuch"], 1, 'no container with name or ID "nosuch" found: no such container'),
    (["rm", "-f", "nosuch"], 0, ""),
    (["rm", "--ignore", "nosuch"], 0, ""),
    (["rm", "-i", "nosuch", "other"], 0, ""),
    (["stop", "nosuch"], 125, 'no container with name or ID "nosuch" found: no such container'),
    (["stop", "-i", "nosuch"], 0, ""),
    (["kill", "nosuch"], 125, "no container"),
    # podman's inspect looks at images too: its message names neither kind
    (["inspect", "nosuch"], 125, 'inspecting object: no such object: "nosuch"'),
    (["inspect", "--type", "container", "nosuch"], 125, "no container"),
    (["pod", "rm", "nosuch"], 1, "no pod"),
    (["pod", "rm", "-f", "nosuch"], 0, ""),
    (["pod", "rm", "-i", "nosuch"], 0, ""),
])
def test_missing_objects(pypod: Pypod, args: list[str], code: int, says: str) -> None:
    result = pypod(*args)
    assert result.returncode == code, result
    if says:
        [line] = result.stderr.splitlines()
        assert line.startswith("Error: ") and says in line
    else:
        assert result.stderr == "" and result.stdout == ""


def test_rm_exit_codes_say_what_failed(pypod: Pypod, rootfs: str) -> None:
    running = pypod("run", "-d", "--name", "busy", "--rootfs", rootfs, "sleep", "60")
    assert running.returncode == 0, running.stderr
    refused = pypod("rm", "busy")
    assert refused.returncode == 2 and "without force" in refused.stderr
    done = pypod("create", "--name", "done", "--rootfs", rootfs, "true").stdout.strip()
    # Each container is tried; a missing one makes the exit code 1, over a running one.
    mixed = pypod("rm", "busy", "nosuch", "done")
    assert mixed.returncode == 1
    # As podman's: each removed container as the user typed it.
    assert done and mixed.stdout == "done\n" and len(mixed.stderr.splitlines()) == 2
    assert pypod("rm", "-f", "-t", "0", "busy", "nosuch").returncode == 0
    assert pypod("ps", "-a", "-q").stdout == ""


def test_parallel_rm_f_of_one_container_all_succeed(cli_flags: list[str], rootfs: str) -> None:
    need_binary("runc")
    need_binary("conmon")
    started = run_pypod(*cli_flags, "run", "-d", "--stop-timeout", "1", "--rootfs", rootfs,
                        "sleep", "60")
    assert started.returncode == 0, started.stderr
    ctr_id = started.stdout.strip()
    name = run_pypod(*cli_flags, "inspect", "--format", "{{.Name}}", ctr_id).stdout.strip()
    removers = [subprocess.Popen([PYPOD, *cli_flags, "rm", "-f", ctr_id], text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(8)]
    results = [(p.wait(timeout=120), *p.communicate()) for p in removers]
    assert [code for code, _, _ in results] == [0] * 8, results
    # sleep as PID 1 ignores SIGTERM: those that stopped it warn of the SIGKILL
    warning = ("WARN: StopSignal SIGTERM failed to stop container {} in 1 seconds, "
               "resorting to SIGKILL\n")
    # (more than one may have been stopping it when the timeout ran out)
    assert {err for _, _, err in results} <= {"", warning.format(name)}
    # The one that removed it prints its id; the others had nothing left to remove.
    assert sorted(out for _, out, _ in results) == [""] * 7 + [f"{ctr_id}\n"]
    assert run_pypod(*cli_flags, "ps", "-a", "-q").stdout == ""



def test_run_exits_137_when_rm_f_removes_its_container(pypod: Pypod, cli_flags: list[str],
                                                      rootfs: str) -> None:
    """``rm -f`` of a container an attached ``run`` waits on: the run exits with the
    container's code (137, SIGKILL), not with a missing container's error."""
    import time

    run = subprocess.Popen([PYPOD, *cli_flags, "run", "--name", "gone", "--rootfs", rootfs,
                            "sleep", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    for _ in range(200):
        if pypod("ps", "-q", "--filter", "name=gone").stdout.strip():
            break
        time.sleep(0.05)
    assert pypod("rm", "-t", "0", "-f", "gone").returncode == 0
    _, err = run.communicate(timeout=60)
    assert run.returncode == 137, err
    assert pypod("ps", "-a", "-q").stdout == ""
