"""``pypod network connect`` and ``disconnect`` from the command line, as podman's: a
running container with a published port joins a network and leaves its first one, its
port answering throughout; inspect's Go templates reach each network's entry."""

from __future__ import annotations

import test_net_cli

from conftest import fetch
from pypod_core.testing.network import free_port

#: The fixture running pypod on this test's network config (test_net_cli's).
pypod = test_net_cli.pypod
IP = '{{(index .NetworkSettings.Networks "%s").IPAddress}}'


def test_connect_and_disconnect_a_running_container(pypod, rootfs, tmp_path) -> None:
    pypod("network", "create", "second")
    www = tmp_path / "www"
    www.mkdir()
    (www / "index.html").write_text("still here\n")
    port = free_port()
    cid = pypod("run", "-d", "-p", f"{port}:80", "-v", f"{www}:/www:ro", "--rootfs", rootfs,
                "httpd", "-f", "-p", "80", "-h", "/www").stdout.strip()
    try:
        first = pypod("inspect", cid, "--format", IP % "podman").stdout.strip()
        aliases = '{{(index .NetworkSettings.Networks "podman").Aliases}}'
        assert pypod("inspect", cid, "--format", aliases).stdout == f"[{cid[:12]}]\n"

        connected = pypod("network", "connect", "--alias", "web,www", "second", cid)
        assert connected.stdout == connected.stderr == ""
        second = pypod("inspect", cid, "--format", IP % "second").stdout.strip()
        assert second and second != first
        aliases = '{{(index .NetworkSettings.Networks "second").Aliases}}'
        assert pypod("inspect", cid, "--format", aliases).stdout == f"[web www {cid[:12]}]\n"
        hosts = pypod("exec", cid, "cat", "/etc/hosts").stdout
        assert first in hosts and second in hosts

        assert pypod("network", "disconnect", "-f", "podman", cid).stdout == ""
        assert fetch(f"http://127.0.0.1:{port}/") == "still here\n"
        assert first not in pypod("exec", cid, "cat", "/etc/hosts").stdout
        networks = "{{range .NetworkSettings.Networks}}{{.NetworkID}} {{end}}"
        assert pypod("inspect", cid, "--format", networks).stdout == "second \n"
        assert pypod("ps", "--format", "{{.Networks}}").stdout == "[second]\n"
    finally:
        pypod("rm", "-f", "-t", "0", cid)


def test_bad_connect_requests_are_one_line_errors(pypod, rootfs) -> None:
    cid = pypod("create", "--network", "bridge", "--rootfs", rootfs, "true").stdout.strip()
    for args, message in [
        (("connect", "--ip", "10.1.2", "podman", cid),
         'Error: invalid argument "10.1.2" for "--ip" flag: invalid string being converted '
         "to IP address: 10.1.2\n"),
        (("connect", "--mac-address", "zz", "podman", cid),
         "Error: address zz: invalid MAC address\n"),
        (("connect", "nope", cid),
         "Error: unable to find network with name or ID nope: network not found\n"),
        (("connect", "podman", "no-such-ctr"), None),
        (("disconnect", "podman"), None),
    ]:
        result = pypod("network", *args, code=125)
        assert len(result.stderr.splitlines()) == 1 and result.stdout == ""
        if message:
            assert result.stderr == message
    loner = pypod("create", "--network", "none", "--rootfs", rootfs, "true").stdout.strip()
    result = pypod("network", "connect", "podman", loner, code=125)
    assert result.stderr == 'Error: "none" is not supported: invalid network mode\n'
    result = pypod("network", "disconnect", "podman", cid)  # a created one: its record only
    assert pypod("inspect", cid, "--format", "{{.NetworkSettings.Networks}}").stdout == "map[]\n"
