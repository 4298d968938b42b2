"""Signals as podman's ``kill -s`` and ``--stop-signal`` read them: a number, a name with
or without ``SIG``, one leading dash allowed (``-s -INT``, which argparse alone would
take for an option), and podman's two error texts."""

from __future__ import annotations

import time

import pytest

from conftest import need_binary, run_pypod
from pypod_core.cli.main import _join_dash_values
from pypod_core.cli.options import parse_signal
from pypod_core.errors import InvalidArgError


@pytest.mark.parametrize(("text", "number"), [("-1", 1), ("-INT", 2), ("FPE", 8),
                                              ("-SIGUSR1", 10), ("SIGUSR2", 12), ("64", 64)])
def test_signals_with_and_without_a_dash(text: str, number: int) -> None:
    assert parse_signal(text) == number


@pytest.mark.parametrize(("text", "message"), [
    ("0", "invalid signal: 0"), ("-0", "invalid signal: 0"), ("SIG", "invalid signal: SIG"),
    ("-BADSIG", "invalid signal: BADSIG"), ("-", "invalid signal: "), ("%%", "invalid signal: %%"),
    ("65", "valid signals are 1 through 64"), ("-65", "valid signals are 1 through 64"),
    ("99999999", "valid signals are 1 through 64")])
def test_bad_signals_in_podmans_words(text: str, message: str) -> None:
    with pytest.raises(InvalidArgError) as info:
        parse_signal(text)
    assert str(info.value) == message


def test_dash_values_join_their_option_only() -> None:
    options = frozenset({"-s", "--signal"})
    assert _join_dash_values(["-s", "-INT", "c"], options) == ["-s=-INT", "c"]
    assert _join_dash_values(["--signal", "-9", "-a"], options) == ["--signal=-9", "-a"]
    assert _join_dash_values(["-s", "HUP", "-a"], options) == ["-s", "HUP", "-a"]
    assert _join_dash_values(["--", "-s", "-x"], options) == ["--", "-s", "-x"]


def test_kill_dash_signal_reaches_the_container(cli_flags: list[str], rootfs: str) -> None:
    need_binary("runc")
    script = "trap 'echo got INT' INT; echo READY; while :; do sleep 0.1; done"
    started = run_pypod(*cli_flags, "run", "-d", "--name", "trapper", "--network", "none",
                        "--rootfs", rootfs, "sh", "-c", script)
    assert started.returncode == 0, started.stderr
    try:
        _wait_for_log(cli_flags, "READY")
        killed = run_pypod(*cli_flags, "kill", "-s", "-INT", "trapper")
        assert killed.returncode == 0, killed.stderr
        _wait_for_log(cli_flags, "got INT")
        bad = run_pypod(*cli_flags, "kill", "-s", "-BADSIG", "trapper")
        assert (bad.returncode, bad.stderr) == (125, "Error: invalid signal: BADSIG\n")
    finally:
        run_pypod(*cli_flags, "rm", "-f", "trapper")


def _wait_for_log(cli_flags: list[str], text: str) -> None:
    """Poll the container's log until ``text`` appears (a liveness wait, not a timing
    assertion: it gives up after a minute)."""
    for _ in range(600):
        if text in run_pypod(*cli_flags, "logs", "trapper").stdout:
            return
        time.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared in the log")
