"""``pypod pod ...``, ``pypod run --pod`` and ``pypod ps --pod``, as a user runs them: the
real command, real runc under conmon, each test on directories of its own."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary, run_pypod

Pypod = Callable[..., subprocess.CompletedProcess[str]]
SERVE = "trap 'exit 0' TERM; httpd -f -p 127.0.0.1:8080 -h /www & wait"
FETCH = ("for i in $(seq 100); do wget -q -O - http://127.0.0.1:8080/ && exit 0; "
         "sleep 0.05; done; exit 1")


@pytest.fixture
def pypod(cli_flags: list[str]) -> Iterator[Pypod]:
    """``pypod(*args)`` on this test's store; every pod left is removed afterwards."""
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


@pytest.mark.slow
def test_a_pod_from_the_command_line(pypod: Pypod, rootfs: str, tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("hello\n")
    pod_id = ok(pypod("pod", "create", "--name", "shop", "--label", "tier=web")).strip()
    assert len(pod_id) == 64
    ok(pypod("run", "-d", "--pod", "shop", "--name", "srv", "-v", f"{www}:/www:ro",
             "--rootfs", rootfs, "sh", "-c", SERVE))
    # A second container of the pod reaches the first on localhost.
    fetched = pypod("run", "--rm", "--pod", "shop", "--rootfs", rootfs, "sh", "-c", FETCH)
    assert (fetched.stdout, fetched.returncode) == ("hello\n", 0)

    table = ok(pypod("ps", "-a", "--pod")).splitlines()
    assert "POD ID" in table[0] and table[0].rstrip().endswith("PODNAME")
    srv_row = next(line for line in table if line.rstrip().endswith("shop") and "srv" in line)
    assert pod_id[:12] in srv_row
    entries = json.loads(ok(pypod("ps", "-a", "--format", "json")))
    assert {(e["Names"][0], e["PodName"], e["IsInfra"]) for e in entries} == {
        ("srv", "shop", False), (f"{pod_id[:12]}-infra", "shop", True)}

    pods = json.loads(ok(pypod("pod", "ps", "--format", "json")))
    assert [(p["Name"], p["Status"], len(p["Containers"]), p["Labels"]) for p in pods] == [
        ("shop", "Running", 2, {"tier": "web"})]
    assert ok(pypod("pod", "ps", "--format", "{{.Name}} {{.NumberOfContainers}}")) == \
        "shop 2\n"
    [doc] = json.loads(ok(pypod("pod", "inspect", "shop")))
    assert (doc["Id"], doc["State"], doc["NumContainers"]) == (pod_id, "Running", 2)

    assert ok(pypod("pod", "stop", "-t", "2", "shop")) == f"{pod_id}\n"
    assert ok(pypod("pod", "inspect", "--format", "{{.State}}", "shop")) == "Exited\n"
    # As podman's: a stopped pod goes without -f, its containers with it.
    assert ok(pypod("pod", "rm", "shop")) == f"{pod_id}\n"
    assert json.loads(ok(pypod("pod", "ps", "--format", "json"))) == []
    assert json.loads(ok(pypod("ps", "-a", "--format", "json"))) == []


@pytest.mark.slow
def test_pod_verbs_and_errors(pypod: Pypod, rootfs: str) -> None:
    ok(pypod("pod", "create", "--name", "p", "--share", "+pid"))
    ok(pypod("create", "--pod", "p", "--name", "sleeper", "--rootfs", rootfs, "sleep", "60"))
    ok(pypod("pod", "start", "p"))
    # With the PID namespace shared, the pod's pause process is PID 1 for every member.
    assert ok(pypod("exec", "sleeper", "cat", "/proc/1/cmdline")).startswith("/bin/sh")
    ok(pypod("pod", "pause", "p"))
    assert ok(pypod("pod", "ps", "--format", "{{.Status}}")) == "Paused\n"
    ok(pypod("pod", "unpause", "p"))
    ok(pypod("pod", "restart", "p"))
    assert ok(pypod("pod", "ps", "--format", "{{.Status}}")) == "Running\n"
    ok(pypod("pod", "kill", "p"))
    deadline = time.monotonic() + 10  # SIGKILL is sent; the exits are noticed shortly
    while (state := ok(pypod("pod", "inspect", "-f", "{{.State}}", "p"))) != "Exited\n" \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state == "Exited\n"

    infra = json.loads(ok(pypod("pod", "inspect", "p")))[0]["InfraContainerID"]
    refused = pypod("rm", "-f", infra)
    assert refused.returncode == 125 and "infra container of pod p" in refused.stderr
    taken = pypod("create", "--name", "p", "--rootfs", rootfs, "true")
    assert taken.returncode == 125 and "Error:" in taken.stderr
    assert pypod("pod", "create", "--name", "sleeper").returncode == 125
    bad = pypod("pod", "create", "--share", "mnt")
    assert (bad.returncode, bad.stderr) == (
        125, "Error: invalid kernel namespace to share: mnt. Options are: cgroup, ipc, "
             "net, pid, uts or none\n")
    missing = pypod("pod", "stop", "nosuchpod")
    assert missing.returncode == 125 and "nosuchpod" in missing.stderr
    assert ok(pypod("pod", "rm", "-a", "-f")).count("\n") == 1


def test_pod_ps_leaves_out_a_pod_removed_while_it_lists(make_runtime: Callable[..., Any]
                                                        ) -> None:
    """Another process may remove a pod between ``pod ps`` listing the pods and reading
    one: podman leaves it out; pypod used to fail with "no pod with id"."""
    from pypod_core.cli.pods import _ps_pairs

    rt = make_runtime()
    kept, gone = rt.create_pod(name="kept"), rt.create_pod(name="gone")
    listed = rt.pods()
    rt.remove_pod(gone)
    assert [entry["Name"] for entry, _ in _ps_pairs(listed)] == [kept.name]


def test_rmi_of_podmans_pause_image_name_removes_the_infra_rootfs(
        pypod: Pypod, cli_config: str, tmp_path: Path) -> None:
    # Scripts remove podman's locally built pause image by the name `version` gives.
    name = "localhost/podman-pause:" + ok(pypod(
        "version", "--format", "{{.Server.Version}}-{{.Server.Built}}")).strip()
    assert name.split(":")[1][0].isdigit() and "-" in name
    assert pypod("rmi", name).returncode == 1  # nothing built yet: not known
    pod = ok(pypod("pod", "create", "--network", "none", "--name", "p")).strip()
    ok(pypod("pod", "start", "p"))
    infra_dir = tmp_path / "root" / "infra" / "pypod-infra"
    assert infra_dir.is_dir()
    busy = pypod("rmi", name)
    assert busy.returncode == 2 and "image is in use by a container" in busy.stderr
    assert infra_dir.is_dir()
    assert ok(pypod("pod", "rm", "-f", "-t", "0", "p")).strip() == pod
    assert ok(pypod("rmi", name)) == f"Untagged: {name}\n"
    assert not infra_dir.exists()
    ok(pypod("pod", "create", "--network", "none", "--name", "again"))  # built anew
    ok(pypod("pod", "start", "again"))
    assert infra_dir.is_dir()


def test_pod_create_replace(pypod: Pypod, rootfs: str) -> None:
    first = ok(pypod("pod", "create", "--share", "ipc", "--name", "again")).strip()
    ok(pypod("run", "-d", "--pod", "again", "--rootfs", rootfs, "sleep", "60"))
    # --replace: the pod of that name goes first, its running containers with it.
    second = ok(pypod("pod", "create", "--share", "+pid", "--replace", "--name", "again"))
    assert second.strip() != first
    assert ok(pypod("pod", "inspect", "--format", "{{.SharedNamespaces}}", "again")) == \
        "[ipc net pid uts]\n"
    assert ok(pypod("ps", "-a", "-q")).count("\n") == 1  # the new infra container only
    nameless = pypod("pod", "create", "--replace")
    assert nameless.returncode == 125 and nameless.stderr == \
        "Error: cannot replace pod without --name being set\n"
    assert ok(pypod("pod", "create", "--replace", "fresh"))  # no pod to replace: no error
