"""Networks from the command line (``pypod network ...``, ``run --network/--ip/-p``,
``inspect``), and networks torn down at the reboot refresh."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary, run_pypod
from pypod_core.host import netns
from pypod_core.testing.host import await_exit_commands
from pypod_core.testing.network import free_port


@pytest.fixture
def pypod(net_config: str) -> Any:
    """Run ``pypod --config <this test's config> ARGS``; fail on an unexpected exit code."""
    need_binary("iptables")
    need_binary("runc")

    def run(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        proc = run_pypod("--config", net_config, *args)
        assert proc.returncode == code, (args, proc.stdout, proc.stderr)
        return proc

    return run


def test_network_ls_create_inspect_rm(pypod, net_settings) -> None:
    listing = pypod("network", "ls").stdout.splitlines()
    assert listing[0].split() == ["NETWORK", "ID", "NAME", "DRIVER"]
    assert listing[1].split()[1:] == ["podman", "bridge"] and len(listing[1].split()[0]) == 12
    assert pypod("network", "create", "backend").stdout == "backend\n"  # podman prints the name
    path = pypod("network", "ls", "--format", "{{.Name}} {{.Path}}").stdout.split()[1]
    assert path.endswith("/backend.conflist") and os.path.exists(path)
    subnet = net_settings["default_subnet"].replace(".0/24", ".0/25").split(".")
    subnet[2] = str(int(subnet[2]) + 3)
    pypod("network", "create", "--subnet", ".".join(subnet), "fixed")
    rows = json.loads(pypod("network", "ls", "--format", "json").stdout)
    assert [r["name"] for r in rows] == ["backend", "fixed", "podman"]  # by name, as podman
    assert [r["default"] for r in rows] == [False, False, True]
    assert rows[1]["subnets"] == [".".join(subnet)]
    [conf] = json.loads(pypod("network", "inspect", "fixed").stdout)
    assert conf["name"] == "fixed" and conf["plugins"][0]["type"] == "bridge"
    err = pypod("network", "create", "backend", code=125).stderr
    assert err == "Error: network name backend already used: network already exists\n"
    table = pypod("network", "ls", "--noheading", "--no-trunc").stdout.splitlines()
    assert [row.split()[1] for row in table] == ["backend", "fixed", "podman"]
    assert [len(row.split()[0]) for row in table] == [64, 64, 64]
    pypod("network", "rm", "backend", "fixed")
    assert pypod("network", "ls", "-q").stdout.split() == ["podman"]
    err = pypod("network", "inspect", "backend", code=125).stderr
    assert err == "Error: unable to find network with name or ID backend: network not found\n"


def test_run_on_two_networks_static_ip_and_published_port(pypod, rootfs, tmp_path) -> None:
    pypod("network", "create", "second")
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("from the cli\n")
    default = json.loads(pypod("network", "ls", "--format", "json").stdout)[0]
    static = default["subnets"][0].replace(".0/24", ".77")
    port = free_port()
    cid = pypod("run", "-d", "--name", "web", "--network", "podman,second", "--ip", static,
                "-p", f"127.0.0.1:{port}:80", "-v", f"{www}:/www:ro", "--rootfs", rootfs,
                "httpd", "-f", "-p", "80", "-h", "/www").stdout.strip()
    try:
        [info] = json.loads(pypod("inspect", cid).stdout)
        settings = info["NetworkSettings"]
        assert settings["IPAddress"] == static
        assert set(settings["Networks"]) == {"podman", "second"}
        assert settings["Networks"]["podman"]["IPAddress"] == static
        assert settings["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        assert settings["SandboxKey"] and settings["MacAddress"]
        [entry] = json.loads(pypod("ps", "--format", "json").stdout)
        assert entry["Networks"] == ["podman", "second"]
        assert entry["Ports"] == [{"host_ip": "127.0.0.1", "container_port": 80,
                                   "host_port": port, "range": 1, "protocol": "tcp"}]
        assert f"127.0.0.1:{port}->80/tcp" in pypod("ps").stdout
        out = pypod("exec", "web", "ip", "-o", "-4", "addr").stdout
        assert "eth0" in out and "eth1" in out and f"{static}/" in out
        body = subprocess.run(["wget", "-q", "-O", "-", f"http://127.0.0.1:{port}/"],
                              capture_output=True, text=True)
        if body.returncode != 0:  # no wget on the host: busybox's
            body = subprocess.run(["busybox", "wget", "-q", "-O", "-",
                                   f"http://127.0.0.1:{port}/"], capture_output=True, text=True)
        assert body.stdout == "from the cli\n"
        err = pypod("network", "rm", "second", code=125).stderr
        assert "used by containers: web" in err
    finally:
        pypod("rm", "-f", "-t", "0", cid)
    pypod("network", "rm", "second")


def test_reboot_refresh_tears_down_networks_of_containers_that_died_with_the_host(
        make_runtime, net_config, rootfs) -> None:
    """A container dies with its monitor (as in a power cut: no exit command); after
    the "reboot" the first runtime built detaches it from its network."""
    need_binary("iptables")
    rt = make_runtime(config_path=net_config)
    ctr = rt.create_container(rootfs, ["sleep", "1000"], network_mode="bridge")
    ctr.start()
    address = ctr.inspect()["NetworkSettings"]["IPAddress"]
    os.kill(ctr.state.conmon_pid, signal.SIGKILL)  # no exit command will run
    os.kill(ctr.state.pid, signal.SIGKILL)
    time.sleep(0.2)
    rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
    assert f" {address}/32 " in rules  # nobody cleaned up yet
    await_exit_commands(rt.config.graph_root)
    rt.shutdown()
    os.unlink(Path(rt.config.tmp_dir) / "alive")
    after = make_runtime(config_path=net_config)
    assert after.refreshed_after_reboot
    rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
    assert f" {address}/" not in rules
    assert netns.list_netns(os.path.join(after.config.tmp_dir, "netns")) == []
    leases = Path(after.network.ipam_dir)
    assert not [p for p in leases.rglob("*") if p.name == address]
    after.remove_container(after.lookup_container(ctr.id), force=True)


def test_network_rm_force_removes_its_containers_and_ignores_a_missing_one(
        pypod, rootfs) -> None:
    """As podman's ``network rm -f``: the containers configured to join it are removed
    first (a running one stopped), and a network that does not exist is no error; without
    ``-f`` a missing one exits 1."""
    pypod("network", "create", "doomed")
    pypod("create", "--name", "idle", "--network", "doomed", "--rootfs", rootfs, "true")
    pypod("network", "rm", "doomed", code=125)
    assert pypod("network", "rm", "-f", "-t", "0", "doomed").stdout == "doomed\n"
    assert pypod("ps", "-a", "-q").stdout == ""
    assert "doomed" not in pypod("network", "ls", "-q").stdout.split()
    assert pypod("network", "rm", "--force", "bogus").stdout == ""
    pypod("network", "rm", "bogus", code=1)


def http_get(port: int, timeout: float = 2.0) -> str:
    """The body of GET / on 127.0.0.1:port, or "" if nothing answers it in time."""
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
    except OSError:
        return ""
    return data.decode(errors="replace").partition("\r\n\r\n")[2]


def test_network_reload_makes_a_containers_rules_again(pypod, rootfs, tmp_path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("reloaded\n")
    port = free_port()
    cid = pypod("run", "-d", "--name", "web", "-p", f"127.0.0.1:{port}:80", "-v",
                f"{www}:/www:ro", "--rootfs", rootfs, "httpd", "-f", "-p", "80", "-h",
                "/www").stdout.strip()
    try:
        fmt = "{{.NetworkSettings.IPAddress}} {{.NetworkSettings.MacAddress}}"
        before = pypod("inspect", "--format", fmt, cid).stdout
        deadline = time.monotonic() + 10
        while http_get(port) != "reloaded\n":
            assert time.monotonic() < deadline, "the published port never answered"
            time.sleep(0.1)
        # As a firewall reload would, but only this container's rules: its DNAT jumps.
        jumps = [line for line in subprocess.run(
            ["iptables", "-w", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT"], capture_output=True,
            text=True, check=True).stdout.splitlines() if cid in line]
        assert jumps
        for line in jumps:
            subprocess.run(["iptables", "-w", "-t", "nat", "-D", *shlex.split(line)[1:]],
                           check=True)
        assert http_get(port, timeout=1) != "reloaded\n"
        assert pypod("network", "reload", "web").stdout == f"{cid}\n"  # podman prints ids
        assert http_get(port) == "reloaded\n"
        assert pypod("inspect", "--format", fmt, cid).stdout == before  # same IP and MAC
        # --all, and rules already there: nothing is doubled.
        assert cid in pypod("network", "reload", "--all").stdout.split()
        after = subprocess.run(["iptables", "-w", "-t", "nat", "-S", "CNI-HOSTPORT-DNAT"],
                               capture_output=True, text=True, check=True).stdout
        assert [line for line in after.splitlines() if cid in line] == jumps
        pypod("stop", "-t", "0", "web")
        err = pypod("network", "reload", "web", code=125).stderr
        assert err == "Error: web: container web is not running on a bridge network: " \
                      "nothing to reload\n"
        assert pypod("network", "reload", code=125).stderr.startswith("Error: network reload:")
    finally:
        pypod("rm", "-f", "-t", "0", cid)
