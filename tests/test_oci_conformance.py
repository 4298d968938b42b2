"""The bundled OCI runtimes, runc and crun under conmon, pass the conformance kit."""

from __future__ import annotations

import pytest
from conftest import need_binary

from pypod_core.testing.oci import OCIRuntimeTests


class TestRunc(OCIRuntimeTests):
    @pytest.fixture
    def oci_runtime_name(self):
        need_binary("runc")
        need_binary("conmon")
        return "runc"


class TestCrun(OCIRuntimeTests):
    @pytest.fixture
    def oci_runtime_name(self):
        need_binary("crun")
        need_binary("conmon")
        return "crun"
