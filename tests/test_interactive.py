"""Interactive containers from the shell, on a real pseudo-terminal: ``run -it``,
``attach``, the detach keys, the window size, ``-i`` with a pipe, ``exec -it``/``-i``,
``start -ai``.  The real ``pypod`` command, real runc or crun under conmon; each test
types as a user would and waits for what the screen shows."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import PYPOD, need_binary, run_pypod
from pypod_core.testing.terminal import PtySession

Pypod = Callable[..., subprocess.CompletedProcess[str]]
#: The detach keys, podman's default: ctrl-p, ctrl-q.
DETACH = b"\x10\x11"
#: busybox sh's prompt; then it asks for the cursor position (ESC [ 6 n) and reads keys.
PROMPT = rb"/ # "
READY = rb"/ # \x1b\[6n"


def wait_for_size(session: PtySession, rows: int, cols: int) -> None:
    """Ask ``stty size`` until it shows rows x cols: conmon resizes the container's
    terminal in its own time after pypod asked (the shell's redraw is no sign: busybox
    skips it while it waits for its cursor-position answer)."""
    deadline = time.monotonic() + 30
    while True:
        session.send("stty size\r")
        shown = session.expect(rb"\r\n(\d+) (\d+)\r\n").groups()
        if shown == (str(rows).encode(), str(cols).encode()):
            return
        assert time.monotonic() < deadline, f"still {shown} after the resize"


@pytest.fixture(params=["runc", "crun"])
def flags(request: pytest.FixtureRequest, cli_flags: list[str]) -> Iterator[list[str]]:
    """The global flags of this test's store, with runc or crun; every container left
    is removed afterwards."""
    need_binary(request.param)
    need_binary("conmon")
    flags = [*cli_flags, "--runtime", request.param]
    yield flags
    run_pypod(*flags, "rm", "-a", "-f", "-t", "0")


@pytest.fixture
def pypod(flags: list[str]) -> Pypod:
    """``pypod(*args)`` without a terminal."""
    return lambda *args, **kwargs: run_pypod(*flags, *args, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def terminal(flags: list[str]) -> Iterator[Callable[..., PtySession]]:
    """``terminal(*args, rows=, cols=)``: ``pypod ARGS`` on a new pseudo-terminal."""
    sessions: list[PtySession] = []

    def start(*args: str, rows: int = 24, cols: int = 80, output: str = "pty") -> PtySession:
        session = PtySession([PYPOD, *flags, *args], rows=rows, cols=cols, output=output)
        sessions.append(session)
        return session

    yield start
    for session in sessions:
        session.close()


def status(pypod: Pypod, name: str) -> str:
    result = pypod("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", name)
    return result.stdout.strip() if result.returncode == 0 else "gone"


def shell(terminal: Callable[..., PtySession], rootfs: str, *flags: str,
          **size: int) -> PtySession:
    """``run -it ... sh`` with its first prompt shown."""
    session = terminal("run", "-it", *flags, "--rootfs", rootfs, "sh", **size)
    session.expect(PROMPT)
    return session


# -- a terminal ----------------------------------------------------------------------


def test_run_it_is_a_terminal_that_echoes_and_exits_with_the_code(
        terminal: Callable[..., PtySession], rootfs: str) -> None:
    session = shell(terminal, rootfs)
    session.send("echo hi-$((40+2))\r")
    session.expect(rb"echo hi-\$\(\(40\+2\)\)\r\n")  # the container's terminal echoes
    session.expect(rb"hi-42\r\n")
    session.send("tty; echo TERM=$TERM\r")
    session.expect(rb"/dev/pts/\d+\r\n")
    session.expect(rb"TERM=xterm\r\n")  # set with -t when not given, as podman
    session.send("exit 3\r")
    assert session.wait() == 3


def test_keys_are_raw_ctrl_c_interrupts_inside_ctrl_d_ends(
        terminal: Callable[..., PtySession], rootfs: str) -> None:
    session = shell(terminal, rootfs)
    session.send("sh -c 'echo running; sleep 600'\r")
    session.expect(rb"\r\nrunning\r\n")  # in the terminal's foreground now
    session.send(b"\x03")  # a byte for the container's terminal, not a signal to pypod
    session.expect(rb"\^C")
    session.send("echo status-$?\r")
    session.expect(rb"status-130\r\n" + READY)
    session.send(b"\x04")  # end of input on the container's terminal: sh exits 0
    assert session.wait() == 0


def test_the_window_size_at_start_and_after_a_resize(
        terminal: Callable[..., PtySession], rootfs: str) -> None:
    session = shell(terminal, rootfs, rows=37, cols=91)
    session.send("stty size\r")
    session.expect(rb"\r\n37 91\r\n")
    session.resize(50, 132)  # SIGWINCH to pypod: conmon's ctl fifo
    wait_for_size(session, 50, 132)
    session.send("exit\r")
    assert session.wait() == 0


def test_the_first_size_is_seen_by_a_command_that_asks_at_once(
        terminal: Callable[..., PtySession], rootfs: str) -> None:
    # podman's own check (450-interactive): stdin a terminal, stdout a pipe.
    session = terminal("run", "-it", "--rm", "--rootfs", rootfs, "stty", "size",
                       rows=29, cols=113, output="pipe")
    assert session.wait() == 0
    assert session.proc.stdout is not None
    assert session.proc.stdout.read() == b"29 113\r\n"


def test_t_without_i_gives_a_terminal_but_reads_no_input(pypod: Pypod, rootfs: str) -> None:
    result = pypod("run", "--rm", "-t", "--rootfs", rootfs, "sh", "-c",
                   "tty; read -t 1 x; echo \"read [$x]\"", input="typed\n")
    assert result.returncode == 0
    assert result.stdout.startswith("/dev/pts/")
    assert result.stdout.endswith("read []\n")


def test_run_it_from_an_image(terminal: Callable[..., PtySession], make_runtime: Any,
                              cli_config: str, busybox_tar: str) -> None:
    runtime = make_runtime(config_path=cli_config)
    runtime.import_image([busybox_tar], {"config": {"Cmd": ["sh"], "Env": ["TERM=vt220"]}},
                         names=["shell"])
    runtime.shutdown()
    session = terminal("run", "-it", "--rm", "shell", rows=30, cols=100)  # its Cmd: sh
    session.expect(PROMPT)
    session.send("stty size; echo TERM=$TERM\r")
    session.expect(rb"\r\n30 100\r\nTERM=vt220\r\n")  # the image's TERM wins
    session.send("exit 5\r")
    assert session.wait() == 5


# -- detach and attach -----------------------------------------------------------------


def test_detach_keys_leave_it_running_and_attach_comes_back(
        terminal: Callable[..., PtySession], pypod: Pypod, rootfs: str) -> None:
    session = shell(terminal, rootfs, "--name", "box")
    session.send("echo first\r")
    session.expect(rb"first\r\n")
    session.send(DETACH)
    assert session.wait() == 0  # as podman: a detach is no failure
    assert status(pypod, "box") == "running 0"

    again = terminal("attach", "box", rows=25)
    again.wait_raw()  # typed ahead, keys would meet a terminal in its normal mode
    again.send("echo second\r")
    again.expect(rb"second\r\n")
    again.send(DETACH)
    assert again.wait() == 0
    assert status(pypod, "box") == "running 0"

    last = terminal("attach", "box")
    last.wait_raw()
    last.send("exit 4\r")
    assert last.wait() == 0  # podman's attach exits 0 when the container ends
    assert pypod("wait", "box").stdout.strip() == "4"


def test_run_dt_makes_a_terminal_to_attach_to_later(
        terminal: Callable[..., PtySession], pypod: Pypod, rootfs: str) -> None:
    result = pypod("run", "-dt", "--name", "later", "--rootfs", rootfs, "sh")
    assert result.returncode == 0 and len(result.stdout.strip()) == 64
    session = terminal("attach", "later", rows=33, cols=77)
    session.wait_raw()
    wait_for_size(session, 33, 77)  # the attach sized the terminal
    session.send("echo attached-$((1+1))\r")
    session.expect(rb"attached-2\r\n")
    session.send(DETACH)
    assert session.wait() == 0
    assert pypod("inspect", "--format", "{{.Config.Tty}} {{.Config.OpenStdin}}",
                 "later").stdout.strip() == "true false"
    # What the terminal showed is in the log, as podman's.
    assert "attached-2" in pypod("logs", "later").stdout


def test_other_detach_keys_and_none(terminal: Callable[..., PtySession], pypod: Pypod,
                                    rootfs: str) -> None:
    session = shell(terminal, rootfs, "--detach-keys", "ctrl-a,x", "--name", "custom")
    session.send(DETACH)  # not the keys now: the shell gets them
    session.send(b"\x01y\r")  # a sequence broken off: its first key goes through
    session.send("echo still-here\r")
    session.expect(rb"still-here\r\n")
    session.send(b"\x01x")
    assert session.wait() == 0
    assert status(pypod, "custom") == "running 0"

    none = shell(terminal, rootfs, "--detach-keys", "")
    none.send(DETACH)
    none.send("\recho no-detach\r")
    none.expect(rb"no-detach\r\n")
    none.send("exit 2\r")
    assert none.wait() == 2


def test_bad_detach_keys_are_refused_before_anything_is_made(pypod: Pypod,
                                                              rootfs: str) -> None:
    result = pypod("run", "-it", "--detach-keys", "ctrl-1", "--rootfs", rootfs, "true")
    assert result.returncode == 125
    assert result.stderr.startswith("Error: invalid detach keys 'ctrl-1'")
    assert pypod("ps", "-a", "-q").stdout == ""


def test_attach_wants_a_running_container(pypod: Pypod, rootfs: str) -> None:
    pypod("create", "--name", "idle", "--rootfs", rootfs, "true")
    result = pypod("attach", "idle")
    assert (result.returncode, result.stderr.strip()) == (
        125, "Error: you can only attach to running containers")
    assert pypod("attach", "nosuch").returncode == 125


def test_an_rm_container_survives_a_detach_and_goes_once_it_exits(
        terminal: Callable[..., PtySession], pypod: Pypod, rootfs: str) -> None:
    session = shell(terminal, rootfs, "--rm", "--name", "brief")
    session.send(DETACH)
    assert session.wait() == 0
    assert status(pypod, "brief") == "running 0"
    again = terminal("attach", "brief")
    again.wait_raw()
    again.send("exit 0\r")
    assert again.wait() == 0
    deadline = time.monotonic() + 60  # conmon's exit command removes it
    while status(pypod, "brief") != "gone" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert status(pypod, "brief") == "gone"


# -- stdin without a terminal ------------------------------------------------------------


def test_i_streams_a_pipe_and_its_end_closes_stdin(pypod: Pypod, rootfs: str) -> None:
    result = pypod("run", "--rm", "-i", "--rootfs", rootfs, "cat", input="hi\n")
    assert (result.stdout, result.returncode) == ("hi\n", 0)
    result = pypod("run", "--rm", "-i", "--rootfs", rootfs, "sh", "-c",
                   "read a; echo got-$a; cat; echo end-of-input; exit 5", input="x\ny\n")
    assert (result.stdout, result.returncode) == ("got-x\ny\nend-of-input\n", 5)


def test_without_i_stdin_is_not_read(pypod: Pypod, rootfs: str) -> None:
    result = pypod("run", "--rm", "--rootfs", rootfs, "sh", "-c", "cat; echo done",
                   input="not for the container\n")
    assert (result.stdout, result.returncode) == ("done\n", 0)


def test_i_carries_binary_data_both_ways(flags: list[str], rootfs: str,
                                         tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024)  # holds ctrl-p ctrl-q somewhere: data, not keys
    source = tmp_path / "data"
    source.write_bytes(data)
    with open(source, "rb") as f:  # a regular file as stdin, then a pipe
        from_file = subprocess.run([PYPOD, *flags, "run", "--rm", "-i",
                                    "--rootfs", rootfs, "cat"], stdin=f,
                                   capture_output=True, timeout=120)
    assert from_file.returncode == 0
    assert hashlib.sha256(from_file.stdout).digest() == hashlib.sha256(data).digest()
    piped = subprocess.run([PYPOD, *flags, "run", "--rm", "-i", "--rootfs",
                            rootfs, "sh", "-c", "wc -c"], input=data,
                           capture_output=True, timeout=120)
    assert piped.stdout.strip() == str(len(data)).encode()


def test_run_di_keeps_stdin_for_attach(pypod: Pypod, rootfs: str) -> None:
    pypod("run", "-di", "--name", "reader", "--rootfs", rootfs, "sh", "-c",
          "read line; echo got-$line")
    result = pypod("attach", "reader", input="late\n")
    assert result.returncode == 0 and "got-late" in result.stdout
    assert pypod("wait", "reader").stdout.strip() == "0"


def test_start_ai_and_start_a_of_a_running_container(pypod: Pypod, flags: list[str],
                                                     rootfs: str, tmp_path: Path) -> None:
    pypod("create", "-i", "--name", "job", "--rootfs", rootfs, "sh", "-c",
          "cat; exit 6")
    result = pypod("start", "-ai", "job", input="through start\n")
    assert (result.stdout, result.returncode) == ("through start\n", 6)
    # -i cannot give stdin to a container made without it (as podman's).
    pypod("create", "--name", "closed", "--rootfs", rootfs, "sh", "-c", "cat; echo none")
    result = pypod("start", "-ai", "closed", input="not for it\n")
    assert (result.stdout, result.returncode) == ("none\n", 0)
    pypod("run", "-d", "--name", "runs", "-v", f"{tmp_path}:/mnt", "--rootfs", rootfs,
          "sh", "-c", "while [ ! -e /mnt/go ]; do echo tick; sleep 0.1; done; exit 8")
    attached = subprocess.Popen([PYPOD, *flags, "start", "-a", "runs"],
                                stdout=subprocess.PIPE)
    assert attached.stdout is not None
    assert attached.stdout.readline() == b"tick\n"  # attached to the running container
    (tmp_path / "go").touch()
    assert attached.wait(timeout=60) == 8
    attached.stdout.close()


# -- exec ----------------------------------------------------------------------------------


@pytest.fixture
def running(pypod: Pypod, rootfs: str) -> str:
    """A running container's name."""
    assert pypod("run", "-d", "--name", "host", "--rootfs", rootfs, "sleep",
                 "600").returncode == 0
    return "host"


def test_exec_it_is_a_terminal_of_its_own(terminal: Callable[..., PtySession],
                                         running: str) -> None:
    session = terminal("exec", "-it", running, "sh", rows=41, cols=101)
    session.expect(PROMPT)
    session.send("tty; stty size; echo $TERM\r")
    session.expect(rb"/dev/pts/\d+\r\n41 101\r\nxterm\r\n")
    session.resize(45, 111)
    wait_for_size(session, 45, 111)
    session.send("exit 7\r")
    assert session.wait() == 7


def test_exec_it_detaches_and_the_session_runs_on(terminal: Callable[..., PtySession],
                                                  pypod: Pypod, running: str) -> None:
    session = terminal("exec", "-it", running, "sh", "-c", "echo up; sleep 600")
    session.expect(rb"up\r\n")
    session.send(DETACH)
    assert session.wait() == 0
    processes = pypod("exec", running, "ps", "-o", "args").stdout.splitlines()
    assert processes.count("sleep 600") == 2  # the container's, and the exec's


def test_exec_i_streams_stdin_and_plain_exec_does_not(pypod: Pypod, running: str) -> None:
    result = pypod("exec", "-i", running, "sh", "-c", "cat; exit 3", input="to exec\n")
    assert (result.stdout, result.returncode) == ("to exec\n", 3)
    result = pypod("exec", running, "sh", "-c", "cat; echo nothing-read",
                   input="not for it\n")
    assert result.stdout == "nothing-read\n"


def test_exec_t_exit_codes_and_errors(pypod: Pypod, running: str) -> None:
    result = pypod("exec", "-t", running, "sh", "-c", "tty; exit 9")
    assert result.returncode == 9 and result.stdout.startswith("/dev/pts/")
    missing = pypod("exec", "-it", running, "/no/such/command")
    assert missing.returncode == 127 and "not found" in missing.stderr
    unrunnable = pypod("exec", "-it", running, "/etc/passwd")
    assert unrunnable.returncode == 126
    bad_keys = pypod("exec", "-it", "--detach-keys", "ctrl-", running, "true")
    assert bad_keys.returncode == 125


def test_inspect_shows_tty_and_stdin(pypod: Pypod, rootfs: str) -> None:
    pypod("create", "-ti", "--name", "both", "-e", "TERM=vt100", "--rootfs", rootfs, "sh")
    doc = json.loads(pypod("inspect", "both").stdout)[0]
    assert (doc["Config"]["Tty"], doc["Config"]["OpenStdin"]) == (True, True)
    assert "TERM=vt100" in doc["Config"]["Env"]  # the user's TERM wins
