"""podman's smaller ``run``/``create`` flags, as a user runs them (real runc under
conmon): ``--cidfile``, ``--conmon-pidfile``, ``--timeout``, ``--tz``, ``--replace``,
``--restart``, ``--preserve-fds``, ``--pod new:NAME``, ``--rmi``,
``--env-file``, ``--label-file``, ``--env-host``, ``--log-driver``, ``-h``, ``--workdir``
of a missing directory, ``--annotation``, ``--group-add``, ``--sysctl``, ``--pid``,
``--ipc``, ``--uts``, and unknown flags refused by name.  The expected outputs and
messages are those of Debian's podman 4.3.1 where scripts match them.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import PYPOD, need_binary, run_pypod

Pypod = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def pypod(cli_flags: list[str]) -> Iterator[Pypod]:
    """``pypod(*args)`` on this test's store with runc; containers and pods removed
    afterwards."""
    need_binary("runc")
    need_binary("conmon")
    flags = [*cli_flags, "--runtime", "runc"]

    def call(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return run_pypod(*flags, *args, **kwargs)  # type: ignore[arg-type]

    call.flags = flags  # type: ignore[attr-defined]
    yield call
    call("rm", "-a", "-f", "-t", "0")
    call("pod", "rm", "-a", "-f")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def inspect(pypod: Pypod, ctr: str) -> dict[str, Any]:
    return dict(json.loads(ok(pypod("inspect", ctr)))[0])


def wait_for(check: Callable[[], bool], seconds: float = 30) -> None:
    """Poll ``check`` until it holds (a correctness deadline, not a timing assert)."""
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


def test_cidfile_and_conmon_pidfile(pypod: Pypod, rootfs: str, tmp_path: Path) -> None:
    cidfile, pidfile = tmp_path / "cid", tmp_path / "conmon.pid"
    ctr = ok(pypod("run", "-d", "--cidfile", str(cidfile), "--conmon-pidfile",
                   str(pidfile), "--rootfs", rootfs, "sleep", "100")).strip()
    assert cidfile.read_text() == ctr
    conmon_pid = pidfile.read_text().strip()
    doc = inspect(pypod, ctr)
    assert str(doc["State"]["ConmonPid"]) == conmon_pid
    assert doc["ConmonPidFile"] == str(pidfile)
    assert os.readlink(f"/proc/{conmon_pid}/exe").endswith("/conmon")
    again = pypod("run", "--cidfile", str(cidfile), "--rootfs", rootfs, "true")
    assert (again.returncode, again.stderr.strip()) == (
        125, "Error: container id file exists. Ensure another container is not using it "
             f"or delete {cidfile}")


def test_timeout_kills_the_container(pypod: Pypod, rootfs: str) -> None:
    """podman: exit 255, the container exited with -1."""
    result = pypod("run", "--name", "slow", "--timeout", "1", "--rootfs", rootfs,
                   "sleep", "60")
    assert result.returncode == 255
    doc = inspect(pypod, "slow")
    assert (doc["State"]["Status"], doc["State"]["ExitCode"], doc["Config"]["Timeout"]) \
        == ("exited", -1, 1)


def test_tz(pypod: Pypod, rootfs: str) -> None:
    """The last --tz wins; local is the host's /etc/localtime."""
    out = ok(pypod("run", "--rm", "--tz", "Iceland", "--tz", "Asia/Tokyo", "--rootfs",
                   rootfs, "date", "-d", "@1600000000", "+%H:%M %Z"))
    assert out == "21:26 JST\n"
    if os.path.isfile("/etc/localtime"):
        host = subprocess.run(["date", "-d", "@1600000000", "+%H:%M"], capture_output=True,
                              text=True, env={"PATH": os.environ["PATH"]}).stdout
        assert ok(pypod("run", "--rm", "--tz", "local", "--rootfs", rootfs, "date", "-d",
                        "@1600000000", "+%H:%M")) == host
    bad = pypod("create", "--tz", "Nowhere/Atall", "--rootfs", rootfs, "true")
    assert bad.returncode == 125 and "finding timezone 'Nowhere/Atall'" in bad.stderr


def test_replace(pypod: Pypod, rootfs: str) -> None:
    first = ok(pypod("run", "-d", "--name", "one", "--rootfs", rootfs, "sleep", "100"))
    taken = pypod("run", "-d", "--name", "one", "--rootfs", rootfs, "true")
    assert taken.returncode == 125
    second = ok(pypod("run", "-d", "--replace", "--name", "one", "--rootfs", rootfs,
                      "sleep", "100"))
    assert ok(pypod("ps", "-a", "-q", "--no-trunc")).split() == [second.strip()]
    assert first != second
    nameless = pypod("run", "--replace", "--rootfs", rootfs, "true")
    assert (nameless.returncode, nameless.stderr.strip()) == (
        125, "Error: cannot replace container without --name being set")


def test_restart_policies(pypod: Pypod, rootfs: str) -> None:
    """on-failure:2 starts a failing container twice more, then leaves it exited;
    always restarts until a user stops it; --rm conflicts, as podman's."""
    ok(pypod("run", "-d", "--name", "fails", "--restart", "on-failure:2", "--rootfs",
             rootfs, "sh", "-c", "exit 3"))

    def restarts(name: str) -> tuple[str, int]:
        doc = inspect(pypod, name)
        return doc["State"]["Status"], doc["RestartCount"]

    wait_for(lambda: restarts("fails") == ("exited", 2))
    doc = inspect(pypod, "fails")
    assert doc["HostConfig"]["RestartPolicy"] == {"Name": "on-failure",
                                                  "MaximumRetryCount": 2}
    assert doc["State"]["ExitCode"] == 3
    ok(pypod("run", "-d", "--name", "loops", "--restart", "always", "--rootfs", rootfs,
             "true"))
    wait_for(lambda: restarts("loops")[1] >= 2)
    ok(pypod("stop", "-t", "0", "loops"))
    stopped = restarts("loops")
    time.sleep(1)  # time for an exit command to restart it, which it must not
    assert restarts("loops") == stopped and stopped[0] == "exited"
    conflict = pypod("run", "--rm", "--restart", "always", "--rootfs", rootfs, "true")
    assert conflict.returncode == 125 and "conflicts with --restart" in conflict.stderr
    bad = pypod("run", "--restart", "always:3", "--rootfs", rootfs, "true")
    assert bad.stderr.strip() == ("Error: restart policy retries can only be specified "
                                  "with on-failure restart policy")


def test_attached_run_with_restart_policy_restarts_in_background(pypod: Pypod,
                                                                 rootfs: str) -> None:
    result = pypod("run", "--name", "att", "--restart", "on-failure:1", "--rootfs", rootfs,
                   "sh", "-c", "echo ran; exit 4")
    assert (result.returncode, result.stdout) == (4, "ran\n")
    wait_for(lambda: inspect(pypod, "att")["RestartCount"] == 1
             and inspect(pypod, "att")["State"]["Status"] == "exited")


def test_preserve_fds(pypod: Pypod, rootfs: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.write_text("handed on\n")
    script = f'exec 3</dev/null 4<{data}; exec {PYPOD} "$@"'
    flags = pypod.flags  # type: ignore[attr-defined]
    result = subprocess.run(["sh", "-c", script, "sh", *flags, "run", "--rm",
                             "--preserve-fds", "2", "--rootfs", rootfs, "sh", "-c",
                             "cat <&4"], capture_output=True, text=True, timeout=120)
    assert (result.returncode, result.stdout) == (0, "handed on\n"), result.stderr
    missing = subprocess.run(["sh", "-c", f'exec 3</dev/null; exec {PYPOD} "$@"', "sh",
                              *flags, "run", "--rm", "--preserve-fds", "2", "--rootfs",
                              rootfs, "true"], capture_output=True, text=True, timeout=120)
    assert missing.returncode == 125
    assert missing.stderr.strip() == (
        "Error: file descriptor 4 is not available - the preserve-fds option requires "
        "that all file descriptors must be passed")


def test_pod_new(pypod: Pypod, rootfs: str) -> None:
    ctr = ok(pypod("create", "--pod", "new:fresh", "--rootfs", rootfs, "true")).strip()
    pods = json.loads(ok(pypod("pod", "inspect", "fresh")))
    pod = pods[0] if isinstance(pods, list) else pods
    assert inspect(pypod, ctr)["Pod"] == pod["Id"]


def test_rmi(pypod: Pypod, make_runtime: Callable[..., Any], busybox_tar: str,
             cli_config: str) -> None:
    """--rmi removes the image after the run, unless another container uses it."""
    rt = make_runtime(config_path=cli_config)
    rt.import_image([busybox_tar], {"config": {"Cmd": ["true"]}}, names=["gone"])
    rt.shutdown()
    ok(pypod("create", "--name", "keeper", "gone"))
    ok(pypod("run", "--rmi", "gone"))
    assert "gone" in ok(pypod("images", "--format", "{{.Repository}}"))
    ok(pypod("rm", "keeper"))
    ok(pypod("run", "--rmi", "gone"))
    assert "gone" not in ok(pypod("images", "--format", "{{.Repository}}"))
    assert ok(pypod("ps", "-a", "-q")) == ""  # --rmi implies --rm


def test_env_and_label_files(pypod: Pypod, rootfs: str, tmp_path: Path) -> None:
    envs = tmp_path / "envs"
    envs.write_text("# comment\nA=1\n  B=two words\nFROM_HOST\n\nC=from-file\n")
    labels = tmp_path / "labels"
    labels.write_text("l1=v1\n# no\nl2\n")
    out = ok(run_pypod(*pypod.flags, "run", "--rm",  # type: ignore[attr-defined]
                       "--env-file", str(envs), "-e", "C=from-flag", "--rootfs", rootfs,
                       "sh", "-c", 'echo "$A|$B|$FROM_HOST|$C"', env={"FROM_HOST": "h"}))
    assert out == "1|two words|h|from-flag\n"
    ctr = ok(pypod("create", "--label-file", str(labels), "-l", "l1=flag", "--rootfs",
                   rootfs, "true")).strip()
    assert inspect(pypod, ctr)["Config"]["Labels"] == {"l1": "flag", "l2": ""}
    missing = pypod("create", "--env-file", str(tmp_path / "none"), "--rootfs", rootfs,
                    "true")
    assert missing.returncode == 125 and "No such file" in missing.stderr


def test_env_host(pypod: Pypod, rootfs: str) -> None:
    out = ok(run_pypod(*pypod.flags, "run", "--rm", "--env-host",  # type: ignore[attr-defined]
                       "--rootfs", rootfs, "sh", "-c", "echo $SPECIAL_ONE",
                       env={"SPECIAL_ONE": "passed"}))
    assert out == "passed\n"


def test_log_driver(pypod: Pypod, rootfs: str) -> None:
    assert ok(pypod("run", "--name", "quiet", "--log-driver", "none", "--rootfs", rootfs,
                    "echo", "seen")) == "seen\n"  # attached: still streamed
    logs = pypod("logs", "quiet")
    assert logs.returncode == 125 and "'none' log driver" in logs.stderr
    assert inspect(pypod, "quiet")["HostConfig"]["LogConfig"]["Type"] == "none"
    ok(pypod("run", "--name", "kept", "--log-driver", "k8s-file", "--rootfs", rootfs,
             "echo", "kept"))
    assert ok(pypod("logs", "kept")) == "kept\n"
    ok(pypod("run", "--name", "alias", "--log-driver", "json-file", "--rootfs", rootfs,
             "echo", "alias"))  # podman's alias of k8s-file, shown as given
    log_config = inspect(pypod, "alias")["HostConfig"]["LogConfig"]
    assert log_config["Type"] == "json-file"
    assert Path(log_config["Path"]).read_text().endswith(" stdout F alias\n")
    for driver in ("journald", "passthrough", "bogus"):
        result = pypod("create", "--log-driver", driver, "--rootfs", rootfs, "true")
        assert result.returncode == 125 and driver in result.stderr


def test_h_is_hostname_and_help_is_help(pypod: Pypod, rootfs: str) -> None:
    assert ok(pypod("run", "--rm", "-h", "shorty", "--rootfs", rootfs,
                    "hostname")) == "shorty\n"
    assert "Usage: pypod run" in ok(pypod("run", "--help"))


def test_workdir_must_exist_when_given(pypod: Pypod, rootfs: str, tmp_path: Path) -> None:
    """podman 4.3.1: exit 126, ``workdir "/i/do/not/exist" does not exist on
    container ID``; a workdir under a volume is fine."""
    result = pypod("run", "--rm", "--workdir", "/i/do/not/exist", "--rootfs", rootfs, "pwd")
    assert result.returncode == 126
    assert 'workdir "/i/do/not/exist" does not exist on container' in result.stderr
    detached = pypod("run", "-d", "--rm", "-w", "/i/do/not/exist", "--rootfs", rootfs, "pwd")
    assert detached.returncode == 126
    assert ok(pypod("run", "--rm", "-w", "/vol", "-v", f"{tmp_path}:/vol", "--rootfs",
                    rootfs, "pwd")) == "/vol\n"
    assert ok(pypod("run", "--rm", "-w", "/made/here", "-v", f"{tmp_path}:/made/here/x",
                    "--rootfs", rootfs, "pwd")) == "/made/here\n"
    assert ok(pypod("ps", "-a", "-q")) == ""


def test_annotation_group_add_sysctl(pypod: Pypod, rootfs: str) -> None:
    ctr = ok(pypod("run", "-d", "--annotation", "org.example=yes", "--group-add", "123",
                   "--group-add", "nogroup", "--sysctl", "net.ipv4.ip_forward=1",
                   "--sysctl", "kernel.shmmni=1000", "--rootfs", rootfs,
                   "sleep", "100")).strip()
    out = ok(pypod("exec", ctr, "sh", "-c", "id -G; cat /proc/sys/net/ipv4/ip_forward "
                   "/proc/sys/kernel/shmmni"))
    assert out.split() == ["0", "123", "65534", "1", "1000"]
    doc = inspect(pypod, ctr)
    assert doc["Config"]["Annotations"]["org.example"] == "yes"
    assert doc["HostConfig"]["GroupAdd"] == ["123", "nogroup"]
    assert doc["HostConfig"]["Sysctls"] == {"net.ipv4.ip_forward": "1",
                                            "kernel.shmmni": "1000"}
    spec = json.loads(Path(doc["OCIConfigPath"]).read_text())
    assert spec["annotations"]["org.example"] == "yes"
    for flags, message in (
            (["--sysctl", "vm.swappiness=1"], "Error: sysctl 'vm.swappiness' is not allowed"),
            (["--network", "host", "--sysctl", "net.ipv4.ip_forward=1"],
             "Error: sysctl 'net.ipv4.ip_forward' is not allowed in the hosts network "
             "namespace"),
            (["--sysctl", "novalue"], "Error: 'novalue' is not a valid sysctl format"),
            (["--group-add", "keep-groups"], None),
            (["--annotation", "novalue"], None)):
        result = pypod("create", *flags, "--rootfs", rootfs, "true")
        assert result.returncode == 125, flags
        if message:
            assert result.stderr.strip() == message


def test_host_and_container_namespaces(pypod: Pypod, rootfs: str) -> None:
    out = ok(pypod("run", "--rm", "--pid", "host", "--uts", "host", "--ipc", "host",
                   "--rootfs", rootfs, "sh", "-c",
                   "hostname; cat /proc/1/comm; readlink /proc/self/ns/ipc"))
    name, init, ipc_ns = out.split()
    assert name == os.uname().nodename
    assert init == Path("/proc/1/comm").read_text().strip()  # the host's PID 1
    assert ipc_ns == os.readlink("/proc/self/ns/ipc")
    first = ok(pypod("run", "-d", "--name", "first", "--rootfs", rootfs, "sleep", "100"))
    joined = ok(pypod("run", "--rm", "--pid", "container:first", "--rootfs", rootfs,
                      "sh", "-c", "ps -o comm | grep -c sleep"))
    assert joined == "1\n"
    doc = inspect(pypod, first.strip())
    assert doc["HostConfig"]["PidMode"] == "private"
    bad = pypod("create", "--ipc", "bogus", "--rootfs", rootfs, "true")
    assert bad.returncode == 125 and "--ipc" in bad.stderr


def test_unknown_flags_are_refused_by_name(pypod: Pypod, rootfs: str) -> None:
    """Never taken as the image (nor abbreviated to a known flag)."""
    for flags in (["--no-such-flag"], ["--no-such-flag", "value"], ["--mem", "1g"],
                  ["--cgroupns=host"]):
        result = pypod("run", *flags, "--rootfs", rootfs, "true")
        assert result.returncode == 125, flags
        assert flags[0].split("=")[0] in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert ok(pypod("ps", "-a", "-q")) == ""
