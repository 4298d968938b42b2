"""Configuration: precedence, what was set explicitly, and one-line errors for bad files."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO, run_pypod
from pypod_core import config as config_mod
from pypod_core.config import RuntimeConfig, load_config
from pypod_core.errors import ConfigError

#: (file content, what the one-line error must mention besides the file's path)
BROKEN_FILES = [
    ("runtime = ", "invalid TOML"),
    ("runtime = 'runc'\nruntime = 'crun'\n", "invalid TOML"),
    ("[plugins\n", "invalid TOML"),
    ("runtime = \"unterminated\n", "invalid TOML"),
    ("this is not toml", "invalid TOML"),
    ("runtimee = 'runc'\n", "unknown key 'runtimee'"),
    ("explicit = ['runtime']\n", "unknown key 'explicit'"),
    ("[storage]\ngraph_root = '/x'\n", "unknown key 'storage'"),
    ("runtime = 5\n", "key 'runtime': expected a string"),
    ("state_type = true\n", "key 'state_type': expected a string"),
    ("runtime_path = '/usr/bin/runc'\n", "key 'runtime_path': expected an array"),
    ("runtime_path = [1, 2]\n", "key 'runtime_path': expected a string"),
    ("conmon_path = {a = 1}\n", "key 'conmon_path': expected an array"),
    ("conmon_env_vars = 'PATH=/bin'\n", "key 'conmon_env_vars': expected an array"),
    ("max_log_size = '1m'\n", "key 'max_log_size': expected an integer"),
    ("max_log_size = 1.5\n", "key 'max_log_size': expected an integer"),
    ("max_log_size = true\n", "key 'max_log_size': expected an integer"),
    ("no_pivot_root = 'yes'\n", "key 'no_pivot_root': expected a boolean"),
    ("enable_port_reservation = 1\n", "key 'enable_port_reservation': expected a boolean"),
    ("label = 0\n", "key 'label': expected a boolean"),
    ("cni_plugin_dir = '/usr/lib/cni'\n", "key 'cni_plugin_dir': expected an array"),
    ("disabled_plugins = 'state_sqlite'\n", "key 'disabled_plugins': expected an array"),
    ("plugins = 3\n", "key 'plugins': expected a table"),
    ("plugins = {state_sqlite = 3}\n", "key 'plugins': expected a table"),
    ("static_dir = ['/a']\n", "key 'static_dir': expected a string"),
    ("infra_command = '/pause'\n", "key 'infra_command': expected an array"),
    ("namespace = 1979-05-27\n", "key 'namespace': expected a string"),
]


@pytest.mark.parametrize("content, message", BROKEN_FILES)
def test_every_broken_config_file_is_a_one_line_error(tmp_path: Path, content, message):
    path = tmp_path / "pypod.conf"
    path.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    text = str(err.value)
    assert text.startswith(f"{path}: "), text
    assert message in text
    assert "\n" not in text


@pytest.mark.parametrize("content, message", BROKEN_FILES[::4])
def test_broken_config_from_the_command_line_exits_125_without_traceback(
        tmp_path: Path, content, message):
    path = tmp_path / "pypod.conf"
    path.write_text(content)
    result = run_pypod("--config", str(path), "config", "show")
    assert result.returncode == 125
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: ") and message in lines[0]


def test_not_utf8_and_missing_files_are_one_line_errors(tmp_path: Path):
    binary = tmp_path / "binary.conf"
    binary.write_bytes(b"runtime = '\xff\xfe'\n")
    with pytest.raises(ConfigError, match=f"^{binary}: invalid TOML"):
        load_config(str(binary))
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(str(tmp_path / "missing.conf"))


def test_bad_caller_option_names_the_key():
    with pytest.raises(ConfigError, match="^options: key 'max_log_size': expected an int"):
        load_config(os.devnull, {"max_log_size": "many"})
    with pytest.raises(ConfigError, match="^options: unknown key 'bogus'"):
        load_config(os.devnull, {"bogus": 1})


def test_precedence_defaults_then_file_then_options(tmp_path: Path):
    path = tmp_path / "pypod.conf"
    path.write_text("runtime = 'crun'\nmax_log_size = 65536\nstatic_dir = '/srv/static'\n")
    config = load_config(str(path), {"max_log_size": 131072})
    assert config.runtime == "crun"  # file over default
    assert config.max_log_size == 131072  # option over file
    assert config.cni_default_network == RuntimeConfig().cni_default_network  # default
    assert config.explicit == frozenset({"runtime", "max_log_size", "static_dir"})
    assert config.source == str(path)


def test_override_file_wins_over_vendor_file(tmp_path: Path, monkeypatch):
    vendor, override = tmp_path / "vendor.conf", tmp_path / "override.conf"
    vendor.write_text("runtime = 'crun'\nmax_log_size = 10000\n")
    monkeypatch.setattr(config_mod, "VENDOR_CONFIG", str(vendor))
    monkeypatch.setattr(config_mod, "OVERRIDE_CONFIG", str(override))
    monkeypatch.delenv("PYPOD_CONF", raising=False)
    config = load_config(rootless=False)
    assert (config.runtime, config.max_log_size, config.source) == ("crun", 10000, str(vendor))
    override.write_text("max_log_size = 9000\n")
    config = load_config(rootless=False)
    # The override replaces the vendor file whole, as libpod's did: runtime is default.
    assert (config.runtime, config.max_log_size, config.source) == ("runc", 9000, str(override))


def test_graph_and_run_roots_carry_unset_directories_along():
    config = load_config(os.devnull, {"graph_root": "/srv/g", "run_root": "/srv/r"})
    assert config.static_dir == "/srv/g/static"
    assert config.volume_path == "/srv/g/volumes"
    assert config.tmp_dir == "/srv/r/tmp"
    config = load_config(os.devnull, {"graph_root": "/srv/g", "static_dir": "/srv/s"})
    assert config.static_dir == "/srv/s"
    assert "volume_path" not in config.explicit


def test_config_show_round_trips_through_load(tmp_path: Path):
    result = run_pypod("--config", os.devnull, "--runtime", "crun", "config", "show")
    assert result.returncode == 0, result.stderr
    path = tmp_path / "shown.conf"
    path.write_text(result.stdout)
    again = load_config(str(path))
    assert again.runtime == "crun"
    assert tomllib.loads(result.stdout)["graph_root"] == "/var/lib/pypod"


def test_pypod_paths_are_its_own():
    config = RuntimeConfig()
    for value in (config.graph_root, config.run_root, config.static_dir, config.tmp_dir,
                  config.cni_config_dir, config.volume_path):
        assert "pypod" in value and "libpod" not in value and "/containers/storage" not in value


def test_rootless_defaults_and_first_use_writes_the_user_file(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("PYPOD_CONF", raising=False)
    config = load_config(rootless=True, options={"max_log_size": 10000})
    assert config.max_log_size == 10000
    assert config.graph_root == str(tmp_path / ".local/share/pypod")
    assert config.tmp_dir == str(tmp_path / "xdg/pypod/tmp")
    assert config.firewall_backend == "none"
    user_file = tmp_path / ".config/containers/pypod.conf"
    written = tomllib.loads(user_file.read_text())
    assert written["graph_root"] == config.graph_root
    assert written["max_log_size"] == RuntimeConfig().max_log_size  # the option is not kept
    assert not [p for p in user_file.parent.iterdir() if p.name.startswith(".pypod.conf.")]
    # The user's file is now what a rootless load reads, and is not rewritten.
    user_file.write_text("runtime = 'crun'\n")
    again = load_config(rootless=True)
    assert again.runtime == "crun" and again.source == str(user_file)
    assert user_file.read_text() == "runtime = 'crun'\n"


@pytest.fixture
def nobody_home():
    """A home directory uid 65534 can reach (pytest's tmp_path is under a 0700 dir)."""
    home = Path(tempfile.mkdtemp(prefix="pypod-nobody-"))
    os.chmod(home, 0o755)
    os.chown(home, 65534, 65534)
    yield home
    shutil.rmtree(home)


def test_rootless_is_decided_by_the_effective_uid(nobody_home: Path):
    """A real unprivileged process (uid 65534) gets the rootless paths and user file."""
    home = nobody_home
    # Import first: the interpreter's own files may not be readable by uid 65534.
    script = ("import os, tempfile, tomli_w;"
              "from pypod_core.config import load_config, is_rootless;"
              "os.setgid(65534); os.setuid(65534);"
              "c = load_config(); print(is_rootless(), c.graph_root, c.firewall_backend)")
    env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home / "run"),
           "PYTHONPATH": str(REPO)}
    env.pop("PYPOD_CONF", None)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, check=True).stdout.split()
    assert out == ["True", f"{home}/.local/share/pypod", "none"]
    assert (home / ".config/containers/pypod.conf").exists()


def test_plugin_table_reaches_the_plugin(tmp_path: Path):
    path = tmp_path / "pypod.conf"
    path.write_text("[plugins.state_sqlite]\nbusy_timeout_ms = 5000\n")
    config = load_config(str(path))
    assert config.plugin_config("state_sqlite") == {"busy_timeout_ms": 5000}
    assert config.plugin_config("other") == {}


#: (file content, the key and what the one-line error says of its value)
BAD_VALUES = [
    ("cgroup_manager = 'bogus'\n", "key 'cgroup_manager': 'bogus' is not one of cgroupfs"),
    ("max_log_size = 100\n", "key 'max_log_size': 100 is neither negative"),
    ("max_log_size = 0\n", "key 'max_log_size'"),
    ("netns = 'private'\n", "key 'netns': 'private' is not one of bridge, none, host"),
    ("state_type = ''\n", "key 'state_type': '' is not a name"),
    ("runtime = '../runc'\n", "key 'runtime': '../runc' is not an absolute path"),
    ("runtime = 'run c'\n", "key 'runtime': 'run c' is not a name"),
    ("network_backend = 'a b'\n", "key 'network_backend'"),
    ("firewall_backend = ''\n", "key 'firewall_backend'"),
    ("disabled_plugins = ['']\n", "key 'disabled_plugins'"),
    ("graph_driver = ''\n", "key 'graph_driver'"),
    ("namespace = '../x'\n", "key 'namespace'"),
    ("cni_default_network = '../../etc'\n", "key 'cni_default_network'"),
    ("infra_image = '../x'\n", "key 'infra_image': '../x' is neither an absolute path"),
    ("infra_command = []\n", "key 'infra_command': the infra command is empty"),
    ("conmon_env_vars = ['PATH']\n", "key 'conmon_env_vars': 'PATH' is not NAME=VALUE"),
    ("runtime_path = ['runc']\n", "key 'runtime_path': 'runc' is not an absolute path"),
    ("conmon_path = ['bin/conmon']\n", "key 'conmon_path'"),
    ("hooks_dir = ['hooks']\n", "key 'hooks_dir'"),
    ("cni_plugin_dir = ['cni']\n", "key 'cni_plugin_dir'"),
    ("init_path = 'catatonit'\n", "key 'init_path'"),
    ("graph_root = 'var/lib'\n", "key 'graph_root': 'var/lib' is not an absolute path"),
    ("run_root = ''\n", "key 'run_root'"),
    ("static_dir = 'static'\n", "key 'static_dir'"),
    ("tmp_dir = 'tmp'\n", "key 'tmp_dir'"),
    ("volume_path = 'v'\n", "key 'volume_path'"),
    ("cni_config_dir = 'net.d'\n", "key 'cni_config_dir'"),
    ("registries_conf = 'r.conf'\n", "key 'registries_conf'"),
    ("[plugins.'a b']\nx = 1\n", "key 'plugins': 'a b' is not a name"),
    ("disabled_plugins = " + "[" * 2000 + "]" * 2000 + "\n", "invalid TOML: arrays or tables"),
    ("[plugins.x]\na = " + "[" * 100 + "]" * 100 + "\n", "key 'plugins': nested more than"),
]


@pytest.mark.parametrize("content, message", BAD_VALUES)
def test_every_bad_value_is_a_one_line_error_naming_file_and_key(tmp_path: Path, content,
                                                                 message):
    path = tmp_path / "pypod.conf"
    path.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_bad_values_from_the_command_line_exit_125_without_traceback(tmp_path: Path):
    for content, message in BAD_VALUES[::5] + BAD_VALUES[-2:]:
        path = tmp_path / "pypod.conf"
        path.write_text(content)
        result = run_pypod("--config", str(path), "ps")
        assert result.returncode == 125 and result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"Error: {path}: ") and message in lines[0]


def test_bad_option_values_name_options_on_both_load_paths(tmp_path: Path):
    # Strings to string keys without a file take the fast path (no cattrs): checked too.
    with pytest.raises(ConfigError, match="^options: key 'graph_root': 'rel' is not an abs"):
        load_config(None, {"graph_root": "rel"}, rootless=False)
    with pytest.raises(ConfigError, match="^options: key 'cgroup_manager': 'bogus'"):
        load_config(None, {"cgroup_manager": "bogus"}, rootless=False)
    with pytest.raises(ConfigError, match="^options: key 'max_log_size': 100"):
        load_config(os.devnull, {"max_log_size": 100})
    path = tmp_path / "pypod.conf"
    path.write_text("max_log_size = 100\n")
    # The option's good value wins over the file's bad one; a bad file value is named.
    assert load_config(str(path), {"max_log_size": 8192}).max_log_size == 8192
    with pytest.raises(ConfigError, match=f"^{path}: key 'max_log_size'"):
        load_config(str(path), {"runtime": "crun"})


def test_relative_roots_on_the_command_line_are_made_absolute(tmp_path: Path):
    result = subprocess.run([str(REPO / ".venv/bin/pypod"), "--config", os.devnull,
                             "--root", "g", "--runroot", "r", "config", "show"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    shown = tomllib.loads(result.stdout)
    assert (shown["graph_root"], shown["run_root"]) == (f"{tmp_path}/g", f"{tmp_path}/r")


def test_num_locks_is_ignored_with_a_warning_in_a_file_and_as_an_option(tmp_path: Path,
                                                                         capsys: Any):
    # libpod's num_locks sizes a pool of shared-memory locks; pypod's locks are files,
    # so the key does nothing.  It is not an error: older pypods wrote it into the
    # effective config a running container's exit command reads.
    path = tmp_path / "pypod.conf"
    path.write_text(f'num_locks = 2048\nmax_log_size = 9000\ngraph_root = "{tmp_path}/g"\n'
                    f'run_root = "{tmp_path}/r"\n')
    assert load_config(str(path)).max_log_size == 9000
    assert load_config(os.devnull, {"num_locks": 64}).max_log_size == -1
    err = capsys.readouterr().err.splitlines()
    assert err == [f"WARN: {where}: key 'num_locks' has no effect and is ignored: pypod's "
                   "locks are lock files, one per container and pod, so there is no pool "
                   "of locks to size" for where in (str(path), "options")]
    result = run_pypod("--config", str(path), "ps")
    assert result.returncode == 0 and "key 'num_locks' has no effect" in result.stderr
    assert "num_locks" not in RuntimeConfig().to_toml()
