"""Faults: what a user sees after a process dies at a bad moment (conmon killed, a
``pypod`` SIGKILLed mid-start or mid-stop, the host rebooted).  The real command, real
runc under conmon, real CNI and iptables; each test on directories of its own.

A ``pypod`` process is stopped at a chosen point of a start by the fixture plugin
``tests/fixture_plugins/pause`` (``PAUSE_AT``), then SIGKILLed there.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import FIXTURE_PLUGINS, PYPOD, REPO, need_binary, run_pypod
from pypod_core.model import ContainerStatus as S
from pypod_core.testing.host import await_exit_commands
from pypod_core.testing.network import free_port

Pypod = Callable[..., subprocess.CompletedProcess[str]]
#: A hang guard for commands that must not wait out a stop timeout (never reached).
GUARD = 60


@pytest.fixture
def pypod(cli_flags: list[str]) -> Iterator[Pypod]:
    """``pypod(*args)`` on this test's store (runc); leftovers removed afterwards."""
    need_binary("runc")
    need_binary("conmon")

    def call(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_pypod(*cli_flags, *args, **kwargs)

    call.flags = cli_flags  # type: ignore[attr-defined]
    yield call
    run_pypod(*cli_flags, "rm", "-a", "-f", "-t", "0")


def flags_of(pypod: Pypod) -> list[str]:
    """The global flags the ``pypod`` fixture passes, for a command run in the background."""
    return list(pypod.flags)  # type: ignore[attr-defined]


def state_of(pypod: Pypod, name: str) -> dict[str, Any]:
    result = pypod("inspect", name)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout)[0]["State"])


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = GUARD) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


# -- conmon killed (issue 10, item 5) -------------------------------------------------


def test_stop_works_without_conmon_and_the_container_ends_exited(pypod: Pypod,
                                                                 rootfs: str) -> None:
    """conmon killed under a running container (pid 1 ignores SIGTERM: stop must come
    to SIGKILL): stop kills the container itself and the state converges to exited;
    with no exit file the code is unknown, -1, as podman records it."""
    assert pypod("run", "-d", "--name", "orphan", "--rootfs", rootfs,
                 "sleep", "1000").returncode == 0
    before = state_of(pypod, "orphan")
    os.kill(before["ConmonPid"], signal.SIGKILL)
    wait_for(lambda: not alive(before["ConmonPid"]), "conmon gone")
    assert pypod("stop", "-t", "1", "orphan", timeout=GUARD).returncode == 0
    assert not alive(before["Pid"])
    after = state_of(pypod, "orphan")
    assert (after["Status"], after["ExitCode"], after["Pid"]) == ("exited", -1, 0)
    # And it starts again, under a new conmon.
    assert pypod("start", "orphan").returncode == 0
    assert state_of(pypod, "orphan")["Status"] == "running"


def test_kill_and_wait_work_without_conmon(pypod: Pypod, rootfs: str) -> None:
    assert pypod("run", "-d", "--name", "orphan", "--rootfs", rootfs,
                 "sleep", "1000").returncode == 0
    before = state_of(pypod, "orphan")
    os.kill(before["ConmonPid"], signal.SIGKILL)
    wait_for(lambda: not alive(before["ConmonPid"]), "conmon gone")
    waiter = subprocess.Popen([PYPOD, *flags_of(pypod), "wait", "orphan"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    assert waiter.poll() is None  # the container still runs: wait waits
    killed = pypod("kill", "orphan", timeout=GUARD)
    assert killed.returncode == 0, killed.stderr
    assert not alive(before["Pid"])
    out, err = waiter.communicate(timeout=GUARD)
    assert (waiter.returncode, out.strip()) == (0, "-1"), err
    assert state_of(pypod, "orphan")["Status"] == "exited"


# -- kill during a stop (issue 10, item 6) --------------------------------------------


@pytest.fixture
def stopping(pypod: Pypod, rootfs: str
             ) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """A container that ignores SIGTERM (busybox sleep as pid 1) and a
    ``pypod stop -t 600`` waiting on it."""
    assert pypod("run", "-d", "--name", "stubborn", "--rootfs", rootfs,
                 "sleep", "1000").returncode == 0
    started = state_of(pypod, "stubborn")
    stop = subprocess.Popen([PYPOD, *flags_of(pypod), "stop", "-t", "600", "stubborn"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: state_of(pypod, "stubborn")["Status"] == "stopping", "stopping")
        yield stop, started
    finally:
        stop.kill()
        stop.communicate()


def test_kill_cuts_a_stop_short(pypod: Pypod, stopping: Any) -> None:
    stop, started = stopping
    killed = pypod("kill", "stubborn", timeout=GUARD)  # not after the stop's 600 s
    assert killed.returncode == 0, killed.stderr
    assert not alive(started["Pid"])
    out, err = stop.communicate(timeout=GUARD)
    assert (stop.returncode, out.strip()) == (0, "stubborn"), err
    after = state_of(pypod, "stubborn")
    assert (after["Status"], after["ExitCode"]) == ("exited", 137)


def test_a_container_whose_stop_was_killed_can_be_killed(pypod: Pypod,
                                                         stopping: Any) -> None:
    stop, started = stopping
    stop.kill()
    stop.communicate()
    assert state_of(pypod, "stubborn")["Status"] == "stopping"
    killed = pypod("kill", "stubborn", timeout=GUARD)
    assert killed.returncode == 0, killed.stderr
    assert not alive(started["Pid"])
    after = state_of(pypod, "stubborn")
    assert (after["Status"], after["ExitCode"]) == ("exited", 137)


# -- SIGKILL during run --rm -p (issue 10, item 7) ------------------------------------


@pytest.fixture
def net_pypod(net_config: str) -> Iterator[Pypod]:
    """``pypod(*args)`` on this test's own default network."""
    need_binary("iptables")
    need_binary("runc")
    need_binary("conmon")

    def call(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_pypod("--config", net_config, *args, **kwargs)

    yield call
    run_pypod("--config", net_config, "rm", "-a", "-f", "-t", "0")


def killed_run(tmp_path: Path, config: str, rootfs: str, port: int, at: str) -> None:
    """``pypod run --rm -p PORT:80`` SIGKILLed at the pause point ``at``."""
    pause = tmp_path / f"paused-{at}"
    env = {**os.environ, "PYTHONPATH": f"{FIXTURE_PLUGINS / 'pause'}:{REPO}",
           "PYPOD_PLUGINS": "fx_pause", "PAUSE_AT": at, "PAUSE_FILE": str(pause)}
    run = subprocess.Popen([PYPOD, "--config", config, "run", "--rm", "--name", "web",
                            "-p", f"{port}:80", "--rootfs", rootfs, "sleep", "1000"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: pause.exists() or run.poll() is not None, f"pause at {at}")
        assert run.poll() is None, run.stderr.read() if run.stderr else ""
    finally:
        run.kill()
        run.communicate()


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("", port))
        except OSError:
            return False
        return True


def run_dir_leftovers(config: str) -> dict[str, list[str]]:
    """What of a container is left in the per-boot tmp dir: exit files and attached
    markers, port holder records, network namespaces."""
    import tomllib

    tmp = Path(tomllib.loads(Path(config).read_text())["run_root"]) / "tmp"
    return {d: sorted(os.listdir(tmp / d)) if (tmp / d).is_dir() else []
            for d in ("exits", "ports", "netns")}


def test_a_run_killed_as_its_port_holder_forks_leaves_it_to_rm(
        net_pypod: Pypod, net_config: str, rootfs: str, tmp_path: Path) -> None:
    port = free_port()
    killed_run(tmp_path, net_config, rootfs, port, "holder")
    assert not port_free(port)  # held, by a holder pypod knows about
    assert net_pypod("ps", "-a", "-q").stdout.split()  # and by a record rm sees
    result = net_pypod("rm", "-f", "-a")
    assert result.returncode == 0, result.stderr
    assert port_free(port)
    assert net_pypod("ps", "-a", "-q").stdout.split() == []
    assert run_dir_leftovers(net_config) == {"exits": [], "ports": [], "netns": []}


def test_a_run_killed_before_it_saved_its_network_starts_again_and_is_removed(
        net_pypod: Pypod, net_config: str, rootfs: str, tmp_path: Path) -> None:
    """Killed with everything made and nothing saved: the record says configured, yet
    its namespace, address, rules, holder and created container exist.  Its own start
    must not trip over them, and rm -f must reclaim all of it."""
    port = free_port()
    killed_run(tmp_path, net_config, rootfs, port, "attached")
    assert not port_free(port)
    assert state_of(net_pypod, "web")["Status"] == "created"
    started = net_pypod("start", "web")
    assert started.returncode == 0, started.stderr
    state = state_of(net_pypod, "web")
    assert state["Status"] == "running"
    address = json.loads(net_pypod("inspect", "web").stdout)[0]["NetworkSettings"][
        "IPAddress"]
    result = net_pypod("rm", "-f", "web")
    assert result.returncode == 0, result.stderr
    assert port_free(port)
    rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
    assert f" {address}/" not in rules
    assert run_dir_leftovers(net_config) == {"exits": [], "ports": [], "netns": []}


def test_rm_reclaims_a_run_killed_before_it_saved_its_network(
        net_pypod: Pypod, net_config: str, rootfs: str, tmp_path: Path) -> None:
    port = free_port()
    killed_run(tmp_path, net_config, rootfs, port, "attached")
    result = net_pypod("rm", "-f", "-a")
    assert result.returncode == 0, result.stderr
    assert port_free(port)
    assert run_dir_leftovers(net_config) == {"exits": [], "ports": [], "netns": []}
    leases = Path(json_config(net_config)["run_root"]) / "cni" / "networks"
    assert not [p.name for p in leases.rglob("*") if p.name[:1].isdigit()]
    assert not conmons_of(net_config)


def json_config(config: str) -> dict[str, Any]:
    import tomllib

    return tomllib.loads(Path(config).read_text())


def conmons_of(config: str) -> list[int]:
    """Live conmon processes monitoring containers of this test's store."""
    root = json_config(config)["run_root"]
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmdline[0].endswith(b"conmon") and any(root.encode() in a for a in cmdline):
                found.append(int(entry))
    return found


def test_an_attached_run_killed_leaves_no_marker(pypod: Pypod, cli_config: str,
                                                 rootfs: str) -> None:
    run = subprocess.Popen([PYPOD, "--config", cli_config, "run", "--name", "att",
                            "--rootfs", rootfs, "sleep", "1000"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: pypod("ps", "-q").stdout.strip() != "", "running")
    wait_for(lambda: any(n.endswith(".attached")
                         for n in run_dir_leftovers(cli_config)["exits"]), "marker")
    run.kill()
    run.communicate()
    assert pypod("stop", "-t", "0", "att").returncode == 0
    assert run_dir_leftovers(cli_config)["exits"] == []


# -- reboot (issue 10, item 10) -------------------------------------------------------


def test_after_a_reboot_a_container_that_ran_is_created_again(
        make_runtime: Callable[..., Any], rootfs: str) -> None:
    """As podman 4.3 after the same reboot: the container that ran shows ``Created``
    (not ``Exited (0) 2969 weeks ago``: no exit of it was ever seen), keeps its start
    time; one that had exited keeps its code and time."""
    from pypod_core.engine.inspect import status_text

    rt = make_runtime()
    running = rt.create_container(rootfs, ["sleep", "1000"])
    running.start()
    exited = rt.create_container(rootfs, ["sh", "-c", "exit 3"])
    exited.start()
    exited.wait()
    started_at, finished_at = running.state.started_at, exited.sync().state.finished_at
    for pid in (running.state.conmon_pid, running.state.pid):
        os.kill(pid, signal.SIGKILL)  # without pypod knowing: no exit command runs
    wait_for(lambda: not alive(running.state.pid), "container gone")
    # The exited container's exit command is a pypod process of its own, which would
    # mark this boot alive again after the unlink below.
    await_exit_commands(rt.config.graph_root)
    tmp_dir = rt.config.tmp_dir
    rt.shutdown()
    os.unlink(os.path.join(tmp_dir, "alive"))
    after = make_runtime()
    assert after.refreshed_after_reboot
    now = time.time()
    ran, done = after.get_container(running.id), after.get_container(exited.id)
    assert (ran.state.state, ran.state.pid, ran.state.started_at) == (
        S.CONFIGURED, 0, started_at)
    assert status_text(ran, now) == "Created"
    assert (done.state.state, done.state.exit_code, done.state.finished_at) == (
        S.EXITED, 3, finished_at)
    assert status_text(done, now).startswith("Exited (3) ")
    assert not os.path.exists(ran.attached_marker) and not os.path.exists(ran.exit_file)
    ran.start()
    assert ran.sync().state.state is S.RUNNING
    ran.stop(timeout=0)
