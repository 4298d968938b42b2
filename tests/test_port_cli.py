"""``pypod port``: a running container's published ports in podman's lines, one port's
host address, ``--all`` with each container's short id; a pod's container shows its
pod's ports; a port not published is one line."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest

from conftest import need_binary, run_pypod
from pypod_core.testing.network import free_port

Pypod = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def pypod(net_config: str) -> Iterator[Pypod]:
    need_binary("iptables")
    need_binary("runc")
    need_binary("conmon")
    yield lambda *args, **kw: run_pypod("--config", net_config, *args, **kw)
    run_pypod("--config", net_config, "rm", "-a", "-f", "-t", "0")
    run_pypod("--config", net_config, "pod", "rm", "-a", "-f", "-t", "0")


def test_port_lines(pypod: Pypod, rootfs: str) -> None:
    web, dns = free_port(), free_port()
    cid = pypod("run", "-d", "--name", "pub", "-p", f"127.0.0.1:{web}:80",
                "-p", f"{dns}:53/udp", "--rootfs", rootfs, "sleep", "100").stdout.strip()
    result = pypod("port", "pub")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"80/tcp -> 127.0.0.1:{web}\n53/udp -> 0.0.0.0:{dns}\n"
    assert pypod("port", "pub", "80").stdout == f"127.0.0.1:{web}\n"
    assert pypod("container", "port", "pub", "53/udp").stdout == f"0.0.0.0:{dns}\n"
    missing = pypod("port", "pub", "81")
    assert (missing.returncode, missing.stderr) == (
        125, 'Error: failed to find published port "81"\n')
    bad = pypod("port", "pub", "x/y/z")
    assert bad.returncode == 125 and "port formats are port/protocol" in bad.stderr
    pypod("create", "--name", "idle", "-p", f"{free_port()}:80", "--rootfs", rootfs, "true")
    every = pypod("port", "-a").stdout.splitlines()
    assert every == [f"{cid[:12]}\t80/tcp -> 127.0.0.1:{web}",
                     f"{cid[:12]}\t53/udp -> 0.0.0.0:{dns}"]  # running ones only
    assert pypod("port", "idle").stdout == ""
    assert pypod("port").returncode == 125


def test_a_pods_container_shows_the_pods_ports(pypod: Pypod, rootfs: str) -> None:
    port = free_port()
    assert pypod("pod", "create", "--name", "pp", "-p", f"{port}:8080").returncode == 0
    pypod("run", "-d", "--pod", "pp", "--name", "member", "--rootfs", rootfs, "sleep", "100")
    assert pypod("port", "member").stdout == f"8080/tcp -> 0.0.0.0:{port}\n"
