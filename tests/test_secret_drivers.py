"""The secret_driver family from a third party's side: the whole driver of
docs/secrets.md passes the kit, and, declared through pypod_secret_drivers, is chosen
per secret with ``driver=`` (the record says which, and later calls go to it)."""

from __future__ import annotations

import os
import re
import types

import pytest

from conftest import REPO
from pypod_core.plugin import SecretDriverBackend, hookimpl
from pypod_core.plugin.manager import PluginManager
from pypod_core.testing import SecretDriverTests


def _example_driver() -> type:
    """The DirDriver class of docs/secrets.md, run as the page shows it."""
    page = (REPO / "docs" / "secrets.md").read_text()
    (code,) = [block for block in re.findall(r"```python\n(.*?)```", page, re.S)
               if "class DirDriver" in block]
    namespace: dict[str, object] = {}
    exec(compile(code, "docs/secrets.md", "exec"), namespace)
    return namespace["DirDriver"]  # type: ignore[return-value]


DirDriver = _example_driver()


class TestDocumentedDirDriver(SecretDriverTests):
    @pytest.fixture
    def make_driver(self, tmp_path):
        return lambda: DirDriver(str(tmp_path / "dirsecrets"))


def _dir_plugin() -> types.ModuleType:
    module = types.ModuleType("test_dir_secrets")

    @hookimpl
    def pypod_secret_drivers():
        yield SecretDriverBackend(
            name="dir", description="a file each",
            factory=lambda rt: DirDriver(os.path.join(rt.config.graph_root, "dirsecrets")))

    module.pypod_secret_drivers = pypod_secret_drivers  # type: ignore[attr-defined]
    return module


def test_pypod_secret_drivers_third_party_driver_is_chosen_per_secret(make_runtime):
    manager = PluginManager().load()
    manager.register_module(_dir_plugin(), "test_dir_secrets")
    rt = make_runtime(plugin_manager=manager)
    assert sorted(rt.plugins.backends("secret_driver")) == ["dir", "file"]
    mine = rt.create_secret("mine", b"in-dir", driver="dir")
    default = rt.create_secret("default", b"in-file")
    assert (mine.driver, default.driver) == ("dir", "file")
    home = os.path.join(rt.config.graph_root, "dirsecrets")
    assert os.listdir(home) == [mine.id]
    assert rt.secret_data("mine")[1] == b"in-dir"
    rt.remove_secret("mine")
    assert os.listdir(home) == []
    assert rt.secret_data("default")[1] == b"in-file"
