"""The container lifecycle from Python: states and transitions, stop, pause, restart,
remove, logs, exec, event hooks, locks, shutdown and the reboot refresh.

Real runc and crun under real conmon; each test on its own runtime under tmp_path.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary
from pypod_core import hookimpl
from pypod_core.errors import (
    CommandNotFoundError,
    CtrInUseError,
    CtrStateInvalidError,
    InvalidArgError,
    NameInUseError,
    NoSuchCtrError,
)
from pypod_core.model import ContainerStatus, Mount
from pypod_core.testing.host import (
    await_exit_commands,
    await_signal_handled,
    power_off_tmp_dir,
)

S = ContainerStatus
TERM_IGNORING = ["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"]


@pytest.fixture(params=["runc", "crun"])
def oci_name(request: pytest.FixtureRequest) -> str:
    """Each test runs with runc and with crun."""
    need_binary(request.param)
    need_binary("conmon")
    return request.param


@pytest.fixture
def rt(make_runtime: Callable[..., Any], oci_name: str) -> Any:
    """A runtime (SQLite state, as by default) with the OCI runtime under test."""
    return make_runtime(runtime=oci_name)


def run(ctr: Any) -> tuple[bytes, bytes, int]:
    """Start attached; (stdout, stderr, exit code)."""
    out, err = io.BytesIO(), io.BytesIO()
    code = ctr.start_attached(out, err)
    return out.getvalue(), err.getvalue(), code


def test_run_returns_output_and_exit_code(rt: Any, rootfs: str) -> None:
    ctr = rt.create_container(rootfs, ["sh", "-c", "echo out; echo err >&2; exit 42"])
    assert ctr.state.state is S.CONFIGURED
    assert run(ctr) == (b"out\n", b"err\n", 42)
    assert ctr.state.state is S.EXITED and ctr.state.exit_code == 42
    assert ctr.state.finished_at >= ctr.state.started_at > 0
    assert rt.lookup_container(ctr.name).state.exit_code == 42


def test_states_through_a_life_and_illegal_transitions(rt: Any, rootfs: str) -> None:
    ctr = rt.create_container(rootfs, ["sleep", "60"], name="life")
    with pytest.raises(CtrStateInvalidError):
        ctr.pause()
    ctr.init()
    assert ctr.state.state is S.CREATED and ctr.state.pid > 0
    with pytest.raises(CtrStateInvalidError):
        ctr.init()
    ctr.start()
    assert ctr.sync().state.state is S.RUNNING
    ctr.start()  # starting a running container does nothing
    with pytest.raises(CtrStateInvalidError):
        ctr.unpause()
    ctr.pause()
    assert rt.lookup_container("life").state.state is S.PAUSED
    with pytest.raises(CtrStateInvalidError):
        ctr.exec(["true"])
    ctr.unpause()
    ctr.stop(timeout=0)
    assert ctr.state.state is S.EXITED and ctr.state.exit_code == 137
    assert ctr.state.pid == 0
    with pytest.raises(CtrStateInvalidError):
        ctr.kill(9)


def test_stop_waits_for_the_timeout_then_kills(rt: Any, rootfs: str) -> None:
    ctr = rt.create_container(rootfs, TERM_IGNORING)
    ctr.start()
    await_signal_handled(ctr.state.pid, signal.SIGTERM)
    started = time.monotonic()
    ctr.stop(timeout=2)
    took = time.monotonic() - started
    assert 1.9 <= took < 4, took
    assert ctr.state.state is S.EXITED and ctr.state.exit_code == 137


def test_a_paused_container_can_be_stopped(rt: Any, rootfs: str) -> None:
    ctr = rt.create_container(rootfs, ["sleep", "60"])
    ctr.start()
    ctr.pause()
    ctr.stop(timeout=0)
    assert ctr.state.state is S.EXITED


def test_a_stop_cut_short_can_be_done_again(rt: Any, rootfs: str) -> None:
    # A `pypod stop` interrupted (^C) after saving "stopping" leaves the container
    # running in that state: stop and rm -f must still work.
    ctr = rt.create_container(rootfs, ["sleep", "60"])
    ctr.start()
    ctr.state.state = S.STOPPING
    rt.state.save_container_state(ctr.id, ctr.state)
    ctr.stop(timeout=0)
    assert ctr.state.state is S.EXITED
    ctr.start()
    ctr.state.state = S.STOPPING
    rt.state.save_container_state(ctr.id, ctr.state)
    rt.remove_container(ctr, force=True, timeout=0)
    with pytest.raises(NoSuchCtrError):
        rt.lookup_container(ctr.id)


def test_restart_runs_the_command_again(rt: Any, rootfs: str, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    ctr = rt.create_container(rootfs, ["sh", "-c", "echo x >> /data/runs; sleep 60"],
                              mounts=(Mount(str(tmp_path / "data"), "/data"),))
    ctr.start()
    ctr.restart(timeout=0)
    assert ctr.state.state is S.RUNNING and ctr.state.restart_count == 1
    deadline = time.monotonic() + 5
    while (tmp_path / "data" / "runs").read_text().count("x") < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ctr.stop(timeout=0)
    # An exited container starts again too.
    ctr.start()
    assert ctr.sync().state.state is S.RUNNING
    ctr.stop(timeout=0)


def test_remove_refuses_a_running_container_without_force(rt: Any, rootfs: str) -> None:
    ctr = rt.create_container(rootfs, ["sleep", "60"])
    ctr.start()
    with pytest.raises(CtrStateInvalidError):
        rt.remove_container(ctr)
    assert rt.lookup_container(ctr.id).state.state is S.RUNNING
    rt.remove_container(ctr, force=True, timeout=0)
    with pytest.raises(NoSuchCtrError):
        rt.lookup_container(ctr.id)
    assert not os.path.exists(os.path.dirname(ctr.bundle_dir))
    assert not os.path.exists(ctr.run_dir)
    assert not os.listdir(rt.lock_dir)


def test_a_container_others_depend_on_is_not_removed(rt: Any, rootfs: str) -> None:
    base = rt.create_container(rootfs, ["sleep", "60"])
    base.start()
    joiner = rt.create_container(rootfs, ["hostname"], shared_namespaces={"uts": base.id})
    with pytest.raises(CtrInUseError):
        rt.remove_container(base, force=True, timeout=0)
    # The joiner sees the namespace it shares.
    assert run(joiner)[0] == base.id[:12].encode() + b"\n"
    rt.remove_container(joiner)
    rt.remove_container(base, force=True, timeout=0)


def test_names_are_validated_unique_or_generated(rt: Any, rootfs: str) -> None:
    with pytest.raises(InvalidArgError):
        rt.create_container(rootfs, ["true"], name="-bad")
    rt.create_container(rootfs, ["true"], name="taken")
    with pytest.raises(NameInUseError):
        rt.create_container(rootfs, ["true"], name="taken")
    generated = rt.create_container(rootfs, ["true"])
    assert "_" in generated.name
    assert [c.name for c in rt.containers()] == ["taken", generated.name]
    assert rt.containers(all=False) == []


def test_command_not_found_leaves_a_removable_container(rt: Any, rootfs: str) -> None:
    ctr = rt.create_container(rootfs, ["/no/such/command"])
    with pytest.raises(CommandNotFoundError):
        ctr.start()
    assert ctr.sync().state.state is S.CONFIGURED
    rt.remove_container(ctr)


def test_logs_tail_since_and_follow(rt: Any, rootfs: str) -> None:
    ctr = rt.create_container(rootfs, ["sh", "-c", "echo one; echo two >&2; sleep 0.4; "
                                       "echo three"])
    ctr.start()
    lines = list(ctr.logs(follow=True))
    assert [(line.stream, line.data) for line in lines] == [
        ("stdout", b"one\n"), ("stderr", b"two\n"), ("stdout", b"three\n")]
    assert [line.data for line in ctr.logs(tail=1)] == [b"three\n"]
    assert [line.data for line in ctr.logs(since=lines[2].time)] == [b"three\n"]


def test_exec_in_a_running_container(rt: Any, rootfs: str, tmp_path: Path) -> None:
    ctr = rt.create_container(rootfs, ["sleep", "60"], env={"IN": "ctr"}, workdir="/tmp")
    ctr.start()
    with open(tmp_path / "out", "wb") as out:
        assert ctr.exec(["sh", "-c", "echo $IN $X; pwd; exit 4"], env={"X": "y"},
                        stdout=out) == 4
    assert (tmp_path / "out").read_bytes() == b"ctr y\n/tmp\n"
    ctr.stop(timeout=0)


def test_attach_streams_a_running_container(rt: Any, rootfs: str) -> None:
    ctr = rt.create_container(rootfs, ["sh", "-c", "sleep 0.3; echo late; echo bad >&2"])
    ctr.start()
    out, err = io.BytesIO(), io.BytesIO()
    ctr.attach(out, err)
    assert (out.getvalue(), err.getvalue()) == (b"late\n", b"bad\n")
    assert ctr.wait() == 0


def test_event_hooks_see_a_whole_life(make_runtime: Callable[..., Any], rootfs: str,
                                      oci_name: str) -> None:
    events: list[tuple[str, str, Any]] = []
    plugin = types.ModuleType("recorder")

    for event in ("created", "started", "exited", "removed"):
        def hook(runtime: Any, container: Any, event: str = event) -> None:
            events.append((event, container.id, container.state.exit_code))

        hook.__name__ = f"pypod_container_{event}"
        setattr(plugin, hook.__name__, hookimpl(hook))
    rt = make_runtime(runtime=oci_name)
    rt.plugins.register_module(plugin, "recorder")
    ctr = rt.create_container(rootfs, ["sh", "-c", "exit 3"])
    run(ctr)
    rt.remove_container(ctr)
    assert events == [("created", ctr.id, 0), ("started", ctr.id, 0),
                      ("exited", ctr.id, 3), ("removed", ctr.id, 3)]


def test_another_process_holding_the_lock_blocks_us_but_not_ps(rt: Any, rootfs: str) -> None:
    ctr = rt.create_container(rootfs, ["sleep", "60"])
    ctr.start()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from filelock import FileLock\n"
         "with FileLock(sys.argv[1]):\n print('held', flush=True); time.sleep(1)",
         os.path.join(rt.lock_dir, f"ctr-{ctr.id}.lock")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    started = time.monotonic()
    # A listing shows what is stored rather than wait (a stop may hold the lock long).
    assert [c.state.state for c in rt.containers()] == [S.RUNNING]
    assert time.monotonic() - started < 0.5
    ctr.sync()
    assert time.monotonic() - started >= 0.7
    holder.wait()
    ctr.stop(timeout=0)


def test_shutdown_with_force_stops_running_containers(rt: Any, rootfs: str,
                                                      make_runtime: Callable[..., Any],
                                                      oci_name: str) -> None:
    ctr = rt.create_container(rootfs, ["sleep", "60"], stop_timeout=0)
    ctr.start()
    rt.shutdown(force=True)
    again = make_runtime(runtime=oci_name)
    assert again.lookup_container(ctr.id).state.state is S.EXITED


def test_a_reboot_turns_running_and_created_containers_into_configured_ones(
        rt: Any, rootfs: str, make_runtime: Callable[..., Any], oci_name: str) -> None:
    running = rt.create_container(rootfs, ["sleep", "60"])
    running.start()
    created = rt.create_container(rootfs, ["true"])
    created.init()
    pids = [running.state.conmon_pid, running.state.pid, created.state.conmon_pid,
            created.state.pid]
    tmp_dir = rt.config.tmp_dir
    rt.state.close()
    rt.valid = False
    # The power goes off: every process dies, the per-boot tmp dir is emptied.
    for pid in pids:
        _kill(pid)
    _forget_cgroups(running.id, created.id)
    await_exit_commands(rt.config.graph_root)
    power_off_tmp_dir(tmp_dir)
    after = make_runtime(runtime=oci_name)
    assert after.refreshed_after_reboot
    states = {c.id: c.state for c in after.containers()}
    assert states[running.id].state is S.CONFIGURED and states[running.id].pid == 0
    assert states[created.id].state is S.CONFIGURED
    # Both run again after the reboot.
    assert run(after.get_container(created.id))[2] == 0
    again = after.get_container(running.id)
    again.start()
    assert again.sync().state.state is S.RUNNING
    again.stop(timeout=0)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


def _forget_cgroups(*ctr_ids: str) -> None:
    """Remove the cgroups (``/pypod/ID`` under each hierarchy) a reboot would have taken
    with it."""
    deadline = time.monotonic() + 5
    for hierarchy in os.listdir("/sys/fs/cgroup"):
        for ctr_id in ctr_ids:
            path = os.path.join("/sys/fs/cgroup", hierarchy, "pypod", ctr_id)
            while os.path.isdir(path):
                try:
                    os.rmdir(path)
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)


def test_wait_with_a_timeout_gives_up_with_a_typed_error(rt: Any, rootfs: str) -> None:
    from pypod_core.errors import CtrWaitTimeoutError, PypodError

    ctr = rt.create_container(rootfs, ["sleep", "60"])
    ctr.start()
    with pytest.raises(CtrWaitTimeoutError) as err:
        ctr.wait(timeout=0.2)
    assert isinstance(err.value, PypodError) and isinstance(err.value, TimeoutError)
    ctr.stop(timeout=0)
    assert ctr.wait(timeout=5) == 137
