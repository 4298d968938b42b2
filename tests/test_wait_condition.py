"""``wait --condition`` and ``--interval`` (podman 4.3's): an exit condition gives the
exit code, a state condition -1 once the container is in it; an unknown condition is
podman's one-line error."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from conftest import need_binary, run_pypod
from pypod_core.engine.wait import parse_conditions
from pypod_core.errors import InvalidArgError


def test_state_and_exit_conditions(make_runtime: Any, rootfs: str) -> None:
    need_binary("runc")
    runtime = make_runtime(state_type="memory")
    ctr = runtime.create_container(rootfs, ["sh", "-c", "sleep 1; exit 7"], name="w")
    assert ctr.wait_for(["created"]) == -1
    starter = threading.Timer(0.3, ctr.start)
    starter.start()
    assert ctr.wait_for(["running"], interval=0.05) == -1
    assert ctr.state.state.value == "running"
    assert ctr.wait_for(["paused", "exited"], interval=0.05) == 7
    starter.join()


def test_conditions_are_podmans() -> None:
    assert parse_conditions([]) == ("stopped",)
    assert parse_conditions(["running,paused", "exited"]) == ("running", "paused", "exited")
    with pytest.raises(InvalidArgError, match="unknown container state: healthy"):
        parse_conditions(["healthy"])


def test_cli_wait_condition(cli_flags: list[str], rootfs: str) -> None:
    need_binary("runc")
    need_binary("conmon")
    run_pypod(*cli_flags, "create", "--name", "later", "--rootfs", rootfs, "sleep", "100")
    later = threading.Timer(0.5, run_pypod, (*cli_flags, "start", "later"))
    killer = threading.Timer(0.5, run_pypod, (*cli_flags, "kill", "later"))
    later.start()
    try:
        result = run_pypod(*cli_flags, "wait", "--condition", "running", "-i", "50",
                           "later", timeout=30)
        assert (result.returncode, result.stdout) == (0, "-1\n"), result.stderr
        killer.start()
        result = run_pypod(*cli_flags, "wait", "--condition", "stopped", "--interval",
                           "100ms", "later", timeout=30)
        assert (result.returncode, result.stdout) == (0, "137\n")
        bad = run_pypod(*cli_flags, "wait", "--condition", "bogus", "later")
        assert (bad.returncode, bad.stderr) == (
            125, "Error: unknown container state: bogus: invalid argument\n")
    finally:
        later.join()
        if killer.is_alive():  # its pypod must not write the state rm is removing
            killer.join()
        run_pypod(*cli_flags, "rm", "-a", "-f", "-t", "0")
