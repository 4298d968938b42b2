"""Deferred stages: the storage, OCI runtime, network and firewall backends are built
once, through pluggy, at the first read of their runtime attribute; a command that needs
none of them neither builds nor imports them."""

from __future__ import annotations

import os
import subprocess
import sys

from test_stages import manager_with

from conftest import PYPOD, REPO
from pypod_core import hookimpl
from pypod_core.engine.pipeline import DEFERRED

#: The backends' own modules: what ``ps`` must not import.
BACKEND_MODULES = ("pypod_oci_runc.runtime", "pypod_oci_runc.conmon", "pypod_net_cni.network",
                   "pypod_firewall_iptables.iptables", "pypod_core.engine.storage")

_CLI = """
import sys
from pypod_core.cli.main import main
sys.argv = ["pypod", *sys.argv[1:]]
try:
    main()
except SystemExit:
    pass
print("imported:", *(m for m in {modules!r} if m in sys.modules), file=sys.stderr)
"""


def modules_after(*argv: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run the command line in a fresh interpreter; which backend modules it imported."""
    proc = subprocess.run([sys.executable, "-c", _CLI.format(modules=BACKEND_MODULES),
                           *argv], capture_output=True, text=True, cwd=REPO)
    last = proc.stderr.strip().splitlines()[-1].split()
    assert last[0] == "imported:", proc.stderr
    return proc, set(last[1:])


def test_ps_builds_and_imports_no_backend_but_the_state(cli_flags, rootfs):
    created = subprocess.run([PYPOD, *cli_flags, "create", "--network", "none", "--rootfs",
                              rootfs, "true"], capture_output=True, text=True)
    assert created.returncode == 0, created.stderr
    proc, imported = modules_after(*cli_flags, "--trace-plugins", "ps", "-a")
    assert imported == set(), proc.stderr
    deferred = [line.split()[2] for line in proc.stderr.splitlines()
                if line.endswith("deferred to first use")]
    assert set(deferred) == DEFERRED
    assert "(deferred)" not in proc.stderr
    # The check can fail: a command that starts a container imports them.
    proc, imported = modules_after(*cli_flags, "run", "--rm", "--network", "none",
                                   "--rootfs", rootfs, "true")
    assert {"pypod_oci_runc.runtime", "pypod_core.engine.storage"} <= imported, proc.stderr


class CountsBuilds:
    """Serves every deferred stage after the default, counting the calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    @hookimpl(wrapper=True)
    def pypod_make_oci_runtime(self, runtime):
        self.calls.append("oci")
        return (yield)

    @hookimpl(wrapper=True)
    def pypod_make_network(self, runtime):
        self.calls.append("network")
        return (yield)


def test_a_deferred_backend_is_built_once_and_only_when_used(make_runtime):
    counter = CountsBuilds()
    runtime = make_runtime(state_type="memory", plugin_manager=manager_with(counter))
    assert counter.calls == []
    assert runtime.oci_runtime is runtime.oci_runtime
    assert counter.calls == ["oci"]
    assert runtime.network is runtime.network
    assert counter.calls == ["oci", "network"]


def test_create_records_the_runtime_name_without_building_it(make_runtime, rootfs):
    runtime = make_runtime(state_type="memory", runtime="crun")
    ctr = runtime.create_container(rootfs, ["true"])
    assert ctr.config.oci_runtime == "crun"
    assert "make_oci_runtime" not in [stage for stage, _, _ in runtime.stage_timings]

    class Renamed:
        """A plugin serving (or wrapping) the stage: its backend's own name is recorded."""

        @hookimpl
        def pypod_make_oci_runtime(self, runtime):
            return type("Other", (), {"name": "other"})()

    runtime = make_runtime(state_type="memory", plugin_manager=manager_with(Renamed()))
    assert runtime.create_container(rootfs, ["true"]).config.oci_runtime == \
        "other"


def test_two_threads_build_a_deferred_backend_once(make_runtime):
    import threading

    counter = CountsBuilds()
    runtime = make_runtime(state_type="memory", plugin_manager=manager_with(counter))
    seen: list[object] = []
    threads = [threading.Thread(target=lambda: seen.append(runtime.oci_runtime))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counter.calls == ["oci"] and len({id(s) for s in seen}) == 1
    assert os.path.basename(runtime.runtime_binary) in ("runc", "crun")


def test_rm_builds_no_oci_backend_for_a_container_with_nothing_to_undo(make_runtime,
                                                                      rootfs):
    """A container never initialised, or cleaned up after its exit, has nothing in the
    OCI runtime: removing it builds no OCI backend; removing a live one does (and stops
    it)."""
    first = make_runtime()
    created = first.create_container(rootfs, ["true"])
    exited = first.create_container(rootfs, ["true"])
    exited.start()
    exited.wait()
    live = first.create_container(rootfs, ["sleep", "100"])
    live.start()
    later = make_runtime()  # as a new pypod process
    for ctr in (created, exited):
        later.remove_container(later.get_container(ctr.id))
        assert "make_oci_runtime" not in [stage for stage, _, _ in later.stage_timings]
    later.remove_container(later.get_container(live.id), force=True, timeout=0)
    assert "make_oci_runtime" in [stage for stage, _, _ in later.stage_timings]
    assert later.containers(all=True) == []
