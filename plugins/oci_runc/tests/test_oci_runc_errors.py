"""A runtime binary that cannot run, or hangs, is a one-line OCIRuntimeError."""

from __future__ import annotations

from pathlib import Path

import pytest
from pypod_oci_runc import runtime as oci_runtime
from pypod_oci_runc.runtime import ConmonOCIRuntime

from pypod_core.errors import OCIRuntimeError


def backend(tmp_path: Path, binary: str) -> ConmonOCIRuntime:
    return ConmonOCIRuntime("runc", binary, "/usr/bin/conmon", str(tmp_path))


def test_a_missing_runtime_binary_is_an_oci_runtime_error(tmp_path: Path):
    with pytest.raises(OCIRuntimeError, match="cannot run .*/nope"):
        backend(tmp_path, str(tmp_path / "nope")).version()


def test_a_hung_runtime_binary_is_given_up_on(tmp_path: Path, monkeypatch):
    hang = tmp_path / "hang"
    hang.write_text("#!/bin/sh\nexec sleep 30\n")
    hang.chmod(0o755)
    monkeypatch.setattr(oci_runtime, "RUNTIME_TIMEOUT", 0.3)
    with pytest.raises(OCIRuntimeError, match="did not finish within"):
        backend(tmp_path, str(hang)).version()
