"""Configuration without a file and with the command line's string options skips cattrs:
the result is the one cattrs gives, every other option still takes cattrs and its errors,
and such a process imports neither cattrs nor tomllib."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import REPO
from pypod_core import config as config_mod
from pypod_core.config import load_config
from pypod_core.errors import ConfigError


@pytest.fixture
def no_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No file on any default path, whatever this host has under /etc and /usr."""
    monkeypatch.setattr(config_mod, "OVERRIDE_CONFIG", str(tmp_path / "override.conf"))
    monkeypatch.setattr(config_mod, "VENDOR_CONFIG", str(tmp_path / "vendor.conf"))
    monkeypatch.delenv("PYPOD_CONF", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "xdg"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    return tmp_path / "home" / config_mod.USER_CONFIG


def _no_converter() -> Any:
    raise AssertionError("the plain-string path must not build the cattrs converter")


CLI_OPTIONS = [
    {},
    {"graph_root": "/srv/g"},
    {"graph_root": "/srv/g", "run_root": "/srv/r", "state_type": "sqlite", "runtime": "crun"},
    {"run_root": "/srv/r", "tmp_dir": "/srv/t", "namespace": ""},
]


@pytest.mark.parametrize("rootless", [False, True])
@pytest.mark.parametrize("options", CLI_OPTIONS)
def test_plain_string_options_give_what_cattrs_gives(
        no_config_file: Path, monkeypatch: pytest.MonkeyPatch, options, rootless):
    # Rootless, the first load writes the user's file; remove it so both loads see none.
    no_config_file.unlink(missing_ok=True)
    with monkeypatch.context() as m:
        m.setattr(config_mod, "_plain_string_options", lambda _options: False)
        through_cattrs = load_config(None, dict(options), rootless=rootless)
    no_config_file.unlink(missing_ok=True)
    with monkeypatch.context() as m:
        m.setattr(config_mod, "_strict_converter", _no_converter)
        plain = load_config(None, dict(options), rootless=rootless)
    assert plain == through_cattrs
    assert plain.explicit == frozenset(options) and plain.source == ""
    if "graph_root" in options:
        assert plain.static_dir == "/srv/g/static"


def test_options_are_copied_not_shared(no_config_file: Path):
    first = load_config(None, {"graph_root": "/srv/g"}, rootless=False)
    first.conmon_path.append("/mine")
    assert "/mine" not in load_config(None, {"graph_root": "/srv/g"}, rootless=False).conmon_path


class _Str(str):
    """A str subclass: cattrs' strict hook refuses it, so must the plain path."""


#: (options, the one-line error): each must take the cattrs path as before.
BAD_OPTIONS = [
    ({"max_log_size": "5"}, "options: key 'max_log_size': expected an integer"),
    ({"graph_root": 5}, "options: key 'graph_root': expected a string"),
    ({"graph_root": "/x", "label": "yes"}, "options: key 'label': expected a boolean"),
    ({"runtime_path": "/usr/bin/runc"}, "options: key 'runtime_path': expected an array"),
    ({"runtime": _Str("crun")}, "options: key 'runtime': expected a string"),
    ({"bogus": "x"}, "options: unknown key 'bogus'"),
    ({"graph_root": "/x", "source": "/f"}, "options: unknown key 'source'"),
    ({"explicit": "graph_root"}, "options: unknown key 'explicit'"),
]


@pytest.mark.parametrize("options, message", BAD_OPTIONS)
def test_wrong_options_without_a_file_are_the_same_one_line_errors(
        no_config_file: Path, options, message):
    with pytest.raises(ConfigError) as err:
        load_config(None, options, rootless=False)
    assert str(err.value).startswith(message), str(err.value)
    assert "\n" not in str(err.value)


def test_well_typed_non_string_options_still_apply(no_config_file: Path):
    config = load_config(None, {"graph_root": "/x", "max_log_size": 8192, "label": False},
                         rootless=False)
    assert (config.graph_root, config.max_log_size, config.label) == ("/x", 8192, False)


_SCRIPT = """
import sys
import pypod_core.config as c
c.OVERRIDE_CONFIG = c.VENDOR_CONFIG = sys.argv[1]
config = c.load_config(None, {"graph_root": "/x"}, rootless=False)
print(config.static_dir, "cattrs" in sys.modules, "tomllib" in sys.modules)
c.load_config(None, {"max_log_size": 8192}, rootless=False)
print("cattrs" in sys.modules)
"""


def test_no_file_and_cli_options_import_neither_cattrs_nor_tomllib(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "PYPOD_CONF"}
    out = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "none.conf")],
                         capture_output=True, text=True, env=env, cwd=REPO, check=True)
    # The last line shows the check can fail: a non-string option does import cattrs.
    assert out.stdout.split() == ["/x/static", "False", "False", "True"]


@pytest.mark.parametrize("text, parsed, structured", [
    ("", False, False),                                 # `--config /dev/null`
    ('graph_root = "/g"\nruntime = "crun"\n', True, False),
    ("max_log_size = 8192\n", True, True),              # not a string: cattrs checks it
])
def test_a_file_of_string_keys_skips_cattrs(tmp_path: Path, text, parsed, structured):
    conf = tmp_path / "pypod.conf"
    conf.write_text(text)
    code = ("import sys; import pypod_core.config as c; cfg = c.load_config(sys.argv[1], "
            "{'run_root': '/r'}, rootless=False); print(cfg.run_root, cfg.source == "
            "sys.argv[1], 'tomllib' in sys.modules, 'cattrs' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(conf)], capture_output=True,
                         text=True, cwd=REPO, check=True)
    assert out.stdout.split() == ["/r", "True", str(parsed), str(structured)]


def test_a_wrong_string_key_in_a_file_is_still_refused(tmp_path: Path):
    conf = tmp_path / "pypod.conf"
    conf.write_text('bogus = "x"\n')
    with pytest.raises(ConfigError, match="unknown key 'bogus'"):
        load_config(str(conf), rootless=False)
