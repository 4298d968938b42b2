"""What the kits and pypod's own tests need from the host, and how they miss it.

A missing system package skips a test on a developer's machine, but under ``CI=true``
it fails: there it means the set-up forgot an install step.
"""

from __future__ import annotations

import os
import shutil

import pytest

_SBIN = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")


def need_binary(name: str, package: str = "") -> str:
    """The path of the system binary ``name`` (also looked for in sbin directories,
    which a non-login PATH may lack); skip without it, fail under CI=true."""
    candidates = (os.path.join(d, name) for d in _SBIN)
    path = shutil.which(name) or next((p for p in candidates if os.path.exists(p)), None)
    if path is None:
        what = f"{name} is not installed" + (f" (Debian's {package})" if package else "")
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what}: scripts/setup.sh should have installed it")
        pytest.skip(what)
    return path


def power_off_tmp_dir(tmp_dir: str) -> None:
    """A simulated power cut's effect on the per-boot ``tmp_dir``: what was mounted under
    it is no longer (a containers's /dev/shm tmpfs), and its files are gone."""
    from pypod_core.host.mounts import mounts_under, umount  # lazy: only reboot tests

    for point in reversed(mounts_under(tmp_dir)):
        umount(point)
    shutil.rmtree(tmp_dir)


def await_exit_commands(graph_root: str, timeout: float = 15.0) -> None:
    """Wait until no exit command of the runtime at ``graph_root`` runs.  A simulated
    reboot must: one still running builds a runtime, which marks the boot alive again."""
    import time  # lazy: only reboot tests wait

    from pypod_core.host.processes import cleanup_commands  # lazy: only reboot tests

    deadline = time.monotonic() + timeout
    while cleanup_commands(graph_root):
        if time.monotonic() > deadline:
            pytest.fail(f"exit commands of {graph_root} still run after {timeout:g} s")
        time.sleep(0.02)


def await_signal_handled(pid: int, signum: int, timeout: float = 15.0) -> None:
    """Wait until process ``pid`` ignores or catches ``signum`` (its ``trap`` is set).
    A signal sent before a container's shell installs its trap kills the shell, so a
    test of how a trap handles it must first see the trap in the kernel's view."""
    import time  # lazy: only signal tests wait

    bit = 1 << (signum - 1)
    deadline = time.monotonic() + timeout
    while True:
        masks = {}
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    key, _, value = line.partition(":")
                    if key in ("SigIgn", "SigCgt"):
                        masks[key] = int(value, 16)
        except OSError:
            pytest.fail(f"process {pid} is gone before handling signal {signum}")
        if any(mask & bit for mask in masks.values()):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"process {pid} did not handle signal {signum} after {timeout:g} s")
        time.sleep(0.02)
