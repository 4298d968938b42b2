"""The command line's own words, as podman's: log levels and their lines, usage errors
that name the flag, help that leaves out what does not apply, and the aliases podman
still takes."""

from __future__ import annotations

import re
import subprocess

import pytest

from conftest import need_binary, run_pypod

LOG_LINE = re.compile(r'^time="[0-9T:+Z-]+" level=(\w+) msg=".*"$')


def _levels(stderr: str) -> set[str]:
    return {m[1] for m in map(LOG_LINE.match, stderr.splitlines()) if m}


def test_an_unknown_log_level_is_refused_with_exit_1(cli_flags: list[str]) -> None:
    result = run_pypod(*cli_flags, "--log-level=telepathic", "info")
    assert result.returncode == 1
    assert result.stderr == ('Log Level "telepathic" is not supported, choose from: trace, '
                             "debug, info, warn, warning, error, fatal, panic\n")


def test_debug_and_log_level_together_are_refused(cli_flags: list[str]) -> None:
    result = run_pypod(*cli_flags, "--debug", "--log-level=panic", "info")
    assert (result.returncode, result.stderr) == (
        1, "Setting --log-level and --debug is not allowed\n")


@pytest.mark.parametrize("flags, levels", [
    (["--log-level=trace"], {"trace", "debug", "info"}),
    (["--log-level=debug"], {"debug", "info"}),
    (["--debug"], {"debug", "info"}),
    (["-D"], {"debug", "info"}),
    (["--log-level=info"], {"info"}),
    (["--log-level=warn"], set()),
    (["--log-level=warning"], set()),
    (["--log-level=error"], set()),
    ([], set()),
])
def test_each_level_writes_its_lines_and_the_ones_above(cli_flags: list[str],
                                                         flags: list[str],
                                                         levels: set[str]) -> None:
    result = run_pypod(*cli_flags, *flags, "info")
    assert result.returncode == 0, result.stderr
    assert _levels(result.stderr) == levels
    assert result.stdout.startswith("host:")  # the command's own output is untouched


def test_debug_lines_say_what_the_runtime_uses(cli_flags: list[str], tmp_path: object) -> None:
    result = run_pypod(*cli_flags, "--log-level=debug", "info")
    graph_root = run_pypod(*cli_flags, "info", "--format", "{{.Store.GraphRoot}}").stdout
    assert f'level=debug msg="Using graph root {graph_root.strip()}"' in result.stderr
    assert 'msg="Called info (pypod ' in result.stderr


def test_a_flag_without_its_value_is_named_as_podman_names_it() -> None:
    short = run_pypod("run", "-h")
    assert (short.returncode, short.stderr) == (
        125, "Error: flag needs an argument: 'h' in -h (see 'pypod run --help')\n")
    long = run_pypod("run", "--hostname")
    assert long.stderr == "Error: flag needs an argument: --hostname (see 'pypod run --help')\n"


def test_an_unknown_flag_whose_value_has_a_space_is_an_unknown_flag() -> None:
    result = run_pypod("run", '--x=a b')
    assert (result.returncode, result.stderr) == (
        125, "Error: unknown flag: --x (see 'pypod run --help')\n")


def test_help_offers_remote_unless_a_service_is_already_named(monkeypatch:
                                                              pytest.MonkeyPatch) -> None:
    assert " --remote " in run_pypod("--help").stdout
    for env in ("CONTAINER_HOST", "CONTAINER_CONNECTION"):
        monkeypatch.setenv(env, "foobar")
        assert " --remote " not in run_pypod("--help").stdout
        monkeypatch.delenv(env)
    assert " --remote " not in run_pypod("--url", "foobar", "--help").stdout
    assert " --remote " not in run_pypod("--connection", "foobar", "--help").stdout


def test_usage_is_headed_as_podmans() -> None:
    assert run_pypod("ps", "--help").stdout.startswith("Usage: pypod ps")


def test_stop_takes_timeout_for_time(cli_flags: list[str], rootfs: str) -> None:
    need_binary("runc")
    need_binary("conmon")
    started = run_pypod(*cli_flags, "run", "-d", "--name", "trap", "--network", "none",
                        "--rootfs", rootfs, "sh", "-c",
                        "trap '' TERM; echo up; while :; do sleep 0.1; done")
    assert started.returncode == 0, started.stderr
    try:
        stopped = run_pypod(*cli_flags, "stop", "--timeout=1", "trap")
        assert (stopped.returncode, stopped.stdout) == (0, "trap\n"), stopped.stderr
        code = run_pypod(*cli_flags, "inspect", "--format", "{{.State.ExitCode}}", "trap")
        assert code.stdout == "137\n"  # the timeout ran out: killed
    finally:
        run_pypod(*cli_flags, "rm", "-f", "-t", "0", "trap")


def test_info_names_the_buildah_that_builds_for_pypod(cli_flags: list[str]) -> None:
    need_binary("buildah")
    words = subprocess.run(["buildah", "--version"], capture_output=True, text=True).stdout
    shown = run_pypod(*cli_flags, "info", "--format", "{{.Host.BuildahVersion}}")
    assert shown.stdout == words.split()[2] + "\n"
