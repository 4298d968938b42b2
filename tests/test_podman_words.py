"""Errors, statuses and exit codes in podman's exact words and numbers where scripts
match them (podman's own system tests do)."""

from __future__ import annotations

import subprocess
import time

from conftest import PYPOD, need_binary, run_pypod


def test_rm_of_a_running_container_says_why_in_podmans_words(cli_flags: list[str],
                                                            rootfs: str) -> None:
    need_binary("runc")
    started = run_pypod(*cli_flags, "run", "-d", "--name", "busy", "--network", "none",
                        "--rootfs", rootfs, "sleep", "60")
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip()
    try:
        refused = run_pypod(*cli_flags, "rm", "busy")
        assert refused.returncode == 2
        assert refused.stderr == (
            f"Error: cannot remove container {cid} as it is running - running or paused "
            "containers cannot be removed without force: container state improper\n")
    finally:
        assert run_pypod(*cli_flags, "rm", "-f", "busy").returncode == 0


def test_ps_status_in_podman_43s_words(cli_flags: list[str], rootfs: str) -> None:
    need_binary("runc")
    flags = ("--network", "none", "--rootfs", rootfs)
    assert run_pypod(*cli_flags, "create", "--name", "new", *flags, "true").returncode == 0
    assert run_pypod(*cli_flags, "run", "-d", "--name", "up", *flags, "sleep", "60"
                     ).returncode == 0
    try:
        status = sorted(run_pypod(*cli_flags, "ps", "-a", "--format",
                                  "{{.Names}} {{.Status}}").stdout.splitlines())
        assert status[0] == "new Created"
        assert status[1].startswith("up Up ") and status[1].endswith(" ago")
    finally:
        run_pypod(*cli_flags, "rm", "-f", "new", "up")


def test_attached_run_of_a_container_rm_f_ed_exits_137(cli_flags: list[str],
                                                       rootfs: str) -> None:
    need_binary("runc")
    attached = subprocess.Popen([PYPOD, *cli_flags, "run", "--name", "doomed", "--network",
                                 "none", "--rootfs", rootfs, "sleep", "60"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(600):  # until it runs (a liveness wait, not a timing assertion)
            state = run_pypod(*cli_flags, "inspect", "--format", "{{.State.Status}}", "doomed")
            if state.stdout.strip() == "running":
                break
            time.sleep(0.1)
        assert run_pypod(*cli_flags, "rm", "-f", "doomed").returncode == 0
        assert attached.wait(timeout=60) == 137  # killed by SIGKILL, as podman's
    finally:
        attached.kill()
        attached.communicate()
