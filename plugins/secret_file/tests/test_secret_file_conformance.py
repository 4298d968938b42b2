"""The bundled file secret driver passes the secret driver kit, in its default directory
and under a ``path`` option."""

from __future__ import annotations

import os

import pytest
from pypod_secret_file.filedriver import FileDriver

from pypod_core.testing import SecretDriverTests


class TestFile(SecretDriverTests):
    @pytest.fixture
    def make_driver(self, tmp_path):
        return lambda: FileDriver(str(tmp_path / "secrets" / "filedriver"))


class TestFileAtPath(SecretDriverTests):
    @pytest.fixture
    def make_driver(self, tmp_path):
        return lambda: FileDriver(str(tmp_path / "default"))

    @pytest.fixture
    def driver_options(self, tmp_path):
        return {"path": str(tmp_path / "elsewhere")}

    def test_data_goes_where_path_says(self, driver, opts, tmp_path):
        driver.store("a" * 25, b"x", opts)
        assert sorted(os.listdir(tmp_path / "elsewhere")) == ["secretsdata.json",
                                                              "secretsdata.lock"]
        assert not (tmp_path / "default").exists()
