"""The bundled OCI runtimes, runc and crun under conmon, pass the conformance kit."""

from __future__ import annotations

import os

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


def conmon_args(tmp_path, conmon: str):
    from pypod_oci_runc.conmon import ConmonArgs

    d = str(tmp_path)
    return ConmonArgs(conmon=conmon, runtime="/bin/true", runtime_args=(), ctr_id="c" * 64,
                      name="n", bundle=d, pidfile=f"{d}/pid", conmon_pidfile=f"{d}/cpid",
                      exit_dir=d, persist_dir=d, socket_dir=d, log_path=f"{d}/log")


def test_a_conmon_that_cannot_run_is_an_oci_runtime_error(tmp_path) -> None:
    from pypod_oci_runc.conmon import spawn

    from pypod_core.errors import OCIRuntimeError

    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(OCIRuntimeError, match="cannot run conmon /no/such/conmon"):
        spawn(conmon_args(tmp_path, "/no/such/conmon"), {}, str(tmp_path))
    assert len(os.listdir("/proc/self/fd")) == before, "pipes leaked"


def test_a_conmon_that_never_detaches_is_given_up_on(tmp_path, monkeypatch) -> None:
    from pypod_oci_runc import conmon

    from pypod_core.errors import OCIRuntimeError

    stuck = tmp_path / "conmon"
    stuck.write_text("#!/bin/sh\nexec sleep 30\n")
    stuck.chmod(0o755)
    monkeypatch.setattr(conmon, "CREATE_TIMEOUT", 0.3)
    before = len(os.listdir("/proc/self/fd"))
    with pytest.raises(OCIRuntimeError, match="did not detach"):
        conmon.spawn(conmon_args(tmp_path, str(stuck)), {}, str(tmp_path))
    assert len(os.listdir("/proc/self/fd")) == before, "pipes leaked"


def test_read_sync_gives_up_at_its_timeout_even_if_conmon_trickles(tmp_path) -> None:
    """The timeout bounds the whole wait, not each read: a report arriving byte by byte,
    never ending, still fails on time."""
    import threading
    import time

    from pypod_oci_runc.conmon import read_sync

    from pypod_core.errors import OCIRuntimeError

    r, w = os.pipe()
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(0.05):
            os.write(w, b" ")

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        with pytest.raises(OCIRuntimeError, match="did not report"):
            read_sync(r, "runc", timeout=0.3)
        assert time.monotonic() - started < 1.5
    finally:
        stop.set()
        thread.join()
        os.close(r)
        os.close(w)
