"""How the runtime tells a live process from a zombie or a reused pid: the one check
(``conmon.process_alive``) that conmon's pid and a container's pid both go through."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from pypod_oci_runc import conmon


def _until_dead(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while conmon.process_alive(pid, comm=None) and time.monotonic() < deadline:
        time.sleep(0.01)
    return not conmon.process_alive(pid, comm=None)


def test_a_live_process_by_name_or_of_any_name_and_a_zombie_is_not_alive():
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert conmon.process_alive(child.pid, comm=None)
        assert conmon.process_alive(child.pid, comm="sleep")
        assert not conmon.process_alive(child.pid)  # not a conmon: as a reused pid
        os.kill(child.pid, signal.SIGKILL)
        assert _until_dead(child.pid)  # a zombie until reaped, and not alive
        with open(f"/proc/{child.pid}/stat") as f:
            assert f.read().rsplit(")", 1)[1].split()[0] == "Z"
    finally:
        child.kill()
        child.wait()
    assert not conmon.process_alive(0, comm=None)
    assert not conmon.process_alive(-1, comm=None)
