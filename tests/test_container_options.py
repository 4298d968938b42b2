"""Parsing podman's container flag values and Go templates (no container runs)."""

from __future__ import annotations

import pytest

from pypod_core.cli import options as opt
from pypod_core.cli.gotemplate import render
from pypod_core.errors import InvalidArgError
from pypod_core.model import Mount, NamedVolume, PortMapping, Rlimit


def test_volumes() -> None:
    assert opt.parse_volume("/a:/b") == Mount("/a", "/b", False)
    assert opt.parse_volume("/a/:/b:ro,z") == Mount("/a", "/b", True, options=("z",))
    assert opt.parse_volume("named:/b:U") == NamedVolume("named", "/b", ("U",))
    assert opt.parse_volume("/a") == NamedVolume("", "/a")  # anonymous
    for bad in ("/a:rel", "/a:/b:bogus", "a:/b:c:d", "", ":/b", "/a:/"):
        with pytest.raises(InvalidArgError):
            opt.parse_volume(bad)


def test_published_ports() -> None:
    assert opt.parse_publish("8080:80") == [PortMapping(8080, 80)]
    assert opt.parse_publish("127.0.0.1:53:53/udp") == [PortMapping(53, 53, "udp", "127.0.0.1")]
    assert opt.parse_publish("8000-8001:80-81") == [PortMapping(8000, 80), PortMapping(8001, 81)]
    (chosen,) = opt.parse_publish("80")
    assert chosen.container_port == 80 and 0 < chosen.host_port < 65536
    for bad in ("x:80", "8000-8002:80-81", "80/icmp", "70000", "[::1:80"):
        with pytest.raises(InvalidArgError):
            opt.parse_publish(bad)


def test_ulimits_signals_env_network() -> None:
    assert opt.parse_ulimit("nofile=1024:2048") == Rlimit("RLIMIT_NOFILE", 1024, 2048)
    assert opt.parse_ulimit("nproc=-1") == Rlimit("RLIMIT_NPROC", -1, -1)
    for bad in ("nofile", "files=1", "nofile=2:1", "nofile=a"):
        with pytest.raises(InvalidArgError):
            opt.parse_ulimit(bad)
    assert [opt.parse_signal(s) for s in ("SIGTERM", "term", "9", "SIGUSR1", "hup")] == [
        15, 15, 9, 10, 1]
    with pytest.raises(InvalidArgError):
        opt.parse_signal("SIGNOPE")
    assert opt.parse_env(["A=1", "B", "C=x=y"], {"B": "from-host"}) == {
        "A": "1", "B": "from-host", "C": "x=y"}
    assert opt.parse_network(None) == ("none", ())
    assert opt.parse_network("host") == ("host", ())
    assert opt.parse_network("web,db") == ("bridge", ("web", "db"))
    with pytest.raises(InvalidArgError):
        opt.parse_network("host,web")


def test_times_for_since() -> None:
    assert opt.parse_duration("1h30m10s") == 5410
    assert opt.parse_since("10m", now=1000.0) == 400.0
    assert opt.parse_since("1700000000") == 1700000000.0
    assert opt.parse_since("2023-11-14T22:13:20Z") == 1700000000.0
    with pytest.raises(InvalidArgError):
        opt.parse_since("yesterday")


def test_go_templates_as_podman_users_write_them() -> None:
    doc = {"Name": "web", "State": {"ExitCode": 3, "Running": False},
           "Config": {"Cmd": ["sh", "-c", "x"], "Labels": {"a": "1"}, "Env": None}}
    assert render("{{.Name}} {{.State.ExitCode}} {{.State.Running}}", doc) == "web 3 false"
    assert render("{{json .State}}", doc) == '{"ExitCode":3,"Running":false}'
    assert render('{{index .Config.Labels "a"}} {{len .Config.Cmd}}', doc) == "1 3"
    assert render("{{.Config.Cmd}} {{.Config.Env}} {{.Config.Labels}}", doc) == (
        "[sh -c x] <nil> map[a:1]")
    assert render("{{range .Config.Cmd}}<{{.}}>{{end}}", doc) == "<sh><-c><x>"
    assert render("{{if .State.Running}}up{{else}}down{{end}}", doc) == "down"
    assert render('{{join .Config.Cmd ","}} {{.Name | upper}}', doc) == "sh,-c,x WEB"
    assert render("{{.Name}}\\t{{.State.ExitCode}}", doc) == "web\t3"
    with pytest.raises(InvalidArgError):
        render("{{.Nope}}", doc)
    with pytest.raises(InvalidArgError):
        render("{{if .Name}}x", doc)
    # A user's mistake is a one-line error, not an internal one.
    for bad in ("{{join .Config.Cmd}}", '{{printf "%d" .Name}}',
                "{{range .State.ExitCode}}x{{end}}", '{{"open}}'):
        with pytest.raises(InvalidArgError):
            render(bad, doc)
