"""``--network slirp4netns``: a container's own namespace with Debian's slirp4netns
attached (tap0 on CIDR.100, slirp's DNS forwarder on CIDR.3), published ports forwarded
by slirp itself, the process ended with the container's network.  Real runc under
conmon; the only traffic is on the host's loopback (published ports) and inside the
container's namespace: no test reaches beyond the host."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import need_binary, run_pypod
from pypod_core.testing.network import free_port


@pytest.fixture
def pypod(cli_flags: list[str]):
    """``pypod(*args, code=0)`` on this test's store; containers left are removed."""
    need_binary("slirp4netns")
    need_binary("conmon")

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        proc = run_pypod(*cli_flags, *args)
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        return proc

    yield run
    run_pypod(*cli_flags, "rm", "-a", "-f", "-t", "0")


def slirp_pids() -> set[int]:
    """The pids of the slirp4netns processes on the host."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if Path(f"/proc/{entry}/comm").read_text().strip() == "slirp4netns":
                    found.add(int(entry))
            except OSError:
                continue
    return found


def test_the_container_is_on_slirps_network(pypod, rootfs: str) -> None:
    before = slirp_pids()
    out = pypod("run", "--rm", "--network", "slirp4netns:cidr=10.41.7.0/24,mtu=1500",
                "--name", "slirpy", "--hostname", "sl", "--rootfs", rootfs, "sh", "-c",
                "ip -o -4 addr show tap0; cat /sys/class/net/tap0/mtu; echo ==; "
                "cat /etc/hosts; echo ==; cat /etc/resolv.conf").stdout
    addr, hosts, resolv = out.split("==\n")
    assert "inet 10.41.7.100/24 " in addr and addr.endswith("1500\n")
    # Its own address under its names, as podman writes it.
    assert "10.41.7.100\tsl slirpy\n" in hosts
    assert "\thost.containers.internal\n" in hosts
    # slirp's DNS forwarder comes first.
    assert resolv.splitlines()[0] == "nameserver 10.41.7.3"
    assert slirp_pids() <= before  # --rm: its slirp4netns is gone with it


def test_default_cidr_is_podmans(pypod, rootfs: str) -> None:
    out = pypod("run", "--rm", "--network", "slirp4netns", "--rootfs", rootfs,
                "ip", "-o", "-4", "addr", "show", "tap0").stdout
    assert "inet 10.0.2.100/24 " in out


def fetch(port: int) -> str:
    """GET / from 127.0.0.1:port, retried while the server comes up."""
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
            if data:
                return data.decode().partition("\r\n\r\n")[2]
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answered on 127.0.0.1:{port}")
        time.sleep(0.1)


def test_published_port_is_forwarded_and_released(pypod, rootfs: str, tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("through slirp\n")
    port = free_port()
    before = slirp_pids()
    pypod("run", "-d", "--name", "web", "--network", "slirp4netns:port_handler=slirp4netns",
          "-p", f"127.0.0.1:{port}:80", "-v", f"{www}:/www:ro", "--rootfs", rootfs,
          "httpd", "-f", "-p", "80", "-h", "/www")
    assert len(slirp_pids() - before) == 1
    assert fetch(port) == "through slirp\n"
    # A restart makes a new namespace and a new slirp4netns: the port works again.
    pypod("restart", "-t", "0", "web")
    assert fetch(port) == "through slirp\n"
    pypod("stop", "-t", "0", "web")
    assert slirp_pids() <= before
    with socket.socket() as probe:  # slirp listened on the port; now nothing does
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine
        probe.bind(("127.0.0.1", port))


@pytest.mark.parametrize("network, message", [
    ("slirp4netns:port_handler=rootlesskit",
     "slirp4netns option port_handler=rootlesskit is not supported by pypod"),
    ("slirp4netns:outbound_addr=eth0", "slirp4netns option 'outbound_addr' is not supported"),
    ("slirp4netns:cidr=10.1.2.0/28", "a /25 or larger is needed"),
    ("slirp4netns:cidr=nowhere", "invalid slirp4netns cidr 'nowhere'"),
    ("slirp4netns:mtu=9", "invalid slirp4netns mtu '9'"),
    ("slirp4netns:enable_ipv6", "expected KEY=VALUE"),
])
def test_bad_options_are_one_line(pypod, rootfs: str, network: str, message: str) -> None:
    err = pypod("run", "--rm", "--network", network, "--rootfs", rootfs, "true",
                code=125).stderr
    assert err.startswith("Error: ") and message in err and err.count("\n") == 1


def test_a_static_address_is_refused(pypod, rootfs: str) -> None:
    err = pypod("run", "--rm", "--network", "slirp4netns", "--ip", "10.0.2.50",
                "--rootfs", rootfs, "true", code=125).stderr
    assert "--ip needs a network; --network is slirp4netns" in err


def test_a_pods_members_share_its_slirp_namespace(pypod, rootfs: str) -> None:
    before = slirp_pids()
    pypod("pod", "create", "--network", "slirp4netns", "--name", "sp")
    try:
        out = pypod("run", "--rm", "--pod", "sp", "--name", "member", "--rootfs", rootfs,
                    "sh", "-c", "ip -o -4 addr show tap0; cat /etc/hosts").stdout
        assert "inet 10.0.2.100/24 " in out
        assert "10.0.2.100\tsp " in out and "127.0.0.1\tmember\n" in out
        assert len(slirp_pids() - before) == 1  # the infra container's
    finally:
        pypod("pod", "rm", "-f", "-t", "0", "sp")
    assert slirp_pids() <= before
    err = pypod("pod", "create", "--network", "slirp4netns:mtu=1500", code=125).stderr
    assert "options are not supported for pods" in err


def test_a_published_port_range_is_forwarded_port_by_port(pypod, rootfs: str) -> None:
    first = free_port()
    ports = [first, first + 1]
    serve = " ".join(f"(while :; do echo to-{p} | nc -l -p {p}; done) &" for p in ports)
    pypod("run", "-d", "--name", "ranged", "--network", "slirp4netns",
          "-p", f"127.0.0.1:{first}-{first + 1}:{first}-{first + 1}", "--rootfs", rootfs,
          "sh", "-c", f"{serve} wait")
    for port in ports:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
                    data = conn.recv(100)
                if data:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"nothing answered on {port}"
            time.sleep(0.1)
        assert data == f"to-{port}\n".encode()
