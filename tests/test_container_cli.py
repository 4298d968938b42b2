"""``pypod`` container commands, as a user runs them: the real command, real runc and
crun under conmon, the default SQLite state, each test on directories of its own."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import PYPOD, need_binary, run_pypod
from pypod_core.testing.host import await_exit_commands, await_signal_handled

Pypod = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(params=["runc", "crun"])
def pypod(request: pytest.FixtureRequest, cli_flags: list[str]) -> Iterator[Pypod]:
    """``pypod(*args)`` on this test's store with runc or crun; every container left
    running is removed afterwards."""
    need_binary(request.param)
    need_binary("conmon")
    flags = [*cli_flags, "--runtime", request.param]

    def call(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return run_pypod(*flags, *args, **kwargs)  # type: ignore[arg-type]

    call.flags = flags  # type: ignore[attr-defined]
    yield call
    run_pypod(*flags, "rm", "-a", "-f", "-t", "0")


def test_exit_codes_propagate(pypod: Pypod, rootfs: str) -> None:
    codes = {}
    for command in (["true"], ["false"], ["sh", "-c", "exit 42"], ["/etc/passwd"],
                    ["/no/such/command"]):
        codes[command[-1]] = pypod("run", "--rm", "--rootfs", rootfs, *command).returncode
    assert codes == {"true": 0, "false": 1, "exit 42": 42, "/etc/passwd": 126,
                     "/no/such/command": 127}


def test_stdout_and_stderr_stay_separate(pypod: Pypod, rootfs: str) -> None:
    result = pypod("run", "--rm", "--rootfs", rootfs, "sh", "-c",
                   "echo to-out; echo to-err >&2; echo more-out")
    assert (result.stdout, result.stderr, result.returncode) == (
        "to-out\nmore-out\n", "to-err\n", 0)


def test_settings_take_effect_inside(pypod: Pypod, rootfs: str, tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir(mode=0o755)
    (tmp_path / "ro" / "file").write_text("from the host\n")
    (tmp_path / "rw").mkdir()
    (tmp_path / "rw").chmod(0o777)  # writable by the container's user 65534
    script = ("echo $GREETING; pwd; id -u; id -g; hostname; cat /ro/file; "
              "echo written > /rw/out; touch /ro/x 2>/dev/null || echo ro-vol; "
              "touch /root/x 2>/dev/null || echo ro-root; touch /tmp/x && echo tmp-ok")
    result = pypod("run", "--rm", "-e", "GREETING=hello", "-w", "/home", "-u", "65534:65534",
                   "--hostname", "box", "--read-only", "-v", f"{tmp_path}/ro:/ro:ro",
                   "-v", f"{tmp_path}/rw:/rw", "--rootfs", rootfs, "sh", "-c", script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:-1] == [
        "hello", "/home", "65534", "65534", "box", "from the host", "ro-vol", "ro-root",
        "tmp-ok"]
    assert (tmp_path / "rw" / "out").read_text() == "written\n"


def test_user_by_name_and_network_modes(pypod: Pypod, rootfs: str) -> None:
    result = pypod("run", "--rm", "-u", "nobody", "--rootfs", rootfs, "sh", "-c",
                   "id -un; ls /sys/class/net")
    assert result.stdout.split() == ["nobody", "lo"]
    host = pypod("run", "--rm", "--network", "host", "--rootfs", rootfs,
                 "ls", "/sys/class/net")
    # The host's own interfaces (others' tests add and remove veths meanwhile).
    assert set(host.stdout.split()) & (set(os.listdir("/sys/class/net")) - {"lo"})


def test_rm_leaves_no_record_and_no_files(pypod: Pypod, rootfs: str, tmp_path: Path) -> None:
    assert pypod("run", "--rm", "--rootfs", rootfs, "echo", "hi").stdout == "hi\n"
    await_exit_commands(str(tmp_path / "root"))  # its clean-up removes files too
    after_one = _files(tmp_path)
    assert not [f for f in after_one if re.search(r"[0-9a-f]{64}", f)], after_one
    assert pypod("run", "--rm", "--rootfs", rootfs, "echo", "hi").stdout == "hi\n"
    assert pypod("ps", "-a", "-q").stdout == ""
    await_exit_commands(str(tmp_path / "root"))
    assert _files(tmp_path) == after_one


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")
            if "rootfs" not in p.parts and not p.name.startswith("db.sql")}


def test_detached_rm_container_is_removed_when_it_exits(pypod: Pypod, rootfs: str) -> None:
    ctr_id = pypod("run", "-d", "--rm", "--rootfs", rootfs, "sleep", "0.2").stdout.strip()
    assert len(ctr_id) == 64
    deadline = time.monotonic() + 10
    while pypod("ps", "-a", "-q").stdout:
        assert time.monotonic() < deadline, "conmon's exit command did not remove it"
        time.sleep(0.1)


def test_a_killed_attached_run_rm_still_removes_its_container(pypod: Pypod, rootfs: str,
                                                              tmp_path: Path) -> None:
    # The container runs until the test lets it go (a file in a bind mount), so that the
    # check that it outlived its client does not race a timer on a busy machine.
    signals = tmp_path / "signals"
    signals.mkdir()
    script = "echo up; while [ ! -e /signals/go ]; do sleep 0.05; done"
    attached = subprocess.Popen([PYPOD, *pypod.flags, "run", "--rm",  # type: ignore[attr-defined]
                                 "-v", f"{signals}:/signals", "--rootfs", rootfs,
                                 "sh", "-c", script], stdout=subprocess.PIPE, text=True)
    assert attached.stdout is not None and attached.stdout.readline() == "up\n"
    attached.send_signal(signal.SIGKILL)
    attached.wait()
    assert pypod("ps", "-q").stdout.strip()  # still running, nobody attached
    (signals / "go").touch()
    deadline = time.monotonic() + 15
    while pypod("ps", "-a", "-q").stdout:
        assert time.monotonic() < deadline, "conmon's exit command did not remove it"
        time.sleep(0.2)


def test_privileged_and_ulimits(pypod: Pypod, rootfs: str) -> None:
    script = "grep CapEff /proc/self/status; ulimit -n; ulimit -Hn; ls /dev | wc -l"
    plain = pypod("run", "--rm", "--ulimit", "nofile=1000:2000", "--rootfs", rootfs,
                  "sh", "-c", script).stdout.split()
    huge = str(10**9)
    privileged = pypod("run", "--rm", "--privileged", "--ulimit", f"nofile={huge}",
                       "--rootfs", rootfs, "sh", "-c", script).stdout.split()
    host_hard = str(resource.getrlimit(resource.RLIMIT_NOFILE)[1])
    assert plain[2:4] == ["1000", "2000"]
    # Never above the host's hard limit, whatever was asked.
    assert privileged[2:4] == [host_hard, host_hard]
    assert int(privileged[1], 16) > int(plain[1], 16)  # more capabilities
    assert int(privileged[4]) > int(plain[4])  # the host's devices


def test_stop_with_a_timeout_on_a_process_ignoring_sigterm(pypod: Pypod, rootfs: str) -> None:
    pypod("run", "-d", "--name", "stubborn", "--rootfs", rootfs, "sh", "-c",
          "trap '' TERM; while :; do sleep 0.1; done")
    pid = pypod("inspect", "--format", "{{.State.Pid}}", "stubborn").stdout
    await_signal_handled(int(pid), signal.SIGTERM)
    started = time.monotonic()
    result = pypod("stop", "-t", "2", "stubborn")
    took = time.monotonic() - started
    assert (result.returncode, result.stdout) == (0, "stubborn\n")
    assert 2 <= took < 5, took
    state = pypod("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "stubborn")
    assert state.stdout == "exited 137\n"


def test_a_killed_pypod_leaves_a_container_ps_and_rm_handle(pypod: Pypod, rootfs: str) -> None:
    attached = subprocess.Popen([PYPOD, *pypod.flags, "run", "--name", "orphan",  # type: ignore[attr-defined]
                                 "--rootfs", rootfs, "sh", "-c", "echo up; sleep 60"],
                                stdout=subprocess.PIPE, text=True)
    assert attached.stdout is not None and attached.stdout.readline() == "up\n"
    attached.send_signal(signal.SIGKILL)
    attached.wait()
    listed = json.loads(pypod("ps", "--format", "json").stdout)
    assert [(c["Names"], c["State"]) for c in listed] == [(["orphan"], "running")]
    result = pypod("rm", "-f", "-t", "0", "orphan")
    assert result.returncode == 0 and result.stdout.strip() == "orphan"  # as typed, as podman
    assert pypod("ps", "-a", "-q").stdout == ""


def test_concurrent_runs_all_succeed(pypod: Pypod, rootfs: str) -> None:
    pypod("ps")  # create the store once, as a user's first command would
    flags = pypod.flags  # type: ignore[attr-defined]
    procs = [subprocess.Popen([PYPOD, *flags, "run", "--rm", "--rootfs", rootfs,
                               "echo", f"run{i}"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(8)]
    results = [(p.communicate(timeout=120), p.returncode) for p in procs]
    assert [(out, code) for (out, _), code in results] == [
        (f"run{i}\n", 0) for i in range(8)], [err for (_, err), _ in results]
    assert pypod("ps", "-a", "-q").stdout == ""


def test_create_start_logs_wait_and_the_container_group(pypod: Pypod, rootfs: str) -> None:
    ctr_id = pypod("create", "--name", "later", "--rootfs", rootfs, "sh", "-c",
                   "echo out; echo err >&2; exit 3").stdout.strip()
    assert pypod("ps", "-a", "--format", "{{.Names}} {{.State}}").stdout == "later created\n"
    started = pypod("start", "-a", "later")
    assert (started.stdout, started.stderr, started.returncode) == ("out\n", "err\n", 3)
    assert pypod("wait", ctr_id[:12]).stdout == "3\n"
    logs = pypod("container", "logs", "later")
    assert (logs.stdout, logs.stderr) == ("out\n", "err\n")
    assert pypod("logs", "--tail", "1", "later").stderr == "err\n"
    assert pypod("container", "rm", "later").stdout == "later\n"  # as typed, as podman
    assert ctr_id not in pypod("ps", "-a", "-q", "--no-trunc").stdout


def test_pause_unpause_kill_restart_exec(pypod: Pypod, rootfs: str) -> None:
    pypod("run", "-d", "--name", "svc", "--rootfs", rootfs, "sleep", "60")
    assert pypod("pause", "svc").stdout == "svc\n"
    assert pypod("ps", "--format", "{{.Status}}").stdout == "Paused\n"  # podman 4.3's
    assert pypod("unpause", "svc").returncode == 0
    exec_result = pypod("exec", "-e", "X=1", "svc", "sh", "-c", "echo $X; exit 5")
    assert (exec_result.stdout, exec_result.returncode) == ("1\n", 5)
    assert pypod("exec", "svc", "/no/such/command").returncode == 127
    assert pypod("restart", "-t", "0", "svc").returncode == 0
    assert pypod("inspect", "-f", "{{.RestartCount}} {{.State.Running}}",
                 "svc").stdout == "1 true\n"
    assert pypod("kill", "-s", "KILL", "svc").returncode == 0
    assert pypod("wait", "svc").stdout == "137\n"


def test_inspect_and_ps_use_podmans_keys(pypod: Pypod, rootfs: str) -> None:
    pypod("run", "--name", "done", "-l", "team=a", "--rootfs", rootfs, "sh", "-c", "exit 2")
    doc = json.loads(pypod("inspect", "done").stdout)[0]
    assert doc["Name"] == "done" and len(doc["Id"]) == 64
    assert doc["State"]["Status"] == "exited" and doc["State"]["ExitCode"] == 2
    assert doc["Config"]["Cmd"] == ["sh", "-c", "exit 2"]
    assert doc["Config"]["Labels"] == {"team": "a"}
    assert doc["HostConfig"]["NetworkMode"] == "none"
    assert set(doc) >= {"Created", "Path", "Args", "Rootfs", "OCIRuntime", "NetworkSettings",
                        "HostConfig", "Mounts"}
    entry = json.loads(pypod("ps", "-a", "--format", "json").stdout)[0]
    assert (entry["Names"], entry["State"], entry["ExitCode"], entry["Exited"]) == (
        ["done"], "exited", 2, True)
    assert entry["Status"].startswith("Exited (2)")
    template = pypod("inspect", "--format", "{{json .Config.Labels}} {{.Config.Cmd}}", "done")
    assert template.stdout == '{"team":"a"} [sh -c exit 2]\n'


def test_user_errors_are_one_line_and_exit_125(pypod: Pypod, rootfs: str) -> None:
    pypod("create", "--name", "dup", "--rootfs", rootfs, "true")
    for args in (("create", "--name", "dup", "--rootfs", rootfs, "true"),
                 ("start", "no-such-container"),
                 ("run", "--bogus-flag", "--rootfs", rootfs, "true"),
                 ("run", "--rm", "--name", "-bad", "--rootfs", rootfs, "true"),
                 ("run", "--ulimit", "nofile=x", "--rootfs", rootfs, "true")):
        result = pypod(*args)
        assert result.returncode == 125, (args, result.stderr)
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, args
    running = pypod("run", "-d", "--name", "busy", "--rootfs", rootfs, "sleep", "60")
    assert running.returncode == 0
    refused = pypod("rm", "busy")  # podman's rm exits 2 for a running container
    assert refused.returncode == 2 and "without force" in refused.stderr
