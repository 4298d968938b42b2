"""Shared fixtures: an isolated runtime per test, a busybox rootfs, the CI rule on skips.

Every runtime a test builds keeps its files under the test's own tmp_path: pypod's real
directories (/var/lib/pypod, /run/pypod) are never touched by the suite.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pypod_core.host.rootfs import make_busybox_rootfs
from pypod_core.testing.host import need_binary

__all__ = ["need_binary"]  # test modules import it from here

REPO = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A busybox root filesystem directory (from Debian's busybox-static)."""
    need_binary("busybox")
    return make_busybox_rootfs(str(tmp_path_factory.mktemp("rootfs")))


@pytest.fixture
def runtime_options(tmp_path: Path) -> dict[str, Any]:
    """Config options that keep every file of a runtime under this test's tmp_path."""
    return {
        "graph_root": str(tmp_path / "root"),
        "run_root": str(tmp_path / "run"),
        "cni_config_dir": str(tmp_path / "cni"),
        # pypod's default (podman's) puts containers on the default bridge network; the
        # suite runs them with loopback only unless a test asks for a network of its own
        # (net_config), so that tests never share a bridge.
        "netns": "none",
    }


@pytest.fixture
def make_runtime(runtime_options: dict[str, Any]) -> Iterator[Callable[..., Any]]:
    """Build runtimes on the test's isolated directories; shut them down afterwards.

    ``make_runtime(state_type="memory", ...)`` takes config keys and new_runtime's
    keyword arguments; no config file of the host is read.
    """
    from pypod_core.engine.runtime import new_runtime

    built: list[Any] = []

    def build(**kwargs: Any) -> Any:
        options = {**runtime_options, **kwargs}
        options.setdefault("config_path", os.devnull)
        runtime = new_runtime(**options)
        built.append(runtime)
        return runtime

    yield build
    for runtime in built:
        if runtime.valid:
            runtime.shutdown(force=True)
collect_ignore = ["tests/fixture_plugins"]

PYPOD = str(REPO / ".venv" / "bin" / "pypod")
FIXTURE_PLUGINS = REPO / "tests" / "fixture_plugins"


def run_pypod(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
              input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real ``pypod`` command; ``env`` adds to (not replaces) the environment."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([PYPOD, *args], capture_output=True, text=True, env=full_env,
                          timeout=timeout, input=input)


def pypod_ok(cli_flags: list[str], *args: str, input: str | None = None) -> str:
    """``pypod`` with ``cli_flags`` then ``args``, which must succeed: its stdout."""
    result = run_pypod(*cli_flags, *args, input=input)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def cli_config(tmp_path: Path, runtime_options: dict[str, Any]) -> str:
    """A config file holding this test's isolated directories (``runtime_options``)."""
    import tomli_w

    path = tmp_path / "pypod.conf"
    path.write_text(tomli_w.dumps(runtime_options))
    return str(path)


@pytest.fixture
def cli_flags(cli_config: str) -> list[str]:
    """Global flags that point ``pypod`` at this test's isolated directories."""
    return ["--config", cli_config]


@pytest.fixture
def net_settings(tmp_path: Path) -> Iterator[dict[str, str]]:
    """``[plugins.net_cni]`` settings giving this test's default network a bridge and
    subnets of its own (a random /22 of 10.200.0.0/13), so that tests never share
    addresses, and its lease tables (``ipam_dir``) and dnsmasq files (``dns_dir``) under
    tmp_path; the test's bridges, the dnsmasq left running and their INPUT rules go
    afterwards."""
    import secrets

    block = secrets.randbelow(2048)
    prefix = f"pt{secrets.token_hex(3)}n"  # ends in a letter: bridges are <prefix><N>
    base = f"10.{200 + block // 64}.{(block % 64) * 4}"
    dns_dir = str(tmp_path / "dns")
    yield {"default_bridge": f"{prefix}0", "default_subnet": f"{base}.0/24",
           "subnet_pool": f"{base}.0/22", "ipam_dir": str(tmp_path / "ipam"),
           "dns_dir": dns_dir}
    from pypod_net_cni import dnsmasq

    for network in dnsmasq.networks(dns_dir):
        dnsmasq.stop_server(dns_dir, network)
    for name in os.listdir("/sys/class/net"):
        if name.startswith(prefix):
            subprocess.run(["ip", "link", "del", name], capture_output=True)
            dnsmasq.drop_input_rule(name)
    if shutil.which("iptables") or os.path.exists("/usr/sbin/iptables"):
        import ipaddress

        from pypod_firewall_iptables.iptables import IptablesFirewall

        block = ipaddress.ip_network(f"{base}.0/22")
        firewall = IptablesFirewall()
        ours = [s for s in firewall.masqueraded() if (net := ipaddress.ip_network(s)).version
                == 4 and net.subnet_of(block)]  # type: ignore[arg-type]
        firewall.unmasquerade(ours)


@pytest.fixture
def net_config(tmp_path: Path, runtime_options: dict[str, Any],
               net_settings: dict[str, str]) -> str:
    """A config file: this test's isolated directories plus its own default network
    (``net_settings``); for ``make_runtime(config_path=...)`` and ``pypod --config``."""
    import tomli_w

    path = tmp_path / "pypod-net.conf"
    path.write_text(tomli_w.dumps({**runtime_options, "plugins": {"net_cni": net_settings}}))
    return str(path)


@pytest.fixture
def net_runtime(make_runtime: Callable[..., Any], net_config: str) -> Any:
    """A runtime whose default network is this test's own (``net_config``)."""
    need_binary("iptables")
    need_binary("runc")
    need_binary("conmon")
    return make_runtime(config_path=net_config)


@pytest.fixture
def www(tmp_path: Path) -> Path:
    """A directory for busybox httpd to serve: index.html says "hello"."""
    path = tmp_path / "www"
    path.mkdir()
    (path / "index.html").write_text("hello\n")
    return path


def fetch(url: str, timeout: float = 10) -> str:
    """GET ``url``, retrying while the server is still starting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


# -- registries (plugins/image_registry/tests): real docker-registry processes on loopback


def _registry_helpers() -> Any:
    """The image registry plugin's test helpers (its tests directory is not a package)."""
    import importlib
    import sys

    path = str(REPO / "plugins" / "image_registry" / "tests")
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module("registry_helpers")


#: The basic-auth registry's account.
REGISTRY_USER, REGISTRY_PASSWORD = "pypod", "s3cret"


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """An anonymous registry (Debian's docker-registry); ``registry.host`` is
    ``127.0.0.1:PORT``."""
    with _registry_helpers().run_registry(str(tmp_path_factory.mktemp("registry"))) as reg:
        yield reg


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A registry with basic auth (htpasswd, bcrypt) for REGISTRY_USER:REGISTRY_PASSWORD."""
    helpers = _registry_helpers()
    directory = tmp_path_factory.mktemp("auth-registry")
    htpasswd = directory / "htpasswd"
    htpasswd.write_text(helpers.htpasswd_line(REGISTRY_USER, REGISTRY_PASSWORD))
    with helpers.run_registry(str(directory), str(htpasswd)) as reg:
        reg.user, reg.password = REGISTRY_USER, REGISTRY_PASSWORD
        yield reg


@pytest.fixture
def registries_conf(tmp_path: Path, registry: Any, auth_registry: Any) -> str:
    """A registries.conf marking both registries insecure (they speak plain http)."""
    path = tmp_path / "registries.conf"
    path.write_text(
        f'unqualified-search-registries = ["{registry.host}"]\n'
        f'[[registry]]\nlocation = "{registry.host}"\ninsecure = true\n'
        f'[[registry]]\nlocation = "{auth_registry.host}"\ninsecure = true\n')
    return str(path)


# -- images: layers built offline from files, and the busybox rootfs as one layer


def make_layer(path: Path | str, files: dict[str, bytes | None]) -> str:
    """Write an uncompressed layer tar at ``path``: each name a regular file with its
    bytes (directories made on the way), or None for an OCI whiteout of that name."""
    import io
    import tarfile

    with tarfile.open(str(path), "w", format=tarfile.PAX_FORMAT) as tar:
        made: set[str] = set()
        for name, data in files.items():
            parts = name.strip("/").split("/")
            for i in range(1, len(parts)):
                directory = "/".join(parts[:i])
                if directory not in made:
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                    made.add(directory)
            if data is None:
                parts[-1] = ".wh." + parts[-1]
                data = b""
            info = tarfile.TarInfo("/".join(parts))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return str(path)


@pytest.fixture(scope="session")
def busybox_tar(rootfs: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The busybox rootfs as one uncompressed layer tar (numeric owners, as images)."""
    import tarfile

    path = tmp_path_factory.mktemp("layers") / "busybox.tar"
    with tarfile.open(str(path), "w", format=tarfile.PAX_FORMAT) as tar:
        for entry in sorted(os.listdir(rootfs)):
            tar.add(os.path.join(rootfs, entry), arcname=entry)
    return str(path)
