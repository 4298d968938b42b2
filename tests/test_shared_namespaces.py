"""Containers that share namespaces, from the command line, as podman's: a pod's
containers see one /dev/shm, ``--network container:NAME`` joins another container's
network namespace (and makes it a dependency), ``--pod new:NAME`` hands its host name
and network flags to the new pod, and ``rm`` of pods' infra containers.

Real runc under conmon; networks only where a test makes one of its own.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from conftest import need_binary, run_pypod
from pypod_core.host.mounts import mounts_under
from pypod_core.testing.network import free_port

Pypod = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def pypod(cli_flags: list[str]) -> Iterator[Pypod]:
    """``pypod(*args)`` on this test's store; every pod and container left is removed
    afterwards (their /dev/shm mounts with them)."""
    need_binary("runc")
    need_binary("conmon")
    yield lambda *args: run_pypod(*cli_flags, *args)
    run_pypod(*cli_flags, "pod", "rm", "-a", "-f", "-t", "0")
    run_pypod(*cli_flags, "rm", "-a", "-f", "-t", "0")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_pods_containers_share_dev_shm(pypod: Pypod, rootfs: str, tmp_path) -> None:
    ok(pypod("pod", "create", "--name", "shmpod"))
    ok(pypod("run", "--rm", "--pod", "shmpod", "--rootfs", rootfs, "sh", "-c",
             "echo hello > /dev/shm/note"))
    assert ok(pypod("run", "--rm", "--pod", "shmpod", "--rootfs", rootfs,
                    "cat", "/dev/shm/note")) == "hello\n"
    # Still a 64 MiB tmpfs of no devices, set-uid or executables, as podman's.
    line = ok(pypod("run", "--rm", "--pod", "shmpod", "--rootfs", rootfs,
                    "grep", " /dev/shm ", "/proc/mounts"))
    assert line.startswith("shm /dev/shm tmpfs ") and "size=65536k" in line
    assert all(o in line for o in ("nosuid", "nodev", "noexec")), line
    # A container of no pod has a /dev/shm of its own.
    outside = pypod("run", "--rm", "--rootfs", rootfs, "cat", "/dev/shm/note")
    assert outside.returncode == 1
    ok(pypod("pod", "rm", "-f", "-t", "0", "shmpod"))
    assert mounts_under(str(tmp_path)) == []  # every tmpfs went with its container


def test_ipc_container_shares_dev_shm(pypod: Pypod, rootfs: str) -> None:
    holder = ok(pypod("run", "-d", "--name", "holder", "--shm-size", "1m", "--rootfs", rootfs,
                      "sleep", "60")).strip()
    ok(pypod("run", "--rm", "--ipc", f"container:{holder}", "--rootfs", rootfs, "sh", "-c",
             "echo 42 > /dev/shm/answer"))
    assert ok(pypod("exec", "holder", "cat", "/dev/shm/answer")) == "42\n"
    assert "size=1024k" in ok(pypod("exec", "holder", "grep", " /dev/shm ", "/proc/mounts"))
    ok(pypod("rm", "-f", "-t", "0", "holder"))


def test_network_container_joins_its_namespace(pypod: Pypod, rootfs: str) -> None:
    port = free_port()
    server = ok(pypod("run", "-d", "--name", "server", "--rootfs", rootfs,
                      "nc", "-l", "-p", str(port))).strip()
    joined = ok(pypod("create", "--network", "container:server", "--rootfs", rootfs,
                      "sh", "-c", f"sleep 0.5; echo ping | nc 127.0.0.1 {port}")).strip()
    view = json.loads(ok(pypod("inspect", joined)))[0]
    assert view["HostConfig"]["NetworkMode"] == f"container:{server}"
    assert view["Dependencies"] == [server]
    ok(pypod("start", "-a", joined))  # its loopback is the server's
    # conmon writes the server's log a moment after nc prints: wait for it.
    deadline = time.monotonic() + 10
    while ok(pypod("logs", "server")) != "ping\n" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ok(pypod("logs", "server")) == "ping\n"
    # The dependency holds: the joined container goes first, or with --depend.
    refused = pypod("rm", "server")
    assert refused.returncode == 125
    assert refused.stderr.startswith(f"Error: container {server} has dependent containers "
                                     "which must be removed before it: ")
    assert ok(pypod("rm", "--depend", "server")).split() == [joined, server]
    missing = pypod("create", "--network", "container:nosuch", "--rootfs", rootfs, "true")
    assert missing.returncode == 125 and "nosuch" in missing.stderr


def test_rm_prints_names_as_typed(pypod: Pypod, rootfs: str) -> None:
    cid = ok(pypod("create", "--name", "typed", "--rootfs", rootfs, "true")).strip()
    assert ok(pypod("rm", "typed")) == "typed\n"
    ok(pypod("create", "--name", "byprefix", "--rootfs", rootfs, "true"))
    cid = ok(pypod("inspect", "--format", "{{.Id}}", "byprefix")).strip()
    assert ok(pypod("rm", cid[:10])) == f"{cid[:10]}\n"


def test_new_pod_takes_the_containers_hostname(pypod: Pypod, rootfs: str) -> None:
    assert ok(pypod("run", "--rm", "--pod", "new:named", "--hostname", "foobar",
                    "--rootfs", rootfs, "hostname")) == "foobar\n"
    assert ok(pypod("pod", "inspect", "--format", "{{.Hostname}}", "named")) == "foobar\n"
    ok(pypod("pod", "rm", "named"))
    assert ok(pypod("run", "--rm", "--pod", "new:named", "--rootfs", rootfs,
                    "hostname")) == "named\n"
    # A container joining a pod's UTS namespace cannot have a host name of its own.
    own = pypod("run", "--rm", "--pod", "named", "--hostname", "x", "--rootfs", rootfs, "true")
    assert own.returncode == 125 and own.stderr == (
        "Error: invalid config provided: cannot set hostname when joining the pod UTS "
        "namespace: invalid configuration\n")
    ok(pypod("pod", "rm", "-f", "-t", "0", "named"))


def test_rm_all_takes_pods_with_their_infra(pypod: Pypod, rootfs: str) -> None:
    member = ok(pypod("create", "--pod", "new:gone", "--rootfs", rootfs, "true")).strip()
    alone = ok(pypod("create", "--rootfs", rootfs, "true")).strip()
    infra = ok(pypod("pod", "inspect", "--format", "{{.InfraContainerID}}", "gone")).strip()
    # The infra container alone is refused: it goes with its pod.
    assert "cannot be removed without removing the pod" in pypod("rm", "-f", infra).stderr
    ps = ok(pypod("ps", "-a", "--format", "{{.Pod}}")).split()
    assert sorted(ps) == sorted([infra and ok(pypod("pod", "inspect", "--format",
                                                     "{{.Id}}", "gone"))[:12]] * 2)
    assert sorted(ok(pypod("rm", "--force", "--all")).split()) == sorted([member, alone, infra])
    assert ok(pypod("pod", "ps", "-q")) == ""


def test_a_taken_name_in_podmans_words(pypod: Pypod, rootfs: str) -> None:
    first = ok(pypod("create", "--name", "dup", "--rootfs", rootfs, "true")).strip()
    again = pypod("create", "--name", "dup", "--rootfs", rootfs, "true")
    assert again.returncode == 125 and again.stderr == (
        f'Error: creating container storage: the container name "dup" is already in use by '
        f"{first}. You have to remove that container to be able to reuse that name: that "
        "name is already in use\n")
    infra = pypod("pod", "create", "--infra-name", "dup")
    assert infra.returncode == 125 and 'the container name "dup" is already in use' in \
        infra.stderr


def test_pod_network_private_is_the_default_bridge(net_config: str) -> None:
    need_binary("iptables")
    flags = ["--config", net_config]
    ok(run_pypod(*flags, "pod", "create", "--share", "ipc", "--network", "private", "priv"))
    shown = ok(run_pypod(*flags, "pod", "inspect", "--format",
                         "{{.InfraConfig.HostNetwork}} {{.InfraConfig.NetworkMode}}", "priv"))
    assert shown == "false bridge\n"
    ok(run_pypod(*flags, "pod", "rm", "priv"))
