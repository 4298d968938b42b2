"""A container or pod that could never start is refused at create: one line, exit 125
from the command line, TypeError or a PypodError from Python, and no record left."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary, run_pypod
from pypod_core.engine.validate import MAX_STOP_TIMEOUT
from pypod_core.errors import InvalidArgError, NoSuchNetworkError
from pypod_core.model import Mount, PortMapping

Pypod = Callable[..., subprocess.CompletedProcess[str]]

#: (create flags, what the one error line must say)
BAD_CREATES = [
    (["-v", "/no/such/dir:/data"], "/no/such/dir: no such file or directory"),
    (["-p", "notanip:8080:80"], "'notanip' is not an IP address"),
    (["--network", "nosuchnet"],
     "unable to find network with name or ID nosuchnet: network not found"),
    (["--network", "../../etc"], "invalid network name '../../etc'"),
    (["--ip", "junk"], "'junk' is not an IP address"),
    (["--ip", "192.0.2.9"], "not in the subnets of network"),
    (["--stop-timeout", "-1"], "invalid stop timeout -1"),
    (["--stop-timeout", str(MAX_STOP_TIMEOUT + 1)], f"must be 0 to {MAX_STOP_TIMEOUT}"),
    (["--stop-timeout", "99999999999999999999"], "invalid stop timeout"),
    (["-w", "relative"], "invalid workdir 'relative'"),
    (["--hostname", "h" * 65], "longer than 64 characters"),
]


@pytest.fixture
def pypod(net_config: str) -> Pypod:
    """``pypod(*args)`` on this test's store, with this test's own default network."""
    need_binary("runc")
    need_binary("conmon")
    return lambda *args: run_pypod("--config", net_config, *args)


def _one_line_error(result: subprocess.CompletedProcess[str], message: str) -> None:
    assert result.returncode == 125, result
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert message in lines[0]


@pytest.mark.parametrize("verb", ["create", "run"])
@pytest.mark.parametrize("flags, message", BAD_CREATES)
def test_bad_create_is_one_line_and_leaves_no_record(pypod: Pypod, rootfs: str, verb: str,
                                                     flags: list[str], message: str) -> None:
    extra = ["-d"] if verb == "run" else []
    _one_line_error(pypod(verb, *extra, *flags, "--rootfs", rootfs, "true"), message)
    listed = pypod("ps", "-a", "-q")
    assert listed.returncode == 0 and listed.stdout == ""


def test_good_values_are_still_taken(pypod: Pypod, rootfs: str, tmp_path: Path) -> None:
    subnet = pypod("network", "ls", "--format", "{{index .Subnets 0}}").stdout.strip()
    address = subnet.rsplit(".", 1)[0] + ".9"  # a /24 of this test's own
    created = pypod("create", "--ip", address, "-v", f"{tmp_path}:/data:ro",
                    "--stop-timeout", str(MAX_STOP_TIMEOUT), "--rootfs", rootfs, "true")
    assert created.returncode == 0, created.stderr
    assert pypod("ps", "-a", "-q").stdout.strip() == created.stdout.strip()[:12]


@pytest.mark.parametrize("args, message", [
    (["stop", "-t", "-1", "x"], "invalid --time -1"),
    (["restart", "-t", str(MAX_STOP_TIMEOUT + 1), "x"], "invalid --time"),
    (["rm", "-f", "-t", "-5", "x"], "invalid --time -5"),
    (["rm", "-t", "5", "x"], "--force option must be specified to use the --time option"),
    (["pod", "stop", "-t", "-1", "x"], "invalid --time -1"),
    (["pod", "rm", "-t", "5", "x"], "--force option must be specified"),
])
def test_bad_timeouts_are_refused_before_any_lookup(pypod: Pypod, args: list[str],
                                                    message: str) -> None:
    _one_line_error(pypod(*args), message)


# -- Python ----------------------------------------------------------------------------


@pytest.fixture
def rt(make_runtime: Callable[..., Any], net_config: str) -> Any:
    need_binary("runc")
    need_binary("conmon")
    return make_runtime(config_path=net_config)


#: (create_container's arguments after rootfs, the exception, what its message says)
BAD_CALLS: list[tuple[tuple[Any, ...], dict[str, Any], type[Exception], str]] = [
    (("echo hi",), {}, TypeError, "command: expected a list of strings, not str"),
    ((["echo", 5],), {}, TypeError, "command[1]: expected a string"),
    ((None,), {}, TypeError, "command"),
    ((["true"],), {"name": 7}, TypeError, "name: expected a string"),
    ((["true"],), {"env": {"A": 1}}, TypeError, "env['A']: expected a string"),
    ((["true"],), {"env": "A=1"}, TypeError, "env: expected a dict"),
    ((["true"],), {"labels": ["a"]}, TypeError, "labels: expected a dict"),
    ((["true"],), {"stop_timeout": "10"}, TypeError, "stop_timeout: expected an integer"),
    ((["true"],), {"stop_timeout": True}, TypeError, "stop_timeout: expected an integer"),
    ((["true"],), {"read_only": "yes"}, TypeError, "read_only: expected a boolean"),
    ((["true"],), {"mounts": [("/tmp", "/x")]}, TypeError,
     "mounts[0]: expected a string, a Mount, a NamedVolume or an ImageVolume"),
    ((["true"],), {"mounts": [Mount(5, "/x")]}, TypeError,  # type: ignore[arg-type]
     "mounts[0].source: expected a string"),
    ((["true"],), {"port_mappings": [8080]}, TypeError, "expected PortMapping"),
    ((["true"],), {"networks": "pypod"}, TypeError, "networks: expected a list"),
    ((["true"],), {"bogus": 1}, TypeError, "unknown field 'bogus'"),
    ((["true"],), {"id": "0" * 64}, TypeError, "id is set by the runtime"),
    ((["true"],), {"workdir": "a\0b"}, InvalidArgError, "NUL byte"),
    ((["true"],), {"stop_timeout": -1}, InvalidArgError, "invalid stop timeout -1"),
    ((["true"],), {"stop_signal": 99}, InvalidArgError, "valid signals are 1 through 64"),
    ((["true"],), {"mounts": [Mount("/no/such", "/x")]}, InvalidArgError,
     "no such file or directory"),
    ((["true"],), {"network_mode": "bogus"}, InvalidArgError, "invalid network mode"),
    ((["true"],), {"network_mode": "none", "networks": ("pypod",)}, InvalidArgError,
     "need network mode bridge"),
    ((["true"],), {"network_mode": "bridge", "networks": ("nosuch",)}, NoSuchNetworkError,
     "unable to find network with name or ID nosuch: network not found"),
    ((["true"],), {"network_mode": "bridge", "static_ip": "192.0.2.1"}, InvalidArgError,
     "not in the subnets"),
    ((["true"],), {"network_mode": "bridge", "port_mappings": (PortMapping(0, 80),)},
     InvalidArgError, "ports are 1-65535"),
    ((["true"],), {"env": {"A=B": "c"}}, InvalidArgError, "invalid environment variable"),
]


@pytest.mark.parametrize("args, kwargs, error, message", BAD_CALLS)
def test_bad_create_container_raises_at_the_call(rt: Any, rootfs: str, args: tuple[Any, ...],
                                                 kwargs: dict[str, Any], error: type[Exception],
                                                 message: str) -> None:
    with pytest.raises(error) as raised:
        rt.create_container(rootfs, *args, **kwargs)
    assert message in str(raised.value) and "\n" not in str(raised.value)
    assert rt.containers() == []


def test_a_pod_given_as_an_object_and_tuples_given_as_lists_are_taken(rt: Any,
                                                                      rootfs: str) -> None:
    pod = rt.create_pod(name="p", network_mode="none")
    ctr = rt.create_container(rootfs, ["true"], pod=pod, env={"A": "1"},
                              mounts=[Mount(rootfs, "/x", True)])
    assert ctr.config.pod == pod.id and ctr.config.mounts == (Mount(rootfs, "/x", True),)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"name": 5}, TypeError, "name: expected a string"),
    ({"labels": {"a": 1}}, TypeError, "labels['a']: expected a string"),
    ({"networks": "pypod"}, TypeError, "networks: expected a list"),
    ({"share": "net"}, TypeError, "share: expected a list"),
    ({"ports": [("1", "2")]}, TypeError, "ports[0]: expected PortMapping"),
    ({"infra": "no"}, TypeError, "infra: expected a boolean"),
    ({"hostname": "h" * 65}, InvalidArgError, "longer than 64"),
    ({"ports": [PortMapping(8080, 80, "icmp")]}, InvalidArgError, "protocol must be"),
    ({"networks": ("nosuch",)}, NoSuchNetworkError,
     "unable to find network with name or ID nosuch: network not found"),
])
def test_bad_create_pod_raises_at_the_call(rt: Any, kwargs: dict[str, Any],
                                           error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=None) as raised:
        rt.create_pod(**kwargs)
    assert message in str(raised.value)
    assert rt.pods() == [] and rt.containers() == []
