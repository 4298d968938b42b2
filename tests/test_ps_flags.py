"""``ps`` and ``pod ps`` flags as podman's: ``--filter``, ``--sort``, ``--noheading``,
``--last``, ``--latest``, ``--size``, ``--ns``, ``--external``; and ``pod create``'s
positional name, infra options and exit policy.  The real command, real runc under
conmon, each test on directories of its own."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import need_binary, run_pypod

Pypod = Callable[..., subprocess.CompletedProcess[str]]
NAMES = "{{.Names}}"


@pytest.fixture
def pypod(cli_flags: list[str]) -> Iterator[Pypod]:
    """``pypod(*args)`` on this test's store; every pod and container left is removed."""
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


@pytest.fixture
def four(pypod: Pypod, rootfs: str) -> dict[str, str]:
    """runner (running), stopped (exit 0), failed (exit 1), created: name -> id."""
    ids = {"runner": ok(pypod("run", "-d", "--name", "runner", "--label", "role=srv",
                              "--rootfs", rootfs, "sleep", "60")).strip()}
    for name, command in (("stopped", "true"), ("failed", "false")):
        ids[name] = ok(pypod("run", "-d", "--name", name, "--rootfs", rootfs,
                             command)).strip()
        ok(pypod("wait", name))
    ids["created"] = ok(pypod("create", "--name", "created", "--rootfs", rootfs,
                              "true")).strip()
    return ids


def test_ps_filters(pypod: Pypod, four: dict[str, str]) -> None:
    def names(*filters: str, all: bool = False) -> list[str]:
        args = [f"--filter={f}" for f in filters] + (["-a"] if all else [])
        return lines(pypod("ps", *args, "--format", NAMES, "--sort", "names"))

    assert names("name=runner") == ["runner"]
    assert names("name=stopped") == []  # not running, and no -a
    assert names("name=stopped", all=True) == ["stopped"]
    # a status filter takes every container, as podman's (after docker's)
    assert names("status=stopped") == ["failed", "stopped"]
    assert names("status=exited", "exited=1") == ["failed"]
    assert names("status=created") == ["created"]
    assert names("status=exited", "status=running") == ["failed", "runner", "stopped"]
    assert names("label=role=srv", all=True) == ["runner"]
    assert names("label=role", "label=other", all=True) == []  # labels: all must match
    assert names(f"id={four['failed'][:10]}", all=True) == ["failed"]
    assert names("since=stopped", all=True) == ["created", "failed"]
    assert names("before=stopped", all=True) == ["runner"]
    assert names("health=healthy", all=True) == []  # pypod runs no health checks
    assert names("restart-policy=none", all=True) == ["created", "failed", "runner",
                                                      "stopped"]
    for bad, says in (("bogus=1", '"bogus" is an invalid filter'),
                      ("status=bogus", '"bogus" is not a valid status'),
                      ("exited=x", "exited code out of range"),
                      ("restart-policy=fake", "fake invalid restart policy"),
                      ("novalue", "invalid filter 'novalue'")):
        result = pypod("ps", "--filter", bad)
        assert result.returncode == 125 and says in result.stderr, result.stderr


def test_ps_sort_heading_last_latest(pypod: Pypod, four: dict[str, str]) -> None:
    by_created = lines(pypod("ps", "-a", "--format", NAMES, "--sort", "created"))
    assert by_created == ["runner", "stopped", "failed", "created"]
    assert lines(pypod("ps", "-a", "--format", NAMES, "--sort", "names")) == sorted(four)
    assert lines(pypod("ps", "-a", "--format", NAMES, "--sort", "id")) == [
        n for n, _ in sorted(four.items(), key=lambda item: item[1])]
    table = lines(pypod("ps", "-a", "--noheading"))
    assert len(table) == 4 and not any("CONTAINER ID" in line for line in table)
    assert lines(pypod("ps", "--last", "2", "--format", NAMES)) == ["created", "failed"]
    assert lines(pypod("ps", "-l", "-q", "--no-trunc")) == [four["created"]]
    assert lines(pypod("ps", "--external", "-q")) == lines(pypod("ps", "-q"))
    for args, says in ((["--sort", "bogus"], 'invalid argument "bogus" for "--sort"'),
                       (["-n", "1", "-l"], "last and latest are mutually exclusive"),
                       (["-q", "-s"], "quiet conflicts with size and namespace"),
                       (["-s", "--ns"], "size and namespace options conflict")):
        result = pypod("ps", *args)
        assert result.returncode == 125 and result.stderr.startswith(f"Error: {says}")


def test_ps_noheading_of_nothing_prints_nothing(pypod: Pypod) -> None:
    assert ok(pypod("ps", "--noheading")) == ""
    assert ok(pypod("pod", "ps", "--noheading")) == ""


def test_ps_size_and_namespaces(pypod: Pypod, rootfs: str) -> None:
    ctr = ok(pypod("run", "-d", "--name", "sized", "--rootfs", rootfs, "sleep", "60")).strip()
    header, row = lines(pypod("ps", "--size"))
    assert header.rstrip().endswith("SIZE")
    assert "B (virtual " in row  # a --rootfs directory is all the container's own
    header, row = lines(pypod("ps", "--ns", "--no-trunc"))
    assert header.split() == ["CONTAINER", "ID", "NAMES", "PID", "CGROUPNS", "IPC", "MNT",
                              "NET", "PIDNS", "USERNS", "UTS"]
    cells = row.split()
    assert cells[:2] == [ctr, "sized"]
    pid = int(cells[2])
    net = os.readlink(f"/proc/{pid}/ns/net")
    assert cells[3 + 3] == net.partition("[")[2].rstrip("]")


def test_pod_create_name_and_infra_options(pypod: Pypod, rootfs: str) -> None:
    pod = ok(pypod("pod", "create", "positional")).strip()
    assert ok(pypod("pod", "inspect", "--format", "{{.Name}}", pod)) == "positional\n"
    both = pypod("pod", "create", "--name", "a", "b")
    assert (both.returncode, both.stderr) == (
        125, "Error: cannot specify --name and NAME at the same time\n")
    assert ok(pypod("--noout", "pod", "create", "--name", "custom", "--infra-name", "holder",
                    "--infra-command", '["/bin/sh", "-c", "exec sleep 300"]')) == ""
    ok(pypod("pod", "start", "custom"))
    assert lines(pypod("ps", "--filter", "pod=custom", "--format",
                       "{{.Names}} {{.Command}}")) == ["holder /bin/sh -c exec sleep 300"]
    taken = pypod("pod", "create", "--infra-name", "holder")
    assert taken.returncode == 125 and "holder" in taken.stderr
    assert ok(pypod("pod", "inspect", "--format", "{{.ExitPolicy}}", "custom")) == \
        "continue\n"
    for args, says in ((["--exit-policy", "invalid"],
                        'running pod create option: invalid pod exit policy: "invalid"'),
                       (["--share", "bogus"], "invalid kernel namespace to share: bogus. "
                        "Options are: cgroup, ipc, net, pid, uts or none"),
                       # as podman's: pulled, and the pull's error (nothing listens)
                       (["--infra-image", "127.0.0.1:1/pause:3.5"],
                        "initializing source docker://127.0.0.1:1/pause:3.5: "),
                       (["--infra=false", "--infra-name", "x"],
                        "cannot set infra-name without an infra container")):
        result = pypod("pod", "create", *args)
        assert result.returncode == 125 and says in result.stderr, result.stderr


def test_pod_exit_policy_stop(pypod: Pypod, rootfs: str) -> None:
    ok(pypod("pod", "create", "--name", "stops", "--exit-policy", "stop"))
    ok(pypod("pod", "create", "--name", "goes-on"))
    for pod in ("stops", "goes-on"):
        assert ok(pypod("run", "--pod", pod, "--rootfs", rootfs, "true")) == ""
    # the exit command's clean-up stops the infra container: wait for it, boundedly
    for _ in range(100):
        if ok(pypod("pod", "inspect", "--format", "{{.State}}", "stops")) == "Exited\n":
            break
        time.sleep(0.1)
    assert ok(pypod("pod", "inspect", "--format", "{{.ExitPolicy}} {{.State}}",
                    "stops")) == "stop Exited\n"
    assert ok(pypod("pod", "inspect", "--format", "{{.State}}", "goes-on")) == "Degraded\n"


def test_pod_ps_filters_and_sort(pypod: Pypod, rootfs: str) -> None:
    ok(pypod("pod", "create", "--name", "zed", "--label", "tier=web"))
    ok(pypod("pod", "create", "--name", "alpha"))
    ok(pypod("run", "-d", "--pod", "zed", "--name", "member", "--rootfs", rootfs,
             "sleep", "60"))
    fmt = ["--format", "{{.Name}}"]
    assert lines(pypod("pod", "ps", "--sort", "name", *fmt)) == ["alpha", "zed"]
    assert lines(pypod("pod", "ps", "--filter", "label=tier=web", *fmt)) == ["zed"]
    assert lines(pypod("pod", "ps", "--filter", "status=running", *fmt)) == ["zed"]
    assert lines(pypod("pod", "ps", "--filter", "status=created", *fmt)) == ["alpha"]
    assert lines(pypod("pod", "ps", "--filter", "ctr-names=member", *fmt)) == ["zed"]
    assert lines(pypod("pod", "ps", "--filter", "ctr-number=2", *fmt)) == ["zed"]
    assert lines(pypod("pod", "ps", "--filter", "name=^a", "--noheading", "-q")) == [
        ok(pypod("pod", "inspect", "--format", "{{.Id}}", "alpha"))[:12]]
    rows = lines(pypod("pod", "ps", "--noheading"))
    assert len(rows) == 2 and not rows[0].startswith("POD ID")
    for args, says in ((["--sort", "bogus"], 'invalid option for --sort "bogus"'),
                       (["--filter", "status=bogus"], 'invalid filter status="bogus"'),
                       (["--filter", "bogus=1"], '"bogus" is an invalid filter')):
        result = pypod("pod", "ps", *args)
        assert result.returncode == 125 and says in result.stderr, result.stderr


def test_pod_verbs_latest_and_ignore(pypod: Pypod) -> None:
    ok(pypod("pod", "create", "--name", "older"))
    newest = ok(pypod("pod", "create", "--name", "newest")).strip()
    assert ok(pypod("pod", "stop", "-i", "nosuch")) == ""
    assert pypod("pod", "stop", "nosuch").returncode == 125
    assert lines(pypod("pod", "rm", "--latest")) == [newest]
    assert lines(pypod("pod", "ps", "--format", "{{.Name}}")) == ["older"]


def test_pod_id_files(pypod: Pypod, tmp_path: Path) -> None:
    id_file = tmp_path / "pod.id"
    pod = ok(pypod("pod", "create", "--pod-id-file", str(id_file))).strip()
    assert id_file.read_text() == pod
    again = pypod("pod", "create", "--pod-id-file", str(id_file))
    assert again.returncode == 125 and "pod id file exists" in again.stderr
    assert lines(pypod("pod", "start", "--pod-id-file", str(id_file))) == [pod]
    assert lines(pypod("pod", "stop", "-t", "0", "--pod-id-file", str(id_file))) == [pod]
    gone = tmp_path / "none.id"
    assert pypod("pod", "rm", "--pod-id-file", str(gone)).returncode == 125
    assert ok(pypod("pod", "rm", "-i", "--pod-id-file", str(gone))) == ""
    assert lines(pypod("pod", "rm", "--pod-id-file", str(id_file))) == [pod]


def test_ps_volume_and_pod_filters(pypod: Pypod, rootfs: str, tmp_path: Path) -> None:
    ok(pypod("create", "--name", "named", "-v", "data:/data", "--rootfs", rootfs, "true"))
    ok(pypod("create", "--name", "bound", "-v", f"{tmp_path}:/host", "--rootfs", rootfs,
             "true"))
    ok(pypod("pod", "create", "--name", "pp"))
    ok(pypod("create", "--name", "member", "--pod", "pp", "--rootfs", rootfs, "true"))

    def names(spec: str) -> list[str]:
        return lines(pypod("ps", "-a", "--filter", spec, "--format", NAMES))

    assert names("volume=data") == ["named"]
    assert names("volume=/data") == ["named"]
    assert names("volume=/host") == ["bound"]
    pod = ok(pypod("pod", "inspect", "--format", "{{.Id}}", "pp")).strip()
    assert sorted(names("pod=pp")) == sorted([f"{pod[:12]}-infra", "member"])
    assert names("pod=nosuchpod") == []
