"""podman's containers.conf, as pypod honours it: ``$CONTAINERS_CONF`` (else
/etc/containers/containers.conf) sets the DNS and /etc/hosts defaults of every container
beneath pypod's own config; keys pypod does not support are named in one warning line,
never an error.  The end-to-end tests run real containers (runc under conmon) on the
host's network, so that no network of the host is touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import need_binary, run_pypod
from pypod_core import containers_conf
from pypod_core.config import load_config
from pypod_core.errors import ConfigError

CONF = """
[containers]
dns_servers = ["1.1.1.1", "100.100.100.100"]
dns_searches = ["example.com"]
dns_options = ["ndots:3"]
base_hosts_file = "{base}"
host_containers_internal_ip = "172.20.0.9"
default_ulimits = ["nofile=1024:1024"]

[engine]
runtime = "crun"
"""


@pytest.fixture
def podman_conf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A containers.conf named by $CONTAINERS_CONF, with a base hosts file of its own."""
    base = tmp_path / "hosts"
    base.write_text("172.20.1.1 alpha\n172.20.1.2 beta # a comment\n")
    path = tmp_path / "containers.conf"
    path.write_text(CONF.format(base=base))
    monkeypatch.setenv("CONTAINERS_CONF", str(path))
    return path


def test_supported_keys_land_beneath_pypods_own_config(podman_conf: Path, tmp_path: Path,
                                                      capsys: Any) -> None:
    own = tmp_path / "pypod.conf"
    own.write_text('dns_options = ["edns0"]\n')
    config = load_config(str(own))
    assert config.dns_servers == ["1.1.1.1", "100.100.100.100"]
    assert config.dns_searches == ["example.com"]
    assert config.dns_options == ["edns0"]  # pypod.conf wins over containers.conf
    assert config.base_hosts_file == str(tmp_path / "hosts")
    assert config.host_containers_internal_ip == "172.20.0.9"
    assert config.runtime == "runc"  # [engine] runtime is not one pypod takes
    # One line names every key pypod leaves alone; nothing fails.
    assert capsys.readouterr().err == (
        f"WARN: {podman_conf}: containers.conf keys pypod does not support, ignored: "
        "[containers] default_ulimits, [engine] runtime\n")


def test_without_the_variable_the_system_file_is_read(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONTAINERS_CONF", raising=False)
    system = tmp_path / "containers.conf"
    system.write_text('[network]\ndefault_network = "web"\n')
    monkeypatch.setattr(containers_conf, "SYSTEM_FILE", str(system))
    own = tmp_path / "pypod.conf"
    own.write_text("")
    assert load_config(str(own)).cni_default_network == "web"
    system.unlink()
    assert load_config(str(own)).cni_default_network == "podman"


@pytest.mark.parametrize("body, message", [
    ('[containers]\ndns_servers = "1.1.1.1"\n',
     "[containers] dns_servers: expected an array of strings, got '1.1.1.1'"),
    ('[containers]\nbase_hosts_file = 5\n', "[containers] base_hosts_file: expected a string"),
    ('[containers]\ndns_servers = ["1.1.1.x"]\n',
     "key 'dns_servers': '1.1.1.x' is not an IP address"),
    ('[containers]\nhost_containers_internal_ip = "nowhere"\n',
     "key 'host_containers_internal_ip': 'nowhere' is not an IP address"),
    ('[containers]\nbase_hosts_file = "relative/hosts"\n',
     "key 'base_hosts_file': 'relative/hosts' is not an absolute path"),
])
def test_a_bad_value_of_a_supported_key_names_the_file(tmp_path: Path, body: str,
                                                       message: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "containers.conf"
    path.write_text(body)
    monkeypatch.setenv("CONTAINERS_CONF", str(path))
    own = tmp_path / "pypod.conf"
    own.write_text("")
    with pytest.raises(ConfigError) as info:
        load_config(str(own))
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)


def test_a_missing_containers_conf_is_one_line(cli_flags: list[str], tmp_path: Path) -> None:
    result = run_pypod(*cli_flags, "ps", env={"CONTAINERS_CONF": str(tmp_path / "nope")})
    assert result.returncode == 125
    assert result.stderr == f"Error: {tmp_path / 'nope'}: cannot read: No such file or directory\n"


def test_engine_infra_image_is_the_pods_infra_image(cli_flags: list[str],
                                                    tmp_path: Path) -> None:
    """podman's [engine] infra_image: a pod's infra image, pulled when the store lacks it
    (here from a closed port on loopback: the pull's own error, as podman's)."""
    conf = tmp_path / "containers.conf"
    conf.write_text('[engine]\ninfra_image = "127.0.0.1:1/no/pause:1"\n')
    result = run_pypod(*cli_flags, "pod", "create", "--network", "none",
                       env={"CONTAINERS_CONF": str(conf)})
    assert result.returncode == 125
    assert "initializing source docker://127.0.0.1:1/no/pause:1" in result.stderr
    assert result.stderr.count("\n") == 1
    assert run_pypod(*cli_flags, "pod", "ps", "-q").stdout == ""  # no pod left behind


def test_containers_get_the_dns_and_hosts_defaults(podman_conf: Path, cli_flags: list[str],
                                                   rootfs: str) -> None:
    need_binary("conmon")
    show = "cat /etc/hosts; echo ==; cat /etc/resolv.conf"
    result = run_pypod(*cli_flags, "run", "--rm", "--network", "host", "--add-host",
                       "gamma:172.20.1.3", "--dns", "9.9.9.9", "--dns-search", "b.example",
                       "--rootfs", rootfs, "sh", "-c", show)
    assert result.returncode == 0, result.stderr
    hosts, resolv = result.stdout.split("==\n")
    # --add-host, the base file instead of the host's /etc/hosts, localhost, and
    # host.containers.internal on the configured address.
    assert hosts == ("172.20.1.3\tgamma\n172.20.1.1\talpha\n172.20.1.2\tbeta\n"
                     "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
                     "172.20.0.9\thost.containers.internal\n")
    # containers.conf's servers, domains and options first, the container's after.
    assert resolv == ("search example.com b.example\nnameserver 1.1.1.1\n"
                      "nameserver 100.100.100.100\nnameserver 9.9.9.9\noptions ndots:3\n")
